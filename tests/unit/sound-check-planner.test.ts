import { describe, expect, it } from 'vitest';
import type { TelemetryMessage } from '../../protocol/index.ts';
import type { SiteObservation } from '../../server/coverage/model.ts';
import { inQuietHours, lastSoundAttempt, planSoundChecks } from '../../server/coverage/sound-check-planner.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Local wall-clock time in Vietnam → epoch ms. */
const vn = (h: number, mi = 0) => Date.UTC(2025, 2, 10, h - 7, mi);
const NOW = vn(14, 30);
const WEEK = 7 * DAY;

function site(siteId: string, over: Partial<SiteObservation> = {}): SiteObservation {
  return {
    siteId,
    name: siteId,
    kind: 'cluster',
    areaId: 1,
    firstSeenAt: NOW - 30 * DAY,
    lastSeenAt: NOW - 1000,
    connected: true,
    disconnectedAt: null,
    intervalS: 30,
    telemetry: { monitorMic: true, intervalS: 30, lastSoundCheck: null } as unknown as TelemetryMessage,
    lastSoundVerifiedAt: null,
    lastSoundCheck: null,
    expectsMonitorMic: true,
    ...over,
  };
}

const base = { intervalMs: WEEK, maxPerRun: 10, pending: new Set<string>() };

describe('planSoundChecks', () => {
  it('picks online sites with a monitoring mic that were never checked or whose last check is older than the interval', () => {
    const sites = [
      site('never'),
      site('old', { lastSoundVerifiedAt: NOW - WEEK - 1 }),
      site('recent', { lastSoundVerifiedAt: NOW - DAY }),
      site('edge', { lastSoundVerifiedAt: NOW - WEEK }),
    ];
    expect(planSoundChecks(sites, NOW, base)).toEqual(['never', 'old', 'edge']);
  });

  it('stations with a mic are checked like clusters', () => {
    expect(planSoundChecks([site('st', { kind: 'station' })], NOW, base)).toEqual(['st']);
  });

  it('skips sites without a monitoring mic (telemetry decides; the registry only before any telemetry)', () => {
    const noMic = site('nomic', { telemetry: { monitorMic: false } as unknown as TelemetryMessage });
    const registryOnly = site('reg', { telemetry: null, expectsMonitorMic: true });
    const neither = site('none', { telemetry: null, expectsMonitorMic: false });
    expect(planSoundChecks([noMic, registryOnly, neither], NOW, base)).toEqual(['reg']);
  });

  it('skips sites that are offline, silent past two heartbeats, or never heard', () => {
    const sites = [
      site('down', { connected: false, disconnectedAt: NOW - HOUR }),
      site('silent', { lastSeenAt: NOW - 61_000 }),
      site('unheard', { firstSeenAt: null, lastSeenAt: null }),
      site('up', { lastSeenAt: NOW - 60_000 }),
    ];
    expect(planSoundChecks(sites, NOW, base)).toEqual(['up']);
  });

  it('skips sites with a check already pending', () => {
    expect(planSoundChecks([site('a'), site('b')], NOW, { ...base, pending: new Set(['a']) })).toEqual(['b']);
  });

  it('does not retry a failed check before the interval: a broken cluster is not beeped every run', () => {
    const failed = site('failed', { lastSoundCheck: { at: NOW - HOUR, ok: false, levelDb: null } });
    expect(planSoundChecks([failed], NOW, base)).toEqual([]);
    expect(lastSoundAttempt(failed)).toBe(NOW - HOUR);
    const failedLongAgo = site('f2', { lastSoundCheck: { at: NOW - 2 * WEEK, ok: false, levelDb: null } });
    expect(planSoundChecks([failedLongAgo], NOW, base)).toEqual(['f2']);
  });

  it('a check seen only in telemetry counts as the last attempt', () => {
    const t = { monitorMic: true, lastSoundCheck: { at: NOW - DAY, ok: true, levelDb: 70 } } as unknown as TelemetryMessage;
    expect(planSoundChecks([site('t', { telemetry: t })], NOW, base)).toEqual([]);
  });

  it('orders oldest first (never checked first, ties by siteId) and spreads a province over runs with maxPerRun', () => {
    const sites = [
      site('c', { lastSoundVerifiedAt: NOW - 3 * WEEK }),
      site('b'),
      site('d', { lastSoundVerifiedAt: NOW - 2 * WEEK }),
      site('a'),
      site('e', { lastSoundVerifiedAt: NOW - 4 * WEEK }),
    ];
    expect(planSoundChecks(sites, NOW, base)).toEqual(['a', 'b', 'e', 'c', 'd']);
    expect(planSoundChecks(sites, NOW, { ...base, maxPerRun: 2 })).toEqual(['a', 'b']);
    expect(planSoundChecks(sites, NOW, { ...base, maxPerRun: 0 })).toEqual([]);
  });

  it('plans nothing during quiet hours, e.g. 21–6 so nobody is woken by a test tone', () => {
    const quietHours = { startHour: 21, endHour: 6, timeZone: 'Asia/Ho_Chi_Minh' };
    // The site is online at each moment asked about (it just sent a heartbeat).
    const at = (now: number) => planSoundChecks([site('a', { lastSeenAt: now - 1000 })], now, { ...base, quietHours });
    expect(at(vn(22))).toEqual([]);
    expect(at(vn(3))).toEqual([]);
    expect(at(vn(5, 59))).toEqual([]);
    expect(at(vn(6))).toEqual(['a']);
    expect(at(vn(20, 59))).toEqual(['a']);
    expect(at(vn(21))).toEqual([]);
  });
});

describe('inQuietHours', () => {
  it('has no quiet hours by default or when start equals end', () => {
    expect(inQuietHours(vn(3), undefined)).toBe(false);
    expect(inQuietHours(vn(3), { startHour: 5, endHour: 5, timeZone: 'Asia/Ho_Chi_Minh' })).toBe(false);
  });

  it('handles a window that does not wrap midnight', () => {
    const q = { startHour: 11, endHour: 13, timeZone: 'Asia/Ho_Chi_Minh' };
    expect(inQuietHours(vn(10, 59), q)).toBe(false);
    expect(inQuietHours(vn(11), q)).toBe(true);
    expect(inQuietHours(vn(13), q)).toBe(false);
  });

  it('reads hours in the given zone, not UTC', () => {
    // 22:00 in Vietnam is 15:00 UTC.
    expect(inQuietHours(vn(22), { startHour: 21, endHour: 6, timeZone: 'Asia/Ho_Chi_Minh' })).toBe(true);
    expect(inQuietHours(vn(22), { startHour: 21, endHour: 6, timeZone: 'UTC' })).toBe(false);
  });
});
