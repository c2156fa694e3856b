/**
 * The edge agent as it runs on a board, two ways side by side in one run:
 *
 *   tsx    `node --import tsx edge-agent/main.ts --config FILE` (what
 *          `npm run agent` runs: TypeScript compiled at every start);
 *   built  `node dist/agent/main.mjs --config FILE` (`npm run build`,
 *          scripts/build.ts: one plain JavaScript bundle, what a board's
 *          package runs).
 *
 * Each agent talks to its own simulated device over TCP (`npm run device`,
 * firmware-sim/device-main.ts; the agent's audio sink is 'device', the
 * default: frames go over the device link to the simulated amplifier, as they
 * would to the board's sound card) and to one server on the embedded broker.
 * First each agent's start alone: from the process spawned to its site's
 * first heartbeat stored by the server. Then, with both running, resident
 * memory and CPU over the same windows, in three states:
 *
 *   idle              heartbeats every 30 s, nothing else;
 *   playing live      a 24 kbit/s live stream (POST /api/live/streams, a media
 *                     item played now) to the province, which both agents'
 *                     area channels hear: MQTT audio frames, libopus decode,
 *                     jitter buffer, the device link; checked by the
 *                     stream's own site statistics (packets played);
 *   playing bulletin  a bulletin scheduled through the API, fetched into each
 *                     agent's media cache beforehand and played from it;
 *                     checked by each site's receipt (GET /api/as-run).
 *
 *   tls    the built agent as above, on the same runtime, talking `mqtts://`
 *          and `https://` to the server through a TLS-terminating proxy
 *          (lib/tls-proxy.ts: a CA made with openssl, trusted through
 *          NODE_EXTRA_CA_CERTS), as boards reach a server over the internet;
 *          beside `built`, which talks plain MQTT and HTTP on loopback.
 *
 * Optionally one more way, to measure a change side by side in one run:
 *
 *   before  LOANET_BENCH_AGENT_BEFORE=FILE: another build of the agent (e.g.
 *           the previous commit's dist/agent, copied aside with its
 *           loanet_opus.node), run with LOANET_BENCH_AGENT_BEFORE_FLAGS
 *           (default: the same flags as built) and without the built way's
 *           environment (AGENT_NODE_ENV) unless LOANET_BENCH_AGENT_BEFORE_ENV
 *           ("K=V K=V") gives one.
 *
 * And, over the same windows, an empty Node (the runtime that runs the built
 * agent, with its flags and environment, running nothing): the floor under
 * any agent on that runtime.
 *
 * Printed side by side: each state's figure per way, built over tsx (and over
 * before), tls over built, and each state over idle. LOANET_BENCH_AGENT_WAYS
 * (e.g. `built,tls`) runs some ways only; LOANET_BENCH_AGENT_BULLETIN_FIRST=1
 * plays the bulletin before the live stream (what a bulletin costs by itself:
 * memory a live stream made the agent hold stays held, and the bulletin after
 * it shows that). Targets (issue: a packaged agent): built
 * ≤ 60 MiB idle, ≤ 70 MiB playing, start to first heartbeat ≤ 2 s.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS, buildAgent } from '../../scripts/build.ts';
import { findMediaTools } from '../../server/media/tools.ts';
import { prepareProvince, startStack, type Stack } from './lib/stack.ts';
import { makeTestCa, startTlsProxy, type TlsProxy } from './lib/tls-proxy.ts';
import { CpuWindow, ROOT, rssMiB, sleep, startProcess, startTsx, stopProcess, waitFor, type Tracked } from './lib/proc.ts';
import type { BenchResult } from './lib/result.ts';

const PROVINCE = '15'; // Tỉnh Lào Cai

type Way = 'tsx' | 'built' | 'tls' | 'before';
const BEFORE = process.env.LOANET_BENCH_AGENT_BEFORE;
/** LOANET_BENCH_AGENT_WAYS=built,before: some ways only (built always; the tsx agent's start costs the most CPU of the run). */
const WAYS: readonly Way[] = ((): Way[] => {
  const all: Way[] = BEFORE ? ['tsx', 'built', 'tls', 'before'] : ['tsx', 'built', 'tls'];
  const only = process.env.LOANET_BENCH_AGENT_WAYS?.split(',').filter(Boolean);
  return only ? all.filter((w) => w === 'built' || only.includes(w)) : all;
})();
/** LOANET_BENCH_AGENT_BULLETIN_FIRST=1: the bulletin is measured before the live stream, not after it. */
const BULLETIN_FIRST = process.env.LOANET_BENCH_AGENT_BULLETIN_FIRST === '1';
/** The runtime and flags of the built agent (LOANET_BENCH_AGENT_NODE: the package ships Node 22: ~/.cache/loanet-package). */
const BUILT_NODE = process.env.LOANET_BENCH_AGENT_NODE ?? process.execPath;
const BUILT_FLAGS = process.env.LOANET_BENCH_AGENT_FLAGS?.split(' ').filter(Boolean) ?? [...AGENT_NODE_FLAGS];

function envList(list: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (list ?? '')
      .split(' ')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** VmRSS of the process alone, without children (tsx's esbuild service, if any). */
function ownRssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Window {
  rssMiB: number;
  rssTreeMiB: number;
  cpuPct: number;
  deviceCpuPct: number;
  seconds: number;
}

interface Running {
  way: Way;
  siteId: string;
  agent: Tracked;
  device: Tracked;
}

/** Both agents over the same window, so the machine's noise falls on both alike. */
async function measure(running: readonly Running[], windowS: number, empty: Tracked): Promise<Record<Way, Window> & { emptyNodeMiB: number }> {
  const pids: Record<string, number> = {};
  for (const r of running) {
    pids[`agent-${r.way}`] = r.agent.pid;
    pids[`device-${r.way}`] = r.device.pid;
  }
  const win = new CpuWindow(pids);
  win.start();
  // RSS sampled through the window (it moves with GC): the mean, and the tree at the end.
  const samples = new Map<Way, number[]>(running.map((r) => [r.way, []]));
  const emptySamples: number[] = [];
  const end = performance.now() + windowS * 1000;
  while (performance.now() < end) {
    for (const r of running) samples.get(r.way)!.push(ownRssMiB(r.agent.pid));
    emptySamples.push(ownRssMiB(empty.pid));
    await sleep(Math.min(1000, Math.max(0, end - performance.now())));
  }
  const w = win.stop();
  const out = { emptyNodeMiB: emptySamples.reduce((a, b) => a + b, 0) / emptySamples.length } as Record<Way, Window> & { emptyNodeMiB: number };
  for (const r of running) {
    const xs = samples.get(r.way)!;
    out[r.way] = {
      rssMiB: xs.reduce((a, b) => a + b, 0) / xs.length,
      rssTreeMiB: rssMiB(r.agent.pid),
      cpuPct: w.pct[`agent-${r.way}`]!,
      deviceCpuPct: w.pct[`device-${r.way}`]!,
      seconds: w.seconds,
    };
  }
  return out;
}

/** A tone as the media library keeps it (Ogg Opus, 24 kbit/s) after an upload. */
async function uploadTone(stack: Stack, dir: string, seconds: number, title: string): Promise<string> {
  const found = findMediaTools({});
  if (!('tools' in found)) throw new Error('ffmpeg/ffprobe not found (apt-get install ffmpeg)');
  const wav = path.join(dir, `${seconds}s.wav`);
  execFileSync(found.tools.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, '-ac', '1', wav]);
  const form = new FormData();
  form.set('title', title);
  form.set('file', new Blob([fs.readFileSync(wav)], { type: 'audio/wav' }), path.basename(wav));
  const up = await fetch(`${stack.baseUrl}/api/media`, { method: 'POST', headers: { authorization: `Bearer ${stack.token}` }, body: form });
  const media = (await up.json()) as { id: string };
  if (up.status !== 201) throw new Error(`media upload answered ${up.status}: ${JSON.stringify(media)}`);
  return media.id;
}

interface LiveView {
  state: 'live' | 'ended';
  startAt: number;
  codec: { bitrate?: number };
  sites: { sites: number; played: number; lost: number; late: number };
}

export async function runEdgeAgentFootprintBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const heartbeatS = 30;
  const settleS = quick ? 0.5 : 10;
  const windowS = quick ? 1 : 60;
  // Long enough to cover settling, the window and the wait for the first site report (every 5 s).
  const programmeS = settleS + windowS + (quick ? 9 : 20);
  // The bulletin's receipt comes when it ends: in --quick a shorter one, just covering its window.
  const bulletinS = quick ? settleS + windowS + 3 : programmeS;
  const built = await buildAgent();
  log(`edge-agent-footprint: built ${path.relative(ROOT, built.file)} (${(built.bytes / 1024).toFixed(0)} KiB)`);
  const province = await prepareProvince(WAYS.length, log);
  const running: Running[] = [];
  const devices: Tracked[] = [];
  const proxies: TlsProxy[] = [];
  let started: Stack | undefined;
  try {
    const stack = (started = await startStack(province, 'embedded', { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' }));
    // The tls way's server: the same one behind TLS (MQTT as on 8883, HTTP as on 443).
    const ca = WAYS.includes('tls') ? makeTestCa(path.join(stack.dir, 'tls')) : undefined;
    const tlsServer = ca
      ? await Promise.all([startTlsProxy(ca, stack.mqtt.port), startTlsProxy(ca, Number(new URL(stack.baseUrl).port))]).then(([mqttProxy, httpProxy]) => {
          proxies.push(mqttProxy, httpProxy);
          return { mqttUrl: `mqtts://127.0.0.1:${mqttProxy.port}`, httpUrl: `https://127.0.0.1:${httpProxy.port}`, mqttProxy, httpProxy, caFile: ca.caFile };
        })
      : undefined;
    const [mediaId, bulletinId] = await Promise.all([
      uploadTone(stack, stack.dir, programmeS, 'Đo tài nguyên của agent'),
      bulletinS === programmeS ? undefined : uploadTone(stack, stack.dir, bulletinS, 'Đo tài nguyên của agent (bản tin)'),
    ]);
    const startS = {} as Record<Way, number>;
    // One after the other: each start alone on the machine.
    for (const [i, way] of WAYS.entries()) {
      const site = province.sites[i]!;
      const device = startTsx(`device-${way}`, 'firmware-sim/device-main.ts', ['--profile', 'commune-station', '--port', '0', '--host', '127.0.0.1'], {});
      devices.push(device);
      const m = await device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/, 60_000);
      const { areaChannels } = await stack.api.get<{ areaChannels: string[] }>(`/api/sites/${site.id}`);
      const configFile = path.join(stack.dir, `agent-${way}.json`);
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          siteId: site.id,
          server: way === 'tls' ? { mqttUrl: tlsServer!.mqttUrl, httpUrl: tlsServer!.httpUrl } : { mqttUrl: stack.mqtt.url, httpUrl: stack.baseUrl },
          credential: { secret: site.secret },
          heartbeatIntervalS: heartbeatS,
          areaChannels,
          link: { type: 'ethernet' },
          stateDir: path.join(stack.dir, `agent-state-${way}`),
          devices: { driver: 'sim', host: '127.0.0.1', port: Number(m[1]) },
          audio: { sink: 'device' },
        }),
        { mode: 0o600 },
      );
      const t0 = performance.now();
      const agent =
        way === 'tsx'
          ? startTsx('edge-agent', 'edge-agent/main.ts', ['--config', configFile], {})
          : way === 'built' || way === 'tls'
            ? startProcess(`edge-agent-${way}`, BUILT_NODE, [...BUILT_FLAGS, built.file, '--config', configFile], {
                env: { ...process.env, ...AGENT_NODE_ENV, ...(way === 'tls' ? { NODE_EXTRA_CA_CERTS: tlsServer!.caFile } : {}) },
              })
            : startProcess(
                'edge-agent-before',
                BUILT_NODE,
                [...(process.env.LOANET_BENCH_AGENT_BEFORE_FLAGS?.split(' ').filter(Boolean) ?? BUILT_FLAGS), BEFORE!, '--config', configFile],
                { env: { ...process.env, ...envList(process.env.LOANET_BENCH_AGENT_BEFORE_ENV) } },
              );
      running.push({ way, siteId: site.id, agent, device });
      await Promise.race([
        waitFor(
          `the ${way} agent's first heartbeat stored`,
          async () => (await stack.api.get<{ status: { lastSeenAt: number | null } }>(`/api/sites/${site.id}`)).status.lastSeenAt !== null,
          60_000,
          25,
        ),
        agent.exited.then((code) => {
          throw new Error(`the ${way} agent exited (${code}):\n${agent.tail().slice(-2000)}`);
        }),
      ]);
      startS[way] = (performance.now() - t0) / 1000;
      log(`edge-agent-footprint: ${way} agent: spawn → first heartbeat stored ${startS[way].toFixed(2)} s`);
    }
    // The floor: the same runtime, flags and environment as the built agent, running nothing.
    const empty = startProcess('empty-node', BUILT_NODE, [...BUILT_FLAGS, '-e', 'setInterval(() => {}, 1 << 30)'], { env: { ...process.env, ...AGENT_NODE_ENV } });
    devices.push(empty);
    await sleep(settleS * 1000);

    const idle = await measure(running, windowS, empty);
    for (const w of WAYS) log(`edge-agent-footprint: idle, ${w}: rss ${idle[w].rssMiB.toFixed(1)} MiB, cpu ${idle[w].cpuPct.toFixed(2)}%`);

    // A live stream to the province, from a media item played now (ffmpeg → Opus 24 kbit/s on the server).
    const playLive = async () => {
      const stream = await stack.api.post<{ id: number; codec: { bitrate?: number } }>('/api/live/streams', {
        source: { kind: 'media', mediaId },
        areas: [PROVINCE],
        label: 'bench footprint',
      });
      const view = () => stack.api.get<LiveView>(`/api/live/streams/${stream.id}`);
      await waitFor('both agents to report live packets played', async () => (await view()).sites.sites >= WAYS.length && (await view()).sites.played > 0, 30_000, 500);
      await sleep(settleS * 1000);
      const live = await measure(running, windowS, empty);
      const liveS = (Date.now() - (await view()).startAt) / 1000;
      await stack.api.post(`/api/live/streams/${stream.id}/stop`).catch(() => undefined);
      await sleep(quick ? 3000 : 8000); // amplifier tail (5 s), the agents' final stream reports (--quick: the last periodic one may be what is counted)
      const after = await view();
      // 20 ms packets: what the agents reported played against what the stream had sent when stopped.
      const livePlayed = after.sites.played;
      for (const w of WAYS) log(`edge-agent-footprint: live, ${w}: rss ${live[w].rssMiB.toFixed(1)} MiB, cpu ${live[w].cpuPct.toFixed(2)}%`);
      log(`edge-agent-footprint: live: ${livePlayed} packets played by ${after.sites.sites} sites over ${liveS.toFixed(0)} s, ${after.sites.lost} lost`);

      return { stream, live, liveS, after, livePlayed };
    };

    // A bulletin from the cache: scheduled far enough ahead for the fetch, the window inside it.
    const playBulletin = async () => {
      const leadS = quick ? 4 : 15;
      const at = Date.now() + leadS * 1000;
      const item = await stack.api.post<{ id: string }>('/api/schedule/items', {
        title: 'Bản tin đo tài nguyên',
        mediaId: bulletinId ?? mediaId,
        targets: { areas: [PROVINCE] },
        start: { at },
      });
      await stack.api.post(`/api/schedule/items/${item.id}/approve`);
      await sleep(Math.max(0, at - Date.now()) + (settleS + 1) * 1000);
      const bulletin = await measure(running, windowS, empty);
      for (const w of WAYS) log(`edge-agent-footprint: bulletin, ${w}: rss ${bulletin[w].rssMiB.toFixed(1)} MiB, cpu ${bulletin[w].cpuPct.toFixed(2)}%`);
      // Each site's receipt comes when the bulletin ends.
      const receipts = await waitFor(
        'the bulletin receipts',
        async () => {
          const r = await stack.api.get<{ lines: Array<{ siteId: string; status: string }> }>(
            `/api/as-run?area=${PROVINCE}&item=${encodeURIComponent(item.id)}&format=json&from=${at - 60_000}&to=${at + bulletinS * 1000 + 60_000}`,
          );
          const byWay = running.map((x) => [x.way, r.lines.find((l) => l.siteId === x.siteId)?.status] as const);
          return byWay.every(([, st]) => st !== undefined && st !== 'upcoming') ? Object.fromEntries(byWay) : undefined;
        },
        (bulletinS + 30) * 1000,
        quick ? 250 : 1000,
      ).catch((e: Error) => ({ error: `none (${e.message.slice(0, 80)})` }));

      return { bulletin, receipts };
    };

    // Live then bulletin by default; the other order shows the bulletin's own cost, not on top of what a live stream left.
    const { bulletin, receipts } = BULLETIN_FIRST ? await playBulletin() : { bulletin: undefined, receipts: undefined };
    const { stream, live, liveS, after, livePlayed } = await playLive();
    const played = BULLETIN_FIRST ? { bulletin: bulletin!, receipts: receipts! } : await playBulletin();

    const builtRun = `${path.basename(BUILT_NODE)} ${[...BUILT_FLAGS, ...Object.entries(AGENT_NODE_ENV).map(([k, v]) => `(${k}=${v})`)].join(' ')}`;
    const handshakes = tlsServer ? { mqtt: tlsServer.mqttProxy.handshakes(), http: tlsServer.httpProxy.handshakes() } : undefined;
    const WAY_NOTES: Record<Way, string> = {
      tsx: 'node --import tsx edge-agent/main.ts',
      built: `dist/agent/main.mjs (npm run build) on ${builtRun}`,
      tls: `dist/agent/main.mjs on ${builtRun}, mqtts:// and https:// through a TLS proxy (TLS handshakes so far, full/resumed: ${JSON.stringify(handshakes)})`,
      before: `${BEFORE ?? ''} on ${process.env.LOANET_BENCH_AGENT_BEFORE_FLAGS ?? BUILT_FLAGS.join(' ')} ${process.env.LOANET_BENCH_AGENT_BEFORE_ENV ?? ''}`.trim(),
    };
    const bitrate = after.codec.bitrate ?? stream.codec.bitrate ?? 24000;
    const rows: BenchResult[] = [];
    const states: Array<[string, Record<Way, Window> & { emptyNodeMiB: number }, string]> = [
      ['idle', idle, 'heartbeats every 30 s; CPU % of one core of this machine, not of a Pi'],
      [
        'playing live',
        live,
        `live stream ${stream.id} (media item played now, Opus ${bitrate / 1000} kbit/s) heard through the agents' area channels; ${livePlayed} packets (20 ms) played by ${after.sites.sites} sites over ${liveS.toFixed(0)} s, ${after.sites.lost} lost`,
      ],
      [
        'playing bulletin',
        played.bulletin,
        `scheduled bulletin played from the media cache${BULLETIN_FIRST ? ', before the live stream' : ''}; receipts: ${JSON.stringify(played.receipts)}`,
      ],
    ];
    for (const [state, w, note] of states) {
      for (const way of WAYS) {
        rows.push({
          scenario: 'edge-agent/footprint',
          broker: 'embedded',
          params: { state, agent: way, windowS: Math.round(w[way].seconds) },
          figures: {
            rssMiB: w[way].rssMiB,
            rssTreeMiB: w[way].rssTreeMiB,
            cpuPct: w[way].cpuPct,
            rssOverIdle: w[way].rssMiB / idle[way].rssMiB,
            cpuOverIdle: idle[way].cpuPct > 0 ? w[way].cpuPct / idle[way].cpuPct : NaN,
            deviceSimCpuPct: w[way].deviceCpuPct,
            ...(state === 'idle' ? { startToHeartbeatS: startS[way] } : {}),
          },
          note: `${WAY_NOTES[way]}; ${note}`,
        });
      }
      rows.push({
        scenario: 'edge-agent/footprint',
        broker: 'embedded',
        params: { state, agent: 'empty node' },
        figures: { rssMiB: w.emptyNodeMiB },
        note: `${BUILT_NODE} ${BUILT_FLAGS.join(' ')} running nothing, same windows: the runtime's own floor`,
      });
      const ratios: Array<[Way, Way]> = [
        ['built', 'tsx'],
        ['built', 'before'],
        ['tls', 'built'],
      ];
      for (const [way, base] of ratios.filter(([a, b]) => WAYS.includes(a) && WAYS.includes(b))) {
        rows.push({
          scenario: 'edge-agent/footprint',
          broker: 'embedded',
          params: { state, agent: `${way} / ${base}` },
          figures: {
            rssMiB: w[way].rssMiB / w[base].rssMiB,
            cpuPct: w[base].cpuPct > 0 ? w[way].cpuPct / w[base].cpuPct : NaN,
            ...(state === 'idle' ? { startToHeartbeatS: startS[way] / startS[base] } : {}),
          },
        });
      }
    }
    return rows;
  } finally {
    for (const r of running) await stopProcess(r.agent);
    for (const d of devices) await stopProcess(d);
    for (const p of proxies) await p.close();
    await started?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const { printTable } = await import('./lib/result.ts');
  const { removeTempDirs } = await import('./lib/stack.ts');
  const { stopAll } = await import('./lib/proc.ts');
  try {
    printTable(await runEdgeAgentFootprintBench({ quick }));
  } finally {
    await stopAll();
    removeTempDirs();
  }
}
