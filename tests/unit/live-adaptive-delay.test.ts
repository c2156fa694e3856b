/**
 * The decisions of a live stream's adaptive delay, pure: a site's transit
 * window (edge-agent/live/transit.ts) and the server's choice of the stream's
 * delay from its sites' measured links (server/live/delay-budget.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BEHIND_LATE_RATIO, messageSendTimeMs, TransitWindow } from '../../edge-agent/live/transit.ts';
import { chooseLiveDelay, DEFAULT_LIVE_OUTPUT_MS, LIVE_TRANSIT_MARGIN_MS, siteNeededDelayMs } from '../../server/live/delay-budget.ts';

const budget = { packetsPerMessage: 3, frameMs: 20, outputMs: DEFAULT_LIVE_OUTPUT_MS };
const link = fc.record({ siteId: fc.stringMatching(/^[a-z]{1,6}$/), transitP99Ms: fc.double({ min: 0, max: 5000, noNaN: true }) });

describe('a site measures its link while a stream plays', () => {
  it('a message could leave the server when its last packet was captured: play-at − delay + its packets', () => {
    expect(messageSendTimeMs({ playAtUs: 10_000_000, packets: 3, packetDurationUs: 20_000 }, 500)).toBe(10_000 - 500 + 60);
  });

  it('the p99 is at or above 99 % of the window and the window forgets the oldest', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -50, max: 3000, noNaN: true }), { minLength: 10, maxLength: 800 }), fc.integer({ min: 10, max: 600 }), (xs, size) => {
        const w = new TransitWindow(size, 10);
        for (const x of xs) w.add(x, 3, 0);
        const kept = xs.slice(-size);
        const s = w.summary();
        if (kept.length < 10) return expect(s).toBeNull();
        expect(s!.samples).toBe(kept.length);
        const below = kept.filter((x) => x <= s!.p99Ms + 0.05).length;
        expect(below / kept.length).toBeGreaterThanOrEqual(0.99);
        expect(s!.p50Ms).toBeLessThanOrEqual(s!.p99Ms);
        expect(s!.p99Ms).toBeLessThanOrEqual(s!.maxMs);
        expect(s!.maxMs).toBeCloseTo(Math.max(...kept), 1);
      }),
    );
  });

  it(`says it is behind when more than ${BEHIND_LATE_RATIO * 100} % of its recent packets came late, and forgets that after a raise`, () => {
    const w = new TransitWindow(100, 10);
    for (let i = 0; i < 100; i++) w.add(50, 3, i % 10 === 0 ? 3 : 0); // 10 % late
    expect(w.behind()).toBe(true);
    expect(w.summary()!.lateRatio).toBeCloseTo(0.1);
    w.clearLate();
    expect(w.behind()).toBe(false);
    for (let i = 0; i < 100; i++) w.add(50, 3, i === 0 ? 3 : 0); // 1 %
    expect(w.behind()).toBe(false);
  });
});

describe("the server chooses a stream's delay from its sites' links", () => {
  it('a 300 + 0–1000 ms path needs about 1.7 s; a clean link keeps the 500 ms default', () => {
    const c = chooseLiveDelay({
      floorMs: 500,
      ceilingMs: 3000,
      budget,
      links: [
        { siteId: 'clean', transitP99Ms: 12 },
        { siteId: 'mountain', transitP99Ms: 1310 },
      ],
    });
    expect(c.delayMs).toBe(siteNeededDelayMs(1310, budget));
    expect(c.delayMs).toBe(60 + 1320 + LIVE_TRANSIT_MARGIN_MS + 180);
    expect(c.sites.map((s) => s.siteId)).toEqual(['mountain', 'clean']);
    expect(chooseLiveDelay({ floorMs: 500, ceilingMs: 3000, budget, links: [{ siteId: 'clean', transitP99Ms: 12 }] }).delayMs).toBe(500);
    expect(chooseLiveDelay({ floorMs: 500, ceilingMs: 3000, budget, links: [] }).delayMs).toBe(500);
  });

  it('covers every site that fits under the ceiling, never exceeds the ceiling, never goes below the floor or the current delay', () => {
    fc.assert(
      fc.property(
        fc.array(link, { maxLength: 40 }),
        fc.integer({ min: 100, max: 3000 }),
        fc.integer({ min: 0, max: 10000 }),
        fc.option(fc.integer({ min: 100, max: 8000 }), { nil: undefined }),
        (links, floorMs, ceilingMs, currentMs) => {
          const c = chooseLiveDelay({ floorMs, ceilingMs, budget, links, ...(currentMs !== undefined ? { currentMs } : {}) });
          const floor = Math.max(floorMs, currentMs ?? 0);
          expect(c.delayMs).toBeGreaterThanOrEqual(floor);
          expect(c.delayMs).toBeLessThanOrEqual(Math.max(floor, ceilingMs));
          expect(c.ceilingMs).toBe(Math.max(floor, ceilingMs));
          for (const l of links) {
            const need = siteNeededDelayMs(l.transitP99Ms, budget);
            // The p99 of the site's transit, its grouping, headroom and output all fit in the delay…
            if (need <= c.ceilingMs) expect(c.delayMs).toBeGreaterThanOrEqual(l.transitP99Ms + 60 + LIVE_TRANSIT_MARGIN_MS + 180);
            // …or the site is named as beyond the ceiling.
            else expect(c.sites.find((s) => s.siteId === l.siteId && s.transitP99Ms === l.transitP99Ms)?.withinCeiling).toBe(false);
          }
        },
      ),
    );
  });

  it('one more measured site never lowers the delay, and the delay is whole packets above the floor', () => {
    fc.assert(
      fc.property(fc.array(link, { maxLength: 20 }), link, (links, extra) => {
        const a = chooseLiveDelay({ floorMs: 500, ceilingMs: 4000, budget, links });
        const b = chooseLiveDelay({ floorMs: 500, ceilingMs: 4000, budget, links: [...links, extra] });
        expect(b.delayMs).toBeGreaterThanOrEqual(a.delayMs);
        if (a.delayMs > 500 && a.delayMs < 4000) expect(a.delayMs % 20).toBe(0);
      }),
    );
  });
});
