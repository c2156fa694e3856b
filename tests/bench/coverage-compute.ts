/**
 * How long classifying every site and computing the province's coverage takes,
 * on a synthetic province: 3,000 sites / 2,000 villages and ten times that,
 * side by side with answering the same request from the counts kept up to
 * date as conditions change (CoverageCounts, what the server does now):
 * `totalMs` is the recompute, `countsRequestMs` the answer from the counts,
 * `speedup` their ratio.
 *
 *   npx tsx tests/bench/coverage-compute.ts [--quick]
 *
 * `runCoverageComputeBench` is exported for the bench runner (run.ts). It is
 * the in-process half of the coverage figures; heartbeat-ingest.ts measures
 * the same question over HTTP on a live server.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';
import { AreaIndex, coverageOf } from '../../server/coverage/coverage.ts';
import { CoverageCounts, type CountedSite, coverageFromCounts, timeOverrides } from '../../server/coverage/coverage-counts.ts';
import { DEFAULT_COVERAGE_POLICY, type SiteObservation, type SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { classifySite } from '../../server/coverage/site-condition.ts';

import { printTable, type BenchResult } from './lib/result.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';

export { printTable, type BenchResult };

const NOW = Date.UTC(2025, 2, 10, 7, 30);
const DAY = 86_400_000;

function telemetry(siteId: string, rnd: () => number): TelemetryMessage {
  const r = rnd();
  return {
    v: 1,
    siteId,
    at: NOW - 5000,
    seq: 1,
    intervalS: 30,
    uptimeS: 1000,
    versions: { agent: '0.1.0', protocol: 1 },
    link: { type: '4g', signalDbm: r < 0.05 ? -115 : -80 },
    power: r < 0.08 ? { source: 'battery', mainsOk: false, batteryPct: Math.round(rnd() * 100) } : { source: 'mains', mainsOk: true, batteryPct: 100 },
    amplifier: { on: true, volume: 70, fault: r > 0.98 ? 'overheat' : 'none', temperatureC: 45 },
    lines: [
      { id: 1, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
      { id: 2, status: r > 0.95 ? 'open' : 'ok', impedanceOhm: 8, nominalOhm: 8 },
    ],
    temperatureC: 35,
    clockOffsetMs: 0,
    devices: [{ id: 'amp0', kind: 'amplifier', reachable: true }],
    monitorMic: r < 0.5,
    lastSoundCheck: null,
  } as TelemetryMessage;
}

/** Province → 10 districts → communes → villages; 1 station per commune, the rest clusters in villages. */
export function syntheticProvince(villages: number, sites: number, seed = 1): { nodes: AreaNode[]; sites: SiteObservation[]; rootKey: string } {
  const rnd = mulberry32(seed);
  let id = 1;
  const mk = (code: string, level: AreaNode['level'], parentId: number | null): AreaNode => ({
    id: id++,
    key: `2025.${code}`,
    code,
    version: '2025',
    name: `${level} ${code}`,
    level,
    parentId,
  });
  const P = mk('01', 'province', null);
  const nodes: AreaNode[] = [P];
  const villagesPerCommune = 10;
  const communes = Math.ceil(villages / villagesPerCommune);
  const districts = 10;
  const villageNodes: AreaNode[] = [];
  const communeNodes: AreaNode[] = [];
  const ds = Array.from({ length: districts }, (_, d) => {
    const D = mk(`01${String(d).padStart(3, '0')}`, 'district', P.id);
    nodes.push(D);
    return D;
  });
  for (let c = 0; c < communes; c++) {
    const C = mk(`C${c}`, 'commune', ds[c % districts]!.id);
    nodes.push(C);
    communeNodes.push(C);
    for (let v = 0; v < villagesPerCommune && villageNodes.length < villages; v++) {
      const V = mk(`C${c}.${v}`, 'village', C.id);
      nodes.push(V);
      villageNodes.push(V);
    }
  }
  const out: SiteObservation[] = [];
  const add = (kind: SiteObservation['kind'], areaId: number) => {
    const siteId = `s${out.length}`;
    const r = rnd();
    const t = telemetry(siteId, rnd);
    out.push({
      siteId,
      name: `Site ${out.length}`,
      kind,
      areaId,
      firstSeenAt: r < 0.02 ? null : NOW - 30 * DAY,
      lastSeenAt: r < 0.02 ? null : r < 0.07 ? NOW - 3_600_000 : NOW - 5000,
      connected: !(r >= 0.02 && r < 0.04),
      disconnectedAt: r >= 0.02 && r < 0.04 ? NOW - 7_200_000 : null,
      intervalS: 30,
      telemetry: r < 0.02 ? null : t,
      lastSoundVerifiedAt: rnd() < 0.9 ? NOW - Math.floor(rnd() * 10 * DAY) : null,
      lastSoundCheck: null,
      expectsMonitorMic: t.monitorMic,
    });
  };
  for (const C of communeNodes) if (out.length < sites) add('station', C.id);
  // 90% of villages get clusters (some two), the rest none.
  let i = 0;
  while (out.length < sites) {
    const V = villageNodes[i % villageNodes.length]!;
    if ((i % villageNodes.length) % 10 !== 9) add('cluster', V.id);
    i++;
    if (i > sites * 4) break;
  }
  return { nodes, sites: out, rootKey: P.key };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Both ways of answering a coverage request, on the same province and clock:
 * before — classify every site and sum them (coverageOf, the whole lists);
 * after — the counts kept by CoverageCounts: check which sites time alone may
 * have made worse, then read the counts and gather the lists cut to 200
 * (what GET /api/coverage does now). Between runs the clock moves on and every
 * live site "beats" (its lastSeenAt moves with it, as heartbeats do without a
 * condition change). Both answers' counts are compared every run.
 */
function measure(nodes: AreaNode[], sites: SiteObservation[], rootKey: string, runs: number) {
  const policy = DEFAULT_COVERAGE_POLICY;
  const index = AreaIndex.build(nodes);
  const live = sites.filter((s) => s.lastSeenAt === NOW - 5000);
  const beat = (now: number) => {
    for (const s of live) s.lastSeenAt = now - 5000;
  };
  const classify: number[] = [];
  const cover: number[] = [];
  const total: number[] = [];
  const after: number[] = [];
  let villageShare: number | null = null;
  const countedAt = (now: number): CountedSite[] =>
    sites.map((s) => ({ siteId: s.siteId, name: s.name, kind: s.kind, areaId: s.areaId, condition: classifySite(s, now, policy).condition, obs: s }));
  const b0 = performance.now();
  const counts = CoverageCounts.build(index, countedAt(NOW));
  const countsBuildMs = performance.now() - b0;
  const request = (now: number) =>
    counts.withConditions(timeOverrides(counts, now, policy), () => coverageFromCounts(counts, rootKey, now, 200, (id) => classifySite(byId.get(id)!, now, policy)));
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  // Warm-up (JIT, formatter caches).
  for (let w = 0; w < 3; w++) {
    const m = new Map<string, SiteVerdict>();
    for (const s of sites) m.set(s.siteId, classifySite(s, NOW, policy));
    coverageOf(index, rootKey, sites, m, NOW, policy);
    request(NOW);
  }
  for (let r = 0; r < runs; r++) {
    // Move the clock a little each run so no cache answers for free.
    const now = NOW + r * 1000;
    beat(now);
    const t0 = performance.now();
    const m = new Map<string, SiteVerdict>();
    for (const s of sites) m.set(s.siteId, classifySite(s, now, policy));
    const t1 = performance.now();
    const rep = coverageOf(index, rootKey, sites, m, now, policy);
    const t2 = performance.now();
    const got = request(now);
    const t3 = performance.now();
    classify.push(t1 - t0);
    cover.push(t2 - t1);
    total.push(t2 - t0);
    after.push(t3 - t2);
    villageShare = rep.villageShare;
    for (const k of ['sites', 'operational', 'degraded', 'faulty', 'offline', 'unverified', 'villagesCovered', 'villagesFailing'] as const) {
      if (rep[k] !== got[k]) throw new Error(`counts differ at run ${r}: ${k} ${rep[k]} (recomputed) vs ${got[k]} (kept)`);
    }
    if (rep.failing.length !== got.failingTotal || rep.failing[0]?.siteId !== got.failing[0]?.siteId) throw new Error(`failing lists differ at run ${r}`);
  }
  // What the heartbeat load costs the counts: one condition change, there and back.
  const flips = Math.min(sites.length, 20_000);
  const u0 = performance.now();
  for (let i = 0; i < flips; i++) {
    const c = counts.get(sites[i]!.siteId)!;
    counts.upsert({ ...c, condition: c.condition === 'offline' ? 'operational' : 'offline' });
    counts.upsert(c);
  }
  const updateUs = ((performance.now() - u0) * 1000) / (2 * flips);
  // Worst case: nobody beat for two minutes and the fleet's sweep has not run, so every site is reclassified.
  const s0 = performance.now();
  const stale = request(NOW + runs * 1000 + 120_000);
  const afterAllSilentMs = performance.now() - s0;
  if (stale.offline !== stale.sites - stale.unverified) throw new Error('after two silent minutes every heard site should count as offline');
  const t0 = performance.now();
  AreaIndex.build(nodes);
  const buildMs = performance.now() - t0;
  return {
    classifyMs: median(classify),
    coverageMs: median(cover),
    totalMs: median(total),
    totalMaxMs: Math.max(...total),
    countsRequestMs: median(after),
    countsRequestMaxMs: Math.max(...after),
    speedup: median(total) / median(after),
    countsBuildMs,
    updateUs,
    afterAllSilentMs,
    indexBuildMs: buildMs,
    villageShare: villageShare ?? 0,
  };
}

export async function runCoverageComputeBench({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const runs = quick ? 5 : 20;
  const scenarios = [
    { name: 'province-3k', villages: 2000, sites: 3000 },
    { name: 'province-30k', villages: 20000, sites: 30000 },
  ];
  const results: BenchResult[] = [];
  for (const sc of scenarios) {
    const p = syntheticProvince(sc.villages, sc.sites);
    const f = measure(p.nodes, p.sites, p.rootKey, runs);
    results.push({
      scenario: `coverage-compute/${sc.name}`,
      params: { sites: p.sites.length, villages: sc.villages, areas: p.nodes.length, runs },
      figures: { ...f },
    });
  }
  const [a, b] = results;
  if (a && b && a.figures.totalMs! > 0) {
    results.push({
      scenario: 'coverage-compute/ratio-30k-3k',
      params: { runs },
      figures: {
        totalRatio: b.figures.totalMs! / a.figures.totalMs!,
        classifyRatio: b.figures.classifyMs! / a.figures.classifyMs!,
        coverageRatio: b.figures.coverageMs! / a.figures.coverageMs!,
        countsRequestRatio: b.figures.countsRequestMs! / a.figures.countsRequestMs!,
      },
    });
  }
  return results;
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('coverage-compute.ts');
if (isMain) {
  const quick = process.argv.includes('--quick');
  runCoverageComputeBench({ quick }).then(printTable, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
