/**
 * Limits on password guessing, for login and for changing one's password
 * (both test a password, so both draw on the same budget): the decision,
 * pure, and the limiter that asks the store for the counts (guess-store.ts:
 * shared by every server on one database, so N servers behind a load
 * balancer do not give a guesser N times the attempts). The caller passes
 * the time and the client's address.
 *
 * Three counts of failed attempts over a sliding window (15 minutes):
 * - per (username, address), at most `perUserAddress` (10): one address
 *   guessing one account;
 * - per address, at most `perAddress` (100): one address guessing many
 *   accounts;
 * - per username over every address, `perUser` (50) free, then exponential
 *   back-off: each further attempt waits 1 s, 2 s, 4 s … (at most
 *   `backoffMaxMs`, 5 minutes) after the last failure. This bounds a guesser
 *   spread over many addresses without ever locking the account for long,
 *   and an address the user signed in from successfully in the last 30 days
 *   is exempt from it. So someone who knows a username can no longer lock its
 *   owner out: failures from their address count against their address.
 *
 * Check and count are one step: `attempt()` reserves a failure before the
 * slow password check, in one atomic step of the store (no other server's
 * reservation for the same user or address comes between its count and its
 * write); `succeed()` gives it back (and forgives that user at that
 * address), `release()` gives it back when no password was tested, and
 * `fail()` keeps it. So parallel guesses, on one server or several, cannot
 * all pass a check that none of them has counted in yet. A server that dies
 * between the reservation and the answer leaves it counted as a failure.
 *
 * IPv6 clients are counted per /64 (one subscriber usually holds a whole /64),
 * IPv4-mapped IPv6 as IPv4.
 */
import net from 'node:net';

export interface LoginLimits {
  perUserAddress: number;
  perAddress: number;
  perUser: number;
  windowMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perUserAddress: 10,
  perAddress: 100,
  perUser: 50,
  windowMs: 15 * 60 * 1000,
  backoffMaxMs: 5 * 60 * 1000,
};

/** The first back-off step past the per-user free attempts. */
const BACKOFF_BASE_MS = 1000;
/** An address the user signed in from this recently skips the per-user back-off. */
export const KNOWN_ADDRESS_MS = 30 * 86_400_000;
/** Expired counts are deleted once per this many attempts of one server, so the store's table follows the window. */
export const SWEEP_EVERY = 1024;

export type LimitKind = 'user_address' | 'address' | 'user';

export interface Refusal {
  ok: false;
  kind: LimitKind;
  /** The count that was reached (failures per window), for the message. */
  limit: number;
  retryAfterMs: number;
}

export interface Attempt {
  ok: true;
  /** The password was right: give back the reservation and forgive this user at this address. */
  succeed(): Promise<void>;
  /** The password was wrong: the reservation stays as a failure. */
  fail(): Promise<void>;
  /** No password was tested (refused for another reason first): give back the reservation. */
  release(): Promise<void>;
}

/** The failures of one key within the window: how many, the oldest and the newest time. */
export interface KeyCount {
  n: number;
  oldest: number | null;
  newest: number | null;
}

/** What the decision reads of the store for one attempt. */
export interface LoginCounts {
  /** Failures of this user at this address since the pair's last success. */
  userAddress: KeyCount;
  address: KeyCount;
  user: KeyCount;
  /** When this user last signed in from this address (null: never, or forgotten). */
  knownAt: number | null;
}

/** Whose counts an attempt reads and adds to. */
export interface LoginKey {
  username: string;
  /** addressKey() of the client's address. */
  address: string;
}

/**
 * The refusal of an attempt at `now` given the counts, or undefined when it
 * may go on. Of several limits reached, the one that lifts last is named.
 */
export function loginRefusal(c: LoginCounts, L: LoginLimits, now: number): Refusal | undefined {
  const refusals: Refusal[] = [];
  const lifts = (k: KeyCount) => (k.oldest ?? now) + L.windowMs - now;
  if (c.userAddress.n >= L.perUserAddress) refusals.push({ ok: false, kind: 'user_address', limit: L.perUserAddress, retryAfterMs: lifts(c.userAddress) });
  if (c.address.n >= L.perAddress) refusals.push({ ok: false, kind: 'address', limit: L.perAddress, retryAfterMs: lifts(c.address) });
  const knownAddress = c.knownAt !== null && c.knownAt > now - KNOWN_ADDRESS_MS;
  if (!knownAddress && c.user.n >= L.perUser) {
    const wait = backoffMs(c.user.n - L.perUser, L.backoffMaxMs);
    const last = c.user.newest ?? now;
    if (now < last + wait) refusals.push({ ok: false, kind: 'user', limit: L.perUser, retryAfterMs: last + wait - now });
  }
  if (refusals.length === 0) return undefined;
  return refusals.reduce((x, y) => (y.retryAfterMs > x.retryAfterMs ? y : x));
}

/**
 * What the limiter needs of the store (guess-store.ts GuessStore). Every
 * time is the caller's clock.
 */
export interface LoginGuessStore {
  /**
   * One atomic step: read `key`'s counts of failures after `since` (and the
   * pair's known-address time), then, unless `decide` refuses, write a
   * reservation at `now`. No other reservation for the same user or address,
   * through any server, is counted or written in between.
   */
  reserveLogin(key: LoginKey, now: number, since: number, decide: (c: LoginCounts) => Refusal | undefined): Promise<{ id: number } | Refusal>;
  /** Delete a reservation (release). */
  giveBack(id: number): Promise<void>;
  /** Delete a reservation, forgive the pair's failures (their per-address and per-user counts stay), and remember the pair's address as known at `now`. */
  forgive(id: number, key: LoginKey, now: number): Promise<void>;
  /** Forget whom the user's failures after `since` were against (the per-address counts stay); resolves to how many. */
  unlock(username: string, since: number): Promise<number>;
  /** Delete login failures at or before `before` and known addresses at or before `knownBefore`. */
  sweepLogin(before: number, knownBefore: number): Promise<void>;
}

export class LoginLimiter {
  private sinceSweep = 0;

  constructor(
    private readonly store: LoginGuessStore,
    readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  async attempt(username: string, address: string, now: number): Promise<Attempt | Refusal> {
    const L = this.limits;
    if (++this.sinceSweep >= SWEEP_EVERY) {
      this.sinceSweep = 0;
      await this.store.sweepLogin(now - L.windowMs, now - KNOWN_ADDRESS_MS);
    }
    const key: LoginKey = { username, address: addressKey(address) };
    const r = await this.store.reserveLogin(key, now, now - L.windowMs, (c) => loginRefusal(c, L, now));
    if ('ok' in r) return r;
    const { id } = r;
    let settled = false;
    const settle = (fn: () => Promise<void>) => async () => {
      if (settled) return;
      settled = true;
      await fn();
    };
    return {
      ok: true,
      // Only this user at this address is forgiven: a good login must not reset an
      // address that is guessing other accounts, nor a guesser spread over other addresses.
      succeed: settle(() => this.store.forgive(id, key, now)),
      fail: settle(async () => {}),
      release: settle(() => this.store.giveBack(id)),
    };
  }

  /** Forget every failure counted against `username` (an admin's unlock); answers how many there were. */
  unlock(username: string, now: number): Promise<number> {
    return this.store.unlock(username, now - this.limits.windowMs);
  }
}

/** The wait after the last failure once `excess` attempts went past the free ones: 1 s, 2 s, 4 s … capped. */
export function backoffMs(excess: number, maxMs: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.min(Math.max(excess, 0), 40), maxMs);
}

/**
 * The key an address is counted under: IPv4 as is (also when IPv4-mapped in
 * IPv6), IPv6 by its /64 prefix, anything else as given.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && net.isIPv4(mapped[1]!)) return mapped[1]!;
  if (net.isIPv4(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (a zone index dropped), or undefined when it is not one. */
export function ipv6Groups(ip: string): number[] | undefined {
  const bare = ip.replace(/%.*$/, '');
  if (!net.isIPv6(bare)) return undefined;
  let text = bare.toLowerCase();
  // A trailing dotted IPv4 part is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const b = v4.slice(1, 5).map(Number);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (all.length !== 8) return undefined;
  return all.map((g) => parseInt(g, 16));
}
