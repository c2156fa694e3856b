/**
 * Rollouts end to end: a real server (HTTP, embedded broker on TCP, SQLite),
 * a release signed in the test with a key of the server's trust list and
 * uploaded through the releases API, and ~20 sites whose "agents" are MQTT
 * clients logged in with their own site credentials: they receive their
 * retained order on sites/{id}/update and answer as the test scripts them,
 * with update_status events and heartbeats carrying `update`.
 *
 * 1. A dry run lists the sites a rollout would reach, with their wave, and
 *    those it leaves out and why; an operator cannot create one; a
 *    technician of another commune cannot target this one.
 * 2. The canary, then the next wave at its success threshold; failures over
 *    the error threshold pause it, and no site of a later wave got an order;
 *    a resume (audited, with who and why) goes on; a site playing an alert
 *    is held ('playing') until it ends; a server restart keeps the rollout
 *    and publishes the orders of installing sites again; abort sends cancel.
 * 3. A site that never answers fails with no_report, and the rollout aborts
 *    itself at the error threshold (onError: abort).
 * 4. The fleet's versions per area, from the heartbeats.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, type ReleaseManifest } from '../../common/release.ts';
import { PROTOCOL_VERSION, siteTopic, type TelemetryMessage, type UpdateOrder, type UpdateReport, type UpdateStatusEvent } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const run = haveTools('ffmpeg');
const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường
const PROFILE = 'village-cluster-4g';
const FROM = '1.2.0';
const TO = '1.3.0';
/** Waits bound a hang only: the rollout ticks every 5 s, and a busy machine is slow. */
const LONG = 60_000;

let t: TestServer;
let dir: string;
const key = generateKeyPairSync('ed25519');
const tokens = {} as { tech: string; techB: string; operator: string };

// ------------------------------------------------------------ a scripted site ----

class FakeSite {
  client!: MqttClient;
  /** Orders received, in order; `null` for a cleared (empty) retained message. */
  readonly orders: Array<UpdateOrder | null> = [];
  version = FROM;
  report: UpdateReport | null = null;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly secret: string,
    readonly lat: number,
  ) {}

  async connect(): Promise<void> {
    this.client = await mqtt.connectAsync(t.mqttUrl, { clientId: this.id, username: this.id, password: this.secret, protocolVersion: 4, reconnectPeriod: 200, clean: true });
    // mqtt.js subscribes again after a reconnect (a server restart): the broker then holds only what the server published again.
    this.client.on('message', (topic, payload) => {
      if (topic !== siteTopic(this.id, 'update')) return;
      this.orders.push(payload.length === 0 ? null : (JSON.parse(payload.toString('utf8')) as UpdateOrder));
    });
    await this.client.subscribeAsync(siteTopic(this.id, 'update'), { qos: 1 });
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat().catch(() => {}), 1000);
  }

  installs(): UpdateOrder[] {
    return this.orders.filter((o): o is UpdateOrder => o !== null && o.action === 'install');
  }

  cancels(): UpdateOrder[] {
    return this.orders.filter((o): o is UpdateOrder => o !== null && o.action === 'cancel');
  }

  cleared(): boolean {
    return this.orders.at(-1) === null;
  }

  async heartbeat(): Promise<void> {
    if (!this.client?.connected) return;
    const m: TelemetryMessage = {
      v: PROTOCOL_VERSION,
      siteId: this.id,
      at: Date.now(),
      seq: this.seq++,
      intervalS: 2,
      uptimeS: 60,
      versions: { agent: this.version, protocol: PROTOCOL_VERSION },
      link: { type: '4g', signalDbm: -80 },
      power: { source: 'mains', mainsOk: true, batteryPct: null },
      amplifier: null,
      lines: [],
      temperatureC: null,
      clockOffsetMs: 0,
      devices: [{ id: 'controller', kind: 'controller', reachable: true, firmware: '2.0.0' }],
      monitorMic: false,
      lastSoundCheck: null,
      update: this.report,
    };
    await this.client.publishAsync(siteTopic(this.id, 'telemetry'), JSON.stringify(m), { qos: 0 });
  }

  /** Answers the latest install order with `state` (an update_status event, unless `heartbeatOnly`). */
  async answer(state: UpdateReport['state'], o: { reason?: UpdateReport['reason']; heartbeatOnly?: boolean } = {}): Promise<void> {
    const order = this.installs().at(-1);
    if (!order) throw new Error(`${this.id} has no order to answer`);
    if (state === 'updated') this.version = order.version;
    this.report = {
      rolloutId: order.rolloutId,
      component: order.component,
      releaseId: order.releaseId,
      version: order.version,
      state,
      bytes: 1000,
      total: 1000,
      fromVersion: FROM,
      since: Date.now(),
      ...(o.reason ? { reason: o.reason, detail: `scripted: ${o.reason}` } : {}),
    };
    if (o.heartbeatOnly) return this.heartbeat();
    const ev: UpdateStatusEvent = { v: PROTOCOL_VERSION, siteId: this.id, at: Date.now(), type: 'update_status', update: this.report };
    await this.client.publishAsync(siteTopic(this.id, 'event'), JSON.stringify(ev), { qos: 1 });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client?.endAsync(true).catch(() => {});
  }
}

// ------------------------------------------------------------------ helpers ----

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const password = `long-passphrase-${username.length}-kx7q`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

async function makeSite(name: string, area: string, lat: number, profile = PROFILE): Promise<FakeSite> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, lat, lon: 103.8, profile });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const c = r.body.credential as { siteId: string; secret: string };
  return new FakeSite(c.siteId, c.secret, lat);
}

/** A release signed with the trusted key, uploaded with its file: its id. */
async function uploadRelease(version: string, component: ReleaseManifest['component'] = 'agent', target: ReleaseManifest['target'] = { arch: 'arm64' }): Promise<string> {
  const file = Buffer.from(`loanet ${component} ${version}\n`.repeat(50));
  const name = component === 'agent' ? `loanet-agent_${version}_arm64.deb` : `controller-${version}.bin`;
  const manifest: ReleaseManifest = {
    format: 1,
    component,
    version,
    target,
    files: [{ path: name, size: file.length, sha256: createHash('sha256').update(file).digest('hex') }],
    createdAt: new Date().toISOString(),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
  const signatures = [{ keyId: keyIdOf(key.publicKey), sig: sign(null, bytes, key.privateKey).toString('base64') }];
  const r = await t.api('POST', '/api/releases', { manifest: bytes.toString('base64'), signatures });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const id = r.body.id as string;
  const put = await fetch(`${t.baseUrl}/api/releases/${id}/files/${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
    body: file,
  });
  expect(put.status, await put.text()).toBe(201);
  return id;
}

const rollout = async (id: string, token = t.token) => {
  const r = await t.api('GET', `/api/rollouts/${id}`, undefined, { token });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as {
    status: string;
    wave: number;
    reason: { code: string; params: Record<string, string | number | null> } | null;
    waves: Array<{ name: string; size: number; waiting: number; installing: number; updated: number; failed: number }>;
    held: Array<{ siteId: string; why: string }>;
    siteList: Array<{
      siteId: string;
      wave: number | null;
      state: string;
      reportState: string | null;
      reason: string | null;
      detail: string | null;
      fromVersion: string | null;
      toVersion: string;
    }>;
  };
};
const audit = async (action: string) =>
  (await t.api('GET', `/api/audit?action=${action}`)).body.entries as Array<{ username: string | null; action: string; target: string; detail: Record<string, unknown> }>;

// --------------------------------------------------------------------- fleet ----

const sites: FakeSite[] = [];
let onVersion: FakeSite;
let otherProfile: FakeSite;
let retired: FakeSite;
let siteB: FakeSite;
let releaseId: string;
let firmwareId: string;
let controllerFwId: string;
let mediaId: string;

beforeAll(async () => {
  if (!run) return;
  dir = tempDir('loanet-rollouts-');
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys);
  fs.writeFileSync(path.join(keys, 'release.pem'), key.publicKey.export({ format: 'pem', type: 'spki' }));
  t = await startTestServer({ LOANET_RELEASE_KEYS: keys });
  await importLaoCai2025(t);
  for (let i = 0; i < 18; i++) sites.push(await makeSite(`Cụm loa thôn ${i + 1}`, COMMUNE_A, 22.5 + i * 0.01));
  onVersion = await makeSite('Cụm loa đã cập nhật', COMMUNE_A, 22.3);
  onVersion.version = TO;
  otherProfile = await makeSite('Đài truyền thanh xã', COMMUNE_A, 22.31, 'commune-station');
  retired = await makeSite('Cụm loa đã gỡ', COMMUNE_A, 22.32);
  siteB = await makeSite('Cụm loa tổ 5 Cam Đường', COMMUNE_B, 22.4);
  expect((await t.api('DELETE', `/api/sites/${retired.id}`)).status).toBe(200);
  for (const s of [...sites, onVersion, siteB]) await s.connect();
  // otherProfile never connects: offline, only noted.
  await waitFor('every connected site online', () => [...sites, onVersion, siteB].every((s) => t.server.ctx.fleet.isOnline(s.id)), LONG);
  releaseId = await uploadRelease(TO);
  firmwareId = await uploadRelease('2.1.0', 'device-firmware', { hardware: 'amp-controller-v2' });
  controllerFwId = await uploadRelease('2.1.0', 'device-firmware', { hardware: 'controller' });
  tokens.tech = await userToken('ky-thuat-bat-xat', 'technician', COMMUNE_A);
  tokens.techB = await userToken('ky-thuat-cam-duong', 'technician', COMMUNE_B);
  tokens.operator = await userToken('van-hanh-bat-xat', 'operator', COMMUNE_A);
  mediaId = await uploadTone(t, dir, { title: 'Cảnh báo thử', seconds: 1 });
}, 180_000);

afterAll(async () => {
  for (const s of [...sites, onVersion, otherProfile, retired, siteB]) await s?.close();
  await t?.stop();
});

const WAVES = [
  { name: 'canary', sites: [] as string[] },
  { name: '50 %', percent: 50 },
  { name: 'all', percent: 100 },
];
const mainBody = () => ({
  releaseId,
  targets: { areas: [COMMUNE_A], profile: PROFILE },
  waves: [{ ...WAVES[0], sites: [sites[0]!.id, sites[1]!.id] }, WAVES[1], WAVES[2]],
  successThreshold: 0.7,
  errorThreshold: 0.2,
  minFinished: 2,
  onError: 'pause',
  maxInFlight: 50,
  broadcastMarginMin: 0,
});

describe.skipIf(!run)('rollouts', () => {
  let id = '';

  it('a dry run lists who would be updated, in which wave, and who is left out and why; an operator cannot create', async () => {
    const dry = await t.api('POST', '/api/rollouts/dry-run', { ...mainBody(), targets: { areas: [COMMUNE_A], sites: [retired.id] } }, { token: tokens.tech });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    const included = dry.body.included as Array<{ siteId: string; wave: number | null; online: boolean; fromVersion: string | null }>;
    const excluded = dry.body.excluded as Array<{ siteId: string; why: string }>;
    expect(included.map((s) => s.siteId).sort()).toEqual([...sites.map((s) => s.id), otherProfile.id].sort());
    expect(included.find((s) => s.siteId === sites[0]!.id)).toMatchObject({ wave: 0, online: true, fromVersion: FROM });
    // Offline is only noted: the site takes part and starts when back.
    expect(included.find((s) => s.siteId === otherProfile.id)).toMatchObject({ online: false, fromVersion: null });
    expect(dry.body.offline).toBe(1);
    expect(excluded).toEqual(
      expect.arrayContaining([expect.objectContaining({ siteId: onVersion.id, why: 'already_on_version' }), expect.objectContaining({ siteId: retired.id, why: 'retired' })]),
    );
    expect(dry.body.waves.map((w: { size: number }) => w.size)).toEqual([2, 8, 9]);
    // Firmware for hardware no site has: every site left out, naming why.
    const fw = await t.api('POST', '/api/rollouts/dry-run', { ...mainBody(), releaseId: firmwareId }, { token: tokens.tech });
    expect(fw.status, JSON.stringify(fw.body)).toBe(200);
    expect(new Set(fw.body.excluded.map((e: { why: string }) => e.why))).toEqual(new Set(['no_matching_device']));
    // Firmware for the sites' controllers: each site with the devices to flash, from its heartbeat.
    const ctl = await t.api('POST', '/api/rollouts/dry-run', { ...mainBody(), targets: { areas: [COMMUNE_A] }, releaseId: controllerFwId }, { token: tokens.tech });
    expect(ctl.status, JSON.stringify(ctl.body)).toBe(200);
    expect(ctl.body.included).toHaveLength(19);
    expect(ctl.body.included[0]).toMatchObject({ devices: ['controller'], fromVersion: '2.0.0' });
    expect(ctl.body.excluded).toEqual([expect.objectContaining({ siteId: otherProfile.id, why: 'no_matching_device' })]);
    const none = await t.api('POST', '/api/rollouts', { ...mainBody(), releaseId: firmwareId }, { token: tokens.tech });
    expect(none.status).toBe(422);
    expect(none.body.error).toBe('LOANET_ROLLOUT_NO_SITES');
    // Nothing was stored by the dry run, nor sent.
    expect((await t.api('GET', '/api/rollouts')).body.rollouts).toEqual([]);
    expect(sites.every((s) => s.installs().length === 0)).toBe(true);

    const op = await t.api('POST', '/api/rollouts', mainBody(), { token: tokens.operator });
    expect(op.status).toBe(403);
    const outside = await t.api('POST', '/api/rollouts/dry-run', mainBody(), { token: tokens.techB });
    expect(outside.status).toBe(403);
    const unknown = await t.api('POST', '/api/rollouts/dry-run', { ...mainBody(), releaseId: 'agent-9-9-9-arm64' }, { token: tokens.tech });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toBe('LOANET_ROLLOUT_RELEASE_UNUSABLE');
    const bad = await t.api(
      'POST',
      '/api/rollouts/dry-run',
      {
        ...mainBody(),
        waves: [
          { name: 'a', percent: 50 },
          { name: 'b', percent: 20 },
        ],
      },
      { token: tokens.tech },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('LOANET_ROLLOUT_SPEC');
  });

  it('canary, then the next wave; failures over the error threshold pause it before any later site gets an order', async () => {
    const r = await t.api('POST', '/api/rollouts', mainBody(), { token: tokens.tech });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    id = r.body.id;
    expect(r.body.sites).toBe(18);
    const waveOf = (w: number) => (r.body.siteList as Array<{ siteId: string; wave: number }>).filter((s) => s.wave === w).map((s) => sites.find((x) => x.id === s.siteId)!);
    const [canary, second, third] = [waveOf(0), waveOf(1), waveOf(2)];
    expect([canary.length, second.length, third.length]).toEqual([2, 7, 9]);
    // Its sites are taken: another rollout would leave every one of them out.
    const again = await t.api('POST', '/api/rollouts/dry-run', mainBody(), { token: tokens.tech });
    expect(again.body.included).toEqual([]);
    expect(again.body.excluded.filter((e: { why: string }) => e.why === 'in_other_rollout')).toHaveLength(18);

    await waitFor('the canary got its orders', () => canary.every((s) => s.installs().length === 1), LONG);
    const order = canary[0]!.installs()[0]!;
    expect(order).toMatchObject({ action: 'install', rolloutId: id, releaseId, version: TO, component: 'agent', healthTimeoutS: 300 });
    expect(order.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect([...second, ...third].every((s) => s.orders.length === 0)).toBe(true);
    expect((await rollout(id)).siteList.find((s) => s.siteId === canary[0]!.id)).toMatchObject({ state: 'installing' });

    for (const s of canary) await s.answer('downloading');
    for (const s of canary) await s.answer('updated');
    await waitFor('the second wave got its orders', () => second.every((s) => s.installs().length === 1), LONG);
    // A finished site's order is cleared: a board that reconnects is not told it again.
    await waitFor('the canary orders cleared', () => canary.every((s) => s.cleared()), LONG);
    expect(third.every((s) => s.orders.length === 0)).toBe(true);

    await second[0]!.answer('rolled_back', { reason: 'sound_check_failed' });
    await second[1]!.answer('failed', { reason: 'hash_mismatch' });
    await waitFor('the rollout paused at the error threshold', async () => (await rollout(id)).status === 'paused', LONG);
    const paused = await rollout(id);
    // Why, as a code and its numbers (the console words it), never an English sentence.
    expect(paused.reason).toEqual({ code: 'error_threshold', params: { wave: '50 %', failed: 2, finished: 2, thresholdPct: 20 } });
    expect(paused.siteList.find((s) => s.siteId === second[0]!.id)).toMatchObject({
      state: 'failed',
      reportState: 'rolled_back',
      reason: 'sound_check_failed',
      detail: 'scripted: sound_check_failed',
      fromVersion: FROM,
      toVersion: TO,
    });
    expect(paused.waves.map((w) => [w.updated, w.failed])).toEqual([
      [2, 0],
      [0, 2],
      [0, 0],
    ]);
    const stop = (await audit('rollout.pause')).find((e) => e.target === id);
    expect(stop).toMatchObject({ username: null, detail: { from: 'running', to: 'paused', wave: '50 %', reason: paused.reason } });
    // The wave before passed on its own too: audited as the code it is.
    expect((await audit('rollout.wave')).find((e) => e.target === id)).toMatchObject({
      username: null,
      detail: { from: 'running', to: 'running', wave: '50 %', reason: { code: 'success_threshold', params: { wave: 'canary', next: '50 %' } } },
    });

    // The rest of the wave finishes (two by heartbeat alone); still nothing beyond the started waves.
    for (const s of second.slice(2, 5)) await s.answer('updated');
    for (const s of second.slice(5)) await s.answer('updated', { heartbeatOnly: true });
    await waitFor('the second wave finished', async () => (await rollout(id)).waves[1]!.updated === 5, LONG);
    expect(third.every((s) => s.orders.length === 0)).toBe(true);

    // A site of the third wave plays an alert: it is held while the alert lasts.
    const playing = third[0]!;
    const lat = playing.lat;
    const alert = await t.api('POST', '/api/alerts', {
      title: 'Lũ quét thử',
      polygon: [
        [lat - 0.004, 103.796],
        [lat - 0.004, 103.804],
        [lat + 0.004, 103.804],
        [lat + 0.004, 103.796],
      ],
      message: { mediaId },
      test: true,
    });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);

    const resumed = await t.api('POST', `/api/rollouts/${id}/resume`, { reason: 'hai cụm lỗi đã kiểm tra tại chỗ' }, { token: tokens.tech });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    // Resumed, the wave (5 of 7 updated) is at its success threshold at once: the rollout's own reason replaces the person's.
    expect(resumed.body.reason).toEqual({ code: 'success_threshold', params: { wave: '50 %', next: 'all' } });
    expect((await audit('rollout.resume')).find((e) => e.target === id)).toMatchObject({
      username: 'ky-thuat-bat-xat',
      detail: expect.objectContaining({ reason: 'hai cụm lỗi đã kiểm tra tại chỗ' }),
    });
    const rest = third.slice(1);
    await waitFor('the third wave got its orders', () => rest.every((s) => s.installs().length === 1), LONG);
    const held = await rollout(id);
    expect(held.held).toContainEqual({ siteId: playing.id, why: 'playing' });
    expect(playing.orders).toEqual([]);
    expect((await t.api('POST', `/api/alerts/${alert.body.id}/cancel`)).status).toBe(200);
    await waitFor('the site got its order once the alert ended', () => playing.installs().length === 1, LONG);

    for (const s of [playing, ...rest.slice(1)]) await s.answer('updated');
    await waitFor('all but one of the third wave updated', async () => (await rollout(id)).waves[2]!.updated === 8, LONG);
    expect((await rollout(id)).status).toBe('running');
  }, 240_000);

  it('a server restart keeps the rollout and publishes the orders of installing sites again; abort sends them cancel', async () => {
    const r = await rollout(id);
    const installing = r.siteList.filter((s) => s.state === 'installing').map((s) => sites.find((x) => x.id === s.siteId)!);
    expect(installing).toHaveLength(1);
    const slow = installing[0]!;
    await slow.answer('downloading');
    const before = slow.installs().length;
    await t.restart();
    await waitFor('the order published again after the restart', () => slow.installs().length > before, LONG);
    const after = await rollout(id);
    expect(after.status).toBe('running');
    expect(after.siteList.map((s) => [s.siteId, s.state])).toEqual(r.siteList.map((s) => [s.siteId, s.state]));

    const paused = await t.api('POST', `/api/rollouts/${id}/pause`, { reason: 'chờ kiểm tra cụm chậm' }, { token: tokens.tech });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.status).toBe('paused');
    // A person's reason: the code says who did what, their own words kept as they typed them.
    expect(paused.body.reason).toEqual({ code: 'paused_by', params: { by: 'ky-thuat-bat-xat', text: 'chờ kiểm tra cụm chậm' } });
    expect((await t.api('POST', `/api/rollouts/${id}/pause`, {}, { token: tokens.tech })).status).toBe(409);
    expect((await audit('rollout.pause')).find((e) => e.target === id && e.username !== null)).toMatchObject({
      username: 'ky-thuat-bat-xat',
      detail: expect.objectContaining({ from: 'running', to: 'paused', reason: 'chờ kiểm tra cụm chậm' }),
    });
    const other = await t.api('POST', `/api/rollouts/${id}/abort`, { reason: 'thử' }, { token: tokens.techB });
    expect(other.status).toBe(404);
    const aborted = await t.api('POST', `/api/rollouts/${id}/abort`, { reason: 'dừng để kiểm tra' }, { token: tokens.tech });
    expect(aborted.status, JSON.stringify(aborted.body)).toBe(200);
    expect(aborted.body.status).toBe('aborted');
    expect(aborted.body.reason).toEqual({ code: 'aborted_by', params: { by: 'ky-thuat-bat-xat', text: 'dừng để kiểm tra' } });
    await waitFor('the installing site told to cancel', () => slow.cancels().length === 1, LONG);
    expect(slow.cancels()[0]).toMatchObject({ rolloutId: id, action: 'cancel' });
    await slow.answer('cancelled');
    await waitFor(
      'the cancelled site finished, its order cleared',
      async () => slow.cleared() && (await rollout(id)).siteList.find((s) => s.siteId === slow.id)?.reason === 'cancelled',
      LONG,
    );
    expect((await audit('rollout.abort')).find((e) => e.target === id)).toMatchObject({
      username: 'ky-thuat-bat-xat',
      detail: expect.objectContaining({ reason: 'dừng để kiểm tra' }),
    });
    const again = await t.api('POST', `/api/rollouts/${id}/resume`, {}, { token: tokens.tech });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('LOANET_ROLLOUT_STATE');
    // Commune B's technician does not see commune A's rollout.
    expect((await t.api('GET', `/api/rollouts/${id}`, undefined, { token: tokens.techB })).status).toBe(404);
    expect((await t.api('GET', '/api/rollouts', undefined, { token: tokens.techB })).body.rollouts).toEqual([]);
    expect((await t.api('GET', '/api/rollouts', undefined, { token: tokens.tech })).body.rollouts.map((x: { id: string }) => x.id)).toEqual([id]);
  }, 180_000);

  it('a site that never answers fails with no_report; the error threshold then aborts the rollout (onError: abort)', async () => {
    const r = await t.api(
      'POST',
      '/api/rollouts',
      { releaseId, targets: { sites: [siteB.id] }, waves: [{ name: 'all', percent: 100 }], minFinished: 1, errorThreshold: 0, onError: 'abort', noReportS: 5 },
      { token: tokens.techB },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await waitFor('siteB got its order', () => siteB.installs().length === 1, LONG);
    await waitFor('the silent site failed, the rollout aborted', async () => (await rollout(r.body.id, tokens.techB)).status === 'aborted', LONG);
    const d = await rollout(r.body.id, tokens.techB);
    expect(d.siteList[0]).toMatchObject({ state: 'failed', reason: 'no_report' });
    expect(d.reason).toEqual({ code: 'error_threshold', params: { wave: 'all', failed: 1, finished: 1, thresholdPct: 0 } });
    await waitFor('the silent site told to cancel', () => siteB.cancels().length >= 1, LONG);
    // It comes back and obeys: its order is cleared, and it stays failed for its silence.
    await siteB.answer('cancelled');
    await waitFor('the order of the silent site cleared', () => siteB.cleared(), LONG);
    expect((await rollout(r.body.id, tokens.techB)).siteList[0]).toMatchObject({ state: 'failed', reason: 'no_report', reportState: 'cancelled' });
  }, 120_000);

  it("the fleet's versions per area, from the heartbeats; a site never heard is unknown", async () => {
    const v = await t.api('GET', `/api/fleet/versions?area=${COMMUNE_A}`, undefined, { token: tokens.tech });
    expect(v.status, JSON.stringify(v.body)).toBe(200);
    const upd = sites.filter((s) => s.version === TO).length + 1;
    expect(v.body.total).toMatchObject({ sites: 20, agent: { [TO]: upd, [FROM]: 19 - upd, unknown: 1 } });
    expect(v.body.total.firmware.controller['2.0.0']).toBe(19);
    expect((await t.api('GET', `/api/fleet/versions?area=${COMMUNE_A}`, undefined, { token: tokens.techB })).status).toBe(403);
  });
});
