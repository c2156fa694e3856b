/**
 * What the agent says of an entry it has no receipt for (edge-agent/playout/missed.ts):
 * `unknown` once its journal was lost, and a skip only with the reason that is true.
 */
import { describe, expect, it } from 'vitest';
import { missedVerdict, type MissedContext } from '../../edge-agent/playout/missed.ts';

const T = Date.UTC(2026, 11, 4, 7, 0, 0);
const entry = { startAt: T, notAfter: T + 60_000 };
const ctx = (over: Partial<MissedContext> = {}): MissedContext => ({
  now: T + 3_600_000,
  runStartedAt: T + 3_000_000,
  heldSince: T + 3_000_000,
  journalLost: false,
  playlistLost: false,
  ...over,
});

describe('an entry with no receipt', () => {
  it('due before this run, with the journal lost: unknown, whether or not its window is over (it may have played)', () => {
    expect(missedVerdict(entry, ctx({ journalLost: true }))).toMatchObject({ outcome: 'unknown', reason: 'state_lost' });
    // Restarted inside its window: not played a second time either.
    expect(missedVerdict(entry, ctx({ journalLost: true, now: T + 10_000, runStartedAt: T + 5_000, heldSince: T + 5_000 }))).toMatchObject({ outcome: 'unknown' });
  });

  it('due after this run started, with the journal lost: played as usual (this run knows what it did)', () => {
    expect(missedVerdict(entry, ctx({ journalLost: true, runStartedAt: T - 1000, heldSince: T - 1000, now: T + 1000 }))).toBeNull();
  });

  it('window still open and the journal intact: null (play it, late)', () => {
    expect(missedVerdict(entry, ctx({ now: T + 30_000, runStartedAt: T + 20_000 }))).toBeNull();
  });

  it('window over before this run, journal intact: skipped expired, without claiming more than the journal knows', () => {
    const v = missedVerdict(entry, ctx());
    expect(v).toMatchObject({ outcome: 'skipped', reason: 'expired' });
    expect(v!.detail).toMatch(/the agent was not running then \(this run started at .*\) or did not hold it yet/);
  });

  it('window over while this run was running but before it held the entry: says it arrived late, never "not running"', () => {
    const v = missedVerdict(entry, ctx({ runStartedAt: T - 600_000, heldSince: T + 120_000, playlistLost: true }));
    expect(v).toMatchObject({ outcome: 'skipped', reason: 'expired' });
    expect(v!.detail).toMatch(/reached the agent at .* after its window \(the saved playlist was damaged/);
    expect(v!.detail).not.toMatch(/not running/);
  });
});
