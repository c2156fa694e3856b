import { describe, expect, it } from 'vitest';
import { ClockSync, type ClockSample } from '../../edge-agent/playout/clock-sync.ts';
import { mulberry32 as rng } from '../helpers/seeded-random.ts';

/**
 * A client whose clock is `offsetMs` behind the server (server = local +
 * offset), over a link with a symmetric base delay and asymmetric jitter of
 * 0–150 ms: exponential, mean 40 ms up (4G uplink scheduling) and 15 ms down,
 * each cut at 150 ms.
 */
function link(seed: number, offsetMs: number, baseMs = 25) {
  const r = rng(seed);
  let local = 1_757_637_000_000;
  return {
    exchange(): ClockSample {
      const t0 = local;
      const up = baseMs + Math.min(150, -40 * Math.log(1 - r()));
      const serverHold = 2 * r();
      const down = baseMs + Math.min(150, -15 * Math.log(1 - r()));
      const t1 = t0 + offsetMs + up;
      const t2 = t1 + serverHold;
      const t3 = t2 - offsetMs + down;
      local = t3 + 200 + 800 * r();
      return { t0, t1, t2, t3 };
    },
  };
}

describe('ClockSync', () => {
  it('computes offset and round trip of one exchange as NTP does', () => {
    const c = new ClockSync();
    // Server 1000 ms ahead; uplink 30 ms, server holds 2 ms, downlink 10 ms.
    const r = c.add({ t0: 0, t1: 1030, t2: 1032, t3: 42 });
    expect(r).toEqual({ accepted: true, offsetMs: 1010, rttMs: 40, step: false });
    expect(c.estimate()).toMatchObject({ offsetMs: 1010, uncertaintyMs: 20, samples: 1, used: 1 });
    expect(c.serverNow(500)).toBe(1510);
    expect(c.localAt(1510)).toBe(500);
  });

  it('refuses to guess before the first sample', () => {
    const c = new ClockSync();
    expect(c.serverNow(1)).toBeUndefined();
    expect(c.estimate()).toBeNull();
    expect(c.nextRequestInMs()).toBe(250);
  });

  it('refuses samples the clocks cannot have produced', () => {
    const c = new ClockSync();
    expect(c.add({ t0: 10, t1: 5, t2: 6, t3: 9 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(c.add({ t0: 0, t1: 5, t2: 4, t3: 9 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(c.add({ t0: 0, t1: 5, t2: 50, t3: 9 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(c.add({ t0: 0, t1: Number.NaN, t2: 50, t3: 9 })).toMatchObject({ accepted: false, reason: 'invalid' });
    expect(c.synced).toBe(false);
  });

  it('lands within 5 ms of the true offset after 60 samples, for offsets up to ±2 s and asymmetric jitter of 0–150 ms', () => {
    const worst: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const truth = (rng(seed * 7919)() * 2 - 1) * 2000;
      const l = link(seed, truth);
      const c = new ClockSync();
      for (let i = 0; i < 60; i++) c.add(l.exchange());
      const e = c.estimate()!;
      worst.push(Math.abs(e.offsetMs - truth));
      // The reported uncertainty bounds the error (the base delay is symmetric here).
      expect(Math.abs(e.offsetMs - truth)).toBeLessThanOrEqual(e.uncertaintyMs);
    }
    expect(Math.max(...worst), `errors ${worst.map((w) => w.toFixed(2)).join(' ')}`).toBeLessThan(5);
  });

  it('is far better than the plain mean or the median of all samples would be', () => {
    const truth = -1234.5;
    const l = link(99, truth);
    const c = new ClockSync();
    const offsets: number[] = [];
    for (let i = 0; i < 100; i++) {
      const r = c.add(l.exchange());
      if (r.accepted) offsets.push(r.offsetMs);
    }
    const mean = offsets.reduce((a, b) => a + b, 0) / offsets.length;
    const all = c.estimate()!;
    expect(Math.abs(mean - truth)).toBeGreaterThan(8); // the asymmetric jitter biases the naive estimate by (40 − 15) / 2
    expect(Math.abs(all.offsetMs - truth)).toBeLessThan(3);
    expect(Math.abs(all.offsetMs - truth)).toBeLessThanOrEqual(all.uncertaintyMs);
  });

  it('resets the window when the server clock steps, after two samples confirm it, and ignores a single wild sample', () => {
    const c = new ClockSync();
    const before = link(5, 800);
    for (let i = 0; i < 60; i++) c.add(before.exchange());
    expect(Math.abs(c.estimate()!.offsetMs - 800)).toBeLessThan(5);

    // One absurd answer (a bug, a replay) is held back, not believed.
    const wild = before.exchange();
    const r = c.add({ ...wild, t1: wild.t1 + 3000, t2: wild.t2 + 3000 });
    expect(r).toMatchObject({ accepted: false, reason: 'step_pending' });
    c.add(before.exchange());
    expect(Math.abs(c.estimate()!.offsetMs - 800)).toBeLessThan(5);
    expect(c.steps).toBe(0);

    // The server clock really jumps 1.5 s (an NTP step on the server).
    const after = link(6, 2300);
    expect(c.add(after.exchange())).toMatchObject({ accepted: false, reason: 'step_pending' });
    expect(c.add(after.exchange())).toMatchObject({ accepted: true, step: true });
    expect(c.steps).toBe(1);
    expect(c.estimate()!.samples).toBe(2);
    for (let i = 0; i < 40; i++) c.add(after.exchange());
    expect(Math.abs(c.estimate()!.offsetMs - 2300)).toBeLessThan(5);
  });

  it('does not mistake ordinary jitter for a step', () => {
    const c = new ClockSync();
    const l = link(11, -1999);
    for (let i = 0; i < 500; i++) c.add(l.exchange());
    expect(c.steps).toBe(0);
    expect(c.estimate()!.samples).toBe(100);
  });

  it('forgets samples older than maxSampleAgeMs so it follows a slowly drifting clock', () => {
    const c = new ClockSync({ maxSampleAgeMs: 10_000, fastestFraction: 1 });
    c.add({ t0: 0, t1: 100, t2: 100, t3: 0 });
    c.add({ t0: 20_000, t1: 20_110, t2: 20_110, t3: 20_000 });
    expect(c.estimate()).toMatchObject({ offsetMs: 110, samples: 1 });
  });

  it('refuses an answer held up longer than maxRttMs: after a silence that aged the window out, it would have been the whole estimate', () => {
    const c = new ClockSync({ maxSampleAgeMs: 15 * 60_000 });
    c.add({ t0: 0, t1: 20, t2: 20, t3: 40 });
    expect(c.estimate()).toMatchObject({ offsetMs: 0 });
    // Asked an hour later, answered at once, and the answer taken in an hour after that (a stalled link, or a faked clock that jumped an hour meanwhile).
    const t0 = 3_600_000;
    expect(c.add({ t0, t1: t0 + 20, t2: t0 + 20, t3: t0 + 3_600_040 })).toMatchObject({ accepted: false, reason: 'slow' });
    expect(c.estimate()).toMatchObject({ offsetMs: 0 });
    expect(c.add({ t0: 7_300_000, t1: 7_300_020, t2: 7_300_020, t3: 7_300_040 })).toMatchObject({ accepted: true, offsetMs: 0 });
    expect(new ClockSync({ maxRttMs: 60_000 }).add({ t0: 0, t1: 10, t2: 10, t3: 30_000 })).toMatchObject({ accepted: true });
  });

  it('asks quickly until it has a few samples, then at the steady interval', () => {
    const c = new ClockSync({ burstSamples: 3, burstIntervalMs: 100, intervalMs: 4000 });
    const l = link(3, 0);
    for (let i = 0; i < 3; i++) {
      expect(c.nextRequestInMs()).toBe(100);
      c.add(l.exchange());
    }
    expect(c.nextRequestInMs()).toBe(4000);
  });

  it('with a target uncertainty, keeps asking sooner while the bound is wider than the target', () => {
    const c = new ClockSync({ burstSamples: 2, burstIntervalMs: 100, intervalMs: 30_000, targetUncertaintyMs: 5, refineIntervalMs: 2000, fastestFraction: 1 });
    // Two slow round trips (a busy link): the bound stays wide.
    c.add({ t0: 0, t1: 100, t2: 100, t3: 80 });
    c.add({ t0: 1000, t1: 1100, t2: 1100, t3: 1080 });
    expect(c.estimate()!.uncertaintyMs).toBeGreaterThan(5);
    expect(c.nextRequestInMs()).toBe(2000);
    // A fast one narrows it: back to the steady interval.
    c.add({ t0: 3000, t1: 3090.5, t2: 3090.5, t3: 3001 });
    expect(c.estimate()!.uncertaintyMs).toBeLessThanOrEqual(5);
    expect(c.nextRequestInMs()).toBe(30_000);
  });
});
