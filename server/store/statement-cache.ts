/**
 * The SQLite connection as Kysely's SQLite dialect sees it, with its prepared
 * statements kept. The dialect prepares every query's SQL again each time it
 * runs; better-sqlite3's prepare parses and plans it each time. Measured on
 * a session lookup's shape (a token joined to its user, 1,000 users): 61 µs
 * per query without the cache, 34–38 µs with it (1.6–1.8×, one run, both
 * side by side). Kysely compiles the same builder chain to the same SQL text, so the text is
 * the key; parameters are bound at run time.
 *
 * A kept statement holds SQLite's compiled program outside the JavaScript
 * heap, about 25 bytes per character of its SQL for a multi-row insert
 * (a 100-row site_status upsert: 4,900 characters, ~110 KiB; 500 rows:
 * ~540 KiB). Every batch size is its own SQL text, so a count bound alone let
 * the fleet's and the alarms' batch inserts fill the cache with hundreds of
 * such programs: at the end of the 3,000-site heartbeat benchmark's window it
 * held 240 statements, 620,000 characters (~15 MiB), 65 of them site_status
 * upserts of as many sizes, and the count bound alone allowed several hundred
 * MiB once batches reach 500 rows. The characters kept are bounded too, which
 * bounds that memory (an evicted statement's program is freed when the
 * collector finalizes it); the writers now also batch in sizes that repeat
 * (batches.ts), so few such texts are made at all.
 *
 * A statement may be reused because the dialect runs one query at a time on
 * the connection (its own mutex). One still being iterated (a streamed query)
 * is busy: a fresh one is prepared for that call instead.
 *
 * It also keeps a failed transaction's own error. SQLite rolls a transaction
 * back by itself when a statement fails with SQLITE_FULL, SQLITE_IOERR,
 * SQLITE_NOMEM or an interrupt; Kysely then sends ROLLBACK, which fails
 * ("cannot rollback - no transaction is active") and replaces the error the
 * caller must see: a full disk answered 500 instead of 507. A ROLLBACK with
 * no transaction open is therefore a no-op here.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import type { Db } from './db.ts';

/** Enough for every query shape the stores have, a few times over; least recently used shapes go first. */
export const STATEMENT_CACHE_SIZE = 1_000;
/**
 * SQL characters kept in all, ~6 MiB of compiled programs at the ratio above.
 * The ordinary queries' shapes take a few tens of thousands; the rest is room
 * for the batch inserts' recent sizes.
 */
export const STATEMENT_CACHE_CHARS = 250_000;

export interface StatementCacheBounds {
  /** Statements kept at most. */
  statements: number;
  /** SQL characters kept at most, all statements together; a longer statement is not kept. */
  chars: number;
}

export function cachingSqliteDatabase(sqlite: Db, bounds: StatementCacheBounds = { statements: STATEMENT_CACHE_SIZE, chars: STATEMENT_CACHE_CHARS }): SqliteDatabase {
  const cache = new Map<string, ReturnType<Db['prepare']>>();
  let chars = 0;
  return {
    close: () => {
      cache.clear();
      chars = 0;
      sqlite.close();
    },
    prepare(sql: string): SqliteStatement {
      if (/^\s*rollback\b/i.test(sql)) return rollback(sqlite, sql);
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        // Map order is insertion order: re-inserting makes it the most recently used.
        cache.delete(sql);
        cache.set(sql, hit);
        return hit as unknown as SqliteStatement;
      }
      const stmt = sqlite.prepare(sql);
      if (!hit && sql.length <= bounds.chars) {
        cache.set(sql, stmt);
        chars += sql.length;
        while (cache.size > bounds.statements || chars > bounds.chars) {
          const oldest = cache.keys().next().value as string;
          cache.delete(oldest);
          chars -= oldest.length;
        }
      }
      return stmt as unknown as SqliteStatement;
    },
  };
}

/** ROLLBACK (or ROLLBACK TO a savepoint) that does nothing when SQLite already rolled the transaction back. */
function rollback(sqlite: Db, sql: string): SqliteStatement {
  const run = () => (sqlite.inTransaction ? sqlite.prepare(sql).run() : { changes: 0, lastInsertRowid: 0 });
  return {
    reader: false,
    all: () => [],
    run,
    iterate: () => [][Symbol.iterator](),
  } as unknown as SqliteStatement;
}
