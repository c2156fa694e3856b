import { describe, expect, it } from 'vitest';
import { parseDayEntry, parseTimeEntry, showDayEntry, splitLocal } from '../../web/src/date-entry.ts';

describe('day and time entry as the province types them', () => {
  it('reads day/month/year with any separator, or the digits alone from a number pad', () => {
    expect(parseDayEntry('05/12/2026')).toBe('2026-12-05');
    expect(parseDayEntry('5/12/2026')).toBe('2026-12-05');
    expect(parseDayEntry(' 5-12-2026 ')).toBe('2026-12-05');
    expect(parseDayEntry('5.12.26')).toBe('2026-12-05');
    expect(parseDayEntry('05122026')).toBe('2026-12-05');
    expect(parseDayEntry('1/2/2027'), 'day first, never month first').toBe('2027-02-01');
  });

  it('refuses days that do not exist and what is not a day', () => {
    for (const s of ['31/02/2026', '29/02/2026', '00/01/2026', '12/13/2026', '2026-12-05', '5122026', '', 'hôm nay']) expect(parseDayEntry(s), s).toBeNull();
    expect(parseDayEntry('29/02/2028')).toBe('2028-02-29');
  });

  it('shows a day as dd/mm/yyyy', () => {
    expect(showDayEntry('2026-12-05')).toBe('05/12/2026');
    expect(showDayEntry('')).toBe('');
    expect(parseDayEntry(showDayEntry('2027-01-31'))).toBe('2027-01-31');
  });

  it('reads a 24-hour time however it is typed', () => {
    expect(parseTimeEntry('07:30')).toBe('07:30');
    expect(parseTimeEntry('7:30')).toBe('07:30');
    expect(parseTimeEntry('7h30')).toBe('07:30');
    expect(parseTimeEntry('7h')).toBe('07:00');
    expect(parseTimeEntry('0730')).toBe('07:30');
    expect(parseTimeEntry('730')).toBe('07:30');
    expect(parseTimeEntry('19')).toBe('19:00');
    for (const s of ['24:00', '7:60', '', 'sáng', '12345']) expect(parseTimeEntry(s), s).toBeNull();
  });

  it('splits a local moment into its day and time', () => {
    expect(splitLocal('2026-12-05T07:30')).toEqual({ day: '2026-12-05', time: '07:30' });
    expect(splitLocal('')).toEqual({ day: '', time: '' });
  });
});
