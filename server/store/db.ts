/**
 * Opens the SQLite store (better-sqlite3, WAL) in the data folder and brings
 * its schema up to date. The file is the whole state of a one-machine
 * deployment: back it up with `sqlite3 loanet.db ".backup ..."`. It holds
 * password, token and site-secret hashes, so it and its folder are private
 * (600/700, data-dir.ts).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type Db = Database.Database;

export function openDatabase(dataDir: string, migrations: readonly Migration[] = MIGRATIONS): Db {
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.accessSync(dataDir, fs.constants.W_OK);
  } catch (e) {
    throw new StartupError(
      'LOANET_DATA_DIR_UNWRITABLE',
      `data folder ${path.resolve(dataDir)} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set LOANET_DATA_DIR to a writable folder`,
    );
  }
  const file = path.join(dataDir, 'loanet.db');
  let db: Db;
  try {
    db = new Database(file);
    // Owner only, before WAL mode: SQLite gives the -wal and -shm files the database file's mode.
    fs.chmodSync(file, 0o600);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (e) {
    throw new StartupError('LOANET_STORE_OPEN_FAILED', `cannot open ${file}: ${(e as Error).message}; check LOANET_DATA_DIR`);
  }
  migrate(db, migrations);
  return db;
}

/**
 * Makes every commit so far survive a power cut: one fsync of the WAL file,
 * on libuv's thread pool, not the event loop. With `synchronous = NORMAL` a
 * WAL commit is written but not synced; SQLite syncs the WAL itself before a
 * checkpoint and the database file after one, so a commit is either in the
 * WAL this syncs or already synced into the database file. What the server
 * acknowledges to a site waits for this (fleet/event-acks.ts).
 */
export function walSync(dataDir: string): () => Promise<void> {
  const wal = path.join(dataDir, 'loanet.db-wal');
  return async () => {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(wal, 'r');
    } catch (e) {
      // No WAL file: no connection holds one open, so nothing is waiting in it.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  };
}

export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

export function migrate(db: Db, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const current = schemaVersion(db);
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  if (current > latest) {
    throw new StartupError(
      'LOANET_STORE_TOO_NEW',
      `the store's schema version ${current} is newer than this loanet knows (${latest}); run a newer loanet or point LOANET_DATA_DIR elsewhere`,
    );
  }
  // By version applied, not by the highest one: a migration numbered below one
  // already applied (two made in parallel, landing in the other order) still runs.
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
}
