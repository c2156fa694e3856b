/**
 * PostgreSQL as the store: what differs from SQLite and must hold all the
 * same — BIGINT times read back as numbers, several servers migrating one
 * database at once, a database newer than the code, a connection refused
 * without its password in the message, and a server that refuses to start on
 * PostgreSQL while stores still run on SQLite only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { StartupError } from '../../server/errors.ts';
import { startServer } from '../../server/server.ts';
import { openPostgresStore, STORES_NOT_CONVERTED } from '../../server/store/database.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';
import { parseInt8 } from '../../server/store/postgres.ts';
import { POSTGRES_BASELINE_VERSION } from '../../server/store/postgres-baseline.ts';
import { admin, openTestStore, storeDialects, testDatabaseUrl } from '../helpers/store.ts';

async function startupErrorOf(p: Promise<unknown>): Promise<StartupError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StartupError) return e;
    throw e;
  }
  throw new Error('expected a StartupError, but it started');
}

describe('BIGINT read as a number', () => {
  it('up to 2^53 exactly, and beyond it an error rather than a rounded number', () => {
    expect(parseInt8('1764979200000')).toBe(1764979200000);
    expect(parseInt8(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseInt8('-42')).toBe(-42);
    expect(() => parseInt8('9007199254740993')).toThrow(/2\^53/);
  });
});

describe('LOANET_DATABASE_URL', () => {
  it('must be a postgres:// URL, and a wrong one is not repeated (it may hold a password)', () => {
    expect(loadConfig({}).databaseUrl).toBeNull();
    expect(loadConfig({ LOANET_DATABASE_URL: 'postgres://u:pw@db:5432/loanet' }).databaseUrl).toBe('postgres://u:pw@db:5432/loanet');
    expect(loadConfig({ LOANET_DATABASE_URL: 'postgresql://db/loanet' }).databaseUrl).toBe('postgresql://db/loanet');
    for (const bad of ['mysql://u:hunter2hunter2@db/x', 'hunter2hunter2', 'postgres://']) {
      let err: unknown;
      try {
        loadConfig({ LOANET_DATABASE_URL: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StartupError);
      expect((err as StartupError).code).toBe('LOANET_CONFIG_INVALID');
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('a database that cannot be reached stops the start, naming it without its password', async () => {
    // Port 1 on this machine: nothing listens, the connection is refused at once.
    const e = await startupErrorOf(openPostgresStore('postgres://loanet:s3cret-pass@127.0.0.1:1/loanet', { max: 1 }));
    expect(e.code).toBe('LOANET_STORE_OPEN_FAILED');
    expect(e.message).toContain('127.0.0.1:1');
    expect(e.message).toContain('***');
    expect(e.message).not.toContain('s3cret-pass');
  });
});

describe.skipIf(!storeDialects().includes('postgres'))('PostgreSQL store', () => {
  const url = testDatabaseUrl()!;

  it('keeps epoch-ms times and ids as numbers', async () => {
    const store = await openTestStore('postgres');
    try {
      const at = 1_764_979_200_123;
      await store.db.insertInto('audit_log').values({ at, user_id: 7, username: 'a', action: 'x', target: null, detail: null }).execute();
      const row = await store.db.selectFrom('audit_log').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ at, user_id: 7 });
      expect(typeof row.id).toBe('number');
      const { n } = await store.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(n).toBe(1);
      await expect(sql`SELECT 9007199254740993::bigint AS v`.execute(store.db)).rejects.toThrow(/2\^53/);
      // The migration lifted the statement timeout for itself only: the pool's connections keep theirs.
      const shown = await Promise.all([1, 2, 3, 4].map(() => sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(store.db)));
      for (const r of shown) expect(r.rows[0]!.statement_timeout).toBe('30s');
    } finally {
      await store.close();
    }
  });

  it('several servers starting at once on one new database: one migrates, the others wait and find it done', async () => {
    const store = await openTestStore('postgres');
    try {
      // A new, empty schema for the race: the test store's tables and history dropped.
      await admin(url, `DROP SCHEMA ${store.where} CASCADE; CREATE SCHEMA ${store.where}`);
      const servers = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore(url, { max: 2, searchPath: store.where })));
      try {
        const rows = await store.db.selectFrom('schema_migrations').select(['version']).orderBy('version').execute();
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
        for (const s of servers) expect(await s.schemaVersion()).toBe(Math.max(POSTGRES_BASELINE_VERSION, ...MIGRATIONS.map((m) => m.version)));
      } finally {
        await Promise.all(servers.map((s) => s.close()));
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a database migrated by a newer loanet', async () => {
    const store = await openTestStore('postgres');
    try {
      await store.db.insertInto('schema_migrations').values({ version: 9999, name: 'from the future', applied_at: 0 }).execute();
      const e = await startupErrorOf(openPostgresStore(url, { max: 1, searchPath: store.where }));
      expect(e.code).toBe('LOANET_STORE_TOO_NEW');
    } finally {
      await store.close();
    }
  });

  it('a server on PostgreSQL does not start while stores still run on SQLite only, and says which', async () => {
    const store = await openTestStore('postgres');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-pg-start-'));
    try {
      const sep = url.includes('?') ? '&' : '?';
      const config = loadConfig({
        LOANET_DATA_DIR: dir,
        LOANET_DATABASE_URL: `${url}${sep}options=${encodeURIComponent(`-c search_path=${store.where}`)}`,
        LOANET_HTTP_PORT: '0',
        LOANET_MQTT_PORT: '0',
      });
      const e = await startupErrorOf(startServer(config));
      expect(e.code).toBe('LOANET_STORE_NOT_CONVERTED');
      for (const s of STORES_NOT_CONVERTED) expect(e.message).toContain(s);
      // It got as far as the database: migrated, then refused.
      expect(await store.schemaVersion()).toBeGreaterThanOrEqual(POSTGRES_BASELINE_VERSION);
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
