/**
 * The console's words, Vietnamese first (full diacritics) and English, and
 * times always in Asia/Ho_Chi_Minh whatever the phone's own zone. One key per
 * concept, named as on the wire (operational, degraded, …). The words live
 * per page or area in strings/; this module is the lookup and the formats.
 */
import * as account from './strings/account.ts';
import * as alarms from './strings/alarms.ts';
import * as audit from './strings/audit.ts';
import * as common from './strings/common.ts';
import * as coverage from './strings/coverage.ts';
import * as disk from './strings/disk.ts';
import * as emergency from './strings/emergency.ts';
import * as live from './strings/live.ts';
import * as maintenance from './strings/maintenance.ts';
import * as schedule from './strings/schedule.ts';
import * as sites from './strings/sites.ts';
import * as siteWords from '../../api/words/site-words.ts';
import * as updates from './strings/updates.ts';
import * as users from './strings/users.ts';

export type Lang = 'vi' | 'en';
export const TIME_ZONE = 'Asia/Ho_Chi_Minh';

const vi = {
  ...common.vi,
  ...coverage.vi,
  ...sites.vi,
  ...account.vi,
  ...users.vi,
  ...schedule.vi,
  ...emergency.vi,
  ...live.vi,
  ...disk.vi,
  ...siteWords.vi,
  ...audit.vi,
  ...updates.vi,
  ...alarms.vi,
  ...maintenance.vi,
};

export type StringKey = keyof typeof vi;

const en: Record<StringKey, string> = {
  ...common.en,
  ...coverage.en,
  ...sites.en,
  ...account.en,
  ...users.en,
  ...schedule.en,
  ...emergency.en,
  ...live.en,
  ...disk.en,
  ...siteWords.en,
  ...audit.en,
  ...updates.en,
  ...alarms.en,
  ...maintenance.en,
};

const DICTS: Record<Lang, Record<StringKey, string>> = { vi, en };

let current: Lang = readStoredLang();

function readStoredLang(): Lang {
  try {
    return localStorage.getItem('loanet.lang') === 'en' ? 'en' : 'vi';
  } catch {
    return 'vi';
  }
}

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem('loanet.lang', l);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

/**
 * The console's own words for an API refusal whose code it knows (the
 * password policy, the login limits), with the numbers the answer gave;
 * otherwise the server's message.
 */
export function errorText(code: string, details: Record<string, unknown>, fallback: string): string {
  const key = `err_${code}`;
  if (!(key in vi)) return fallback;
  const vars: Record<string, string | number> = {};
  if (typeof details.limit === 'number') vars.limit = details.limit;
  if (typeof details.retryAfterS === 'number') vars.seconds = details.retryAfterS;
  return t(key as StringKey, vars);
}

export function t(key: StringKey, vars?: Record<string, string | number>): string {
  let s = DICTS[current][key];
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

const formats = new Map<string, Intl.DateTimeFormat>();
function fmt(kind: 'dateTime' | 'date' | 'time'): Intl.DateTimeFormat {
  const key = `${current}:${kind}`;
  let f = formats.get(key);
  if (!f) {
    const opts: Intl.DateTimeFormatOptions =
      kind === 'date'
        ? { day: '2-digit', month: '2-digit' }
        : kind === 'time'
          ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
          : { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    f = new Intl.DateTimeFormat(current === 'vi' ? 'vi-VN' : 'en-GB', { ...opts, timeZone: TIME_ZONE });
    formats.set(key, f);
  }
  return f;
}

/** A moment as the province reads it (Asia/Ho_Chi_Minh). */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? t('never') : fmt('dateTime').format(ms);
}
export function formatDay(ms: number): string {
  return fmt('date').format(ms);
}
export function formatClock(ms: number): string {
  return fmt('time').format(ms);
}

/** A share (0..1) as a percentage: whole at 0 and from 99.5 %, else one decimal ("96,0 %" / "96.0%"). */
export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? '—' : formatNumber(share * 100, share >= 0.995 || share === 0 ? 0 : 1, '%');
}

/**
 * A number as the user's language writes it (vi: decimal comma "219,9"; en:
 * "219.9"), with a fixed count of decimals and, if given, its unit after a
 * no-break space ("219,9 Ω", "-95 dBm"). A percentage follows each language's
 * typography: Vietnamese spaces it like any unit ("96,0 %"), English does
 * not ("96.0%"). The one place the console spells numbers.
 */
export function formatNumber(n: number, decimals = 0, unit?: string): string {
  const f = new Intl.NumberFormat(current === 'vi' ? 'vi-VN' : 'en-GB', { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: Math.abs(n) >= 10_000 });
  if (!unit) return f.format(n);
  // A no-break space: on a phone the unit must not wrap onto a line of its own ("100" / "%").
  return unit === '%' && current === 'en' ? `${f.format(n)}%` : `${f.format(n)}\u00a0${unit}`;
}

/** The key of a code when the console has words for it (`prefix` + code), else null. */
export function keyOf(prefix: string, code: string): StringKey | null {
  const k = `${prefix}${code}`;
  return k in vi ? (k as StringKey) : null;
}

/** "YYYY-MM-DDTHH:mm" of an instant in Asia/Ho_Chi_Minh (what a datetime-local input shows and the server reads as local time). */
export function localInputValue(ms: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(ms);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}
