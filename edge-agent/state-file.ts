/**
 * The agent's small JSON state files in its stateDir (command ledger,
 * settings, playlist, alert memory, run marker). (The as-run journal is not
 * one of these: it appends and fsyncs, edge-agent/playout/receipts.ts.)
 *
 * Durable: written whole to a temp file, fsynced, renamed into place, and the
 * folder fsynced — without the two fsyncs a power cut soon after a "written"
 * state can leave an empty or half file under the new name (ext4's
 * delayed allocation does exactly that).
 *
 * Self-checking: each file starts with a header line carrying the SHA-256 and
 * the length of the JSON body after it:
 *
 *     #loanet-state 1 sha256=<64 hex> bytes=<n>
 *     {...}
 *
 * so a torn, truncated or bit-flipped file is detected and never read as some
 * other state. A file without the header is an older agent's plain JSON: read
 * once (the next write converts it).
 *
 * The previous good copy: before a new version replaces a file that checks
 * out, that file becomes `<file>.prev`. A reader whose newest copy is damaged
 * (a flash card's bad block, a write the disk did not keep) falls back to the
 * last good state rather than to nothing, and says so.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

const MAGIC = '#loanet-state 1';
const HEADER = /^#loanet-state 1 sha256=([0-9a-f]{64}) bytes=(0|[1-9][0-9]{0,9})$/;

export const PREV_SUFFIX = '.prev';

/** Where a state came from: the newest copy, the previous good copy, an older agent's plain JSON, or none at all. */
export type StateSource = 'current' | 'prev' | 'legacy' | 'none';

export interface StateRead {
  value: unknown;
  from: StateSource;
  /** A copy was there but failed its check (torn, truncated, flipped) or could not be read. */
  damaged: boolean;
  /** No copy was there at all (never written, or deleted). */
  absent: boolean;
}

/** The file's bytes for `value`: header line + JSON body. */
export function encodeState(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const sha = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${MAGIC} sha256=${sha} bytes=${body.length}\n`, 'utf8'), body]);
}

export type Decoded = { ok: true; value: unknown; legacy: boolean } | { ok: false; why: string };

/** Check and parse a state file's bytes, pure. */
export function decodeState(bytes: Buffer): Decoded {
  if (bytes.length === 0) return { ok: false, why: 'empty file' };
  const nl = bytes.indexOf(0x0a);
  const first = bytes.subarray(0, nl < 0 ? Math.min(bytes.length, 200) : nl).toString('latin1');
  if (first.startsWith('#')) {
    const m = HEADER.exec(first);
    if (!m || nl < 0) return { ok: false, why: 'damaged header' };
    const body = bytes.subarray(nl + 1);
    if (body.length !== Number(m[2])) return { ok: false, why: `${body.length} bytes where ${m[2]} were written (torn or truncated)` };
    if (createHash('sha256').update(body).digest('hex') !== m[1]) return { ok: false, why: 'checksum mismatch' };
    try {
      return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown, legacy: false };
    } catch (e) {
      return { ok: false, why: `not JSON: ${(e as Error).message}` };
    }
  }
  // An older agent's file: plain JSON, always an object. Anything else is damage.
  if (bytes[0] !== 0x7b) return { ok: false, why: 'neither a checked state file nor JSON' };
  try {
    return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown, legacy: true };
  } catch (e) {
    return { ok: false, why: `not JSON: ${(e as Error).message}` };
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    await h.close();
  }
}

async function checksOut(file: string): Promise<boolean> {
  try {
    return decodeState(await readFile(file)).ok;
  } catch {
    return false;
  }
}

/**
 * Write `value` durably to `file` (temp file, fsync, rename, fsync of the
 * folder), keeping the copy it replaces as `file.prev` when that copy checks
 * out. Creates the folder; `mode` (e.g. 0o600) is the file's from its first byte. Throws what the file system says. Writers of one
 * file must be serialised by the caller (they all are: one chain per file).
 */
export async function writeJsonAtomic(file: string, value: unknown, opts: { mode?: number } = {}): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp`;
  const h = await open(tmp, 'w', opts.mode ?? 0o666);
  try {
    // A temp file left by a crash keeps its old mode through open(): set it, before a byte is written.
    if (opts.mode !== undefined) await h.chmod(opts.mode);
    await h.writeFile(encodeState(value));
    await h.sync();
  } finally {
    await h.close();
  }
  // A damaged newest copy is not kept: the good .prev stays the fallback. (Read again each time, not
  // remembered: what damages a file happens outside this process.)
  if (await checksOut(file)) {
    try {
      await rename(file, `${file}${PREV_SUFFIX}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  await rename(tmp, file);
  await fsyncDir(dir);
}

/**
 * The state in `file`: its newest copy when it checks out, else the previous
 * good copy (`file.prev`), else none — with whether a copy was damaged, so a
 * caller can tell "never had any" from "lost it". Damage is reported through
 * `warn`, naming the file and `what` it holds; nothing here throws.
 */
export async function readStateFile(file: string, what: string, warn: (m: string) => void): Promise<StateRead> {
  let damaged = false;
  let absent = true;
  for (const [path, from] of [
    [file, 'current'],
    [`${file}${PREV_SUFFIX}`, 'prev'],
  ] as const) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        damaged = true;
        absent = false;
        warn(`cannot read ${what} ${path}: ${(e as Error).message}`);
      }
      continue;
    }
    absent = false;
    const d = decodeState(bytes);
    if (!d.ok) {
      damaged = true;
      warn(`ignoring damaged ${what} ${path}: ${d.why}`);
      continue;
    }
    if (from === 'prev' || damaged) warn(`${what}: using the previous good copy ${path}${damaged ? ' (the newest was damaged or unreadable)' : ' (the newest is missing)'}`);
    return { value: d.value, from: d.legacy ? (from === 'current' ? 'legacy' : 'prev') : from, damaged, absent: false };
  }
  return { value: undefined, from: 'none', damaged, absent };
}

/**
 * The parsed state in `file` (or its previous good copy), or undefined when
 * there is none. The agent starts from its defaults rather than not at all.
 */
export async function readJsonFile(file: string, what: string, warn: (m: string) => void): Promise<unknown> {
  return (await readStateFile(file, what, warn)).value;
}
