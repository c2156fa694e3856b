/**
 * Which errors come from the store itself rather than from what was asked of
 * it, and which of those are passing: the fleet's ingest does not acknowledge
 * an event its store failed on (the site sends it again), and an HTTP request
 * the database could not answer now is told to come back (503 with
 * Retry-After), not "internal error".
 */

/**
 * An error from the store itself (a full disk, an I/O error, a locked or
 * read-only database; on PostgreSQL a lost connection, a timeout, a database
 * out of room or shutting down): the event was not stored and must not be
 * acknowledged, so the site keeps it and sends it again. Anything else thrown
 * while applying an event is a refusal of that event (it breaks an invariant:
 * an unknown alert, a site not targeted), which sending again cannot change.
 * A constraint the row breaks on PostgreSQL (SQLSTATE class 23) is such a
 * refusal: the same row breaks it every time.
 */
export function isStoreFailure(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) {
    if (code.startsWith('SQLITE_') || SYSTEM_FAILURES.has(code)) return true;
    if (isSqlState(code)) return POSTGRES_FAILURE_CLASSES.has(code.slice(0, 2)) || POSTGRES_FAILURES.has(code);
    return false;
  }
  return isPostgresClientFailure(err);
}

/**
 * A store failure that passes by itself, so the same request may well succeed
 * in a few seconds: the database busy or locked, its connection lost or not
 * to be had from the pool in time, a statement cancelled for taking too long,
 * the database restarting, a standby not yet promoted. A full disk (507), a
 * deleted or corrupt database, or an I/O error does not pass by itself and is
 * not one.
 */
export function isStoreUnavailable(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined) {
    if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_LOCKED_')) return true;
    // 53100 is a full disk: said as such elsewhere, and it does not pass by itself.
    if (isSqlState(code)) return (PASSING_CLASSES.has(code.slice(0, 2)) && code !== '53100') || POSTGRES_FAILURES.has(code);
    return false;
  }
  return isPostgresClientFailure(err);
}

/**
 * The database server's own disk is full (PostgreSQL SQLSTATE 53100: a table,
 * an index or a temporary file could not grow). Not the data folder's disk:
 * the server's reserve there does not help, and what must be freed is on the
 * database server.
 */
export function isDatabaseDiskFull(err: unknown): boolean {
  return codeOf(err) === '53100';
}

/**
 * An error the database server reported (pg's DatabaseError: a SQLSTATE and
 * a severity), whatever its wording: a "No space left on device" in it is the
 * database server's disk, not this machine's.
 */
export function isDatabaseServerError(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && isSqlState(code) && typeof (err as { severity?: unknown }).severity === 'string';
}

/**
 * The statement failed because its connection is gone: the database ended
 * the session (a FATAL or PANIC error: terminated, shut down, restarting),
 * the link broke (SQLSTATE class 08, a socket error), or pg found the
 * connection closed. That connection must not serve another statement.
 */
export function isConnectionLost(err: unknown): boolean {
  const severity = (err as { severity?: unknown } | null)?.severity;
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  const code = codeOf(err);
  if (code !== undefined) return code.startsWith('08') || CONNECTION_ERRORS.has(code);
  return err instanceof Error && POSTGRES_CONNECTION_LOST.test(err.message);
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};
/** A PostgreSQL SQLSTATE: five characters, the first two its class. */
const isSqlState = (code: string) => /^[0-9A-Z]{5}$/.test(code);
/** pg's pool and client say these without a code. */
const isPostgresClientFailure = (err: unknown) => err instanceof Error && POSTGRES_CLIENT_FAILURE.test(err.message);

/** The disk or the network between the server and its database. */
const SYSTEM_FAILURES = new Set([
  'ENOSPC',
  'EIO',
  'EROFS',
  'EDQUOT',
  'EMFILE',
  'ENFILE',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
/**
 * SQLSTATE classes that say the database could not do it now, not that the
 * row is wrong: 08 connection, 40 transaction rollback (serialization,
 * deadlock), 53 insufficient resources (disk full, out of memory), 57
 * operator intervention (a shutdown, a statement timeout), 58 system error,
 * XX internal error.
 */
const POSTGRES_FAILURE_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);
/** Of those, the ones that pass by themselves: connection, rollback (a deadlock, a serialization failure), resources (too many connections, out of memory), operator intervention (a shutdown, a cancelled statement). */
const PASSING_CLASSES = new Set(['08', '40', '53', '57']);
/** 25006: a read-only transaction (a standby); 55P03: a lock not available in time. */
const POSTGRES_FAILURES = new Set(['25006', '55P03']);
/** Socket errors of a connection that was open. */
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
/** pg's words for a connection it found ended or broken. */
const POSTGRES_CONNECTION_LOST = /Connection terminated|connection error|Client was closed|not queryable/i;
/** pg's pool and client failing without a code: no connection to be had in time, or one lost. */
const POSTGRES_CLIENT_FAILURE = new RegExp(`timeout exceeded when trying to connect|${POSTGRES_CONNECTION_LOST.source}`, 'i');
