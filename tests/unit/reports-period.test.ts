/** Report periods (kỳ báo cáo) on the province's calendar: where each begins and ends, and how it is named. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { dateVi, parsePeriod, reportPeriod } from '../../server/reports/period.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('report periods in Asia/Ho_Chi_Minh', () => {
  it('a Vietnamese month starts at 00:00 ICT, 17:00 UTC the day before', () => {
    const p = reportPeriod({ kind: 'month', year: 2026, month: 11 });
    expect(iso(p.from)).toBe('2026-10-31T17:00:00.000Z');
    expect(iso(p.to)).toBe('2026-11-30T17:00:00.000Z');
    expect(p.label).toEqual({ vi: 'Tháng 11/2026', en: 'November 2026' });
  });

  it('December runs into the next year, and its last second still belongs to it', () => {
    const p = reportPeriod({ kind: 'month', year: 2026, month: 12 });
    expect(iso(p.to)).toBe('2026-12-31T17:00:00.000Z');
    const lastSecond = Date.parse('2026-12-31T16:59:59.999Z');
    expect(lastSecond >= p.from && lastSecond < p.to).toBe(true);
    expect(reportPeriod({ kind: 'year', year: 2027 }).from).toBe(p.to);
  });

  it('February of a leap year has 29 days', () => {
    const p = reportPeriod({ kind: 'month', year: 2028, month: 2 });
    expect((p.to - p.from) / 86_400_000).toBe(29);
    expect((reportPeriod({ kind: 'month', year: 2026, month: 2 }).to - reportPeriod({ kind: 'month', year: 2026, month: 2 }).from) / 86_400_000).toBe(28);
  });

  it('quarters carry Roman numerals, as Vietnamese reports write them', () => {
    const q4 = reportPeriod({ kind: 'quarter', year: 2026, quarter: 4 });
    expect(q4.label.vi).toBe('Quý IV/2026');
    expect(iso(q4.from)).toBe('2026-09-30T17:00:00.000Z');
    expect(iso(q4.to)).toBe('2026-12-31T17:00:00.000Z');
    expect(reportPeriod({ kind: 'quarter', year: 2026, quarter: 1 }).label.vi).toBe('Quý I/2026');
    expect(reportPeriod({ kind: 'year', year: 2026 }).label.vi).toBe('Năm 2026');
  });

  it('a range between midnights names its last whole day, not the exclusive end', () => {
    const p = reportPeriod({ kind: 'range', from: Date.parse('2026-10-31T17:00:00Z'), to: Date.parse('2026-11-15T17:00:00Z') });
    expect(p.label.vi).toBe('Từ 01/11/2026 đến 15/11/2026');
  });

  it('a range with times of day names them', () => {
    const p = reportPeriod({ kind: 'range', from: Date.parse('2026-11-01T23:00:00Z'), to: Date.parse('2026-11-02T11:30:00Z') });
    expect(p.label.vi).toBe('Từ 02/11/2026 06:00 đến 02/11/2026 18:30');
  });

  it('refuses what does not exist', () => {
    expect(() => reportPeriod({ kind: 'month', year: 2026, month: 13 })).toThrow(RangeError);
    expect(() => reportPeriod({ kind: 'range', from: 10, to: 10 })).toThrow(RangeError);
    expect(parsePeriod('2026-13')).toBeUndefined();
    expect(parsePeriod('2026-02-30..2026-03-01')).toBeUndefined();
    expect(parsePeriod('November')).toBeUndefined();
  });

  it('reads periods from text', () => {
    expect(parsePeriod('2026-11')?.label.vi).toBe('Tháng 11/2026');
    expect(parsePeriod('2026-q4')?.label.vi).toBe('Quý IV/2026');
    expect(parsePeriod('2026')?.label.vi).toBe('Năm 2026');
    const r = parsePeriod('2026-11-01..2026-11-15');
    expect(r?.label.vi).toBe('Từ 01/11/2026 đến 15/11/2026');
    expect(r && iso(r.to)).toBe('2026-11-15T17:00:00.000Z');
  });

  it('the months of a year tile it: each starts where the one before ended, at a local midnight', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1970, max: 2200 }), (year) => {
        const y = reportPeriod({ kind: 'year', year });
        let at = y.from;
        for (let month = 1; month <= 12; month++) {
          const m = reportPeriod({ kind: 'month', year, month });
          expect(m.from).toBe(at);
          expect(dateVi(m.from)).toBe(`01/${String(month).padStart(2, '0')}/${year}`);
          at = m.to;
        }
        expect(at).toBe(y.to);
        const quarters = ([1, 2, 3, 4] as const).map((quarter) => reportPeriod({ kind: 'quarter', year, quarter }));
        expect(quarters.map((q) => q.to).slice(0, 3)).toEqual(quarters.map((q) => q.from).slice(1));
      }),
    );
  });
});
