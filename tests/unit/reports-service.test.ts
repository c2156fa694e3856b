/** Reports are made one at a time, a few wait, more are refused (server/reports/service.ts); a period is checked and bounded first. */
import { describe, expect, it } from 'vitest';
import { LoanetError } from '../../server/errors.ts';
import { OneAtATime, reportPeriodOf } from '../../server/reports/service.ts';

function deferred(): { promise: Promise<string>; resolve: (v: string) => void; reject: (e: Error) => void } {
  let resolve!: (v: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

describe('one report at a time', () => {
  it('runs jobs in order, one at a time, and refuses one more than the waiting bound', async () => {
    const q = new OneAtATime(2);
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      q.run(() => {
        started.push(i);
        return g.promise;
      }),
    );
    expect(q.size).toBe(3);
    await expect(q.run(async () => 'late')).rejects.toMatchObject({ code: 'LOANET_UNAVAILABLE', params: { reason: 'busy' } });
    await Promise.resolve();
    expect(started).toEqual([0]);
    gates[0]!.reject(new Error('the first report failed'));
    await expect(runs[0]).rejects.toThrow('the first report failed');
    // A failure does not stop the next.
    await waitUntil(() => started.length === 2);
    gates[1]!.resolve('b');
    gates[2]!.resolve('c');
    expect(await runs[1]).toBe('b');
    expect(await runs[2]).toBe('c');
    expect(started).toEqual([0, 1, 2]);
    expect(q.size).toBe(0);
    expect(await q.run(async () => 'again')).toBe('again');
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe('the period of a report', () => {
  it('reads a month, a quarter, a year and days, and bounds a range to 366 days', () => {
    expect(reportPeriodOf('2026-11').label.vi).toBe('Tháng 11/2026');
    expect(reportPeriodOf('2026-Q4').label.vi).toBe('Quý IV/2026');
    expect(reportPeriodOf('2028').label.vi).toBe('Năm 2028'); // a leap year is 366 days: allowed
    expect(reportPeriodOf('2026-01-01..2026-12-31').label.vi).toBe('Từ 01/01/2026 đến 31/12/2026');
    const tooLong = (() => {
      try {
        reportPeriodOf('2026-01-01..2027-01-02');
      } catch (e) {
        return e;
      }
    })();
    expect(tooLong).toBeInstanceOf(LoanetError);
    expect(tooLong).toMatchObject({ code: 'LOANET_PERIOD_TOO_LONG', params: { field: 'period', maxDays: 366 } });
    expect(() => reportPeriodOf('2026-13')).toThrow(LoanetError);
    expect(() => reportPeriodOf('2026-02-30..2026-03-01')).toThrow(LoanetError);
  });
});
