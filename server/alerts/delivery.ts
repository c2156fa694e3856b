/**
 * Delivery proof of one alert, pure: the live delivery state an official
 * reads — counts, time to first sound, the share of targeted sites confirmed
 * playing over time, and every site not (yet) confirmed playing with its
 * reasons, in Vietnamese and English, from the fleet's own verdict (offline
 * since …, amplifier fault, speaker line open). How one row moves on is
 * delivery-status.ts; the reasons' words are delivery-reasons.ts.
 *
 * What a site played is one of three (`playedOf`): nothing; the attention
 * signal only (the board makes it itself, so it sounds even when the message
 * audio could not be fetched); or the message. Only the message counts as
 * "confirmed playing", and only a site that played the message can be
 * "heard": a siren followed by silence warned the village but told it
 * nothing. Every site that is not heard is listed with a reason. The counts
 * never claim more than the sites said: heard ≤ confirmed playing (message)
 * ≤ started (any sound) ≤ targeted.
 *
 * A site with a monitoring microphone reports the level it heard; below
 * the site's sound-check threshold the site is "played but not heard"
 * (counted and listed apart: it did play, the speakers did not carry it).
 */
import type { SiteVerdict } from '../coverage/model.ts';
import { attentionOnlyReasons, notHeardReasons, unreachedReasons, type ReasonText } from './delivery-reasons.ts';
import { DEFAULT_LEVEL_THRESHOLD_DB, heardVerdict, playedOf, wasReceived, type Played } from './delivery-status.ts';
import type { Alert, Delivery, DeliveryStatus } from './model.ts';

export interface UnreachedSite {
  siteId: string;
  name: string;
  areaKey: string | null;
  areaName: string | null;
  status: DeliveryStatus;
  reasons: ReasonText[];
}

/**
 * targeted = unreached + attentionOnly + confirmedPlaying;
 * heard + notHeard ≤ confirmedPlaying ≤ started = attentionOnly + confirmedPlaying.
 */
export interface DeliveryCounts {
  targeted: number;
  /** Reported at least received. */
  received: number;
  /** Playing right now (the signal or the message). */
  playing: number;
  /** Made any sound: the attention signal or the message. */
  started: number;
  /** Played the message (at least its first repeat began): the site said so with `messageAt`. */
  confirmedPlaying: number;
  /** Sounded the attention signal and not the message: still waiting for it, or ended without it (reasons say why). */
  attentionOnly: number;
  /** Played every repeat of the message to the end. */
  completed: number;
  failed: number;
  stopped: number;
  /** No sound at all: no report yet, only received, failed, or stopped before any sound. */
  unreached: number;
  /** Played the message and the monitoring microphone's level reached the site's threshold. */
  heard: number;
  /** Played the message, but the microphone's level stayed below the threshold: played but not heard. */
  notHeard: number;
}

/** One site's monitoring-microphone level (sites with a microphone that reported one). */
export interface SiteLevel {
  siteId: string;
  levelDb: number;
  thresholdDb: number;
  /** What the level was measured over: the message, or the attention signal when only that played. */
  played: Exclude<Played, 'nothing'>;
  /** The message played and the level reached the threshold (the attention signal alone is never heard). */
  heard: boolean;
}

export interface TimeToFirstSound {
  /** ms from the alert's issue (this revision) to the first sound, over the sites confirmed playing. */
  firstMs: number;
  p50Ms: number;
  p99Ms: number;
  lastMs: number;
}

export interface SharePoint {
  /** ms after the alert was issued. */
  afterMs: number;
  /** Sites confirmed playing by then. */
  sites: number;
  share: number;
}

export interface DeliveryState {
  alertId: string;
  revision: number;
  state: Alert['state'];
  test: boolean;
  issuedAt: number;
  validUntil: number;
  counts: DeliveryCounts;
  /** From the issue to the first sound (the attention signal, mostly), over the sites that made any. */
  timeToFirstSound: TimeToFirstSound | null;
  /** From the issue to the message's first sound, over the sites confirmed playing. */
  timeToMessage: TimeToFirstSound | null;
  /** Sites that played the message by each point. */
  confirmedPlayingOverTime: SharePoint[];
  unreached: UnreachedSite[];
  /** True when `unreached` was cut to the limit. */
  unreachedTruncated: boolean;
  /** Sites that sounded the attention signal but not the message, each with why (vi, en); cut to the same limit. */
  attentionOnly: UnreachedSite[];
  /** Sites that played but whose microphone did not hear it, with the reasons (vi, en); cut to the same limit. */
  notHeard: UnreachedSite[];
  /** Every reported microphone level, per site (cut to the same limit; sites without a microphone are absent). */
  levels: SiteLevel[];
  levelsTruncated: boolean;
  /**
   * Per language version of the alert (Decree 49/2024/NĐ-CP): the sites
   * where it came out, and those whose turn came without its file (cut to
   * the same limit), so an official sees which villages heard it in their
   * own language.
   */
  languages: LanguageDelivery[];
}

export interface LanguageDelivery {
  language: string;
  /** The version is ready (sent to the sites), being made, or could not be had (`reason`). */
  state: 'ready' | 'preparing' | 'failed';
  reason: string | null;
  played: number;
  missed: number;
  playedSites: string[];
  missedSites: string[];
}

export interface SiteInfo {
  name: string;
  areaKey: string | null;
  areaName: string | null;
}

/** Points of the share curve: ms after issue. Only those up to `now` are given. */
export const SHARE_STEPS_MS: readonly number[] = [250, 500, 1000, 2000, 3000, 5000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000];

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function deliveryState(
  alert: Alert,
  rows: readonly Delivery[],
  siteInfo: (siteId: string) => SiteInfo | undefined,
  verdictOf: (siteId: string) => SiteVerdict | undefined,
  now: number,
  timeZone: string,
  unreachedLimit = 500,
): DeliveryState {
  const counts: DeliveryCounts = {
    targeted: rows.length,
    received: 0,
    playing: 0,
    started: 0,
    confirmedPlaying: 0,
    attentionOnly: 0,
    completed: 0,
    failed: 0,
    stopped: 0,
    unreached: 0,
    heard: 0,
    notHeard: 0,
  };
  const delays: number[] = [];
  const messageDelays: number[] = [];
  const unreached: UnreachedSite[] = [];
  const attentionOnly: UnreachedSite[] = [];
  const notHeard: UnreachedSite[] = [];
  const levels: SiteLevel[] = [];
  let levelsTotal = 0;
  const listed = (d: Delivery, reasons: UnreachedSite['reasons']): UnreachedSite => {
    const info = siteInfo(d.siteId);
    return { siteId: d.siteId, name: info?.name ?? d.siteId, areaKey: info?.areaKey ?? null, areaName: info?.areaName ?? null, status: d.status, reasons };
  };
  for (const d of rows) {
    const played = playedOf(d);
    const verdict = heardVerdict(d);
    if (d.levelDb !== null && played !== 'nothing') {
      levelsTotal++;
      if (levels.length < unreachedLimit)
        levels.push({
          siteId: d.siteId,
          levelDb: d.levelDb,
          thresholdDb: d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB,
          played,
          heard: played === 'message' && verdict === 'heard',
        });
    }
    if (wasReceived(d.status)) counts.received++;
    if (d.status === 'playing') counts.playing++;
    if (d.status === 'completed' && played === 'message') counts.completed++;
    if (d.status === 'failed') counts.failed++;
    if (d.status === 'stopped') counts.stopped++;
    if (played === 'nothing') {
      counts.unreached++;
      if (unreached.length < unreachedLimit) unreached.push(listed(d, unreachedReasons(d, verdictOf(d.siteId), now, timeZone)));
      continue;
    }
    counts.started++;
    if (d.firstSoundAt !== null) delays.push(Math.max(0, d.firstSoundAt - alert.revisedAt));
    if (played === 'attention') {
      counts.attentionOnly++;
      if (attentionOnly.length < unreachedLimit) attentionOnly.push(listed(d, attentionOnlyReasons(d, alert, verdictOf(d.siteId), timeZone)));
      continue;
    }
    counts.confirmedPlaying++;
    messageDelays.push(Math.max(0, d.messageAt! - alert.revisedAt));
    if (verdict === 'heard') counts.heard++;
    if (verdict === 'not_heard') {
      counts.notHeard++;
      if (notHeard.length < unreachedLimit) notHeard.push(listed(d, notHeardReasons(d, verdictOf(d.siteId))));
    }
  }
  const languages = languageDelivery(alert, rows, unreachedLimit);
  delays.sort((a, b) => a - b);
  messageDelays.sort((a, b) => a - b);
  const elapsed = now - alert.revisedAt;
  const confirmedPlayingOverTime = SHARE_STEPS_MS.filter((t) => t <= Math.max(elapsed, SHARE_STEPS_MS[0]!)).map((afterMs) => {
    const sites = countAtMost(messageDelays, afterMs);
    return { afterMs, sites, share: rows.length === 0 ? 0 : round4(sites / rows.length) };
  });
  const spread = (xs: readonly number[]): TimeToFirstSound | null =>
    xs.length === 0 ? null : { firstMs: xs[0]!, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99), lastMs: xs[xs.length - 1]! };
  return {
    alertId: alert.id,
    revision: alert.revision,
    state: alert.state,
    test: alert.test,
    issuedAt: alert.revisedAt,
    validUntil: alert.validUntil,
    counts,
    timeToFirstSound: spread(delays),
    timeToMessage: spread(messageDelays),
    confirmedPlayingOverTime,
    unreached,
    unreachedTruncated: counts.unreached > unreached.length,
    attentionOnly,
    notHeard,
    levels,
    levelsTruncated: levelsTotal > levels.length,
    languages,
  };
}

/** Each version's delivery, in the alert's order, then any language a site reported that the alert no longer lists (an older revision's). */
export function languageDelivery(alert: Alert, rows: readonly Delivery[], limit: number): LanguageDelivery[] {
  const out = new Map<string, LanguageDelivery>();
  for (const v of alert.versions ?? []) out.set(v.language, { language: v.language, state: v.state, reason: v.reason, played: 0, missed: 0, playedSites: [], missedSites: [] });
  const of = (language: string) => {
    let l = out.get(language);
    if (!l) out.set(language, (l = { language, state: 'ready', reason: null, played: 0, missed: 0, playedSites: [], missedSites: [] }));
    return l;
  };
  for (const d of rows) {
    for (const lang of d.languagesPlayed ?? []) {
      const l = of(lang);
      l.played++;
      if (l.playedSites.length < limit) l.playedSites.push(d.siteId);
    }
    for (const lang of d.languagesMissed ?? []) {
      const l = of(lang);
      l.missed++;
      if (l.missedSites.length < limit) l.missedSites.push(d.siteId);
    }
  }
  return [...out.values()];
}

function countAtMost(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
