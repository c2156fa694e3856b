/**
 * How one site's delivery row of an alert moves on, pure: a status report
 * folded into the row, and what the row says the site played (nothing, the
 * attention signal only, or the message) and whether its monitoring
 * microphone heard it.
 *
 * Statuses only move forward (pending < received < playing < completed |
 * failed | stopped): a report that arrives late or twice never takes a site
 * back. A report for another revision than the alert's current one is ignored
 * (an Update resets every site to pending for the new revision).
 */
import type { AlertStatusEvent } from '../../protocol/index.ts';
import type { Delivery, DeliveryStatus } from './model.ts';

const RANK: Record<DeliveryStatus, number> = { pending: 0, received: 1, playing: 2, completed: 3, failed: 3, stopped: 3 };

/** Reported at least received. */
export function wasReceived(status: DeliveryStatus): boolean {
  return RANK[status] >= 1;
}

/** Completed, failed or stopped: nothing moves the row on any more. */
export function hasEnded(status: DeliveryStatus): boolean {
  return RANK[status] === 3;
}

/** The row after a status report; the same row (by identity) when the report changes nothing. */
export function applyStatus(row: Delivery, ev: AlertStatusEvent, alertRevision: number, receivedAt: number): Delivery {
  if (ev.revision !== alertRevision) return row;
  const next: Delivery = { ...row, revision: alertRevision, reportedAt: receivedAt };
  let changed = false;
  const set = <K extends keyof Delivery>(k: K, v: Delivery[K]) => {
    if (next[k] !== v) {
      next[k] = v;
      changed = true;
    }
  };
  const terminal = hasEnded(row.status);
  if (!terminal && RANK[ev.status] > RANK[row.status]) set('status', ev.status);
  // Facts are kept whatever the order they arrive in.
  if (next.receivedAt === null) set('receivedAt', ev.at);
  const sound = ev.firstSoundAt ?? (ev.status === 'playing' ? ev.at : undefined);
  if (sound !== undefined && (next.firstSoundAt === null || sound < next.firstSoundAt)) set('firstSoundAt', sound);
  if (ev.status === 'completed' && next.completedAt === null && next.status === 'completed') set('completedAt', ev.at);
  if ((ev.status === 'failed' || ev.status === 'stopped') && next.status === ev.status) {
    if (next.failedAt === null) set('failedAt', ev.at);
    if (ev.reason !== undefined) set('reason', ev.reason);
    if (ev.detail !== undefined) set('detail', ev.detail);
  }
  if (ev.repeat !== undefined && (next.repeat === null || ev.repeat > next.repeat)) set('repeat', ev.repeat);
  const message = messageAtOf(ev);
  if (message && (next.messageAt === null || (message.exact && message.at < next.messageAt))) set('messageAt', message.at);
  // Only an agent that measures its level over the message says this; an older one's `repeat` stays the count.
  if (ev.messageRepeats !== undefined && (next.messageRepeats === null || ev.messageRepeats > next.messageRepeats)) set('messageRepeats', ev.messageRepeats);
  if (typeof ev.levelDb === 'number' && (next.levelDb === null || ev.levelDb > next.levelDb)) set('levelDb', ev.levelDb);
  if (typeof ev.levelDb === 'number' && ev.thresholdDb !== undefined) set('levelThresholdDb', ev.thresholdDb);
  // Languages only accumulate, whatever order the reports come in; one heard is no longer missed.
  if (ev.languagesPlayed !== undefined) {
    const played = union(next.languagesPlayed, ev.languagesPlayed);
    if (played.join(',') !== (next.languagesPlayed ?? []).join(',') || next.languagesPlayed === null) set('languagesPlayed', played);
  }
  if (ev.languagesMissed !== undefined || (next.languagesMissed && next.languagesPlayed)) {
    const missed = union(next.languagesMissed, ev.languagesMissed ?? []).filter((l) => !(next.languagesPlayed ?? []).includes(l));
    const now = missed.length > 0 ? missed : null;
    if ((now ?? []).join(',') !== (next.languagesMissed ?? []).join(',')) set('languagesMissed', now);
  }
  return changed ? next : row;
}

function union(a: readonly string[] | null, b: readonly string[]): string[] {
  const out = [...(a ?? [])];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

/**
 * When the report says the message came out. An agent that predates
 * `messageAt` said it only by `repeat` (1… = the message): its `playing` of
 * repeat N came when repeat N began (an upper bound for repeat 1); its end
 * report says only that the message played by then, kept only while nothing
 * better is known (never earlier than the truth: time to message is not
 * flattered).
 */
function messageAtOf(ev: AlertStatusEvent): { at: number; exact: boolean } | undefined {
  if (ev.messageAt !== undefined) return { at: ev.messageAt, exact: true };
  if (ev.messageRepeats !== undefined || ev.repeat === undefined || ev.repeat < 1) return undefined;
  return { at: ev.at, exact: ev.status === 'playing' };
}

/** What came out of a site's speakers: nothing yet, the attention signal only, or the message. */
export type Played = 'nothing' | 'attention' | 'message';

export function playedOf(d: Delivery): Played {
  if (d.messageAt !== null) return 'message';
  if (d.firstSoundAt !== null || d.status === 'playing' || d.status === 'completed') return 'attention';
  return 'nothing';
}

/** Judged with this when a site sent a level without its threshold: the agents' default sound-check threshold (edge-agent/config.ts). */
export const DEFAULT_LEVEL_THRESHOLD_DB = -40;

/**
 * What the site's monitoring microphone says: `heard` (its level reached the
 * site's sound-check threshold), `not_heard` (it played, but the level stayed
 * below: a speaker line open, the amplifier silent), or null (no microphone,
 * or no level reported yet). The level is over the message once it played,
 * else over the attention signal (the caller knows which from `playedOf`).
 * An agent that does not report `messageRepeats` measured from the first
 * sound, its attention signal included: a level loud enough there proves
 * only that something sounded, so it gives no verdict.
 */
export function heardVerdict(d: Delivery): 'heard' | 'not_heard' | null {
  if (d.levelDb === null) return null;
  if (d.levelDb < (d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB)) return 'not_heard';
  return d.messageRepeats === null ? null : 'heard';
}

/** The site said it played the message (the share that counts as "confirmed playing"); the attention signal alone is not. */
export function confirmedPlaying(d: Delivery): boolean {
  return playedOf(d) === 'message';
}
