/**
 * What the server still writes when the data folder's disk fills up. Pure:
 * free bytes and the reserve file's size in, the state and what to do out;
 * server/store/disk-space.ts measures (statfs) and acts (deletes or writes
 * the reserve), the HTTP layer refuses with 507.
 *
 * The order: what can wait stops first, so that what cannot wait still has
 * room when the disk is nearly full.
 *   ok       everything is accepted.
 *   low      free space under `lowBytes`: uploads, text to speech and the
 *            coverage history stop (they are the big and the postponable writes).
 *   reserve  free space fell under `criticalBytes` and the reserve file was
 *            deleted to give SQLite room: only what cannot wait is written
 *            (logins, emergency alerts and their audio, live streams, receipts,
 *            alert statuses, command results, site status); every other change
 *            is refused until space returns and the reserve is written again.
 *   full     under `criticalBytes` with no reserve left to give: the same
 *            refusals; what cannot wait is still tried, and a write that fails
 *            answers 507 (nothing stored before is lost, SQLite rolls back).
 */

export interface DiskLimits {
  /** Size of the reserve file kept in the data folder while space allows (0 = no reserve). */
  reserveBytes: number;
  /** Free space under which uploads, text to speech and history stop. */
  lowBytes: number;
  /** Free space under which the reserve is given up; must be under lowBytes. */
  criticalBytes: number;
}

export type DiskState = 'ok' | 'low' | 'reserve' | 'full';

/** Writes that can be refused, in the order they stop. Logins, alerts and receipts are never in this list. */
export type DeferrableWrite = 'media' | 'history' | 'change';

export interface DiskReading {
  /** Bytes free to the server's user on the data folder's filesystem (statfs bavail × bsize). */
  freeBytes: number;
  /** Bytes of the reserve file on disk now (0 when it is absent). */
  reserveHeldBytes: number;
  /** A write has just failed with ENOSPC / SQLITE_FULL: the disk is full whatever statfs said a moment ago. */
  writeFailed?: boolean;
}

export interface DiskDecision {
  state: DiskState;
  /** Delete the reserve file now. */
  release: boolean;
  /** Write the reserve file up to its size (there is room for it and still `lowBytes` free after). */
  restore: boolean;
  /** Free bytes and reserve once the action is done. */
  freeBytes: number;
  reserveHeldBytes: number;
  refused: DeferrableWrite[];
}

const REFUSED: Record<DiskState, DeferrableWrite[]> = {
  ok: [],
  low: ['media', 'history'],
  reserve: ['media', 'history', 'change'],
  full: ['media', 'history', 'change'],
};

/** Why the limits are inconsistent, or null. */
export function checkDiskLimits(l: DiskLimits): string | null {
  if (l.reserveBytes < 0 || l.lowBytes < 0 || l.criticalBytes < 0) return 'sizes must not be negative';
  if (l.criticalBytes >= l.lowBytes) return 'the critical level must be under the low level';
  return null;
}

export function decideDisk(r: DiskReading, l: DiskLimits): DiskDecision {
  const held = Math.max(0, r.reserveHeldBytes);
  const free = Math.max(0, r.freeBytes);
  const release = held > 0 && (free < l.criticalBytes || r.writeFailed === true);
  const missing = Math.max(0, l.reserveBytes - held);
  // Hysteresis: a reserve given up comes back only when writing it still leaves
  // lowBytes free, so giving it up and taking it back cannot alternate.
  const restore = !release && missing > 0 && free - missing >= l.lowBytes;
  const freeAfter = release ? free + held : restore ? free - missing : free;
  const heldAfter = release ? 0 : restore ? l.reserveBytes : held;
  let state: DiskState;
  // A failed write with nothing left to release is full, whatever statfs said (a big transaction, a slow reading).
  if (freeAfter < l.criticalBytes || (r.writeFailed === true && !release)) state = 'full';
  else if (heldAfter < l.reserveBytes) state = 'reserve';
  else if (freeAfter < l.lowBytes) state = 'low';
  else state = 'ok';
  return { state, release, restore, freeBytes: freeAfter, reserveHeldBytes: heldAfter, refused: REFUSED[state] };
}

export function refuses(state: DiskState, w: DeferrableWrite): boolean {
  return REFUSED[state].includes(w);
}

const MB = 1024 * 1024;
/** Whole megabytes, rounded down, for messages. */
export const mb = (bytes: number): string => `${Math.floor(Math.max(0, bytes) / MB)} MB`;

/** What to tell a person whose request was refused: what is full and what to free. */
export function refusalMessage(w: DeferrableWrite, d: Pick<DiskDecision, 'state' | 'freeBytes'>, l: DiskLimits): string {
  const what = w === 'media' ? 'uploads and text to speech are' : w === 'history' ? 'the coverage history is' : 'changes other than logins, alerts and live broadcasts are';
  const why =
    d.state === 'low'
      ? `the disk of the data folder (LOANET_DATA_DIR) has ${mb(d.freeBytes)} free, under the ${mb(l.lowBytes)} kept for logins, alerts and receipts (LOANET_DISK_LOW_MB)`
      : d.state === 'reserve'
        ? `the disk of the data folder (LOANET_DATA_DIR) is full: loanet runs on its ${mb(l.reserveBytes)} reserve (LOANET_DISK_RESERVE_MB), kept for logins, alerts and receipts`
        : `the disk of the data folder (LOANET_DATA_DIR) is full (${mb(d.freeBytes)} free)`;
  return `refused: ${what} paused because ${why}; free space on that disk (retire old media in the library, move backups and logs elsewhere) and try again`;
}
