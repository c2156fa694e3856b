/**
 * What an agent does with an alert control message, pure. The memory is what
 * the agent knows of each alert (persisted in its state folder by memory.ts):
 * the revision it handled and how that ended, so a restarted agent that gets
 * the retained alert_start again does not play a finished alert twice, while
 * one it was interrupted in (no outcome yet) is played again.
 */
import type { AlertCancel, AlertStart } from '../../protocol/index.ts';

export type AlertOutcome = 'playing' | 'completed' | 'failed' | 'stopped' | 'expired';

export interface Remembered {
  revision: number;
  outcome: AlertOutcome;
  /** Server clock (agent's estimate) when last changed. */
  at: number;
}

export type Memory = ReadonlyMap<string, Remembered>;

export type StartDecision =
  | { action: 'ignore'; why: 'not_for_this_site' | 'already_handled' | 'older_revision' }
  | { action: 'expired' }
  /** `replaces`: a lower revision of the same alert is playing and stops for this one. */
  | { action: 'play'; replaces: boolean }
  /**
   * The revision playing here was started before its message existed and
   * this copy completes it (`media`, or `messageState` failed): the running
   * programme gets the message after its signal; nothing restarts.
   */
  | { action: 'message' };

/**
 * `awaitingMessage`: the copy of this alert playing here came without `media`
 * (its message was being made) and none has come since.
 */
export function decideStart(memory: Memory, m: AlertStart, siteId: string, serverNow: number, playing: boolean, awaitingMessage = false): StartDecision {
  if (m.sites && !m.sites.includes(siteId)) return { action: 'ignore', why: 'not_for_this_site' };
  const known = memory.get(m.alertId);
  if (known && m.revision < known.revision) return { action: 'ignore', why: 'older_revision' };
  if (known && m.revision === known.revision && known.outcome === 'playing' && playing && awaitingMessage && (m.media || m.messageState === 'failed')) return { action: 'message' };
  // The same revision again (a retained copy after a reconnect, the server re-announcing it): once is enough,
  // unless the agent lost it mid-play (restart): then `playing` is false and it has no final outcome.
  if (known && m.revision === known.revision && (known.outcome !== 'playing' || playing)) return { action: 'ignore', why: 'already_handled' };
  if (m.validUntil <= serverNow) return { action: 'expired' };
  return { action: 'play', replaces: !!known && known.revision < m.revision && known.outcome === 'playing' && playing };
}

export type CancelDecision = { action: 'stop'; revision: number } | { action: 'forget' } | { action: 'ignore' };

export function decideCancel(memory: Memory, m: AlertCancel, playing: boolean): CancelDecision {
  const known = memory.get(m.alertId);
  if (known && known.outcome === 'playing' && playing) return { action: 'stop', revision: known.revision };
  // Not playing here: remember it as stopped, so a late retained start of it is not played.
  if (m.reason !== 'expired') return { action: 'forget' };
  return { action: 'ignore' };
}

/** Entries older than this are dropped from the memory (an alert is valid for at most a week). */
export const MEMORY_KEEP_MS = 8 * 24 * 3600_000;

export function prune(memory: Memory, serverNow: number): Map<string, Remembered> {
  return new Map([...memory].filter(([, r]) => r.at > serverNow - MEMORY_KEEP_MS));
}
