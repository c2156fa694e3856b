/**
 * Wall time in an IANA zone ↔ epoch ms, through Intl only (no tz database of
 * our own, no process TZ). Schedules are entered in local wall time
 * (Asia/Ho_Chi_Minh for loanet: UTC+7 all year, no DST), but nothing here
 * assumes a fixed offset, so a zone with DST works too:
 *
 * - a wall time inside a DST gap (does not exist) maps to the instant the
 *   pre-gap offset gives, i.e. it is moved forward by the gap (RFC 5545 §3.3.5);
 * - a wall time in a repeated hour maps to its first (earlier) instant.
 */

export interface WallTime {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Throws a RangeError naming the zone if Intl does not know it. */
export function assertZone(zone: string): void {
  formatter(zone);
}

/** The wall time in `zone` at instant `at`. */
export function wallTimeAt(at: number, zone: string): WallTime {
  const parts = formatter(zone).formatToParts(new Date(at));
  const get = (t: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === t)?.value ?? NaN);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour') % 24, minute: get('minute'), second: get('second') };
}

/** The wall time read as if it were UTC: a plain calendar number, no zone. */
export function wallAsUtc(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

function rawOffsetMs(at: number, zone: string): number {
  const ms = ((at % 1000) + 1000) % 1000;
  return wallAsUtc(wallTimeAt(at, zone)) - (at - ms);
}

const HOUR = 3_600_000;
/** zone → UTC hour → the offset throughout that hour, or null if it changes within it. */
const offsetCache = new Map<string, Map<number, number | null>>();

/**
 * Offset of `zone` from UTC at instant `at`, in ms (+7 h → 25_200_000).
 * Intl is slow (a province's schedule asks tens of thousands of times), so
 * the offset is cached per UTC hour when it is the same at both ends of the
 * hour: exact for any zone that does not change offset twice within an hour,
 * which no zone does.
 */
export function zoneOffsetMs(at: number, zone: string): number {
  let byHour = offsetCache.get(zone);
  if (!byHour) offsetCache.set(zone, (byHour = new Map()));
  const hour = Math.floor(at / HOUR);
  let cached = byHour.get(hour);
  if (cached === undefined) {
    if (byHour.size > 100_000) byHour.clear();
    const first = rawOffsetMs(hour * HOUR, zone);
    cached = first === rawOffsetMs(hour * HOUR + HOUR - 1, zone) ? first : null;
    byHour.set(hour, cached);
  }
  return cached ?? rawOffsetMs(at, zone);
}

/** The instant at which the clock in `zone` reads `w` (see the module comment for gaps and repeats). */
export function wallTimeToEpoch(w: WallTime, zone: string): number {
  const local = wallAsUtc(w);
  // Two offsets bracket any transition near this wall time: the one a day
  // before and the one a day after. Try the earlier instant first.
  const before = zoneOffsetMs(local - 86_400_000, zone);
  const after = zoneOffsetMs(local + 86_400_000, zone);
  const candidates = before === after ? [before] : [Math.max(before, after), Math.min(before, after)];
  for (const off of candidates) {
    const at = local - off;
    if (zoneOffsetMs(at, zone) === off) return at;
  }
  // In a gap: use the offset in force before it (moves the time forward).
  return local - before;
}

/** Days since 1970-01-01 of a calendar date (no zone). */
export function dayNumber(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / 86_400_000);
}

/** Calendar date of a day number. */
export function dateOfDay(n: number): { year: number; month: number; day: number; weekday: number } {
  const d = new Date(n * 86_400_000);
  // weekday: 0 = Monday … 6 = Sunday (RFC 5545 order MO…SU)
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: (d.getUTCDay() + 6) % 7 };
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** "06:00 27/11" in `zone`: how operators read a time. */
export function formatShort(at: number, zone: string): string {
  const w = wallTimeAt(at, zone);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(w.hour)}:${p(w.minute)} ${p(w.day)}/${p(w.month)}`;
}
