/**
 * A fresh, migrated store for a test, on either dialect: the contract tests
 * of a converted store run against both (STYLE.md: every port gets one
 * contract test that runs against each adapter).
 *
 * SQLite: a new data folder in the system's temp folder. PostgreSQL: a new
 * schema (loanet_t_<random>) in the database at LOANET_TEST_DATABASE_URL,
 * set as the search_path of every connection of the store's pool, dropped
 * when the store is closed; tests running in parallel never see each other's
 * rows.
 *
 * Which PostgreSQL: LOANET_TEST_DATABASE_URL, or under CI the machine's own
 * service (CI_DATABASE_URL, which .ci/run starts). Under CI a test that needs
 * it fails when it cannot connect; elsewhere, without the variable, the
 * PostgreSQL half is skipped with a loud warning (require-tool.ts).
 *
 *   describe.each(storeDialects())('the audit log on %s', (dialect) => {
 *     let store: Store;
 *     beforeEach(async () => { store = await openTestStore(dialect); });
 *     afterEach(() => store.close());
 *   });
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openPostgresStore, openStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { MIGRATIONS, type Migration } from '../../server/store/migrations.ts';
import { redactUrl } from '../../server/store/postgres.ts';
import { haveTools } from './require-tool.ts';

/** The PostgreSQL service CI machines run (trust authentication for postgres on 127.0.0.1). */
export const CI_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function testDatabaseUrl(): string | undefined {
  return process.env.LOANET_TEST_DATABASE_URL || (process.env.CI ? CI_DATABASE_URL : undefined);
}

/**
 * The dialects a store's tests run against: SQLite always, PostgreSQL when a
 * test database is known (always under CI). Call it at a test file's top
 * level: without one it registers the warning (or, under CI, nothing: CI
 * always has one).
 */
export function storeDialects(): StoreDialect[] {
  const postgres = haveTools({
    name: 'PostgreSQL for the store tests',
    install: 'apt-get install postgresql, then set LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
    present: () => testDatabaseUrl() !== undefined || 'LOANET_TEST_DATABASE_URL is not set',
  });
  return postgres ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** The dialect a test that takes no side runs on: PostgreSQL when LOANET_TEST_DATABASE_URL is set, else SQLite. */
export function defaultTestDialect(): StoreDialect {
  return process.env.LOANET_TEST_DATABASE_URL ? 'postgres' : 'sqlite';
}

export interface TestStore extends Store {
  /** SQLite: the data folder; PostgreSQL: the schema. */
  readonly where: string;
}

export async function openTestStore(dialect: StoreDialect = defaultTestDialect(), migrations: readonly Migration[] = MIGRATIONS): Promise<TestStore> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-store-'));
    const store = await openStore({ dataDir: dir, databaseUrl: null }, { migrations });
    return {
      ...store,
      where: dir,
      close: async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = testDatabaseUrl();
  if (!url) throw new Error('no PostgreSQL for the store tests: set LOANET_TEST_DATABASE_URL (storeDialects() says which dialects to run)');
  const schema = `loanet_t_${randomBytes(6).toString('hex')}`;
  await admin(url, `CREATE SCHEMA ${schema}`);
  let store: Store;
  try {
    store = await openPostgresStore(url, { max: 4, searchPath: schema }, migrations);
  } catch (e) {
    await admin(url, `DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    throw e;
  }
  return {
    ...store,
    where: schema,
    close: async () => {
      await store.close();
      await admin(url, `DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

/** One statement on a connection of its own, outside any test's pool. */
export async function admin(url: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL for the tests at ${redactUrl(url)} is unreachable (${(e as Error).message}); start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set LOANET_TEST_DATABASE_URL`,
    );
  }
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}
