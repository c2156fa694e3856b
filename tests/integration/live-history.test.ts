/**
 * The record of live broadcasts (migration 7): streams on air and past are
 * listed newest first, paged, and scoped to the caller's area; a past stream
 * answers with its per-site statistics, skew and end after the server
 * restarted on the same data folder; a stream on air at a clean stop ends as
 * server_shutdown; a relay URL's credentials are never kept or shown.
 *
 * Real parts: the server (HTTP, embedded broker over TCP, SQLite in a temp
 * folder), WebSocket voices, MQTT clients logged in as sites sending
 * stream_stats events, ffmpeg for the relay.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { listenAsSite, startRadio, type Heard } from '../helpers/live.ts';
import { ffmpeg } from '../helpers/media.ts';

import { PROTOCOL_VERSION, encodeJson, siteTopic, type StreamStatsEvent } from '../../protocol/index.ts';
import { haveTools } from '../helpers/require-tool.ts';

const BAT_XAT = '2025.02683';
const CAM_DUONG = '2025.02671';
const canRun = haveTools('ffmpeg');

let t: TestServer;
const creds: Record<string, { siteId: string; secret: string }> = {};
const sockets: WebSocket[] = [];
const open: Heard[] = [];

async function site(name: string, area: string) {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.credential as { siteId: string; secret: string };
}

/** A live voice from the console's WebSocket (the server fills what it does not send with silence). */
async function voice(areas: string): Promise<number> {
  const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}/api/live/voice?areas=${areas}`, { headers: { authorization: `Bearer ${t.token}` } });
  sockets.push(ws);
  const msgs: Array<{ type: string; stream?: { id: number } }> = [];
  ws.on('message', (d, binary) => !binary && msgs.push(JSON.parse(d.toString())));
  ws.on('error', () => {});
  const started = await waitFor('started', () => msgs.find((m) => m.type === 'started'));
  return started.stream!.id;
}

async function report(who: string, streamId: number, startAt: number, offsetMs: number, extra: Partial<StreamStatsEvent> = {}) {
  const h = await listenAsSite(t.mqttUrl, creds[who]!, [who === 'cam' ? CAM_DUONG : BAT_XAT]);
  open.push(h);
  const siteId = creds[who]!.siteId;
  const ev: StreamStatsEvent = {
    v: PROTOCOL_VERSION,
    siteId,
    at: Date.now(),
    type: 'stream_stats',
    streamId,
    received: 100,
    late: 1,
    lost: 5,
    concealed: 3,
    fecRecovered: 2,
    played: 295,
    bufferLevelMs: 180,
    marks: [0, 50, 100].map((seq) => ({ seq, playedAt: startAt + seq * 60 + offsetMs })),
    clockUncertaintyMs: 2,
    final: true,
    ...extra,
  };
  await h.client.publishAsync(siteTopic(siteId, 'event'), encodeJson(ev), { qos: 1 });
  await h.close();
}

async function token(username: string, role: string, area?: string): Promise<string> {
  expect((await t.api('POST', '/api/users', { username, password: `password-of-${username}`, role, ...(area ? { area } : {}) })).status).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password: `password-of-${username}` }, { token: null })).body.token;
}

beforeAll(async () => {
  t = await startTestServer({ LOANET_RELAY_ALLOW: '127.0.0.1' }); // the relay below is local
  await importLaoCai2025(t);
  creds.a = await site('Cụm loa thôn Tả Phìn', BAT_XAT);
  creds.b = await site('Cụm loa thôn Bản Vược', BAT_XAT);
  creds.cam = await site('Cụm loa Cam Đường', CAM_DUONG);
  creds.quiet = await site('Cụm loa thôn Mường Hum', BAT_XAT); // targeted, never connects
}, 60_000);

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  for (const h of open) await h.close().catch(() => {});
  await t?.stop();
});

describe('the record of live streams', () => {
  let bx: number;
  let cam: number;
  let before: any;

  it("lists on-air and past streams newest first, paged, and only those reaching the caller's area", async () => {
    bx = await voice('02683');
    const bxView = (await t.api('GET', `/api/live/streams/${bx}`)).body;
    await report('a', bx, bxView.startAt, 0);
    await report('b', bx, bxView.startAt, 4.5, { lost: 20, concealed: 10, fecRecovered: 0 });
    await waitFor('two sites reported', async () => (await t.api('GET', `/api/live/streams/${bx}`)).body.sites.sites === 2);
    const stop = await t.api('POST', `/api/live/streams/${bx}/stop`);
    expect(stop.body).toMatchObject({ state: 'ended', endReason: 'operator', endedBy: 'admin' });

    cam = await voice('02671');
    const all = await t.api('GET', '/api/live/streams');
    expect(all.status).toBe(200);
    expect(all.body.streams.map((s: { id: number }) => s.id)).toEqual([cam, bx]);
    expect(all.body.streams[0]).toMatchObject({ state: 'live', areas: [CAM_DUONG] });
    expect(all.body.streams[1]).toMatchObject({ state: 'ended', endReason: 'operator', sites: { sites: 2, received: 200 } });
    expect(all.body.next).toBeNull();
    expect((await t.api('GET', '/api/live/streams?state=live')).body.streams.map((s: { id: number }) => s.id)).toEqual([cam]);

    // Paged: one per page, `next` leads to the older one, then nothing.
    const p1 = await t.api('GET', '/api/live/streams?limit=1');
    expect(p1.body.streams.map((s: { id: number }) => s.id)).toEqual([cam]);
    const p2 = await t.api('GET', `/api/live/streams?limit=1&before=${p1.body.next}`);
    expect(p2.body.streams.map((s: { id: number }) => s.id)).toEqual([bx]);
    const p3 = await t.api('GET', `/api/live/streams?limit=1&before=${p2.body.next}`);
    expect(p3.body.streams).toEqual([]);
    expect(p3.body.next).toBeNull();

    // A viewer of Bát Xát sees Bát Xát's stream only, and is refused Cam Đường's.
    const viewer = await token('viewer-bx', 'viewer', '02683');
    expect((await t.api('GET', '/api/live/streams', undefined, { token: viewer })).body.streams.map((s: { id: number }) => s.id)).toEqual([bx]);
    expect((await t.api('GET', `/api/live/streams/${cam}`, undefined, { token: viewer })).status).toBe(404);
    expect((await t.api('GET', '/api/live/streams?area=02671', undefined, { token: viewer })).status).toBe(403);
    // `area` narrows to what reached that area.
    expect((await t.api('GET', '/api/live/streams?area=02671')).body.streams.map((s: { id: number }) => s.id)).toEqual([cam]);
    expect((await t.api('GET', '/api/live/streams?area=99999')).status).toBe(404);

    before = (await t.api('GET', `/api/live/streams/${bx}`)).body;
    expect(before.siteReports.map((r: { siteId: string }) => r.siteId).sort()).toEqual([creds.a!.siteId, creds.b!.siteId].sort());
    expect(before.siteReports.find((r: { siteId: string }) => r.siteId === creds.a!.siteId)).toMatchObject({
      siteName: 'Cụm loa thôn Tả Phìn',
      areaKey: BAT_XAT,
      received: 100,
      lost: 5,
      concealed: 3,
      played: 295,
      marks: 3,
      final: true,
    });
    expect(before.skew).toMatchObject({ marks: 3, sites: 2, maxMs: 4.5 });
    // The village that was targeted and said nothing is listed with why; Cam Đường's site was not targeted.
    expect(before.targetedSites).toBe(3);
    expect(before.silent.total).toBe(1);
    expect(before.silent.sites).toEqual([
      expect.objectContaining({
        siteId: creds.quiet!.siteId,
        name: 'Cụm loa thôn Mường Hum',
        conditionNow: 'unverified',
        reasons: [expect.objectContaining({ code: 'never_connected', params: {} })],
      }),
    ]);
    expect((await t.api('GET', `/api/live/streams/${bx}?silentLimit=0`)).body.silent).toEqual({ total: 1, sites: [] });
  }, 30_000);

  it('after a restart on the same data folder, a past stream answers from the record: statistics, skew, per-site reports and its end', async () => {
    await t.restart();
    const after = await t.api('GET', `/api/live/streams/${bx}`);
    expect(after.status).toBe(200);
    // The same answer as before the restart, now from the record.
    expect(after.body).toEqual(before);
    expect(after.body).toMatchObject({ state: 'ended', endReason: 'operator', endedBy: 'admin', startedBy: 'admin', sites: { sites: 2, received: 200, lost: 25 } });
    // The stream on air when the server stopped cleanly ended then, as the server shutting down.
    const c = await t.api('GET', `/api/live/streams/${cam}`);
    expect(c.body).toMatchObject({ state: 'ended', endReason: 'server_shutdown', endedBy: null });
    expect(c.body.endedAt).toBeGreaterThan(c.body.startedAt);
    const list = await t.api('GET', '/api/live/streams');
    expect(list.body.streams.map((s: { id: number; state: string }) => [s.id, s.state])).toEqual([
      [cam, 'ended'],
      [bx, 'ended'],
    ]);
    // A past stream cannot be stopped again; an unknown one is not found.
    expect((await t.api('POST', `/api/live/streams/${bx}/stop`)).status).toBe(409);
    expect((await t.api('GET', '/api/live/streams/12345')).status).toBe(404);
  }, 30_000);

  it("writes the sites' reports coalesced, not one write per message, and keeps the latest of each site", async () => {
    const id = await voice('02683');
    const h = await listenAsSite(t.mqttUrl, creds.a!, [BAT_XAT]);
    open.push(h);
    const before = t.server.ctx.live.recordStats();
    const at = Date.now();
    // 100 reports from one site, back to back (cumulative counters), as a burst after a reconnect would bring.
    for (let i = 1; i <= 100; i++) {
      const ev: StreamStatsEvent = {
        v: PROTOCOL_VERSION,
        siteId: creds.a!.siteId,
        at: at + i,
        type: 'stream_stats',
        streamId: id,
        received: i,
        late: 0,
        lost: 0,
        concealed: 0,
        fecRecovered: 0,
        played: 3 * i,
        bufferLevelMs: 200,
        marks: [],
        clockUncertaintyMs: 1,
        final: false,
      };
      void h.client.publishAsync(siteTopic(creds.a!.siteId, 'event'), encodeJson(ev), { qos: 1 });
    }
    const row = () =>
      t.server.ctx.store.db.selectFrom('live_stream_sites').select(['received', 'played']).where('stream_id', '=', id).where('site_id', '=', creds.a!.siteId).executeTakeFirst();
    await waitFor('the latest report stored', async () => (await row())?.received === 100, 15_000);
    expect(await row()).toEqual({ received: 100, played: 300 });
    const after = t.server.ctx.live.recordStats();
    expect(after.reports - before.reports).toBe(100);
    expect(after.failures).toBe(0);
    // Rows are upserted once per flush (every second), however many reports came in between: far fewer than 100
    // (only a burst spread over more than 50 s could reach this bound).
    const rows = after.siteRows - before.siteRows;
    console.log(`live record: 100 reports from one site stored in ${rows} row writes, ${after.writes - before.writes} transactions`);
    expect(rows).toBeLessThan(50);
    // An older report delivered late never replaces a newer one.
    await h.client.publishAsync(
      siteTopic(creds.a!.siteId, 'event'),
      encodeJson({
        v: PROTOCOL_VERSION,
        siteId: creds.a!.siteId,
        at: at - 1000,
        type: 'stream_stats',
        streamId: id,
        received: 1,
        late: 0,
        lost: 0,
        concealed: 0,
        fecRecovered: 0,
        played: 1,
        bufferLevelMs: 0,
        marks: [],
        clockUncertaintyMs: 1,
        final: false,
      } satisfies StreamStatsEvent),
      { qos: 1 },
    );
    expect((await t.api('POST', `/api/live/streams/${id}/stop`)).status).toBe(200);
    expect(await row()).toEqual({ received: 100, played: 300 });
    expect((await t.api('GET', `/api/live/streams/${id}`)).body.sites).toMatchObject({ sites: 1, received: 100, played: 300 });
  }, 30_000);

  it.skipIf(!canRun)(
    'keeps a relay URL without its credentials, query or fragment',
    async () => {
      const dir = tempDir('loanet-live-history-radio-');
      ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, 'live.mp3'));
      const radio = await startRadio(dir, { gapMs: 1000 });
      const port = new URL(radio.base).port;
      const r = await t.api('POST', '/api/live/streams', { source: { kind: 'relay', url: `http://radio:s3cret-pw@127.0.0.1:${port}/live.mp3?token=tok-123#x` }, areas: ['02683'] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.source.url).toBe(`http://127.0.0.1:${port}/live.mp3`);
      expect((await t.api('POST', `/api/live/streams/${r.body.id}/stop`)).status).toBe(200);
      await radio.close();
      const stored = JSON.stringify(await t.server.ctx.store.db.selectFrom('live_streams').selectAll().execute());
      const audit = JSON.stringify(await t.server.ctx.store.db.selectFrom('audit_log').selectAll().where('action', 'like', 'live.%').execute());
      for (const text of [stored, audit]) {
        expect(text).not.toContain('s3cret');
        expect(text).not.toContain('tok-123');
      }
      expect(stored).toContain(`http://127.0.0.1:${port}/live.mp3`);
    },
    30_000,
  );
});
