/**
 * A reason (a site's condition, its delivery of an alert, a silent site of a
 * live stream, an as-run line's why) in words, from its code and params: pure,
 * the language and the moment passed in, so the console (site-words.ts) and
 * the server's Vietnamese documents (the alert report's CSV, the as-run CSV)
 * word a code alike, and a unit test can word every code in both languages.
 * Numbers follow the language (vi: decimal comma), times are the province's
 * (Asia/Ho_Chi_Minh). A code without words here is shown as the code itself:
 * never as the server's English. It lives beside the codes (api/), not in
 * web/, because the server's documents word them too and the server must not
 * depend on the console.
 */
import { en, vi } from './site-words.ts';

export type ReasonLang = 'vi' | 'en';
export type ReasonWordKey = keyof typeof vi;
const WORDS: Record<ReasonLang, Record<ReasonWordKey, string>> = { vi, en };

export interface ReasonLike {
  code: string;
  params?: Record<string, unknown> | null;
}

const ZONE = 'Asia/Ho_Chi_Minh';

/** The words of `key` in `l` with its placeholders filled (each as often as it appears). */
export function fill(l: ReasonLang, key: ReasonWordKey, vars: Record<string, string | number> = {}): string {
  let s = WORDS[l][key];
  for (const [k, x] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(x));
  return s;
}

/** The key of a code when there are words for it (`prefix` + code), else null. */
export function wordKey(prefix: string, code: string): ReasonWordKey | null {
  const k = `${prefix}${code}`;
  return Object.hasOwn(vi, k) ? (k as ReasonWordKey) : null;
}

/** A number as `l` writes it, with a fixed count of decimals and its unit after a no-break space (English writes "%" close). */
export function numberWords(l: ReasonLang, n: number, decimals = 0, unit?: string): string {
  const f = new Intl.NumberFormat(l === 'vi' ? 'vi-VN' : 'en-GB', { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: Math.abs(n) >= 10_000 });
  if (!unit) return f.format(n);
  return unit === '%' && l === 'en' ? `${f.format(n)}%` : `${f.format(n)}\u00a0${unit}`;
}

const dayOf = (ms: number) => new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(ms);

/** A moment in a reason: the clock when it is the same day as `now`, else the date and the clock. */
export function momentWords(l: ReasonLang, ms: unknown, now: number): string {
  if (typeof ms !== 'number') return '—';
  const locale = l === 'vi' ? 'vi-VN' : 'en-GB';
  const clock = new Intl.DateTimeFormat(locale, { timeZone: ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
  if (dayOf(ms) === dayOf(now)) return clock;
  // dd/MM in both languages (ICU writes vi-VN's short date with dashes in some builds).
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, day: '2-digit', month: '2-digit' }).formatToParts(ms);
  const part = (type: string) => parts.find((x) => x.type === type)?.value ?? '';
  return `${part('day')}/${part('month')} ${clock}`;
}

/** A code in words (`prefix` + code), else the code itself. */
export function codeIn(l: ReasonLang, prefix: string, code: string): string {
  const k = wordKey(prefix, code);
  return k ? fill(l, k) : code;
}

/** A site's device kind in words, else as the site named it. */
export function deviceKindIn(l: ReasonLang, kind: string): string {
  const line = /^line-(\d+)$/.exec(kind);
  return line ? fill(l, 'deviceLine', { n: line[1]! }) : codeIn(l, 'dev_', kind);
}

/** The key and the values a reason is worded with, or null for a code without words. */
function reasonParts(l: ReasonLang, r: ReasonLike, now: number): { key: ReasonWordKey; v: Record<string, string | number> } | null {
  const p = r.params ?? {};
  const v: Record<string, string | number> = {};
  const num = (x: unknown, decimals: number, unit: string) => (typeof x === 'number' ? numberWords(l, x, decimals, unit) : '—');
  const when = (x: unknown) => momentWords(l, x, now);
  const int = (x: unknown) => (typeof x === 'number' ? numberWords(l, x) : '—');
  switch (r.code) {
    case 'offline':
      v.when = when(p.since);
      return { key: typeof p.since === 'number' ? 'rsn_offline_since' : 'rsn_offline', v };
    case 'amplifier_fault':
      v.fault = codeIn(l, 'ampFault_', String(p.fault ?? ''));
      return { key: 'rsn_amplifier_fault', v };
    case 'amplifier_hot':
      v.temp = num(p.temperatureC, 0, '°C');
      return { key: 'rsn_amplifier_hot', v };
    case 'no_working_line':
      v.lines = int(p.lines);
      return { key: 'rsn_no_working_line', v };
    case 'line_open':
    case 'line_short':
      v.line = int(p.line);
      return { key: r.code === 'line_open' ? 'rsn_line_open' : 'rsn_line_short', v };
    case 'battery_critical':
      v.pct = num(p.batteryPct, 0, '%');
      return { key: 'rsn_battery_critical', v };
    case 'on_battery':
      v.pct = num(p.batteryPct, 0, '%');
      return { key: typeof p.batteryPct === 'number' ? 'rsn_on_battery_pct' : 'rsn_on_battery', v };
    case 'weak_signal':
      v.dbm = num(p.signalDbm, 0, 'dBm');
      return { key: 'rsn_weak_signal', v };
    case 'device_unreachable':
      v.device = String(p.device ?? '—');
      v.kind = deviceKindIn(l, String(p.kind ?? ''));
      return { key: 'rsn_device_unreachable', v };
    case 'sound_check_failed':
      v.when = when(p.at);
      return { key: 'rsn_sound_check_failed', v };
    case 'sound_not_verified':
      v.when = when(p.since);
      return { key: typeof p.since === 'number' ? 'rsn_sound_not_verified_since' : 'rsn_sound_not_verified', v };
    case 'config_stale':
      v.expected = int(p.expected);
      v.applied = int(p.applied);
      return { key: typeof p.applied === 'number' ? 'rsn_config_stale' : 'rsn_config_stale_none', v };
    case 'received_no_sound':
      v.when = when(p.at);
      return { key: 'rsn_received_no_sound', v };
    case 'played_not_heard':
      v.level = num(p.levelDb, 1, 'dBFS');
      v.threshold = num(p.thresholdDb, 1, 'dBFS');
      return { key: 'rsn_played_not_heard', v };
    case 'update_failed':
      // A failed update of the site (the alarms' external fault): the release it did not take, when the updates service said.
      v.release = typeof p.release === 'string' || typeof p.release === 'number' ? String(p.release) : '';
      return { key: v.release ? 'rsn_update_failed' : 'rsn_update_failed_none', v };
    case 'alert_stopped': {
      v.at = typeof p.at === 'number' ? fill(l, 'rsnAt', { when: when(p.at) }) : '';
      const played = p.played === 'attention' || p.played === 'message' ? p.played : 'nothing';
      return { key: `rsn_alert_stopped_${played}`, v };
    }
    default: {
      const key = wordKey('rsn_', r.code);
      if (!key) return null;
      // A delivery's end or first sound: when, if the server said.
      v.at = typeof p.at === 'number' ? fill(l, 'rsnAt', { when: when(p.at) }) : '';
      return { key, v };
    }
  }
}

/** Whether a reason code has words (the unit test's check, and the console's). */
export function hasReasonWords(code: string, params: Record<string, unknown> = {}): boolean {
  return reasonParts('vi', { code, params }, 0) !== null;
}

/**
 * A reason in `l`: its code worded from its params; a code without words as
 * the code itself. The site's own words (an agent's error, a fetch's HTTP
 * status: params.detail) are not part of the sentence: reasonDetailOf gives
 * them apart, marked as technical detail.
 */
export function wordReason(l: ReasonLang, r: ReasonLike, now: number): string {
  const parts = reasonParts(l, r, now);
  return parts ? fill(l, parts.key, parts.v) : r.code;
}

/** The site's or the server's own technical words in a reason (params.detail, or why the server could not make the audio), else ''. */
export function reasonDetailOf(r: ReasonLike): string {
  const p = r.params ?? {};
  if (typeof p.detail === 'string' && p.detail) return p.detail;
  if (r.code === 'message_not_made' && typeof p.reason === 'string' && p.reason) return p.reason;
  return '';
}

/** Why an as-run line is what it is (api/as-run.ts AS_RUN_WHY_CODES): a code and its params. */
export interface AsRunWhyLike {
  code: string;
  params: Record<string, unknown>;
}

/** One part of an as-run line's why in `l`; a code without words as the code itself. */
export function wordAsRunWhy(l: ReasonLang, w: AsRunWhyLike): string {
  const k = wordKey('why_', w.code);
  if (!k) return w.code;
  const p = w.params;
  return fill(l, k, {
    seconds: typeof p.seconds === 'number' ? numberWords(l, p.seconds, 1, 's') : '—',
    reason: typeof p.reason === 'string' ? p.reason : '—',
  });
}
