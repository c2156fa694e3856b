/**
 * What the agent may truthfully say of a playlist entry it has no receipt
 * for and will not play (pure): the entry's window is over, or — after the
 * agent lost its receipt journal — it may already have played before.
 *
 * The receipt journal is the agent's only memory of what it played. While it
 * is intact, "no receipt" means "never started here", and the only question
 * is why: the agent was off, or it did not hold the entry in time. Once it is
 * lost (wiped, damaged: the agent ran before with this state folder and the
 * journal is gone), an entry whose start came before this run may have
 * played in full, so the receipt says `unknown`, never a guessed skip — and
 * the entry is not played a second time either.
 */
import type { AsRunOutcome, AsRunReason } from '../../protocol/index.ts';

export interface MissedContext {
  /** Server clock (the agent's estimate) now. */
  now: number;
  /** When this run of the agent started (server clock, the agent's estimate). */
  runStartedAt: number;
  /** When this run first held the entry (loaded from disk at start, or received later). */
  heldSince: number;
  /** The agent ran before with this state folder and its receipt journal is gone or damaged. */
  journalLost: boolean;
  /** The saved playlist was there at start and could not be used (torn, damaged). */
  playlistLost: boolean;
}

export interface MissedEntry {
  startAt: number;
  /** Do not start after this (the entry's notAfter, else start + duration). */
  notAfter: number;
}

export type MissedVerdict = null | { outcome: Extract<AsRunOutcome, 'skipped' | 'unknown'>; reason: Extract<AsRunReason, 'expired' | 'state_lost'>; detail: string };

const iso = (t: number): string => new Date(t).toISOString();

/**
 * The receipt to write for an entry that has none and is not being played,
 * or null when it may still be played (its window is open and nothing says
 * it already was).
 */
export function missedVerdict(e: MissedEntry, c: MissedContext): MissedVerdict {
  if (c.journalLost && e.startAt < c.runStartedAt) {
    return {
      outcome: 'unknown',
      reason: 'state_lost',
      detail: `due at ${iso(e.startAt)}, before this run started (${iso(c.runStartedAt)}), and the receipt journal that would say whether it played was lost or damaged`,
    };
  }
  if (c.now <= e.notAfter) return null;
  const by = `not started by ${iso(e.notAfter)}`;
  if (e.notAfter < c.runStartedAt) {
    // The journal is intact and holds no receipt: no earlier run started it. Whether one was running
    // without the entry, or none was running, the journal cannot tell.
    return { outcome: 'skipped', reason: 'expired', detail: `${by}: the agent was not running then (this run started at ${iso(c.runStartedAt)}) or did not hold it yet` };
  }
  if (c.heldSince > e.notAfter) {
    return {
      outcome: 'skipped',
      reason: 'expired',
      detail: `${by}: it reached the agent at ${iso(c.heldSince)}, after its window${c.playlistLost ? ' (the saved playlist was damaged and could not be used)' : ''}`,
    };
  }
  return { outcome: 'skipped', reason: 'expired', detail: by };
}
