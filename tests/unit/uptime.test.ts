import { describe, expect, it } from 'vitest';
import { conditionShares, coverageSeries } from '../../server/coverage/uptime.ts';

const H = 3_600_000;

describe('conditionShares', () => {
  it('splits a window by the condition holding at each moment', () => {
    const r = conditionShares(
      [
        { at: 0, condition: 'operational' },
        { at: 6 * H, condition: 'offline' },
        { at: 8 * H, condition: 'degraded' },
        { at: 9 * H, condition: 'operational' },
      ],
      { from: 0, to: 10 * H },
    );
    expect(r.totalMs).toBe(10 * H);
    expect(r.ms).toEqual({ operational: 7 * H, degraded: H, faulty: 0, offline: 2 * H, unverified: 0 });
    expect(r.share).toEqual({ operational: 0.7, degraded: 0.1, faulty: 0, offline: 0.2, unverified: 0 });
    expect(r.audibleShare).toBeCloseTo(0.8);
  });

  it('takes the condition at the window start from the last transition before it, and ignores transitions after the end', () => {
    const r = conditionShares(
      [
        { at: -5 * H, condition: 'faulty' },
        { at: 2 * H, condition: 'operational' },
        { at: 20 * H, condition: 'offline' },
      ],
      { from: 0, to: 4 * H },
    );
    expect(r.ms).toMatchObject({ faulty: 2 * H, operational: 2 * H, offline: 0 });
  });

  it('before the first transition the site is unverified (or the given initial condition)', () => {
    const t = [{ at: 3 * H, condition: 'operational' as const }];
    expect(conditionShares(t, { from: 0, to: 4 * H }).ms).toMatchObject({ unverified: 3 * H, operational: H });
    expect(conditionShares(t, { from: 0, to: 4 * H }, 'offline').ms).toMatchObject({ offline: 3 * H, operational: H });
  });

  it('transitions at the same instant collapse to the last one; a transition exactly at `to` does not count', () => {
    const r = conditionShares(
      [
        { at: H, condition: 'faulty' },
        { at: H, condition: 'degraded' },
        { at: 2 * H, condition: 'offline' },
      ],
      { from: H, to: 2 * H },
    );
    expect(r.ms).toMatchObject({ degraded: H, faulty: 0, offline: 0 });
  });

  it('no transitions at all: the whole window is the initial condition; an empty window has null shares', () => {
    expect(conditionShares([], { from: 0, to: H }).share).toMatchObject({ unverified: 1 });
    expect(conditionShares([], { from: H, to: H })).toMatchObject({ totalMs: 0, share: null, audibleShare: null });
  });

  it('shares always sum to 1', () => {
    const r = conditionShares(
      [
        { at: 1, condition: 'operational' },
        { at: 7, condition: 'faulty' },
        { at: 13, condition: 'unverified' },
      ],
      { from: 0, to: 17 },
    );
    const s = r.share!;
    expect(s.operational + s.degraded + s.faulty + s.offline + s.unverified).toBeCloseTo(1, 12);
  });
});

describe('coverageSeries', () => {
  it('samples stored snapshots as a step function, null before the first one and across recorder gaps', () => {
    const samples = [
      { at: 10, villages: 4, villagesCovered: 2, sites: 10, operational: 5 },
      { at: 20, villages: 4, villagesCovered: 4, sites: 10, operational: 10 },
      { at: 60, villages: 0, villagesCovered: 0, sites: 0, operational: 0 },
    ];
    const pts = coverageSeries(samples, { from: 0, to: 60, stepMs: 10, maxGapMs: 25 });
    expect(pts).toEqual([
      { at: 0, villageShare: null, operationalShare: null },
      { at: 10, villageShare: 0.5, operationalShare: 0.5 },
      { at: 20, villageShare: 1, operationalShare: 1 },
      { at: 30, villageShare: 1, operationalShare: 1 },
      { at: 40, villageShare: 1, operationalShare: 1 },
      { at: 50, villageShare: null, operationalShare: null }, // 30 ms after the last sample: recorder gap
      { at: 60, villageShare: null, operationalShare: null }, // no villages, no sites
    ]);
  });

  it('returns nothing for a non-positive step or a reversed window', () => {
    expect(coverageSeries([], { from: 0, to: 10, stepMs: 0 })).toEqual([]);
    expect(coverageSeries([], { from: 10, to: 0, stepMs: 1 })).toEqual([]);
  });
});
