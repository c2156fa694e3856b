/**
 * The nouns of the maintenance log (issue 20 item 3): a work order made from
 * an alarm or from a site (planned maintenance), its states and what a
 * person may do to it. Pure types: no I/O, no clock. Refusals are codes with
 * parameters (refusals.ts makes them catalogue errors), never prose.
 */
import type { AlarmKind } from '../alarms/model.ts';

/**
 * open: made, nobody owns it; assigned: a technician owns it; visit_planned:
 * the technician said when they go; resolved: the technician says the repair
 * is done, the site is not yet verified; closed: verified operational again
 * (a sound check heard after the resolution, never a click); cancelled: not
 * to be done (a duplicate, a planned visit called off).
 */
export const WORK_ORDER_STATES = ['open', 'assigned', 'visit_planned', 'resolved', 'closed', 'cancelled'] as const;
export type WorkOrderState = (typeof WORK_ORDER_STATES)[number];

/** States in which the order is still somebody's work (the resolved one waits for the site, not for a person). */
export const ACTIVE_STATES: ReadonlySet<WorkOrderState> = new Set<WorkOrderState>(['open', 'assigned', 'visit_planned', 'resolved']);

export type WorkOrderSource = 'alarm' | 'planned';

export interface PartUsed {
  part: string;
  quantity: number;
}

export interface WorkOrder {
  id: number;
  source: WorkOrderSource;
  /** The alarm it was made from; null for planned maintenance. */
  alarmId: string | null;
  /** The alarm's kind (the fault kind the repair times group by); null for planned maintenance. */
  faultKind: AlarmKind | null;
  siteId: string;
  /** The site's area when the order was made (scope: who may see and change it). */
  areaId: number;
  state: WorkOrderState;
  /** The technician's user id and username; null while open. */
  assignee: { userId: number; username: string } | null;
  /** The day the visit is planned for (epoch ms). */
  visitPlannedFor: number | null;
  parts: PartUsed[];
  notes: string | null;
  resolution: string | null;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  /** When a technician said it is done (the verification must be heard after it). */
  resolvedAt: number | null;
  resolvedBy: string | null;
  /** The verified sound check that closed it, and when it was closed. */
  verifiedAt: number | null;
  closedAt: number | null;
  cancelledAt: number | null;
}

/** A person's or the verification's step; each one is audited as a WorkOrderEvent. */
export type WorkOrderAction =
  | { type: 'assign'; assignee: { userId: number; username: string } }
  | { type: 'plan_visit'; on: number }
  | { type: 'record'; parts?: PartUsed[]; notes?: string | null }
  | { type: 'resolve'; resolution: string }
  | { type: 'close'; verifiedAt: number }
  | { type: 'cancel'; note: string };

/** One audited transition or change: who (a username, or 'verification' for the automatic close), when, from and to. */
export interface WorkOrderEvent {
  orderId: number;
  at: number;
  by: string;
  action: WorkOrderAction['type'] | 'create';
  from: WorkOrderState | null;
  to: WorkOrderState;
  detail: Record<string, unknown>;
}

/** A stored change of a work order: the order as the change left it, and the change's audited event. */
export interface WorkOrderChange {
  order: WorkOrder;
  event: WorkOrderEvent;
}

/** The one author of automatic closes in the audit trail. */
export const VERIFICATION_ACTOR = 'verification';

export type WorkOrderErrorCode =
  | 'WORK_ORDER_NOT_FOUND'
  | 'WORK_ORDER_STATE'
  | 'WORK_ORDER_NOT_VERIFIED'
  | 'WORK_ORDER_ASSIGNEE_OUT_OF_AREA'
  | 'WORK_ORDER_ALARM_HAS_ORDER'
  | 'WORK_ORDER_NOTE_REQUIRED';

export interface WorkOrderError {
  code: WorkOrderErrorCode;
  orderId: number | null;
  /** For WORK_ORDER_STATE: the state it is in and the refused action. */
  state?: WorkOrderState;
  action?: string;
}

export type WorkOrderResult<T> = { ok: true; value: T } | { ok: false; error: WorkOrderError };
