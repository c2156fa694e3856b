/**
 * Time shares per condition, for uptime figures and charts. Pure.
 *
 * A site's history is a list of transitions [{at, condition}] sorted by `at`:
 * each holds from its `at` until the next one. Within a window [from, to):
 *  - the condition at `from` is that of the last transition at or before
 *    `from`; before the first transition it is `initial` (default
 *    'unverified': nothing was known about the site);
 *  - transitions with equal `at` collapse to the last one;
 *  - shares are durations / (to − from) and sum to 1; when to <= from the
 *    window is empty and shares are null.
 * `audibleShare` = operational + degraded: the time the site could be heard
 * (degraded sites still play, e.g. on battery or with one line open).
 */
import { SITE_CONDITIONS, type ConditionCounts, type SiteCondition } from './model.ts';

export interface ConditionTransition {
  at: number;
  condition: SiteCondition;
}

export interface ConditionShares {
  from: number;
  to: number;
  totalMs: number;
  ms: Record<SiteCondition, number>;
  /** Share of the window per condition (0..1), null for an empty window. */
  share: Record<SiteCondition, number> | null;
  /** operational + degraded share, null for an empty window. */
  audibleShare: number | null;
}

function zeroRecord(): Record<SiteCondition, number> {
  return { operational: 0, degraded: 0, faulty: 0, offline: 0, unverified: 0 };
}

export function conditionShares(transitions: readonly ConditionTransition[], window: { from: number; to: number }, initial: SiteCondition = 'unverified'): ConditionShares {
  const { from, to } = window;
  const ms = zeroRecord();
  if (!(to > from)) return { from, to, totalMs: 0, ms, share: null, audibleShare: null };

  let current = initial;
  let i = 0;
  while (i < transitions.length && transitions[i]!.at <= from) current = transitions[i++]!.condition;
  let cursor = from;
  for (; i < transitions.length; i++) {
    const t = transitions[i]!;
    if (t.at >= to) break;
    ms[current] += t.at - cursor;
    cursor = t.at;
    current = t.condition;
  }
  ms[current] += to - cursor;

  const total = to - from;
  const share = zeroRecord();
  for (const c of SITE_CONDITIONS) share[c] = ms[c] / total;
  return { from, to, totalMs: total, ms, share, audibleShare: share.operational + share.degraded };
}

/** One stored coverage snapshot of an area (a subset of CoverageSnapshotRow). */
export interface CoverageSample extends Partial<ConditionCounts> {
  at: number;
  villages?: number;
  villagesCovered?: number;
}

export interface CoverageSeriesPoint {
  at: number;
  /** villagesCovered / villages at that time; null without a sample yet or without villages. */
  villageShare: number | null;
  /** operational / sites; null without a sample yet or without sites. */
  operationalShare: number | null;
}

/**
 * Samples the step function of stored snapshots (sorted by `at`) every
 * `stepMs` from `from` to `to` inclusive: each point takes the last snapshot
 * at or before it, and is null before the first snapshot or when the last
 * snapshot is older than `maxGapMs` (the recorder was down: no invented data).
 */
export function coverageSeries(samples: readonly CoverageSample[], opts: { from: number; to: number; stepMs: number; maxGapMs?: number }): CoverageSeriesPoint[] {
  const { from, to, stepMs } = opts;
  if (!(stepMs > 0) || to < from) return [];
  const maxGap = opts.maxGapMs ?? Number.POSITIVE_INFINITY;
  const out: CoverageSeriesPoint[] = [];
  let i = -1;
  for (let t = from; t <= to; t += stepMs) {
    while (i + 1 < samples.length && samples[i + 1]!.at <= t) i++;
    const s = i >= 0 ? samples[i]! : undefined;
    if (!s || t - s.at > maxGap) {
      out.push({ at: t, villageShare: null, operationalShare: null });
      continue;
    }
    out.push({
      at: t,
      villageShare: s.villages ? (s.villagesCovered ?? 0) / s.villages : null,
      operationalShare: s.sites ? (s.operational ?? 0) / s.sites : null,
    });
  }
  return out;
}
