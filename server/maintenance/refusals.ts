/**
 * A refusal of the maintenance log (model.ts WorkOrderErrorCode) as the
 * catalogue's error: status and English there (api/error-catalogue.ts),
 * Vietnamese and English in the console (web/src/strings/errors.ts).
 */
import { fail, type LoanetError } from '../errors.ts';
import type { WorkOrderError } from './model.ts';

/** `field` is the request's field a missing note belongs to; `alarmId` the one asked for. */
export function workOrderRefusal(e: WorkOrderError, ctx: { field?: string; alarmId?: string; userId?: number } = {}): LoanetError {
  const id = e.orderId ?? 0;
  switch (e.code) {
    case 'WORK_ORDER_NOT_FOUND':
      return fail('LOANET_WORK_ORDER_NOT_FOUND', { id: e.orderId ?? ctx.alarmId ?? '' });
    case 'WORK_ORDER_STATE':
      return fail('LOANET_WORK_ORDER_STATE', { id, state: e.state ?? '', action: e.action ?? '' });
    case 'WORK_ORDER_NOT_VERIFIED':
      return fail('LOANET_WORK_ORDER_NOT_VERIFIED', { id });
    case 'WORK_ORDER_ASSIGNEE_OUT_OF_AREA':
      return fail('LOANET_WORK_ORDER_ASSIGNEE', { id, userId: ctx.userId ?? 0 });
    case 'WORK_ORDER_ALARM_HAS_ORDER':
      return fail('LOANET_WORK_ORDER_ALARM_HAS_ORDER', { alarmId: ctx.alarmId ?? '' });
    case 'WORK_ORDER_NOTE_REQUIRED':
      return fail('LOANET_WORK_ORDER_NOTE_REQUIRED', { id, field: ctx.field ?? 'note' });
    default: {
      const never: never = e.code;
      throw new Error(`unknown work order refusal ${String(never)}`);
    }
  }
}
