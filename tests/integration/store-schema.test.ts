/**
 * One schema, two dialects: a fresh SQLite store migrated through every
 * migration and a fresh PostgreSQL store (its baseline, then every later
 * migration's twin) have the same tables, columns (type, nullability,
 * default), primary keys, unique constraints, indexes and foreign keys. A
 * migration added for one dialect only, or a twin that does not match, fails
 * here.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/store/db.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';
import { POSTGRES_BASELINE_VERSION } from '../../server/store/postgres-baseline.ts';
import type { Database } from '../../server/store/schema.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

type Column = { type: string; notNull: boolean; default: string | null };
type Index = { table: string; columns: string[]; unique: boolean; partial: boolean };
interface Shape {
  tables: Record<string, { columns: Record<string, Column>; primaryKey: string[]; unique: string[]; foreignKeys: string[] }>;
  indexes: Record<string, Index>;
}

/** SQLite's and PostgreSQL's names for the same kind of value. */
function typeOf(t: string): string {
  const x = t.toLowerCase();
  if (['integer', 'bigint', 'smallint'].includes(x)) return 'integer';
  if (['real', 'double precision'].includes(x)) return 'real';
  if (x === 'text') return 'text';
  if (['blob', 'bytea'].includes(x)) return 'blob';
  return `unknown:${x}`;
}

/** '[]'::text → '[]' ; 0 → 0 */
const defaultOf = (d: string | null) => (d === null ? null : d.replace(/::[a-z ]+$/, ''));
const onDelete = (a: string) => ({ CASCADE: 'cascade', c: 'cascade', 'NO ACTION': 'no action', a: 'no action' })[a] ?? a;

function sqliteShape(db: Db): Shape {
  const shape: Shape = { tables: {}, indexes: {} };
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>;
  for (const { name: t } of tables) {
    const cols = db.prepare(`PRAGMA table_info(${t})`).all() as Array<{ name: string; type: string; notnull: number; pk: number; dflt_value: string | null }>;
    const columns: Record<string, Column> = {};
    // A key column cannot be NULL in PostgreSQL; in SQLite only INTEGER PRIMARY KEY is enforced so, but no key here is ever NULL.
    for (const c of cols) columns[c.name] = { type: typeOf(c.type), notNull: c.notnull === 1 || c.pk > 0, default: defaultOf(c.dflt_value) };
    const primaryKey = cols
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const unique: string[] = [];
    for (const ix of db.prepare(`PRAGMA index_list(${t})`).all() as Array<{ name: string; unique: number; origin: string; partial: number }>) {
      const columnsOf = (db.prepare(`PRAGMA index_info(${ix.name})`).all() as Array<{ seqno: number; name: string | null }>)
        .sort((a, b) => a.seqno - b.seqno)
        .map((c) => c.name ?? '<expr>');
      if (ix.origin === 'u') unique.push(columnsOf.join(','));
      else if (ix.origin === 'c') shape.indexes[ix.name] = { table: t, columns: columnsOf, unique: ix.unique === 1, partial: ix.partial === 1 };
    }
    const foreignKeys = (db.prepare(`PRAGMA foreign_key_list(${t})`).all() as Array<{ table: string; from: string; to: string; on_delete: string }>).map(
      (f) => `${f.from} -> ${f.table}(${f.to}) on delete ${onDelete(f.on_delete)}`,
    );
    shape.tables[t] = { columns, primaryKey, unique: unique.sort(), foreignKeys: foreignKeys.sort() };
  }
  return shape;
}

async function postgresShape(db: Kysely<Database>): Promise<Shape> {
  const shape: Shape = { tables: {}, indexes: {} };
  const q = async <R>(text: string) => (await sql.raw<R>(text).execute(db)).rows;
  const tables = await q<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1");
  for (const { t } of tables) shape.tables[t] = { columns: {}, primaryKey: [], unique: [], foreignKeys: [] };
  for (const c of await q<{ t: string; c: string; type: string; nullable: string; dflt: string | null }>(
    'SELECT table_name AS t, column_name AS c, data_type AS type, is_nullable AS nullable, column_default AS dflt FROM information_schema.columns WHERE table_schema = current_schema()',
  )) {
    shape.tables[c.t]!.columns[c.c] = { type: typeOf(c.type), notNull: c.nullable === 'NO', default: defaultOf(c.dflt) };
  }
  // Every index with its columns in key order (0 = an expression), and the constraint it backs, if any.
  const indexes = await q<{ t: string; name: string; columns: string[]; is_unique: boolean; is_primary: boolean; partial: boolean; constraint_type: string | null }>(`
    SELECT tc.relname AS t, ic.relname AS name, i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indpred IS NOT NULL AS partial,
           (SELECT contype::text FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u')) AS constraint_type,
           ARRAY(SELECT COALESCE(a.attname::text, '<expr>') FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0 ORDER BY k.n) AS columns
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
     WHERE tc.relnamespace = current_schema()::regnamespace`);
  for (const ix of indexes) {
    const table = shape.tables[ix.t]!;
    if (ix.is_primary) table.primaryKey = ix.columns;
    else if (ix.constraint_type === 'u') table.unique.push(ix.columns.join(','));
    else shape.indexes[ix.name] = { table: ix.t, columns: ix.columns, unique: ix.is_unique, partial: ix.partial };
  }
  for (const f of await q<{ t: string; from_col: string; to_table: string; to_col: string; del: string }>(`
    SELECT c.conrelid::regclass::text AS t, a.attname AS from_col, c.confrelid::regclass::text AS to_table, b.attname AS to_col, c.confdeltype AS del
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
     WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`)) {
    shape.tables[f.t]!.foreignKeys.push(`${f.from_col} -> ${f.to_table}(${f.to_col}) on delete ${onDelete(f.del)}`);
  }
  for (const t of Object.values(shape.tables)) {
    t.unique.sort();
    t.foreignKeys.sort();
  }
  return shape;
}

describe('migrations for both dialects', () => {
  it('every migration after the PostgreSQL baseline carries its PostgreSQL twin, and none up to it does', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(new Set(versions).size).toBe(versions.length);
    for (let v = 1; v <= POSTGRES_BASELINE_VERSION; v++) expect(versions, `migration ${v} of the baseline`).toContain(v);
    for (const m of MIGRATIONS) {
      if (m.version > POSTGRES_BASELINE_VERSION) expect(m.postgres, `migration ${m.version} (${m.name}) needs its PostgreSQL SQL`).toBeTruthy();
      else expect(m.postgres, `migration ${m.version} is in the baseline`).toBeUndefined();
    }
  });
});

describe.skipIf(!storeDialects().includes('postgres'))('the SQLite and PostgreSQL schemas', () => {
  let lite: TestStore;
  let pg: TestStore;
  beforeAll(async () => {
    lite = await openTestStore('sqlite');
    pg = await openTestStore('postgres');
  }, 60_000);
  afterAll(async () => {
    await lite?.close();
    await pg?.close();
  });

  it('are the same: tables, columns, keys, unique constraints, indexes and foreign keys', async () => {
    const a = sqliteShape(lite.sqlite!);
    const b = await postgresShape(pg.db);
    expect(Object.keys(b.tables).sort()).toEqual(Object.keys(a.tables).sort());
    for (const t of Object.keys(a.tables)) expect(b.tables[t], `table ${t}`).toEqual(a.tables[t]);
    expect(b.indexes).toEqual(a.indexes);
    // The comparison saw the whole schema, not an empty one.
    expect(Object.keys(a.tables).length).toBeGreaterThanOrEqual(30);
    expect(Object.keys(a.indexes).length).toBeGreaterThanOrEqual(25);
    expect(a.tables.cap_sender_accounts!.foreignKeys).toContain('sender_id -> cap_senders(id) on delete cascade');
  });

  it('tells a twin that does not match: a column, an index, a nullability', async () => {
    const base = await postgresShape(pg.db);
    const twin = { version: 900, name: 'test: a mismatched twin', sql: 'SELECT 1', postgres: 'SELECT 1' };
    const variants = [
      { ...twin, sql: 'ALTER TABLE audit_log ADD COLUMN note TEXT;' },
      { ...twin, sql: 'CREATE INDEX audit_log_action ON audit_log(action);' },
      { ...twin, postgres: 'ALTER TABLE audit_log ALTER COLUMN action DROP NOT NULL;' },
    ];
    for (const m of variants) {
      const l = await openTestStore('sqlite', [...MIGRATIONS, m]);
      const p = await openTestStore('postgres', [...MIGRATIONS, m]);
      try {
        expect(await postgresShape(p.db)).not.toEqual(sqliteShape(l.sqlite!));
      } finally {
        await l.close();
        await p.close();
      }
    }
    expect(base).toEqual(sqliteShape(lite.sqlite!));
  }, 120_000);

  it('record the same history', async () => {
    const versionsOf = async (s: TestStore) => (await s.db.selectFrom('schema_migrations').select('version').orderBy('version').execute()).map((r) => r.version);
    expect(await versionsOf(pg)).toEqual(await versionsOf(lite));
    expect(await pg.schemaVersion()).toBe(await lite.schemaVersion());
  });
});
