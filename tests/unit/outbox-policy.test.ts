import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY_POLICY, decide, parseRetryAfter, resultOfStatus, type RetryPolicy } from '../../server/outbox/retry-policy.ts';

const policy: RetryPolicy = { baseMs: 1_000, capMs: 60_000, maxAgeMs: 72 * 3_600_000, retryAfterCapMs: 600_000 };
const T0 = Date.UTC(2026, 11, 5, 7, 0, 0);

describe('what an answer means', () => {
  it('2xx is delivered, whatever the 2xx', () => {
    for (const s of [200, 201, 202, 204]) expect(resultOfStatus(s, undefined, '')).toEqual({ kind: 'accepted', status: s });
  });

  it('a 4xx other than 408 and 429 is a refusal: the receiver will never take this message', () => {
    for (const s of [400, 401, 403, 404, 410, 413, 422]) expect(resultOfStatus(s, undefined, 'no').kind).toBe('refused');
  });

  it('408, 429, 5xx and redirects are worth another attempt', () => {
    for (const s of [408, 429, 500, 502, 503, 504, 301, 302, 307]) expect(resultOfStatus(s, undefined, '').kind).toBe('unavailable');
  });

  it('429 and 503 carry their Retry-After; a 500 does not', () => {
    expect(resultOfStatus(429, 7_000, '')).toMatchObject({ kind: 'unavailable', retryAfterMs: 7_000 });
    expect(resultOfStatus(503, 7_000, '')).toMatchObject({ kind: 'unavailable', retryAfterMs: 7_000 });
    expect(resultOfStatus(500, 7_000, '')).not.toHaveProperty('retryAfterMs');
  });

  it('Retry-After reads as seconds or as an HTTP date, and nothing else', () => {
    expect(parseRetryAfter('120', T0)).toBe(120_000);
    expect(parseRetryAfter(new Date(T0 + 30_000).toUTCString(), T0)).toBe(30_000);
    expect(parseRetryAfter(new Date(T0 - 30_000).toUTCString(), T0)).toBe(0);
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter('-5', T0)).toBeUndefined();
    expect(parseRetryAfter(undefined, T0)).toBeUndefined();
  });
});

describe('when to try again', () => {
  it('the back-off doubles its ceiling from the base up to the cap, never below half of it', () => {
    const lows = [1, 2, 3, 4, 5, 6, 7, 8, 30, 2000].map((n) => backoffDelay(n, policy, () => 0));
    const highs = [1, 2, 3, 4, 5, 6, 7, 8, 30, 2000].map((n) => backoffDelay(n, policy, () => 0.999999));
    expect(highs).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
    expect(lows).toEqual(highs.map((h) => h / 2));
  });

  it('jitter spreads receivers that failed together over the window', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(6, policy, random)));
    expect(delays.size).toBeGreaterThan(40);
    for (const d of delays) expect(d >= 16_000 && d <= 32_000).toBe(true);
  });

  it('a delivered message is done; a refused one fails at once with the receiver’s words', () => {
    expect(decide({ kind: 'accepted', status: 204 }, { createdAt: T0, attempts: 3 }, T0 + 5_000, policy)).toEqual({ outcome: 'delivered', status: 204 });
    expect(decide({ kind: 'refused', status: 400, error: 'HTTP 400: bad chat' }, { createdAt: T0, attempts: 1 }, T0, policy)).toEqual({
      outcome: 'failed',
      status: 400,
      error: 'HTTP 400: bad chat',
    });
  });

  it('an unavailable receiver is retried after the back-off', () => {
    const d = decide({ kind: 'unavailable', status: null, error: 'ECONNREFUSED' }, { createdAt: T0, attempts: 3 }, T0 + 10_000, policy, () => 0.5);
    expect(d).toEqual({ outcome: 'retry', at: T0 + 10_000 + 3_000, status: null, error: 'ECONNREFUSED' });
  });

  it('Retry-After is honoured over the back-off, bounded above by the policy and below by a second', () => {
    const at = (retryAfterMs: number) => {
      const d = decide({ kind: 'unavailable', status: 429, error: 'HTTP 429', retryAfterMs }, { createdAt: T0, attempts: 1 }, T0, policy, () => 0.5);
      return d.outcome === 'retry' ? d.at - T0 : -1;
    };
    expect(at(45_000)).toBe(45_000);
    expect(at(30 * 86_400_000)).toBe(600_000);
    expect(at(0)).toBe(1_000);
  });

  it('a message still undelivered at the maximum age fails with the last error and the count of attempts', () => {
    const d = decide({ kind: 'unavailable', status: 503, error: 'HTTP 503' }, { createdAt: T0, attempts: 431 }, T0 + policy.maxAgeMs, policy);
    expect(d).toEqual({ outcome: 'failed', status: 503, error: 'undelivered after 72 h (431 attempts): HTTP 503' });
    const before = decide({ kind: 'unavailable', status: 503, error: 'HTTP 503' }, { createdAt: T0, attempts: 430 }, T0 + policy.maxAgeMs - 1, policy);
    expect(before.outcome).toBe('retry');
  });

  it('the defaults give up after 72 h and wait at most 10 minutes between attempts', () => {
    expect(DEFAULT_RETRY_POLICY.maxAgeMs).toBe(72 * 3_600_000);
    expect(backoffDelay(1_000, DEFAULT_RETRY_POLICY, () => 0.999999)).toBe(600_000);
  });
});
