/**
 * The two measurements this feature makes itself, since no service has them:
 * the event loop's delay (perf_hooks monitorEventLoopDelay, sampled by libuv
 * every 20 ms) and the store's latency. The store has no single chokepoint,
 * so a probe query is timed every 10 s (and at each readiness check) instead.
 * On SQLite every query goes through the one connection, so what the probe
 * waits is what any statement waits (a checkpoint, a slow disk, a lock held by
 * a backup in another process); it reads a table, so a file that cannot be
 * read fails it. On PostgreSQL it is a `SELECT 1` round trip through the
 * pool: what any query waits for a connection and an answer.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { Store } from '../store/database.ts';

export interface EventLoopFigures {
  quantiles: Array<{ quantile: number; seconds: number }>;
  maxSeconds: number;
  sumSeconds: number;
  count: number;
}

export interface StoreFigures {
  up: boolean;
  bounds: readonly number[];
  /** Per bucket (not cumulative), then the overflow. */
  counts: readonly number[];
  sumSeconds: number;
  failures: number;
}

export interface Probes {
  eventLoop(): EventLoopFigures;
  store(): StoreFigures;
}

/** A probe not answered by then has failed: readiness must say so rather than wait for a database that hangs. */
export const STORE_PROBE_TIMEOUT_MS = 5_000;
export const STORE_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const QUANTILES = [0.5, 0.9, 0.99];
const ns = (v: number) => v / 1e9;
const windowOf = (h: IntervalHistogram) => ({ quantiles: QUANTILES.map((quantile) => ({ quantile, seconds: ns(h.percentile(quantile * 100)) })), maxSeconds: ns(h.max) });

export class RuntimeProbes implements Probes {
  private loop: IntervalHistogram | undefined;
  /** Quantiles of the last complete window (a minute); sum and count carried across windows. */
  private window: { quantiles: Array<{ quantile: number; seconds: number }>; maxSeconds: number } = {
    quantiles: QUANTILES.map((quantile) => ({ quantile, seconds: 0 })),
    maxSeconds: 0,
  };
  private rotated = false;
  private loopSum = 0;
  private loopCount = 0;
  private readonly storeCounts = new Array<number>(STORE_BUCKETS_S.length + 1).fill(0);
  private storeSum = 0;
  private storeFailures = 0;
  private lastStoreOk = true;
  /** The probe running now: readiness checks arriving meanwhile share it rather than each holding a connection. */
  private inflight: Promise<boolean> | undefined;

  constructor(
    /** The store probed: its dialect says which query. */
    private readonly probed: Pick<Store, 'dialect' | 'db'>,
    /** The database file's path when it was deleted or replaced (DiskSpace.storeGone), else null. */
    private readonly storeGone: () => string | null,
  ) {}

  start(): void {
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
  }

  stop(): void {
    this.loop?.disable();
  }

  /** Closes the minute's window: its quantiles become what the summary reports. */
  rotate(): void {
    const h = this.loop;
    if (!h) return;
    this.rotated = true;
    if (h.count > 0) {
      this.window = windowOf(h);
      this.loopSum += ns(h.mean) * h.count;
      this.loopCount += h.count;
    }
    h.reset();
  }

  eventLoop(): EventLoopFigures {
    const h = this.loop;
    // Before the first minute has closed, the open window is all there is to say.
    if (!this.rotated && h && h.count > 0) this.window = windowOf(h);
    // The open window's sum and count join the closed ones', so the count never goes back.
    const open = h && h.count > 0 ? { sum: ns(h.mean) * h.count, count: h.count } : { sum: 0, count: 0 };
    return { ...this.window, sumSeconds: this.loopSum + open.sum, count: this.loopCount + open.count };
  }

  /** One timed probe query; true when it answered in time and the file (SQLite) is still the one opened. */
  probeStore(): Promise<boolean> {
    this.inflight ??= this.runProbe().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async runProbe(): Promise<boolean> {
    const t = performance.now();
    let ok = this.storeGone() === null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the store probe timed out')), STORE_PROBE_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.query(), timeout]);
    } catch {
      ok = false;
    } finally {
      clearTimeout(timer);
    }
    const sec = (performance.now() - t) / 1000;
    if (!ok) this.storeFailures++;
    this.lastStoreOk = ok;
    let i = STORE_BUCKETS_S.findIndex((le) => sec <= le);
    if (i < 0) i = STORE_BUCKETS_S.length;
    this.storeCounts[i]!++;
    this.storeSum += sec;
    return ok;
  }

  private async query(): Promise<void> {
    const db = this.probed.db;
    if (this.probed.dialect === 'postgres') await sql`SELECT 1`.execute(db);
    else
      await db
        .selectFrom('schema_migrations')
        .select((eb) => eb.fn.max('version').as('v'))
        .executeTakeFirst();
  }

  store(): StoreFigures {
    return {
      up: this.lastStoreOk && this.storeGone() === null,
      bounds: STORE_BUCKETS_S,
      counts: this.storeCounts,
      sumSeconds: this.storeSum,
      failures: this.storeFailures,
    };
  }
}
