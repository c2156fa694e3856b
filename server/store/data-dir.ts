/**
 * The data folder is private to the server's user: it holds the password,
 * token and site-secret hashes (loanet.db and its WAL), the media and their
 * temporary files. Folder 700, files 600, whatever the umask of the shell
 * that started loanet:
 * - the process umask is made 077 at start, so everything loanet and its
 *   children (SQLite's -wal/-shm, ffmpeg, espeak-ng) create is private;
 * - a data folder left by an earlier version (755/644) is tightened at start,
 *   and what was changed is logged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../errors.ts';

/** The mode a data-folder entry should have, or null when it is private already. Pure. */
export function tightenedMode(mode: number, isDir: boolean): number | null {
  const perms = mode & 0o777;
  if ((perms & 0o077) === 0) return null;
  // The owner keeps what it had (a folder must stay searchable); group and others lose everything.
  return (perms & 0o700) | (isDir ? 0o700 : 0);
}

export interface ModeChange {
  path: string;
  from: string;
  to: string;
}

const octal = (m: number) => (m & 0o777).toString(8).padStart(3, '0');

/**
 * Restrictive umask, the folder created 700, and every folder and file under
 * it (symbolic links are not followed) tightened. Returns what was changed.
 */
export function secureDataDir(dataDir: string): ModeChange[] {
  try {
    process.umask(process.umask() | 0o077);
  } catch {
    // Worker threads cannot change the umask; the explicit modes below still hold.
  }
  const changes: ModeChange[] = [];
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    const to = tightenedMode(st.mode, st.isDirectory());
    if (to !== null) {
      fs.chmodSync(p, to);
      changes.push({ path: p, from: octal(st.mode), to: octal(to) });
    }
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
  };
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    visit(dataDir);
  } catch (e) {
    throw new StartupError(
      'LOANET_DATA_DIR_UNWRITABLE',
      `cannot make the data folder ${path.resolve(dataDir)} private (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set LOANET_DATA_DIR to a folder the server's user owns`,
    );
  }
  return changes;
}
