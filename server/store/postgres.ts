/**
 * The PostgreSQL side of the store: a bounded connection pool whose BIGINT
 * columns read back as numbers, and the migrations run under a lock.
 */
import { type Kysely, type PostgresCursor, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult, sql } from 'kysely';
import pg from 'pg';
import { StartupError } from '../errors.ts';
import { isConnectionLost } from './failure.ts';
import type { Migration } from './migrations.ts';
import { POSTGRES_BASELINE, POSTGRES_BASELINE_VERSION } from './postgres-baseline.ts';
import type { Database } from './schema.ts';

export interface PostgresPoolOptions {
  /** Connections at most: each server holds this many at peak, and PostgreSQL's max_connections (100 by default) bounds them all. */
  max: number;
  /** A statement running longer is cancelled by PostgreSQL, so a lock wait or a runaway query cannot hold a connection for ever. */
  statementTimeoutMs: number;
  /** Set on every connection of the pool (tests: one schema per test). */
  searchPath?: string;
}

const INT8_OID = 20;

/**
 * BIGINT (epoch ms, ids, counts, COUNT(*)) as a JavaScript number, as SQLite
 * gives them. pg returns them as strings by default because a BIGINT may pass
 * 2^53; loanet's never do (a millisecond time reaches 2^53 in the year
 * 287,396), and a value that did is an error, not a silently rounded number.
 */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${text} is beyond 2^53 and cannot be read as a number without loss`);
  return n;
}

function typeParser(oid: number, format?: string): (text: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') return parseInt8;
  return pg.types.getTypeParser(oid, (format ?? 'text') as 'text');
}

export function postgresPool(url: string, opts: PostgresPoolOptions): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max: opts.max,
    statement_timeout: opts.statementTimeoutMs,
    // A server that cannot reach its database says so at start instead of waiting for ever.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // Per pool, not pg.types.setTypeParser: nothing else in the process that uses pg is changed.
    types: { getTypeParser: typeParser as pg.CustomTypesConfig['getTypeParser'] },
    ...(opts.searchPath ? { options: `-c search_path=${opts.searchPath}` } : {}),
  });
}

/**
 * The pool as Kysely uses it, with one difference: a connection whose
 * statement failed because the connection itself is gone (terminated by the
 * database, a restart, a broken link) is closed on release instead of going
 * back to the pool. pg marks such a connection unusable only once it reads
 * the socket's end, which may come after the statement has already failed
 * and been released: the next request would then get the dead connection and
 * fail too, although the database is answering again.
 */
export function closingLostConnections(pool: pg.Pool): PostgresPool {
  return {
    Client: pg.Client,
    options: pool.options,
    connect: async (): Promise<PostgresPoolClient> => {
      const client = await pool.connect();
      let lost = false;
      const noteLoss = (e: unknown) => {
        if (isConnectionLost(e)) lost = true;
        throw e;
      };
      function query<R>(sqlText: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
      function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
      function query<R>(first: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
        // A cursor (streamed rows) is not used by loanet: passed on as it is.
        if (typeof first !== 'string') return client.query(first as unknown as pg.Submittable) as unknown as PostgresCursor<R>;
        return (client.query(first, parameters as unknown[]) as unknown as Promise<PostgresQueryResult<R>>).catch(noteLoss);
      }
      return {
        get processID() {
          return (client as { processID?: number }).processID;
        },
        query,
        release: (destroy?: boolean) => client.release(destroy === true || lost),
      };
    },
    end: () => pool.end(),
  };
}

/** The URL as it may be logged or shown: its password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a URL at all: nothing in it can be told apart from a password.
    return '(a value that is not a URL)';
  }
}

/**
 * Brings a PostgreSQL store's schema up to date. Several servers may start
 * at once on one database (issue 18: two or more servers, one province):
 * each takes a session advisory lock first, so one migrates while the others
 * wait and then find nothing left to do. The lock is keyed by the schema, so
 * stores in other schemas of the same database (tests) do not wait for each
 * other. Each step runs in one transaction with its schema_migrations rows.
 *
 * A new store gets the baseline (postgres-baseline.ts) recorded as versions
 * 1..POSTGRES_BASELINE_VERSION applied, then every later migration's
 * `postgres` SQL.
 */
export async function migratePostgres(db: Kysely<Database>, migrations: readonly Migration[], now: () => number = Date.now): Promise<void> {
  await db.connection().execute(async (conn) => {
    // Neither waiting for another server's migration nor a long one of its own is a runaway statement.
    await sql`SET statement_timeout = 0`.execute(conn);
    await sql`SELECT pg_advisory_lock(hashtext('loanet.migrate.' || current_schema()))`.execute(conn);
    try {
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`.execute(conn);
      const applied = new Set((await conn.selectFrom('schema_migrations').select('version').execute()).map((r) => r.version));
      const current = Math.max(0, ...applied);
      const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
      if (current > latest) {
        throw new StartupError(
          'LOANET_STORE_TOO_NEW',
          `the store's schema version ${current} is newer than this loanet knows (${latest}); run a newer loanet or point LOANET_DATABASE_URL elsewhere`,
        );
      }
      const step = async (sqlText: string, versions: ReadonlyArray<Pick<Migration, 'version' | 'name'>>) => {
        await sql`BEGIN`.execute(conn);
        try {
          // No parameters: pg sends it as one simple query, which may hold many statements.
          await sql.raw(sqlText).execute(conn);
          const at = now();
          await conn
            .insertInto('schema_migrations')
            .values(versions.map((m) => ({ version: m.version, name: m.name, applied_at: at })))
            .execute();
          await sql`COMMIT`.execute(conn);
        } catch (e) {
          await sql`ROLLBACK`.execute(conn);
          throw e;
        }
      };
      if (applied.size === 0) {
        const base = migrations.filter((m) => m.version <= POSTGRES_BASELINE_VERSION);
        if (base.length !== POSTGRES_BASELINE_VERSION) {
          throw new Error(`a new PostgreSQL store starts from the baseline of versions 1..${POSTGRES_BASELINE_VERSION}: all of them must be given`);
        }
        await step(POSTGRES_BASELINE, base);
        for (const m of base) applied.add(m.version);
      }
      // By version applied, not by the highest one, as SQLite's migrate does.
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(m.version)) continue;
        if (m.postgres === undefined) {
          // Only a migration at or below the baseline lacks it, and a store with any history has the whole baseline.
          throw new Error(`migration ${m.version} has no PostgreSQL SQL and is not in this store's baseline`);
        }
        await step(m.postgres, [m]);
      }
    } finally {
      // A failed unlock must not hide why migrating failed; a broken connection's session (and lock) ends with it.
      await sql`SELECT pg_advisory_unlock(hashtext('loanet.migrate.' || current_schema()))`.execute(conn).catch(() => undefined);
      // Back to the pool's statement_timeout (a start-up parameter of the connection) for whoever uses it next.
      await sql`RESET statement_timeout`.execute(conn).catch(() => undefined);
    }
  });
}

export async function postgresSchemaVersion(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('schema_migrations')
    .select((eb) => eb.fn.max('version').as('v'))
    .executeTakeFirst();
  return row?.v ?? 0;
}
