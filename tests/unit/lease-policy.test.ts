/**
 * The lease timing rules: a holder believes it owns a lease only until the
 * round it last had granted was sent + TTL − the safety margin, so it steps
 * down before the database lets anyone else take the lease, whatever the
 * database answers, late or never.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import {
  afterRound,
  DEFAULT_LEASE_TIMINGS as T,
  expire,
  type LeaseView,
  nextRoundDelay,
  owns,
  type RoundOutcome,
  release,
  roundHung,
  STANDBY,
  leaseTimingsFor,
  timingsProblem,
} from '../../server/cluster/lease-policy.ts';

describe('lease timings', () => {
  it('LOANET_LEASE_TTL_MS scales workable timings from its whole range, the default being the defaults', () => {
    expect(leaseTimingsFor(6_000)).toEqual(T);
    fc.assert(
      fc.property(fc.integer({ min: 1_200, max: 120_000 }), (ttl) => {
        const t = leaseTimingsFor(ttl);
        expect(timingsProblem(t)).toBeUndefined();
        // A dead holder's work is taken within 4/3 of the TTL.
        expect(t.ttlMs + t.acquireEveryMs).toBeLessThanOrEqual((4 / 3) * ttl + 1e-9);
      }),
    );
  });

  it('the defaults hand a dead holder’s work to another server within 10 s', () => {
    expect(timingsProblem(T)).toBeUndefined();
    // Last grant run just before the death; the standby's try just misses the expiry, so it is the next one that takes it.
    expect(T.ttlMs + T.acquireEveryMs).toBeLessThan(10_000);
  });

  it('refuses timings where a healthy holder would step down between renewals, or with no margin', () => {
    expect(timingsProblem({ ...T, renewEveryMs: 4_000 })).toMatch(/must fit within ttlMs − safetyMs/);
    expect(timingsProblem({ ...T, safetyMs: 0 })).toMatch(/safetyMs must be above 0/);
    expect(timingsProblem({ ...T, retryMs: 3_000 })).toMatch(/retryMs/);
    expect(timingsProblem({ ...T, ttlMs: Number.NaN })).toMatch(/ttlMs must be a finite number/);
  });

  it('renews every 2 s while holding, tries every 2 s in standby, retries after 0.5 s when a round failed', () => {
    expect(nextRoundDelay(true, false, T)).toBe(2_000);
    expect(nextRoundDelay(false, false, T)).toBe(2_000);
    expect(nextRoundDelay(true, true, T)).toBe(500);
    expect(roundHung(1_000, 3_999, T)).toBe(false);
    expect(roundHung(1_000, 4_000, T)).toBe(true);
  });
});

describe('what a holder believes', () => {
  it('a granted round holds from when it was sent, not from when it was answered', () => {
    const t = afterRound(STANDBY, { kind: 'granted', token: 4 }, 1_000, 3_500, T);
    expect(t.changes).toEqual([{ kind: 'acquired', token: 4 }]);
    expect(t.view).toEqual({ held: true, token: 4, validUntil: 1_000 + 6_000 - 1_000 });
    expect(owns(t.view, 5_999)).toBe(true);
    expect(owns(t.view, 6_000)).toBe(false);
  });

  it('a renewal answered after its belief would already have ended gives nothing, and the old belief still ends on time', () => {
    const held: LeaseView = { held: true, token: 2, validUntil: 6_000 };
    const late = afterRound(held, { kind: 'granted', token: 2 }, 500, 6_200, T);
    expect(late.view).toEqual(STANDBY);
    expect(late.changes).toEqual([{ kind: 'lost', token: 2, reason: 'expired' }]);
  });

  it('failed rounds keep the lease only until the last grant’s belief ends', () => {
    let v: LeaseView = { held: true, token: 1, validUntil: 5_000 };
    v = afterRound(v, { kind: 'failed' }, 2_000, 2_400, T).view;
    expect(owns(v, 4_999)).toBe(true);
    const t = expire(v, 5_000);
    expect(t.view).toEqual(STANDBY);
    expect(t.changes).toEqual([{ kind: 'lost', token: 1, reason: 'expired' }]);
  });

  it('a refusal while holding is a loss at once; a new token means another held it in between', () => {
    const held: LeaseView = { held: true, token: 1, validUntil: 5_000 };
    expect(afterRound(held, { kind: 'refused' }, 1_000, 1_100, T).changes).toEqual([{ kind: 'lost', token: 1, reason: 'taken' }]);
    const again = afterRound(held, { kind: 'granted', token: 3 }, 1_000, 1_100, T);
    expect(again.changes).toEqual([
      { kind: 'lost', token: 1, reason: 'taken' },
      { kind: 'acquired', token: 3 },
    ]);
    expect(again.view).toEqual({ held: true, token: 3, validUntil: 6_000 });
  });

  it('an earlier round answered after a later one never shortens the belief', () => {
    const v = afterRound({ held: true, token: 1, validUntil: 9_000 }, { kind: 'granted', token: 1 }, 2_000, 2_100, T).view;
    expect(v).toEqual({ held: true, token: 1, validUntil: 9_000 });
  });

  it('releasing tells the loss first; nothing to release in standby', () => {
    expect(release({ held: true, token: 7, validUntil: 1 }).changes).toEqual([{ kind: 'lost', token: 7, reason: 'released' }]);
    expect(release(STANDBY).changes).toEqual([]);
  });
});

/**
 * A model of the database and one rival: rounds sent by the holder are run
 * by the database at any later time (or never), and their answers come back
 * at any later time, or are lost; the rival takes the lease whenever the
 * database lets it; the holder's monotonic clock runs up to 10 % fast or slow
 * against the database's. Whenever the holder believes it owns the lease, the
 * database agrees: it is the holder there, with the same token, and its
 * expiry is still ahead.
 */
describe('property: the holder never believes past the database', () => {
  type Step =
    | { kind: 'advance'; ms: number }
    | { kind: 'send' }
    | { kind: 'run'; pick: number }
    | { kind: 'answer'; pick: number; lost: boolean }
    | { kind: 'rival' }
    | { kind: 'rivalRelease' };
  const step: fc.Arbitrary<Step> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 4_000 }) }), weight: 4 },
    { arbitrary: fc.constant({ kind: 'send' as const }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('run' as const), pick: fc.nat() }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(), lost: fc.boolean() }), weight: 3 },
    { arbitrary: fc.constant({ kind: 'rival' as const }), weight: 2 },
    { arbitrary: fc.constant({ kind: 'rivalRelease' as const }), weight: 1 },
  );

  it('holds under any interleaving of rounds, answers, rivals and clock rates', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.9, max: 1.1, noNaN: true }), fc.integer({ min: 0, max: 1e9 }), fc.array(step, { maxLength: 120 }), (rate, localOrigin, steps) => {
        let real = 0;
        const local = () => localOrigin + real * rate;
        const db = { holder: '', token: 0, expires: 0 };
        // A round may run after its answer was given up on (a hung connection that comes back): it still moves the database.
        type Round = { sentLocal: number; result?: RoundOutcome; answered: boolean };
        const rounds: Round[] = [];
        let view: LeaseView = STANDBY;
        const grant = (who: string): number | undefined => {
          if (db.holder !== '' && db.holder !== who && !(db.expires < real)) return undefined;
          if (db.holder !== who) db.token++;
          db.holder = who;
          db.expires = real + T.ttlMs;
          return db.token;
        };
        const check = () => {
          view = expire(view, local()).view;
          if (owns(view, local())) {
            expect(db.holder).toBe('me');
            expect(view.held && view.token).toBe(db.token);
            expect(real).toBeLessThan(db.expires);
          }
        };
        for (const s of steps) {
          switch (s.kind) {
            case 'advance':
              real += s.ms;
              break;
            case 'send':
              rounds.push({ sentLocal: local(), answered: false });
              break;
            case 'run': {
              const notRun = rounds.filter((r) => !r.result);
              if (notRun.length === 0) break;
              const r = notRun[s.pick % notRun.length]!;
              const token = grant('me');
              r.result = token === undefined ? { kind: 'refused' } : { kind: 'granted', token };
              break;
            }
            case 'answer': {
              const waiting = rounds.filter((r) => !r.answered);
              if (waiting.length === 0) break;
              const r = waiting[s.pick % waiting.length]!;
              r.answered = true;
              // Not run yet, or its answer lost on the way: the holder sees a failure.
              const outcome: RoundOutcome = s.lost || !r.result ? { kind: 'failed' } : r.result;
              view = afterRound(view, outcome, r.sentLocal, local(), T).view;
              break;
            }
            case 'rival':
              grant('rival');
              break;
            case 'rivalRelease':
              if (db.holder === 'rival') {
                db.holder = '';
                db.expires = 0;
              }
              break;
          }
          check();
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
