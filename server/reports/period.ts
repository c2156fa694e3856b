/**
 * The period a report covers (kỳ báo cáo): a month, a quarter, a year, or any
 * [from, to) range, as instants and as the words the report prints. Pure.
 *
 * Periods are the province's calendar: a Vietnamese month starts at 00:00 in
 * Asia/Ho_Chi_Minh (17:00 UTC the day before), whatever the server's own zone.
 * Every period is half-open, [from, to): the first instant of the next month
 * belongs to the next month's report, so consecutive reports never count a
 * line twice nor drop one.
 */
import { dateOfDay, dayNumber, wallTimeAt, wallTimeToEpoch } from '../time/zone.ts';

export const REPORT_ZONE = 'Asia/Ho_Chi_Minh';

export type PeriodSpec =
  | { kind: 'month'; year: number; month: number }
  | { kind: 'quarter'; year: number; quarter: 1 | 2 | 3 | 4 }
  | { kind: 'year'; year: number }
  /** Any range of instants, [from, to). */
  | { kind: 'range'; from: number; to: number };

export interface ReportPeriod {
  spec: PeriodSpec;
  /** First instant in the period (epoch ms). */
  from: number;
  /** First instant after it. */
  to: number;
  zone: string;
  label: { vi: string; en: string };
}

const ROMAN = ['I', 'II', 'III', 'IV'] as const;
const MONTHS_EN = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;
const p2 = (n: number) => String(n).padStart(2, '0');

/** 00:00 on a calendar date in `zone`. */
export function startOfDay(year: number, month: number, day: number, zone: string = REPORT_ZONE): number {
  return wallTimeToEpoch({ year, month, day, hour: 0, minute: 0, second: 0 }, zone);
}

/** "27/11/2026" in `zone`: how Vietnamese documents write a date. */
export function dateVi(at: number, zone: string = REPORT_ZONE): string {
  const w = wallTimeAt(at, zone);
  return `${p2(w.day)}/${p2(w.month)}/${w.year}`;
}

/** "27/11/2026 06:00" in `zone`. */
export function dateTimeVi(at: number, zone: string = REPORT_ZONE): string {
  const w = wallTimeAt(at, zone);
  return `${dateVi(at, zone)} ${p2(w.hour)}:${p2(w.minute)}`;
}

function isMidnight(at: number, zone: string): boolean {
  const w = wallTimeAt(at, zone);
  return w.hour === 0 && w.minute === 0 && w.second === 0 && at % 1000 === 0;
}

/** The calendar day before the one `at` falls on, at 00:00: the last day a range ending at midnight includes. */
function dayBefore(at: number, zone: string): number {
  const w = wallTimeAt(at, zone);
  const d = dateOfDay(dayNumber(w.year, w.month, w.day) - 1);
  return startOfDay(d.year, d.month, d.day, zone);
}

function checkYear(year: number): void {
  if (!Number.isInteger(year) || year < 1970 || year > 9999) throw new RangeError(`report year ${year} is not a year between 1970 and 9999`);
}

/** The period a spec names, in `zone` (Asia/Ho_Chi_Minh). Throws a RangeError for a month, quarter or range that does not exist. */
export function reportPeriod(spec: PeriodSpec, zone: string = REPORT_ZONE): ReportPeriod {
  switch (spec.kind) {
    case 'month': {
      checkYear(spec.year);
      if (!Number.isInteger(spec.month) || spec.month < 1 || spec.month > 12) throw new RangeError(`report month ${spec.month} is not 1–12`);
      const next = spec.month === 12 ? { y: spec.year + 1, m: 1 } : { y: spec.year, m: spec.month + 1 };
      return {
        spec,
        from: startOfDay(spec.year, spec.month, 1, zone),
        to: startOfDay(next.y, next.m, 1, zone),
        zone,
        label: { vi: `Tháng ${spec.month}/${spec.year}`, en: `${MONTHS_EN[spec.month - 1]} ${spec.year}` },
      };
    }
    case 'quarter': {
      checkYear(spec.year);
      if (![1, 2, 3, 4].includes(spec.quarter)) throw new RangeError(`report quarter ${spec.quarter} is not 1–4`);
      const first = (spec.quarter - 1) * 3 + 1;
      return {
        spec,
        from: startOfDay(spec.year, first, 1, zone),
        to: spec.quarter === 4 ? startOfDay(spec.year + 1, 1, 1, zone) : startOfDay(spec.year, first + 3, 1, zone),
        zone,
        label: { vi: `Quý ${ROMAN[spec.quarter - 1]}/${spec.year}`, en: `Q${spec.quarter} ${spec.year}` },
      };
    }
    case 'year':
      checkYear(spec.year);
      return {
        spec,
        from: startOfDay(spec.year, 1, 1, zone),
        to: startOfDay(spec.year + 1, 1, 1, zone),
        zone,
        label: { vi: `Năm ${spec.year}`, en: `${spec.year}` },
      };
    case 'range': {
      const { from, to } = spec;
      if (!Number.isFinite(from) || !Number.isFinite(to) || !(to > from)) throw new RangeError(`a report range must end after it starts (from ${from}, to ${to})`);
      // A range between midnights is read as whole days: [01/11 00:00, 16/11 00:00) is "from 01/11 to 15/11".
      if (isMidnight(from, zone) && isMidnight(to, zone)) {
        const last = dayBefore(to, zone);
        return { spec, from, to, zone, label: { vi: `Từ ${dateVi(from, zone)} đến ${dateVi(last, zone)}`, en: `${dateVi(from, zone)} to ${dateVi(last, zone)}` } };
      }
      return { spec, from, to, zone, label: { vi: `Từ ${dateTimeVi(from, zone)} đến ${dateTimeVi(to, zone)}`, en: `${dateTimeVi(from, zone)} to ${dateTimeVi(to, zone)}` } };
    }
    default: {
      const never: never = spec;
      throw new RangeError(`unknown report period ${JSON.stringify(never)}`);
    }
  }
}

/**
 * A period as text, for a query string or a file name: `2026-11` (a month),
 * `2026-Q4` (a quarter), `2026` (a year), `2026-11-01..2026-11-15` (whole
 * days, both included). Undefined when the text is none of these.
 */
export function parsePeriod(text: string, zone: string = REPORT_ZONE): ReportPeriod | undefined {
  const t = text.trim();
  let m = /^(\d{4})-(\d{2})$/.exec(t);
  if (m) return attempt(() => reportPeriod({ kind: 'month', year: Number(m![1]), month: Number(m![2]) }, zone));
  m = /^(\d{4})-Q([1-4])$/i.exec(t);
  if (m) return attempt(() => reportPeriod({ kind: 'quarter', year: Number(m![1]), quarter: Number(m![2]) as 1 | 2 | 3 | 4 }, zone));
  m = /^(\d{4})$/.exec(t);
  if (m) return attempt(() => reportPeriod({ kind: 'year', year: Number(m![1]) }, zone));
  m = /^(\d{4})-(\d{2})-(\d{2})\.\.(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (m) {
    const [y1, m1, d1, y2, m2, d2] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    if (!validDate(y1, m1, d1) || !validDate(y2, m2, d2)) return undefined;
    const after = dateOfDay(dayNumber(y2, m2, d2) + 1);
    return attempt(() => reportPeriod({ kind: 'range', from: startOfDay(y1, m1, d1, zone), to: startOfDay(after.year, after.month, after.day, zone) }, zone));
  }
  return undefined;
}

function validDate(y: number, m: number, d: number): boolean {
  const back = dateOfDay(dayNumber(y, m, d));
  return y >= 1970 && back.year === y && back.month === m && back.day === d;
}

function attempt(make: () => ReportPeriod): ReportPeriod | undefined {
  try {
    return make();
  } catch (e) {
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}
