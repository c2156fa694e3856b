/**
 * When a server may believe it holds a lease: the timing rules of the work
 * that must happen once across several servers (issue 18, item 2). Pure: the
 * keeper (lease-keeper.ts) feeds it what its rounds against the database
 * returned and when, and acts on the changes it answers.
 *
 * The database decides who holds a lease: a round's statement grants it to
 * this instance (renewing it, or taking it once the previous holder's expiry
 * passed on the database's clock) and sets expires_at = (database now) + TTL.
 * The holder cannot see the database's clock, so it counts from what it can
 * see: the local monotonic time at which it SENT the round that was granted.
 * The database ran that statement after it was sent, so its expiry is at
 * least `sentAt + ttl` in real time; the holder believes it owns the lease
 * only until `sentAt + ttl - safety`, the margin covering a local clock that
 * runs slower than the database's (up to `safety / ttl`, 1/6 by default) and
 * the moment between a work's check of `owns()` and its write landing (the
 * fenced write closes the rest: lease-store.ts). A round that never answers
 * (a database that stops answering) therefore ends the belief on time: the
 * holder steps down before anyone else may take over, never after.
 *
 * Takeover after a holder dies: its last granted round expires at most TTL
 * after it was run; a standby tries every `acquireEveryMs`, so another server
 * holds the lease within TTL + acquireEvery + one round trip (6 + 2 s by
 * default: under the 10 s issue 18 asks). After a clean stop the holder
 * releases it, and the standby's next try takes it (within acquireEvery).
 */

/**
 * One lease per kind of work that must happen once across servers: the
 * fleet's derived writes (liveness sweep, statuses and site events), the
 * periodic playlist recomputation, alert ticks, scheduled sound checks, live
 * streams left by a server that died, coverage history snapshots, rollout
 * waves, the site-configuration pass, and the alarms with who is told of
 * them (one lease for both: the notifier follows the alarm engine's events
 * in the same process, so it must run where the engine writes). One keeper
 * asks for all of them in one statement, so one server does all this work
 * and the others stand by.
 */
export const LEASE_NAMES = ['fleet-sweep', 'playlists', 'alerts', 'sound-checks', 'live', 'history', 'rollouts', 'site-config', 'alarms'] as const;
export type LeaseName = (typeof LEASE_NAMES)[number];

export interface LeaseTimings {
  /** How long past the database's now a granted round keeps the lease. */
  ttlMs: number;
  /** A holder starts a renewal round this long after the last one started. */
  renewEveryMs: number;
  /** A standby (holding nothing) tries to take its leases this often. */
  acquireEveryMs: number;
  /** After a round that failed (an error, not a refusal), the next one starts this soon. */
  retryMs: number;
  /** Subtracted from `sentAt + ttl`: the holder steps down this long before the database could let anyone else in. */
  safetyMs: number;
  /** A round unanswered this long is abandoned: its answer, if it ever comes, is ignored, and another round may start. */
  roundTimeoutMs: number;
  /** Rounds abandoned but still running at most; none starts while this many hang (each may hold a database connection). */
  maxHungRounds: number;
}

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  ttlMs: 6_000,
  renewEveryMs: 2_000,
  acquireEveryMs: 2_000,
  retryMs: 500,
  safetyMs: 1_000,
  roundTimeoutMs: 3_000,
  maxHungRounds: 2,
};

/**
 * Timings scaled from one figure, the TTL (LOANET_LEASE_TTL_S): renewals and
 * standby tries every third of it, a holder stepping down a sixth before the
 * database's expiry, a round given up after half. The defaults are ttl 6 s.
 */
export function leaseTimingsFor(ttlMs: number): LeaseTimings {
  // Whole milliseconds, rounded down: renewal + round timeout then always fit within ttl − safety.
  const part = (n: number) => Math.floor(ttlMs / n);
  return { ttlMs, renewEveryMs: part(3), acquireEveryMs: part(3), retryMs: part(12), safetyMs: part(6), roundTimeoutMs: part(2), maxHungRounds: 2 };
}

/** Timings that cannot work, said plainly (a configuration error at start, never a lease that lapses at run time). */
export function timingsProblem(t: LeaseTimings): string | undefined {
  for (const [k, v] of Object.entries(t)) if (!Number.isFinite(v) || v < 0) return `${k} must be a finite number ≥ 0, not ${v}`;
  if (t.ttlMs <= 0 || t.renewEveryMs <= 0 || t.acquireEveryMs <= 0 || t.retryMs <= 0 || t.roundTimeoutMs <= 0) return 'every interval must be above 0';
  if (t.safetyMs <= 0) return 'safetyMs must be above 0: it is what keeps a holder from working past the database’s expiry';
  // A renewal must be sent, and answered, while the last one still holds.
  if (t.renewEveryMs + t.roundTimeoutMs > t.ttlMs - t.safetyMs) {
    return `renewEveryMs (${t.renewEveryMs}) + roundTimeoutMs (${t.roundTimeoutMs}) must fit within ttlMs − safetyMs (${t.ttlMs - t.safetyMs}), or a holder steps down between healthy renewals`;
  }
  if (t.retryMs > t.renewEveryMs) return `retryMs (${t.retryMs}) must not exceed renewEveryMs (${t.renewEveryMs})`;
  if (!Number.isInteger(t.maxHungRounds) || t.maxHungRounds < 0) return 'maxHungRounds must be an integer ≥ 0';
  return undefined;
}

/** What this instance believes of one lease. `validUntil` is on the local monotonic clock. */
export type LeaseView = { held: false } | { held: true; token: number; validUntil: number };

export const STANDBY: LeaseView = { held: false };

/** What the database answered for one lease in one round. */
export type RoundOutcome =
  /** Granted to this instance with this fencing token. */
  | { kind: 'granted'; token: number }
  /** Another instance holds it and its expiry has not passed. */
  | { kind: 'refused' }
  /** No answer: the statement failed or the round was abandoned. */
  | { kind: 'failed' };

export type LossReason =
  /** The belief ran out (renewals failed or hung): stepped down before the database's expiry. */
  | 'expired'
  /** The database says another instance holds it. */
  | 'taken'
  /** This instance let it go (a clean stop). */
  | 'released';

export type LeaseChange = { kind: 'acquired'; token: number } | { kind: 'lost'; token: number; reason: LossReason };

export interface Transition {
  view: LeaseView;
  changes: LeaseChange[];
}

/** Whether this instance may act as the holder at local time `now`. */
export function owns(view: LeaseView, now: number): boolean {
  return view.held && now < view.validUntil;
}

/** The end of the belief a round granted: from when it was sent, never from when it was answered. */
export function beliefEnd(sentAt: number, t: LeaseTimings): number {
  return sentAt + t.ttlMs - t.safetyMs;
}

/**
 * A round's answer for one lease, sent at local time `sentAt` and answered at
 * `now`. A grant answered so late that its belief already ended gives nothing
 * (the work would stop as soon as it started); a grant with another token
 * than the one held means another instance held it in between, so the old
 * term is lost before the new one is acquired (the work restarts and its
 * fenced writes carry the new token).
 */
export function afterRound(view: LeaseView, outcome: RoundOutcome, sentAt: number, now: number, t: LeaseTimings): Transition {
  const ended = expire(view, now);
  const cur = ended.view;
  const changes = [...ended.changes];
  switch (outcome.kind) {
    case 'granted': {
      const until = beliefEnd(sentAt, t);
      if (until <= now) return { view: cur, changes };
      if (cur.held && cur.token === outcome.token) return { view: { held: true, token: cur.token, validUntil: Math.max(cur.validUntil, until) }, changes };
      if (cur.held) changes.push({ kind: 'lost', token: cur.token, reason: 'taken' });
      changes.push({ kind: 'acquired', token: outcome.token });
      return { view: { held: true, token: outcome.token, validUntil: until }, changes };
    }
    case 'refused':
      if (cur.held) changes.push({ kind: 'lost', token: cur.token, reason: 'taken' });
      return { view: STANDBY, changes };
    case 'failed':
      // Not lost yet: the last grant still holds until its belief ends (expire), and the next round comes sooner.
      return { view: cur, changes };
    default: {
      const never: never = outcome;
      throw new Error(`unknown round outcome ${JSON.stringify(never)}`);
    }
  }
}

/** The belief ends on time whatever the database answers, or whether it answers at all. */
export function expire(view: LeaseView, now: number): Transition {
  if (view.held && now >= view.validUntil) return { view: STANDBY, changes: [{ kind: 'lost', token: view.token, reason: 'expired' }] };
  return { view, changes: [] };
}

/** This instance let the lease go (before its release statement runs, so its work stops first). */
export function release(view: LeaseView): Transition {
  if (!view.held) return { view, changes: [] };
  return { view: STANDBY, changes: [{ kind: 'lost', token: view.token, reason: 'released' }] };
}

/** When the next round starts, counted from when the last one started: sooner after a failure, slower with nothing held. */
export function nextRoundDelay(holding: boolean, lastFailed: boolean, t: LeaseTimings): number {
  if (lastFailed) return t.retryMs;
  return holding ? t.renewEveryMs : t.acquireEveryMs;
}

/** Whether a round in flight since `sentAt` is to be given up at `now`. */
export function roundHung(sentAt: number, now: number, t: LeaseTimings): boolean {
  return now - sentAt >= t.roundTimeoutMs;
}
