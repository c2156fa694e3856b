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
 * - province ×10 (full run only): 30,000 sites registered, so coverage is
 *   computed over 30,000 sites and their villages, of which 15,000 real
 *   agents are connected (the fleet runner) with heartbeats every 15 s: the
 *   message rate of 30,000 sites at 30 s (1,000/s). 30,000 connections
 *   cannot be held here: the broker process (the server with aedes, or
 *   Mosquitto) needs a file descriptor per site and the limit is 20,000,
 *   soft and hard, not raisable without CAP_SYS_RESOURCE. The server's RSS
 *   is read before the fleet connects and with it connected, so the cost of
 *   one more connection is measured and the other 15,000 extrapolated.
 *   `LOANET_BENCH_INGEST_STEPS=province` runs this step alone (also:
 *   realistic, stress; default all three).
 *
 * `--quick` is a smoke run of the same steps (30 sites, 2 s windows, one
 * stress rate), both brokers side by side on the run's shared servers.
 *
 *   npx tsx tests/bench/run.ts [--quick]      (this file runs through the runner)
 */
import {
  acceptedCount,
  BROKERS,
  coverageCounts,
  eachBroker,
  HAVE_MOSQUITTO,
  MOSQUITTO,
  prepareProvince,
  provinceFromDir,
  startFleetRunner,
  startStack,
  waitForHeard,
  type BrokerKind,
  type Province,
  type Stack,
} from './lib/stack.ts';
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
  /** The province ×10 step (full run only). */
  x10?: { registered: number; connected: number; heartbeatS: number; settleS: number; windowS: number; queries: number; rampLimitS: number };
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
  // 15,000 at 15 s = 1,000 heartbeats/s = 30,000 at 30 s; 4 heartbeat periods.
  // rampLimitS: measure with whatever has connected by then (the embedded broker's ramp slows down as it fills: docs/BENCHMARKS.md).
  x10: { registered: 30_000, connected: 15_000, heartbeatS: 15, settleS: 15, windowS: 60, queries: 200, rampLimitS: Number(process.env.LOANET_BENCH_X10_RAMP_S ?? 300) },
};
// Quick: a smoke run. Heartbeats every 1 s so that a 2 s window sees some (an agent's first
// periodic beat comes 75-100% of an interval after it connects).
const QUICK: Sizes = { sites: 30, heartbeatS: 1, settleS: 0.2, windowS: 2, queries: 10, stressConnections: 30, stressWindowS: 1, rates: [1000] };

/** After a step, everything sent must be ingested within this: the bar for "keeps up". */
const MAX_LAG_MS = 1000;
/** How long to wait for a backlog to drain before calling the rest lost. */
const DRAIN_LIMIT_MS = 10_000;

export async function runHeartbeatIngestBench({ quick, log = console.log }: IngestOptions): Promise<BenchResult[]> {
  const z = quick ? QUICK : FULL;
  const steps = (process.env.LOANET_BENCH_INGEST_STEPS ?? 'realistic,stress,province').split(',');
  const province = await prepareProvince(steps.includes('realistic') || steps.includes('stress') ? Math.max(z.sites, z.stressConnections) : 1, log);
  const results: BenchResult[] = [];
  if (province.registration.sites > 0) {
    results.push({
      scenario: 'registry/register-sites',
      params: { sites: province.registration.sites },
      figures: { seconds: province.registration.seconds, sitesPerS: province.registration.sites / province.registration.seconds },
      note: 'POST /api/sites one at a time (scrypt 2^12 per credential, on the event loop)',
    });
  }
  if (!HAVE_MOSQUITTO)
    results.push({ scenario: 'heartbeat-ingest/realistic', broker: 'mosquitto', params: {}, figures: {}, note: `skipped: ${MOSQUITTO} not installed (apt-get install mosquitto)` });
  const brokers = BROKERS.filter((b) => b === 'embedded' || HAVE_MOSQUITTO);
  const halves = await eachBroker(brokers, quick, async (broker) => {
    const out: BenchResult[] = [];
    if (!steps.includes('realistic') && !steps.includes('stress')) return out;
    log(`heartbeat-ingest [${broker}]: starting server${broker === 'mosquitto' ? ' and Mosquitto' : ''}`);
    // The load generator's process starts (tsx) while the realistic step runs.
    const gen = steps.includes('stress') ? startGenerator() : undefined;
    const stack = await startStack(province, broker);
    try {
      if (steps.includes('realistic')) out.push(await realistic(stack, province, z, log));
      if (gen) out.push(...(await stress(stack, gen, province, z, log)));
    } finally {
      if (gen) await stopGenerator(gen);
      await stack.stop();
    }
    return out;
  });
  results.push(...halves.flat());
  if (z.x10 && steps.includes('province')) {
    const x10 = z.x10;
    // LOANET_BENCH_X10_TEMPLATE=DIR: a 30,000-site template kept from an earlier run, instead of registering again.
    const kept = process.env.LOANET_BENCH_X10_TEMPLATE;
    const big = kept ? provinceFromDir(kept) : await prepareProvince(x10.registered, log, 'x10');
    if (big.registration.sites > 0) {
      results.push({
        scenario: 'registry/register-sites',
        params: { sites: big.registration.sites, template: 'x10' },
        figures: { seconds: big.registration.seconds, sitesPerS: big.registration.sites / big.registration.seconds },
      });
    }
    // One broker after the other, never side by side: this step fills the machine.
    for (const broker of brokers) {
      try {
        results.push(await provinceX10(big, broker, x10, results, log));
      } catch (e) {
        log(`heartbeat-ingest [${broker}]: province ×10 failed: ${(e as Error).message}`);
        results.push({
          scenario: 'heartbeat-ingest/province-x10',
          broker,
          params: { registered: big.sites.length, connected: x10.connected },
          figures: {},
          note: `did not complete: ${(e as Error).message.slice(0, 300)}`,
        });
      }
    }
  }
  const ratios = ['heartbeat-ingest/realistic', 'heartbeat-ingest/max-sustained', 'heartbeat-ingest/province-x10']
    .map((sc) => compareBrokers(results, sc))
    .filter((r): r is BenchResult => !!r);
  return [...results, ...ratios];
}

/** GET /api/coverage?area=15 over HTTP `n` times, one at a time: latencies (ms), the answer's size, and the last answer's counts. */
async function coverageQueries(
  stack: Stack,
  n: number,
): Promise<{ lat: number[]; bytes: number; cov: { sites: number; operational: number; degraded: number; faulty: number; offline: number; unverified: number } }> {
  const lat: number[] = [];
  let bytes = 0;
  let body = '';
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${stack.baseUrl}/api/coverage?area=15`, { headers: { authorization: `Bearer ${stack.token}` } });
    body = await res.text();
    lat.push(performance.now() - t0);
    if (!res.ok) throw new Error(`GET /api/coverage: ${res.status} ${body.slice(0, 200)}`);
    bytes = body.length;
  }
  return { lat, bytes, cov: JSON.parse(body) };
}

/**
 * Province ×10: 30,000 sites registered, `connected` of them real agents
 * heartbeating at the interval that reproduces 30,000 sites at 30 s. The
 * server's RSS with no site connected (30,000 registered) and with the fleet
 * connected gives the cost of one connection; the sites not connected here
 * are extrapolated from it, not measured.
 */
async function provinceX10(big: Province, broker: BrokerKind, x: NonNullable<Sizes['x10']>, earlier: readonly BenchResult[], log: (s: string) => void): Promise<BenchResult> {
  log(`heartbeat-ingest [${broker}]: province ×10: ${big.sites.length} sites registered, starting server${broker === 'mosquitto' ? ' and Mosquitto' : ''}`);
  const stack = await startStack(big, broker);
  if (stack.mosquittoFiles) {
    log(
      `heartbeat-ingest [${broker}]: Mosquitto read loanet's files (ACL ${(stack.mosquittoFiles.aclBytes / 1024 / 1024).toFixed(1)} MiB) in ${stack.mosquittoFiles.reloadS.toFixed(1)} s after SIGHUP`,
    );
  }
  let fleet: Tracked | undefined;
  try {
    await sleep(5000);
    const idleRss = rssMiB(stack.server.pid);
    const idleBrokerRss = stack.mosquitto ? rssMiB(stack.mosquitto.pid) : 0;
    const idle = await coverageQueries(stack, 20);
    const base = await acceptedCount(stack.api);
    fleet = startFleetRunner(stack, x.connected, x.heartbeatS);
    const t0 = performance.now();
    const rampS = await waitForHeard(stack, fleet, x.connected, x.rampLimitS * 1000, base.heartbeats).catch((e: Error) => {
      if (fleet!.child.exitCode !== null) throw e;
      return NaN; // not all within the limit: measured with those that are
    });
    const heardAtRamp = await coverageCounts(stack.api);
    const connected = heardAtRamp.sites - heardAtRamp.unverified;
    log(
      `heartbeat-ingest [${broker}]: province ×10: ${connected} of ${x.connected} agents connected and heard in ${((performance.now() - t0) / 1000).toFixed(1)} s; settling ${x.settleS} s, measuring ${x.windowS} s`,
    );
    await sleep(x.settleS * 1000);
    const win = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid, fleet: fleet.pid });
    const a0 = await acceptedCount(stack.api);
    win.start();
    // RSS sampled through the window (it moves with GC): the mean.
    const rss: number[] = [];
    const brokerRss: number[] = [];
    const end = performance.now() + x.windowS * 1000;
    while (performance.now() < end) {
      rss.push(rssMiB(stack.server.pid));
      if (stack.mosquitto) brokerRss.push(rssMiB(stack.mosquitto.pid));
      await sleep(Math.min(2000, Math.max(0, end - performance.now())));
    }
    const w = win.stop();
    const a1 = await acceptedCount(stack.api);
    const fleetRss = rssMiB(fleet.pid);
    const q = await coverageQueries(stack, x.queries);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const serverRss = mean(rss);
    const mosqRss = mean(brokerRss);
    // The cost of one connection (and its site's live state) in the process that holds the sockets.
    const heardAtEnd = q.cov.operational + q.cov.degraded + q.cov.faulty;
    const perConnKiB = ((serverRss - idleRss) * 1024) / connected;
    const perConnBrokerKiB = stack.mosquitto ? ((mosqRss - idleBrokerRss) * 1024) / connected : 0;
    const missing = x.registered - connected;
    const serverPct = w.pct.server!;
    const brokerPct = w.pct.broker ?? 0;
    const at3k = earlier.find((r) => r.scenario === 'heartbeat-ingest/realistic' && r.broker === broker && r.figures.serverRssMiB !== undefined);
    const figures: Record<string, number> = {
      heartbeatsPerS: (a1.heartbeats - a0.heartbeats) / w.seconds,
      expectedPerS: connected / x.heartbeatS,
      serverCpuPct: serverPct,
      brokerCpuPct: brokerPct,
      serverPlusBrokerCpuPct: serverPct + brokerPct,
      serverRssIdleMiB: idleRss,
      serverRssMiB: serverRss,
      serverRssPerConnKiB: perConnKiB,
      brokerRssIdleMiB: idleBrokerRss,
      brokerRssMiB: mosqRss,
      brokerRssPerConnKiB: perConnBrokerKiB,
      // The process holding the sockets, with all 30,000 connected: measured + the missing connections at the measured cost each.
      socketHolderRss30kExtrapolatedMiB: stack.mosquitto ? mosqRss + (missing * perConnBrokerKiB) / 1024 : serverRss + (missing * perConnKiB) / 1024,
      fleetRunnerCpuPct: w.pct.fleet!,
      fleetRunnerRssMiB: fleetRss,
      rampS,
      // Sites heard when the ramp ended (all, or as many as within rampLimitS) and at the end of the window.
      connectedAtRamp: connected,
      rampLimitS: x.rampLimitS,
      heardAtEnd,
      coverageIdleHttpP50Ms: percentile(idle.lat, 50),
      coverageHttpP50Ms: percentile(q.lat, 50),
      coverageHttpP99Ms: percentile(q.lat, 99),
      coverageHttpMaxMs: Math.max(...q.lat),
      coverageBodyKiB: q.bytes / 1024,
      coverageSites: q.cov.sites,
      sitesOnline: q.cov.operational + q.cov.degraded + q.cov.faulty,
      rejected: a1.rejected - a0.rejected,
      ...(stack.mosquittoFiles ? { mosquittoReloadS: stack.mosquittoFiles.reloadS, mosquittoAclKiB: stack.mosquittoFiles.aclBytes / 1024 } : {}),
    };
    if (at3k) figures.serverRssPerConnVs3kKiB = ((serverRss - at3k.figures.serverRssMiB!) * 1024) / (connected - (at3k.params.sites as number));
    log(
      `heartbeat-ingest [${broker}]: province ×10: ${figures.heartbeatsPerS!.toFixed(0)} heartbeats/s, server ${serverPct.toFixed(1)}%${stack.mosquitto ? ` + mosquitto ${brokerPct.toFixed(1)}%` : ''}, rss ${idleRss.toFixed(0)} → ${serverRss.toFixed(0)} MiB, coverage p50 ${figures.coverageHttpP50Ms!.toFixed(1)} p99 ${figures.coverageHttpP99Ms!.toFixed(1)} ms`,
    );
    return {
      scenario: 'heartbeat-ingest/province-x10',
      broker,
      params: {
        registered: big.sites.length,
        connected: x.connected,
        heartbeatS: x.heartbeatS,
        windowS: Math.round(w.seconds),
        standsFor: `${x.registered} sites at ${x.heartbeatS * (x.registered / x.connected)} s`,
      },
      figures,
      note: `${connected === x.connected ? '' : `only ${connected} of ${x.connected} agents connected within ${x.rampLimitS} s (expectedPerS is for all); `}${x.connected} of ${x.registered} registered sites connected (file descriptors: 20,000 per process here), beating every ${x.heartbeatS} s: the heartbeat rate and coverage of ${x.registered} sites at ${(x.heartbeatS * x.registered) / x.connected} s, not the memory and keepalives of ${missing} more connections (extrapolated from serverRssPerConnKiB${stack.mosquitto ? ' / brokerRssPerConnKiB' : ''})`,
    };
  } finally {
    await stopProcess(fleet, 60_000);
    await stack.stop();
  }
}

/** The counters of the server's writes (GET /metrics, from loopback): what its store did in a window, beside its CPU. */
const WRITE_COUNTERS = {
  statusRows: 'loanet_fleet_store_rows_total{kind="status"}',
  eventRows: 'loanet_fleet_store_rows_total{kind="event"}',
  alarmEffects: 'loanet_alarm_store_effects_total',
} as const;

/** Alarms the server holds (open ones, and every one ever raised) and its write counters. */
async function storeCounts(stack: Stack): Promise<{ open: number; all: number } & Record<keyof typeof WRITE_COUNTERS, number>> {
  const open = await stack.api.get<{ total: number }>('/api/alarms?limit=1');
  const all = await stack.api.get<{ total: number }>('/api/alarms?limit=1&state=open,cleared');
  const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
  const read = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    if (!line) throw new Error(`/metrics has no ${series}`);
    return Number(line.slice(series.length + 1));
  };
  return {
    open: open.total,
    all: all.total,
    statusRows: read(WRITE_COUNTERS.statusRows),
    eventRows: read(WRITE_COUNTERS.eventRows),
    alarmEffects: read(WRITE_COUNTERS.alarmEffects),
  };
}

async function realistic(stack: Stack, province: Province, z: Sizes, log: (s: string) => void): Promise<BenchResult> {
  const base = await acceptedCount(stack.api);
  const fleet = startFleetRunner(stack, z.sites, z.heartbeatS);
  try {
    const rampS = await waitForHeard(stack, fleet, z.sites, Math.max(60_000, z.sites * 100), base.heartbeats);
    log(`heartbeat-ingest [${stack.broker}]: ${z.sites} sites connected and heard in ${rampS.toFixed(1)} s; measuring ${z.windowS} s`);
    await sleep(z.settleS * 1000);
    const win = new CpuWindow({ server: stack.server.pid, broker: stack.mosquitto?.pid, fleet: fleet.pid });
    const a0 = await acceptedCount(stack.api);
    const store0 = await storeCounts(stack);
    win.start();
    await sleep(z.windowS * 1000);
    const w = win.stop();
    const a1 = await acceptedCount(stack.api);
    const store1 = await storeCounts(stack);
    const serverRss = rssMiB(stack.server.pid);
    const brokerRss = stack.mosquitto ? rssMiB(stack.mosquitto.pid) : 0;
    const fleetRss = rssMiB(fleet.pid);
    // Coverage of the whole province over HTTP, one request at a time, while the fleet keeps beating.
    const { lat, bytes, cov } = await coverageQueries(stack, z.queries);
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
        // Alarms raised (any state) before and during the window: a fleet's first heartbeats raise one per faulty site, which is not the steady cost.
        alarmsBeforeWindow: store0.all,
        alarmsRaisedInWindow: store1.all - store0.all,
        alarmsOpenAtEnd: store1.open,
        // What the store wrote in the window, per second: the steady cost behind the CPU figure.
        statusRowsPerS: (store1.statusRows - store0.statusRows) / w.seconds,
        eventRowsPerS: (store1.eventRows - store0.eventRows) / w.seconds,
        alarmEffectsPerS: (store1.alarmEffects - store0.alarmEffects) / w.seconds,
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
  /** Resolves when the generator has said it is ready (it may say so before anyone asks). */
  ready: Promise<unknown>;
  request<T>(msg: object, reply: string, timeoutMs: number): Promise<T>;
}

function startGenerator(): Generator {
  const proc = startTsx('raw-publisher', 'tests/bench/lib/raw-publisher.ts', [], {}, { ipc: true });
  const request = <T>(msg: object, reply: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => (cleanup(), reject(new Error(`raw publisher: no ${reply} within ${timeoutMs} ms`))), timeoutMs);
      const onMsg = (m: { type: string; message?: string }) => {
        if (m.type === reply) cleanup(), resolve(m as T);
        else if (m.type === 'error') cleanup(), reject(new Error(`raw publisher: ${m.message}`));
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
  // Listening from the start: the generator may be ready before stress() asks.
  const ready = request({}, 'ready', 60_000);
  ready.catch(() => undefined);
  return { proc, ready, request };
}

async function stopGenerator(gen: Generator): Promise<void> {
  if (gen.proc.child.connected) {
    gen.proc.child.send({ type: 'stop' });
    await exitedWithin(gen.proc, 5000);
  }
  await stopProcess(gen.proc, 5000);
}

async function stress(stack: Stack, gen: Generator, province: Province, z: Sizes, log: (s: string) => void): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  try {
    await gen.ready;
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
      const ran = gen.request<{ sent: number; seconds: number; lagging: number; disconnected: number }>(
        { type: 'run', rate, ms: z.stressWindowS * 1000 },
        'ran',
        z.stressWindowS * 1000 + 30_000,
      );
      // While publishing: how far ingest trails what was offered (backlog in seconds of traffic).
      let maxBacklogS = 0;
      let done = false;
      void ran.then(
        () => (done = true),
        () => (done = true),
      );
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
        ...(generatorLimited
          ? { note: `the generator offered only ${offeredPerS.toFixed(0)}/s (it shares 2 cores with the server)` }
          : r.disconnected
            ? { note: `${r.disconnected} connections dropped` }
            : {}),
      };
      out.push(result);
      log(
        `heartbeat-ingest [${stack.broker}]: ${rate}/s offered ${offeredPerS.toFixed(0)}/s, server ${w.pct.server!.toFixed(0)}%${w.pct.broker !== undefined ? `, mosquitto ${w.pct.broker.toFixed(0)}%` : ''}, generator ${w.pct.generator!.toFixed(0)}%, drain ${drainMs.toFixed(0)} ms → ${kept ? 'kept up' : 'did not keep up'}`,
      );
      if (!kept) {
        firstFailed = rate;
        failedByGenerator = generatorLimited && drainMs < MAX_LAG_MS && ingested >= r.sent;
        break;
      }
      maxKept = rate;
      keptAt = result;
      if (rate !== z.rates[z.rates.length - 1]) await sleep(2000);
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
    await stopGenerator(gen);
  }
  return out;
}

export type { BrokerKind };
