/**
 * Opens the store the configuration names: SQLite in the data folder (the
 * default: one machine, no other process) or PostgreSQL at
 * LOANET_DATABASE_URL (a province on proven infrastructure, several servers).
 * Either way every store queries it through one Kysely<Database>
 * (schema.ts), and their APIs are async.
 */
import { Kysely, PostgresDialect, sql, SqliteDialect } from 'kysely';
import { StartupError } from '../errors.ts';
import type { Logger } from '../fleet/broker.ts';
import { openDatabase, schemaVersion, walSync, type Db } from './db.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';
import { closingLostConnections, migratePostgres, postgresPool, postgresSchemaVersion, redactUrl } from './postgres.ts';
import type { Database } from './schema.ts';
import { cachingSqliteDatabase } from './statement-cache.ts';

export type StoreDialect = 'sqlite' | 'postgres';

/**
 * The database's clock in ms, as an expression each statement evaluates when
 * it runs (PostgreSQL clock_timestamp(); SQLite's 'now', the one machine's
 * clock): servers whose clocks disagree still agree on who holds what.
 */
export function databaseNowMs(dialect: StoreDialect) {
  return dialect === 'postgres' ? sql<number>`(floor(extract(epoch from clock_timestamp()) * 1000))::bigint` : sql<number>`CAST(unixepoch('subsec') * 1000 AS INTEGER)`;
}

export interface Store {
  readonly dialect: StoreDialect;
  readonly db: Kysely<Database>;
  /** SQLite only: the raw connection under Kysely's (online backup, integrity checks); no store queries it. */
  readonly sqlite: Db | undefined;
  /**
   * Resolves once every commit so far survives a power cut: what the server
   * acknowledges to a site waits for it (fleet/event-acks.ts). SQLite: one
   * fsync of the WAL (db.ts walSync). PostgreSQL: a commit is durable when it
   * returns (synchronous_commit), so nothing is left to do.
   */
  durable(): Promise<void>;
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreConfig {
  dataDir: string;
  /** postgres://… ; null = SQLite in dataDir. */
  databaseUrl: string | null;
  /** PostgreSQL pool size (default 10). */
  databasePoolMax?: number;
}

export async function openStore(config: StoreConfig, opts: { migrations?: readonly Migration[]; log?: Pick<Logger, 'error'> } = {}): Promise<Store> {
  const migrations = opts.migrations ?? MIGRATIONS;
  if (config.databaseUrl === null) return sqliteStore(openDatabase(config.dataDir, migrations), config.dataDir);
  const log = opts.log;
  return openPostgresStore(
    config.databaseUrl,
    { max: config.databasePoolMax ?? 10, onIdleError: (e) => log?.error({ err: e.message }, 'PostgreSQL: an idle connection failed (the pool opens another)') },
    migrations,
  );
}

/** A store over an open, migrated SQLite connection; closing it closes the connection. */
export function sqliteStore(sqlite: Db, dataDir: string): Store {
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingSqliteDatabase(sqlite) }) });
  return {
    dialect: 'sqlite',
    db,
    sqlite,
    durable: walSync(dataDir),
    schemaVersion: async () => schemaVersion(sqlite),
    // Kysely's SQLite driver closes the connection it was given.
    close: () => db.destroy(),
  };
}

export async function openPostgresStore(
  url: string,
  opts: { max: number; statementTimeoutMs?: number; searchPath?: string; onIdleError?: (e: Error) => void },
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<Store> {
  const pool = postgresPool(url, { max: opts.max, statementTimeoutMs: opts.statementTimeoutMs ?? 30_000, searchPath: opts.searchPath });
  // An idle connection the database drops (restart, network) is reported here; without a listener it would end the process.
  pool.on('error', (e) => opts.onIdleError?.(e));
  // pg-pool listens for a connection's errors only while it is idle: one dropped while checked out (inside a
  // transaction, between its statements) would emit 'error' with no listener and end the process. Its query
  // fails on its own; this only keeps the process up (the database restarted, or the connection ended under it).
  pool.on('connect', (client) => client.on('error', (e) => opts.onIdleError?.(e)));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: closingLostConnections(pool) }) });
  try {
    const c = await pool.connect();
    c.release();
  } catch (e) {
    await db.destroy();
    throw new StartupError(
      'LOANET_STORE_OPEN_FAILED',
      `cannot connect to PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}; check LOANET_DATABASE_URL and that the database is running`,
    );
  }
  try {
    await migratePostgres(db, migrations);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return {
    dialect: 'postgres',
    db,
    sqlite: undefined,
    durable: async () => {},
    schemaVersion: () => postgresSchemaVersion(db),
    close: () => db.destroy(),
  };
}
