/**
 * `npm run bench [-- --quick] [-- --out FILE]`: runs every benchmark
 * scenario, prints its tables, and optionally writes all results as one JSON
 * document with the machine described. Benchmarks measure; tests never time.
 *
 * Scenarios (one file each, `run…Bench({quick}) → BenchResult[]`):
 *   coverage-compute.ts      classify + coverage in process, 3k and 30k sites
 *   alarm-engine.ts          the alarm engine's event-loop time when 3k and 30k sites go offline in a minute, come back, and their alarms clear
 *   heartbeat-ingest.ts      server child process on aedes and on Mosquitto: 3,000 real agents, then a raw publisher up to saturation,
 *                            then 30,000 sites registered with 15,000 agents at the heartbeat rate of 30,000 (full run only)
 *   fleet-runner-cost.ts     the fleet runner's own RSS and CPU per simulated site
 *   edge-agent-footprint.ts  one agent process (npm run agent + npm run device): RSS and CPU idle, playing a 24 kbit/s live stream, playing a cached bulletin
 *   media-ingest.ts          one hour of speech (espeak-ng, looped) through POST /api/media: × real time
 *   playlist-distribution.ts the server's cost of computing, publishing and recording every site's playlist
 *   alert-delivery.ts        API call → first sound on the simulated amplifiers, 500/1,000/3,000 sites, and with 5% reconnecting; aedes and Mosquitto
 *   alert-fleet.ts           the alert-fleet test's steps timed at 24 and 500 sites side by side (server and agents in one process): every site confirmed,
 *                            completed, the returning sites, an IPAWS CAP message played everywhere, a cancel stopping every site
 *   alert-dispatch.ts        API and CAP call → alert_start at a subscriber, idle and under hostile load (zip bomb, full TTS queue, 250 MB CONNECTs, 1,000 SSE): p50/p99, ratio
 *   playout-accuracy.ts      one bulletin scheduled to 500 simulated sites: start error p50/p99/max on their amplifiers, bytes fetched per site; aedes and Mosquitto
 *   live-broadcast.ts        a live voice to 100/1,000/3,000 sites: mouth-to-speaker, true play-time skew, loss after concealment, bytes per site vs Opus, server CPU per 100 sites;
 *                            live-jitter: a clean link and a 300 ms + 0–1000 ms one side by side (adaptive delay cold, fixed 500 ms, adaptive warm)
 *
 *   media-fetch.ts           bytes a site fetches per bulletin (clean, cut and resumed, corrupted) against the Opus payload
 *   update-bytes.ts          bytes on the wire per updated site (HTTP release fetch + MQTT order and reports) against the release size: clean, cut 1×, cut 3× (resumed with Range)
 *   agent-audio.ts           the agent's audio path per second of programme: Ogg read, libopus decode, device-link summaries vs PCM
 *   data-usage.ts            mobile data of one whole site through counting proxies: idle per day, per bulletin minute, per alert, per live minute (vs Opus)
 *   live-framing.ts          live audio on the wire per site, the first 22-byte format (3 packets, long topic) beside the compact one (5 packets, la/…)
 *   failover.ts              two servers (one killed with SIGKILL), Mosquitto, PostgreSQL, 300 playing sites: time to takeover (leases), an alert
 *                            posted right after the kill to first / 100 % confirmed playing, beside the same alert with no failover
 *   reconnect-after-outage.ts 3,000 real MQTT clients coming back after a 1/5/30 min server outage (back-off state from the pure model), old 5 min cap vs 30 s: p50/p95/max time back, connects/s
 *
 * `--quick`: a smoke run of every scenario within a minute: tiny sizes, the
 * scenarios in lanes side by side, one server per broker per lane (see
 * Scenario.lane and lib/stack.ts); its figures show the paths work, not
 * their cost.
 *
 * Every child process runs in its own process group and is killed when its
 * scenario ends, also on failure or Ctrl-C. Traffic stays on 127.0.0.1.
 */
import fs from 'node:fs';
import os from 'node:os';
import { runCoverageComputeBench } from './coverage-compute.ts';
import { runAlarmEngineBench } from './alarm-engine.ts';
import { runHeartbeatIngestBench } from './heartbeat-ingest.ts';
import { runFleetRunnerCostBench } from './fleet-runner-cost.ts';
import { runEdgeAgentFootprintBench } from './edge-agent-footprint.ts';
import { runMediaIngestBench } from './media-ingest.ts';
import { runPlaylistDistributionBench } from './playlist-distribution.ts';
import { runAlertDeliveryBench } from './alert-delivery.ts';
import { runAlertDispatchBench } from './alert-dispatch.ts';
import { runAlertFleetBench } from './alert-fleet.ts';
import { runPlayoutAccuracyBench } from './playout-accuracy.ts';
import { runLiveBroadcastBench, runLiveJitterBench } from './live-broadcast.ts';
import { runMediaFetchBench } from './media-fetch.ts';
import { runUpdateBytesBench } from './update-bytes.ts';
import { runAgentAudioBench } from './agent-audio.ts';
import { runReconnectAfterOutageBench } from './reconnect-after-outage.ts';
import { runDataUsageBench } from './data-usage.ts';
import { runLiveFramingBench } from './live-framing.ts';
import { runFailoverBench } from './failover.ts';
import { runResponseSerializersBench } from './response-serializers.ts';
import { stopAll } from './lib/proc.ts';
import { inStackPool, removeTempDirs, shareStacks, stopSharedStacks } from './lib/stack.ts';
import { printTable, type BenchResult } from './lib/result.ts';

interface Scenario {
  name: string;
  run(opts: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]>;
  /**
   * `--quick` only: the lane it runs in. Lanes run side by side, the
   * scenarios of a lane one after the other; a lane's scenarios share one
   * server per broker (lib/stack.ts). Scenarios that talk to the province
   * (alerts, live, bulletins to area 15) are in different lanes only if they
   * are on different servers. Lane 'own' starts its own servers.
   */
  lane: 'fleet' | 'alert' | 'own';
}

const SCENARIOS: Scenario[] = [
  { name: 'media-fetch', run: runMediaFetchBench, lane: 'own' },
  // Its own server: it counts what the rollout service publishes, which must be only its own rollouts.
  { name: 'update-bytes', run: runUpdateBytesBench, lane: 'own' },
  { name: 'agent-audio', run: runAgentAudioBench, lane: 'own' },
  { name: 'coverage-compute', run: runCoverageComputeBench, lane: 'own' },
  { name: 'alarm-engine', run: runAlarmEngineBench, lane: 'own' },
  { name: 'heartbeat-ingest', run: runHeartbeatIngestBench, lane: 'fleet' },
  { name: 'fleet-runner-cost', run: runFleetRunnerCostBench, lane: 'fleet' },
  { name: 'edge-agent-footprint', run: runEdgeAgentFootprintBench, lane: 'own' },
  { name: 'media-ingest', run: runMediaIngestBench, lane: 'own' },
  { name: 'playlist-distribution', run: runPlaylistDistributionBench, lane: 'own' },
  { name: 'alert-delivery', run: runAlertDeliveryBench, lane: 'alert' },
  // Its own server in this process, as the test runs it: the agents' cost is part of the figure.
  { name: 'alert-fleet', run: runAlertFleetBench, lane: 'own' },
  // Its own server: the hostile load and the raised SSE caps must not touch the shared stacks.
  { name: 'alert-dispatch', run: runAlertDispatchBench, lane: 'own' },
  { name: 'playout-accuracy', run: runPlayoutAccuracyBench, lane: 'alert' },
  { name: 'live-broadcast', run: runLiveBroadcastBench, lane: 'fleet' },
  { name: 'reconnect-after-outage', run: runReconnectAfterOutageBench, lane: 'own' },
  // Its own two servers, Mosquitto and database: it kills one of them.
  { name: 'failover', run: runFailoverBench, lane: 'own' },
  { name: 'data-usage', run: runDataUsageBench, lane: 'own' },
  { name: 'live-framing', run: runLiveFramingBench, lane: 'own' },
  // Its own server: the streams' delays adapt to the links the server has measured, which must be only these.
  { name: 'live-jitter', run: runLiveJitterBench, lane: 'own' },
  // Its own server, stopped before it measures: the heap figures are this process's.
  { name: 'response-serializers', run: runResponseSerializersBench, lane: 'own' },
];

/**
 * Figures the issues ask for that no scenario measures yet, listed in the
 * output and the JSON so a reader sees what is missing. Empty: every figure
 * of issue 7 has its scenario.
 */
const PENDING: Array<{ scenario: string; waitsFor: string }> = [];

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1] : undefined;
  if (outIdx >= 0 && !out) throw new Error('--out needs a file name');
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1]?.split(',') : undefined;
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    platform: `${os.platform()} ${os.release()}`,
    // Other work on the machine skews every figure: the load when the run began.
    loadAvgAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
  const started = Date.now();
  console.log(`loanet benchmarks${quick ? ' (quick)' : ''} on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  const byScenario = new Map<string, BenchResult[]>();
  const failures: Array<{ scenario: string; error: string }> = [];
  const seconds: Record<string, number> = {};
  const runOne = async (s: Scenario) => {
    const t0 = Date.now();
    // Every progress line says when in its scenario it happened: where the time goes.
    const log = (line: string) => console.log(`[${s.name} +${((Date.now() - t0) / 1000).toFixed(1)} s] ${line}`);
    try {
      const r = await s.run({ quick, log });
      printTable(r);
      byScenario.set(s.name, r);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      console.error(`bench ${s.name} failed: ${error}`);
      failures.push({ scenario: s.name, error });
    } finally {
      // Whatever a failed scenario left running (in --quick, other lanes are running: the scenarios' own finally blocks stop theirs).
      if (!quick) await stopAll();
    }
    seconds[s.name] = (Date.now() - t0) / 1000;
    console.log(`(${s.name}: ${seconds[s.name]!.toFixed(1)} s)\n`);
  };
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name));
  if (quick) {
    // A smoke run within a minute: lanes side by side, one server per broker per lane (see Scenario.lane).
    shareStacks(true);
    const lanes = [...new Set(chosen.map((s) => s.lane))];
    await Promise.all(
      lanes.map((lane) =>
        inStackPool(lane === 'own' ? undefined : lane, async () => {
          for (const s of chosen.filter((x) => x.lane === lane)) await runOne(s);
        }),
      ),
    );
    await stopSharedStacks();
  } else {
    for (const s of chosen) await runOne(s);
  }
  await stopAll();
  const results = chosen.flatMap((s) => byScenario.get(s.name) ?? []);
  if (PENDING.length) console.log(`not measured yet: ${PENDING.map((p) => `${p.scenario} (${p.waitsFor})`).join('; ')}`);
  const totalS = (Date.now() - started) / 1000;
  console.log(
    `total ${totalS.toFixed(1)} s (${Object.entries(seconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')})`,
  );
  if (out) {
    fs.writeFileSync(
      out,
      JSON.stringify({ at: new Date().toISOString(), machine, quick, ulimitNoFile: noFileLimit(), totalS, seconds, results, failures, pending: PENDING }, null, 2),
    );
    console.log(`wrote ${out}`);
  }
  return failures.length ? 1 : 0;
}

function noFileLimit(): string {
  try {
    const m = /Max open files\s+(\S+)\s+(\S+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? `${m[1]} soft / ${m[2]} hard` : 'unknown';
  } catch {
    return 'unknown';
  }
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`bench: ${sig}, stopping every child process`);
    void stopAll().finally(() => {
      removeTempDirs();
      process.exit(130);
    });
  });
}

main()
  .then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  )
  .finally(async () => {
    await stopAll();
    removeTempDirs();
  });
