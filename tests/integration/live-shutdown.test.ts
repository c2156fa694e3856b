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
    // The route's own deadline (5 min) only bounds a hang: under the stress load this speech took over a minute.
    const media = await t.api('POST', '/api/media/tts', { title: 'Bản tin dài', text: 'Thông báo của Ủy ban nhân dân xã. '.repeat(20) });
    expect(media.status, JSON.stringify(media.body)).toBe(201);
    const durationMs: number = media.body.durationMs;
    expect(durationMs).toBeGreaterThan(30_000);
    const stream = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: media.body.id }, areas: ['02683'] });
    expect(stream.status, JSON.stringify(stream.body)).toBeLessThan(300);
    // A live source plays in real time: a stop() that waited for it would take about its length. Half of it tells
    // the two apart on any machine.
    const outcome = await Promise.race([
      t.server.stop().then(() => 'stopped' as const),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), durationMs / 2).unref()),
    ]);
    expect(outcome).toBe('stopped');
  }, 420_000);
});
