import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RecurrenceError, expandRecurrence, parseRRule, validateRecurrence, type RecurrenceSpec } from '../../server/schedule/recurrence.ts';
import { wallTimeToEpoch, zoneOffsetMs } from '../../server/time/zone.ts';

const H = 3_600_000;
const DAY = 24 * H;
const utc = (s: string) => Date.parse(s);
const iso = (ts: number[]) => ts.map((t) => new Date(t).toISOString());
/** A wide window starting at 2026-11-01 UTC. */
const win = (days = 60) => ({ from: utc('2026-11-01T00:00:00Z'), to: utc('2026-11-01T00:00:00Z') + days * DAY });

function refusal(spec: Partial<RecurrenceSpec>): RecurrenceError {
  try {
    validateRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY', ...spec });
  } catch (e) {
    if (e instanceof RecurrenceError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(spec)} to be refused`);
}

describe('wall time in Asia/Ho_Chi_Minh', () => {
  it('is UTC+7 all year, found through Intl rather than assumed', () => {
    expect(zoneOffsetMs(utc('2026-01-15T00:00:00Z'), 'Asia/Ho_Chi_Minh')).toBe(7 * H);
    expect(zoneOffsetMs(utc('2026-07-15T00:00:00Z'), 'Asia/Ho_Chi_Minh')).toBe(7 * H);
  });

  it('handles a zone with DST: a wall time in the spring gap moves forward, a repeated one takes the first instant', () => {
    // Europe/Berlin: 2026-03-29 02:00 → 03:00; 2026-10-25 03:00 → 02:00.
    expect(new Date(wallTimeToEpoch({ year: 2026, month: 3, day: 29, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(new Date(wallTimeToEpoch({ year: 2026, month: 10, day: 25, hour: 2, minute: 30, second: 0 }, 'Europe/Berlin')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(new Date(wallTimeToEpoch({ year: 2026, month: 7, day: 1, hour: 6, minute: 0, second: 0 }, 'Europe/Berlin')).toISOString()).toBe('2026-07-01T04:00:00.000Z');
  });
});

describe('expandRecurrence', () => {
  it('every day at 06:00 and 17:00 local is 23:00 and 10:00 UTC', () => {
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' }, { from: utc('2026-11-26T00:00:00Z'), to: utc('2026-11-28T12:00:00Z') });
    expect(iso(x.starts)).toEqual(['2026-11-26T23:00:00.000Z', '2026-11-27T10:00:00.000Z', '2026-11-27T23:00:00.000Z', '2026-11-28T10:00:00.000Z']);
    expect(x.truncated).toBe(false);
  });

  it('does not depend on the process time zone', () => {
    // The rrule package got this wrong depending on TZ; ours reads the zone through Intl only.
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;COUNT=1' }, win());
    expect(iso(x.starts)).toEqual(['2026-11-26T23:00:00.000Z']);
  });

  it('weekly on Monday and Thursday at DTSTART time, every other week with INTERVAL=2', () => {
    // 2026-11-26 is a Thursday.
    const weekly = expandRecurrence({ dtstart: '2026-11-26T19:30', rrule: 'FREQ=WEEKLY;BYDAY=MO,TH' }, { from: 0, to: utc('2026-12-08T00:00:00Z') });
    expect(iso(weekly.starts)).toEqual(['2026-11-26T12:30:00.000Z', '2026-11-30T12:30:00.000Z', '2026-12-03T12:30:00.000Z', '2026-12-07T12:30:00.000Z']);
    const fortnightly = expandRecurrence({ dtstart: '2026-11-26T19:30', rrule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH' }, { from: 0, to: utc('2026-12-15T00:00:00Z') });
    expect(iso(fortnightly.starts)).toEqual(['2026-11-26T12:30:00.000Z', '2026-12-07T12:30:00.000Z', '2026-12-10T12:30:00.000Z']);
  });

  it('weekly without BYDAY repeats on the weekday of DTSTART', () => {
    const x = expandRecurrence({ dtstart: '2026-11-26T07:00', rrule: 'FREQ=WEEKLY;COUNT=3' }, win());
    expect(iso(x.starts)).toEqual(['2026-11-26T00:00:00.000Z', '2026-12-03T00:00:00.000Z', '2026-12-10T00:00:00.000Z']);
  });

  it('monthly on the 1st and the last day, and on the last Friday', () => {
    const days = expandRecurrence({ dtstart: '2026-11-01T08:00', rrule: 'FREQ=MONTHLY;BYMONTHDAY=1,-1;COUNT=4' }, { from: 0, to: utc('2027-06-01T00:00:00Z') });
    expect(iso(days.starts)).toEqual(['2026-11-01T01:00:00.000Z', '2026-11-30T01:00:00.000Z', '2026-12-01T01:00:00.000Z', '2026-12-31T01:00:00.000Z']);
    const lastFriday = expandRecurrence({ dtstart: '2026-11-01T08:00', rrule: 'FREQ=MONTHLY;BYDAY=-1FR;COUNT=3' }, { from: 0, to: utc('2027-06-01T00:00:00Z') });
    expect(iso(lastFriday.starts)).toEqual(['2026-11-27T01:00:00.000Z', '2026-12-25T01:00:00.000Z', '2027-01-29T01:00:00.000Z']);
  });

  it('skips months without the day of DTSTART instead of moving it', () => {
    const x = expandRecurrence({ dtstart: '2027-01-31T08:00', rrule: 'FREQ=MONTHLY;COUNT=3' }, { from: 0, to: utc('2028-01-01T00:00:00Z') });
    expect(iso(x.starts)).toEqual(['2027-01-31T01:00:00.000Z', '2027-03-31T01:00:00.000Z', '2027-05-31T01:00:00.000Z']);
  });

  it('COUNT counts from DTSTART even when the window starts later', () => {
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;COUNT=3' }, { from: utc('2026-11-28T00:00:00Z'), to: utc('2026-12-31T00:00:00Z') });
    expect(iso(x.starts)).toEqual(['2026-11-28T23:00:00.000Z']);
  });

  it('UNTIL is inclusive; without Z it is local wall time, with Z it is UTC, a bare date means the whole local day', () => {
    const local = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;UNTIL=20261129T060000' }, win());
    expect(local.starts).toHaveLength(3);
    const z = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;UNTIL=20261128T230000Z' }, win());
    expect(z.starts).toHaveLength(3);
    const date = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;UNTIL=20261128' }, win());
    expect(date.starts).toHaveLength(4);
  });

  it('EXDATE removes an occurrence, which still counts toward COUNT', () => {
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;COUNT=3', exdates: ['2026-11-28T06:00'] }, win());
    expect(iso(x.starts)).toEqual(['2026-11-26T23:00:00.000Z', '2026-11-28T23:00:00.000Z']);
  });

  it('the window is [from, to): an occurrence at `from` is in, one at `to` is out', () => {
    const at6 = utc('2026-11-27T23:00:00Z');
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY' }, { from: at6, to: at6 + DAY });
    expect(x.starts).toEqual([at6]);
    expect(expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY' }, { from: at6 + 1, to: at6 + DAY }).starts).toEqual([]);
    expect(expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY' }, { from: at6, to: at6 }).starts).toEqual([]);
  });

  it('nothing before DTSTART, and a window years later is reached without walking from the start', () => {
    expect(expandRecurrence({ dtstart: '2026-11-27T17:00', rrule: 'FREQ=DAILY;BYHOUR=6,17' }, { from: 0, to: utc('2026-11-27T12:00:00Z') }).starts).toEqual([
      utc('2026-11-27T10:00:00Z'),
    ]);
    const far = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY' }, { from: utc('2126-01-01T00:00:00Z'), to: utc('2126-01-03T00:00:00Z') });
    expect(iso(far.starts)).toEqual(['2126-01-01T23:00:00.000Z', '2126-01-02T23:00:00.000Z']);
  });

  it('stops at maxOccurrences and says so', () => {
    const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;BYMINUTE=0,15,30,45;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12' }, win(), { maxOccurrences: 10 });
    expect(x.starts).toHaveLength(10);
    expect(x.truncated).toBe(true);
  });

  it('works in another zone (Europe/Berlin), keeping 06:00 local across the DST change', () => {
    const x = expandRecurrence({ dtstart: '2026-10-24T06:00', rrule: 'FREQ=DAILY;COUNT=2', zone: 'Europe/Berlin' }, { from: 0, to: utc('2027-01-01T00:00:00Z') });
    expect(iso(x.starts)).toEqual(['2026-10-24T04:00:00.000Z', '2026-10-25T05:00:00.000Z']);
  });
});

describe('invalid rules are refused, naming the part', () => {
  it.each([
    ['FREQ=DAILY;BYHOUR=25', 'BYHOUR', 'RRULE: BYHOUR=25 is out of range 0–23'],
    ['FREQ=DAILY;BYMINUTE=60', 'BYMINUTE', 'RRULE: BYMINUTE=60 is out of range 0–59'],
    ['FREQ=MONTHLY;BYMONTHDAY=32', 'BYMONTHDAY', 'RRULE: BYMONTHDAY=32 is out of range ±1–31'],
    ['FREQ=YEARLY', 'FREQ', 'RRULE: FREQ=YEARLY is not supported (DAILY, WEEKLY, MONTHLY)'],
    ['BYHOUR=6', 'FREQ', 'RRULE: FREQ is required'],
    ['FREQ=DAILY;BYSETPOS=1', 'BYSETPOS', 'RRULE: BYSETPOS is not supported'],
    ['FREQ=DAILY;BYMONTH=1', 'BYMONTH', 'RRULE: BYMONTH is not supported'],
    ['FREQ=DAILY;FOO=1', 'FOO', 'RRULE: FOO is not an RRULE part'],
    ['FREQ=DAILY;INTERVAL=0', 'INTERVAL', 'RRULE: INTERVAL=0 must be a whole number'],
    ['FREQ=DAILY;COUNT=2;UNTIL=20261201', 'UNTIL', 'COUNT and UNTIL cannot both be given'],
    ['FREQ=WEEKLY;BYDAY=XX', 'BYDAY', 'RRULE: BYDAY=XX is not a weekday'],
    ['FREQ=WEEKLY;BYDAY=1MO', 'BYDAY', 'only allowed with FREQ=MONTHLY'],
    ['FREQ=WEEKLY;BYMONTHDAY=1', 'BYMONTHDAY', 'cannot be used with FREQ=WEEKLY'],
    ['FREQ=DAILY;FREQ=WEEKLY', 'FREQ', 'RRULE: FREQ is given twice'],
    ['FREQ=DAILY;UNTIL=2026-12-01', 'UNTIL', 'RRULE: UNTIL=2026-12-01 is not a date'],
  ])('%s → %s', (rrule, part, message) => {
    const e = refusal({ rrule });
    expect(e.part).toBe(part);
    expect(e.message).toContain(message);
  });

  it('a bad DTSTART, EXDATE or zone is refused naming it', () => {
    expect(refusal({ dtstart: '27/11/2026 06:00' }).part).toBe('DTSTART');
    expect(refusal({ dtstart: '2026-02-30T06:00' }).part).toBe('DTSTART');
    expect(refusal({ dtstart: '2026-11-27T06:00Z' }).message).toContain('must be local wall time');
    expect(refusal({ exdates: ['tomorrow'] }).part).toBe('EXDATE');
    expect(refusal({ zone: 'Mars/Olympus' }).part).toBe('TZID');
  });

  it('accepts the RRULE: prefix and lower case', () => {
    expect(parseRRule('RRULE:freq=daily;byhour=6').byHour).toEqual([6]);
  });
});

describe('property: every occurrence is inside the window, sorted and unique', () => {
  const day = fc.constantFrom('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU');
  const rule = fc.record({
    freq: fc.constantFrom('DAILY', 'WEEKLY', 'MONTHLY'),
    interval: fc.integer({ min: 1, max: 4 }),
    hours: fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { minLength: 0, maxLength: 3 }),
    minutes: fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { minLength: 0, maxLength: 2 }),
    days: fc.uniqueArray(day, { minLength: 0, maxLength: 3 }),
    count: fc.option(fc.integer({ min: 1, max: 50 })),
  });
  it('holds for random rules and windows', () => {
    fc.assert(
      fc.property(
        rule,
        fc.integer({ min: 0, max: 400 * DAY }),
        fc.integer({ min: 0, max: 40 * DAY }),
        fc.constantFrom('Asia/Ho_Chi_Minh', 'Europe/Berlin', 'America/New_York'),
        (r, offset, length, zone) => {
          const parts = [`FREQ=${r.freq}`, `INTERVAL=${r.interval}`];
          if (r.hours.length) parts.push(`BYHOUR=${r.hours.join(',')}`);
          if (r.minutes.length) parts.push(`BYMINUTE=${r.minutes.join(',')}`);
          if (r.days.length) parts.push(`BYDAY=${r.days.join(',')}`);
          if (r.count !== null) parts.push(`COUNT=${r.count}`);
          const from = utc('2026-06-01T00:00:00Z') + offset;
          const to = from + length;
          const x = expandRecurrence({ dtstart: '2026-11-27T06:00', rrule: parts.join(';'), zone }, { from, to });
          const dtstart = wallTimeToEpoch({ year: 2026, month: 11, day: 27, hour: 6, minute: 0, second: 0 }, zone);
          for (let i = 0; i < x.starts.length; i++) {
            const t = x.starts[i]!;
            expect(t).toBeGreaterThanOrEqual(from);
            expect(t).toBeLessThan(to);
            expect(t).toBeGreaterThanOrEqual(dtstart);
            if (i > 0) expect(t).toBeGreaterThan(x.starts[i - 1]!);
          }
          if (r.count !== null) expect(x.starts.length).toBeLessThanOrEqual(r.count);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('splitting a window in two gives the same occurrences as the whole', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 * DAY }), fc.integer({ min: 0, max: 30 * DAY }), (a, b) => {
        const spec = { dtstart: '2026-11-27T06:00', rrule: 'FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=6,17' };
        const base = utc('2026-11-20T00:00:00Z');
        const [lo, hi] = [Math.min(a, b), Math.max(a, b)];
        const whole = expandRecurrence(spec, { from: base, to: base + 30 * DAY }).starts;
        const parts = [
          ...expandRecurrence(spec, { from: base, to: base + lo }).starts,
          ...expandRecurrence(spec, { from: base + lo, to: base + hi }).starts,
          ...expandRecurrence(spec, { from: base + hi, to: base + 30 * DAY }).starts,
        ];
        expect(parts).toEqual(whole);
      }),
    );
  });
});
