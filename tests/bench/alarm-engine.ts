/**
 * What the alarm engine costs the event loop when a whole province changes at
 * once: a broker restart takes every site offline within a minute (one
 * verdict each), they come back within the next minute, and then time alone
 * clears their alarms over the hold-down (the service's ticks). 3,000 and
 * 30,000 sites side by side, with the 30k / 3k ratio of each figure: a per
 * step cost that stays the same (ratio ~1) is a step that costs what it
 * changes; a ratio near 10 would be a step that scans the province.
 *
 * Each step is timed with what the service does around it: engine.step and
 * the area summary kept from its effects (applyToSummary), ticks run
 * whenever nextDueAt() says one is due, as the service's one timer would.
 * `…TotalMs` is the wall time of the steps; `…RanMs` how long the main
 * thread ran on a core over the phase (what the event loop spent, GC on it
 * included) and `…WaitedMs` how long it waited for one: on a loaded 2-core
 * machine the wait can be most of the wall time.
 *
 *   npx tsx tests/bench/alarm-engine.ts [--quick]
 */
import fs from 'node:fs';
import type { SiteVerdict } from '../../server/coverage/model.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import { type AlarmEngineContext, AlarmEngine, applyToSummary, type AlarmInput } from '../../server/alarms/alarm-engine.ts';
import { AlarmAreaSummary } from '../../server/alarms/area-summary.ts';
import { DEFAULT_DAMPING_POLICY } from '../../server/alarms/flap-damping.ts';
import { DEFAULT_INCIDENT_POLICY } from '../../server/alarms/incidents.ts';
import { syntheticProvince } from './coverage-compute.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0);
const MINUTE = 60_000;
const TICKS = 100;

interface Phase {
  steps: number;
  totalMs: number;
  maxMs: number;
  /** How long the main thread (the event loop's, with its share of GC) ran on a core over the phase, and waited for one: on a loaded machine the wall time counts both. */
  ranMs: number;
  waitedMs: number;
}

function measure(villages: number, sites: number) {
  const p = syntheticProvince(villages, sites);
  const index = AreaIndex.build(p.nodes);
  const ctx: AlarmEngineContext = { index, damping: DEFAULT_DAMPING_POLICY, incidents: DEFAULT_INCIDENT_POLICY };
  const engine = new AlarmEngine(ctx);
  const summary = new AlarmAreaSummary(index);
  const counts = { raised: 0, cleared: 0, incidentsOpened: 0, incidentsResolved: 0 };

  const run = (input: AlarmInput, phase: Phase) => {
    const t = performance.now();
    const r = engine.step(input);
    applyToSummary(summary, r.effects);
    const ms = performance.now() - t;
    phase.steps++;
    phase.totalMs += ms;
    if (ms > phase.maxMs) phase.maxMs = ms;
    for (const e of r.effects) {
      if (e.type === 'alarm_raised') counts.raised++;
      else if (e.type === 'alarm_cleared') counts.cleared++;
      else if (e.type === 'incident_opened') counts.incidentsOpened++;
      else if (e.type === 'incident_resolved') counts.incidentsResolved++;
    }
  };
  /** The service's timer: every tick due by `at`, before the input at `at`. */
  const catchUp = (at: number, phase: Phase) => {
    for (let due = engine.nextDueAt(); due !== null && due <= at; due = engine.nextDueAt()) run({ type: 'tick', at: due }, phase);
  };
  const feed = (from: number, verdict: (id: string) => SiteVerdict, phase: Phase) => {
    const t0 = mainThreadMs();
    p.sites.forEach((s, i) => {
      const at = from + Math.floor((i * MINUTE) / p.sites.length);
      catchUp(at, phase);
      run({ type: 'verdict', at, site: { siteId: s.siteId, kind: s.kind, areaId: s.areaId }, verdict: verdict(s.siteId) }, phase);
    });
    Object.assign(phase, since(t0));
  };
  const phase = (): Phase => ({ steps: 0, totalMs: 0, maxMs: 0, ranMs: 0, waitedMs: 0 });

  const first = phase();
  feed(T0, (siteId) => ({ siteId, condition: 'operational', reasons: [] }), first);
  const offline = phase();
  feed(
    T0 + 10 * MINUTE,
    (siteId) => ({ siteId, condition: 'offline', reasons: [{ code: 'offline', message: 'offline', severity: 'offline', params: { cause: 'disconnected' } }] }),
    offline,
  );
  const openAfterOffline = engine.state.open.size;
  const raisedOffline = counts.raised;
  const back = phase();
  const backAt = T0 + 20 * MINUTE;
  feed(backAt, (siteId) => ({ siteId, condition: 'operational', reasons: [] }), back);
  // Time alone: 100 ticks from the last return to past the last hold-down, over every open alarm.
  const ticks = phase();
  const idle = phase();
  const end = backAt + MINUTE + DEFAULT_DAMPING_POLICY.holdDownMs + MINUTE;
  const t0 = mainThreadMs();
  for (let k = 1; k <= TICKS; k++) {
    const at = backAt + MINUTE + Math.floor((k * (end - backAt - MINUTE)) / TICKS);
    // A tick with nothing due (the timer fired early, or a second one at the same moment) costs what?
    if (k <= 10) run({ type: 'tick', at: backAt + MINUTE }, idle);
    run({ type: 'tick', at }, ticks);
  }
  Object.assign(ticks, since(t0));
  if (engine.state.open.size !== 0) throw new Error(`${engine.state.open.size} alarms still open after the hold-down`);
  if (summary.of(p.rootKey)!.total !== 0 || summary.anyNegative()) throw new Error('the area summary does not end at zero');
  const us = (ph: Phase) => (ph.steps ? (ph.totalMs * 1000) / ph.steps : 0);
  return {
    params: { sites: p.sites.length, areas: p.nodes.length },
    figures: {
      firstVerdictsMs: first.totalMs,
      firstVerdictUs: us(first),
      offlineTotalMs: offline.totalMs,
      offlineRanMs: offline.ranMs,
      offlineWaitedMs: offline.waitedMs,
      offlineStepUs: us(offline),
      offlineMaxStepMs: offline.maxMs,
      alarmsRaised: raisedOffline,
      openAfterOffline,
      incidentsOpened: counts.incidentsOpened,
      backTotalMs: back.totalMs,
      backRanMs: back.ranMs,
      backWaitedMs: back.waitedMs,
      backStepUs: us(back),
      backMaxStepMs: back.maxMs,
      ticksTotalMs: ticks.totalMs,
      ticksRanMs: ticks.ranMs,
      ticksWaitedMs: ticks.waitedMs,
      tickMs: ticks.totalMs / ticks.steps,
      tickMaxMs: ticks.maxMs,
      idleTickUs: us(idle),
      alarmsCleared: counts.cleared,
      incidentsResolved: counts.incidentsResolved,
      heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    },
  };
}

/** The main thread's time on a core and waiting for one so far, ms (Linux schedstat; zeros where it cannot be read). */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
function mainThreadMs(): { ran: number; waited: number } {
  try {
    const [ran, waited] = fs.readFileSync(SCHEDSTAT, 'utf8').split(' ');
    return { ran: Number(ran) / 1e6, waited: Number(waited) / 1e6 };
  } catch {
    return { ran: 0, waited: 0 };
  }
}
function since(t0: { ran: number; waited: number }): { ranMs: number; waitedMs: number } {
  const t = mainThreadMs();
  return { ranMs: t.ran - t0.ran, waitedMs: t.waited - t0.waited };
}

/** Each figure's median over the runs: a loaded machine moves single runs by 2-4 x. */
function medianOf(runs: ReadonlyArray<ReturnType<typeof measure>>): ReturnType<typeof measure> {
  const figures = { ...runs[0]!.figures };
  for (const k of Object.keys(figures) as Array<keyof typeof figures>) {
    const xs = runs.map((r) => r.figures[k]).sort((a, b) => a - b);
    figures[k] = xs[xs.length >> 1]!;
  }
  return { params: runs[0]!.params, figures };
}

export async function runAlarmEngineBench({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const sizes = quick
    ? [
        { villages: 200, sites: 300 },
        { villages: 2000, sites: 3000 },
      ]
    : [
        { villages: 2000, sites: 3000 },
        { villages: 20000, sites: 30000 },
      ];
  // One warm-up so the first size does not pay for the JIT.
  measure(200, 300);
  const runs = quick ? 1 : 3;
  const results: BenchResult[] = sizes.map((s) => {
    const m = medianOf(Array.from({ length: runs }, () => measure(s.villages, s.sites)));
    return { scenario: 'alarm-engine', params: { ...m.params, runs }, figures: m.figures };
  });
  const [a, b] = results;
  if (a && b) {
    const figures: Record<string, number> = {};
    for (const k of ['offlineTotalMs', 'offlineRanMs', 'offlineStepUs', 'backTotalMs', 'backRanMs', 'backStepUs', 'ticksTotalMs', 'ticksRanMs', 'tickMs', 'idleTickUs']) {
      const x = a.figures[k]!;
      const y = b.figures[k]!;
      if (x > 0) figures[k] = y / x;
    }
    results.push({
      scenario: `alarm-engine/ratio-${b.params.sites}-${a.params.sites}`,
      params: { sitesRatio: Number(b.params.sites) / Number(a.params.sites) },
      figures,
      note: 'per-step ratios near 1 (and totals near the sites ratio) mean each step costs what it changes',
    });
  }
  return results;
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('alarm-engine.ts');
if (isMain) {
  const quick = process.argv.includes('--quick');
  runAlarmEngineBench({ quick }).then(printTable, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
