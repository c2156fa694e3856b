/** Fault episodes from a site's condition changes (server/reports/faults.ts). */
import { describe, expect, it } from 'vitest';
import { faultEpisodes } from '../../server/reports/faults.ts';

const c = (at: number, condition: 'operational' | 'degraded' | 'faulty' | 'offline' | 'unverified', ...reasons: string[]) => ({ at, condition, reasons });

describe('fault episodes', () => {
  it('a fault begins on faulty or offline with its first reason, and is repaired when the site is audible again', () => {
    expect(
      faultEpisodes('s1', [c(0, 'operational'), c(10, 'faulty', 'line_open', 'amplifier_hot'), c(50, 'operational'), c(60, 'offline', 'offline'), c(90, 'degraded', 'on_battery')]),
    ).toEqual([
      { siteId: 's1', kind: 'line_open', startedAt: 10, endedAt: 50 },
      { siteId: 's1', kind: 'offline', startedAt: 60, endedAt: 90 },
    ]);
  });

  it('faulty then offline within one span is one fault, and one still open has no end', () => {
    expect(faultEpisodes('s2', [c(5, 'faulty', 'amplifier_fault'), c(8, 'offline', 'offline'), c(12, 'unverified')])).toEqual([
      { siteId: 's2', kind: 'amplifier_fault', startedAt: 5, endedAt: null },
    ]);
  });

  it('without reasons the condition names it; degraded and unverified alone are no fault', () => {
    expect(faultEpisodes('s3', [c(1, 'degraded', 'on_battery'), c(2, 'unverified'), c(3, 'offline'), c(4, 'operational')])).toEqual([
      { siteId: 's3', kind: 'offline', startedAt: 3, endedAt: 4 },
    ]);
  });
});
