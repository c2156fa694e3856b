/**
 * Delivery proof of one alert, pure: how a site's status report moves its
 * delivery row on, and the live delivery state an official reads — counts,
 * time to first sound, the share of targeted sites confirmed playing over
 * time, and every site not (yet) confirmed playing with its reasons, in
 * Vietnamese and English, from the fleet's own verdict (offline since …,
 * amplifier fault, speaker line open).
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
  if (typeof ev.levelDb === 'number' && (next.levelDb === null || ev.levelDb > next.levelDb)) set('levelDb', ev.levelDb);
  if (typeof ev.levelDb === 'number' && ev.thresholdDb !== undefined) set('levelThresholdDb', ev.thresholdDb);
  return changed ? next : row;
}

/** Judged with this when a site sent a level without its threshold: the agents' default sound-check threshold (edge-agent/config.ts). */
export const DEFAULT_LEVEL_THRESHOLD_DB = -40;

/**
 * What the site's monitoring microphone says: `heard` (its level reached the
 * site's sound-check threshold), `not_heard` (it played, but the level stayed
 * below: a speaker line open, the amplifier silent), or null (no microphone,
 * or no level reported yet).
 */
export function heardVerdict(d: Delivery): 'heard' | 'not_heard' | null {
  if (d.levelDb === null) return null;
  return d.levelDb >= (d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB) ? 'heard' : 'not_heard';
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

/** Ever made sound (the share that counts as "confirmed playing"). */
export function confirmedPlaying(d: Delivery): boolean {
  return d.firstSoundAt !== null || d.status === 'playing' || d.status === 'completed';
}

export interface UnreachedSite {
  siteId: string;
  name: string;
  areaKey: string | null;
  areaName: string | null;
  status: DeliveryStatus;
  reasons: Array<Pick<Reason, 'code' | 'params' | 'message' | 'messageVi'>>;
}

export interface DeliveryCounts {
  targeted: number;
  /** Reported at least received. */
  received: number;
  /** Playing right now. */
  playing: number;
  /** Made sound at least once (playing, completed, or stopped after sound). */
  confirmedPlaying: number;
  completed: number;
  failed: number;
  stopped: number;
  /** Not confirmed playing: no report yet, only received, failed, or stopped before any sound. */
  unreached: number;
  /** Confirmed playing and the monitoring microphone's level reached the site's threshold. */
  heard: number;
  /** Confirmed playing, but the microphone's level stayed below the threshold: played but not heard. */
  notHeard: number;
}

/** One site's monitoring-microphone level (sites with a microphone that reported one). */
export interface SiteLevel {
  siteId: string;
  levelDb: number;
  thresholdDb: number;
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
  timeToFirstSound: TimeToFirstSound | null;
  confirmedPlayingOverTime: SharePoint[];
  unreached: UnreachedSite[];
  /** True when `unreached` was cut to the limit. */
  unreachedTruncated: boolean;
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
  const counts: DeliveryCounts = { targeted: rows.length, received: 0, playing: 0, confirmedPlaying: 0, completed: 0, failed: 0, stopped: 0, unreached: 0, heard: 0, notHeard: 0 };
  const delays: number[] = [];
  const unreached: UnreachedSite[] = [];
  const notHeard: UnreachedSite[] = [];
  const levels: SiteLevel[] = [];
  let levelsTotal = 0;
  const listed = (d: Delivery, reasons: UnreachedSite['reasons']): UnreachedSite => {
    const info = siteInfo(d.siteId);
    return { siteId: d.siteId, name: info?.name ?? d.siteId, areaKey: info?.areaKey ?? null, areaName: info?.areaName ?? null, status: d.status, reasons };
  };
  for (const d of rows) {
    const verdict = heardVerdict(d);
    if (verdict !== null && d.levelDb !== null) {
      levelsTotal++;
      if (levels.length < unreachedLimit) levels.push({ siteId: d.siteId, levelDb: d.levelDb, thresholdDb: d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB, heard: verdict === 'heard' });
    }
    if (RANK[d.status] >= 1) counts.received++;
    if (d.status === 'playing') counts.playing++;
    if (d.status === 'completed') counts.completed++;
    if (d.status === 'failed') counts.failed++;
    if (d.status === 'stopped') counts.stopped++;
    if (confirmedPlaying(d)) {
      counts.confirmedPlaying++;
      if (d.firstSoundAt !== null) delays.push(Math.max(0, d.firstSoundAt - alert.revisedAt));
      if (verdict === 'heard') counts.heard++;
      if (verdict === 'not_heard') {
        counts.notHeard++;
        if (notHeard.length < unreachedLimit) notHeard.push(listed(d, notHeardReasons(d, verdictOf(d.siteId))));
      }
      continue;
    }
    counts.unreached++;
    if (unreached.length < unreachedLimit) unreached.push(listed(d, unreachedReasons(d, verdictOf(d.siteId), now, timeZone)));
  }
  delays.sort((a, b) => a - b);
  const elapsed = now - alert.revisedAt;
  const confirmedPlayingOverTime = SHARE_STEPS_MS.filter((t) => t <= Math.max(elapsed, SHARE_STEPS_MS[0]!)).map((afterMs) => {
    const sites = countAtMost(delays, afterMs);
    return { afterMs, sites, share: rows.length === 0 ? 0 : round4(sites / rows.length) };
  });
  return {
    alertId: alert.id,
    revision: alert.revision,
    state: alert.state,
    test: alert.test,
    issuedAt: alert.revisedAt,
    validUntil: alert.validUntil,
    counts,
    timeToFirstSound: delays.length === 0 ? null : { firstMs: delays[0]!, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), lastMs: delays[delays.length - 1]! },
    confirmedPlayingOverTime,
    unreached,
    unreachedTruncated: counts.unreached > unreached.length,
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
  no_media: { en: 'could not fetch the alert audio', vi: 'không tải được âm thanh cảnh báo' },
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
  if (d.status === 'failed' || d.status === 'stopped') {
    const t = FAILURE_TEXT[d.reason ?? 'error'] ?? FAILURE_TEXT.error!;
    const when = d.failedAt !== null ? formatShort(d.failedAt, timeZone) : null;
    const stopped = d.status === 'stopped';
    out.push({
      code: stopped ? 'alert_stopped' : `alert_${d.reason ?? 'error'}`,
      params: { reason: d.reason, detail: d.detail, at: d.failedAt },
      message: stopped ? `stopped before any sound${when ? ` at ${when}` : ''}` : `${t.en}${when ? ` (${when})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
      messageVi: stopped ? `đã dừng trước khi phát${when ? ` lúc ${when}` : ''}` : `${t.vi}${when ? ` (${when})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
    });
  }
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
