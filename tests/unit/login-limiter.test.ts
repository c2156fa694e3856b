/** Password-guessing limits (server/auth/login-limiter.ts), as a pure class driven by a fake clock. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addressKey, backoffMs, ipv6Groups, LoginLimiter, type Attempt, type LoginLimits, type Refusal } from '../../server/auth/login-limiter.ts';
import { PasswordSlots, SlotsBusyError } from '../../server/auth/secrets.ts';

const LIMITS: LoginLimits = { perUserAddress: 10, perAddress: 100, perUser: 50, windowMs: 15 * 60_000, backoffMaxMs: 5 * 60_000 };
const MIN = 60_000;

function failN(l: LoginLimiter, n: number, user: string, addr: string | ((i: number) => string), t: number): void {
  for (let i = 0; i < n; i++) {
    const a = l.attempt(user, typeof addr === 'string' ? addr : addr(i), t);
    expect(a.ok, `attempt ${i}`).toBe(true);
    (a as Attempt).fail();
  }
}

describe('login limiter', () => {
  it('reserves before the check: parallel attempts beyond the limit are refused before any of them fails', () => {
    const l = new LoginLimiter(LIMITS);
    const pending = Array.from({ length: 60 }, () => l.attempt('admin', '192.0.2.1', 0));
    expect(pending.filter((a) => a.ok)).toHaveLength(10);
    const refused = pending.filter((a): a is Refusal => !a.ok);
    expect(refused).toHaveLength(50);
    expect(refused[0]).toMatchObject({ kind: 'user_address', limit: 10, retryAfterMs: 15 * MIN });
  });

  it('gives a reservation back on success (and forgives that user at that address) or on release, keeps it on failure', () => {
    const l = new LoginLimiter(LIMITS);
    failN(l, 9, 'admin', '192.0.2.1', 0);
    const ok = l.attempt('admin', '192.0.2.1', 1) as Attempt;
    ok.succeed();
    ok.fail(); // settled already: no effect
    failN(l, 10, 'admin', '192.0.2.1', 2);
    expect(l.attempt('admin', '192.0.2.1', 3).ok).toBe(false);
    const l2 = new LoginLimiter(LIMITS);
    for (let i = 0; i < 30; i++) (l2.attempt('admin', '192.0.2.1', 0) as Attempt).release();
    expect(l2.attempt('admin', '192.0.2.1', 0).ok).toBe(true);
  });

  it('a stranger guessing from one address does not lock the user out at another address', () => {
    const l = new LoginLimiter(LIMITS);
    failN(l, 10, 'admin', '203.0.113.9', 0);
    expect(l.attempt('admin', '203.0.113.9', 1).ok).toBe(false);
    expect(l.attempt('admin', '192.0.2.1', 1).ok).toBe(true);
  });

  it('the per-(user, address) limit lifts when the oldest failure leaves the window', () => {
    const l = new LoginLimiter(LIMITS);
    failN(l, 1, 'admin', '203.0.113.9', 0);
    failN(l, 9, 'admin', '203.0.113.9', 5 * MIN);
    expect(l.attempt('admin', '203.0.113.9', 15 * MIN - 1)).toMatchObject({ ok: false, retryAfterMs: 1 });
    expect(l.attempt('admin', '203.0.113.9', 15 * MIN).ok).toBe(true);
  });

  it('one address guessing many accounts is stopped at 100 failures, and a good login does not reset it', () => {
    const l = new LoginLimiter(LIMITS);
    for (let i = 0; i < 99; i++) failN(l, 1, `user${i}`, '203.0.113.9', 0);
    (l.attempt('mallory', '203.0.113.9', 0) as Attempt).succeed();
    failN(l, 1, 'user99', '203.0.113.9', 0);
    expect(l.attempt('user100', '203.0.113.9', 1)).toMatchObject({ ok: false, kind: 'address', limit: 100 });
  });

  it('a guesser spread over many addresses meets exponential back-off per user, never a long lock', () => {
    const l = new LoginLimiter(LIMITS);
    failN(l, 50, 'admin', (i) => `198.51.100.${i}`, 0);
    // The 51st waits 1 s after the last failure, then 2 s, 4 s …
    expect(l.attempt('admin', '203.0.113.1', 999)).toMatchObject({ ok: false, kind: 'user', limit: 50, retryAfterMs: 1 });
    failN(l, 1, 'admin', '203.0.113.1', 1000);
    expect(l.attempt('admin', '203.0.113.2', 2999)).toMatchObject({ ok: false, kind: 'user', retryAfterMs: 1 });
    failN(l, 1, 'admin', '203.0.113.2', 3000);
    expect(l.attempt('admin', '203.0.113.3', 3000 + 3999)).toMatchObject({ ok: false, kind: 'user', retryAfterMs: 1 });
    expect(backoffMs(1000, 5 * MIN)).toBe(5 * MIN);
    expect(backoffMs(0, 5 * MIN)).toBe(1000);
  });

  it('an address the user signed in from recently is not held by the per-user back-off', () => {
    const l = new LoginLimiter(LIMITS);
    (l.attempt('admin', '192.0.2.1', 0) as Attempt).succeed();
    failN(l, 50, 'admin', (i) => `198.51.100.${i}`, 1000);
    expect(l.attempt('admin', '203.0.113.1', 1000).ok).toBe(false);
    expect(l.attempt('admin', '192.0.2.1', 1000).ok).toBe(true);
  });

  it("an admin's unlock forgets the user's failures at every address, not the address's own count", () => {
    const l = new LoginLimiter(LIMITS);
    failN(l, 10, 'admin', '203.0.113.9', 0);
    failN(l, 5, 'admin', '192.0.2.1', 0);
    expect(l.unlock('admin')).toBe(15);
    expect(l.attempt('admin', '203.0.113.9', 1).ok).toBe(true);
    expect(l.unlock('nobody')).toBe(0);
  });

  it('memory follows the window: expired keys are swept', () => {
    const l = new LoginLimiter(LIMITS);
    for (let i = 0; i < 500; i++) failN(l, 1, `u${i}`, `10.0.${i >> 8}.${i & 255}`, 0);
    expect(l.size()).toBeGreaterThan(1000);
    l.sweep(16 * MIN);
    expect(l.size()).toBe(0);
  });

  it('counts IPv6 per /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    const l = new LoginLimiter(LIMITS);
    failN(l, 10, 'admin', (i) => `2001:db8:1:2::${i + 1}`, 0);
    expect(l.attempt('admin', '2001:db8:1:2:ffff::9', 1).ok).toBe(false);
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

  it('property: whatever the interleaving, no key ever holds more than its limit of failures within a window', () => {
    const small: LoginLimits = { perUserAddress: 3, perAddress: 5, perUser: 4, windowMs: 10_000, backoffMaxMs: 4000 };
    const op = fc.record({
      user: fc.constantFrom('a', 'b', 'c'),
      addr: fc.constantFrom('192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'),
      dt: fc.integer({ min: 0, max: 3000 }),
      outcome: fc.constantFrom('fail', 'succeed', 'release', 'pending'),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const l = new LoginLimiter(small);
        let t = 0;
        const granted: Array<{ pair: string; addr: string; at: number; seq: number; held: boolean }> = [];
        const clearedAt = new Map<string, number>();
        ops.forEach((o, seq) => {
          t += o.dt;
          const a = l.attempt(o.user, o.addr, t);
          if (!a.ok) {
            expect(a.retryAfterMs).toBeGreaterThan(0);
            return;
          }
          const addr = addressKey(o.addr);
          const pair = `${o.user} ${addr}`;
          if (o.outcome === 'fail') a.fail();
          if (o.outcome === 'succeed') {
            a.succeed();
            clearedAt.set(pair, seq);
          }
          if (o.outcome === 'release') a.release();
          granted.push({ pair, addr, at: t, seq, held: o.outcome === 'fail' || o.outcome === 'pending' });
          const recent = granted.filter((g) => g.held && g.at > t - small.windowMs);
          // Per address: successes never clear it.
          expect(recent.filter((g) => g.addr === addr).length).toBeLessThanOrEqual(small.perAddress);
          // Per (user, address): since that pair's last success.
          expect(recent.filter((g) => g.pair === pair && g.seq > (clearedAt.get(pair) ?? -1)).length).toBeLessThanOrEqual(small.perUserAddress);
        });
      }),
      { numRuns: 300 },
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
