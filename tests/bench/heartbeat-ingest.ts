/**
 * Heartbeat ingest and coverage queries on a live server, on the embedded
 * broker (aedes) and on Mosquitto, in one invocation:
 *
 * - realistic: the fleet runner (real edge agents, one real MQTT connection
 *   each) drives a province of 3,000 sites with heartbeats every 30 s; the
 *   server's CPU share (% of one core, from /proc, the server process apart
 *   from the load generator), Mosquitto's, heartbeats/s absorbed, and
 *   `GET /api/coverage?area=15` p50/p99 over HTTP while the load runs.
 * - stress: a light raw mqtt.js publisher, one connection per registered
 *   site, offers rising rates of valid telemetry until the server no longer
 *   keeps up: it keeps up when, after the publishing window, everything sent
 *   is ingested within 1 s (the lag between publish and ingest stays under
 *   1 s) and the publisher really offered the rate. 1,000 msg/s is what
 *   30,000 sites send at one heartbeat per 30 s.
 *
 * 30,000 connected sites cannot be run here: the broker process would hold
 * 30,000 sockets and the file descriptor limit is 20,000 (hard). Their
 * message rate is the stress step at 1,000 msg/s; their coverage compute is
 * coverage-compute.ts.
 *
 *   npx tsx tests/bench/run.ts [--quick]      (this file runs through the runner)
 */
import { acceptedCount, BROKERS, HAVE_MOSQUITTO, MOSQUITTO, prepareProvince, startFleetRunner, startStack, waitForHeard, type BrokerKind, type Province, type Stack } from './lib/stack.ts';
import { CpuWindow, exitedWithin, percentile, rssMiB, sleep, startTsx, stopProcess, type Tracked } from './lib/proc.ts';
import { compareBrokers, type BenchResult } from './lib/result.ts';

export interface IngestOptions {
  quick: boolean;
  log?: (line: string) => void;
}

interface Sizes {
  sites: number;
  heartbeatS: number;
  settleS: number;
  windowS: number;
  queries: number;
  stressConnections: number;
  stressWindowS: number;
  rates: number[];
}

const FULL: Sizes = {
  sites: 3000,
  heartbeatS: 30,
  settleS: 10,
  // Two whole heartbeat periods, so every site's beat counts twice whatever its phase.
  windowS: 60,
  queries: 100,
  stressConnections: 3000,
  stressWindowS: 10,
  rates: [500, 1000, 2000, 4000, 8000, 12_000, 16_000, 22_000, 30_000, 40_000],
};
// Quick: a smoke run. Heartbeats every 4 s so that a 6 s window sees some (an agent's first
// periodic beat comes 75-100% of an interval after it connects).
const QUICK: Sizes = { sites: 100, heartbeatS: 4, settleS: 0.5, windowS: 5, queries: 20, stressConnections: 100, stressWindowS: 2, rates: [300, 1000] };

/** After a step, everything sent must be ingested within this: the bar for "keeps up". */
const MAX_LAG_MS = 1000;
/** How long to wait for a backlog to drain before calling the rest lost. */
const DRAIN_LIMIT_MS = 10_000;

export async function runHeartbeatIngestBench({ quick, log = console.log }: IngestOptions): Promise<BenchResult[]> {
  const z = quick ? QUICK : FULL;
  const province = await prepareProvince(Math.max(z.sites, z.stressConnections), log);
  const results: BenchResult[] = [];
  if (province.registration.sites > 0) {
    results.push({
      scenario: 'registry/register-sites',
      params: { sites: province.registration.sites },
      figures: { seconds: province.registration.seconds, sitesPerS: province.registration.sites / province.registration.seconds },
      note: 'POST /api/sites one at a time (scrypt 2^12 per credential, on the event loop)',
    });
  }
  for (const broker of BROKERS) {
    if (broker === 'mosquitto' && !HAVE_MOSQUITTO) {
      results.push({ scenario: 'heartbeat-ingest/realistic', broker, params: {}, figures: {}, note: `skipped: ${MOSQUITTO} not installed (apt-get install mosquitto)` });
      continue;
    }
    log(`heartbeat-ingest [${broker}]: starting server${broker === 'mosquitto' ? ' and Mosquitto' : ''}`);
    const stack = await startStack(province, broker);
    try {
      results.push(await realistic(stack, province, z, log));
      results.push(...(await stress(stack, province, z, log)));
    } finally {
      await stack.stop();
    }
  }
  const ratios = [compareBrokers(results, 'heartbeat-ingest/realistic'), compareBrokers(results, 'heartbeat-ingest/max-sustained')].filter((r): r is BenchResult => !!r);
  return [...results, ...ratios];
}

async function realistic(stack: Stack, province: Province, z: Sizes, log: (s: string) => void): Promise<BenchResult> {
  const fleet = startFleetRunner(stack, z.sites, z.heartbeatS);
  try {
    const rampS = await waitForHeard(stack, fleet, z.sites, Math.max(60_000, z.sites * 100));
    log(`heartbeat-ingest [${stack.broker}]: ${z.sites} sites connected and heard in ${rampS.toFixed(1)} s; measuring ${z.windowS} s`);
    await sleep(z.settleS * 1000);
    const win = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid, fleet: fleet.pid });
    const a0 = await acceptedCount(stack.api);
    win.start();
    await sleep(z.windowS * 1000);
    const w = win.stop();
    const a1 = await acceptedCount(stack.api);
    const serverRss = rssMiB(stack.server.pid);
    const brokerRss = stack.mosquitto ? rssMiB(stack.mosquitto.pid) : 0;
    const fleetRss = rssMiB(fleet.pid);
    // Coverage of the whole province over HTTP, one request at a time, while the fleet keeps beating.
    const lat: number[] = [];
    let bytes = 0;
    for (let i = 0; i < z.queries; i++) {
      const t0 = performance.now();
      const res = await fetch(`${stack.baseUrl}/api/coverage?area=15`, { headers: { authorization: `Bearer ${stack.token}` } });
      const body = await res.text();
      lat.push(performance.now() - t0);
      if (!res.ok) throw new Error(`GET /api/coverage: ${res.status} ${body.slice(0, 200)}`);
      bytes = body.length;
    }
    const cov = JSON.parse((await (await fetch(`${stack.baseUrl}/api/coverage?area=15`, { headers: { authorization: `Bearer ${stack.token}` } })).text())) as { sites: number; operational: number; degraded: number; faulty: number; offline: number; unverified: number };
    const serverPct = w.pct.server!;
    const brokerPct = w.pct.broker ?? 0;
    return {
      scenario: 'heartbeat-ingest/realistic',
      broker: stack.broker,
      params: { sites: z.sites, heartbeatS: z.heartbeatS, windowS: Math.round(w.seconds), registered: province.sites.length },
      figures: {
        // Telemetry only: agents also send clock requests (about one per 30 s each).
        heartbeatsPerS: (a1.heartbeats - a0.heartbeats) / w.seconds,
        expectedPerS: z.sites / z.heartbeatS,
        serverCpuPct: serverPct,
        brokerCpuPct: brokerPct,
        serverPlusBrokerCpuPct: serverPct + brokerPct,
        serverCpuPctPer1000Sites: (serverPct / z.sites) * 1000,
        serverRssMiB: serverRss,
        brokerRssMiB: brokerRss,
        fleetRunnerCpuPct: w.pct.fleet!,
        fleetRunnerRssMiB: fleetRss,
        rampS,
        coverageHttpP50Ms: percentile(lat, 50),
        coverageHttpP99Ms: percentile(lat, 99),
        coverageHttpMaxMs: Math.max(...lat),
        coverageBodyKiB: bytes / 1024,
        sitesOnline: cov.operational + cov.degraded + cov.faulty,
        rejected: a1.rejected - a0.rejected,
      },
      note: stack.broker === 'embedded' ? 'the broker runs inside the server process: serverCpuPct includes it' : 'brokerCpuPct is the mosquitto process',
    };
  } finally {
    await stopProcess(fleet, 30_000);
  }
}

interface Generator {
  proc: Tracked;
  request<T>(msg: object, reply: string, timeoutMs: number): Promise<T>;
}

function startGenerator(): Generator {
  const proc = startTsx('raw-publisher', 'tests/bench/lib/raw-publisher.ts', [], {}, { ipc: true });
  const request = <T>(msg: object, reply: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => (cleanup(), reject(new Error(`raw publisher: no ${reply} within ${timeoutMs} ms`))), timeoutMs);
      const onMsg = (m: { type: string; message?: string }) => {
        if (m.type === reply) (cleanup(), resolve(m as T));
        else if (m.type === 'error') (cleanup(), reject(new Error(`raw publisher: ${m.message}`)));
      };
      const onExit = () => (cleanup(), reject(new Error(`raw publisher exited:\n${proc.tail().slice(-2000)}`)));
      const cleanup = () => {
        clearTimeout(timer);
        proc.child.off('message', onMsg);
        proc.child.off('exit', onExit);
      };
      proc.child.on('message', onMsg);
      proc.child.once('exit', onExit);
      if (Object.keys(msg).length) proc.child.send(msg);
    });
  return { proc, request };
}

async function stress(stack: Stack, province: Province, z: Sizes, log: (s: string) => void): Promise<BenchResult[]> {
  const gen = startGenerator();
  const out: BenchResult[] = [];
  try {
    await gen.request({}, 'ready', 60_000);
    const sites = province.sites.slice(0, z.stressConnections);
    const c = await gen.request<{ connected: number; failed: number; seconds: number }>({ type: 'connect', url: stack.mqtt.url, sites }, 'connected', 300_000);
    if (c.connected === 0) throw new Error(`raw publisher: no connection to ${stack.mqtt.url} (${c.failed} failed)`);
    log(`heartbeat-ingest [${stack.broker}]: stress with ${c.connected} connections (${c.failed} refused), connected in ${c.seconds.toFixed(1)} s`);
    await sleep(z.settleS * 1000);
    let maxKept = 0;
    let keptAt: BenchResult | undefined;
    let firstFailed = 0;
    let failedByGenerator = false;
    for (const rate of z.rates) {
      const a0 = await acceptedCount(stack.api);
      const win = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid, generator: gen.proc.pid });
      win.start();
      const t0 = performance.now();
      const ran = gen.request<{ sent: number; seconds: number; lagging: number; disconnected: number }>({ type: 'run', rate, ms: z.stressWindowS * 1000 }, 'ran', z.stressWindowS * 1000 + 30_000);
      // While publishing: how far ingest trails what was offered (backlog in seconds of traffic).
      let maxBacklogS = 0;
      let done = false;
      void ran.then(() => (done = true), () => (done = true));
      while (!done && performance.now() - t0 < z.stressWindowS * 1000 + 30_000) {
        await sleep(500);
        if (done) break;
        const a = await acceptedCount(stack.api);
        const offered = (rate * (performance.now() - t0)) / 1000;
        maxBacklogS = Math.max(maxBacklogS, (offered - (a.accepted - a0.accepted)) / rate);
      }
      const r = await ran;
      const w = win.stop();
      const aEnd = await acceptedCount(stack.api);
      // Drain: how long until everything sent has been ingested (the lag of the last message).
      const tEnd = performance.now();
      let aLast = aEnd;
      while (aLast.accepted - a0.accepted + (aLast.rejected - a0.rejected) < r.sent && performance.now() - tEnd < DRAIN_LIMIT_MS) {
        await sleep(25);
        aLast = await acceptedCount(stack.api);
      }
      const drainMs = performance.now() - tEnd;
      const ingested = aLast.accepted - a0.accepted;
      const offeredPerS = r.sent / r.seconds;
      const generatorLimited = offeredPerS < 0.95 * rate;
      const kept = drainMs < MAX_LAG_MS && !generatorLimited && r.disconnected === 0 && ingested >= r.sent;
      const result: BenchResult = {
        scenario: 'heartbeat-ingest/stress',
        broker: stack.broker,
        params: { targetPerS: rate, connections: c.connected, windowS: z.stressWindowS },
        figures: {
          offeredPerS,
          ingestedPerS: (aEnd.accepted - a0.accepted) / r.seconds,
          drainLagMs: drainMs,
          maxBacklogS: Math.max(0, maxBacklogS),
          lost: Math.max(0, r.sent - ingested),
          rejected: aLast.rejected - a0.rejected,
          serverCpuPct: w.pct.server!,
          brokerCpuPct: w.pct.broker ?? 0,
          generatorCpuPct: w.pct.generator!,
          kept: kept ? 1 : 0,
        },
        ...(generatorLimited ? { note: `the generator offered only ${offeredPerS.toFixed(0)}/s (it shares 2 cores with the server)` } : r.disconnected ? { note: `${r.disconnected} connections dropped` } : {}),
      };
      out.push(result);
      log(`heartbeat-ingest [${stack.broker}]: ${rate}/s offered ${offeredPerS.toFixed(0)}/s, server ${w.pct.server!.toFixed(0)}%${w.pct.broker !== undefined ? `, mosquitto ${w.pct.broker.toFixed(0)}%` : ''}, generator ${w.pct.generator!.toFixed(0)}%, drain ${drainMs.toFixed(0)} ms → ${kept ? 'kept up' : 'did not keep up'}`);
      if (!kept) {
        firstFailed = rate;
        failedByGenerator = generatorLimited && drainMs < MAX_LAG_MS && ingested >= r.sent;
        break;
      }
      maxKept = rate;
      keptAt = result;
      await sleep(2000);
    }
    out.push({
      scenario: 'heartbeat-ingest/max-sustained',
      broker: stack.broker,
      params: { connections: c.connected, windowS: z.stressWindowS, maxLagMs: MAX_LAG_MS },
      figures: {
        maxSustainedPerS: maxKept,
        sitesAt30sEquivalent: maxKept * 30,
        firstFailedPerS: firstFailed,
        serverSaturated: firstFailed && !failedByGenerator ? 1 : 0,
        serverCpuPctAtMax: keptAt?.figures.serverCpuPct ?? 0,
        brokerCpuPctAtMax: keptAt?.figures.brokerCpuPct ?? 0,
        generatorCpuPctAtMax: keptAt?.figures.generatorCpuPct ?? 0,
      },
      note: !firstFailed
        ? `every step up to ${maxKept}/s sustained: the bound of this run, not the server's limit`
        : failedByGenerator
          ? `the generator could not offer ${firstFailed}/s on this machine (the server kept up with what it sent): the server's limit is above ${maxKept}/s`
          : `${firstFailed}/s not sustained by the server`,
    });
  } finally {
    if (gen.proc.child.connected) {
      gen.proc.child.send({ type: 'stop' });
      await exitedWithin(gen.proc, 5000);
    }
    await stopProcess(gen.proc, 5000);
  }
  return out;
}

export type { BrokerKind };
