/**
 * Limits on guessing enrolment codes (POST /api/enrol needs no login, so
 * anyone on the network may try): the decision, pure, and the limiter that
 * asks the store for the counts (server/auth/guess-store.ts: shared by every
 * server on one database). The caller passes the time and the client's
 * address.
 *
 * Refused attempts are counted over a sliding window (15 minutes by
 * default) per address (10: a board with a mistyped code gets several
 * tries) and over all addresses together (100: a guesser with many
 * addresses). A success counts nothing. Check and count are one step, as in
 * the login limits (server/auth/login-limiter.ts): `attempt()` reserves a
 * refusal before the code is looked at, in one atomic step of the store
 * across servers, and `succeed()` gives it back, so parallel guesses cannot
 * all pass a check none of them has counted in.
 *
 * The store's rows stay bounded: live ones by `total`, expired ones deleted
 * once per SWEEP_EVERY attempts of a server.
 */
import { addressKey, type KeyCount, SWEEP_EVERY } from '../auth/login-limiter.ts';

export interface EnrolLimits {
  perAddress: number;
  total: number;
  windowMs: number;
}

export const DEFAULT_ENROL_LIMITS: EnrolLimits = { perAddress: 10, total: 100, windowMs: 15 * 60_000 };

export interface EnrolAttempt {
  ok: true;
  /** The code was right: the reservation is given back. */
  succeed(): Promise<void>;
  /** The code was refused: the reservation stays. */
  fail(): Promise<void>;
}

export interface EnrolRefusal {
  ok: false;
  kind: 'address' | 'total';
  limit: number;
  retryAfterMs: number;
}

/** Refused codes within the window: from this address, and from every address. */
export interface EnrolCounts {
  address: KeyCount;
  total: KeyCount;
}

/** The refusal of an attempt at `now` given the counts, or undefined when it may go on. */
export function enrolRefusal(c: EnrolCounts, L: EnrolLimits, now: number): EnrolRefusal | undefined {
  const lifts = (k: KeyCount) => (k.oldest ?? now) + L.windowMs - now;
  if (c.address.n >= L.perAddress) return { ok: false, kind: 'address', limit: L.perAddress, retryAfterMs: lifts(c.address) };
  if (c.total.n >= L.total) return { ok: false, kind: 'total', limit: L.total, retryAfterMs: lifts(c.total) };
  return undefined;
}

/** What the limiter needs of the store (server/auth/guess-store.ts GuessStore). */
export interface EnrolGuessStore {
  /** As LoginGuessStore.reserveLogin: counts after `since` and the reservation at `now` in one atomic step across servers. */
  reserveEnrol(address: string, now: number, since: number, decide: (c: EnrolCounts) => EnrolRefusal | undefined): Promise<{ id: number } | EnrolRefusal>;
  giveBack(id: number): Promise<void>;
  /** Delete enrolment refusals at or before `before`. */
  sweepEnrol(before: number): Promise<void>;
}

export class EnrolLimiter {
  private sinceSweep = 0;

  constructor(
    private readonly store: EnrolGuessStore,
    readonly limits: EnrolLimits = DEFAULT_ENROL_LIMITS,
  ) {}

  async attempt(address: string, now: number): Promise<EnrolAttempt | EnrolRefusal> {
    const L = this.limits;
    if (++this.sinceSweep >= SWEEP_EVERY) {
      this.sinceSweep = 0;
      await this.store.sweepEnrol(now - L.windowMs);
    }
    const r = await this.store.reserveEnrol(addressKey(address), now, now - L.windowMs, (c) => enrolRefusal(c, L, now));
    if ('ok' in r) return r;
    const { id } = r;
    let settled = false;
    return {
      ok: true,
      succeed: async () => {
        if (settled) return;
        settled = true;
        await this.store.giveBack(id);
      },
      fail: async () => {
        settled = true;
      },
    };
  }
}
