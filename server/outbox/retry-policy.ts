/**
 * What to do after an attempt to deliver a message (pure: the time and the
 * random source are given).
 *
 * - 2xx: delivered.
 * - 408 and 429: the receiver is busy, try again; 429 (and 503) honour
 *   Retry-After, bounded so a receiver cannot park a message for days.
 * - any other 4xx: the receiver refuses this message and always will (bad
 *   payload, unknown chat, revoked token): failed, so the messages behind it
 *   move on instead of waiting on it.
 * - 3xx: redirects are never followed (a receiver's URL that moved is a
 *   configuration to fix, and following would let a receiver send our signed
 *   body elsewhere): retried like a 5xx, so fixing the URL within the maximum
 *   age still delivers it.
 * - 5xx, timeouts, connection errors: try again later.
 *
 * Later means a capped exponential back-off with jitter, from the stored
 * attempt count alone: any server may make the next attempt after a
 * restart, so the delay cannot depend on a sequence held in memory (the
 * reconnect back-off in common/backoff.ts is such a sequence, decorrelated
 * from the previous delay; this is its "full jitter" sibling, floored at half
 * the ceiling so a down receiver is never retried at once). A message still
 * undelivered at `maxAgeMs` fails for good with its last error: an alarm
 * three days old is no longer news, and the outbox must not grow for ever
 * behind a receiver that never comes back.
 */

export interface RetryPolicy {
  /** The first retry's ceiling (ms). */
  baseMs: number;
  /** The largest delay between attempts (ms). */
  capMs: number;
  /** A message older than this is failed rather than retried (ms). */
  maxAgeMs: number;
  /** Retry-After is honoured up to this (ms). */
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseMs: 5_000,
  capMs: 10 * 60_000,
  maxAgeMs: 72 * 3_600_000,
  retryAfterCapMs: 3_600_000,
};

/** What one attempt came to, as an adapter reads the receiver's answer. */
export type AttemptResult =
  | { kind: 'accepted'; status: number }
  /** The receiver will never take this message. */
  | { kind: 'refused'; status: number; error: string }
  /** Not now: no answer (status null), or an answer that says try later. */
  | { kind: 'unavailable'; status: number | null; error: string; retryAfterMs?: number };

export type Decision =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; at: number; status: number | null; error: string }
  | { outcome: 'failed'; status: number | null; error: string };

/** The generic reading of an HTTP status (adapters for APIs that say more in their body refine it). */
export function resultOfStatus(status: number, retryAfterMs: number | undefined, detail: string): AttemptResult {
  if (status >= 200 && status < 300) return { kind: 'accepted', status };
  const error = detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`;
  if (status === 408 || status === 429) return { kind: 'unavailable', status, error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  if (status >= 400 && status < 500) return { kind: 'refused', status, error };
  if (status === 503 && retryAfterMs !== undefined) return { kind: 'unavailable', status, error, retryAfterMs };
  return { kind: 'unavailable', status, error };
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date (IMF-fixdate), in ms from
 * `now`; undefined when absent or unreadable (the back-off applies then).
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  // IMF-fixdate, the one date form senders must use (RFC 9110 §5.6.7); Date.parse alone takes "-5" for a year.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The delay before the attempt after `attempts` failed ones (ms): in [ceiling/2, ceiling], ceiling = min(cap, base·2^(attempts−1)). */
export function backoffDelay(attempts: number, policy: RetryPolicy, random: () => number): number {
  // 2^n overflows to Infinity for large n; min() keeps the cap.
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * After an attempt: `attempts` counts it; `createdAt` is the message's.
 */
export function decide(
  result: AttemptResult,
  message: { createdAt: number; attempts: number },
  now: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): Decision {
  switch (result.kind) {
    case 'accepted':
      return { outcome: 'delivered', status: result.status };
    case 'refused':
      return { outcome: 'failed', status: result.status, error: result.error };
    case 'unavailable': {
      if (now - message.createdAt >= policy.maxAgeMs) {
        const hours = Math.round(policy.maxAgeMs / 3_600_000);
        return { outcome: 'failed', status: result.status, error: `undelivered after ${hours} h (${message.attempts} attempts): ${result.error}` };
      }
      const delay =
        result.retryAfterMs === undefined
          ? backoffDelay(message.attempts, policy, random)
          : // Never sooner than a second: a Retry-After of 0 from a struggling receiver is not an invitation to hammer it.
            Math.min(policy.retryAfterCapMs, Math.max(1_000, result.retryAfterMs));
      return { outcome: 'retry', at: now + delay, status: result.status, error: result.error };
    }
    default: {
      const never: never = result;
      throw new Error(`unknown attempt result ${(never as { kind: string }).kind}`);
    }
  }
}
