/**
 * Limits on guessing enrolment codes (POST /api/enrol needs no login, so
 * anyone on the network may try). Pure: the caller passes the time and the
 * client's address.
 *
 * Refused attempts are counted over a sliding window (15 minutes by
 * default) per address (10: a board with a mistyped code gets several
 * tries) and over all addresses together (100: a guesser with many
 * addresses). A success counts nothing. Check and count are one step, as in
 * the login limits (server/auth/login-limiter.ts): `attempt()` reserves a
 * refusal before the code is looked at and `succeed()` gives it back, so
 * parallel guesses cannot all pass a check none of them has counted in.
 *
 * Memory stays bounded without a sweep job: every live entry is in the
 * total list, which never holds more than `total` entries, so at most
 * `total` addresses hold live entries; expired ones are dropped as they are
 * met and by a full sweep whenever more addresses than that are held.
 */
import { addressKey } from '../auth/login-limiter.ts';

export interface EnrolLimits {
  perAddress: number;
  total: number;
  windowMs: number;
}

export const DEFAULT_ENROL_LIMITS: EnrolLimits = { perAddress: 10, total: 100, windowMs: 15 * 60_000 };

export interface EnrolAttempt {
  ok: true;
  /** The code was right: the reservation is given back. */
  succeed(): void;
  /** The code was refused: the reservation stays. */
  fail(): void;
}

export interface EnrolRefusal {
  ok: false;
  kind: 'address' | 'total';
  limit: number;
  retryAfterMs: number;
}

export class EnrolLimiter {
  private readonly byAddress = new Map<string, number[]>();
  private readonly all: number[] = [];

  constructor(readonly limits: EnrolLimits = DEFAULT_ENROL_LIMITS) {}

  attempt(address: string, now: number): EnrolAttempt | EnrolRefusal {
    const L = this.limits;
    const key = addressKey(address);
    this.expire(this.all, now);
    if (this.byAddress.size > L.total) this.sweep(now);
    const mine = this.byAddress.get(key) ?? [];
    this.expire(mine, now);
    if (mine.length >= L.perAddress) return { ok: false, kind: 'address', limit: L.perAddress, retryAfterMs: mine[0]! + L.windowMs - now };
    if (this.all.length >= L.total) return { ok: false, kind: 'total', limit: L.total, retryAfterMs: this.all[0]! + L.windowMs - now };
    mine.push(now);
    this.all.push(now);
    this.byAddress.set(key, mine);
    let settled = false;
    return {
      ok: true,
      succeed: () => {
        if (settled) return;
        settled = true;
        remove(mine, now);
        remove(this.all, now);
        if (mine.length === 0 && this.byAddress.get(key) === mine) this.byAddress.delete(key);
      },
      fail: () => {
        settled = true;
      },
    };
  }

  /** Addresses currently tracked (for tests of the memory bound). */
  addresses(): number {
    return this.byAddress.size;
  }

  private sweep(now: number): void {
    for (const [key, list] of this.byAddress) {
      this.expire(list, now);
      if (list.length === 0) this.byAddress.delete(key);
    }
  }

  private expire(list: number[], now: number): void {
    const from = now - this.limits.windowMs;
    let drop = 0;
    while (drop < list.length && list[drop]! <= from) drop++;
    if (drop > 0) list.splice(0, drop);
  }
}

/** Remove one entry of time `at` (the latest such: the one this attempt added, or an equal one, which counts the same). */
function remove(list: number[], at: number): void {
  const i = list.lastIndexOf(at);
  if (i >= 0) list.splice(i, 1);
}
