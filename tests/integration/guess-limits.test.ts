/**
 * The guessing limits' counts in the store (server/auth/guess-store.ts), on
 * both dialects: the login and enrolment limiters over a real store behave as
 * their headers say, the table follows the window, and on PostgreSQL two
 * servers' connections to one database share the counts: parallel guesses
 * through both never pass more than a limit (the reservation is made before
 * the check, in one step per key across servers).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { GuessStore } from '../../server/auth/guess-store.ts';
import { addressKey, type Attempt, LoginLimiter, type LoginLimits, type Refusal } from '../../server/auth/login-limiter.ts';
import { type EnrolAttempt, EnrolLimiter, type EnrolRefusal } from '../../server/enrolment/limiter.ts';
import { openPostgresStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { openTestStore, storeDialects, testDatabaseUrl, type TestStore } from '../helpers/store.ts';

const LIMITS: LoginLimits = { perUserAddress: 10, perAddress: 100, perUser: 50, windowMs: 15 * 60_000, backoffMaxMs: 5 * 60_000 };
const MIN = 60_000;
const DAY = 86_400_000;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function testStore(dialect: StoreDialect): Promise<TestStore> {
  const s = await openTestStore(dialect);
  cleanups.push(() => s.close());
  return s;
}

/** Another server's connection pool to the same PostgreSQL schema. */
async function sibling(main: TestStore): Promise<Store> {
  const s = await openPostgresStore(testDatabaseUrl()!, { max: 4, searchPath: main.where });
  cleanups.push(() => s.close());
  return s;
}

const login = (s: Pick<Store, 'db' | 'dialect'>, limits = LIMITS) => new LoginLimiter(new GuessStore(s.db, s.dialect), limits);

async function failN(l: LoginLimiter, n: number, user: string, addr: string | ((i: number) => string), t: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await l.attempt(user, typeof addr === 'string' ? addr : addr(i), t);
    expect(a.ok, `attempt ${i}`).toBe(true);
    await (a as Attempt).fail();
  }
}

describe.each(storeDialects())('guessing limits in the %s store', (dialect) => {
  it('reserves before the check: parallel attempts beyond the limit are refused before any of them fails', async () => {
    const l = login(await testStore(dialect));
    const pending = await Promise.all(Array.from({ length: 60 }, () => l.attempt('admin', '192.0.2.1', 0)));
    expect(pending.filter((a) => a.ok)).toHaveLength(10);
    const refused = pending.filter((a): a is Refusal => !a.ok);
    expect(refused).toHaveLength(50);
    expect(refused[0]).toMatchObject({ kind: 'user_address', limit: 10, retryAfterMs: 15 * MIN });
  });

  it('gives a reservation back on success (and forgives that user at that address) or on release, keeps it on failure', async () => {
    const s = await testStore(dialect);
    const l = login(s);
    await failN(l, 9, 'admin', '192.0.2.1', 0);
    const ok = (await l.attempt('admin', '192.0.2.1', 1)) as Attempt;
    await ok.succeed();
    await ok.fail(); // settled already: no effect
    await failN(l, 10, 'admin', '192.0.2.1', 2);
    expect((await l.attempt('admin', '192.0.2.1', 3)).ok).toBe(false);
    for (let i = 0; i < 30; i++) await ((await l.attempt('other', '192.0.2.2', 0)) as Attempt).release();
    expect((await l.attempt('other', '192.0.2.2', 0)).ok).toBe(true);
  });

  it('a stranger guessing from one address does not lock the user out at another', async () => {
    const l = login(await testStore(dialect));
    await failN(l, 10, 'admin', '203.0.113.9', 0);
    expect((await l.attempt('admin', '203.0.113.9', 1)).ok).toBe(false);
    expect((await l.attempt('admin', '192.0.2.1', 1)).ok).toBe(true);
  });

  it('the per-(user, address) limit lifts when the oldest failure leaves the window', async () => {
    const l = login(await testStore(dialect));
    await failN(l, 1, 'admin', '203.0.113.9', 0);
    await failN(l, 9, 'admin', '203.0.113.9', 5 * MIN);
    expect(await l.attempt('admin', '203.0.113.9', 15 * MIN - 1)).toMatchObject({ ok: false, retryAfterMs: 1 });
    expect((await l.attempt('admin', '203.0.113.9', 15 * MIN)).ok).toBe(true);
  });

  it('one address guessing many accounts is stopped at 100 failures, and a good login does not reset it', async () => {
    const l = login(await testStore(dialect));
    for (let i = 0; i < 99; i++) await failN(l, 1, `user${i}`, '203.0.113.9', 0);
    await ((await l.attempt('mallory', '203.0.113.9', 0)) as Attempt).succeed();
    await failN(l, 1, 'user99', '203.0.113.9', 0);
    expect(await l.attempt('user100', '203.0.113.9', 1)).toMatchObject({ ok: false, kind: 'address', limit: 100 });
  });

  it('a guesser spread over many addresses meets exponential back-off per user; an address the user signed in from is spared it', async () => {
    const l = login(await testStore(dialect));
    await ((await l.attempt('admin', '192.0.2.1', 0)) as Attempt).succeed();
    await failN(l, 50, 'admin', (i) => `198.51.100.${i}`, 0);
    expect(await l.attempt('admin', '203.0.113.1', 999)).toMatchObject({ ok: false, kind: 'user', limit: 50, retryAfterMs: 1 });
    const known = await l.attempt('admin', '192.0.2.1', 999);
    expect(known.ok).toBe(true);
    await (known as Attempt).release();
    await failN(l, 1, 'admin', '203.0.113.1', 1000);
    expect(await l.attempt('admin', '203.0.113.2', 2999)).toMatchObject({ ok: false, kind: 'user', retryAfterMs: 1 });
  });

  it("an admin's unlock forgets the user's failures at every address, not the address's own count", async () => {
    const l = login(await testStore(dialect), { ...LIMITS, perAddress: 12 });
    await failN(l, 10, 'admin', '203.0.113.9', 0);
    await failN(l, 5, 'admin', '192.0.2.1', 0);
    expect(await l.unlock('admin', 1)).toBe(15);
    expect((await l.attempt('admin', '203.0.113.9', 1)).ok).toBe(true);
    await failN(l, 1, 'eve', '203.0.113.9', 1);
    expect(await l.attempt('bob', '203.0.113.9', 1)).toMatchObject({ ok: false, kind: 'address' });
    expect(await l.unlock('nobody', 1)).toBe(0);
  });

  it('the table follows the window: expired failures and forgotten addresses are swept', async () => {
    const s = await testStore(dialect);
    const store = new GuessStore(s.db, s.dialect);
    const l = new LoginLimiter(store, LIMITS);
    for (let i = 0; i < 50; i++) await failN(l, 1, `u${i}`, `10.0.0.${i}`, 0);
    await ((await l.attempt('admin', '192.0.2.1', 0)) as Attempt).succeed();
    const e = new EnrolLimiter(store, { perAddress: 10, total: 100, windowMs: MIN });
    for (let i = 0; i < 20; i++) await ((await e.attempt(`10.1.0.${i}`, 0)) as EnrolAttempt).fail();
    expect(await store.rows()).toEqual({ attempts: 70, knownAddresses: 1 });
    await store.sweepEnrol(MIN);
    await store.sweepLogin(16 * MIN, -1);
    expect(await store.rows()).toEqual({ attempts: 0, knownAddresses: 1 });
    await store.sweepLogin(16 * MIN, 31 * DAY);
    expect(await store.rows()).toEqual({ attempts: 0, knownAddresses: 0 });
  });

  it('enrolment: an address is refused after its refused codes, everyone after the total; successes count nothing; IPv6 by its /64', async () => {
    const s = await testStore(dialect);
    const e = new EnrolLimiter(new GuessStore(s.db, s.dialect), { perAddress: 3, total: 5, windowMs: 15 * MIN });
    for (let i = 0; i < 3; i++) await ((await e.attempt(`2001:db8:1:2::${i}`, i * MIN)) as EnrolAttempt).fail();
    expect(await e.attempt('2001:db8:1:2:ffff::1', 5 * MIN)).toEqual({ ok: false, kind: 'address', limit: 3, retryAfterMs: 10 * MIN });
    const pending = await Promise.all(Array.from({ length: 6 }, () => e.attempt('192.0.2.7', 5 * MIN)));
    expect(pending.filter((a) => a.ok)).toHaveLength(2);
    for (const a of pending) if (a.ok) await a.succeed();
    await ((await e.attempt('192.0.2.8', 5 * MIN)) as EnrolAttempt).fail();
    await ((await e.attempt('192.0.2.9', 5 * MIN)) as EnrolAttempt).fail();
    expect((await e.attempt('203.0.113.1', 5 * MIN)) as EnrolRefusal).toMatchObject({ ok: false, kind: 'total', limit: 5 });
    expect((await e.attempt('203.0.113.1', 15 * MIN)).ok).toBe(true);
  });

  it('property: whatever the interleaving, no key ever holds more than its limit of failures within a window', async () => {
    const s = await testStore(dialect);
    const small: LoginLimits = { perUserAddress: 3, perAddress: 5, perUser: 4, windowMs: 10_000, backoffMaxMs: 4000 };
    const op = fc.record({
      user: fc.constantFrom('a', 'b', 'c'),
      addr: fc.constantFrom('192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'),
      dt: fc.integer({ min: 0, max: 3000 }),
      outcome: fc.constantFrom('fail', 'succeed', 'release', 'pending'),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        // Every run on a clock of its own, far from the last run's rows.
        let t = ++run * 10 * DAY;
        const l = login(s, small);
        await s.db.deleteFrom('guess_attempts').execute();
        await s.db.deleteFrom('login_known_addresses').execute();
        const granted: Array<{ pair: string; addr: string; at: number; seq: number; held: boolean }> = [];
        const clearedAt = new Map<string, number>();
        for (const [seq, o] of ops.entries()) {
          t += o.dt;
          const a = await l.attempt(o.user, o.addr, t);
          if (!a.ok) {
            expect(a.retryAfterMs).toBeGreaterThan(0);
            continue;
          }
          const addr = addressKey(o.addr);
          const pair = `${o.user} ${addr}`;
          if (o.outcome === 'fail') await a.fail();
          if (o.outcome === 'succeed') {
            await a.succeed();
            clearedAt.set(pair, seq);
          }
          if (o.outcome === 'release') await a.release();
          granted.push({ pair, addr, at: t, seq, held: o.outcome === 'fail' || o.outcome === 'pending' });
          const recent = granted.filter((g) => g.held && g.at > t - small.windowMs);
          // Per address: successes never clear it.
          expect(recent.filter((g) => g.addr === addr).length).toBeLessThanOrEqual(small.perAddress);
          // Per (user, address): since that pair's last success.
          expect(recent.filter((g) => g.pair === pair && g.seq > (clearedAt.get(pair) ?? -1)).length).toBeLessThanOrEqual(small.perUserAddress);
        }
      }),
      { numRuns: dialect === 'sqlite' ? 40 : 15 },
    );
  }, 120_000);
});

describe.skipIf(!storeDialects().includes('postgres'))('guessing limits shared by two servers on one PostgreSQL database', () => {
  it('parallel guesses through both never pass more than a limit: per (user, address), per address, per user, and for enrolment', async () => {
    const a = await testStore('postgres');
    const b = await sibling(a);
    const servers = [login(a), login(b)];
    // One pair: 10 of 80.
    const pair = await Promise.all(Array.from({ length: 80 }, (_, i) => servers[i % 2]!.attempt('admin', '198.51.100.7', 0)));
    expect(pair.filter((x) => x.ok)).toHaveLength(10);
    // One address, many users: 100 of 240.
    const address = await Promise.all(Array.from({ length: 240 }, (_, i) => servers[i % 2]!.attempt(`user${i}`, '203.0.113.50', 0)));
    expect(address.filter((x) => x.ok)).toHaveLength(100);
    // One user, many addresses: 50 free, then the back-off (the clock stands still) refuses the rest.
    const user = await Promise.all(Array.from({ length: 120 }, (_, i) => servers[i % 2]!.attempt('victim', `10.9.${i >> 8}.${i & 255}`, 0)));
    expect(user.filter((x) => x.ok)).toHaveLength(50);
    // Enrolment codes: 100 over every address.
    const enrol = [new EnrolLimiter(new GuessStore(a.db, a.dialect)), new EnrolLimiter(new GuessStore(b.db, b.dialect))];
    const codes = await Promise.all(Array.from({ length: 160 }, (_, i) => enrol[i % 2]!.attempt(`10.8.${i >> 8}.${i & 255}`, 0)));
    expect(codes.filter((x) => x.ok)).toHaveLength(100);
  }, 120_000);

  it('a sign-in on one server spares that address the back-off on the other; an unlock on one forgives on the other', async () => {
    const a = await testStore('postgres');
    const b = await sibling(a);
    const [la, lb] = [login(a), login(b)];
    await ((await la.attempt('admin', '192.0.2.1', 0)) as Attempt).succeed();
    await failN(lb, 50, 'admin', (i) => `198.51.100.${i}`, 0);
    expect((await la.attempt('admin', '203.0.113.1', 10)).ok).toBe(false);
    expect((await lb.attempt('admin', '192.0.2.1', 10)).ok).toBe(true);
    expect(await la.unlock('admin', 10)).toBe(51);
    expect((await lb.attempt('admin', '203.0.113.1', 10)).ok).toBe(true);
  });
});
