/**
 * A live voice to the whole province (issue 4), measured at 100, 1,000 and
 * 3,000 listening sites (`--quick`: 100 only, shorter):
 *
 *   mouth-to-speaker  a 1 kHz burst sent by the "console" (PCM over the
 *                     WebSocket, 20 ms pieces in real time) → the play-at of
 *                     the first loud packet the sites receive (they play it
 *                     then: see skew): ms;
 *   skew p50/p99      the true spread of play instants between sites for the
 *                     same marked message: full agents (clock exchange,
 *                     jitter buffer, libopus, playout engine, simulated
 *                     amplifier) whose clocks are up to ±2 s off and whose
 *                     links delay live audio 0–150 ms and lose 5 %; their
 *                     local play instants minus their known clock errors;
 *   loss after concealment  packets neither played nor concealed at those
 *                     sites, over packets due (the server's stream view);
 *   bytes per site    TCP bytes a listening site's socket received per second
 *                     during the stream, against the Opus payload bitrate;
 *   CPU per 100 sites server process (HTTP, encoder, embedded aedes broker)
 *                     % of one core while streaming, per 100 listening sites
 *                     (on Mosquitto: server and broker apart, and summed).
 *
 * Each size runs on the embedded broker (aedes) and on a Mosquitto started
 * here (server in LOANET_MQTT_URL mode), with the ratio printed: the fan-out
 * of one audio message to every site is the broker's work, in the server's
 * process or in Mosquitto's.
 *
 * The server is a child process. The listening sites are raw MQTT clients in
 * a child process (tests/bench/lib/live-listeners.ts), logged in as real sites and subscribed to the province's
 * audio and control channels (what the broker must fan out to every site),
 * plus FULL_AGENTS complete agents (the fleet runner) for what only playing
 * can show, in this process. On this shared 2-core machine the listeners and
 * the agents compete with the server for the CPU: figures are upper bounds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import opus from '@discordjs/opus';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import { areaAudioTopic, areaControlTopic, decodeAudioFrame, streamMatches } from '../../protocol/index.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';
import { BROKERS, eachBroker, HAVE_MOSQUITTO, MOSQUITTO, prepareProvince, startStack, type Stack } from './lib/stack.ts';
import { CpuWindow, percentile, sleep, startTsx, stopProcess, waitFor, type Tracked } from './lib/proc.ts';
import { compareBrokers, type BenchResult } from './lib/result.ts';

const PROVINCE = '2025.15';
const FULL_AGENTS = Number(process.env.LOANET_BENCH_LIVE_AGENTS ?? 40);
const BURST_EVERY_MS = 2000;
const BURST_MS = 200;

interface Listeners {
  proc: Tracked;
  count(): Promise<{ bytes: number[]; frames: number[] }>;
}

/** The listening sites in a child process (tests/bench/lib/live-listeners.ts), so they do not load the full agents' event loop. */
async function startListeners(stack: Stack, sites: Array<{ id: string; secret: string }>, dir: string): Promise<Listeners> {
  const file = path.join(dir, 'listeners.json');
  fs.writeFileSync(file, JSON.stringify(sites), { mode: 0o600 });
  const proc = startTsx('live-listeners', 'tests/bench/lib/live-listeners.ts', [stack.mqtt.url, file, PROVINCE], {}, { ipc: true });
  await proc.waitForLine(/^listening \d+/, Math.max(60_000, sites.length * 50));
  return {
    proc,
    count: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('listeners did not answer')), 30_000);
        proc.child.once('message', (m) => {
          clearTimeout(timer);
          resolve(m as { bytes: number[]; frames: number[] });
        });
        proc.child.send({ cmd: 'count' });
      }),
  };
}

/** The console's microphone: PCM in 20 ms pieces, silence with a 1 kHz burst every 2 s; returns the burst send times. */
function speak(ws: WebSocket, stopAt: number): { bursts: number[]; done: Promise<void> } {
  const bursts: number[] = [];
  const t0 = Date.now();
  let n = 0;
  const done = new Promise<void>((resolve) => {
    const tick = () => {
      const now = Date.now();
      if (now >= stopAt) return resolve();
      // Catch up on the real-time schedule, never ahead of it.
      while (t0 + n * 20 <= now) {
        const inCycle = (n * 20) % BURST_EVERY_MS;
        const loud = inCycle < BURST_MS;
        if (loud && inCycle === 0) bursts.push(t0 + n * 20);
        const b = Buffer.alloc(1920);
        if (loud) for (let i = 0; i < 960; i++) b.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * 1000 * (n * 960 + i)) / 48000)), i * 2);
        ws.send(b);
        n++;
      }
      setTimeout(tick, 10);
    };
    tick();
  });
  return { bursts, done };
}

export async function runLiveBroadcastBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  // --quick: 40 sites (10 full agents, 29 listeners, the probe), a 4 s stream, both brokers side by side.
  const sizes = quick ? [40] : (process.env.LOANET_BENCH_LIVE_SIZES ?? '100,1000,3000').split(',').map(Number);
  const seconds = quick ? 4 : 20;
  const fullAgents = quick ? 10 : FULL_AGENTS;
  const province = await prepareProvince(Math.max(...sizes), log);
  const results: BenchResult[] = [];
  const brokers = BROKERS.filter((b) => b === 'embedded' || HAVE_MOSQUITTO);
  if (!HAVE_MOSQUITTO)
    results.push({ scenario: 'live/broadcast', broker: 'mosquitto', params: {}, figures: {}, note: `skipped: ${MOSQUITTO} not installed (apt-get install mosquitto)` });
  for (const n of sizes)
    await eachBroker(brokers, quick, async (broker) => {
      const stack = await startStack(province, broker, { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' });
      let fleet: FleetRunner | undefined;
      let listeners: Listeners | undefined;
      let probe: mqtt.MqttClient | undefined;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-bench-live-'));
      let ws: WebSocket | undefined;
      try {
        const agents = Math.min(fullAgents, n);
        const rnd = mulberry32(n);
        const clockError = new Map<string, number>();
        fleet = new FleetRunner({
          api: new LoanetClient(stack.baseUrl, stack.token),
          mqtt: { host: '127.0.0.1', port: stack.mqtt.port },
          sites: agents,
          heartbeatS: 30,
          credentialsFile: stack.credentialsFile,
          startRate: 200,
          playout: {
            sink: 'device',
            bufferMs: 100,
            tailMs: 1000,
            clockErrorMs: (id) => {
              const e = Math.round((rnd() * 2 - 1) * 2000);
              clockError.set(id, e);
              return e;
            },
            liveAudioLink: () => (deliver) => {
              if (rnd() < 0.05) return;
              setTimeout(deliver, rnd() * 150);
            },
          },
        });
        const f = fleet;
        await f.start();
        await waitFor(`${agents} agents connected`, () => f.stats().connected === agents, 120_000, 200);
        // One listening site in this process decodes what it hears (mouth-to-speaker); the rest in a child.
        const probeSite = province.sites[agents]!;
        probe = await mqtt.connectAsync(stack.mqtt.url, {
          protocolVersion: 4,
          clientId: probeSite.id,
          username: probeSite.id,
          password: probeSite.secret,
          clean: true,
          reconnectPeriod: 0,
        });
        await probe.subscribeAsync([areaAudioTopic(PROVINCE), areaControlTopic(PROVINCE)], { qos: 0 });
        listeners = n - agents - 1 > 0 ? await startListeners(stack, province.sites.slice(agents + 1, n), dir) : undefined;
        log(`live-broadcast: ${agents} full agents, ${n - agents} listening sites connected`);
        await sleep(quick ? 1000 : 3000); // clock exchanges settle

        // The console goes live to the whole province.
        ws = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/api/live/voice?areas=15&priority=emergency`, { headers: { authorization: `Bearer ${stack.token}` } });
        const started = await new Promise<{ id: number; startAt: number; delayMs: number }>((resolve, reject) => {
          ws!.once('error', reject);
          ws!.on('message', (d, binary) => {
            if (binary) return;
            const m = JSON.parse(d.toString()) as { type: string; stream?: { id: number; startAt: number; delayMs: number }; message?: string };
            if (m.type === 'started' && m.stream) resolve(m.stream);
            if (m.type === 'error') reject(new Error(m.message));
          });
        });
        // One listener decodes what it hears: when does each burst play?
        const loudAt: number[] = [];
        if (probe) {
          const dec = new opus.OpusEncoder(48000, 1);
          let wasLoud = false;
          probe.on('message', (_t, payload) => {
            const fr = decodeAudioFrame(payload, Date.now() * 1000);
            if (!fr.ok || !streamMatches(fr.frame.streamId, started.id)) return;
            fr.frame.packets.forEach((p, k) => {
              const pcm = dec.decode(Buffer.from(p));
              let peak = 0;
              for (let i = 0; i < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
              const loud = peak > 4000;
              if (loud && !wasLoud) loudAt.push(fr.frame.playAtUs / 1000 + k * 20);
              wasLoud = loud;
            });
          });
        }
        const stopAt = Date.now() + seconds * 1000;
        const voice = speak(ws, stopAt);
        await sleep(2000); // past the start
        const c0 = (await listeners?.count()) ?? { bytes: [], frames: [] };
        // The load generators too: at 3,000 sites the listeners' child and this process (full agents, the console's
        // voice) compete with the server for the 2 cores, and their share says whether a figure is the server's.
        // `all` is this process with every descendant (server, broker, listeners): the whole machine's bench load.
        const cpu = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid, listeners: listeners?.proc.pid, all: process.pid });
        cpu.start();
        const w0 = performance.now();
        await voice.done;
        const win = cpu.stop();
        const windowS = (performance.now() - w0) / 1000;
        const c1 = (await listeners?.count()) ?? { bytes: [], frames: [] };
        const bytes = c1.bytes.map((b, i) => (b - c0.bytes[i]!) / windowS);
        const frames = c1.frames.map((f, i) => (f - c0.frames[i]!) / windowS);
        ws.send(JSON.stringify({ type: 'stop' }));
        await sleep(started.delayMs + (quick ? 2500 : 7000)); // play-out, final reports (--quick: may be the last periodic ones)
        const view = await stack.api.get<{
          server: { payloadBytes: number; wireBytes: number; messages: number; slots: number; lateSkipped: number; silencePackets: number };
          sites: { sites: number; lost: number; concealed: number; played: number; unconcealedLossRatio: number | null; late: number; received: number };
          skew: { p50Ms: number | null; p99Ms: number | null };
        }>(`/api/live/streams/${started.id}`);

        // Mouth to speaker: each burst's send time → the play-at of the first loud packet after it.
        const m2s: number[] = [];
        for (const b of voice.bursts) {
          const heard = loudAt.find((t) => t >= b && t < b + BURST_EVERY_MS);
          if (heard !== undefined) m2s.push(heard - b);
        }
        // True skew at the full agents.
        const offset = Date.now() - monotonicEpochMs();
        const bySeq = new Map<number, number[]>();
        for (const id of f.ids()) {
          for (const mk of f.site(id).agent.liveReceiver?.marksPlayed ?? []) {
            if (mk.streamId !== started.id) continue;
            bySeq.set(mk.seq, [...(bySeq.get(mk.seq) ?? []), mk.localAt - clockError.get(id)! + offset]);
          }
        }
        const spreads = [...bySeq.values()].filter((v) => v.length >= agents / 2).map((v) => Math.max(...v) - Math.min(...v));
        // The skew is bounded by the agents' clock estimates: a site plays wrong by its estimate's error.
        const uncertainty = f
          .ids()
          .map((id) => f.site(id).agent.liveReceiver?.lastReports.get(started.id)?.clockUncertaintyMs ?? NaN)
          .filter(Number.isFinite);
        const payloadKbps = (view.server.payloadBytes * 8) / (view.server.slots * 20); // bits per ms = kbit/s
        const wireKbps = (percentile(bytes, 50) * 8) / 1000;
        const figures: Record<string, number> = {
          listeningSites: n,
          fullAgents: agents,
          delayMs: started.delayMs,
          mouthToSpeakerP50Ms: percentile(m2s, 50),
          mouthToSpeakerMaxMs: m2s.length ? Math.max(...m2s) : NaN,
          skewP50Ms: percentile(spreads, 50),
          skewP99Ms: percentile(spreads, 99),
          skewMarks: spreads.length,
          clockUncertaintyMaxMs: uncertainty.length ? Math.max(...uncertainty) : NaN,
          siteReportedSkewP99Ms: view.skew.p99Ms ?? NaN,
          lossAfterConcealmentPct: (view.sites.unconcealedLossRatio ?? NaN) * 100,
          lateMessagesPct: view.sites.received ? (view.sites.late / view.sites.received) * 100 : NaN,
          opusPayloadKbps: payloadKbps,
          wireKbpsPerSiteP50: wireKbps,
          wireOverPayload: wireKbps / payloadKbps,
          framesPerSiteSecP50: percentile(frames, 50),
          framesPerSiteSecMin: frames.length ? Math.min(...frames) : NaN,
          // The server's own pacing: slots it reached after their play-at (skipped), and slots with no voice yet (silence).
          serverSkippedSlotsPct: (view.server.lateSkipped / view.server.slots) * 100,
          sourceUnderrunPct: (view.server.silencePackets / view.server.slots) * 100,
          serverCpuPct: win.pct.server!,
          serverCpuPctPer100Sites: (win.pct.server! / n) * 100,
          brokerCpuPct: win.pct.broker ?? 0,
          // What the province pays for the fan-out whichever process does it.
          serverPlusBrokerCpuPctPer100Sites: ((win.pct.server! + (win.pct.broker ?? 0)) / n) * 100,
          listenersCpuPct: win.pct.listeners ?? 0,
          fullAgentsAndVoiceCpuPct: (win.pct.all ?? 0) - (win.pct.server ?? 0) - (win.pct.broker ?? 0) - (win.pct.listeners ?? 0),
          benchTotalCpuPct: win.pct.all ?? 0,
        };
        log(
          `live-broadcast [${broker}]: ${n} sites: mouth→speaker p50 ${figures.mouthToSpeakerP50Ms} ms, skew p99 ${figures.skewP99Ms?.toFixed(2)} ms, loss after concealment ${figures.lossAfterConcealmentPct?.toFixed(3)} %, wire ${wireKbps.toFixed(1)} kbit/s vs Opus ${payloadKbps.toFixed(1)}, server ${win.pct.server!.toFixed(1)} % of a core`,
        );
        results.push({
          scenario: 'live/broadcast',
          broker,
          params: { sites: n },
          figures,
          note: `${agents} full agents in the bench process (clocks ±2 s off, links 0–150 ms jitter and 5 % loss) + ${n - agents} raw MQTT listeners on the province channel (1 here decoding, the rest in a child process); ${broker === 'embedded' ? "the server's CPU includes the embedded broker" : 'brokerCpuPct is the mosquitto process'}; wire = TCP payload bytes (MQTT headers and topic included, TCP/IP headers not)`,
        });
      } catch (e) {
        log(`live-broadcast [${broker}]: ${n} sites failed: ${(e as Error).message}`);
        results.push({
          scenario: 'live/broadcast',
          broker,
          params: { sites: n },
          figures: {},
          note: `did not complete at ${n} sites on this machine: ${(e as Error).message.slice(0, 200)}`,
        });
      } finally {
        ws?.terminate();
        await probe?.endAsync(true).catch(() => undefined);
        await stopProcess(listeners?.proc);
        fs.rmSync(dir, { recursive: true, force: true });
        await fleet?.stop().catch(() => undefined);
        await stack.stop();
      }
    });
  const ratios = sizes.map((n) => compareBrokers(results, 'live/broadcast', (r) => r.params.sites === n)).filter((r): r is BenchResult => !!r);
  return [...results, ...ratios];
}

/**
 * A live voice over a clean link and over a mountain one, side by side in one
 * run (`--jitter`, or the `live-jitter` scenario of run.ts): JITTER_AGENTS
 * full agents connect to the broker directly and as many through a TCP proxy
 * that holds every chunk, both ways, 300 ms + 0–1000 ms, in order
 * (tests/helpers/faulty-proxy.ts; this kernel has no netem). Three streams
 * to the province, one after the other:
 *
 *   adaptive, cold   the default: starts at 500 ms with nothing measured yet,
 *                    raised while it plays when the jittery sites report;
 *   fixed 500 ms     maxDelayMs=0: what every stream was before;
 *   adaptive, warm   starts at the delay the sites' measured links need.
 *
 * For each stream and each link: loss after concealment (packets neither
 * played nor concealed over packets due, from the sites' final reports), the
 * true play-time skew inside each group and between the groups (every agent
 * runs in this process on one clock: local play instants of the same marked
 * message), and the delay the stream started and ended with.
 */
export async function runLiveJitterBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const { startDelayingTcpProxy } = await import('../helpers/faulty-proxy.ts');
  const perGroup = quick ? 2 : Number(process.env.LOANET_BENCH_JITTER_AGENTS ?? 5);
  const seconds = quick ? 10 : 20;
  const province = await prepareProvince(perGroup * 2 + 1, log);
  const stack = await startStack(province, 'embedded', { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' });
  const proxy = await startDelayingTcpProxy({ host: '127.0.0.1', port: stack.mqtt.port }, { baseMs: 300, jitterMs: 1000 }, mulberry32(8));
  const fleets: FleetRunner[] = [];
  const results: BenchResult[] = [];
  try {
    const fleetOf = (idPrefix: string, port: number) =>
      new FleetRunner({
        api: new LoanetClient(stack.baseUrl, stack.token),
        mqtt: { host: '127.0.0.1', port },
        sites: perGroup,
        heartbeatS: 30,
        idPrefix,
        credentialsFile: null,
        faultShare: 0,
        playout: { sink: 'device', bufferMs: 100, tailMs: 1000 },
      });
    const clean = fleetOf('clean', stack.mqtt.port);
    const mountain = fleetOf('mountain', proxy.port);
    fleets.push(clean, mountain);
    await clean.start();
    await mountain.start();
    await waitFor('every agent connected', () => clean.stats().connected === perGroup && mountain.stats().connected === perGroup, 120_000, 200);
    await waitFor('clocks synced', () => fleets.every((f) => f.ids().every((id) => f.site(id).agent.stats.clockSamples >= 5)), 120_000, 200);
    log(`live-jitter: ${perGroup} agents on a clean link, ${perGroup} behind 300 ms + 0–1000 ms`);

    const runs: Array<{ name: string; query: string }> = [
      { name: 'adaptive, cold', query: '' },
      { name: 'fixed 500 ms', query: '&delayMs=500&maxDelayMs=0' },
      { name: 'adaptive, warm', query: '' },
    ];
    for (const run of runs) {
      const ws = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/api/live/voice?areas=15&priority=emergency${run.query}`, {
        headers: { authorization: `Bearer ${stack.token}` },
      });
      try {
        const started = await new Promise<{ id: number; delayMs: number }>((resolve, reject) => {
          ws.once('error', reject);
          ws.on('message', (d, binary) => {
            if (binary) return;
            const m = JSON.parse(d.toString()) as { type: string; stream?: { id: number; delayMs: number }; message?: string };
            if (m.type === 'started' && m.stream) resolve(m.stream);
            if (m.type === 'error') reject(new Error(m.message));
          });
        });
        await speak(ws, Date.now() + seconds * 1000).done;
        ws.send(JSON.stringify({ type: 'stop' }));
        type Report = { siteId: string; lost: number; concealed: number; fecRecovered: number; played: number; final: boolean; link?: { transitP99Ms: number } };
        type View = { delayMs: number; adaptive: { initialMs: number; raises: Array<{ toMs: number }> } | null; siteReports: Report[] };
        const view = await waitFor(
          `final reports (${run.name})`,
          async () => {
            const v = await stack.api.get<View>(`/api/live/streams/${started.id}`);
            return v.siteReports.filter((r) => r.final).length === perGroup * 2 ? v : null;
          },
          60_000,
          500,
        ).catch(async () => stack.api.get<View>(`/api/live/streams/${started.id}`));
        const group = (f: FleetRunner) => {
          const ids = new Set(f.ids());
          const reps = view.siteReports.filter((r) => ids.has(r.siteId));
          const sum = (k: 'lost' | 'concealed' | 'fecRecovered' | 'played') => reps.reduce((n, r) => n + r[k], 0);
          const due = sum('played') + sum('lost');
          return {
            lossPct: due ? (Math.max(0, sum('lost') - sum('concealed') - sum('fecRecovered')) / due) * 100 : NaN,
            transitP99Ms: Math.max(...reps.map((r) => r.link?.transitP99Ms ?? NaN)),
            marks: f.ids().map(
              (id) =>
                new Map(
                  f
                    .site(id)
                    .agent.liveReceiver!.marksPlayed.filter((m) => m.streamId === started.id)
                    .map((m) => [m.seq, m.localAt]),
                ),
            ),
          };
        };
        const g = { clean: group(clean), mountain: group(mountain) };
        /** True spread of the same marked message over the sites given (played by at least two of them). */
        const skew = (maps: Array<Map<number, number>>) => {
          const bySeq = new Map<number, number[]>();
          for (const m of maps) for (const [seq, at] of m) bySeq.set(seq, [...(bySeq.get(seq) ?? []), at]);
          const spreads = [...bySeq.values()].filter((v) => v.length >= 2).map((v) => Math.max(...v) - Math.min(...v));
          return { p50: percentile(spreads, 50), p99: percentile(spreads, 99), n: spreads.length };
        };
        const cleanSkew = skew(g.clean.marks);
        const mountainSkew = skew(g.mountain.marks);
        const across = skew([...g.clean.marks, ...g.mountain.marks]);
        const uncertainty = mountain
          .ids()
          .map((id) => mountain.site(id).agent.liveReceiver?.lastReports.get(started.id)?.clockUncertaintyMs ?? NaN)
          .filter(Number.isFinite);
        const figures: Record<string, number> = {
          startDelayMs: started.delayMs,
          endDelayMs: view.delayMs,
          raises: view.adaptive?.raises.length ?? 0,
          cleanLossAfterConcealmentPct: g.clean.lossPct,
          jitteryLossAfterConcealmentPct: g.mountain.lossPct,
          cleanSkewP99Ms: cleanSkew.p99,
          jitterySkewP99Ms: mountainSkew.p99,
          cleanVsJitterySkewP50Ms: across.p50,
          cleanVsJitterySkewP99Ms: across.p99,
          skewMarks: across.n,
          jitteryClockUncertaintyMaxMs: uncertainty.length ? Math.max(...uncertainty) : NaN,
          cleanTransitP99Ms: g.clean.transitP99Ms,
          jitteryTransitP99Ms: g.mountain.transitP99Ms,
        };
        log(
          `live-jitter [${run.name}]: delay ${started.delayMs} → ${view.delayMs} ms; loss after concealment clean ${g.clean.lossPct.toFixed(2)} %, jittery ${g.mountain.lossPct.toFixed(2)} %; true skew p99 clean ${cleanSkew.p99.toFixed(2)} ms, jittery ${mountainSkew.p99.toFixed(2)} ms, clean vs jittery ${across.p99.toFixed(2)} ms`,
        );
        results.push({
          scenario: 'live/jitter',
          broker: 'embedded',
          params: { stream: run.name, sitesPerLink: perGroup, seconds },
          figures,
          note: `${perGroup} full agents direct and ${perGroup} behind a TCP proxy holding every chunk 300 ms + 0–1000 ms both ways, in order; the voice from the console's WebSocket; skew from local play instants (one clock: every agent in this process)`,
        });
      } finally {
        ws.terminate();
      }
    }
  } finally {
    for (const f of fleets) await f.stop().catch(() => undefined);
    await proxy.close();
    await stack.stop();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const { printTable } = await import('./lib/result.ts');
  const { removeTempDirs } = await import('./lib/stack.ts');
  try {
    printTable(process.argv.includes('--jitter') ? await runLiveJitterBench({ quick }) : await runLiveBroadcastBench({ quick }));
  } finally {
    removeTempDirs();
  }
}
