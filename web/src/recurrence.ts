/**
 * How a recurring broadcast repeats, in the user's words, from its RRULE and
 * DTSTART: read by the schedule page (its items and week) and by the audit
 * log (a schedule entry's start), so a rule is never shown as its code.
 */
import { localInputValue, t, type StringKey } from './i18n.ts';

export const WEEKDAY_KEYS: StringKey[] = ['weekday0', 'weekday1', 'weekday2', 'weekday3', 'weekday4', 'weekday5', 'weekday6'];
/** RFC 5545 day codes, in Date.getUTCDay() order (Sunday first). */
const DAY_CODES = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];
/** The weekday of a local (Asia/Ho_Chi_Minh) date "YYYY-MM-DD", 0 = Sunday. */
const weekdayOf = (localDate: string) => new Date(`${localDate}T00:00:00Z`).getUTCDay();
/** The weekday's name of an instant, in Asia/Ho_Chi_Minh whatever the phone's zone. */
export const weekdayName = (ms: number) => t(WEEKDAY_KEYS[weekdayOf(localInputValue(ms).slice(0, 10))]!);

/**
 * How a recurring item repeats, in words ("Hằng ngày 06:30" / "Daily 06:30"),
 * from its RRULE and DTSTART (local wall time of the item's zone, which the
 * server keeps as Asia/Ho_Chi_Minh): the subset the server accepts (DAILY,
 * WEEKLY, MONTHLY with INTERVAL, BYDAY, BYMONTHDAY, BYHOUR, BYMINUTE).
 * Null for a one-off item.
 */
export function recurrenceText(start: { dtstart: string; rrule: string } | { at: number }): string | null {
  if (!('rrule' in start)) return null;
  const parts = new Map(
    start.rrule
      .replace(/^RRULE:/i, '')
      .split(';')
      .map((p) => p.split('=') as [string, string | undefined])
      .map(([k, v]) => [k.toUpperCase(), (v ?? '').toUpperCase()]),
  );
  const list = (k: string) => (parts.get(k) ? parts.get(k)!.split(',').filter(Boolean) : []);
  const clock = start.dtstart.slice(11, 16) || '00:00';
  const hours = list('BYHOUR').map(Number);
  const minutes = list('BYMINUTE').map(Number);
  const times = (hours.length ? hours : [Number(clock.slice(0, 2))])
    .flatMap((h) => (minutes.length ? minutes : [Number(clock.slice(3, 5))]).map((m) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`))
    .join(', ');
  const n = Number(parts.get('INTERVAL') || 1);
  const day = (code: string) => {
    const m = /^([+-]?\d+)?([A-Z]{2})$/.exec(code);
    const i = m ? DAY_CODES.indexOf(m[2]!) : -1;
    if (!m || i < 0) return code;
    const name = t(WEEKDAY_KEYS[i]!);
    if (!m[1]) return name;
    const ord = Number(m[1]);
    return ord < 0 ? t('lastWeekday', { day: name }) : t('nthWeekday', { day: name, n: ord });
  };
  const startDay = start.dtstart.slice(0, 10);
  switch (parts.get('FREQ')) {
    case 'DAILY':
      return n > 1 ? t('repeatsEveryDays', { n, time: times }) : t('repeatsDaily', { time: times });
    case 'WEEKLY': {
      const days = (list('BYDAY').length ? list('BYDAY') : [DAY_CODES[weekdayOf(startDay)]!]).map(day).join(', ');
      return n > 1 ? t('repeatsEveryWeeks', { n, days, time: times }) : t('repeatsWeekly', { days, time: times });
    }
    case 'MONTHLY': {
      const monthDays = list('BYMONTHDAY').map((d) => (Number(d) === -1 ? t('monthDayLast') : t('monthDay', { d: Number(d) })));
      const days = (monthDays.length ? monthDays : list('BYDAY').length ? list('BYDAY').map(day) : [t('monthDay', { d: Number(startDay.slice(8, 10)) })]).join(', ');
      return n > 1 ? t('repeatsEveryMonths', { n, days, time: times }) : t('repeatsMonthly', { days, time: times });
    }
    default:
      return t('recurring');
  }
}
