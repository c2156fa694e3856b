/**
 * A person's action on an alarm that the engine refused (model.ts
 * AlarmErrorCode), as the error of the catalogue the HTTP answer carries:
 * its status and English there (api/error-catalogue.ts), its words in both
 * languages in the console (web/src/strings/errors.ts). The engine itself
 * knows no status and no prose.
 */
import type { ErrorCode } from '../../api/error-catalogue.ts';
import { fail, type LoanetError } from '../errors.ts';
import type { AlarmError, AlarmErrorCode } from './model.ts';

/** Total: a new refusal code does not compile until it has its catalogue code. */
export const CATALOGUE_CODE_OF_REFUSAL = {
  ALARM_NOT_FOUND: 'LOANET_ALARM_NOT_FOUND',
  ALARM_NOT_RAISED: 'LOANET_ALARM_NOT_RAISED',
  ALARM_ALREADY_ACKNOWLEDGED: 'LOANET_ALARM_ALREADY_ACKNOWLEDGED',
  ALARM_ALREADY_CLEARED: 'LOANET_ALARM_ALREADY_CLEARED',
  ALARM_CONDITION_ACTIVE: 'LOANET_ALARM_CONDITION_ACTIVE',
  ALARM_NOTE_REQUIRED: 'LOANET_ALARM_NOTE_REQUIRED',
} as const satisfies Record<AlarmErrorCode, ErrorCode>;

/** The error to throw for a refusal; the note is the request's `note` field. */
export function alarmRefusal(e: AlarmError): LoanetError {
  const id = e.alarmId;
  switch (e.code) {
    case 'ALARM_NOTE_REQUIRED':
      return fail('LOANET_ALARM_NOTE_REQUIRED', { id, field: 'note' });
    case 'ALARM_NOT_FOUND':
    case 'ALARM_NOT_RAISED':
    case 'ALARM_ALREADY_ACKNOWLEDGED':
    case 'ALARM_ALREADY_CLEARED':
    case 'ALARM_CONDITION_ACTIVE':
      return fail(CATALOGUE_CODE_OF_REFUSAL[e.code], { id });
    default: {
      const never: never = e.code;
      throw new Error(`unknown alarm refusal ${String(never)}`);
    }
  }
}
