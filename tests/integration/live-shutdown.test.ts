/**
 * A server stops cleanly while live streams are on air: the streams end
 * (sites are told `stream_stop`), their ffmpeg children go, and stop()
 * returns instead of waiting for a source that would play on for minutes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng');

let t: TestServer | undefined;
afterAll(async () => {
  await t?.stop().catch(() => {});
});

describe.skipIf(!canRun)('server shutdown with a live stream on air', () => {
  it('stop() ends the stream and returns', async () => {
    t = await startTestServer();
    await importLaoCai2025(t);
    const media = await t.api('POST', '/api/media/tts?waitMs=60000', { title: 'Bản tin dài', text: 'Thông báo của Ủy ban nhân dân xã. '.repeat(20) });
    expect(media.status, JSON.stringify(media.body)).toBe(201);
    const stream = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: media.body.id }, areas: ['02683'] });
    expect(stream.status, JSON.stringify(stream.body)).toBeLessThan(300);
    const outcome = await Promise.race([t.server.stop().then(() => 'stopped' as const), new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref())]);
    expect(outcome).toBe('stopped');
  }, 90_000);
});
