/**
 * Jittered exponential backoff for the agent's reconnects (pure: the random
 * source is injected, no timers here).
 *
 * Why jitter: a province runs ~3,000 agents against one server. When the
 * server restarts, every agent loses its link in the same second; with a
 * fixed or purely exponential delay they would all come back in the same
 * second too, again and again, and the restarted broker would take 3,000
 * CONNECTs (and as many retained-state publishes and subscriptions) at once.
 * Randomising each delay spreads the herd over the whole window.
 *
 * Strategies, after "Exponential Backoff And Jitter" (AWS Architecture Blog,
 * Marc Brooker, 2015):
 * - `decorrelated` (default): sleep = min(cap, random(base, prev * 3)). Never
 *   below `base`, so even the first retry after a mass disconnect is spread
 *   over [base, 3·base] instead of all landing at ~0 ms; the blog found it
 *   close to full jitter in total work and with fewer very short sleeps.
 * - `full`: sleep = random(0, min(cap, base · 2^attempt)).
 */

export type BackoffStrategy = 'decorrelated' | 'full';

export interface BackoffOptions {
  /** Smallest delay (ms); default 1 s. */
  baseMs?: number;
  /** Largest delay (ms); default 5 min. */
  capMs?: number;
  strategy?: BackoffStrategy;
  /** Uniform random in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 5 * 60_000;

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly strategy: BackoffStrategy;
  private readonly random: () => number;
  private attemptCount = 0;
  private prevMs: number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.capMs = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
    if (!(this.baseMs > 0) || !Number.isFinite(this.baseMs)) throw new RangeError(`backoff baseMs must be > 0, got ${this.baseMs}`);
    if (!(this.capMs >= this.baseMs) || !Number.isFinite(this.capMs)) {
      throw new RangeError(`backoff capMs (${this.capMs}) must be a finite number >= baseMs (${this.baseMs})`);
    }
    this.strategy = options.strategy ?? 'decorrelated';
    this.random = options.random ?? Math.random;
    this.prevMs = this.baseMs;
  }

  /** Retries since the last reset. */
  get attempts(): number {
    return this.attemptCount;
  }

  /** Delay before the next attempt (ms, integer); advances the sequence. */
  next(): number {
    const r = this.random();
    let delay: number;
    if (this.strategy === 'full') {
      // 2^attempt overflows to Infinity after ~1000 attempts; min() keeps it at cap.
      const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attemptCount);
      delay = r * ceiling;
    } else {
      const upper = Math.max(this.baseMs, this.prevMs * 3);
      delay = Math.min(this.capMs, this.baseMs + r * (upper - this.baseMs));
    }
    this.attemptCount++;
    this.prevMs = delay;
    return Math.round(delay);
  }

  /**
   * A delay near the cap, for failures that retrying soon cannot fix (the
   * broker refused our credential): in [cap/2, cap], still jittered so a
   * province-wide credential mistake does not turn into synchronised retries.
   */
  atCap(): number {
    this.attemptCount++;
    const delay = this.capMs / 2 + this.random() * (this.capMs / 2);
    this.prevMs = delay;
    return Math.round(delay);
  }

  /** After a success: the next failure starts again from `base`. */
  reset(): void {
    this.attemptCount = 0;
    this.prevMs = this.baseMs;
  }
}
