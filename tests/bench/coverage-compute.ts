/**
 * How long classifying every site and computing the province's coverage takes,
 * on a synthetic province: 3,000 sites / 2,000 villages and ten times that.
 * The point is that cost grows linearly (ratio 30k/3k ≈ 10) and that a real
 * province stays well under 50 ms.
 *
 *   npx tsx tests/bench/coverage-compute.ts [--quick]
 *
 * `runCoverageComputeBench` is exported for the bench runner (run.ts). It is
 * the in-process half of the coverage figures; heartbeat-ingest.ts measures
 * the same question over HTTP on a live server.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';
import { AreaIndex, coverageOf } from '../../server/coverage/coverage.ts';
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

function measure(nodes: AreaNode[], sites: SiteObservation[], rootKey: string, runs: number) {
  const policy = DEFAULT_COVERAGE_POLICY;
  const index = AreaIndex.build(nodes);
  const classify: number[] = [];
  const cover: number[] = [];
  const total: number[] = [];
  let villageShare: number | null = null;
  // Warm-up (JIT, formatter caches).
  for (let w = 0; w < 3; w++) {
    const m = new Map<string, SiteVerdict>();
    for (const s of sites) m.set(s.siteId, classifySite(s, NOW, policy));
    coverageOf(index, rootKey, sites, m, NOW, policy);
  }
  for (let r = 0; r < runs; r++) {
    // Move the clock a little each run so no cache answers for free.
    const now = NOW + r * 1000;
    const t0 = performance.now();
    const m = new Map<string, SiteVerdict>();
    for (const s of sites) m.set(s.siteId, classifySite(s, now, policy));
    const t1 = performance.now();
    const rep = coverageOf(index, rootKey, sites, m, now, policy);
    const t2 = performance.now();
    classify.push(t1 - t0);
    cover.push(t2 - t1);
    total.push(t2 - t0);
    villageShare = rep.villageShare;
  }
  const t0 = performance.now();
  AreaIndex.build(nodes);
  const buildMs = performance.now() - t0;
  return { classifyMs: median(classify), coverageMs: median(cover), totalMs: median(total), indexBuildMs: buildMs, villageShare: villageShare ?? 0 };
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
