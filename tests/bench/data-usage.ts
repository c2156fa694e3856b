/**
 * Mobile data a village site uses (sites pay for 4G by the byte): one whole
 * simulated site (the real agent's MQTT session, playout, media cache and
 * simulated amplifier) reaches the server only through counting TCP proxies,
 * one for MQTT and one for HTTP, so every byte on the wire both ways is
 * counted (MQTT framing and HTTP headers included; TCP/IP and TLS are not).
 *
 *   idle        heartbeats, clock exchanges, playlist refreshes for a window,
 *               scaled to a day
 *   bulletin    one scheduled bulletin of a minute of speech: the playlist
 *               that names it, the file, the receipt and its ack, per minute
 *   alert       one alert with a spoken message, repeated twice: its start,
 *               the message file, the statuses, per alert
 *   live        a minute of live speech to the site's commune: per minute,
 *               and against the 24 kbit/s Opus payload
 *
 * Each phase's bytes are what crossed the proxies from its start until the
 * site reported it done, minus the idle rate over that time. Nothing here is
 * asserted; the figures go to docs/BENCHMARKS.md.
 */
import fs from 'node:fs';
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import path from 'node:path';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor } from '../helpers/server.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const COMMUNE = '02683'; // Xã Bát Xát
/** The agent's own default heartbeat (edge-agent/config.ts): what a board in the field sends. */
const HEARTBEAT_S = 30;
const DAY_S = 86_400;

interface CountingProxy {
  port: number;
  /** Bytes from the site to the server, and back. */
  up: number;
  down: number;
  /** MQTT only: wire bytes by kind of packet (mqttClass), both ways. */
  byClass: Map<string, number>;
  close(): Promise<void>;
}

/** What an MQTT packet is for, to say where a phase's bytes went: audio frames, control, the site's reports, acks… */
function mqttClass(p: mqttPacket.Packet, dir: 'up' | 'down'): string {
  if (p.cmd !== 'publish') return `${p.cmd} ${dir}`;
  const t = p.topic.split('/');
  if (t[0] === 'la') return 'area audio';
  if (t[2] === 'areas') return `area ${t[4]}`;
  if (t[2] === 'sites') return `site ${t[4]}`;
  return `other publish ${dir}`;
}

/** Bytes of a whole packet on the wire: its first byte, the Remaining Length's 1–4 bytes, the rest. */
function wireBytes(p: mqttPacket.Packet): number {
  const rest = p.length ?? 0;
  return 1 + (rest < 128 ? 1 : rest < 16_384 ? 2 : rest < 2_097_152 ? 3 : 4) + rest;
}

/** A TCP relay to `targetPort` on loopback that counts every byte each way (and, with `mqtt`, by kind of packet). */
async function countingProxy(targetPort: number, o: { mqtt?: boolean } = {}): Promise<CountingProxy> {
  const sockets = new Set<net.Socket>();
  const p: CountingProxy = {
    byClass: new Map(),
    port: 0,
    up: 0,
    down: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (p.up += d.length));
    upstream.on('data', (d: Buffer) => (p.down += d.length));
    if (o.mqtt) {
      for (const [from, dir] of [
        [client, 'up'],
        [upstream, 'down'],
      ] as const) {
        const parser = mqttPacket.parser({ protocolVersion: 4 });
        parser.on('packet', (pk: mqttPacket.Packet) => {
          const c = mqttClass(pk, dir);
          p.byClass.set(c, (p.byClass.get(c) ?? 0) + wireBytes(pk));
        });
        from.on('data', (d: Buffer) => parser.parse(d));
      }
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.port = (server.address() as net.AddressInfo).port;
  return p;
}

export async function runDataUsageBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  if (!('tools' in findMediaTools({})) || !which('espeak-ng')) {
    return [{ scenario: 'data/per-site', params: {}, figures: {}, note: 'skipped: needs ffmpeg and espeak-ng' }];
  }
  const idleS = opts.quick ? 20 : 300;
  const speechS = opts.quick ? 10 : 60;
  const liveS = opts.quick ? 10 : 60;
  const dir = tempDir('loanet-bench-data-');
  const t = await startTestServer({ LOANET_HEARTBEAT_S: String(HEARTBEAT_S) });
  const mqtt = await countingProxy(t.server.mqttPort, { mqtt: true });
  const http = await countingProxy(Number(new URL(t.baseUrl).port));
  const httpUrl = `http://127.0.0.1:${http.port}`;
  let fleet: FleetRunner | undefined;
  const snap = () => ({ at: Date.now(), mqttUp: mqtt.up, mqttDown: mqtt.down, httpUp: http.up, httpDown: http.down });
  try {
    await importLaoCai2025(t);
    const wav = path.join(dir, 'speech.wav');
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=300:duration=${speechS}`, '-ac', '1', wav);
    const bulletin = await uploadFile(t, wav, { title: 'Bản tin một phút' });
    if (bulletin.status !== 201) throw new Error(`upload: ${JSON.stringify(bulletin.body)}`);
    const longWav = path.join(dir, 'live.wav');
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=250:duration=${liveS + 30}`, '-ac', '1', longWav);
    const liveMedia = await uploadFile(t, longWav, { title: 'Chương trình trực tiếp' });
    if (liveMedia.status !== 201) throw new Error(`upload: ${JSON.stringify(liveMedia.body)}`);

    fleet = new FleetRunner({
      api: new LoanetClient(t.baseUrl, t.token),
      mqtt: { host: '127.0.0.1', port: mqtt.port },
      sites: 1,
      heartbeatS: HEARTBEAT_S,
      area: COMMUNE,
      credentialsFile: null,
      playout: {
        stateRoot: path.join(dir, 'sites'),
        // The site's own cache, fetching through the counting proxy.
        mediaCache: ({ id, secret, stateDir }) =>
          new FileMediaCache({ dir: path.join(stateDir ?? path.join(dir, 'caches', id), 'media-cache'), limitBytes: 64 * 1024 * 1024, httpUrl, siteId: id, secret }),
      },
    });
    await fleet.start(await fleet.prepare());
    const [siteId] = fleet.ids();
    await waitFor('the site heard from', () => t.server.ctx.fleet.isOnline(siteId!), 60_000, 200);
    // Settled: the first connect, playlist and clock burst are past.
    await new Promise((r) => setTimeout(r, 10_000));

    // Idle: a window of nothing but the site's own keep-alive traffic.
    const i0 = snap();
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const i1 = snap();
    const idleRate = (i1.mqttUp - i0.mqttUp + i1.mqttDown - i0.mqttDown + i1.httpUp - i0.httpUp + i1.httpDown - i0.httpDown) / ((i1.at - i0.at) / 1000);
    const phase = (from: ReturnType<typeof snap>) => {
      const now = snap();
      const bytes = now.mqttUp - from.mqttUp + now.mqttDown - from.mqttDown + now.httpUp - from.httpUp + now.httpDown - from.httpDown;
      return { bytes: bytes - idleRate * ((now.at - from.at) / 1000), http: now.httpDown - from.httpDown + now.httpUp - from.httpUp };
    };

    // Bulletin: scheduled 20 s ahead, done when its receipt is stored.
    const b0 = snap();
    const at = Date.now() + 20_000;
    const item = await t.api('POST', '/api/schedule/items', { title: 'Bản tin', mediaId: bulletin.body.id, targets: { sites: [siteId] }, start: { at } });
    await t.api('POST', `/api/schedule/items/${item.body.id}/approve`);
    const done = new Set(['played', 'late', 'early', 'unverified', 'partial', 'skipped']);
    await waitFor(
      'the receipt stored',
      async () =>
        ((await t.api('GET', `/api/as-run?site=${siteId}&area=${COMMUNE}`)).body.lines ?? []).some(
          (l: { itemId: string; status: string }) => l.itemId === item.body.id && done.has(l.status),
        ),
      (speechS + 120) * 1000,
      1000,
    );
    const b = phase(b0);

    // Alert: a spoken message, twice; done when the site reports it completed.
    const a0 = snap();
    const alert = await t.api('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { text: 'Cảnh báo lũ quét. Người dân ven suối sơ tán ngay lên nơi cao.' },
      attention: 'chime',
      repeats: 2,
      validForMinutes: 30,
    });
    await waitFor('the alert completed at the site', async () => (await t.api('GET', `/api/alerts/${alert.body.id}`)).body.delivery.counts.completed === 1, 120_000, 1000);
    const a = phase(a0);
    await t.api('POST', `/api/alerts/${alert.body.id}/cancel`);

    // Live: a minute of a library item relayed live to the commune.
    const l0 = snap();
    const c0 = new Map(mqtt.byClass);
    const stream = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: liveMedia.body.id }, areas: [COMMUNE], label: 'Trực tiếp' });
    await new Promise((r) => setTimeout(r, liveS * 1000));
    await t.api('POST', `/api/live/streams/${stream.body.id}/stop`);
    const l = phase(l0);
    const liveClasses = Object.fromEntries([...mqtt.byClass].map(([c, n]) => [`live ${c} bytes/minute`, (n - (c0.get(c) ?? 0)) / (liveS / 60)] as const).filter(([, n]) => n > 0));
    const opusPerMinute = (24_000 / 8) * 60;

    return [
      {
        scenario: 'data/per-site',
        params: { heartbeatS: HEARTBEAT_S, idleWindowS: Math.round((i1.at - i0.at) / 1000) },
        figures: {
          'idle bytes/day': idleRate * DAY_S,
          'idle MiB/day': (idleRate * DAY_S) / 1048576,
          'idle MiB/month (30 d)': (idleRate * DAY_S * 30) / 1048576,
          'bulletin bytes/minute': b.bytes / (speechS / 60),
          'bulletin HTTP share': b.http / Math.max(1, b.bytes),
          'alert bytes (2 repeats, ~5 s message)': a.bytes,
          'live bytes/minute': l.bytes / (liveS / 60),
          'live / 24 kbit/s Opus payload': l.bytes / (liveS / 60) / opusPerMinute,
          ...liveClasses,
        },
        note: 'wire bytes both ways through TCP proxies (MQTT framing and HTTP headers counted; TCP/IP, TLS and 4G overheads not). Phases are net of the idle rate over their duration. The bulletin is a tone encoded by the library at its speech bitrate.',
      },
    ];
  } finally {
    await fleet?.stop();
    await mqtt.close();
    await http.close();
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runDataUsageBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
