/**
 * The catalogue of errors loanet reports to people: stable codes (never
 * reused), an HTTP status, and a message that says what to do. Routes throw
 * `LoanetError`; one error handler turns it into `{error, code, message}`.
 */
export class LoanetError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'LoanetError';
  }
}

export const Errors = {
  badRequest: (message: string, field?: string) =>
    new LoanetError('LOANET_BAD_REQUEST', 400, message, field ? { field } : undefined),
  unauthenticated: () =>
    new LoanetError('LOANET_UNAUTHENTICATED', 401, 'authentication required: send Authorization: Bearer <token> (POST /api/auth/login gives one)'),
  badCredentials: () => new LoanetError('LOANET_BAD_CREDENTIALS', 401, 'wrong username or password'),
  forbidden: (what: string) => new LoanetError('LOANET_FORBIDDEN', 403, `not allowed: ${what}`),
  notFound: (what: string) => new LoanetError('LOANET_NOT_FOUND', 404, `${what} not found`),
  conflict: (message: string) => new LoanetError('LOANET_CONFLICT', 409, message),
  tooManyRequests: (message: string) => new LoanetError('LOANET_RATE_LIMITED', 429, message),
  unavailable: (message: string) => new LoanetError('LOANET_UNAVAILABLE', 503, message),
  /** A write the server paused to keep room for logins, alerts and receipts (server/store/disk-policy.ts). */
  diskLow: (message: string, details: Record<string, unknown>) => new LoanetError('LOANET_DISK_LOW', 507, message, { field: 'disk', ...details }),
  /** A write that failed because the data folder's disk is full (ENOSPC, SQLITE_FULL): nothing of it was kept. */
  diskFull: (details: Record<string, unknown>) =>
    new LoanetError(
      'LOANET_DISK_FULL',
      507,
      'not saved: the disk of the data folder (LOANET_DATA_DIR) is full; nothing stored before was lost. Free space on that disk (retire old media in the library, move backups and logs elsewhere) and try again',
      { field: 'disk', ...details },
    ),
  csrf: (why: string) =>
    new LoanetError('LOANET_CSRF', 403, `refused: ${why}; a request authenticated by the session cookie must send the X-CSRF-Token header the login answered, from the console's own origin`),
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
