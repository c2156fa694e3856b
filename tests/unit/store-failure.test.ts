/** Which errors come from the store, and which of those pass by themselves (server/store/failure.ts), pure. */
import { describe, expect, it } from 'vitest';
import { isConnectionLost, isDatabaseDiskFull, isDatabaseServerError, isStoreFailure, isStoreUnavailable } from '../../server/store/failure.ts';

const pgError = (code: string, message = 'pg') => Object.assign(new Error(message), { code });

describe('isStoreFailure', () => {
  it('is a store error (the event was not stored) for SQLite and disk codes, a refusal for anything else', () => {
    expect(isStoreFailure(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(true);
    expect(isStoreFailure(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }))).toBe(true);
    expect(isStoreFailure(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(true);
    expect(isStoreFailure(new Error('alert alr-x is not known'))).toBe(false);
    expect(isStoreFailure(undefined)).toBe(false);
  });

  it('on PostgreSQL: a database that cannot do it now is a store error, a row that breaks a constraint a refusal', () => {
    expect(isStoreFailure(pgError('53100', 'could not extend file: No space left on device'))).toBe(true);
    expect(isStoreFailure(pgError('08006', 'connection failure'))).toBe(true);
    expect(isStoreFailure(pgError('57014', 'canceling statement due to statement timeout'))).toBe(true);
    expect(isStoreFailure(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isStoreFailure(pgError('40001', 'could not serialize access'))).toBe(true);
    expect(isStoreFailure(pgError('25006', 'cannot execute INSERT in a read-only transaction'))).toBe(true);
    expect(isStoreFailure(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
    expect(isStoreFailure(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isStoreFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStoreFailure(pgError('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isStoreFailure(pgError('23503', 'insert or update violates foreign key constraint'))).toBe(false);
    expect(isStoreFailure(pgError('22P02', 'invalid input syntax'))).toBe(false);
  });
});

describe('isStoreUnavailable', () => {
  it('a database that will answer again soon: busy, locked, its connection lost or not to be had, a cancelled statement, a restart, a standby', () => {
    expect(isStoreUnavailable(pgError('SQLITE_BUSY', 'database is locked'))).toBe(true);
    expect(isStoreUnavailable(pgError('SQLITE_BUSY_SNAPSHOT'))).toBe(true);
    expect(isStoreUnavailable(pgError('SQLITE_LOCKED'))).toBe(true);
    expect(isStoreUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isStoreUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStoreUnavailable(pgError('57014', 'canceling statement due to statement timeout'))).toBe(true);
    expect(isStoreUnavailable(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isStoreUnavailable(pgError('57P03', 'the database system is starting up'))).toBe(true);
    expect(isStoreUnavailable(pgError('08006', 'connection failure'))).toBe(true);
    expect(isStoreUnavailable(pgError('40P01', 'deadlock detected'))).toBe(true);
    expect(isStoreUnavailable(pgError('53300', 'sorry, too many clients already'))).toBe(true);
    expect(isStoreUnavailable(pgError('25006', 'cannot execute INSERT in a read-only transaction'))).toBe(true);
    expect(isStoreUnavailable(pgError('55P03', 'could not obtain lock'))).toBe(true);
  });

  it('not a full disk, a broken or deleted database, an I/O error, a wrong row, nor an error from elsewhere', () => {
    expect(isStoreUnavailable(pgError('SQLITE_FULL', 'database or disk is full'))).toBe(false);
    expect(isStoreUnavailable(pgError('53100', 'could not extend file: No space left on device'))).toBe(false);
    expect(isStoreUnavailable(pgError('SQLITE_CORRUPT', 'database disk image is malformed'))).toBe(false);
    expect(isStoreUnavailable(pgError('SQLITE_IOERR_WRITE', 'disk I/O error'))).toBe(false);
    expect(isStoreUnavailable(pgError('XX001', 'invalid page in block'))).toBe(false);
    expect(isStoreUnavailable(pgError('ENOSPC', 'no space'))).toBe(false);
    // A socket of something else a route talks to: not the database.
    expect(isStoreUnavailable(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080'))).toBe(false);
    expect(isStoreUnavailable(pgError('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isStoreUnavailable(new Error('alert alr-x is not known'))).toBe(false);
    expect(isStoreUnavailable(undefined)).toBe(false);
  });
});

describe("the database server's own disk", () => {
  // What pg's DatabaseError carries: the SQLSTATE and the severity the server sent.
  const fromServer = (code: string, message: string) => Object.assign(pgError(code, message), { severity: 'ERROR' });

  it('full is SQLSTATE 53100, whatever the words; not the data folder disk codes', () => {
    expect(isDatabaseDiskFull(fromServer('53100', 'could not extend file "base/5/16390": No space left on device'))).toBe(true);
    expect(isDatabaseDiskFull(fromServer('53100', 'could not write to file "base/pgsql_tmp/pgsql_tmp1.0": No space left on device'))).toBe(true);
    expect(isDatabaseDiskFull(fromServer('53200', 'out of memory'))).toBe(false);
    expect(isDatabaseDiskFull(pgError('SQLITE_FULL', 'database or disk is full'))).toBe(false);
    expect(isDatabaseDiskFull(pgError('ENOSPC', 'no space left on device'))).toBe(false);
    expect(isDatabaseDiskFull(undefined)).toBe(false);
  });

  it("an error the database server reported has a SQLSTATE and a severity; a local socket's or file's error has neither", () => {
    expect(isDatabaseServerError(fromServer('53100', 'could not extend file: No space left on device'))).toBe(true);
    expect(isDatabaseServerError(fromServer('23505', 'duplicate key value'))).toBe(true);
    // EPIPE has five capitals too: without the severity it is this machine's.
    expect(isDatabaseServerError(pgError('EPIPE', 'write EPIPE'))).toBe(false);
    expect(isDatabaseServerError(pgError('ENOSPC', 'no space left on device'))).toBe(false);
    expect(isDatabaseServerError(new Error('Connection terminated unexpectedly'))).toBe(false);
  });
});

describe('isConnectionLost', () => {
  const withSeverity = (code: string, severity: string, message: string) => Object.assign(pgError(code, message), { severity });

  it('the session ended (FATAL or PANIC from the database), the link broke, or pg found the connection closed', () => {
    expect(isConnectionLost(withSeverity('57P01', 'FATAL', 'terminating connection due to administrator command'))).toBe(true);
    expect(isConnectionLost(withSeverity('57P02', 'FATAL', 'terminating connection because of crash of another server process'))).toBe(true);
    expect(isConnectionLost(withSeverity('25P03', 'FATAL', 'terminating connection due to idle-in-transaction timeout'))).toBe(true);
    expect(isConnectionLost(withSeverity('XX000', 'PANIC', 'could not write to file "pg_wal/xlogtemp"'))).toBe(true);
    expect(isConnectionLost(pgError('08006', 'connection failure'))).toBe(true);
    expect(isConnectionLost(pgError('ECONNRESET', 'read ECONNRESET'))).toBe(true);
    expect(isConnectionLost(pgError('EPIPE', 'write EPIPE'))).toBe(true);
    expect(isConnectionLost(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionLost(new Error('Client has encountered a connection error and is not queryable'))).toBe(true);
  });

  it('not a statement the database refused on a connection that stays open', () => {
    expect(isConnectionLost(withSeverity('57014', 'ERROR', 'canceling statement due to statement timeout'))).toBe(false);
    expect(isConnectionLost(withSeverity('40P01', 'ERROR', 'deadlock detected'))).toBe(false);
    expect(isConnectionLost(withSeverity('53100', 'ERROR', 'could not extend file: No space left on device'))).toBe(false);
    expect(isConnectionLost(withSeverity('23505', 'ERROR', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isConnectionLost(new Error('timeout exceeded when trying to connect'))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
  });
});
