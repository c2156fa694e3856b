import { describe, expect, it } from 'vitest';
import { Backoff } from '../../common/backoff.ts';

/** A deterministic random source cycling through the given values. */
const seq = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('Backoff (decorrelated jitter)', () => {
  it('waits exactly base when every draw is the minimum', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 60_000, random: () => 0 });
    expect(Array.from({ length: 4 }, () => b.next())).toEqual([1000, 1000, 1000, 1000]);
  });

  it('never waits less than base nor more than cap', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 300_000 });
    for (let i = 0; i < 1000; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(300_000);
    }
  });

  it('grows towards the cap when every draw is the maximum', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 60_000, random: () => 0.999999 });
    const delays = Array.from({ length: 6 }, () => b.next());
    expect(delays).toEqual([3000, 9000, 27_000, 60_000, 60_000, 60_000]);
  });

  it('starts again from base after a success', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 60_000, random: () => 0.999999 });
    b.next();
    b.next();
    b.next();
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(3000);
  });

  it('spreads a herd of agents that lost the server in the same second', () => {
    // 3,000 agents, each with its own random stream, all making their first retry.
    const firsts = Array.from({ length: 3000 }, () => new Backoff({ baseMs: 1000, capMs: 300_000 }).next());
    // Spread over [1 s, 3 s]: no single 100 ms slot holds more than ~10% of them.
    const slots = new Map<number, number>();
    for (const d of firsts) slots.set(Math.floor(d / 100), (slots.get(Math.floor(d / 100)) ?? 0) + 1);
    expect(Math.max(...slots.values())).toBeLessThan(300);
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...firsts)).toBeLessThanOrEqual(3000);
  });

  it('is deterministic with an injected random source', () => {
    const a = new Backoff({ baseMs: 100, capMs: 10_000, random: seq(0.1, 0.5, 0.9) });
    const b = new Backoff({ baseMs: 100, capMs: 10_000, random: seq(0.1, 0.5, 0.9) });
    expect(Array.from({ length: 10 }, () => a.next())).toEqual(Array.from({ length: 10 }, () => b.next()));
  });
});

describe('Backoff (full jitter)', () => {
  it('draws from [0, min(cap, base·2^attempt)]', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 10_000, strategy: 'full', random: () => 0.999999 });
    expect(Array.from({ length: 6 }, () => b.next())).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    const zero = new Backoff({ baseMs: 1000, capMs: 10_000, strategy: 'full', random: () => 0 });
    expect(zero.next()).toBe(0);
  });

  it('stays at the cap after very many attempts (no overflow to Infinity/NaN)', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 10_000, strategy: 'full', random: () => 0.5 });
    let d = 0;
    for (let i = 0; i < 5000; i++) d = b.next();
    expect(d).toBe(5000);
  });
});

describe('Backoff.atCap (refused credential)', () => {
  it('waits between half the cap and the cap, whatever the attempt count', () => {
    const lo = new Backoff({ baseMs: 1000, capMs: 300_000, random: () => 0 });
    const hi = new Backoff({ baseMs: 1000, capMs: 300_000, random: () => 0.999999 });
    expect(lo.atCap()).toBe(150_000);
    expect(hi.atCap()).toBe(300_000);
  });
});

describe('Backoff options', () => {
  it('rejects a cap below the base', () => {
    expect(() => new Backoff({ baseMs: 1000, capMs: 10 })).toThrow(/capMs/);
    expect(() => new Backoff({ baseMs: 0 })).toThrow(/baseMs/);
  });
});
