/**
 * The schedule end to end on a real server (HTTP, embedded broker over TCP,
 * SQLite in a temp folder, real ffmpeg for the media): drafts and approval
 * (four eyes, area scope), the same-priority refusal naming the item and the
 * sites, queueing, recurrence in the calendar, bad inputs naming the field,
 * retained playlists received by a real mqtt.js client with a site
 * credential (and republished after a restart), as-run receipts sent twice
 * stored once, and the CSV export.
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTelemetry, siteTopic, type AsRunEvent, type PlaylistMessage, type TelemetryMessage } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone, UPLOAD_HOOK_TIMEOUT_MS } from '../helpers/media.ts';
import { localIso, startOfLocalDay } from '../../server/schedule/times.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const H = 3_600_000;
const DAY = 24 * H;

let t: TestServer;
let mediaId: string;
const tokens: Record<string, string> = {};
const sites: Record<string, { siteId: string; secret: string }> = {};
const clients: MqttClient[] = [];

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const r = await t.api('POST', '/api/users', { username, password: 'password-of-' + username, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password: 'password-of-' + username }, { token: null })).body.token;
}

async function site(name: string, area: string): Promise<{ siteId: string; secret: string }> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.credential;
}

/** A real mqtt.js client logged in as the site, collecting what arrives on its playlist topic. */
async function siteClient(s: { siteId: string; secret: string }): Promise<{ client: MqttClient; playlists: PlaylistMessage[] }> {
  const client = mqtt.connect(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  clients.push(client);
  const playlists: PlaylistMessage[] = [];
  client.on('message', (topic, payload) => {
    if (topic === siteTopic(s.siteId, 'playlist') && payload.length > 0) playlists.push(JSON.parse(payload.toString('utf8')) as PlaylistMessage);
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(siteTopic(s.siteId, 'playlist'), { qos: 1 });
  return { client, playlists };
}

/** An item body at `at` for `targets`, with overrides. */
function body(title: string, at: number, targets: { areas?: string[]; sites?: string[] }, over: Record<string, unknown> = {}) {
  return { title, mediaId, targets, start: { at }, ...over };
}

const soon = () => Date.now() + 2 * H;

beforeAll(async () => {
  if (!canRun) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  const dir = tempDir('loanet-schedule-');
  mediaId = await uploadTone(t, dir, { title: 'Bản tin thử', seconds: 3 });
  fs.rmSync(dir, { recursive: true, force: true });
  sites.bx1 = await site('Cụm loa thôn 1 Bát Xát', '02683');
  sites.bx2 = await site('Cụm loa thôn 2 Bát Xát', '02683');
  sites.ht1 = await site('Cụm loa thôn 1 Hợp Thành', '02680');
  sites.ht2 = await site('Cụm loa thôn 2 Hợp Thành', '02680');
  sites.cd1 = await site('Cụm loa Cam Đường', '02671');
  tokens.opA = await userToken('op-a-batxat', 'operator', '02683');
  tokens.opB = await userToken('op-b-batxat', 'operator', '02683');
  tokens.opCd = await userToken('op-camduong', 'operator', '02671');
  tokens.viewer = await userToken('viewer-province', 'viewer');
}, UPLOAD_HOOK_TIMEOUT_MS);

afterAll(async () => {
  for (const c of clients) c.end(true);
  await t?.stop();
});

describe.skipIf(!canRun)('broadcast items: drafts, approval, scope', () => {
  it('a draft is saved but not distributed; another operator approves it and it goes out', async () => {
    const created = await t.api('POST', '/api/schedule/items', body('Thông báo tiêm chủng', soon(), { areas: ['02683'] }), { token: tokens.opA });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ status: 'draft', createdBy: 'op-a-batxat', sites: 2, priority: 'normal' });
    expect(created.body.start.atLocal).toMatch(/\+07:00$/);
    expect(created.body.targets.areas[0]).toMatchObject({ key: '2025.02683', name: 'Xã Bát Xát' });
    const before = await t.api('GET', `/api/sites/${sites.bx1!.siteId}/playlist`);
    // (desired may be null: the site was registered moments ago and the registry watcher has not run yet.)
    expect((before.body.desired?.entries ?? []).map((e: { itemId: string }) => e.itemId)).not.toContain(created.body.id);

    const own = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`, undefined, { token: tokens.opA });
    expect(own.status).toBe(403);
    expect(own.body.message).toMatch(/four eyes/);
    // The console words the rule from the code and its params; no Vietnamese sentence of the server's.
    expect(own.body).toMatchObject({ error: 'LOANET_FOUR_EYES', rule: 'four_eyes', params: { title: 'Thông báo tiêm chủng', username: 'op-a-batxat' } });
    expect(own.body).not.toHaveProperty('messageVi');

    const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`, undefined, { token: tokens.opB });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', approvedBy: 'op-b-batxat' });
    const after = await t.api('GET', `/api/sites/${sites.bx1!.siteId}/playlist`);
    expect(after.body.desired.entries.map((e: { itemId: string }) => e.itemId)).toContain(created.body.id);
    // Not targeted: Cam Đường.
    const other = await t.api('GET', `/api/sites/${sites.cd1!.siteId}/playlist`);
    expect(other.body.desired.entries).toEqual([]);

    const audit = await t.api('GET', '/api/audit?action=schedule.');
    const actions = (audit.body.entries ?? audit.body).filter((e: { target: string }) => e.target === created.body.id).map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['schedule.create', 'schedule.approve']));

    const cancelled = await t.api('POST', `/api/schedule/items/${created.body.id}/cancel`, { reason: 'đổi lịch' }, { token: tokens.opA });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelledBy: 'op-a-batxat', cancelReason: 'đổi lịch' });
    const gone = await t.api('GET', `/api/sites/${sites.bx1!.siteId}/playlist`);
    expect(gone.body.desired.entries.map((e: { itemId: string }) => e.itemId)).not.toContain(created.body.id);
  });

  it('an admin may approve their own draft; a viewer may neither create nor approve', async () => {
    const mine = await t.api('POST', '/api/schedule/items', body('Admin tự duyệt', soon() + 5 * H, { sites: [sites.cd1!.siteId] }));
    expect(mine.status).toBe(201);
    expect((await t.api('POST', `/api/schedule/items/${mine.body.id}/approve`)).status).toBe(200);
    expect((await t.api('POST', '/api/schedule/items', body('x', soon(), { areas: ['02683'] }), { token: tokens.viewer })).status).toBe(403);
    const d = await t.api('POST', '/api/schedule/items', body('Chờ duyệt', soon() + 6 * H, { areas: ['02683'] }), { token: tokens.opA });
    expect((await t.api('POST', `/api/schedule/items/${d.body.id}/approve`, undefined, { token: tokens.viewer })).status).toBe(403);
  });

  it('a commune operator acts only inside their commune', async () => {
    const outside = await t.api('POST', '/api/schedule/items', body('Ngoài phạm vi', soon(), { areas: ['02683'] }), { token: tokens.opCd });
    expect(outside.status).toBe(403);
    expect(outside.body.message).toMatch(/Xã Bát Xát is outside/);
    const site = await t.api('POST', '/api/schedule/items', body('Ngoài phạm vi', soon(), { sites: [sites.bx1!.siteId] }), { token: tokens.opCd });
    expect(site.status).toBe(403);
    const draft = await t.api('POST', '/api/schedule/items', body('Của Bát Xát', soon() + 7 * H, { areas: ['02683'] }), { token: tokens.opA });
    expect((await t.api('POST', `/api/schedule/items/${draft.body.id}/approve`, undefined, { token: tokens.opCd })).status).toBe(403);
    expect((await t.api('POST', `/api/schedule/items/${draft.body.id}/cancel`, {}, { token: tokens.opCd })).status).toBe(403);
    // Their own commune is fine.
    const own = await t.api('POST', '/api/schedule/items', body('Của Cam Đường', soon() + 7 * H, { areas: ['02671'] }), { token: tokens.opCd });
    expect(own.status).toBe(201);
    // And they read only what plays there.
    const listed = (await t.api('GET', '/api/schedule/items', undefined, { token: tokens.opCd })).body;
    expect(listed.area.key).toBe('2025.02671');
    expect(listed.items.map((i: { id: string }) => i.id)).toContain(own.body.id);
    expect(listed.items.map((i: { id: string }) => i.id)).not.toContain(draft.body.id);
    expect((await t.api('GET', `/api/schedule/items/${draft.body.id}`, undefined, { token: tokens.opCd })).status).toBe(404);
    expect((await t.api('GET', '/api/schedule/items?area=02683', undefined, { token: tokens.opCd })).status).toBe(403);
    expect((await t.api('GET', '/api/as-run?area=02683', undefined, { token: tokens.opCd })).status).toBe(403);
    expect((await t.api('GET', `/api/sites/${sites.bx1!.siteId}/playlist`, undefined, { token: tokens.opCd })).status).toBe(403);
  });

  it('only drafts are edited, and editing makes the editor unable to approve', async () => {
    const d = await t.api('POST', '/api/schedule/items', body('Bản nháp', soon() + 8 * H, { areas: ['02683'] }), { token: tokens.opA });
    const edited = await t.api('PATCH', `/api/schedule/items/${d.body.id}`, { title: 'Bản nháp đã sửa', priority: 'priority' }, { token: tokens.opB });
    expect(edited.status, JSON.stringify(edited.body)).toBe(200);
    expect(edited.body).toMatchObject({ title: 'Bản nháp đã sửa', priority: 'priority', updatedBy: 'op-b-batxat', createdBy: 'op-a-batxat' });
    expect((await t.api('POST', `/api/schedule/items/${d.body.id}/approve`, undefined, { token: tokens.opB })).status).toBe(403);
    expect((await t.api('POST', `/api/schedule/items/${d.body.id}/approve`, undefined, { token: tokens.opA })).status).toBe(403);
    expect((await t.api('POST', `/api/schedule/items/${d.body.id}/approve`)).status).toBe(200);
    const again = await t.api('PATCH', `/api/schedule/items/${d.body.id}`, { title: 'muộn' }, { token: tokens.opA });
    expect(again.status).toBe(409);
  });
});

describe.skipIf(!canRun)('OpenAPI', () => {
  it('documents the schedule and as-run routes', async () => {
    const r = await t.api('GET', '/docs/json', undefined, { token: null });
    expect(r.status).toBe(200);
    for (const p of [
      '/api/schedule/items',
      '/api/schedule/items/{id}/approve',
      '/api/schedule/check',
      '/api/schedule/calendar',
      '/api/schedule/distribution',
      '/api/sites/{id}/playlist',
      '/api/as-run',
    ]) {
      expect(Object.keys(r.body.paths), p).toContain(p);
    }
    expect(r.body.paths['/api/schedule/items'].post.description).toMatch(/409 LOANET_SCHEDULE_CONFLICT/);
    expect(r.body.paths['/api/as-run'].get.summary).toMatch(/nhật ký phát thanh/);
  });
});

describe.skipIf(!canRun)('conflicts', () => {
  it('refuses a same-priority overlap naming the item and the sites, accepts it queued, and a dry run saves nothing', async () => {
    const at = Date.now() + 30 * H;
    const first = await t.api('POST', '/api/schedule/items', body('Lịch tiêm phòng dại', at, { areas: ['02683'] }), { token: tokens.opA });
    expect((await t.api('POST', `/api/schedule/items/${first.body.id}/approve`, undefined, { token: tokens.opB })).status).toBe(200);

    const clash = body('Thông báo nộp thuế', at + 1000, { sites: [sites.bx1!.siteId, sites.bx2!.siteId] });
    const refused = await t.api('POST', '/api/schedule/items', clash, { token: tokens.opB });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('LOANET_SCHEDULE_CONFLICT');
    expect(refused.body.message).toContain('"Thông báo nộp thuế" overlaps "Lịch tiêm phòng dại"');
    expect(refused.body.message).toContain('2 sites in Xã Bát Xát');
    expect(refused.body.params).toMatchObject({ titles: ['Lịch tiêm phòng dại'] });
    expect(refused.body).not.toHaveProperty('messageVi');
    expect(refused.body.conflicts[0]).toMatchObject({ itemId: first.body.id, title: 'Lịch tiêm phòng dại' });
    expect(refused.body.conflicts[0].siteIds).toEqual([sites.bx1!.siteId, sites.bx2!.siteId].sort());
    expect(refused.body.conflicts[0].firstOverlapLocal).toBe(localIso(at + 1000));

    const listBefore = (await t.api('GET', '/api/schedule/items?area=02683')).body.total;
    const dry = await t.api('POST', '/api/schedule/check', clash, { token: tokens.opB });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ ok: false, code: 'same_priority_overlap', sites: 2 });
    expect(dry.body.conflicts[0].itemId).toBe(first.body.id);
    expect((await t.api('GET', '/api/schedule/items?area=02683')).body.total).toBe(listBefore);

    const queued = await t.api('POST', '/api/schedule/items', { ...clash, queue: true }, { token: tokens.opB });
    expect(queued.status, JSON.stringify(queued.body)).toBe(201);
    expect(queued.body.queue).toBe(true);
    const higher = await t.api('POST', '/api/schedule/items', { ...clash, title: 'Khẩn: lũ quét', priority: 'emergency' }, { token: tokens.opB });
    expect(higher.status).toBe(201);

    // Approved queued: it plays right after the first at the shared sites.
    expect((await t.api('POST', `/api/schedule/items/${queued.body.id}/approve`, undefined, { token: tokens.opA })).status).toBe(200);
    const pl = (await t.api('GET', `/api/sites/${sites.bx1!.siteId}/playlist`)).body.desired;
    const a = pl.entries.find((e: { itemId: string }) => e.itemId === first.body.id);
    const b = pl.entries.find((e: { itemId: string }) => e.itemId === queued.body.id);
    expect(b.startAt).toBe(a.startAt + a.durationMs);
  });
});

describe.skipIf(!canRun)('recurrence and the calendar', () => {
  it('"every day at 06:00 and 17:00" shows twice a day in the week view, in local time', async () => {
    const day0 = startOfLocalDay(Date.now()) + DAY;
    const d = new Date(day0 + 7 * H);
    const dtstart = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}T06:00`;
    const created = await t.api('POST', '/api/schedule/items', {
      title: 'Bản tin sáng chiều',
      mediaId,
      targets: { areas: ['02680'] },
      start: { dtstart, rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.nextOccurrences[0].local).toBe(`${dtstart}:00+07:00`);
    const cal = await t.api('GET', `/api/schedule/calendar?area=02680&from=${day0}&to=${day0 + 7 * DAY}&includeDrafts=true`);
    expect(cal.status, JSON.stringify(cal.body)).toBe(200);
    const mine = cal.body.occurrences.filter((o: { itemId: string }) => o.itemId === created.body.id);
    expect(mine).toHaveLength(14);
    expect(mine.map((o: { startLocal: string }) => o.startLocal.slice(11))).toEqual(Array.from({ length: 14 }, (_, i) => (i % 2 === 0 ? '06:00:00+07:00' : '17:00:00+07:00')));
    expect(mine.every((o: { sites: number; status: string }) => o.sites === 2 && o.status === 'draft')).toBe(true);
    // Drafts are left out unless asked for.
    const approvedOnly = await t.api('GET', `/api/schedule/calendar?area=02680&from=${day0}&to=${day0 + 7 * DAY}`);
    expect(approvedOnly.body.occurrences.filter((o: { itemId: string }) => o.itemId === created.body.id)).toEqual([]);
    await t.api('POST', `/api/schedule/items/${created.body.id}/cancel`, {});
  });
});

describe.skipIf(!canRun)('bad input is refused naming the field', () => {
  it.each([
    ['unknown media', { mediaId: 'no-such-media' }, 'mediaId'],
    ['unknown area', { targets: { areas: ['99999'] } }, 'targets.areas[0]'],
    ['unknown site', { targets: { sites: ['no-such-site'] } }, 'targets.sites[0]'],
    ['no target', { targets: {} }, 'targets'],
    ['bad RRULE', { start: { dtstart: '2030-01-01T06:00', rrule: 'FREQ=HOURLY' } }, 'start.rrule'],
    ['bad DTSTART', { start: { dtstart: '2030-13-01T06:00', rrule: 'FREQ=DAILY' } }, 'start.dtstart'],
    [
      'validity ending before it starts',
      { validFrom: '2030-01-02T00:00', validUntil: '2030-01-01T00:00', start: { dtstart: '2030-01-01T06:00', rrule: 'FREQ=DAILY' } },
      'validUntil',
    ],
    ['a start already past', { start: { at: Date.now() - DAY } }, 'start.at'],
    ['epoch seconds', { start: { at: Math.floor(Date.now() / 1000) } }, 'start.at'],
    ['an unknown field', { colour: 'red' }, 'colour'],
  ])('%s', async (_what, over, field) => {
    const r = await t.api('POST', '/api/schedule/items', { ...body('Sai', soon(), { areas: ['02683'] }), ...over });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.field).toBe(field);
    expect(r.body.message).toContain(field);
  });

  it('the known cases carry their own code and params, which the console words, not an English text', async () => {
    const cases: Array<[Record<string, unknown>, string, Record<string, unknown>]> = [
      [{ title: '   ' }, 'LOANET_FIELD_REQUIRED', { field: 'title' }],
      [{ targets: { areas: [] } }, 'LOANET_TARGET_REQUIRED', { field: 'targets' }],
      [{ start: { at: Date.now() - DAY } }, 'LOANET_IN_THE_PAST', { field: 'start.at' }],
      [
        { validFrom: '2030-01-02T00:00', validUntil: '2030-01-01T00:00', start: { dtstart: '2030-01-01T06:00', rrule: 'FREQ=DAILY' } },
        'LOANET_PERIOD_EMPTY',
        { field: 'validUntil', from: '2030-01-02T00:00:00+07:00', to: '2030-01-01T00:00:00+07:00' },
      ],
    ];
    for (const [over, code, params] of cases) {
      const r = await t.api('POST', '/api/schedule/items', { ...body('Sai', soon(), { areas: ['02683'] }), ...over });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body, code).toMatchObject({ error: code, params });
    }
  });
});

describe.skipIf(!canRun)('distribution to a site over MQTT and the as-run log', () => {
  let itemId: string;
  let entryId: string;
  let scheduledAt: number;

  it('a site receives its retained playlist after approval, and a new version after cancel', async () => {
    const at = Date.now() + 3 * H;
    const created = await t.api('POST', '/api/schedule/items', body('Thông báo họp thôn', at, { areas: ['02680'] }), { token: tokens.opA });
    // op-a is scoped to Bát Xát: Hợp Thành is outside; an admin schedules it.
    expect(created.status).toBe(403);
    const mine = await t.api('POST', '/api/schedule/items', body('Thông báo họp thôn', at, { areas: ['02680'] }));
    expect(mine.status).toBe(201);
    const other = await t.api('POST', '/api/schedule/items', body('Thông báo phòng cháy', at + H, { sites: [sites.ht1!.siteId] }));
    for (const id of [mine.body.id, other.body.id]) expect((await t.api('POST', `/api/schedule/items/${id}/approve`)).status).toBe(200);
    itemId = mine.body.id;

    const { playlists } = await siteClient(sites.ht1!);
    const first = await waitFor('the retained playlist', () => playlists.find((p) => p.entries.some((e) => e.itemId === itemId)));
    expect(first).toMatchObject({ v: 1, siteId: sites.ht1!.siteId });
    const entry = first.entries.find((e) => e.itemId === itemId)!;
    expect(entry).toMatchObject({ kind: 'bulletin', mediaId, startAt: at, priority: 'normal', title: 'Thông báo họp thôn' });
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(entry.bytes).toBeGreaterThan(100);
    expect(entry.durationMs).toBeGreaterThan(2500);
    expect(first.horizonEnd - first.at).toBe(48 * H);
    entryId = entry.id;
    scheduledAt = entry.startAt;

    await t.api('POST', `/api/schedule/items/${other.body.id}/cancel`, {});
    const second = await waitFor('a new version without the cancelled item', () => playlists.find((p) => p.version !== first.version));
    expect(second.entries.map((e) => e.itemId)).toEqual([itemId]);
    const status = await t.api('GET', `/api/sites/${sites.ht1!.siteId}/playlist`);
    expect(status.body.desired.version).toBe(second.version);
    expect(status.body.desired.entries[0].startLocal).toBe(localIso(at));
    expect(status.body.converged).toBe(false);
  });

  it('desired vs held follows what the agent reports in its heartbeat', async () => {
    const c = clients[clients.length - 1]!;
    const desired = (await t.api('GET', `/api/sites/${sites.ht1!.siteId}/playlist`)).body.desired;
    const hb: TelemetryMessage = {
      v: 1,
      siteId: sites.ht1!.siteId,
      at: Date.now(),
      seq: 1,
      intervalS: 30,
      uptimeS: 5,
      versions: { agent: 'test', protocol: 1 },
      link: { type: '4g', signalDbm: -80 },
      power: { source: 'mains', mainsOk: true, batteryPct: 100 },
      amplifier: null,
      lines: [],
      temperatureC: null,
      clockOffsetMs: null,
      devices: [],
      monitorMic: false,
      lastSoundCheck: null,
      playlist: { version: desired.version, entries: desired.entries.length, missing: 0, cacheBytes: 1000, cacheLimitBytes: 1_000_000 },
    };
    expect(decodeTelemetry.check(hb).ok).toBe(true);
    await c.publishAsync(siteTopic(sites.ht1!.siteId, 'telemetry'), JSON.stringify(hb), { qos: 1 });
    const s = await waitFor('converged', async () => {
      const r = await t.api('GET', `/api/sites/${sites.ht1!.siteId}/playlist`);
      return r.body.converged ? r.body : undefined;
    });
    expect(s.held.version).toBe(desired.version);
    const dist = await t.api('GET', '/api/schedule/distribution?area=02680');
    expect(dist.body.sites).toBe(2);
    expect(dist.body.converged).toBe(1);
    expect(dist.body.notConvergedSites.map((n: { siteId: string }) => n.siteId)).toEqual([sites.ht2!.siteId]);
  });

  it('a receipt published twice is stored once; the log accounts for every targeted site, also as CSV', async () => {
    const c = clients[clients.length - 1]!;
    const receipt: AsRunEvent = {
      v: 1,
      siteId: sites.ht1!.siteId,
      at: Date.now(),
      type: 'as_run',
      entryId,
      kind: 'bulletin',
      itemId,
      mediaId,
      scheduledAt,
      outcome: 'played',
      startedAt: scheduledAt + 12,
      endedAt: scheduledAt + 3012,
      startErrorMs: 12,
      frames: 150,
      playlistVersion: 'abc123',
    };
    // The copy sent again a minute later (a resend) once the first is stored: it must not replace it.
    // (Two copies arriving together are each tried at once on PostgreSQL, and either may be the one kept.)
    const before = t.server.ctx.asRun.stats();
    await c.publishAsync(siteTopic(sites.ht1!.siteId, 'event'), JSON.stringify(receipt), { qos: 1 });
    await waitFor('the first receipt stored', () => t.server.ctx.asRun.stats().stored > before.stored);
    await c.publishAsync(siteTopic(sites.ht1!.siteId, 'event'), JSON.stringify({ ...receipt, at: receipt.at + 60_000 }), { qos: 1 });
    await waitFor('the copy handled', () => t.server.ctx.asRun.stats().duplicates > before.duplicates);
    const rows = await t.server.ctx.store.db.selectFrom('as_run').select('at').where('site_id', '=', sites.ht1!.siteId).where('entry_id', '=', entryId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.at).toBe(receipt.at);
    expect(t.server.ctx.asRun.stats().stored).toBe(before.stored + 1);

    const from = scheduledAt - H;
    const to = scheduledAt + H;
    const log = await t.api('GET', `/api/as-run?area=02680&from=${from}&to=${to}`);
    expect(log.status, JSON.stringify(log.body)).toBe(200);
    const lines = log.body.lines.filter((l: { itemId: string }) => l.itemId === itemId);
    expect(lines.map((l: { siteId: string; status: string; source: string }) => [l.siteId, l.status, l.source])).toEqual(
      [
        [sites.ht1!.siteId, 'played', 'agent'],
        [sites.ht2!.siteId, 'upcoming', 'server'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    expect(log.body.entries.find((e: { itemId: string }) => e.itemId === itemId)).toMatchObject({
      sites: 2,
      byStatus: { played: 1, upcoming: 1 },
      scheduledLocal: localIso(scheduledAt),
    });
    const played = lines.find((l: { status: string }) => l.status === 'played');
    expect(played).toMatchObject({ title: 'Thông báo họp thôn', areaName: 'Xã Hợp Thành', startErrorMs: 12, frames: 150, scheduledLocal: localIso(scheduledAt) });

    const res = await fetch(`${t.baseUrl}/api/as-run?area=02680&from=${from}&to=${to}`, { headers: { authorization: `Bearer ${t.token}`, accept: 'text/csv' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('content-disposition')).toMatch(/nhat-ky-phat-thanh_02680_/);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const csv = bytes.subarray(3).toString('utf8');
    const [header, ...rows2] = csv.trimEnd().split('\r\n');
    expect(header).toContain('Giờ dự kiến / Scheduled (local)');
    expect(header).toContain('Kết quả / Outcome');
    const mineCsv = rows2.filter((r) => r.includes(itemId));
    expect(mineCsv).toHaveLength(2);
    const w = localIso(scheduledAt);
    const localShown = `${w.slice(8, 10)}/${w.slice(5, 7)}/${w.slice(0, 4)} ${w.slice(11, 19)}`;
    const playedRow = mineCsv.find((r) => r.includes(sites.ht1!.siteId))!;
    expect(playedRow).toContain(localShown);
    expect(playedRow).toContain('Thông báo họp thôn');
    expect(playedRow).toContain('Đã phát / played');
    expect(playedRow).toContain('0.012');
    expect(mineCsv.find((r) => r.includes(sites.ht2!.siteId))).toContain('Chưa đến giờ / not due yet');
  });

  it('once an entry is over, a site that sent no receipt is listed as not reported, with its condition', async () => {
    const at = Date.now() + 1500;
    const item = await t.api('POST', '/api/schedule/items', body('Phát ngay', at, { sites: [sites.ht2!.siteId] }));
    expect(item.status, JSON.stringify(item.body)).toBe(201);
    expect((await t.api('POST', `/api/schedule/items/${item.body.id}/approve`)).status).toBe(200);
    const url = `/api/as-run?area=02680&from=${at - 1000}&to=${at + 1000}&item=${item.body.id}`;
    expect((await t.api('GET', url)).body.lines.map((l: { status: string }) => l.status)).toEqual(['upcoming']);
    const line = await waitFor(
      'the entry to be over',
      async () => {
        const l = (await t.api('GET', `${url}&graceS=0`)).body.lines[0];
        return l?.status === 'no_receipt' ? l : undefined;
      },
      15_000,
      250,
    );
    // Never heard from: the server says so instead of leaving the site out.
    expect(line).toMatchObject({ siteId: sites.ht2!.siteId, source: 'server', siteNow: { condition: 'unverified' } });
    expect(line.why).toEqual([{ code: 'no_receipt', params: {} }]);
    expect(line.siteNow.reason).toMatchObject({ code: 'never_connected' });
    expect(line.explanation.vi).toBe('chưa nhận được báo cáo của trạm; chưa từng kết nối với máy chủ');
  }, 20_000);

  it('media still scheduled cannot be retired', async () => {
    const r = await t.api('DELETE', `/api/media/${mediaId}`);
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(/still scheduled by/);
  });

  it('after a server restart every site gets its playlist again (the retained store was in memory)', async () => {
    const before = (await t.api('GET', `/api/sites/${sites.ht1!.siteId}/playlist`)).body.desired.version;
    for (const c of clients.splice(0)) c.end(true);
    await t.restart();
    const { playlists } = await siteClient(sites.ht1!);
    const again = await waitFor('the republished playlist', () => playlists[0]);
    expect(again.version).toBe(before);
    // The as-run row survived too.
    expect(await t.server.ctx.store.db.selectFrom('as_run').select('site_id').execute()).toHaveLength(1);
  });
});
