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
  | { action: 'message' }
  /** The revision playing here, with language versions it did not have: they join the repeats still to come; nothing restarts. */
  | { action: 'versions' };

/**
 * `awaitingMessage`: the copy of this alert playing here came without `media`
 * (its message was being made) and none has come since. `newVersions`: this
 * copy has a version in a language the one playing here lacks.
 */
export function decideStart(memory: Memory, m: AlertStart, siteId: string, serverNow: number, playing: boolean, awaitingMessage = false, newVersions = false): StartDecision {
  if (m.sites && !m.sites.includes(siteId)) return { action: 'ignore', why: 'not_for_this_site' };
  const known = memory.get(m.alertId);
  if (known && m.revision < known.revision) return { action: 'ignore', why: 'older_revision' };
  const same = known !== undefined && m.revision === known.revision && known.outcome === 'playing' && playing;
  if (same && awaitingMessage && (m.media || m.messageState === 'failed')) return { action: 'message' };
  if (same && newVersions) return { action: 'versions' };
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

/**
 * Alerts issued up to this long after the agent started count as "maybe
 * handled before": the agent's estimate of the server clock may be off by
 * that much right after a boot, before its first clock exchange.
 */
export const ASK_MARGIN_MS = 60_000;

/**
 * Whether to ask the server what this site already did with an alert before
 * playing it (pure). Only when the memory may lack alerts handled here (it
 * was lost or damaged, or read from its previous copy: `complete` false), the
 * alert was issued before this run started (a later one cannot have played
 * here), and the memory does not hold it as finished.
 */
export function askServerFirst(complete: boolean, memory: Memory, m: AlertStart, runStartedAt: number): boolean {
  if (complete) return false;
  const known = memory.get(m.alertId);
  if (known && known.revision >= m.revision && known.outcome !== 'playing') return false;
  return m.at <= runStartedAt + ASK_MARGIN_MS;
}

/** What the server stored for this site, as the agent asked for it (GET /api/alerts/{id}/sites/{siteId}). */
export interface ServerDelivery {
  revision: number;
  status: 'pending' | 'received' | 'playing' | 'completed' | 'failed' | 'stopped';
}

/**
 * The outcome to remember when the server's word shows this revision (or a
 * newer one) already ended here; null: play it. A `playing` or `received`
 * status is not an end: the agent stopped in the middle, as decideStart plays
 * an interrupted alert again.
 */
export function handledPerServer(word: ServerDelivery, m: AlertStart): Extract<AlertOutcome, 'completed' | 'failed' | 'stopped'> | null {
  if (word.revision < m.revision) return null;
  return word.status === 'completed' || word.status === 'failed' || word.status === 'stopped' ? word.status : null;
}

/** What the media cache knows of a file it could not fetch yet: failed attempts so far and the last error. */
export interface FetchFailure {
  attempts: number;
  error: string;
}

/**
 * Failed attempts at the message audio an alert waits through before it
 * gives up on the message. The cache retries a cut at once and then backs
 * off (~2 s, ~4 s), so this bounds the silence after the signal to seconds,
 * not the 120 s deadline: the amplifier is on, the village hears nothing.
 */
export const MESSAGE_FETCH_ATTEMPTS = 3;

export type MessageFetchDecision = { action: 'wait' } | { action: 'give_up'; detail: string };

/**
 * Whether to keep waiting for the message audio or give up on it (the
 * attention signal then was all this site played, and it says so). A refusal
 * (HTTP 4xx other than 408/429: not found, forbidden) will not change by
 * retrying; anything else (a cut, a 5xx, a stall) gets MESSAGE_FETCH_ATTEMPTS
 * tries; a 429 is the server (or its connection guard) shedding a stampede of
 * sites fetching the same alert at once, not a broken path, so it is waited
 * out; past the deadline the wait ends whatever the cache is doing.
 * `attemptsBefore`: failures already counted when this alert began to wait
 * (another user of the same file), which are not this alert's.
 */
export function messageFetchDecision(failure: FetchFailure | null, attemptsBefore: number, serverNow: number, deadline: number, mediaId: string): MessageFetchDecision {
  const failed = failure ? failure.attempts - attemptsBefore : 0;
  const error = failure ? failure.error.replace(/GET https?:\/\/[^/\s]+/g, 'GET ') : '';
  if (failure && failed > 0) {
    const status = /\bHTTP (\d{3})\b/.exec(failure.error)?.[1];
    const refused = status?.startsWith('4') && status !== '408' && status !== '429';
    if (refused || (failed >= MESSAGE_FETCH_ATTEMPTS && status !== '429'))
      return { action: 'give_up', detail: `could not fetch audio ${mediaId}: ${error} (${failed} attempt${failed === 1 ? '' : 's'})` };
  }
  if (serverNow >= deadline) return { action: 'give_up', detail: `audio ${mediaId} not in the cache in time${failure ? `; last attempt: ${error}` : ''}` };
  return { action: 'wait' };
}
