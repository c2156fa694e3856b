/**
 * The console hears of live streams on its event stream (GET /api/stream,
 * event `live`), so a stream started from another console, or ended by
 * itself, shows without a reload: each user only of the streams that reach
 * their area (a target in their subtree, or above them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveEvent } from '../../api/stream.ts';
import { importLaoCai2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { openEventStream, type EventStream } from '../helpers/event-stream.ts';
import { haveTools } from '../helpers/require-tool.ts';

const COMMUNE_A = '02683'; // Bát Xát
const COMMUNE_B = '02671'; // Cam Đường
const run = haveTools('ffmpeg');
let t: TestServer;
const streams: EventStream[] = [];
let mediaId = '';

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const password = `long-passphrase-${username.length}-kx7`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

async function listen(token: string): Promise<EventStream> {
  const s = await openEventStream(t, token);
  streams.push(s);
  return s;
}

const startTo = async (area: string, priority: 'normal' | 'priority' = 'normal'): Promise<number> => {
  const r = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId }, areas: [area], label: `Trực tiếp ${area}`, priority });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as number;
};
const about = (id: number, kind: LiveEvent['kind']) => (e: LiveEvent) => e.streamId === id && e.kind === kind;

beforeAll(async () => {
  if (!run) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, tempDir('loanet-live-events-'), { title: 'Chương trình trực tiếp', seconds: 30 });
}, 120_000);

afterAll(async () => {
  for (const s of streams) s.close();
  await t?.stop();
});

describe.skipIf(!run)('live streams on the console event stream', () => {
  it('tells each user of the streams that reach their area: started and ended, in order', async () => {
    const admin = await listen(t.token);
    const a = await listen(await userToken('van-hanh-bat-xat', 'operator', COMMUNE_A));
    const b = await listen(await userToken('van-hanh-cam-duong', 'operator', COMMUNE_B));

    const toA = await startTo(COMMUNE_A);
    expect(await admin.next('live', about(toA, 'started'))).toMatchObject({ streamId: toA, kind: 'started', at: expect.any(Number) });
    await a.next('live', about(toA, 'started'));

    // A stream to the whole province (above the commune's, so it may overlap it) reaches every commune under it.
    const toProvince = await startTo('15', 'priority');
    await b.next('live', about(toProvince, 'started'));
    // Cam Đường's user got the province's stream, sent after Bát Xát's: had Bát Xát's been sent to it, it would be there.
    expect(b.events.some((e) => e.event === 'live' && e.data.streamId === toA)).toBe(false);

    expect((await t.api('POST', `/api/live/streams/${toA}/stop`)).status).toBe(200);
    await a.next('live', about(toA, 'ended'));
    await admin.next('live', about(toA, 'ended'));
    expect((await t.api('POST', `/api/live/streams/${toProvince}/stop`)).status).toBe(200);
    await b.next('live', about(toProvince, 'ended'));
    expect(b.events.some((e) => e.event === 'live' && e.data.streamId === toA)).toBe(false);
  });
});
