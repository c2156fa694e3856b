/**
 * Bytes a site fetches per bulletin, against the bulletin's Opus payload
 * (issue 3: "bytes fetched per site per bulletin against the Opus payload
 * size"). Real server, real library item (espeak-ng speech through the
 * media pipeline), N agent media caches downloading it with their own site
 * credential through a proxy that counts every byte and cuts or corrupts
 * transfers on purpose:
 *
 *   clean           one GET per site
 *   cut once        the link drops at 50 %; the cache resumes with Range
 *   cut twice       drops at 30 % and 70 %
 *   no Range        cut once, but Range is stripped on the way (a middlebox,
 *                   or a server without resume): the cache must start over
 *   corrupted once  a flipped byte: SHA-256 fails, the file is fetched again
 *
 * Figures per site: body bytes, body + HTTP header bytes both ways, requests;
 * and ratios to the Opus payload (sum of the Opus packets: what a perfect
 * transport would carry) and to the Ogg file. Nothing here is timed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { startFaultyProxy, type ProxyBehaviour } from '../helpers/faulty-proxy.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import type { MediaRef } from '../../edge-agent/media-cache/types.ts';
import { readOggOpus } from '../../edge-agent/audio/ogg.ts';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const SPEECH =
  'Thông báo của Ủy ban nhân dân xã Bát Xát. Do ảnh hưởng của hoàn lưu bão, từ đêm nay đến ngày mai trên địa bàn xã có mưa to đến rất to, ' +
  'nguy cơ cao xảy ra lũ quét và sạt lở đất tại các khe suối và sườn đồi. Đề nghị bà con không đi vào rừng, không qua suối khi nước dâng cao, ' +
  'di chuyển gia súc lên nơi an toàn và theo dõi thông tin trên loa truyền thanh của thôn. ';

export async function runMediaFetchBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  const found = findMediaTools({});
  if (!('tools' in found) || !which('espeak-ng')) {
    return [{ scenario: 'media/fetch-per-site', params: {}, figures: {}, note: 'skipped: needs ffmpeg and espeak-ng' }];
  }
  const sites = opts.quick ? 3 : 50;
  const dir = tempDir('loanet-bench-fetch-');
  const t = await startTestServer();
  const proxy = await startFaultyProxy(t.baseUrl);
  try {
    await t.api('POST', '/api/areas/import?version=2025', fs.readFileSync(path.resolve(import.meta.dirname, '../../server/registry/vn-admin/lao-cai-2025.csv'), 'utf8'), {
      contentType: 'text/csv',
    });
    const item = await t.api('POST', '/api/media/tts', { text: SPEECH.repeat(opts.quick ? 1 : 3), title: 'Cảnh báo mưa lũ' });
    if (item.status !== 201) throw new Error(`TTS failed: ${JSON.stringify(item.body)}`);
    const ref: MediaRef = { mediaId: item.body.id, sha256: item.body.sha256, bytes: item.body.bytes };
    const ogg = await fetch(`${t.baseUrl}/api/media/${ref.mediaId}/audio`, { headers: { authorization: `Bearer ${t.token}` } });
    const stream = readOggOpus(new Uint8Array(await ogg.arrayBuffer()));
    const payload = Array.from(stream.packets).reduce((n, p) => n + p.length, 0);

    const creds: Array<{ siteId: string; secret: string }> = [];
    for (let i = 0; i < sites; i++) {
      const r = await t.api('POST', '/api/sites', { name: `Cụm loa bench ${i}`, kind: 'station', area: '02683' });
      creds.push(r.body.credential);
    }

    const scenarios: Array<{ name: string; script: ProxyBehaviour[]; stripRange?: boolean }> = [
      { name: 'clean', script: [] },
      { name: 'cut once (50 %)', script: [{ kind: 'cut', afterBytes: Math.floor(ref.bytes * 0.5) }] },
      {
        name: 'cut twice (30 %, 70 %)',
        script: [
          { kind: 'cut', afterBytes: Math.floor(ref.bytes * 0.3) },
          { kind: 'cut', afterBytes: Math.floor(ref.bytes * 0.4) },
        ],
      },
      { name: 'cut once, no Range', script: [{ kind: 'cut', afterBytes: Math.floor(ref.bytes * 0.5) }], stripRange: true },
      { name: 'corrupted once', script: [{ kind: 'flip', atByte: Math.floor(ref.bytes * 0.5) }] },
    ];
    const results: BenchResult[] = [];
    for (const sc of scenarios) {
      proxy.stripRange = sc.stripRange ?? false;
      let body = 0;
      let wire = 0;
      let requests = 0;
      let bytesFetched = 0;
      for (const [i, c] of creds.entries()) {
        proxy.requests.length = 0;
        proxy.script.splice(0, proxy.script.length, ...sc.script);
        const cache = new FileMediaCache({
          dir: path.join(dir, `${results.length}-${i}`),
          limitBytes: 100 * 1024 * 1024,
          httpUrl: proxy.url,
          siteId: c.siteId,
          secret: c.secret,
          retry: { baseMs: 5, capMs: 20 },
        });
        await cache.open();
        cache.setNeeded([ref]);
        const report = await cache.whenSettled();
        await cache.close();
        if (!cache.has(ref.sha256)) throw new Error(`site ${i} did not get the file in scenario ${sc.name}`);
        bytesFetched += report.counters.bytesFetched;
        for (const r of proxy.requests) {
          body += r.bodyBytes;
          wire += r.bodyBytes + r.headerBytes + r.requestHeaderBytes;
          requests++;
        }
      }
      results.push({
        scenario: 'media/fetch-per-site',
        params: { case: sc.name, sites, durationS: Math.round(stream.durationMs / 100) / 10 },
        figures: {
          opusPayloadBytes: payload,
          oggFileBytes: ref.bytes,
          agentBodyBytesPerSite: bytesFetched / sites,
          sentBodyBytesPerSite: body / sites,
          wireBytesPerSite: wire / sites,
          requestsPerSite: requests / sites,
          'agent body / payload': bytesFetched / sites / payload,
          'wire / payload': wire / sites / payload,
          'wire / file': wire / sites / ref.bytes,
        },
      });
    }
    results[0]!.note =
      `Opus payload = sum of packet sizes of a ${(stream.durationMs / 1000).toFixed(1)} s espeak-ng bulletin at the library's bitrate; Ogg framing adds ${(((ref.bytes - payload) / payload) * 100).toFixed(1)} %. wire = body the server sent + request and response headers (TCP/IP and TLS not counted). ` +
      'agent body = what the cache received (its bytesFetched); after a cut it is less than what was sent, because bytes in flight or queued in the HTTP client when the link dies are lost and fetched again.';
    return results;
  } finally {
    await proxy.close();
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runMediaFetchBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
