/**
 * Errors loanet reports to people, from the catalogue in api/error-catalogue.ts:
 * a stable code with typed parameters. The status and the English message
 * come from the catalogue; the console words the same code and parameters in
 * the user's language, so the server holds no Vietnamese prose.
 * `fail('LOANET_ITEM_NOT_DRAFT', { title, status })` does not compile with
 * the wrong parameters.
 */
import { ERROR_CATALOGUE, type ErrorCode, type ErrorParams, type TextErrorCode } from '../api/error-catalogue.ts';

export type { ErrorCode, ErrorParams } from '../api/error-catalogue.ts';

/** Fields sent beside the code's parameters at the top of the answer, for clients that read them there (limit, retryAfterS, conflicts …). */
export type ErrorDetails = Record<string, unknown>;

export class LoanetError<C extends ErrorCode = ErrorCode> extends Error {
  readonly statusCode: number;
  /** The top-level fields of the answer besides error, message and params: `field` (from the params) and `details`. */
  readonly details: ErrorDetails;
  constructor(
    readonly code: C,
    readonly params: ErrorParams[C],
    details: ErrorDetails = {},
  ) {
    const spec = ERROR_CATALOGUE[code];
    super(spec.en(params));
    this.name = 'LoanetError';
    this.statusCode = spec.status;
    const field = (params as { field?: unknown }).field;
    this.details = typeof field === 'string' ? { field, ...details } : details;
  }
}

/** The error of a catalogue code, to throw. */
export function fail<C extends ErrorCode>(code: C, params: ErrorParams[C], details?: ErrorDetails): LoanetError<C> {
  return new LoanetError(code, params, details);
}

/**
 * The error of a core that words its own finding (a media analysis, a CAP
 * check, a relay probe): its code must be one of the catalogue's text codes;
 * a code outside them is reported as `fallback` (and the error handler logs
 * any code the catalogue lacks).
 */
export function failWithText(
  code: string,
  fallback: TextErrorCode,
  text: string,
  details?: ErrorDetails & { field?: string },
  /** The finding's own parameters (a limit, a duration, a reason code) that the console words it from; `text` is then technical detail. */
  more?: Record<string, string | number>,
): LoanetError {
  const c = (isTextCode(code) ? code : fallback) as TextErrorCode;
  const field = details?.field;
  return new LoanetError(c, { ...more, text, ...(typeof field === 'string' ? { field } : {}) }, details);
}

const TEXT_CODES: ReadonlySet<string> = new Set<TextErrorCode>([
  'LOANET_MEDIA_EMPTY',
  'LOANET_MEDIA_TOO_LARGE',
  'LOANET_MEDIA_NOT_AUDIO',
  'LOANET_MEDIA_DAMAGED',
  'LOANET_MEDIA_SILENT',
  'LOANET_MEDIA_TOO_LONG',
  'LOANET_MEDIA_FORMAT',
  'LOANET_MEDIA_QUEUE_FULL',
  'LOANET_MEDIA_FAILED',
  'LOANET_MEDIA_ABORTED',
  'LOANET_DOCX_INVALID',
  'LOANET_DOCX_TOO_LARGE',
  'LOANET_OFFTHREAD_FAILED',
  'LOANET_OFFTHREAD_TIMEOUT',
  'LOANET_OFFTHREAD_MEMORY',
  'LOANET_TTS_UNAVAILABLE',
  'LOANET_TTS_NO_VOICE',
  'LOANET_ALERT_EXPIRED',
  'LOANET_CAP_INVALID',
  'LOANET_CAP_ENCODING',
  'LOANET_CAP_LINK_ONLY',
  'LOANET_CAP_NO_ALERT',
  'LOANET_CAP_ENVELOPE_TOO_LARGE',
  'LOANET_CAP_NO_AREA',
  'LOANET_CAP_NOTHING_TO_PLAY',
  'LOANET_CAP_NOT_FOR_BROADCAST',
  'LOANET_RELAY_URL',
  'LOANET_RELAY_REFUSED',
  'LOANET_RELAY_UNREACHABLE',
  'LOANET_RELAY_NOT_AUDIO',
  'LOANET_REQUEST_TIMEOUT',
  'LOANET_TOO_MANY_CONNECTIONS',
]);

function isTextCode(code: string): code is TextErrorCode {
  return TEXT_CODES.has(code);
}

/** Shorthands for the codes thrown most. */
export const Errors = {
  /** `field`: the request field that named it, when it was named in the body. */
  notFound: (thing: ErrorParams['LOANET_NOT_FOUND']['thing'], id: string | number, of?: string, field?: string) =>
    fail('LOANET_NOT_FOUND', { thing, id: String(id), ...(of === undefined ? {} : { of }) }, field === undefined ? undefined : { field }),
  badRequest: (text: string, field: string) => fail('LOANET_BAD_REQUEST', { field, text }),
  unauthenticated: () => fail('LOANET_UNAUTHENTICATED', {}),
  badCredentials: () => fail('LOANET_BAD_CREDENTIALS', {}),
  forbidden: (p: ErrorParams['LOANET_FORBIDDEN'], details?: ErrorDetails) => fail('LOANET_FORBIDDEN', p, details),
  unavailable: (reason: ErrorParams['LOANET_UNAVAILABLE']['reason'], text: string) => fail('LOANET_UNAVAILABLE', { reason, text }),
  /** A write the server paused to keep room for logins, alerts and receipts (server/store/disk-policy.ts). */
  diskLow: (text: string, state: string, freeBytes: number) => fail('LOANET_DISK_LOW', { state, freeBytes, text }, { field: 'disk', state, freeBytes }),
  /** A write that failed because the data folder's disk is full (ENOSPC, SQLITE_FULL): nothing of it was kept. */
  diskFull: (state?: string) => fail('LOANET_DISK_FULL', state === undefined ? {} : { state }, { field: 'disk', ...(state === undefined ? {} : { state }) }),
  /** A write the database server refused because its own disk is full (PostgreSQL 53100): nothing of it was kept. */
  databaseDiskFull: () => fail('LOANET_DATABASE_DISK_FULL', {}, { field: 'database' }),
} as const;

/** A start-up problem: printed as one line naming what is wrong and which variable to change. */
export class StartupError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}
