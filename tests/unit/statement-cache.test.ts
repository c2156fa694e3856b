import Database from 'better-sqlite3';
import { type Generated, Kysely, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { cachingSqliteDatabase } from '../../server/store/statement-cache.ts';

describe('the SQLite connection Kysely runs on keeps its prepared statements', () => {
  const open: Database.Database[] = [];
  afterEach(() => {
    for (const d of open.splice(0)) if (d.open) d.close();
  });
  function db(): Database.Database {
    const d = new Database(':memory:');
    d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    open.push(d);
    return d;
  }

  it('the same SQL text gets the same statement, bound afresh with each call’s parameters', () => {
    const c = cachingSqliteDatabase(db());
    const a = c.prepare('SELECT name FROM t WHERE id = ?');
    expect(c.prepare('SELECT name FROM t WHERE id = ?')).toBe(a);
    expect(c.prepare('SELECT name FROM t WHERE id = ? ')).not.toBe(a);
  });

  it('a statement still being iterated is not handed out again: that call gets a fresh one', () => {
    const raw = db();
    raw.exec("INSERT INTO t (name) VALUES ('a'), ('b')");
    const c = cachingSqliteDatabase(raw);
    const s = c.prepare('SELECT name FROM t ORDER BY id') as unknown as Database.Statement;
    const it1 = s.iterate();
    it1.next();
    const other = c.prepare('SELECT name FROM t ORDER BY id') as unknown as Database.Statement;
    expect(other).not.toBe(s);
    expect(other.all()).toEqual([{ name: 'a' }, { name: 'b' }]);
    it1.return?.();
    // Once done, the kept one is handed out again.
    expect(c.prepare('SELECT name FROM t ORDER BY id')).toBe(s);
  });

  /** Room for two of 'SELECT 1' .. 'SELECT 3': the third evicts the least recently used, not the oldest. Answers SELECT 1's, kept. */
  const expectsLeastRecentEvicted = (c: ReturnType<typeof cachingSqliteDatabase>) => {
    const q1 = c.prepare('SELECT 1');
    const q2 = c.prepare('SELECT 2');
    expect(c.prepare('SELECT 1')).toBe(q1); // q1 now most recent
    c.prepare('SELECT 3'); // evicts q2
    expect(c.prepare('SELECT 1')).toBe(q1);
    expect(c.prepare('SELECT 2')).not.toBe(q2);
    return q1;
  };

  it('keeps at most its bound, the least recently used going first', () => {
    const c = cachingSqliteDatabase(db(), { statements: 2, chars: 1_000 });
    expectsLeastRecentEvicted(c);
  });

  it('keeps at most its bound in SQL characters: a batch insert of each size does not pile up', () => {
    // 'SELECT 1' .. 'SELECT 3' are 8 characters each: two fit in 20, not three.
    const c = cachingSqliteDatabase(db(), { statements: 100, chars: 20 });
    const q1 = expectsLeastRecentEvicted(c);
    // A statement longer than the whole bound is prepared each time and keeps nothing out.
    const long = `SELECT 1 ${' '.repeat(20)}`;
    expect(c.prepare(long)).not.toBe(c.prepare(long));
    expect(c.prepare('SELECT 1')).toBe(q1);
  });

  it('Kysely reads and writes through it with each query’s own values; closing closes the connection', async () => {
    const raw = db();
    const k = new Kysely<{ t: { id: Generated<number>; name: string } }>({ dialect: new SqliteDialect({ database: cachingSqliteDatabase(raw) }) });
    for (const name of ['Bát Xát', 'Sa Pa', 'Bắc Hà']) await k.insertInto('t').values({ name }).execute();
    for (const [id, name] of [
      [1, 'Bát Xát'],
      [3, 'Bắc Hà'],
      [2, 'Sa Pa'],
    ] as const) {
      expect(await k.selectFrom('t').select('name').where('id', '=', id).executeTakeFirst()).toEqual({ name });
    }
    await k.destroy();
    expect(raw.open).toBe(false);
  });
});

describe('a transaction SQLite already rolled back (a full disk, an I/O error)', () => {
  it('fails with its own error, not with the ROLLBACK that finds no transaction', async () => {
    const raw = new Database(':memory:');
    raw.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const k = new Kysely<{ t: { id: Generated<number>; name: string } }>({ dialect: new SqliteDialect({ database: cachingSqliteDatabase(raw) }) });
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    await expect(
      k.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ name: 'Y Tý' }).execute();
        // What SQLite does on SQLITE_FULL: the transaction is gone before the caller hears of the failure.
        raw.exec('ROLLBACK');
        throw full;
      }),
    ).rejects.toBe(full);
    expect(raw.inTransaction).toBe(false);
    // An ordinary failure still rolls back for real.
    await expect(
      k.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ name: 'A Mú Sung' }).execute();
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await k.selectFrom('t').select('name').execute()).toEqual([]);
    await k.destroy();
  });
});
