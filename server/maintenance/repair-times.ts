/**
 * Time to acknowledge and time to repair, per commune and per fault kind,
 * from alarms and work orders: pure over plain data (the route and the
 * monthly report read the rows and call it).
 *
 * Time to acknowledge: from the alarm shown (raisedAt) to a person's
 * acknowledgement. Time to repair: from the alarm shown to the verified
 * sound check that closed its work order (verifiedAt) — how long the
 * village waited for sound, as the province asks; a technician's "done"
 * does not stop the clock. An alarm counts in the period its raisedAt falls
 * in; an alarm without an acknowledgement (or without a closed order)
 * is left out of that measure, and counted as `open` in its group.
 */
import type { AlarmKind } from '../alarms/model.ts';

/** What is needed of an alarm. */
export interface TimedAlarm {
  id: string;
  areaId: number;
  kind: AlarmKind;
  raisedAt: number | null;
  acknowledgedAt: number | null;
}

/** What is needed of a work order. */
export interface TimedOrder {
  alarmId: string | null;
  state: string;
  verifiedAt: number | null;
}

export interface DurationStats {
  count: number;
  meanMs: number;
  medianMs: number;
  maxMs: number;
}

export interface RepairTimeRow {
  /** The commune's key (the area the alarm's site stands in, or its commune ancestor); null: an area no longer in the tree. */
  communeKey: string | null;
  kind: AlarmKind;
  alarms: number;
  acknowledge: DurationStats | null;
  repair: DurationStats | null;
  /** Alarms of the group without a verified repair yet. */
  unrepaired: number;
}

export function durationStats(values: readonly number[]): DurationStats | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
  return { count: s.length, meanMs: Math.round(s.reduce((a, b) => a + b, 0) / s.length), medianMs: median, maxMs: s[s.length - 1]! };
}

/**
 * The rows, one per (commune, kind) with at least one alarm raised in
 * [from, to), sorted by commune then kind. `communeOf` maps a site's area
 * to its commune's key (null when unknown).
 */
export function repairTimes(
  alarms: readonly TimedAlarm[],
  orders: readonly TimedOrder[],
  communeOf: (areaId: number) => string | null,
  period: { from: number; to: number },
): RepairTimeRow[] {
  // The earliest verified close per alarm: a second order for one alarm (a repair that did not hold) ends at the first verification.
  const verifiedOf = new Map<string, number>();
  for (const o of orders) {
    if (o.alarmId === null || o.state !== 'closed' || o.verifiedAt === null) continue;
    const prev = verifiedOf.get(o.alarmId);
    if (prev === undefined || o.verifiedAt < prev) verifiedOf.set(o.alarmId, o.verifiedAt);
  }
  const groups = new Map<string, { communeKey: string | null; kind: AlarmKind; alarms: number; ack: number[]; repair: number[] }>();
  for (const a of alarms) {
    if (a.raisedAt === null || a.raisedAt < period.from || a.raisedAt >= period.to) continue;
    const communeKey = communeOf(a.areaId);
    const key = `${communeKey ?? ''}\u0000${a.kind}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { communeKey, kind: a.kind, alarms: 0, ack: [], repair: [] }));
    g.alarms += 1;
    if (a.acknowledgedAt !== null) g.ack.push(Math.max(0, a.acknowledgedAt - a.raisedAt));
    const v = verifiedOf.get(a.id);
    if (v !== undefined) g.repair.push(Math.max(0, v - a.raisedAt));
  }
  return [...groups.values()]
    .map((g) => ({
      communeKey: g.communeKey,
      kind: g.kind,
      alarms: g.alarms,
      acknowledge: durationStats(g.ack),
      repair: durationStats(g.repair),
      unrepaired: g.alarms - g.repair.length,
    }))
    .sort((a, b) => (a.communeKey ?? '').localeCompare(b.communeKey ?? '') || a.kind.localeCompare(b.kind));
}
