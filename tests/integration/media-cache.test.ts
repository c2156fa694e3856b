/**
 * The agent's media cache against a real server: media made by the real
 * library (ffmpeg, espeak-ng), downloaded with the site's own credential over
 * real HTTP, through a proxy that cuts and corrupts transfers on purpose.
 * Then the downloaded bulletin is decoded (ogg.ts + libopus) into the WAV
 * sink and its duration compared with the library's.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.ts';
import { registeredRoutes } from '../helpers/routes.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import type { MediaRef } from '../../edge-agent/media-cache/types.ts';
import { readOggOpus } from '../../edge-agent/audio/ogg.ts';
import { createOpusDecoder } from '../../edge-agent/audio/opus.ts';
import { FileSink } from '../../edge-agent/audio/sinks/file.ts';
import { FRAME_MS, FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng');

interface Item extends MediaRef {
  durationMs: number;
}

describe.skipIf(!canRun)('agent media cache against a real server', () => {
  let t: TestServer;
  let dir: string;
  let site: { siteId: string; secret: string };
  const media: Item[] = [];
  let proxy: FaultyProxy;

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const get = (url: string, authorization?: string) => fetch(`${t.baseUrl}${url}`, authorization ? { headers: { authorization } } : {});
  const cacheAt = (cacheDir: string, limitBytes: number, httpUrl = proxy.url, creds = site, retry = { baseMs: 20, capMs: 100 }) =>
    new FileMediaCache({
      dir: cacheDir,
      limitBytes,
      httpUrl,
      siteId: creds.siteId,
      secret: creds.secret,
      retry,
      log: process.env.DEBUG_CACHE ? { warn: (m) => console.log(m) } : undefined,
    });

  beforeAll(async () => {
    dir = tempDir('loanet-media-cache-');
    t = await startTestServer();
    await importLaoCai2025(t);
    const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Nậm Pung', kind: 'station', area: '02683' });
    expect(r.status).toBe(201);
    site = r.body.credential;
    // Three bulletins of different lengths: two tones through the upload path, one spoken by espeak-ng.
    for (const [i, seconds] of [
      [0, 20],
      [1, 8],
    ] as const) {
      const wav = path.join(dir, `tone-${i}.wav`);
      ffmpeg('-f', 'lavfi', '-i', `sine=frequency=${330 + 110 * i}:duration=${seconds}`, '-ac', '1', wav);
      const u = await uploadFile(t, wav, { title: `Nhạc hiệu ${i}` });
      expect(u.status).toBe(201);
      media.push({ mediaId: u.body.id, sha256: u.body.sha256, bytes: u.body.bytes, durationMs: u.body.durationMs });
    }
    const s = await t.api('POST', '/api/media/tts', {
      text: 'Thông báo: Ủy ban nhân dân xã Bát Xát thông báo lịch tiêm phòng cho gia súc vào sáng thứ Bảy.',
      title: 'Thông báo tiêm phòng',
    });
    expect(s.status).toBe(201);
    media.push({ mediaId: s.body.id, sha256: s.body.sha256, bytes: s.body.bytes, durationMs: s.body.durationMs });
    proxy = await startFaultyProxy(t.baseUrl);
    // Three ingests (ffmpeg, espeak-ng) on a busy machine: the bound only stops a hang.
  }, 300_000);

  afterAll(async () => {
    await proxy?.close();
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('site credential on GET /api/media/{id}/audio', () => {
    it('lets a site download audio with HTTP Basic, and nothing else', async () => {
      const m = media[0]!;
      const ok = await get(`/api/media/${m.mediaId}/audio`, basic(site.siteId, site.secret));
      expect(ok.status).toBe(200);
      const body = Buffer.from(await ok.arrayBuffer());
      expect(crypto.createHash('sha256').update(body).digest('hex')).toBe(m.sha256);

      const wrong = await get(`/api/media/${m.mediaId}/audio`, basic(site.siteId, 'not-the-secret'));
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: string }).error).toBe('LOANET_BAD_SITE_CREDENTIALS');
      expect((await get(`/api/media/${m.mediaId}/audio`, basic('no-such-site', site.secret))).status).toBe(401);
      expect((await get(`/api/media/${m.mediaId}/audio`, 'Basic !!!')).status).toBe(401);

      for (const url of ['/api/media', `/api/media/${m.mediaId}`, '/api/sites', `/api/sites/${site.siteId}`, '/api/coverage', '/api/auth/me']) {
        const r = await get(url, basic(site.siteId, site.secret));
        expect(r.status, url).toBe(403);
        expect(((await r.json()) as { message: string }).message, url).toMatch(/may only download media audio/);
      }
      const post = await fetch(`${t.baseUrl}/api/media/tts`, {
        method: 'POST',
        headers: { authorization: basic(site.siteId, site.secret), 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'x', title: 'x' }),
      });
      expect(post.status).toBe(403);

      // Users keep their bearer tokens; nobody gets in without credentials.
      expect((await get(`/api/media/${m.mediaId}/audio`, `Bearer ${t.token}`)).status).toBe(200);
      expect((await get(`/api/media/${m.mediaId}/audio`)).status).toBe(401);
    });

    it('refuses a site credential on EVERY other protected route (enumerated from Fastify)', async () => {
      const SITE_ROUTES = new Set([
        'GET /api/media/:id/audio',
        'GET /api/alerts/:id/sites/:siteId',
        // A board fetches the releases its update orders name (docs/protocol.md, "update").
        'GET /api/releases/:id/manifest',
        'GET /api/releases/:id/signatures',
        'GET /api/releases/:id/files/:path',
      ]);
      const routes = registeredRoutes(t.server.app.printRoutes({ commonPrefix: false })).filter((r) => r.split(' ')[1]!.startsWith('/api/'));
      expect(routes.length).toBeGreaterThan(30);
      let checked = 0;
      for (const route of routes) {
        const [method, pattern] = route.split(' ') as [string, string];
        const url = pattern.replace(/:[A-Za-z]+/g, 'x').replace(/\*$/, 'x');
        const init = (authorization?: string): RequestInit => ({
          method,
          headers: { ...(authorization ? { authorization } : {}), ...(method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' }) },
          ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }),
        });
        const anonymous = await fetch(`${t.baseUrl}${url}`, init());
        await anonymous.arrayBuffer();
        if (anonymous.status !== 401) continue; // a public route (health, login): nobody's credential matters
        const asSite = await fetch(`${t.baseUrl}${url}`, init(basic(site.siteId, site.secret)));
        await asSite.arrayBuffer();
        // The routes a site may call are let through, and find nothing: no media "x", no release "x"; site "x" is not this site.
        if (SITE_ROUTES.has(route)) expect(asSite.status, route).toBe(404);
        else expect(asSite.status, route).toBe(403);
        checked++;
      }
      expect(checked).toBeGreaterThan(30);
    });

    it("refuses a rotated credential and a retired site at once (the verifier's cache is cleared)", async () => {
      const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Phìn Ngan', kind: 'station', area: '02683' });
      const s = r.body.credential as { siteId: string; secret: string };
      const url = `/api/media/${media[1]!.mediaId}/audio`;
      expect((await get(url, basic(s.siteId, s.secret))).status).toBe(200); // now cached as verified
      const rotated = await t.api('POST', `/api/sites/${s.siteId}/credential`);
      expect(rotated.status).toBe(200);
      expect((await get(url, basic(s.siteId, s.secret))).status).toBe(401);
      const fresh = rotated.body.credential.secret as string;
      expect((await get(url, basic(s.siteId, fresh))).status).toBe(200);
      expect((await t.api('DELETE', `/api/sites/${s.siteId}`)).status).toBe(200);
      expect((await get(url, basic(s.siteId, fresh))).status).toBe(401);
    });
  });

  it('resumes with Range after the connection is cut mid-transfer, and the file verifies', async () => {
    const m = media[0]!;
    const cache = cacheAt(path.join(dir, 'resume'), 10 * 1024 * 1024);
    await cache.open();
    const cutAt = Math.floor(m.bytes * 0.4);
    proxy.requests.length = 0;
    proxy.script.push({ kind: 'cut', afterBytes: cutAt });
    cache.setNeeded([m]);
    const report = await cache.whenSettled();
    await cache.close();
    expect(report.missing).toEqual([]);
    expect(cache.has(m.sha256)).toBe(true);
    const file = cache.pathOf(m.sha256)!;
    expect(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(m.sha256);
    expect(proxy.requests.map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [206, `bytes=${cutAt}-`],
    ]);
    expect(report.counters).toMatchObject({ downloads: 1, retries: 1, resumes: 1, checksumFailures: 0, bytesFetched: m.bytes });
    expect(fs.readdirSync(path.join(dir, 'resume'))).toEqual([`${m.sha256}.opus`]);
  });

  it('a partial download survives a restart of the agent and is resumed, not restarted', async () => {
    const m = media[2]!;
    const cacheDir = path.join(dir, 'restart');
    // No retry before the "restart": the agent dies while the partial file waits for its next attempt.
    const first = cacheAt(cacheDir, 10 * 1024 * 1024, proxy.url, site, { baseMs: 600_000, capMs: 600_000 });
    await first.open();
    proxy.requests.length = 0;
    const cutAt = Math.floor(m.bytes / 2);
    proxy.script.push({ kind: 'cut', afterBytes: cutAt });
    first.setNeeded([m]);
    await waitFor('the partial file', () => fs.existsSync(path.join(cacheDir, `${m.sha256}.part`)) && proxy.requests.length === 1 && first.errors().length === 1);
    await first.close();
    expect(fs.statSync(path.join(cacheDir, `${m.sha256}.part`)).size).toBe(cutAt);

    const second = cacheAt(cacheDir, 10 * 1024 * 1024);
    await second.open();
    second.setNeeded([m]);
    const report = await second.whenSettled();
    await second.close();
    expect(second.has(m.sha256)).toBe(true);
    expect(proxy.requests[1]!.range).toBe(`bytes=${cutAt}-`);
    expect(report.counters.bytesFetched).toBe(m.bytes - cutAt);

    // A third start finds the complete file and fetches nothing (the playlist may be known before the index is rebuilt).
    const third = cacheAt(cacheDir, 10 * 1024 * 1024);
    third.setNeeded([m]);
    await third.open();
    expect((await third.whenSettled()).counters.bytesFetched).toBe(0);
    await third.close();
  });

  it('a corrupted download fails its checksum, is deleted and fetched again', async () => {
    const m = media[1]!;
    const cache = cacheAt(path.join(dir, 'corrupt'), 10 * 1024 * 1024);
    proxy.requests.length = 0;
    proxy.script.push({ kind: 'flip', atByte: Math.floor(m.bytes / 3) });
    cache.setNeeded([m]); // before open(): the download starts once the index is rebuilt
    await cache.open();
    const report = await cache.whenSettled();
    await cache.close();
    expect(report.counters).toMatchObject({ checksumFailures: 1, downloads: 1, retries: 1, bytesFetched: 2 * m.bytes });
    expect(proxy.requests.map((r) => r.behaviour)).toEqual(['flip', 'pass']);
    expect(proxy.requests[1]!.range).toBeUndefined(); // the damaged bytes were deleted, not resumed
    expect(
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(cache.pathOf(m.sha256)!))
        .digest('hex'),
    ).toBe(m.sha256);
  });

  it('a cached file damaged on disk while the agent runs is found before it plays, logged, and fetched again at once', async () => {
    const m = media[2]!;
    const warnings: string[] = [];
    const cache = new FileMediaCache({
      dir: path.join(dir, 'rot'),
      limitBytes: 10 * 1024 * 1024,
      httpUrl: t.baseUrl,
      siteId: site.siteId,
      secret: site.secret,
      retry: { baseMs: 60_000, capMs: 60_000 },
      log: { warn: (w) => warnings.push(w) },
    });
    await cache.open();
    cache.setNeeded([m]);
    await cache.whenSettled();
    expect(await cache.verify(m.sha256)).toBe(true);
    const file = cache.pathOf(m.sha256)!;
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01; // one bit rots on the SD card
    fs.writeFileSync(file, bytes);
    expect(await cache.verify(m.sha256)).toBe(false);
    expect(cache.has(m.sha256)).toBe(false);
    expect(warnings.some((w) => w.includes('no longer matches its checksum'))).toBe(true);
    // Fetched again at once: no backoff (a minute here) stands in the way of the next bulletin.
    const report = await waitFor('the file fetched again', async () => (cache.has(m.sha256) ? cache.report() : undefined), 10_000, 20);
    await cache.close();
    expect(report.counters).toMatchObject({ checksumFailures: 1, downloads: 2 });
    expect(
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(cache.pathOf(m.sha256)!))
        .digest('hex'),
    ).toBe(m.sha256);
  });

  it('a full cache evicts only media no playlist entry needs; needed media over the limit are reported, not evicted', async () => {
    const [a, b, c] = media as [Item, Item, Item];
    const limit = a.bytes + Math.max(b.bytes, c.bytes) + 100; // room for a and one of b, c
    const cacheDir = path.join(dir, 'full');
    const cache = cacheAt(cacheDir, limit, t.baseUrl);
    await cache.open();
    cache.setNeeded([a, b]);
    await cache.whenSettled();
    expect([cache.has(a.sha256), cache.has(b.sha256)]).toEqual([true, true]);

    // The playlist moves on: b is no longer needed, c is. b goes, a stays.
    cache.setNeeded([a, c]);
    let report = await cache.whenSettled();
    expect([cache.has(a.sha256), cache.has(b.sha256), cache.has(c.sha256)]).toEqual([true, false, true]);
    expect(report.counters.evictions).toBe(1);
    expect(report.overLimit).toBeNull();

    // All three needed: they cannot fit. Nothing needed is evicted; the cache says why b is missing.
    cache.setNeeded([a, c, b]);
    report = await cache.whenSettled();
    expect([cache.has(a.sha256), cache.has(c.sha256), cache.has(b.sha256)]).toEqual([true, true, false]);
    expect(report.counters.evictions).toBe(1);
    expect(report.missing).toEqual([b]);
    expect(report.overLimit).toMatchObject({ neededBytes: a.bytes + b.bytes + c.bytes, limitBytes: limit });
    expect(report.overLimit!.message).toMatch(/Bộ nhớ đệm không đủ: 3 tệp/);
    expect(cache.skippedForSpace).toEqual([b]);
    await cache.close();
    expect(fs.readdirSync(cacheDir).sort()).toEqual([`${a.sha256}.opus`, `${c.sha256}.opus`].sort());
  });

  it('a retired credential gets nothing: the cache keeps retrying and says why', async () => {
    const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Sảng Ma Sáo', kind: 'station', area: '02683' });
    const s = r.body.credential as { siteId: string; secret: string };
    await t.api('DELETE', `/api/sites/${s.siteId}`);
    const cache = cacheAt(path.join(dir, 'retired'), 10 * 1024 * 1024, t.baseUrl, s);
    await cache.open();
    cache.setNeeded([media[1]!]);
    const errors = await waitFor('two failed attempts', () => ((cache.errors()[0]?.attempts ?? 0) >= 2 ? cache.errors() : undefined));
    await cache.close();
    expect(errors[0]!.error).toMatch(/HTTP 401/);
    expect(cache.has(media[1]!.sha256)).toBe(false);
  });

  it("decodes a cached library bulletin (ogg + libopus) into the WAV sink with the library's duration", async () => {
    const m = media[2]!; // the espeak-ng bulletin
    const cache = cacheAt(path.join(dir, 'decode'), 10 * 1024 * 1024, t.baseUrl);
    await cache.open();
    cache.setNeeded([m]);
    await cache.whenSettled();
    const stream = readOggOpus(fs.readFileSync(cache.pathOf(m.sha256)!));
    await cache.close();
    expect(stream.channels).toBe(1);
    expect(Math.abs(stream.durationMs - m.durationMs)).toBeLessThanOrEqual(25);

    const wavPath = path.join(dir, 'bulletin.wav');
    const clock = { t: 0 };
    const sink = new FileSink({ path: wavPath, now: () => clock.t });
    await sink.open();
    const decoder = createOpusDecoder();
    // Decode packet by packet, drop the pre-skip, cut at the granule length, write 20 ms frames on a timeline.
    let skip = stream.preSkip;
    let left = stream.totalSamples;
    let pending = new Int16Array(0);
    let k = 0;
    for (const p of stream.packets) {
      let pcm = decoder.decode(p);
      if (skip > 0) {
        const n = Math.min(skip, pcm.length);
        pcm = pcm.subarray(n);
        skip -= n;
      }
      pcm = pcm.subarray(0, Math.min(pcm.length, left));
      left -= pcm.length;
      const joined = new Int16Array(pending.length + pcm.length);
      joined.set(pending);
      joined.set(pcm, pending.length);
      let at = 0;
      for (; at + FRAME_SAMPLES <= joined.length; at += FRAME_SAMPLES) {
        clock.t = k * FRAME_MS;
        await sink.write(joined.slice(at, at + FRAME_SAMPLES), 100 + k * FRAME_MS);
        k++;
      }
      pending = joined.slice(at);
    }
    if (pending.length > 0) {
      const last = new Int16Array(FRAME_SAMPLES);
      last.set(pending);
      await sink.write(last, 100 + k * FRAME_MS);
      k++;
    }
    await sink.close();
    const wav = fs.readFileSync(wavPath);
    const wavMs = ((wav.length - 44) / 2 / 48000) * 1000;
    expect(wavMs).toBe(k * FRAME_MS);
    expect(Math.abs(wavMs - m.durationMs)).toBeLessThanOrEqual(FRAME_MS + 25);
    expect(sink.stats()).toMatchObject({ framesWritten: k, underruns: 0 });
    // It is speech, not silence.
    let energy = 0;
    for (let i = 44; i < wav.length; i += 2) energy += wav.readInt16LE(i) ** 2;
    expect(Math.sqrt(energy / ((wav.length - 44) / 2))).toBeGreaterThan(300);
  });
});
