/**
 * The whole suite on PostgreSQL: with LOANET_TEST_DATABASE_URL set
 * (`npm run test:postgres`), every test server — in this process or started
 * as its own — stores in PostgreSQL instead of SQLite, so each integration
 * test checks the same behaviour on both stores.
 *
 * Each data folder gets its own database, named from the folder: a server
 * restarted on the same folder (restart, kill -9 and power-cut tests) finds
 * its rows again, as it would its SQLite file, and tests running side by side
 * never see each other's. Databases are named after this run too (the
 * globalSetup below sets LOANET_TEST_RUN_ID before any worker starts), so the
 * run's teardown drops its own and never another run's on the same service.
 *
 * Created with psql, synchronously: serverProcessEnv() builds a child
 * server's environment without awaiting, and a CREATE DATABASE costs a
 * fraction of a server's start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { admin, defaultTestDialect, testDatabaseUrl } from './store.ts';

const PREFIX = 'loanet_s_';

function runId(): string {
  const id = process.env.LOANET_TEST_RUN_ID;
  // A file run outside vitest's globalSetup (a bench, a script) still gets databases apart from any run's.
  return id ?? (process.env.LOANET_TEST_RUN_ID = randomBytes(4).toString('hex'));
}

function psql(url: string, sql: string, timeoutMs = 60_000): string {
  return execFileSync('psql', ['--no-psqlrc', '-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { encoding: 'utf8', timeout: timeoutMs }).trim();
}

/** The database URL a test server on `dataDir` uses, creating its database on first use; undefined when servers run on SQLite. */
export function serverDatabaseUrl(dataDir: string): string | undefined {
  if (defaultTestDialect() !== 'postgres') return undefined;
  const base = testDatabaseUrl();
  if (!base) return undefined;
  const name = `${PREFIX}${runId()}_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`;
  if (psql(base, `SELECT 1 FROM pg_database WHERE datname = '${name}'`) !== '1') psql(base, `CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Set by the global set-up for the workers: the run's teardown drops its databases. */
const TEARDOWN_DROPS = 'LOANET_TEST_RUN_DROPS_DATABASES';

/**
 * A database of a test's own (two servers sharing one, a server whose database is made to fail), named after
 * this run. `drop()` leaves it to the run's teardown when there is one: a DROP DATABASE waits for an immediate
 * checkpoint, which syncs every file written since the last, and a suite creates hundreds of databases. Under
 * test:stress one took 88 s (35,777 files), past the after-hooks' bound of the three files dropping theirs at once.
 */
export async function createTestDatabase(base: string, label: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${PREFIX}${runId()}_${label}_${randomBytes(4).toString('hex')}`;
  await admin(base, `CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    drop: async () => {
      if (process.env[TEARDOWN_DROPS] !== '1') await admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** vitest globalSetup: names this run, and drops the run's databases at its end. */
export default function setup(): (() => void) | undefined {
  const base = testDatabaseUrl();
  if (!base) return undefined;
  // vitest runs a globalSetup once per project: the first names the run and drops its databases at the end.
  if (process.env.LOANET_TEST_RUN_ID) return undefined;
  const id = randomBytes(4).toString('hex');
  process.env.LOANET_TEST_RUN_ID = id;
  process.env[TEARDOWN_DROPS] = '1';
  if (defaultTestDialect() === 'postgres') {
    console.log(`test servers store in PostgreSQL at ${new URL(base).host}, one database per data folder (${PREFIX}${id}_*)`);
  }
  return () => {
    const names = psql(base, `SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}${id}\\_%'`).split('\n').filter(Boolean);
    // The first drop waits for that checkpoint (see createTestDatabase): bounded for a hang, not for a busy disk.
    for (const n of names) psql(base, `DROP DATABASE IF EXISTS ${n} WITH (FORCE)`, 600_000);
  };
}

/** True when this run's test servers store in PostgreSQL (`npm run test:postgres`). */
export function serversOnPostgres(): boolean {
  return defaultTestDialect() === 'postgres' && testDatabaseUrl() !== undefined;
}

const saidSqliteOnly = new Set<string>();

/**
 * For `describe.skipIf(sqliteOnly('why'))`: a test about SQLite itself (its
 * file's permissions, its WAL, its online backup, its file deleted under the
 * server) has nothing to check when servers store in PostgreSQL. It is then
 * skipped, and the reason is said once per file, so a skip is never silent.
 */
export function sqliteOnly(reason: string): boolean {
  if (!serversOnPostgres()) return false;
  if (!saidSqliteOnly.has(reason)) {
    saidSqliteOnly.add(reason);
    console.warn(`\n  ⚠ skipped on PostgreSQL (SQLite only): ${reason}\n`);
  }
  return true;
}
