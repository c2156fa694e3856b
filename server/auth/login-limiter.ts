/**
 * Limits on password guessing, for login and for changing one's password
 * (both test a password, so both draw on the same budget). Pure: the caller
 * passes the time and the client's address.
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
 * slow password check; `succeed()` gives it back (and forgives that user at
 * that address), `release()` gives it back when no password was tested, and
 * `fail()` keeps it. So parallel guesses cannot all pass a check that none of
 * them has counted in yet.
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
const KNOWN_ADDRESS_MS = 30 * 86_400_000;
/** Remembered (user, address) sign-ins at most; the oldest are forgotten first. */
const KNOWN_ADDRESS_MAX = 20_000;
/** Expired entries of every key are dropped once per this many attempts, so memory follows the window. */
const SWEEP_EVERY = 1024;

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
  succeed(): void;
  /** The password was wrong: the reservation stays as a failure. */
  fail(): void;
  /** No password was tested (refused for another reason first): give back the reservation. */
  release(): void;
}

interface Entry {
  at: number;
}

export class LoginLimiter {
  private readonly byUserAddress = new Map<string, Entry[]>();
  private readonly byAddress = new Map<string, Entry[]>();
  private readonly byUser = new Map<string, Entry[]>();
  private readonly known = new Map<string, number>();
  private sinceSweep = 0;

  constructor(private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {}

  attempt(username: string, address: string, now: number): Attempt | Refusal {
    if (++this.sinceSweep >= SWEEP_EVERY) this.sweep(now);
    const addr = addressKey(address);
    const pair = `${username}\n${addr}`;
    const L = this.limits;
    const ua = this.live(this.byUserAddress, pair, now);
    const a = this.live(this.byAddress, addr, now);
    const u = this.live(this.byUser, username, now);
    const refusals: Refusal[] = [];
    if (ua.length >= L.perUserAddress) refusals.push({ ok: false, kind: 'user_address', limit: L.perUserAddress, retryAfterMs: ua[0]!.at + L.windowMs - now });
    if (a.length >= L.perAddress) refusals.push({ ok: false, kind: 'address', limit: L.perAddress, retryAfterMs: a[0]!.at + L.windowMs - now });
    const knownAt = this.known.get(pair);
    const knownAddress = knownAt !== undefined && knownAt > now - KNOWN_ADDRESS_MS;
    if (!knownAddress && u.length >= L.perUser) {
      const wait = backoffMs(u.length - L.perUser, L.backoffMaxMs);
      const last = u[u.length - 1]!.at;
      if (now < last + wait) refusals.push({ ok: false, kind: 'user', limit: L.perUser, retryAfterMs: last + wait - now });
    }
    if (refusals.length > 0) return refusals.reduce((x, y) => (y.retryAfterMs > x.retryAfterMs ? y : x));

    const entry: Entry = { at: now };
    const lists: Array<[Map<string, Entry[]>, string, Entry[]]> = [
      [this.byUserAddress, pair, ua],
      [this.byAddress, addr, a],
      [this.byUser, username, u],
    ];
    for (const [map, key, list] of lists) {
      list.push(entry);
      map.set(key, list);
    }
    let settled = false;
    const giveBack = () => {
      for (const [map, key] of lists) {
        const list = map.get(key);
        if (!list) continue;
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) map.delete(key);
      }
    };
    return {
      ok: true,
      succeed: () => {
        if (settled) return;
        settled = true;
        giveBack();
        // Only this user at this address is forgiven: a good login must not reset an
        // address that is guessing other accounts, nor a guesser spread over other addresses.
        this.byUserAddress.delete(pair);
        this.known.delete(pair);
        this.known.set(pair, now);
        if (this.known.size > KNOWN_ADDRESS_MAX) this.known.delete(this.known.keys().next().value!);
      },
      fail: () => {
        settled = true;
      },
      release: () => {
        if (settled) return;
        settled = true;
        giveBack();
      },
    };
  }

  /** Forget every failure counted against `username` (an admin's unlock); answers how many there were. */
  unlock(username: string): number {
    const n = this.byUser.get(username)?.length ?? 0;
    this.byUser.delete(username);
    const prefix = `${username}\n`;
    for (const key of [...this.byUserAddress.keys()]) if (key.startsWith(prefix)) this.byUserAddress.delete(key);
    return n;
  }

  /** Keys currently tracked (for tests of memory bounds). */
  size(): number {
    return this.byUserAddress.size + this.byAddress.size + this.byUser.size;
  }

  /** Drop entries older than the window from every key. */
  sweep(now: number): void {
    this.sinceSweep = 0;
    for (const map of [this.byUserAddress, this.byAddress, this.byUser]) {
      for (const key of [...map.keys()]) this.live(map, key, now);
    }
    for (const [key, at] of this.known) if (at <= now - KNOWN_ADDRESS_MS) this.known.delete(key);
  }

  private live(map: Map<string, Entry[]>, key: string, now: number): Entry[] {
    const list = map.get(key);
    if (!list) return [];
    const from = now - this.limits.windowMs;
    let drop = 0;
    while (drop < list.length && list[drop]!.at <= from) drop++;
    if (drop > 0) list.splice(0, drop);
    if (list.length === 0) map.delete(key);
    return list;
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
