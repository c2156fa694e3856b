/**
 * Times as the schedule API takes and shows them (pure).
 *
 * In: epoch milliseconds, or ISO 8601 with an offset (`2026-11-27T06:00:00+07:00`,
 * `…Z`). A date-time WITHOUT an offset is read as wall time in
 * Asia/Ho_Chi_Minh, because that is the only time operators in the province
 * think in. Out: every instant also as local ISO with its offset, so a person
 * reading the JSON sees 06:00, not 23:00Z the day before.
 */
import { dateTimeToEpoch, RecurrenceError, SCHEDULE_ZONE } from './recurrence.ts';
import { wallTimeAt, zoneOffsetMs } from '../time/zone.ts';
import type { BadRequestProblem } from '../../api/error-catalogue.ts';

export type TimeInput = string | number;

/** Refused input, naming the field (`start.at`, `validUntil`, …). */
export class ScheduleInputError extends Error {
  override readonly name = 'ScheduleInputError';
  constructor(
    readonly field: string,
    message: string,
    /** What is wrong, as a code the console words (api/error-catalogue.ts BAD_REQUEST_PROBLEMS), and its values; the message is then technical detail. */
    readonly problem?: BadRequestProblem,
    readonly params: { value?: string; id?: string; status?: string; at?: string; limit?: string } = {},
  ) {
    super(`${field}: ${message}`);
  }
}

/** 2001-09-09: anything smaller is almost surely epoch *seconds*. */
const MIN_EPOCH_MS = 1_000_000_000_000;
const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** An instant from epoch ms or ISO text; wall time without offset is in `zone`. */
export function parseInstant(v: TimeInput, field: string, zone: string = SCHEDULE_ZONE): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0)
      throw new ScheduleInputError(field, `${v} is not an instant: send epoch milliseconds or ISO 8601 with an offset, e.g. 2026-11-27T06:00:00+07:00`, 'not_an_instant', {
        value: String(v),
      });
    if (v < MIN_EPOCH_MS)
      throw new ScheduleInputError(field, `${v} looks like epoch seconds; send milliseconds (or ISO 8601 with an offset)`, 'epoch_seconds', { value: String(v) });
    return v;
  }
  const text = v.trim();
  // Query strings carry epoch ms as text.
  if (/^\d+$/.test(text)) return parseInstant(Number(text), field, zone);
  const m = ISO_WITH_OFFSET.exec(text);
  if (m) {
    const t = Date.parse(text);
    const [, y, mo, d, h, mi, s] = m;
    // Date.parse rolls 2026-02-30 over to March; refuse instead.
    const probe = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, s ? +s : 0));
    if (!Number.isFinite(t) || probe.getUTCMonth() !== +mo! - 1 || probe.getUTCDate() !== +d! || +h! > 23 || +mi! > 59) {
      throw new ScheduleInputError(field, `"${v}" is not a valid date-time`, 'not_a_date_time', { value: String(v) });
    }
    return t;
  }
  try {
    return dateTimeToEpoch(text, field, zone);
  } catch (e) {
    if (!(e instanceof RecurrenceError)) throw e;
    throw new ScheduleInputError(
      field,
      `"${v}" is not a date-time: send epoch milliseconds, ISO 8601 with an offset (2026-11-27T06:00:00+07:00), or local time in ${zone} (2026-11-27T06:00)`,
      'not_a_date_time',
      { value: String(v) },
    );
  }
}

/**
 * A recurrence's DTSTART as local wall text in `zone` (what the expander
 * wants). Local text is kept as given; text with an offset, or epoch ms, is
 * converted to the zone's wall time.
 */
export function wallText(v: TimeInput, field: string, zone: string = SCHEDULE_ZONE): string {
  if (typeof v === 'string' && !ISO_WITH_OFFSET.test(v.trim())) {
    // Validate, and keep what the operator wrote.
    parseInstant(v, field, zone);
    return v.trim();
  }
  const w = wallTimeAt(parseInstant(v, field, zone), zone);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}`;
}

/** `2026-11-27T06:00:00+07:00`: the instant in the zone, with its offset. */
export function localIso(at: number, zone: string = SCHEDULE_ZONE): string {
  const w = wallTimeAt(at, zone);
  const off = zoneOffsetMs(at, zone) / 60_000;
  const p = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const sign = off < 0 ? '-' : '+';
  return `${w.year}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}${sign}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
}

/** `27/11/2026 06:00`: how the as-run log and the console show a time. */
export function localDisplay(at: number, zone: string = SCHEDULE_ZONE): string {
  const w = wallTimeAt(at, zone);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(w.day)}/${p(w.month)}/${w.year} ${p(w.hour)}:${p(w.minute)}:${p(w.second)}`;
}

/** Midnight (local) of the day `at` falls on. */
export function startOfLocalDay(at: number, zone: string = SCHEDULE_ZONE): number {
  const w = wallTimeAt(at, zone);
  const p = (n: number) => String(n).padStart(2, '0');
  return dateTimeToEpoch(`${w.year}-${p(w.month)}-${p(w.day)}T00:00`, 'day', zone);
}
