/**
 * The agent's back-off over a server outage (edge-agent/backoff.ts,
 * returnModel): whatever the outage, every agent tries again within one cap
 * of the server's return, and a province's tries are spread over that window
 * rather than landing together. The old 5 min cap is kept here as the
 * reference the issue measured.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, DEFAULT_BACKOFF_CAP_MS, DEFAULT_REFUSED_CAP_MS, returnModel } from '../../common/backoff.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';

const HOUR = 3_600_000;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

function province(sites: number, outageMs: number, seed: number, capMs = DEFAULT_BACKOFF_CAP_MS, failMs = 0): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: sites }, () => returnModel(new Backoff({ capMs, random }), outageMs, failMs).firstTryAfterMs);
}

describe('back-off after an outage (returnModel)', () => {
  it('defaults to a 30 s cap, and 5 min after a refused credential', () => {
    const b = new Backoff();
    expect(b.capMs).toBe(30_000);
    expect(b.refusedCapMs).toBe(DEFAULT_REFUSED_CAP_MS);
  });

  it('every agent tries again within one cap of the return, whatever the outage and the draws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 * HOUR }), fc.integer(), fc.integer({ min: 0, max: 15_000 }), (outageMs, seed, failMs) => {
        const random = mulberry32(seed);
        const b = new Backoff({ random });
        const r = returnModel(b, outageMs, failMs);
        // The last try before the return failed at most failMs after it began; the next comes at most one cap later.
        return r.firstTryAfterMs >= 0 && r.firstTryAfterMs <= b.capMs + failMs;
      }),
      { numRuns: 2000 },
    );
  });

  it('after a minute or more away, a province of 3,000 comes back within 30 s of the return, spread: no second holds more than 10 % of the tries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 60_000, max: 2 * HOUR }), fc.integer(), (outageMs, seed) => {
        const xs = province(3000, outageMs, seed);
        const slots = new Map<number, number>();
        for (const x of xs) slots.set(Math.floor(x / 1000), (slots.get(Math.floor(x / 1000)) ?? 0) + 1);
        return Math.max(...xs) <= 30_000 && Math.max(...slots.values()) <= 0.1 * xs.length;
      }),
      { numRuns: 40 },
    );
  });

  it('after a short outage (a restart), the first tries are spread over [1 s, 3 s] and beyond as before', () => {
    const xs = province(3000, 0, 11);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...xs)).toBeLessThanOrEqual(3000);
  });

  it('after 1, 5 and 30 min away: p95 under 30 s (the 5 min cap left 5 % away ~230 s after a 5 min outage)', () => {
    for (const outage of [60_000, 300_000, 1_800_000]) {
      const now = province(3000, outage, 7);
      const old = province(3000, outage, 7, 300_000);
      expect(pct(now, 95)).toBeLessThanOrEqual(30_000);
      expect(pct(now, 100)).toBeLessThanOrEqual(30_000);
      if (outage >= 300_000) {
        expect(pct(old, 50)).toBeGreaterThan(45_000);
        expect(pct(old, 95)).toBeGreaterThan(200_000);
      }
    }
  });

  it('counts the tries made while the server was away', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 10_000, random: () => 0.999999 });
    // Delays 3 s, 9 s, then 10 s each: tries at 3, 12, 22, 32; the server back at 25 s.
    expect(returnModel(b, 25_000)).toEqual({ firstTryAfterMs: 7000, triesDuringOutage: 3 });
  });

  it('a refused credential waits long, and the next ordinary failure is back at the ordinary cap', () => {
    const b = new Backoff({ random: () => 0.999999 });
    const refused = b.atCap();
    expect(refused).toBeGreaterThanOrEqual(DEFAULT_REFUSED_CAP_MS / 2);
    expect(refused).toBeLessThanOrEqual(DEFAULT_REFUSED_CAP_MS);
    expect(b.next()).toBeLessThanOrEqual(DEFAULT_BACKOFF_CAP_MS);
  });

  it('refuses a refused cap below the base', () => {
    expect(() => new Backoff({ baseMs: 1000, capMs: 2000, refusedCapMs: 10 })).toThrow(/refusedCapMs/);
  });
});
