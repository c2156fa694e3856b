/**
 * `npm run backup -- --out FILE [--data DIR]`: an online, consistent copy of
 * loanet's SQLite store while the server runs (or not).
 *
 * SQLite's online backup (better-sqlite3's db.backup()) copies the database
 * page by page through its own connection; here every page is copied in one
 * step, inside one read transaction, so the copy is one instant's state. In
 * WAL mode a reader blocks no writer: the server goes on taking heartbeats
 * and receipts meanwhile (a step of many small ones would restart each time
 * the server commits, and might never end on a busy server).
 *
 * The copy is written beside FILE, checked (PRAGMA integrity_check, schema
 * version), made private (it holds password, token and site-secret hashes:
 * mode 600) and synced, then renamed to FILE, so FILE is complete or absent.
 * Restore: stop the server, put FILE in place of DIR/loanet.db (and remove
 * loanet.db-wal and loanet.db-shm), start it; the migrations bring an older
 * backup forward (docs/operations.md, "Backup and restore").
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
  schemaVersion: number;
  ms: number;
}

/** Copies `dataDir`/loanet.db to `out` (which must not exist). Throws with a sentence saying what to do. */
export async function backupStore(dataDir: string, out: string): Promise<BackupResult> {
  const started = performance.now();
  const source = path.join(dataDir, 'loanet.db');
  if (!fs.existsSync(source)) throw new Error(`no database at ${source}; give the data folder with --data or LOANET_DATA_DIR`);
  if (fs.existsSync(out)) throw new Error(`${out} exists; give a new file name (a backup never overwrites)`);
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new Error(`the folder ${dir} does not exist`);
  const tmp = path.join(dir, `.${path.basename(out)}.${process.pid}.partial`);
  // Private from its first byte.
  fs.closeSync(fs.openSync(tmp, 'wx', 0o600));
  // Read only: this process never writes the live store (nor checkpoints its WAL).
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // After the first (empty) step, every remaining page in the next one: one read transaction, one instant.
    const r = await db.backup(tmp, { progress: () => 0x7fffffff });
    const copy = new Database(tmp, { fileMustExist: true });
    let schemaVersion: number;
    try {
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed its integrity check (${String(check)}); the store itself may be damaged: run PRAGMA integrity_check on it`);
      schemaVersion = (copy.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
      // One file, not a WAL beside it: a backup is copied and moved around alone.
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, out);
    return { file: out, bytes: fs.statSync(out).size, pages: r.totalPages, schemaVersion, ms: Math.round(performance.now() - started) };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' }, data: { type: 'string' } } });
  if (!values.out) {
    console.error('usage: npm run backup -- --out FILE [--data DIR]   (DIR: LOANET_DATA_DIR, else ./data)');
    process.exit(2);
  }
  const dataDir = values.data ?? (process.env.LOANET_DATA_DIR || './data');
  try {
    const r = await backupStore(dataDir, values.out);
    console.log(`loanet backup: ${path.join(dataDir, 'loanet.db')} -> ${r.file}: ${r.bytes} bytes, ${r.pages} pages, schema version ${r.schemaVersion}, integrity ok, ${r.ms} ms`);
  } catch (e) {
    console.error(`loanet backup: ${(e as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
