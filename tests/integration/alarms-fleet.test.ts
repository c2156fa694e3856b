/**
 * Technicians' alarms end to end: a real server (embedded broker over TCP,
 * the suite's store), sites acting over raw MQTT clients as agents do
 * (heartbeats with injected faults, a retained state, a last will taken by a
 * cut socket), and the alarms read back over HTTP and the console's stream.
 *
 * Two servers, for two damping settings made small by configuration: one
 * whose hold-down is 1 s (faults clear within the test), one whose hold-down
 * is 10 minutes (a flapping site's returns all fall within it, however
 * loaded the machine).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { openEventStream } from '../helpers/event-stream.ts';
import { waitFor } from '../helpers/wait.ts';
import { PROTOCOL_VERSION, siteTopic, type TelemetryMessage } from '../../protocol/index.ts';

const BAT_XAT = '02683';
const CAM_DUONG = '02671';

interface Alarm {
  id: string;
  siteId: string;
  kind: string;
  severity: string;
  state: string;
  count: number;
  active: boolean;
  reasons: Array<{ code: string; params: Record<string, unknown> }>;
  acknowledged: { by: string; note: string | null } | null;
  cleared: { cause: string; by: string | null; note: string | null } | null;
  incidentId: string | null;
}

/** A site acting as its agent: connects with a last will, says online, heartbeats what it is told. */
class FakeSite {
  client: MqttClient | undefined;
  seq = 0;
  over: Partial<TelemetryMessage> = {};
  constructor(
    private readonly t: TestServer,
    readonly siteId: string,
    private readonly secret: string,
  ) {}

  /** As the agent does (edge-agent/session/site-link.ts): `online` carries the time its will was registered, so the server never takes that will for a newer goodbye. */
  private willAt = 0;
  private state(state: 'online' | 'offline', reason?: string): string {
    return JSON.stringify({ v: PROTOCOL_VERSION, siteId: this.siteId, state, at: this.willAt, ...(reason ? { reason } : {}) });
  }

  async connect(): Promise<void> {
    this.willAt = Date.now();
    this.client = await mqtt.connectAsync(this.t.mqttUrl, {
      clientId: this.siteId,
      username: this.siteId,
      password: this.secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 30,
      will: { topic: siteTopic(this.siteId, 'state'), payload: Buffer.from(this.state('offline', 'last-will')), qos: 1, retain: true },
    });
    await this.client.publishAsync(siteTopic(this.siteId, 'state'), this.state('online'), { qos: 1, retain: true });
    await this.heartbeat();
  }

  async heartbeat(over: Partial<TelemetryMessage> = this.over): Promise<void> {
    this.over = over;
    await this.client!.publishAsync(siteTopic(this.siteId, 'telemetry'), JSON.stringify(healthyTelemetry(this.siteId, ++this.seq, over)), { qos: 1 });
  }

  /** The link is cut: no goodbye, the broker publishes the last will. */
  cut(): void {
    this.client?.stream.destroy();
    this.client = undefined;
  }

  async close(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
  }
}

const TWO_LINES_OK = [
  { id: 1, status: 'ok' as const, impedanceOhm: 8, nominalOhm: 8 },
  { id: 2, status: 'ok' as const, impedanceOhm: 8, nominalOhm: 8 },
];
const LINE_2_OPEN = [TWO_LINES_OK[0]!, { id: 2, status: 'open' as const, impedanceOhm: null, nominalOhm: 8 }];
const AMP_OVERHEAT: Partial<TelemetryMessage> = { amplifier: { on: true, volume: 70, fault: 'overheat', temperatureC: 92 } };
const MAINS_LOST: Partial<TelemetryMessage> = { power: { source: 'battery', mainsOk: false, batteryPct: 80 } };

async function register(t: TestServer, name: string, kind: 'cluster' | 'station', area: string): Promise<FakeSite> {
  const r = await t.api('POST', '/api/sites', { name, kind, area, monitorMic: false });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const c = r.body.credential as { siteId: string; secret: string };
  return new FakeSite(t, c.siteId, c.secret);
}

async function userToken(t: TestServer, username: string, role: string, area?: string): Promise<string> {
  const password = 'mat-khau-du-dai-123';
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

/** Every alarm of a site (open and cleared). */
async function alarmsOf(t: TestServer, siteId: string): Promise<Alarm[]> {
  const r = await t.inject<{ alarms: Alarm[] }>('GET', `/api/alarms?site=${siteId}&state=open,cleared&limit=500`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.alarms;
}

async function alarmOf(t: TestServer, siteId: string, kind: string, state = 'raised'): Promise<Alarm> {
  return waitFor(`a ${state} ${kind} alarm of ${siteId}`, async () => (await alarmsOf(t, siteId)).find((a) => a.kind === kind && a.state === state), 20_000);
}

describe('alarms with a 1 s hold-down', () => {
  let t: TestServer;
  const sites: FakeSite[] = [];
  let line: FakeSite;
  let amp: FakeSite;
  let power: FakeSite;
  let other: FakeSite;
  /** A technician of Cam Đường (made by the scope test). */
  let techB = '';

  beforeAll(async () => {
    t = await startTestServer({ LOANET_ALARM_HOLD_DOWN_S: '1', LOANET_ALARM_PENDING_S: '0' });
    await importLaoCai2025(t);
    line = await register(t, 'Cụm loa thôn Bản Vược', 'cluster', BAT_XAT);
    amp = await register(t, 'Cụm loa thôn Tân Bảo', 'cluster', BAT_XAT);
    power = await register(t, 'Cụm loa thôn Cốc Mỳ', 'cluster', BAT_XAT);
    other = await register(t, 'Cụm loa tổ 5 Cam Đường', 'cluster', CAM_DUONG);
    sites.push(line, amp, power, other);
    for (const s of sites) {
      await s.connect();
      await s.heartbeat({ lines: TWO_LINES_OK });
    }
    for (const s of sites)
      await waitFor(`${s.siteId} operational`, async () => (await t.inject('GET', `/api/sites/${s.siteId}`)).body?.status?.condition === 'operational' || undefined);
  }, 120_000);

  afterAll(async () => {
    for (const s of sites) await s.close();
    await t?.stop();
  });

  it('raises one alarm for each injected fault, with the right kind, severity and reasons, and tells the console', async () => {
    const stream = await openEventStream(t, t.token);
    try {
      await line.heartbeat({ lines: LINE_2_OPEN });
      await amp.heartbeat({ lines: TWO_LINES_OK, ...AMP_OVERHEAT });
      await power.heartbeat({ lines: TWO_LINES_OK, ...MAINS_LOST });
      const l = await alarmOf(t, line.siteId, 'speaker_line');
      const a = await alarmOf(t, amp.siteId, 'amplifier_fault');
      const p = await alarmOf(t, power.siteId, 'power');
      expect(l.reasons).toEqual([expect.objectContaining({ code: 'line_open', params: expect.objectContaining({ line: 2 }) })]);
      expect(a.reasons).toEqual([expect.objectContaining({ code: 'amplifier_fault', params: expect.objectContaining({ fault: 'overheat' }) })]);
      expect(p.reasons.map((r) => r.code)).toContain('on_battery');
      expect([l.severity, a.severity, p.severity]).toEqual(['minor', 'major', 'minor']);

      // The same fault heartbeated again is the same alarm, not a second one.
      await line.heartbeat();
      await amp.heartbeat();
      await power.heartbeat();
      await t.server.ctx.alarms.settled();
      for (const [s, kind] of [
        [line, 'speaker_line'],
        [amp, 'amplifier_fault'],
        [power, 'power'],
      ] as const) {
        const mine = (await alarmsOf(t, s.siteId)).filter((x) => x.kind === kind);
        expect(mine, `${kind} of ${s.siteId}`).toHaveLength(1);
        expect(mine[0]!.count).toBe(1);
        const detail = await t.inject('GET', `/api/alarms/${mine[0]!.id}`);
        expect(detail.status).toBe(200);
        expect(detail.body.history.filter((h: { type: string }) => h.type === 'raised')).toHaveLength(1);
      }
      const raised = await stream.next('alarm', (e) => e.kind === 'raised' && e.alarmId === a.id);
      expect(raised).toMatchObject({ siteId: amp.siteId, alarmKind: 'amplifier_fault', severity: 'major', state: 'raised' });
    } finally {
      stream.close();
    }
  });

  it('a technician of another commune neither sees nor acknowledges the alarm; one of the commune does, and the audit log says who', async () => {
    const l = await alarmOf(t, line.siteId, 'speaker_line');
    const techA = await userToken(t, 'ky-thuat-bat-xat', 'technician', BAT_XAT);
    techB = await userToken(t, 'ky-thuat-cam-duong', 'technician', CAM_DUONG);
    const viewerA = await userToken(t, 'xem-bat-xat', 'viewer', BAT_XAT);

    const listB = await t.inject('GET', '/api/alarms?state=open,cleared', undefined, { token: techB });
    expect(listB.status).toBe(200);
    expect(JSON.stringify(listB.body)).not.toContain(line.siteId);
    expect((await t.inject('GET', `/api/alarms?area=${BAT_XAT}`, undefined, { token: techB })).status).toBe(403);
    expect((await t.inject('GET', `/api/alarms/${l.id}`, undefined, { token: techB })).status).toBe(404);
    const ackB = await t.inject('POST', `/api/alarms/${l.id}/acknowledge`, { note: 'không phải của tôi' }, { token: techB });
    expect(ackB.status).toBe(404);
    expect(ackB.body.error).toBe('LOANET_ALARM_NOT_FOUND');
    expect((await t.inject('POST', `/api/alarms/${l.id}/acknowledge`, {}, { token: viewerA })).status).toBe(403);

    const listA = await t.inject<{ alarms: Alarm[] }>('GET', '/api/alarms', undefined, { token: techA });
    expect(listA.body.alarms.map((a) => a.id)).toContain(l.id);
    expect(listA.body.alarms.every((a) => a.siteId !== other.siteId)).toBe(true);

    const ack = await t.inject<Alarm>('POST', `/api/alarms/${l.id}/acknowledge`, { note: 'Sáng mai lên thôn' }, { token: techA });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect(ack.body).toMatchObject({ state: 'acknowledged', acknowledged: { by: 'ky-thuat-bat-xat', note: 'Sáng mai lên thôn' } });
    const again = await t.inject('POST', `/api/alarms/${l.id}/acknowledge`, {}, { token: techA });
    expect([again.status, again.body.error]).toEqual([409, 'LOANET_ALARM_ALREADY_ACKNOWLEDGED']);

    // Cleared by hand while the server still sees the line open: refused.
    const early = await t.inject('POST', `/api/alarms/${l.id}/clear`, { note: 'đã sửa' }, { token: techA });
    expect([early.status, early.body.error]).toEqual([409, 'LOANET_ALARM_CONDITION_ACTIVE']);

    const comment = await t.inject('POST', `/api/alarms/${l.id}/comments`, { note: 'Dây bị chuột cắn' }, { token: techA });
    expect(comment.status, JSON.stringify(comment.body)).toBe(201);
    const detail = await t.inject('GET', `/api/alarms/${l.id}`, undefined, { token: techA });
    expect(detail.body.comments).toEqual([expect.objectContaining({ by: 'ky-thuat-bat-xat', note: 'Dây bị chuột cắn' })]);
    expect(detail.body.history.map((h: { type: string }) => h.type)).toEqual(['raised', 'acknowledged']);

    const audit = await t.inject('GET', '/api/audit?action=alarm.');
    expect(audit.status).toBe(200);
    const actions = (audit.body.entries as Array<{ action: string; username: string; target: string }>).filter((e) => e.target === l.id).map((e) => `${e.username} ${e.action}`);
    expect(actions.sort()).toEqual(['ky-thuat-bat-xat alarm.acknowledge', 'ky-thuat-bat-xat alarm.comment']);
  });

  it('the area summary counts open alarms up the tree, and the CSV export holds them', async () => {
    const s = await t.inject('GET', `/api/alarms/summary?area=${BAT_XAT}`);
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.areas[0]).toMatchObject({ area: { code: BAT_XAT }, total: 3 });
    const province = await t.inject('GET', '/api/alarms/summary?depth=1');
    expect(province.body.areas[0].total).toBeGreaterThanOrEqual(3);
    expect(province.body.areas.find((a: { area: { code: string } }) => a.area.code === BAT_XAT)?.total).toBe(3);

    const csv = await fetch(`${t.baseUrl}/api/alarms?area=${BAT_XAT}`, { headers: { authorization: `Bearer ${t.token}`, accept: 'text/csv' } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await csv.text();
    expect(text.split('\r\n').filter(Boolean)).toHaveLength(1 + 3);
    expect(text).toContain('Lỗi bộ khuếch đại');
  });

  it('clears each alarm once its fault has been gone for the hold-down, and a cleared alarm cannot be acknowledged', async () => {
    const before = await alarmOf(t, amp.siteId, 'amplifier_fault');
    for (const s of [line, amp, power]) await s.heartbeat({ lines: TWO_LINES_OK });
    const l = await alarmOf(t, line.siteId, 'speaker_line', 'cleared');
    const a = await alarmOf(t, amp.siteId, 'amplifier_fault', 'cleared');
    const p = await alarmOf(t, power.siteId, 'power', 'cleared');
    for (const x of [l, a, p]) expect(x.cleared).toMatchObject({ cause: 'condition_cleared', by: null });
    expect(a.id).toBe(before.id);
    const late = await t.inject('POST', `/api/alarms/${a.id}/acknowledge`, {});
    expect([late.status, late.body.error]).toEqual([409, 'LOANET_ALARM_ALREADY_CLEARED']);
    const open = await t.inject('GET', `/api/alarms?area=${BAT_XAT}`);
    expect(open.body.total).toBe(0);
    const s = await t.inject('GET', `/api/alarms/summary?area=${BAT_XAT}`);
    expect(s.body.areas[0].total).toBe(0);
  });

  it("the console's stream carries a commune's alarms to its own technicians only", async () => {
    const admin = await openEventStream(t, t.token);
    const streamB = await openEventStream(t, techB);
    try {
      await amp.heartbeat({ lines: TWO_LINES_OK, ...AMP_OVERHEAT });
      const inBatXat = await admin.next('alarm', (e) => e.kind === 'raised' && e.siteId === amp.siteId);
      // Raised after Bát Xát's: once it reaches Cam Đường's technician, Bát Xát's would have come before it.
      await other.heartbeat({ lines: TWO_LINES_OK, ...AMP_OVERHEAT });
      const own = await streamB.next('alarm', (e) => e.kind === 'raised' && e.siteId === other.siteId);
      expect(own).toMatchObject({ alarmKind: 'amplifier_fault', severity: 'major' });
      expect(streamB.events.filter((e) => e.event === 'alarm' && e.data.alarmId === inBatXat.alarmId)).toEqual([]);
    } finally {
      admin.close();
      streamB.close();
    }
  });
});

describe('alarms with a 10 minute hold-down', () => {
  let t: TestServer;
  const sites: FakeSite[] = [];
  let flapper: FakeSite;
  let station: FakeSite;
  let villages: FakeSite[];

  beforeAll(async () => {
    t = await startTestServer({ LOANET_ALARM_HOLD_DOWN_S: '600', LOANET_ALARM_PENDING_S: '0' });
    await importLaoCai2025(t);
    for (const v of ['01', '02']) {
      const r = await t.api('POST', '/api/areas', { code: `${BAT_XAT}-${v}`, name: `Thôn ${v}`, level: 'village', parent: BAT_XAT });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    station = await register(t, 'Đài truyền thanh xã Bát Xát', 'station', BAT_XAT);
    villages = [await register(t, 'Cụm loa thôn 01', 'cluster', `${BAT_XAT}-01`), await register(t, 'Cụm loa thôn 02', 'cluster', `${BAT_XAT}-02`)];
    flapper = await register(t, 'Cụm loa tổ 5 Cam Đường', 'cluster', CAM_DUONG);
    sites.push(station, ...villages, flapper);
    for (const s of sites) await s.connect();
    for (const s of sites)
      await waitFor(`${s.siteId} operational`, async () => (await t.inject('GET', `/api/sites/${s.siteId}`)).body?.status?.condition === 'operational' || undefined);
  }, 120_000);

  afterAll(async () => {
    for (const s of sites) await s.close();
    await t?.stop();
  });

  it('a site whose link drops and comes back six times is one alarm with a count of six', async () => {
    for (let i = 0; i < 6; i++) {
      flapper.cut();
      await waitFor('the flapping site offline', async () => (await t.inject('GET', `/api/sites/${flapper.siteId}`)).body?.status?.condition === 'offline' || undefined);
      await flapper.connect();
      await waitFor('the flapping site back', async () => (await t.inject('GET', `/api/sites/${flapper.siteId}`)).body?.status?.condition === 'operational' || undefined);
    }
    await t.server.ctx.alarms.settled();
    const offline = (await alarmsOf(t, flapper.siteId)).filter((a) => a.kind === 'site_offline');
    expect(offline).toHaveLength(1);
    expect(offline[0]).toMatchObject({ count: 6, state: 'raised', active: false });
  });

  it('a commune station and its villages cut together are one incident with the three as children', async () => {
    for (const s of [station, ...villages]) s.cut();
    const alarms = await Promise.all([station, ...villages].map((s) => alarmOf(t, s.siteId, 'site_offline')));
    const withIncident = await waitFor('all three in one incident', async () => {
      const now = await Promise.all([station, ...villages].map((s) => alarmOf(t, s.siteId, 'site_offline')));
      return now.every((a) => a.incidentId !== null && a.incidentId === now[0]!.incidentId) ? now : undefined;
    });
    expect(withIncident.map((a) => a.id)).toEqual(alarms.map((a) => a.id));
    const detail = await t.inject('GET', `/api/alarms/${withIncident[0]!.id}`);
    expect(detail.body.incident).toMatchObject({
      kind: 'cut',
      state: 'open',
      rootAlarmId: withIncident[0]!.id,
      counts: { members: 3, stations: 1, clusters: 2 },
    });
    // Three sites of one commune silent at once: one level worse than an offline cluster.
    expect(detail.body.incident.severity).toBe('critical');
  });

  it('a restart loses nothing and duplicates nothing: same ids, counts and acknowledgements, one open alarm per site and kind', async () => {
    const flap = await alarmOf(t, flapper.siteId, 'site_offline');
    const ack = await t.inject('POST', `/api/alarms/${flap.id}/acknowledge`, { note: 'theo dõi' });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    const before = new Map<string, Alarm>();
    for (const s of sites) for (const a of await alarmsOf(t, s.siteId)) before.set(a.id, a);
    const beforeIncident = (await t.inject('GET', `/api/alarms/${(await alarmOf(t, station.siteId, 'site_offline')).id}`)).body.incident;

    for (const s of sites) await s.close();
    await t.restart();
    // Back: the flapping site reconnects (its alarm is the same one, in its hold-down); the cut ones stay down.
    await flapper.connect();
    await waitFor(
      'the flapping site back after the restart',
      async () => (await t.inject('GET', `/api/sites/${flapper.siteId}`)).body?.status?.condition === 'operational' || undefined,
    );
    await t.server.ctx.alarms.settled();

    const after = new Map<string, Alarm>();
    for (const s of sites) for (const a of await alarmsOf(t, s.siteId)) after.set(a.id, a);
    for (const [id, a] of before) {
      expect(after.get(id), id).toMatchObject({ id, kind: a.kind, siteId: a.siteId, count: a.count, acknowledged: a.acknowledged, incidentId: a.incidentId });
    }
    for (const s of sites) {
      const open = (await alarmsOf(t, s.siteId)).filter((a) => a.state !== 'cleared');
      expect(new Set(open.map((a) => a.kind)).size, s.siteId).toBe(open.length);
    }
    expect(after.get(flap.id)).toMatchObject({ state: 'acknowledged', acknowledged: { note: 'theo dõi' } });
    const incident = (await t.inject('GET', `/api/alarms/${(await alarmOf(t, station.siteId, 'site_offline')).id}`)).body.incident;
    expect(incident).toMatchObject({ id: beforeIncident.id, counts: beforeIncident.counts, state: 'open' });
    // A new alarm after the restart takes a new id, never an old one's.
    const ids = [...after.keys()].map((id) => Number(id.slice(3)));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
