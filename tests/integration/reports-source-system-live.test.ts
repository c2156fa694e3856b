/**
 * Live broadcasts in the source information system document (version 1.1):
 * a real server (HTTP, embedded broker over TCP, the suite's store), a live
 * voice from the console's WebSocket to one commune and another to a second
 * commune, and sites logged in over MQTT with their own credentials that
 * report what they played (stream_stats). The commune's document lists its
 * stream with its times, target, who started and stopped it and the
 * commune's sites counted as the live feature recorded them; the other
 * commune's stream is not in it; the province's lists both.
 */
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeJson, PROTOCOL_VERSION, siteTopic, type StreamStatsEvent } from '../../protocol/index.ts';
import { SourceSystemDocument } from '../../server/reports/source-system/schema.ts';
import { wallTimeAt } from '../../server/time/zone.ts';
import { listenAsSite } from '../helpers/live.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const BAT_XAT = '2025.02683';
const CAM_DUONG = '2025.02671';

let t: TestServer;
const creds: Record<string, { siteId: string; secret: string }> = {};
const sockets: WebSocket[] = [];

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

/** A site's final report on a stream, over MQTT with its own credential. */
async function report(who: string, area: string, streamId: number, played: number): Promise<void> {
  const h = await listenAsSite(t.mqttUrl, creds[who]!, [area]);
  const siteId = creds[who]!.siteId;
  const ev: StreamStatsEvent = {
    v: PROTOCOL_VERSION,
    siteId,
    at: Date.now(),
    type: 'stream_stats',
    streamId,
    received: played,
    late: 0,
    lost: 0,
    concealed: 0,
    fecRecovered: 0,
    played,
    bufferLevelMs: 180,
    marks: [],
    clockUncertaintyMs: 2,
    final: true,
  };
  await h.client.publishAsync(siteTopic(siteId, 'event'), encodeJson(ev), { qos: 1 });
  await h.close();
}

const today = () => {
  const w = wallTimeAt(Date.now(), 'Asia/Ho_Chi_Minh');
  const d = `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
  return `${d}..${d}`;
};

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  creds.a = await site('Cụm loa thôn Tả Phìn', BAT_XAT);
  creds.b = await site('Cụm loa thôn Bản Vược', BAT_XAT);
  creds.quiet = await site('Cụm loa thôn Mường Hum', BAT_XAT); // targeted, never connects
  creds.cam = await site('Cụm loa Cam Đường', CAM_DUONG);
}, 60_000);

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await t?.stop();
});

describe('live broadcasts in the source information system document', () => {
  it("lists a commune's live stream with its times, target, people and the commune's sites; not another commune's", async () => {
    const bx = await voice('02683');
    await report('a', BAT_XAT, bx, 295);
    await report('b', BAT_XAT, bx, 0);
    await waitFor('two sites reported', async () => (await t.api('GET', `/api/live/streams/${bx}`)).body.sites.sites === 2);
    const stopped = await t.api('POST', `/api/live/streams/${bx}/stop`);
    expect(stopped.body).toMatchObject({ state: 'ended', endReason: 'operator' });
    const cam = await voice('02671');
    await report('cam', CAM_DUONG, cam, 100);
    await waitFor('Cam Đường reported', async () => (await t.api('GET', `/api/live/streams/${cam}`)).body.sites.sites === 1);
    const view = (await t.api('GET', `/api/live/streams/${bx}`)).body as { startedAt: number; endedAt: number; codec: { frameMs: number } };

    const r = await t.api('GET', `/api/source-system/v1?area=02683&period=${today()}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect([...Value.Errors(SourceSystemDocument, r.body)].map((e) => `${e.path} ${e.message}`)).toEqual([]);
    expect(r.body.live).toEqual([
      {
        id: bx,
        source: 'browser',
        relayOrigin: null,
        // A voice is labelled with its speaker's name unless they give one.
        label: 'admin',
        url: null,
        areas: [{ code: '02683', name: 'Xã Bát Xát', level: 'commune' }],
        startedAt: new Date(view.startedAt).toISOString(),
        endedAt: new Date(view.endedAt).toISOString(),
        endReason: 'operator',
        startedBy: 'admin',
        endedBy: 'admin',
        targeted: 3,
        reported: 2,
        played: 1,
        playedMs: 295 * view.codec.frameMs,
      },
    ]);

    const province = await t.api('GET', `/api/source-system/v1?period=${today()}`);
    expect(province.status).toBe(200);
    const live = province.body.live as Array<{ id: number; targeted: number; reported: number; endedAt: string | null }>;
    expect(live.map((l) => l.id)).toEqual([bx, cam]);
    expect(live[1]).toMatchObject({ targeted: 1, reported: 1, endedAt: null });
  }, 60_000);
});
