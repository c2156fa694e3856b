/** The HTTP limits as decisions (server/http/limits.ts): body budgets, per-address and per-user caps. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressCounter, bodyBudgetMs, DEFAULT_HTTP_LIMITS, nodeServerTimeouts, StreamSlots } from '../../server/http/limits.ts';

const L = DEFAULT_HTTP_LIMITS;

describe('bodyBudgetMs', () => {
  it('only an authenticated upload (multipart, CAP XML) gets the long budget', () => {
    expect(bodyBudgetMs(L, { contentType: 'multipart/form-data; boundary=x', authenticated: true })).toBe(L.uploadTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'application/octet-stream', authenticated: true })).toBe(L.uploadTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'application/cap+xml', authenticated: true })).toBe(L.uploadTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'multipart/form-data; boundary=x', authenticated: false })).toBe(L.bodyTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'application/json', authenticated: true })).toBe(L.bodyTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'text/csv', authenticated: true })).toBe(L.bodyTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: undefined, authenticated: true })).toBe(L.bodyTimeoutMs);
    expect(bodyBudgetMs(L, { contentType: 'multipart/form-dataX', authenticated: true })).toBe(L.bodyTimeoutMs);
  });

  it("Node's deadlines: headers within the header budget, the whole request backstopped by the upload budget, checked often enough", () => {
    const n = nodeServerTimeouts({ ...L, headersTimeoutMs: 1000 });
    expect(n.http.headersTimeout).toBe(1000);
    expect(n.http.requestTimeout).toBe(n.requestTimeout);
    expect(n.requestTimeout).toBeGreaterThan(L.uploadTimeoutMs);
    expect(n.http.connectionsCheckingInterval).toBe(250);
    expect(nodeServerTimeouts(L).http.connectionsCheckingInterval).toBe(5000);
    expect(n.keepAliveTimeout).toBe(L.keepAliveTimeoutMs);
  });
});

describe('AddressCounter', () => {
  it('caps each address, never the machine itself, and frees on release; 0 = no cap', () => {
    const c = new AddressCounter(2);
    expect([c.admit('10.0.0.1'), c.admit('10.0.0.1'), c.admit('10.0.0.1')]).toEqual([true, true, false]);
    expect(c.admit('10.0.0.2')).toBe(true);
    for (let i = 0; i < 10; i++) expect(c.admit('127.0.0.1') && c.admit('::1')).toBe(true);
    c.release('10.0.0.1');
    expect(c.admit('10.0.0.1')).toBe(true);
    const off = new AddressCounter(0);
    for (let i = 0; i < 10; i++) expect(off.admit('10.0.0.1')).toBe(true);
  });

  it('property: any sequence of connects and closes keeps every address at or under the cap, and the count equals the open connections', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.tuple(fc.boolean(), fc.constantFrom('a', 'b', 'c')), { maxLength: 200 }), (max, ops) => {
        const c = new AddressCounter(max);
        const open: Record<string, number> = {};
        for (const [connect, addr] of ops) {
          if (connect) {
            if (c.admit(addr)) open[addr] = (open[addr] ?? 0) + 1;
            else expect(open[addr]).toBe(max);
          } else if ((open[addr] ?? 0) > 0) {
            c.release(addr);
            open[addr]!--;
          }
          expect(c.countOf(addr)).toBe(open[addr] ?? 0);
          expect(c.countOf(addr)).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});

describe('StreamSlots', () => {
  it('refuses the one over the user cap, then over the total, naming the limit and its variable', () => {
    const s = new StreamSlots({ streamsPerUser: 2, streamsTotal: 3 });
    expect([s.take(1), s.take(1)]).toEqual([null, null]);
    expect(s.take(1)).toMatchObject({ limit: 'user', max: 2, variable: 'LOANET_STREAM_MAX_PER_USER' });
    expect(s.take(2)).toBeNull();
    expect(s.take(3)).toMatchObject({ limit: 'total', max: 3, variable: 'LOANET_STREAM_MAX' });
    s.release(1);
    expect(s.take(3)).toBeNull();
    expect(s.counts(1)).toEqual({ user: 1, total: 3 });
  });

  it('property: under any sequence of opens and closes no user and no total is ever over its cap, and a release never goes below zero', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 4 })), { maxLength: 300 }), (ops) => {
        const s = new StreamSlots({ streamsPerUser: 3, streamsTotal: 7 });
        const open = new Map<number, number>();
        for (const [take, user] of ops) {
          if (take) {
            if (s.take(user) === null) open.set(user, (open.get(user) ?? 0) + 1);
          } else {
            s.release(user);
            if ((open.get(user) ?? 0) > 0) open.set(user, open.get(user)! - 1);
          }
          const total = [...open.values()].reduce((a, b) => a + b, 0);
          expect(s.counts(user)).toEqual({ user: open.get(user) ?? 0, total });
          expect(total).toBeLessThanOrEqual(7);
          expect(open.get(user) ?? 0).toBeLessThanOrEqual(3);
        }
      }),
    );
  });
});
