/**
 * A work order's lifecycle, pure: which action is allowed in which state,
 * what the order becomes and the audit row it leaves; and when a site counts
 * as verified operational again. No clock: `at` is given.
 *
 *   open → assigned → visit_planned → resolved → closed
 *   any state but closed/cancelled → cancelled
 *
 * A technician's "done" (resolve) never closes: only `close`, given the
 * verified sound check's time, does, and only after the resolution
 * (isVerifiedAfter). Re-assigning and re-planning are allowed before the
 * resolution (the technician changes; the visit moves).
 */
import type { PartUsed, WorkOrder, WorkOrderAction, WorkOrderError, WorkOrderEvent, WorkOrderResult, WorkOrderState } from './model.ts';

/** The states each action may start from. */
const ALLOWED_FROM: Record<WorkOrderAction['type'], ReadonlySet<WorkOrderState>> = {
  assign: new Set(['open', 'assigned', 'visit_planned']),
  plan_visit: new Set(['assigned', 'visit_planned']),
  record: new Set(['open', 'assigned', 'visit_planned', 'resolved']),
  resolve: new Set(['assigned', 'visit_planned']),
  close: new Set(['resolved']),
  cancel: new Set(['open', 'assigned', 'visit_planned', 'resolved']),
};

/** What the site's state must show for an order resolved at `resolvedAt` to be closed. */
export interface SiteVerification {
  /** The fleet's last verified (ok) sound check of the site, dated by the server; null: never heard. */
  lastSoundVerifiedAt: number | null;
  /** The site's verdict now; undefined when the fleet does not know it. */
  condition: string | undefined;
  /**
   * Since when the site has been in that condition (the verdict's `since`).
   * Null when the check is the one just heard and `condition` the verdict it
   * left (the fleet's sound-check event): it was heard with the site in it.
   */
  conditionSince: number | null;
}

/**
 * Verified operational again: a sound check heard strictly after the
 * resolution (one heard before it proves nothing about the repair), the
 * site's verdict operational, and the check heard while it was operational
 * — a check heard on a site still faulty (one speaker line of three open
 * still sounds) is no proof the repair that followed worked, so the fault
 * clearing later does not close the order on that old check; the next
 * check does.
 */
export function isVerifiedAfter(resolvedAt: number, site: SiteVerification): boolean {
  const heard = site.lastSoundVerifiedAt;
  if (heard === null || heard <= resolvedAt || site.condition !== 'operational') return false;
  return site.conditionSince === null || heard >= site.conditionSince;
}

const refuse = (order: WorkOrder, action: WorkOrderAction['type']): { ok: false; error: WorkOrderError } => ({
  ok: false,
  error: { code: 'WORK_ORDER_STATE', orderId: order.id, state: order.state, action },
});

function cleanParts(parts: readonly PartUsed[]): PartUsed[] {
  return parts.map((p) => ({ part: p.part.trim(), quantity: p.quantity }));
}

/** The order after `action` by `by` at `at`, and its audit row; or why not. */
export function applyAction(order: WorkOrder, action: WorkOrderAction, by: string, at: number): WorkOrderResult<{ order: WorkOrder; event: WorkOrderEvent }> {
  if (!ALLOWED_FROM[action.type].has(order.state)) return refuse(order, action.type);
  let next: WorkOrder;
  let detail: Record<string, unknown>;
  switch (action.type) {
    case 'assign':
      next = { ...order, state: order.state === 'open' ? 'assigned' : order.state, assignee: action.assignee };
      detail = { assignee: action.assignee.username };
      break;
    case 'plan_visit':
      next = { ...order, state: 'visit_planned', visitPlannedFor: action.on };
      detail = { on: action.on };
      break;
    case 'record':
      next = {
        ...order,
        ...(action.parts !== undefined ? { parts: cleanParts(action.parts) } : {}),
        ...(action.notes !== undefined ? { notes: action.notes } : {}),
      };
      detail = { ...(action.parts !== undefined ? { parts: next.parts } : {}), ...(action.notes !== undefined ? { notes: action.notes } : {}) };
      break;
    case 'resolve':
      if (action.resolution.trim() === '') return { ok: false, error: { code: 'WORK_ORDER_NOTE_REQUIRED', orderId: order.id } };
      next = { ...order, state: 'resolved', resolution: action.resolution, resolvedAt: at, resolvedBy: by };
      detail = { resolution: action.resolution };
      break;
    case 'close':
      // The caller checked the site (isVerifiedAfter); this only refuses a verification older than the resolution.
      if (order.resolvedAt === null || action.verifiedAt <= order.resolvedAt) return { ok: false, error: { code: 'WORK_ORDER_NOT_VERIFIED', orderId: order.id } };
      next = { ...order, state: 'closed', verifiedAt: action.verifiedAt, closedAt: at };
      detail = { verifiedAt: action.verifiedAt };
      break;
    case 'cancel':
      if (action.note.trim() === '') return { ok: false, error: { code: 'WORK_ORDER_NOTE_REQUIRED', orderId: order.id } };
      next = { ...order, state: 'cancelled', cancelledAt: at, notes: order.notes === null ? action.note : `${order.notes}\n${action.note}` };
      detail = { note: action.note };
      break;
    default: {
      const never: never = action;
      throw new Error(`unknown work order action ${JSON.stringify(never)}`);
    }
  }
  next = { ...next, updatedAt: at };
  return { ok: true, value: { order: next, event: { orderId: order.id, at, by, action: action.type, from: order.state, to: next.state, detail } } };
}
