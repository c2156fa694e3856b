/**
 * Why a site is not (yet) counted as it should be, in Vietnamese and English,
 * pure: its own failure report first, then the server's message state, then
 * the fleet's own verdict of the site (offline since …, amplifier fault,
 * speaker line open), whose reasons already read in both languages.
 */
import type { Reason, SiteVerdict } from '../coverage/model.ts';
import { formatShort } from '../time/zone.ts';
import { DEFAULT_LEVEL_THRESHOLD_DB, hasEnded, heardVerdict, playedOf } from './delivery-status.ts';
import type { Alert, Delivery } from './model.ts';

export type ReasonText = Pick<Reason, 'code' | 'params' | 'message' | 'messageVi'>;

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

/** Why a site that played was not heard: the microphone's level, then what the fleet knows of its lines and amplifier. */
export function notHeardReasons(d: Delivery, verdict: SiteVerdict | undefined): ReasonText[] {
  return [notHeardReason(d), ...(verdict?.reasons ?? []).map((r) => ({ code: r.code, params: r.params, message: r.message, messageVi: r.messageVi }))];
}

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
    out.push({
      code: 'received_no_sound',
      params: { at: d.receivedAt },
      message: `received at ${when}, no sound confirmed yet`,
      messageVi: `đã nhận lúc ${when}, chưa xác nhận phát`,
    });
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
    const vi =
      played === 'nothing' ? 'đã dừng trước khi phát' : played === 'attention' ? 'đã dừng sau tín hiệu báo động, trước bản tin cảnh báo' : 'đã dừng khi đang phát bản tin cảnh báo';
    return {
      code: 'alert_stopped',
      params,
      message: `${en}${when ? ` at ${when}` : ''}${d.detail ? ` (${d.detail})` : ''}`,
      messageVi: `${vi}${when ? ` lúc ${when}` : ''}${d.detail ? ` (${d.detail})` : ''}`,
    };
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
  const ended = hasEnded(d.status);
  const out: ReasonText[] = [
    ended
      ? {
          code: 'attention_only',
          params: { at: d.firstSoundAt },
          message: 'played the attention signal only, not the message',
          messageVi: 'chỉ phát tín hiệu báo động, không phát được bản tin cảnh báo',
        }
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
    out.push({
      code: 'message_not_made',
      params: { reason: alert.messageReason },
      message: `the server could not make the message audio${why}`,
      messageVi: `máy chủ không tạo được âm thanh bản tin cảnh báo${why}`,
    });
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
