/**
 * Password-guessing limits (server/auth/login-limiter.ts): the decision over
 * the counts, pure, and the limiter's bookkeeping over a recording store. The
 * counts themselves, on both stores and across servers:
 * tests/integration/guess-limits.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  addressKey,
  backoffMs,
  ipv6Groups,
  type KeyCount,
  KNOWN_ADDRESS_MS,
  type LoginCounts,
  type LoginGuessStore,
  LoginLimiter,
  type LoginLimits,
  loginRefusal,
  type Refusal,
  SWEEP_EVERY,
} from '../../server/auth/login-limiter.ts';
import { PasswordSlots, SlotsBusyError } from '../../server/auth/secrets.ts';

const LIMITS: LoginLimits = { perUserAddress: 10, perAddress: 100, perUser: 50, windowMs: 15 * 60_000, backoffMaxMs: 5 * 60_000 };
const MIN = 60_000;
const none: KeyCount = { n: 0, oldest: null, newest: null };
const counted = (n: number, oldest: number, newest = oldest): KeyCount => ({ n, oldest, newest });
const counts = (c: Partial<LoginCounts>): LoginCounts => ({ userAddress: none, address: none, user: none, knownAt: null, ...c });

describe('login limits: the decision', () => {
  it('lets an attempt go on below every limit', () => {
    expect(loginRefusal(counts({ userAddress: counted(9, 0), address: counted(99, 0), user: counted(49, 0) }), LIMITS, 1)).toBeUndefined();
  });

  it('refuses a (user, address) pair at its limit until its oldest failure leaves the window', () => {
    const c = counts({ userAddress: counted(10, 0, 5 * MIN), address: counted(10, 0), user: counted(10, 0) });
    expect(loginRefusal(c, LIMITS, 15 * MIN - 1)).toEqual({ ok: false, kind: 'user_address', limit: 10, retryAfterMs: 1 });
  });

  it('refuses an address at its limit whatever the user', () => {
    expect(loginRefusal(counts({ address: counted(100, 3 * MIN) }), LIMITS, 4 * MIN)).toEqual({ ok: false, kind: 'address', limit: 100, retryAfterMs: 14 * MIN });
  });

  it('past the free attempts of a user, each further one waits 1 s, 2 s, 4 s … after the last failure, never a long lock', () => {
    expect(loginRefusal(counts({ user: counted(50, 0, 0) }), LIMITS, 999)).toEqual({ ok: false, kind: 'user', limit: 50, retryAfterMs: 1 });
    expect(loginRefusal(counts({ user: counted(50, 0, 0) }), LIMITS, 1000)).toBeUndefined();
    expect(loginRefusal(counts({ user: counted(51, 0, 1000) }), LIMITS, 2999)).toMatchObject({ kind: 'user', retryAfterMs: 1 });
    expect(loginRefusal(counts({ user: counted(52, 0, 3000) }), LIMITS, 6999)).toMatchObject({ kind: 'user', retryAfterMs: 1 });
    expect(loginRefusal(counts({ user: counted(5000, 0, 0) }), LIMITS, 0)).toMatchObject({ kind: 'user', retryAfterMs: 5 * MIN });
    expect(backoffMs(1000, 5 * MIN)).toBe(5 * MIN);
    expect(backoffMs(0, 5 * MIN)).toBe(1000);
  });

  it('an address the user signed in from within 30 days skips the per-user back-off, not the other limits', () => {
    const now = KNOWN_ADDRESS_MS + 10 * MIN;
    const user = counted(60, now - MIN, now - 1);
    expect(loginRefusal(counts({ user, knownAt: now - KNOWN_ADDRESS_MS + 1 }), LIMITS, now)).toBeUndefined();
    expect(loginRefusal(counts({ user, knownAt: now - KNOWN_ADDRESS_MS }), LIMITS, now)).toMatchObject({ kind: 'user' });
    expect(loginRefusal(counts({ user, knownAt: now - 1, address: counted(100, now - MIN) }), LIMITS, now)).toMatchObject({ kind: 'address' });
  });

  it('of several limits reached, names the one that lifts last', () => {
    const c = counts({ userAddress: counted(10, 0), address: counted(100, 10 * MIN), user: counted(50, 0, 10 * MIN) });
    expect(loginRefusal(c, LIMITS, 10 * MIN)).toMatchObject({ kind: 'address', retryAfterMs: 15 * MIN });
  });

  it('property: a refusal always names a wait within the window (or the back-off cap), and the counts it read reached that limit', () => {
    const key = fc.record({ n: fc.integer({ min: 0, max: 200 }), age: fc.integer({ min: 0, max: 15 * MIN - 1 }) });
    fc.assert(
      fc.property(key, key, key, fc.option(fc.integer({ min: 0, max: 2 * KNOWN_ADDRESS_MS })), (ua, a, u, known) => {
        const now = 3 * KNOWN_ADDRESS_MS;
        const kc = (k: { n: number; age: number }): KeyCount => (k.n === 0 ? none : { n: k.n, oldest: now - k.age, newest: now - Math.floor(k.age / 2) });
        const r = loginRefusal(counts({ userAddress: kc(ua), address: kc(a), user: kc(u), knownAt: known === null ? null : now - known }), LIMITS, now);
        if (!r) return;
        expect(r.retryAfterMs).toBeGreaterThan(0);
        expect(r.retryAfterMs).toBeLessThanOrEqual(Math.max(LIMITS.windowMs, LIMITS.backoffMaxMs));
        const n = { user_address: ua.n, address: a.n, user: u.n }[r.kind];
        expect(n).toBeGreaterThanOrEqual(r.limit);
      }),
      { numRuns: 1000 },
    );
  });
});

/** A store that grants every reservation while the decision allows it, and records what the limiter asked of it. */
function recordingStore(c: LoginCounts = counts({})): LoginGuessStore & { calls: string[] } {
  let id = 0;
  const calls: string[] = [];
  return {
    calls,
    async reserveLogin(key, now, since, decide) {
      calls.push(`reserve ${key.username} ${key.address} ${now} ${since}`);
      return decide(c) ?? { id: ++id };
    },
    async giveBack(i) {
      calls.push(`giveBack ${i}`);
    },
    async forgive(i, key, now) {
      calls.push(`forgive ${i} ${key.username} ${key.address} ${now}`);
    },
    async unlock(username, since) {
      calls.push(`unlock ${username} ${since}`);
      return 3;
    },
    async sweepLogin(before, knownBefore) {
      calls.push(`sweep ${before} ${knownBefore}`);
    },
  };
}

describe('login limiter: its bookkeeping', () => {
  it('reserves under the address key over the window, and settles once: succeed forgives, release gives back, fail keeps', async () => {
    const store = recordingStore();
    const l = new LoginLimiter(store, LIMITS);
    const a = await l.attempt('admin', '::ffff:192.0.2.1', 20 * MIN);
    if (!a.ok) throw new Error('refused');
    await a.succeed();
    await a.fail();
    await a.release();
    const b = await l.attempt('admin', '2001:db8:1:2::7', 21 * MIN);
    if (!b.ok) throw new Error('refused');
    await b.release();
    await b.succeed();
    const c = await l.attempt('admin', '192.0.2.1', 22 * MIN);
    if (!c.ok) throw new Error('refused');
    await c.fail();
    await c.release();
    expect(await l.unlock('admin', 23 * MIN)).toBe(3);
    expect(store.calls).toEqual([
      `reserve admin 192.0.2.1 ${20 * MIN} ${5 * MIN}`,
      `forgive 1 admin 192.0.2.1 ${20 * MIN}`,
      `reserve admin 2001:db8:1:2::/64 ${21 * MIN} ${6 * MIN}`,
      'giveBack 2',
      `reserve admin 192.0.2.1 ${22 * MIN} ${7 * MIN}`,
      `unlock admin ${8 * MIN}`,
    ]);
  });

  it('answers the decision’s refusal, and writes nothing for it', async () => {
    const store = recordingStore(counts({ userAddress: counted(10, 0) }));
    const r = (await new LoginLimiter(store, LIMITS).attempt('admin', '192.0.2.1', MIN)) as Refusal;
    expect(r).toEqual({ ok: false, kind: 'user_address', limit: 10, retryAfterMs: 14 * MIN });
    expect(store.calls).toHaveLength(1);
  });

  it('sweeps expired failures and forgotten addresses once per SWEEP_EVERY attempts', async () => {
    const store = recordingStore();
    const l = new LoginLimiter(store, LIMITS);
    for (let i = 0; i < 2 * SWEEP_EVERY; i++) await l.attempt('u', '192.0.2.1', KNOWN_ADDRESS_MS + i);
    const sweeps = store.calls.filter((c) => c.startsWith('sweep'));
    expect(sweeps).toEqual([
      `sweep ${KNOWN_ADDRESS_MS + SWEEP_EVERY - 1 - LIMITS.windowMs} ${SWEEP_EVERY - 1}`,
      `sweep ${KNOWN_ADDRESS_MS + 2 * SWEEP_EVERY - 1 - LIMITS.windowMs} ${2 * SWEEP_EVERY - 1}`,
    ]);
  });
});

describe('client addresses', () => {
  it('counts IPv6 per /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('property: IPv6 addresses share a key exactly when their first 64 bits are equal', () => {
    const groups = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
    const text = (g: number[]) => g.map((x) => x.toString(16)).join(':');
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const g = ipv6Groups(ip);
        expect(g).toBeDefined();
        expect(ipv6Groups(text(g!))).toEqual(g);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(groups, groups, (a, b) => {
        const samePrefix = a.slice(0, 4).every((x, i) => x === b[i]);
        expect(addressKey(text(a)) === addressKey(text(b))).toBe(samePrefix);
        expect(addressKey(text(a))).toBe(addressKey(text([...a.slice(0, 4), ...b.slice(4)])));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('password slots (scrypt runs at once)', () => {
  it('runs at most `max` at once, queues `queue` more, refuses the rest at once; every queued one runs', async () => {
    const slots = new PasswordSlots(2, 3);
    let running = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const job = () =>
      slots.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.push(r));
        running--;
        return 'done';
      });
    const all = Array.from({ length: 7 }, () => job().catch((e: unknown) => e));
    await new Promise((r) => setImmediate(r));
    expect(slots.load()).toEqual({ running: 2, waiting: 3 });
    const outcomes = Promise.all(all);
    // Release whoever is running until everything settled.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      gates.shift()!();
    }
    const results = await outcomes;
    expect(results.filter((r) => r === 'done')).toHaveLength(5);
    expect(results.filter((r) => r instanceof SlotsBusyError)).toHaveLength(2);
    expect(peak).toBe(2);
    expect(slots.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('property: whatever the arrival and finishing order, never more than `max` run and none is lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 }),
        async (max, queue, delays) => {
          const slots = new PasswordSlots(max, queue);
          let running = 0;
          let peak = 0;
          const results = await Promise.all(
            delays.map((d) =>
              slots
                .run(async () => {
                  running++;
                  peak = Math.max(peak, running);
                  for (let i = 0; i < d; i++) await new Promise((r) => setImmediate(r));
                  running--;
                  return true;
                })
                .catch((e: unknown) => (e instanceof SlotsBusyError ? false : Promise.reject(e))),
            ),
          );
          expect(peak).toBeLessThanOrEqual(max);
          expect(results.filter(Boolean).length).toBe(Math.min(delays.length, max + queue));
          expect(slots.load()).toEqual({ running: 0, waiting: 0 });
        },
      ),
      { numRuns: 200 },
    );
  });
});
