/**
 * Jittered exponential backoff for reconnects (pure: the random source is
 * injected, no timers here). The edge agent uses it for its link to the
 * broker and its media downloads; the server for its own link to an
 * external broker. It lives in `common/` because both sides need it and it
 * is not part of the wire contract (`protocol/`).
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
 *
 * Why a 30 s cap: after an outage the server's return is the moment an
 * emergency alert may follow, and an agent hears it only once it is back. An
 * agent's next try comes at most one cap after the return, so the cap bounds
 * time-to-all-back; with the embedded broker the broker is down with the
 * server, and nothing can tell the agent sooner. With a 5 min cap, a 5 min
 * outage left half a province away ~50 s after the return and 5 % ~230 s.
 * With 30 s a whole province is back within ~30 s, and because every agent's
 * tries are spread over that window (decorrelated jitter, phases mixed by
 * the outage), the return costs ~N/25 s connects a second (3,000 sites:
 * ~120/s, a few ms each on the server: a successful credential check is
 * cached) rather than a burst. A failed try is one TCP SYN and its refusal,
 * ~1 KB a minute on a 4G link. Refused credentials are not retried that
 * often: a wrong secret stays wrong, and each try costs the server a scrypt
 * (`refusedCapMs`, 5 min). `returnModel` runs this over an outage of any
 * length without timers, for tests and the reconnect-after-outage bench.
 */

export type BackoffStrategy = 'decorrelated' | 'full';

export interface BackoffOptions {
  /** Smallest delay (ms); default 1 s. */
  baseMs?: number;
  /** Largest delay (ms); default 30 s. */
  capMs?: number;
  /** Largest delay after a refused CONNACK (`atCap`); default the larger of `capMs` and 5 min. */
  refusedCapMs?: number;
  strategy?: BackoffStrategy;
  /** Uniform random in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 30_000;
export const DEFAULT_REFUSED_CAP_MS = 5 * 60_000;

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly refusedCapMs: number;
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
    this.refusedCapMs = options.refusedCapMs ?? Math.max(this.capMs, DEFAULT_REFUSED_CAP_MS);
    if (!(this.refusedCapMs >= this.baseMs) || !Number.isFinite(this.refusedCapMs)) {
      throw new RangeError(`backoff refusedCapMs (${this.refusedCapMs}) must be a finite number >= baseMs (${this.baseMs})`);
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
   * A long delay, for failures that retrying soon cannot fix (the broker
   * refused our credential): in [refusedCap/2, refusedCap], still jittered so
   * a province-wide credential mistake does not turn into synchronised
   * retries. The next ordinary failure goes back to the ordinary cap.
   */
  atCap(): number {
    this.attemptCount++;
    const delay = this.refusedCapMs / 2 + this.random() * (this.refusedCapMs / 2);
    this.prevMs = Math.min(delay, this.capMs);
    return Math.round(delay);
  }

  /** After a success: the next failure starts again from `base`. */
  reset(): void {
    this.attemptCount = 0;
    this.prevMs = this.baseMs;
  }
}

/** Where one agent stands when the server comes back (returnModel). */
export interface ReturnState {
  /** From the server's return to the agent's first try after it (ms). */
  firstTryAfterMs: number;
  /** Tries made (and failed) while the server was away. */
  triesDuringOutage: number;
}

/**
 * The back-off over an outage, without timers: the agent's link drops at 0,
 * it tries after each delay `backoff` gives, and every try before the server
 * is back at `returnAtMs` fails after `failMs` (0: refused at once, as when
 * the server's host answers but the process is down). Answers when its first
 * try after the return comes. `backoff` is advanced past the outage, so the
 * caller can go on drawing from it for tries that fail after the return.
 */
export function returnModel(backoff: Backoff, returnAtMs: number, failMs = 0): ReturnState {
  let t = backoff.next();
  let tries = 0;
  while (t < returnAtMs) {
    tries++;
    t += failMs + backoff.next();
  }
  return { firstTryAfterMs: t - returnAtMs, triesDuringOutage: tries };
}
