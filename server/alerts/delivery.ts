/**
 * Delivery proof of one alert, pure: how a site's status report moves its
 * delivery row on, and the live delivery state an official reads — counts,
 * time to first sound, the share of targeted sites confirmed playing over
 * time, and every site not (yet) confirmed playing with its reasons, in
 * Vietnamese and English, from the fleet's own verdict (offline since …,
 * amplifier fault, speaker line open).
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
 *
 * Statuses only move forward (pending < received < playing < completed |
 * failed | stopped): a report that arrives late or twice never takes a site
 * back. A report for another revision than the alert's current one is ignored
 * (an Update resets every site to pending for the new revision).
 */
import type { AlertStatusEvent } from '../../protocol/index.ts';
import type { Reason, SiteVerdict } from '../coverage/model.ts';
import { formatShort } from '../time/zone.ts';
import type { Alert, Delivery, DeliveryStatus } from './model.ts';

const RANK: Record<DeliveryStatus, number> = { pending: 0, received: 1, playing: 2, completed: 3, failed: 3, stopped: 3 };

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
  const terminal = RANK[row.status] === 3;
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
  return changed ? next : row;
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

/** The reason a site is "played but not heard", in both languages. */
export function notHeardReason(d: Delivery): ReasonText {
  const level = (d.levelDb ?? 0).toFixed(1);
  const threshold = (d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB).toFixed(1);
  return {
    code: 'played_not_heard',
    params: { levelDb: d.levelDb, thresholdDb: d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB },
    message: `played, but the monitoring microphone heard only ${level} dBFS (threshold ${threshold} dBFS): check the speaker lines and the amplifier`,
    messageVi: `đã phát nhưng micro giám sát chỉ nghe ${level} dBFS (ngưỡng ${threshold} dBFS): kiểm tra đường dây loa và ampli`,
  };
}

/** The site said it played the message (the share that counts as "confirmed playing"); the attention signal alone is not. */
export function confirmedPlaying(d: Delivery): boolean {
  return playedOf(d) === 'message';
}

export interface UnreachedSite {
  siteId: string;
  name: string;
  areaKey: string | null;
  areaName: string | null;
  status: DeliveryStatus;
  reasons: Array<Pick<Reason, 'code' | 'params' | 'message' | 'messageVi'>>;
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
  const counts: DeliveryCounts = { targeted: rows.length, received: 0, playing: 0, started: 0, confirmedPlaying: 0, attentionOnly: 0, completed: 0, failed: 0, stopped: 0, unreached: 0, heard: 0, notHeard: 0 };
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
      if (levels.length < unreachedLimit) levels.push({ siteId: d.siteId, levelDb: d.levelDb, thresholdDb: d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB, played, heard: played === 'message' && verdict === 'heard' });
    }
    if (RANK[d.status] >= 1) counts.received++;
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
  };
}

/** Why a site that played was not heard: the microphone's level, then what the fleet knows of its lines and amplifier. */
export function notHeardReasons(d: Delivery, verdict: SiteVerdict | undefined): ReasonText[] {
  return [notHeardReason(d), ...(verdict?.reasons ?? []).map((r) => ({ code: r.code, params: r.params, message: r.message, messageVi: r.messageVi }))];
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

type ReasonText = Pick<Reason, 'code' | 'params' | 'message' | 'messageVi'>;

const FAILURE_TEXT: Record<string, { en: string; vi: string }> = {
  no_media: { en: 'could not get the message audio', vi: 'không tải được âm thanh bản tin cảnh báo' },
  amp_fault: { en: 'the amplifier did not switch on or faulted', vi: 'ampli không bật được hoặc bị lỗi' },
  device_off: { en: 'the audio device was unreachable', vi: 'không kết nối được thiết bị phát' },
  expired: { en: 'received after the alert expired', vi: 'nhận được khi cảnh báo đã hết hiệu lực' },
  preempted: { en: 'something of higher priority played instead', vi: 'bị nội dung ưu tiên cao hơn chen ngang' },
  error: { en: 'playing failed', vi: 'phát không thành công' },
};

/**
 * Why a site has not confirmed playing. The site's own failure report comes
 * first; then what the fleet knows (offline since …, amplifier fault, line
 * open: the verdict's reasons, which already read in both languages); a site
 * that looks healthy but has not answered says so.
 */
export function unreachedReasons(d: Delivery, verdict: SiteVerdict | undefined, now: number, timeZone: string): ReasonText[] {
  const out: ReasonText[] = [];
  const ended = endReason(d, timeZone);
  if (ended) out.push(ended);
  if (d.status === 'received' && d.receivedAt !== null) {
    const when = formatShort(d.receivedAt, timeZone);
    out.push({ code: 'received_no_sound', params: { at: d.receivedAt }, message: `received at ${when}, no sound confirmed yet`, messageVi: `đã nhận lúc ${when}, chưa xác nhận phát` });
  }
  if (verdict) {
    for (const r of verdict.reasons) out.push({ code: r.code, params: r.params, message: r.message, messageVi: r.messageVi });
    if (verdict.condition === 'unverified') {
      out.push({ code: 'never_connected', params: {}, message: 'never connected to the server', messageVi: 'chưa từng kết nối với máy chủ' });
    }
  } else {
    out.push({ code: 'site_unknown', params: {}, message: 'no longer registered', messageVi: 'không còn trong danh sách điểm' });
  }
  if (out.length === 0) {
    out.push({ code: 'no_confirmation', params: { now }, message: 'online, no confirmation yet', messageVi: 'đang trực tuyến, chưa xác nhận' });
  }
  return out;
}

/** Why a failed or stopped site ended, as the site said (null for the other statuses). */
function endReason(d: Delivery, timeZone: string): ReasonText | null {
  if (d.status !== 'failed' && d.status !== 'stopped') return null;
  const t = FAILURE_TEXT[d.reason ?? 'error'] ?? FAILURE_TEXT.error!;
  const when = d.failedAt !== null ? formatShort(d.failedAt, timeZone) : null;
  const params = { reason: d.reason, detail: d.detail, at: d.failedAt };
  if (d.status === 'stopped') {
    const played = playedOf(d);
    const en = played === 'nothing' ? 'stopped before any sound' : played === 'attention' ? 'stopped after the attention signal, before the message' : 'stopped during the message';
    const vi = played === 'nothing' ? 'đã dừng trước khi phát' : played === 'attention' ? 'đã dừng sau tín hiệu báo động, trước bản tin cảnh báo' : 'đã dừng khi đang phát bản tin cảnh báo';
    return { code: 'alert_stopped', params, message: `${en}${when ? ` at ${when}` : ''}${d.detail ? ` (${d.detail})` : ''}`, messageVi: `${vi}${when ? ` lúc ${when}` : ''}${d.detail ? ` (${d.detail})` : ''}` };
  }
  return {
    code: `alert_${d.reason ?? 'error'}`,
    params,
    message: `${t.en}${when ? ` (${when})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
    messageVi: `${t.vi}${when ? ` (${when})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
  };
}

/**
 * Why a site sounded the attention signal and not the message: first what
 * it played, then the cause — the site's own report (no_media with what the
 * fetch got: an HTTP status, a cut, a timeout), or the server's message state
 * (could not make it, still making it, sites still fetching it) — then what
 * the fleet knows of the site. Never empty.
 */
export function attentionOnlyReasons(d: Delivery, alert: Pick<Alert, 'messageState' | 'messageReason'>, verdict: SiteVerdict | undefined, timeZone: string): ReasonText[] {
  const when = d.firstSoundAt !== null ? formatShort(d.firstSoundAt, timeZone) : null;
  const ended = RANK[d.status] === 3;
  const out: ReasonText[] = [
    ended
      ? { code: 'attention_only', params: { at: d.firstSoundAt }, message: 'played the attention signal only, not the message', messageVi: 'chỉ phát tín hiệu báo động, không phát được bản tin cảnh báo' }
      : {
          code: 'attention_only_so_far',
          params: { at: d.firstSoundAt },
          message: `attention signal played${when ? ` at ${when}` : ''}; the message has not played yet`,
          messageVi: `đã phát tín hiệu báo động${when ? ` lúc ${when}` : ''}; chưa phát bản tin cảnh báo`,
        },
  ];
  const cause = endReason(d, timeZone);
  if (cause) out.push(cause);
  else if (alert.messageState === 'failed') {
    const why = alert.messageReason ? `: ${alert.messageReason}` : '';
    out.push({ code: 'message_not_made', params: { reason: alert.messageReason }, message: `the server could not make the message audio${why}`, messageVi: `máy chủ không tạo được âm thanh bản tin cảnh báo${why}` });
  } else if (ended && d.detail) {
    out.push({ code: 'site_detail', params: { detail: d.detail }, message: d.detail, messageVi: d.detail });
  } else if (!ended && alert.messageState === 'preparing') {
    out.push({ code: 'message_preparing', params: {}, message: 'the server is still making the message audio', messageVi: 'máy chủ đang tạo âm thanh bản tin cảnh báo' });
  } else if (!ended) {
    out.push({ code: 'message_fetching', params: {}, message: 'the site is fetching the message audio', messageVi: 'trạm đang tải âm thanh bản tin cảnh báo' });
  }
  for (const r of verdict?.reasons ?? []) out.push({ code: r.code, params: r.params, message: r.message, messageVi: r.messageVi });
  return out;
}

/**
 * Why a site that played the message is not counted heard: the microphone
 * heard too little (`notHeardReasons`), or no level confirms it (no
 * microphone, or not measured yet); and how it ended if it failed or was
 * stopped. Empty only for a site heard that ended normally.
 */
export function messageReasons(d: Delivery, verdict: SiteVerdict | undefined, timeZone: string): ReasonText[] {
  const mic = heardVerdict(d);
  const out: ReasonText[] = mic === 'not_heard' ? notHeardReasons(d, verdict) : [];
  if (mic === null) {
    out.push({
      code: 'not_verified',
      params: {},
      message: 'played the message; no monitoring-microphone level confirms it was heard (no microphone, or not measured yet)',
      messageVi: 'đã phát bản tin cảnh báo; chưa có mức âm micrô giám sát xác nhận đã nghe thấy (trạm không có micrô hoặc chưa đo)',
    });
  }
  const ended = endReason(d, timeZone);
  if (ended) out.push(ended);
  return out;
}
