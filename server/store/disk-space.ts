/**
 * The data folder's disk, measured and acted on. Free space is read with
 * statfs periodically, before each write that cannot wait, and at once after
 * a write failed with ENOSPC / SQLITE_FULL; disk-policy.ts decides, and this
 * shell deletes the reserve file (`disk-reserve` in the data folder) or
 * writes it back, and answers "may this write go ahead?" for the HTTP layer
 * and the background jobs.
 *
 * The reserve is real bytes (zeros written, not a sparse file), so deleting
 * it gives SQLite that much room on any filesystem; it is written off the
 * event loop in 1 MiB steps.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DiskConfig } from '../config.ts';
import { Errors, fail } from '../errors.ts';
import type { Logger } from '../fleet/broker.ts';
import { isDatabaseDiskFull, isDatabaseServerError } from './failure.ts';
import { decideDisk, mb, refusalMessage, refuses, type DeferrableWrite, type DiskDecision, type DiskState } from './disk-policy.ts';

export const RESERVE_FILE = 'disk-reserve';
const CHUNK = 1024 * 1024;
/**
 * A site report is measured before unless one was measured this recently with
 * this much more than the critical level free: a burst of 3,000 alert
 * statuses then costs a few measurements, not 3,000 (statfs + stat, ~20 µs on
 * a loaded 2-core machine), and no disk fills 64 MB in 50 ms unnoticed by the
 * failed write that then gives up the reserve.
 */
const ESSENTIAL_RECHECK_MS = 50;
const ESSENTIAL_MARGIN_BYTES = 64 * 1024 * 1024;

export interface DiskStatus {
  state: DiskState;
  freeBytes: number;
  totalBytes: number;
  lowBytes: number;
  criticalBytes: number;
  reserve: { bytes: number; heldBytes: number; inUse: boolean };
  /** What is refused now (507) until space is freed. */
  refusing: DeferrableWrite[];
  /** The last write that failed because the disk was full, if any since start. */
  lastFullAt: number | null;
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
// What ffmpeg / espeak-ng print and SQLite says when the code is lost on the way.
const FULL_TEXT = /no space left on device|disk quota exceeded|database or disk is full/i;

/**
 * ENOSPC, EDQUOT or SQLITE_FULL, on the error or any error it was caused by:
 * the data folder's disk. What a PostgreSQL server says of its own disk is not
 * (failure.ts isDatabaseDiskFull): giving up the reserve here would not help it.
 */
export function isDiskFullError(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x && typeof x === 'object' && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    if (isDatabaseServerError(x)) return false;
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && FULL_CODES.has(code)) return true;
    const message = (x as { message?: unknown }).message;
    if (typeof message === 'string' && FULL_TEXT.test(message)) return true;
  }
  return false;
}

export type StatFs = (dir: string) => { bavail: number; bsize: number; blocks: number };

export class DiskSpace {
  private last: DiskDecision | undefined;
  private totalBytes = 0;
  private lastFullAt: number | null = null;
  private databaseFullAt: number | null = null;
  /** performance.now() of the last measurement (the server's `now` may be frozen in tests). */
  private measuredAt = -Infinity;
  private restoring: { done: Promise<void>; cancelled: boolean } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly file: string;
  /** The database file as opened (device and inode): a file deleted or replaced under a running server is not where its writes go. */
  private store: { dev: number; ino: number } | undefined;
  private gone: string | null = null;
  private goneLoggedAt = -Infinity;

  constructor(
    private readonly dataDir: string,
    private readonly config: DiskConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly statfs: StatFs = (dir) => fs.statfsSync(dir),
    private readonly storeFile: string = path.join(dataDir, 'loanet.db'),
  ) {
    this.file = path.join(dataDir, RESERVE_FILE);
  }

  /** Measure now, and every checkMs (the timer does not keep the process alive). */
  start(): void {
    const s = fs.statSync(this.storeFile, { throwIfNoEntry: false });
    this.store = s ? { dev: s.dev, ino: s.ino } : undefined;
    this.check();
    this.timer = setInterval(() => {
      try {
        this.check();
      } catch (err) {
        this.log.error({ err }, "measuring the data folder's free space failed");
      }
    }, this.config.checkMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const r = this.restoring;
    if (r) {
      r.cancelled = true;
      await r.done;
    }
  }

  /**
   * The database file this server writes, when it was deleted or replaced
   * while the server runs (a data folder removed by hand, a restore over a
   * running server): SQLite would go on writing into the unlinked file, and
   * everything acknowledged from then on would be gone at the next start.
   * Null while the file is the one opened.
   */
  storeGone(): string | null {
    return this.gone;
  }

  private checkStore(): void {
    if (this.gone !== null || !this.store) return;
    const s = fs.statSync(this.storeFile, { throwIfNoEntry: false });
    if (s && s.dev === this.store.dev && s.ino === this.store.ino) return;
    this.gone = this.storeFile;
    this.logGone();
  }

  private logGone(): void {
    const t = performance.now();
    if (t - this.goneLoggedAt < 60_000) return;
    this.goneLoggedAt = t;
    this.log.error(
      { file: this.gone, pid: process.pid },
      `the database file ${this.gone} was deleted or replaced while loanet runs: nothing more is stored (receipts, alert statuses and command results are not acknowledged, so sites keep them; changes are refused with 503). Stop loanet and restore the data folder; until it stops, the open database can still be copied from /proc/${process.pid}/fd (the link marked "(deleted)")`,
    );
  }

  /** Measure, give up or write back the reserve as the policy says, and remember the state. */
  check(writeFailed = false): DiskDecision {
    this.checkStore();
    if (this.gone !== null) this.logGone();
    let free: number;
    try {
      const s = this.statfs(this.dataDir);
      free = s.bavail * s.bsize;
      this.totalBytes = s.blocks * s.bsize;
    } catch (err) {
      // Cannot measure: keep what was known; a failed write still counts.
      this.log.warn({ err }, 'statfs of the data folder failed');
      if (this.last && !writeFailed) return this.last;
      free = writeFailed ? 0 : Number.MAX_SAFE_INTEGER;
    }
    this.measuredAt = performance.now();
    const d = decideDisk({ freeBytes: free, reserveHeldBytes: this.heldBytes(), writeFailed }, this.config);
    if (d.release) this.release(free, writeFailed);
    // A restore cancelled by a release may still be unwinding (its last write, its close): a new one starts beside it, else nothing would write the reserve back until the next check.
    if (d.restore && (!this.restoring || this.restoring.cancelled)) this.startRestore();
    const before = this.last?.state ?? 'ok';
    this.last = d;
    if (d.state !== before) {
      const refusing = d.refused.length ? `; paused: ${d.refused.join(', ')} (answered 507 until space is freed)` : '';
      const line = `data folder disk: ${before} -> ${d.state}, ${mb(d.freeBytes)} free${refusing}`;
      if (d.state === 'ok') this.log.info({ state: d.state, freeBytes: d.freeBytes }, line);
      else this.log.warn({ state: d.state, freeBytes: d.freeBytes, reserveHeldBytes: d.reserveHeldBytes }, line);
    }
    return d;
  }

  /**
   * Before a write that cannot wait (a login, an alert, a receipt): measure
   * now, so a disk that filled since the last check gives up its reserve
   * before SQLite needs the room, not after it failed.
   */
  beforeEssentialWrite(): void {
    if (this.gone !== null) throw fail('LOANET_STORE_GONE', { file: this.gone });
    const last = this.last;
    const recent = performance.now() - this.measuredAt < ESSENTIAL_RECHECK_MS;
    if (last && recent && last.freeBytes >= this.config.criticalBytes + Math.max(ESSENTIAL_MARGIN_BYTES, this.config.reserveBytes)) return;
    this.check();
    if (this.gone !== null) throw fail('LOANET_STORE_GONE', { file: this.gone });
  }

  /** Throws 507 LOANET_DISK_LOW when this kind of write is paused now. */
  admit(w: DeferrableWrite): void {
    const d = this.check();
    if (this.gone !== null) throw fail('LOANET_STORE_GONE', { file: this.gone });
    if (refuses(d.state, w)) throw Errors.diskLow(refusalMessage(w, d, this.config), d.state, d.freeBytes);
  }

  /** Whether this kind of write is paused (for background jobs: no measuring, the last state). */
  refuses(w: DeferrableWrite): boolean {
    return refuses((this.last ?? this.check()).state, w);
  }

  /**
   * A write failed: when the data folder's disk was full, give up the reserve
   * now and say so (true). The database server's own full disk is remembered
   * for health (databaseFullAt) and is not this one: false, the reserve kept.
   */
  noteWriteFailure(err: unknown): boolean {
    if (isDatabaseDiskFull(err)) {
      this.noteDatabaseFull();
      return false;
    }
    if (!isDiskFullError(err)) return false;
    this.lastFullAt = this.now();
    this.check(true);
    return true;
  }

  /** The database server refused a write because its own disk is full (PostgreSQL 53100). */
  noteDatabaseFull(): void {
    this.databaseFullAt = this.now();
  }

  /** When the database server last refused a write for its full disk (epoch ms); null since start. */
  lastDatabaseFullAt(): number | null {
    return this.databaseFullAt;
  }

  status(): DiskStatus {
    const d = this.check();
    return {
      state: d.state,
      freeBytes: d.freeBytes,
      totalBytes: this.totalBytes,
      lowBytes: this.config.lowBytes,
      criticalBytes: this.config.criticalBytes,
      reserve: { bytes: this.config.reserveBytes, heldBytes: d.reserveHeldBytes, inUse: d.reserveHeldBytes < this.config.reserveBytes },
      refusing: d.refused,
      lastFullAt: this.lastFullAt,
    };
  }

  private heldBytes(): number {
    // No exception for a missing file: this runs before every site report.
    return fs.statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
  }

  private release(free: number, writeFailed: boolean): void {
    const held = this.heldBytes();
    if (this.restoring) this.restoring.cancelled = true;
    try {
      fs.rmSync(this.file, { force: true });
    } catch (err) {
      // Not ours to delete any more (permissions changed by hand): say so, and let the write be tried.
      this.log.error({ err, file: this.file }, 'the disk reserve could not be deleted');
      return;
    }
    this.log.warn(
      { freeBytes: free, releasedBytes: held, writeFailed },
      `data folder disk nearly full (${mb(free)} free${writeFailed ? ', a write failed' : ''}): reserve of ${mb(held)} released for logins, alerts and receipts; uploads, history and other changes are refused until space is freed`,
    );
  }

  private startRestore(): void {
    const r = { done: Promise.resolve(), cancelled: false };
    this.restoring = r;
    r.done = this.writeReserve(r)
      .catch((err: unknown) => {
        if (!isDiskFullError(err)) this.log.error({ err }, 'writing the disk reserve failed');
      })
      .finally(() => {
        if (this.restoring === r) this.restoring = undefined;
      });
  }

  /**
   * Zeros appended in 1 MiB steps (the event loop keeps running), then
   * fsynced. A reserve cut short (a crash, a full disk) is still a reserve
   * of its size and is completed later; a release cancels the writing at the
   * next step, so the deleted file's space is not held by an open handle.
   */
  private async writeReserve(r: { cancelled: boolean }): Promise<void> {
    const want = this.config.reserveBytes;
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(this.file, 'a', 0o600);
      const zeros = Buffer.alloc(CHUNK);
      for (let at = (await fh.stat()).size; at < want; at += CHUNK) {
        if (r.cancelled) return;
        await fh.write(zeros, 0, Math.min(CHUNK, want - at));
      }
      await fh.datasync();
      this.log.info({ bytes: want }, `data folder disk: reserve of ${mb(want)} in place (${RESERVE_FILE})`);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }
}
