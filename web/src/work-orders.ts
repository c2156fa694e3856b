/**
 * Work orders in the console: the contract's types (derived from the
 * schemas of api/maintenance.ts, never declared again here), their states
 * and actions in words, which actions a state allows (as
 * server/maintenance/lifecycle.ts decides; the server refuses the rest) and
 * the technician's queue order: their own open orders first.
 */
import type { Static } from '@sinclair/typebox';
import type {
  WorkOrderAssignees as AssigneesSchema,
  WorkOrderDetail as WorkOrderDetailSchema,
  WorkOrderList as WorkOrderListSchema,
  WorkOrderRecord,
} from '../../api/maintenance.ts';
import { showDayEntry } from './date-entry.ts';
import { keyOf, localInputValue, t } from './i18n.ts';

export type { WorkOrderRecord };
export type WorkOrderDetail = Static<typeof WorkOrderDetailSchema>;
export type WorkOrderList = Static<typeof WorkOrderListSchema>;
export type WorkOrderAssignees = Static<typeof AssigneesSchema>;
export type WorkOrderState = WorkOrderRecord['state'];
export type PartUsed = WorkOrderRecord['parts'][number];

const STATE_RANK: Record<WorkOrderState, number> = { open: 0, assigned: 1, visit_planned: 2, resolved: 3, closed: 4, cancelled: 5 };
export const WORK_ORDER_STATES = Object.keys(STATE_RANK) as WorkOrderState[];

/** Not yet closed by the verification nor cancelled. */
export const isActive = (s: WorkOrderState) => s !== 'closed' && s !== 'cancelled';

export function workOrderState(s: string): string {
  const k = keyOf('woState_', s);
  return k ? t(k) : s;
}

export function workOrderAction(a: string): string {
  const k = keyOf('woAction_', a);
  return k ? t(k) : a;
}

/** The states each person's action may start from (server/maintenance/lifecycle.ts ALLOWED_FROM). */
export const ALLOWED_FROM = {
  assign: ['open', 'assigned', 'visit_planned'],
  plan_visit: ['assigned', 'visit_planned'],
  record: ['open', 'assigned', 'visit_planned', 'resolved'],
  resolve: ['assigned', 'visit_planned'],
  cancel: ['open', 'assigned', 'visit_planned', 'resolved'],
} as const satisfies Record<string, readonly WorkOrderState[]>;

export function allows(action: keyof typeof ALLOWED_FROM, s: WorkOrderState): boolean {
  return (ALLOWED_FROM[action] as readonly WorkOrderState[]).includes(s);
}

/**
 * The technician's queue: their own open orders first, then other open
 * ones, then what is over; within each, the earliest step of the lifecycle
 * first (nothing done yet before waiting for a check), then the newest.
 */
export function ownFirst(username: string): (a: WorkOrderRecord, b: WorkOrderRecord) => number {
  const group = (o: WorkOrderRecord) => (!isActive(o.state) ? 2 : o.assignee?.username === username ? 0 : 1);
  return (a, b) => group(a) - group(b) || STATE_RANK[a.state] - STATE_RANK[b.state] || b.updatedAt - a.updatedAt;
}

/** A visit day as people write it, dd/mm/yyyy in Asia/Ho_Chi_Minh (what the day field takes). */
export function visitDay(ms: number): string {
  return showDayEntry(localInputValue(ms).slice(0, 10));
}

/** "YYYY-MM-DD" (a day in Asia/Ho_Chi_Minh, which keeps UTC+7 all year) → its first instant. */
export function dayStart(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  return Date.UTC(y!, m! - 1, d!) - 7 * 3_600_000;
}
