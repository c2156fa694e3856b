/**
 * RFC 5545 recurrence (RRULE) expansion in a named zone, for broadcast items.
 *
 * Why not the `rrule` package: tried 2.8.1 on Node 20; with `tzid` it returns
 * "floating" Dates whose instants depend on the process TZ (correct only under
 * TZ=UTC: the same DTSTART;TZID=Asia/Ho_Chi_Minh:…T060000 came out 23:00Z under
 * UTC, 18:00Z under America/New_York and 06:00Z under Asia/Ho_Chi_Minh). A
 * broadcast must play at the same instant whatever the server's TZ, so this is
 * a small expander over the subset operators use, computed on wall time in the
 * item's zone (default Asia/Ho_Chi_Minh, via Intl: see zone.ts) and converted
 * to epoch ms per occurrence.
 *
 * Supported: FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, COUNT, UNTIL, BYDAY (with an
 * ordinal such as 1MO or -1FR only under MONTHLY), BYHOUR, BYMINUTE,
 * BYMONTHDAY (not with WEEKLY, as RFC 5545 §3.3.10 says), WKST. Any other part
 * is refused with an error naming it, never silently ignored.
 *
 * Semantics pinned down (RFC 5545 §3.3.10, §3.8.5.1):
 * - DTSTART is local wall time; it is an occurrence only if it matches the rule
 *   (as rrule.js and python-dateutil do); nothing before it is generated.
 * - Times of day not given by BYHOUR/BYMINUTE come from DTSTART; seconds always do.
 * - An invalid date (BYMONTHDAY=31 in April, or DTSTART's day 31 in a short
 *   month) is skipped, not moved.
 * - UNTIL is inclusive. A form with Z is UTC, a form without is wall time in
 *   the zone, a bare date means the end of that local day.
 * - COUNT counts generated instances before EXDATE removes any, so an excluded
 *   date still uses up one of the COUNT.
 */
import { assertZone, dateOfDay, dayNumber, daysInMonth, wallTimeToEpoch, type WallTime } from '../time/zone.ts';

export const SCHEDULE_ZONE = 'Asia/Ho_Chi_Minh';
/** Default cap on the occurrences one expansion returns. */
export const DEFAULT_MAX_OCCURRENCES = 10_000;
/** Cap on recurrence periods (days, weeks or months) walked in one expansion. */
const MAX_PERIODS = 200_000;

export class RecurrenceError extends Error {
  override readonly name = 'RecurrenceError';
  readonly code = 'invalid_recurrence';
  /** The offending part, e.g. 'BYHOUR', 'DTSTART', 'EXDATE'. */
  constructor(
    readonly part: string,
    message: string,
  ) {
    super(message);
  }
}

export type Freq = 'DAILY' | 'WEEKLY' | 'MONTHLY';
const DAY_CODES = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const;

export interface WeekdaySpec {
  /** 0 = Monday … 6 = Sunday */
  weekday: number;
  /** nth in the month (1–5, or −1…−5 from the end); MONTHLY only. */
  ordinal?: number;
}

export interface RRule {
  freq: Freq;
  interval: number;
  count?: number;
  until?: UntilSpec;
  byDay?: WeekdaySpec[];
  byHour?: number[];
  byMinute?: number[];
  byMonthDay?: number[];
  /** Week start, 0 = Monday (the default). */
  wkst: number;
}

export type UntilSpec = { utc: number } | { local: WallTime };

const SUPPORTED = 'FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYHOUR, BYMINUTE, BYMONTHDAY, WKST';
const KNOWN_UNSUPPORTED = new Set(['BYSECOND', 'BYSETPOS', 'BYWEEKNO', 'BYYEARDAY', 'BYMONTH', 'RSCALE', 'SKIP']);

function fail(part: string, message: string): never {
  throw new RecurrenceError(part, message);
}

function intList(name: string, value: string, min: number, max: number, allowNegative = false): number[] {
  const out: number[] = [];
  for (const raw of value.split(',')) {
    if (!/^[+-]?\d{1,2}$/.test(raw)) fail(name, `RRULE: ${name}=${value}: "${raw}" is not a number`);
    const n = Number(raw);
    const ok = allowNegative ? n !== 0 && Math.abs(n) >= min && Math.abs(n) <= max : n >= min && n <= max;
    if (!ok) fail(name, `RRULE: ${name}=${raw} is out of range ${allowNegative ? `±${min}–${max}` : `${min}–${max}`}`);
    if (!out.includes(n)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

function positiveInt(name: string, value: string, max: number): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1 || Number(value) > max) fail(name, `RRULE: ${name}=${value} must be a whole number 1–${max}`);
  return Number(value);
}

/** Parse an RRULE value (with or without the "RRULE:" prefix). Throws RecurrenceError naming the part. */
export function parseRRule(text: string): RRule {
  const body = text.trim().replace(/^RRULE:/i, '');
  if (body === '') fail('RRULE', 'RRULE: empty rule');
  const seen = new Map<string, string>();
  for (const piece of body.split(';')) {
    const eq = piece.indexOf('=');
    if (eq <= 0) fail('RRULE', `RRULE: "${piece}" is not NAME=VALUE`);
    const name = piece.slice(0, eq).toUpperCase();
    const value = piece.slice(eq + 1).toUpperCase();
    if (seen.has(name)) fail(name, `RRULE: ${name} is given twice`);
    if (KNOWN_UNSUPPORTED.has(name)) fail(name, `RRULE: ${name} is not supported (supported: ${SUPPORTED})`);
    if (!SUPPORTED.split(', ').includes(name)) fail(name, `RRULE: ${name} is not an RRULE part`);
    if (value === '') fail(name, `RRULE: ${name} has no value`);
    seen.set(name, value);
  }
  const freqText = seen.get('FREQ');
  if (freqText === undefined) fail('FREQ', 'RRULE: FREQ is required');
  if (freqText !== 'DAILY' && freqText !== 'WEEKLY' && freqText !== 'MONTHLY') {
    fail('FREQ', `RRULE: FREQ=${freqText} is not supported (DAILY, WEEKLY, MONTHLY)`);
  }
  const freq: Freq = freqText;
  const rule: RRule = { freq, interval: 1, wkst: 0 };
  for (const [name, value] of seen) {
    switch (name) {
      case 'FREQ':
        break;
      case 'INTERVAL':
        rule.interval = positiveInt(name, value, 1000);
        break;
      case 'COUNT':
        rule.count = positiveInt(name, value, 100_000);
        break;
      case 'UNTIL':
        rule.until = parseUntil(value);
        break;
      case 'BYHOUR':
        rule.byHour = intList(name, value, 0, 23);
        break;
      case 'BYMINUTE':
        rule.byMinute = intList(name, value, 0, 59);
        break;
      case 'BYMONTHDAY':
        if (freq === 'WEEKLY') fail(name, 'RRULE: BYMONTHDAY cannot be used with FREQ=WEEKLY (RFC 5545 §3.3.10)');
        rule.byMonthDay = intList(name, value, 1, 31, true);
        break;
      case 'BYDAY':
        rule.byDay = value.split(',').map((raw) => {
          const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(raw);
          if (!m) fail(name, `RRULE: BYDAY=${raw} is not a weekday (MO, TU, WE, TH, FR, SA, SU, optionally with an ordinal such as 1MO or -1FR)`);
          const weekday = DAY_CODES.indexOf(m[2] as (typeof DAY_CODES)[number]);
          if (m[1] === undefined) return { weekday };
          const ordinal = Number(m[1]);
          if (freq !== 'MONTHLY') fail(name, `RRULE: BYDAY=${raw}: an ordinal is only allowed with FREQ=MONTHLY`);
          if (ordinal === 0 || Math.abs(ordinal) > 5) fail(name, `RRULE: BYDAY=${raw}: ordinal is out of range ±1–5`);
          return { weekday, ordinal };
        });
        break;
      case 'WKST': {
        const w = DAY_CODES.indexOf(value as (typeof DAY_CODES)[number]);
        if (w < 0) fail(name, `RRULE: WKST=${value} is not a weekday`);
        rule.wkst = w;
        break;
      }
    }
  }
  if (rule.count !== undefined && rule.until !== undefined) {
    fail('UNTIL', 'RRULE: COUNT and UNTIL cannot both be given (RFC 5545 §3.3.10)');
  }
  return rule;
}

function parseUntil(value: string): UntilSpec {
  let m = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (m) {
    const local = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: 23, minute: 59, second: 59 };
    checkWall(local, 'UNTIL', value);
    return { local };
  }
  m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/.exec(value);
  if (!m) fail('UNTIL', `RRULE: UNTIL=${value} is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS[Z])`);
  const w = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: +m[6]! };
  checkWall(w, 'UNTIL', value);
  return m[7] === 'Z' ? { utc: Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) } : { local: w };
}

function checkWall(w: WallTime, part: string, text: string): void {
  if (w.month < 1 || w.month > 12 || w.day < 1 || w.day > daysInMonth(w.year, w.month) || w.hour > 23 || w.minute > 59 || w.second > 59) {
    fail(part, `${part}: "${text}" is not a valid date-time`);
  }
}

/**
 * A local date-time: `2026-11-27T06:00`, `2026-11-27T06:00:00` or the RFC 5545
 * form `20261127T060000`. With a trailing Z it is UTC instead (returned as an
 * instant).
 */
export function parseDateTime(text: string, part: string): { local: WallTime } | { utc: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z?)$/.exec(text.trim()) ?? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/.exec(text.trim());
  if (!m) fail(part, `${part}: "${text}" is not a local date-time (YYYY-MM-DDTHH:mm[:ss] or YYYYMMDDTHHMMSS)`);
  const w = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: m[6] ? +m[6] : 0 };
  checkWall(w, part, text);
  return m[7] === 'Z' ? { utc: Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) } : { local: w };
}

/** A date-time string (see parseDateTime) as an instant, local forms read in `zone`. */
export function dateTimeToEpoch(text: string, part: string, zone: string = SCHEDULE_ZONE): number {
  const p = parseDateTime(text, part);
  return 'utc' in p ? p.utc : wallTimeToEpoch(p.local, zone);
}

export interface RecurrenceSpec {
  /** Local wall time of the first occurrence, e.g. "2026-11-27T06:00". */
  dtstart: string;
  rrule: string;
  /** Excluded occurrences, local wall time (or UTC with Z), matched to the second. */
  exdates?: readonly string[];
  /** IANA zone the wall times are in; Asia/Ho_Chi_Minh by default. */
  zone?: string;
}

export interface Expansion {
  /** Occurrence start instants in [from, to), ascending, no duplicates. */
  starts: number[];
  /** True if maxOccurrences (or the period cap) cut the expansion short. */
  truncated: boolean;
}

/** Check a recurrence without expanding it. Throws RecurrenceError naming the part. */
export function validateRecurrence(spec: RecurrenceSpec): void {
  expandRecurrence(spec, { from: 0, to: 0 });
}

/**
 * Occurrence start instants of `spec` within [window.from, window.to) (epoch ms),
 * ascending, at most `maxOccurrences` of them.
 */
export function expandRecurrence(spec: RecurrenceSpec, window: { from: number; to: number }, opts: { maxOccurrences?: number } = {}): Expansion {
  const zone = spec.zone ?? SCHEDULE_ZONE;
  try {
    assertZone(zone);
  } catch {
    fail('TZID', `TZID: "${zone}" is not a time zone this system knows`);
  }
  const rule = parseRRule(spec.rrule);
  const start = parseDateTime(spec.dtstart, 'DTSTART');
  if ('utc' in start) fail('DTSTART', `DTSTART: "${spec.dtstart}" must be local wall time (no Z); the zone is ${zone}`);
  const ds = start.local;
  const dtstartAt = wallTimeToEpoch(ds, zone);
  const exdates = new Set((spec.exdates ?? []).map((e) => dateTimeToEpoch(e, 'EXDATE', zone)));
  const until = rule.until === undefined ? Infinity : 'utc' in rule.until ? rule.until.utc : wallTimeToEpoch(rule.until.local, zone);
  const max = opts.maxOccurrences ?? DEFAULT_MAX_OCCURRENCES;
  const { from, to } = window;
  const starts: number[] = [];
  if (!(to > from)) return { starts, truncated: false };

  const hours = rule.byHour ?? [ds.hour];
  const minutes = rule.byMinute ?? [ds.minute];
  const startDay = dayNumber(ds.year, ds.month, ds.day);
  // A day number whose whole local day is surely before `from` / after `to`,
  // whatever the zone's offset (offsets stay within ±14 h; allow two days).
  const fromDay = Math.floor(from / 86_400_000) - 2;
  const toDay = Math.floor(to / 86_400_000) + 2;
  const untilDay = until === Infinity ? Infinity : Math.floor(until / 86_400_000) + 2;
  const lastDay = Math.min(toDay, untilDay);

  // Period k covers days [periodStart(k), periodStart(k+1)).
  const weekStart = startDay - ((dateOfDay(startDay).weekday - rule.wkst + 7) % 7);
  const monthIndex0 = ds.year * 12 + (ds.month - 1);
  const periodFirstDay = (k: number): number => {
    switch (rule.freq) {
      case 'DAILY':
        return startDay + k * rule.interval;
      case 'WEEKLY':
        return weekStart + k * 7 * rule.interval;
      case 'MONTHLY': {
        const mi = monthIndex0 + k * rule.interval;
        return dayNumber(Math.floor(mi / 12), (mi % 12) + 1, 1);
      }
    }
  };
  // Without COUNT, periods wholly before the window need not be walked.
  let k = 0;
  if (rule.count === undefined && fromDay > startDay) {
    const periodDays = rule.freq === 'DAILY' ? rule.interval : rule.freq === 'WEEKLY' ? 7 * rule.interval : 31 * rule.interval;
    k = Math.max(0, Math.floor((fromDay - startDay) / periodDays) - 1);
  }

  let generated = 0;
  for (let walked = 0; ; k++, walked++) {
    if (walked >= MAX_PERIODS) return { starts, truncated: true };
    const first = periodFirstDay(k);
    if (first > lastDay) break;
    for (const day of daysOfPeriod(rule, first, ds)) {
      if (day < startDay) continue;
      const date = dateOfDay(day);
      for (const hour of hours) {
        for (const minute of minutes) {
          const at = wallTimeToEpoch({ year: date.year, month: date.month, day: date.day, hour, minute, second: ds.second }, zone);
          if (at < dtstartAt) continue;
          if (at > until) return { starts: finish(starts), truncated: false };
          generated++;
          if (at >= to && rule.count === undefined) continue;
          if (at >= from && at < to && !exdates.has(at)) {
            if (starts.length >= max) return { starts: finish(starts), truncated: true };
            starts.push(at);
          }
          if (rule.count !== undefined && generated >= rule.count) return { starts: finish(starts), truncated: false };
        }
      }
    }
  }
  return { starts: finish(starts), truncated: false };
}

function finish(starts: number[]): number[] {
  // Wall times are generated in order, but a DST fold can reorder instants.
  starts.sort((a, b) => a - b);
  return starts.filter((t, i) => i === 0 || t !== starts[i - 1]);
}

/** The day numbers of period k that the rule selects, ascending. */
function daysOfPeriod(rule: RRule, first: number, ds: WallTime): number[] {
  const matchesFilters = (day: number): boolean => {
    const d = dateOfDay(day);
    if (rule.byDay && !rule.byDay.some((b) => b.weekday === d.weekday)) return false;
    if (rule.byMonthDay) {
      const len = daysInMonth(d.year, d.month);
      if (!rule.byMonthDay.some((md) => (md > 0 ? md : len + md + 1) === d.day)) return false;
    }
    return true;
  };
  switch (rule.freq) {
    case 'DAILY':
      return matchesFilters(first) ? [first] : [];
    case 'WEEKLY': {
      if (!rule.byDay) {
        const want = (dateOfDay(dayNumber(ds.year, ds.month, ds.day)).weekday - rule.wkst + 7) % 7;
        return [first + want];
      }
      const out: number[] = [];
      for (let i = 0; i < 7; i++) if (matchesFilters(first + i)) out.push(first + i);
      return out;
    }
    case 'MONTHLY': {
      const { year, month } = dateOfDay(first);
      const len = daysInMonth(year, month);
      if (!rule.byDay && !rule.byMonthDay) return ds.day <= len ? [first + ds.day - 1] : [];
      const out: number[] = [];
      for (let i = 0; i < len; i++) {
        const day = first + i;
        if (rule.byMonthDay) {
          const dom = i + 1;
          if (!rule.byMonthDay.some((md) => (md > 0 ? md : len + md + 1) === dom)) continue;
        }
        if (rule.byDay) {
          const wd = dateOfDay(day).weekday;
          const nth = Math.floor(i / 7) + 1;
          const nthFromEnd = -(Math.floor((len - 1 - i) / 7) + 1);
          const ok = rule.byDay.some((b) => b.weekday === wd && (b.ordinal === undefined || b.ordinal === nth || b.ordinal === nthFromEnd));
          if (!ok) continue;
        }
        out.push(day);
      }
      return out;
    }
  }
}
