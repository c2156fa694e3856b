/**
 * Per area, the open alarms of its whole subtree counted by severity and
 * state (raised, acknowledged), kept up to date one alarm change at a time:
 * a pure data structure over coverage's `AreaIndex`, the pattern of
 * coverage-counts.ts. An alarm counts in its site's area and every ancestor
 * (village → commune → district → province), so applying one change touches
 * only that chain (O(depth)) and reading an area is O(1).
 *
 * Counted: visible alarms (raised or acknowledged), whether or not their
 * fault is present right now (an alarm in its hold-down is still open).
 * Pending alarms are not shown, so not counted; cleared ones are over. An
 * alarm whose area is not in the index (retired or unknown) is remembered
 * but counted nowhere, as coverage does with such sites.
 */
import type { AreaIndex } from '../coverage/coverage.ts';
import type { AreaLevel } from '../registry/model.ts';
import { ALARM_SEVERITIES, type Alarm, type AlarmSeverity, type VisibleState } from './model.ts';

/** What the summary needs of an alarm. */
export interface SummarizedAlarm {
  id: string;
  areaId: number;
  severity: AlarmSeverity;
  state: Alarm['state'];
}

export interface SeverityCounts {
  raised: number;
  acknowledged: number;
}

export interface AreaAlarmSummary {
  area: { key: string; code: string; name: string; level: AreaLevel };
  /** Open (raised + acknowledged) alarms in the subtree. */
  total: number;
  raised: number;
  acknowledged: number;
  bySeverity: Record<AlarmSeverity, SeverityCounts>;
  /** The worst severity with an open alarm, null when there is none. */
  worst: AlarmSeverity | null;
}

const SEV_INDEX: Record<AlarmSeverity, number> = { critical: 0, major: 1, minor: 2, warning: 3 };
const STATE_INDEX: Record<VisibleState, number> = { raised: 0, acknowledged: 1 };
/** Counters per position: 4 severities × 2 states. */
const STRIDE = 8;

export class AlarmAreaSummary {
  private readonly alarms = new Map<string, SummarizedAlarm>();
  private readonly counts: Int32Array;

  constructor(readonly index: AreaIndex) {
    this.counts = new Int32Array(index.size * STRIDE);
  }

  static build(index: AreaIndex, alarms: Iterable<SummarizedAlarm>): AlarmAreaSummary {
    const s = new AlarmAreaSummary(index);
    for (const a of alarms) s.upsert(a);
    return s;
  }

  get size(): number {
    return this.alarms.size;
  }

  /** Add an alarm or apply its change (state, severity, area). A cleared or pending alarm is taken out of the counts. */
  upsert(alarm: SummarizedAlarm): void {
    const prev = this.alarms.get(alarm.id);
    if (prev) this.apply(prev, -1);
    if (alarm.state !== 'raised' && alarm.state !== 'acknowledged') {
      this.alarms.delete(alarm.id);
      return;
    }
    const copy: SummarizedAlarm = { id: alarm.id, areaId: alarm.areaId, severity: alarm.severity, state: alarm.state };
    this.alarms.set(alarm.id, copy);
    this.apply(copy, +1);
  }

  remove(alarmId: string): void {
    const prev = this.alarms.get(alarmId);
    if (!prev) return;
    this.apply(prev, -1);
    this.alarms.delete(alarmId);
  }

  /** The summary of the area at preorder `position`. */
  at(position: number): AreaAlarmSummary {
    const node = this.index.order[position]!;
    const base = position * STRIDE;
    const bySeverity = {} as Record<AlarmSeverity, SeverityCounts>;
    let raised = 0;
    let acknowledged = 0;
    let worst: AlarmSeverity | null = null;
    for (const sev of ALARM_SEVERITIES) {
      const i = base + SEV_INDEX[sev] * 2;
      const c = { raised: this.counts[i]!, acknowledged: this.counts[i + 1]! };
      bySeverity[sev] = c;
      raised += c.raised;
      acknowledged += c.acknowledged;
      if (worst === null && c.raised + c.acknowledged > 0) worst = sev;
    }
    return { area: { key: node.key, code: node.code, name: node.name, level: node.level }, total: raised + acknowledged, raised, acknowledged, bySeverity, worst };
  }

  /** The summary of an area by key (`2025.02647`), or undefined for an area not in the index. */
  of(areaKey: string): AreaAlarmSummary | undefined {
    const node = this.index.get(areaKey);
    const p = node === undefined ? undefined : this.index.tin(node.id);
    return p === undefined ? undefined : this.at(p);
  }

  /** Whether any counter went below zero (never, if every change went through upsert/remove): for tests and a health check. */
  anyNegative(): boolean {
    return this.counts.some((c) => c < 0);
  }

  private apply(a: SummarizedAlarm, sign: 1 | -1): void {
    const pos = this.index.tin(a.areaId);
    if (pos === undefined) return;
    const k = SEV_INDEX[a.severity] * 2 + STATE_INDEX[a.state as VisibleState];
    for (let p = pos; p >= 0; p = this.index.parentPosition(p)) this.counts[p * STRIDE + k]! += sign;
  }
}
