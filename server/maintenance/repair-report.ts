/**
 * Time to acknowledge and to repair of an area's subtree over a period, read
 * from the alarms' and the work orders' stores and computed by the pure
 * repairTimes (repair-times.ts). The route GET /api/maintenance/repair-times
 * answers it; the monthly report calls it the same way:
 *
 *     const rows = await repairTimesOf(
 *       { alarms: ctx.alarms.store, orders: ctx.maintenance.store, index: ctx.coverage.areaIndex() },
 *       { areaIds: [...subtree], from: period.from, to: period.to },
 *     );
 */
import type { AlarmStore } from '../alarms/store.ts';
import type { AreaIndex } from '../coverage/coverage.ts';
import { type RepairTimeRow, repairTimes, type TimedAlarm } from './repair-times.ts';
import type { WorkOrderStore } from './store.ts';

/** Alarms read per page (as the report's faults are). */
const PAGE = 5000;

/** The commune an area stands in: itself when a commune, else its nearest commune ancestor; null above communes or outside the tree. */
export function communeKeyOf(index: AreaIndex, areaId: number): string | null {
  const n = index.byId.get(areaId);
  if (!n) return null;
  if (n.level === 'commune') return n.key;
  return index.ancestors(areaId).find((a) => a.level === 'commune')?.key ?? null;
}

export async function repairTimesOf(
  d: { alarms: Pick<AlarmStore, 'list'>; orders: Pick<WorkOrderStore, 'ofAlarms'>; index: AreaIndex },
  q: { areaIds?: readonly number[]; from: number; to: number },
): Promise<RepairTimeRow[]> {
  const alarms: TimedAlarm[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const page = await d.alarms.list({ ...(q.areaIds ? { areaIds: q.areaIds } : {}), from: q.from, to: q.to, limit: PAGE, offset });
    for (const a of page.alarms) alarms.push({ id: a.id, areaId: a.areaId, kind: a.kind, raisedAt: a.raisedAt, acknowledgedAt: a.acknowledged?.at ?? null });
    if (page.alarms.length < PAGE) break;
  }
  const orders = await d.orders.ofAlarms(alarms.map((a) => a.id));
  return repairTimes(alarms, orders, (areaId) => communeKeyOf(d.index, areaId), { from: q.from, to: q.to });
}
