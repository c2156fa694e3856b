/**
 * Why a site is not (yet) counted as it should be, pure: its own failure
 * report first, then the server's message state, then the fleet's own verdict
 * of the site (offline since …, amplifier fault, speaker line open). Each
 * reason is a stable code (api/alerts.ts DELIVERY_REASON_CODES, plus the site
 * condition's codes) with its params: the console words it in the user's
 * language; `message` is English for API clients and logs.
 */
import type { DeliveryReasonCode } from '../../api/alerts.ts';
import type { Reason, SiteVerdict } from '../coverage/model.ts';
import { formatShort } from '../time/zone.ts';
import { DEFAULT_LEVEL_THRESHOLD_DB, hasEnded, heardVerdict, playedOf } from './delivery-status.ts';
import type { Alert, Delivery } from './model.ts';
import type { AlertFailureReason } from '../../protocol/index.ts';

export type ReasonText = { code: DeliveryReasonCode | Reason['code']; params: Reason['params']; message: string };

/** A verdict's reason as a delivery's (the same code, params and English). */
const fromVerdict = (r: Reason): ReasonText => ({ code: r.code, params: r.params, message: r.message });

/** The reason a site is "played but not heard", in both languages. */
export function notHeardReason(d: Delivery): ReasonText {
  const level = (d.levelDb ?? 0).toFixed(1);
  const threshold = (d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB).toFixed(1);
  return {
    code: 'played_not_heard',
    params: { levelDb: d.levelDb, thresholdDb: d.levelThresholdDb ?? DEFAULT_LEVEL_THRESHOLD_DB },
    message: `played, but the monitoring microphone heard only ${level} dBFS (threshold ${threshold} dBFS): check the speaker lines and the amplifier`,
  };
}

/** Why a site that played was not heard: the microphone's level, then what the fleet knows of its lines and amplifier. */
export function notHeardReasons(d: Delivery, verdict: SiteVerdict | undefined): ReasonText[] {
  return [notHeardReason(d), ...(verdict?.reasons ?? []).map(fromVerdict)];
}

const FAILURE_TEXT: Record<AlertFailureReason, string> = {
  no_media: 'could not get the message audio',
  amp_fault: 'the amplifier did not switch on or faulted',
  device_off: 'the audio device was unreachable',
  expired: 'received after the alert expired',
  preempted: 'something of higher priority played instead',
  error: 'playing failed',
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
    });
  }
  if (verdict) {
    for (const r of verdict.reasons) out.push(fromVerdict(r));
    if (verdict.condition === 'unverified') {
      out.push({ code: 'never_connected', params: {}, message: 'never connected to the server' });
    }
  } else {
    out.push({ code: 'site_unknown', params: {}, message: 'no longer registered' });
  }
  if (out.length === 0) {
    out.push({ code: 'no_confirmation', params: { now }, message: 'online, no confirmation yet' });
  }
  return out;
}

/** Why a failed or stopped site ended, as the site said (null for the other statuses); the site's own `detail` is its technical words. */
function endReason(d: Delivery, timeZone: string): ReasonText | null {
  if (d.status !== 'failed' && d.status !== 'stopped') return null;
  const reason: AlertFailureReason = d.reason ?? 'error';
  const when = d.failedAt !== null ? formatShort(d.failedAt, timeZone) : null;
  if (d.status === 'stopped') {
    const played = playedOf(d);
    const en = played === 'nothing' ? 'stopped before any sound' : played === 'attention' ? 'stopped after the attention signal, before the message' : 'stopped during the message';
    return {
      code: 'alert_stopped',
      params: { reason: d.reason, detail: d.detail, at: d.failedAt, played },
      message: `${en}${when ? ` at ${when}` : ''}${d.detail ? ` (${d.detail})` : ''}`,
    };
  }
  return {
    code: `alert_${reason}`,
    params: { reason: d.reason, detail: d.detail, at: d.failedAt },
    message: `${FAILURE_TEXT[reason] ?? FAILURE_TEXT.error}${when ? ` (${when})` : ''}${d.detail ? `: ${d.detail}` : ''}`,
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
        }
      : {
          code: 'attention_only_so_far',
          params: { at: d.firstSoundAt },
          message: `attention signal played${when ? ` at ${when}` : ''}; the message has not played yet`,
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
    });
  } else if (ended && d.detail) {
    out.push({ code: 'site_detail', params: { detail: d.detail }, message: d.detail });
  } else if (!ended && alert.messageState === 'preparing') {
    out.push({ code: 'message_preparing', params: {}, message: 'the server is still making the message audio' });
  } else if (!ended) {
    out.push({ code: 'message_fetching', params: {}, message: 'the site is fetching the message audio' });
  }
  for (const r of verdict?.reasons ?? []) out.push(fromVerdict(r));
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
    });
  }
  const ended = endReason(d, timeZone);
  if (ended) out.push(ended);
  return out;
}
