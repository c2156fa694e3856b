/**
 * The live record's writes, one at a time and in the order they were asked
 * for: a stream's end never overtakes the site reports written before it,
 * and two batches of reports are never two transactions open at once (on
 * SQLite they would wait for each other's lock anyway; on PostgreSQL two
 * upserts of the same rows would deadlock or the older overwrite the newer).
 *
 * A write that fails is logged and counted here; it resolves all the same,
 * so the queue goes on. What a failed write held is the writer's caller's to
 * keep (site-reports.ts marks its reports dirty again for the next flush).
 */
import type { Logger } from '../fleet/broker.ts';

export class LiveRecordWriter {
  private tail: Promise<void> = Promise.resolve();
  private failed = 0;
  private pending = 0;

  constructor(private readonly log: Pick<Logger, 'error'>) {}

  /** Runs `write` after every write asked for before it; resolves true when it succeeded, false (logged) when it threw. */
  run(what: string, fields: Record<string, unknown>, write: () => Promise<void>): Promise<boolean> {
    this.pending++;
    const done = this.tail.then(write).then(
      () => true,
      (err: unknown) => {
        this.failed++;
        this.log.error({ ...fields, err: err instanceof Error ? err.message : String(err) }, what);
        return false;
      },
    );
    this.tail = done.then(() => {
      this.pending--;
    });
    return done;
  }

  /** Resolves once every write asked for so far has been tried. */
  idle(): Promise<void> {
    return this.tail;
  }

  /** Writes that failed, and writes queued or running now. */
  stats(): { failed: number; pending: number } {
    return { failed: this.failed, pending: this.pending };
  }
}
