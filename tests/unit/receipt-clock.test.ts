/**
 * The clock a receipt says it was played under (edge-agent/playout/clock-sync.ts):
 * how fast a stepped server clock is followed, and the receipt fields a play gets
 * from the clock state at its start and the best clock known when it is written.
 */
import { describe, expect, it } from 'vitest';
import { ClockSync, receiptClock, type ClockState } from '../../edge-agent/playout/clock-sync.ts';

/** An exchange over a clean 20 ms loopback-like link with the server `offsetMs` ahead of the local clock. */
function exchange(local: number, offsetMs: number) {
  return { t0: local, t1: local + offsetMs + 10, t2: local + offsetMs + 11, t3: local + 21 };
}

const unsynced: ClockState = { synced: false, offsetMs: null, uncertaintyMs: null, stepPending: false };
const synced = (offsetMs: number, uncertaintyMs = 2, stepPending = false): ClockState => ({ synced: true, offsetMs, uncertaintyMs, stepPending });

describe('following a stepped server clock', () => {
  it('asks again at once while a disagreeing sample waits for its confirmation, not a steady interval later', () => {
    const c = new ClockSync({ burstSamples: 5, burstIntervalMs: 250, intervalMs: 30_000 });
    let t = 1_000_000;
    for (let i = 0; i < 8; i++) c.add(exchange((t += 1000), 0));
    expect(c.nextRequestInMs()).toBe(30_000);
    expect(c.state()).toMatchObject({ synced: true, stepPending: false });
    // The server's clock steps +5 s.
    expect(c.add(exchange((t += 30_000), 5000))).toMatchObject({ accepted: false, reason: 'step_pending' });
    expect(c.stepPending).toBe(true);
    expect(c.state().stepPending).toBe(true);
    // Before: the confirmation waited one more steady interval (30 s), so agents followed ~45 s late on average.
    expect(c.nextRequestInMs()).toBe(250);
    expect(c.add(exchange((t += 250), 5000))).toMatchObject({ accepted: true, step: true });
    expect(c.stepPending).toBe(false);
    expect(c.estimate()!.offsetMs).toBeCloseTo(5000, 0);
    // The window restarts with the two samples: a quick burst refills it.
    expect(c.nextRequestInMs()).toBe(250);
  });
});

describe('receiptClock', () => {
  it('a board never synced (no link since boot) says its clock was not verified and leaves its times alone', () => {
    expect(receiptClock(unsynced, unsynced)).toEqual({ clockSynced: false });
  });

  it('a board 60 s fast that played before its first answer and learned the truth before the receipt: 60 s early', () => {
    // Server − local = −60,000 ms: the board's clock is a minute ahead.
    const r = receiptClock(unsynced, synced(-60_000, 3));
    expect(r).toEqual({ clockSynced: false, clockUncertaintyMs: 3, clockErrorMs: 60_000 });
    // The receipt's startErrorMs (0 by the board's clock) moves onto the best clock: −60 s, early.
    expect(0 - r.clockErrorMs!).toBe(-60_000);
  });

  it('a server clock stepped +5 s during the play: the play was 5 s late on the server clock', () => {
    const r = receiptClock(synced(0, 1), synced(5000, 1.5));
    expect(r).toEqual({ clockSynced: true, clockUncertaintyMs: 1.5, clockErrorMs: -5000 });
  });

  it('a play started while a disagreeing answer waited for confirmation was not on a verified clock', () => {
    expect(receiptClock(synced(0, 1, true), synced(5000, 1))).toEqual({ clockSynced: false, clockUncertaintyMs: 1, clockErrorMs: -5000 });
  });

  it("a steady clock: verified, an error of the estimate's drift only", () => {
    expect(receiptClock(synced(12.5, 2), synced(12.25, 1.75))).toEqual({ clockSynced: true, clockUncertaintyMs: 1.75, clockErrorMs: 0.25 });
  });

  it('no comparison against a clock still in question: the play-time state is kept', () => {
    expect(receiptClock(synced(0, 1), synced(0, 1, true))).toEqual({ clockSynced: true, clockUncertaintyMs: 1 });
  });
});
