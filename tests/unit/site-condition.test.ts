import { describe, expect, it } from 'vitest';
import type { TelemetryMessage } from '../../protocol/index.ts';
import { DEFAULT_COVERAGE_POLICY, type CoveragePolicy, type SiteObservation } from '../../server/coverage/model.ts';
import { classifySite, formatSince, isOnline, offlineState } from '../../server/coverage/site-condition.ts';
import { SITE_REASON_CODES } from '../../api/coverage.ts';
import { wordReason } from '../../api/words/reasons.ts';

const policy: CoveragePolicy = DEFAULT_COVERAGE_POLICY;
/** 2025-03-10 14:30 in Asia/Ho_Chi_Minh (UTC+7). */
const NOW = Date.UTC(2025, 2, 10, 7, 30);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Local wall-clock time in Vietnam → epoch ms. */
const vn = (y: number, mo: number, d: number, h: number, mi: number) => Date.UTC(y, mo - 1, d, h - 7, mi);

function telemetry(over: Partial<TelemetryMessage> = {}): TelemetryMessage {
  return {
    v: 1,
    siteId: 'cl-1',
    at: NOW - 5_000,
    seq: 10,
    intervalS: 30,
    uptimeS: 3600,
    versions: { agent: '0.1.0', protocol: 1 },
    link: { type: '4g', signalDbm: -80 },
    power: { source: 'mains', mainsOk: true, batteryPct: 100 },
    amplifier: { on: true, volume: 70, fault: 'none', temperatureC: 40 },
    lines: [
      { id: 1, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
      { id: 2, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
      { id: 3, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
    ],
    temperatureC: 35,
    clockOffsetMs: 0,
    devices: [
      { id: 'amp0', kind: 'amplifier', reachable: true },
      { id: 'mic0', kind: 'monitor_mic', reachable: true },
    ],
    monitorMic: true,
    lastSoundCheck: { at: NOW - DAY, ok: true, levelDb: 72 },
    ...over,
  } as TelemetryMessage;
}

function site(over: Partial<SiteObservation> = {}): SiteObservation {
  return {
    siteId: 'cl-1',
    name: 'Cụm loa thôn 1',
    kind: 'cluster',
    areaId: 10,
    firstSeenAt: NOW - 30 * DAY,
    lastSeenAt: NOW - 5_000,
    connected: true,
    disconnectedAt: null,
    intervalS: 30,
    telemetry: telemetry(),
    lastSoundVerifiedAt: NOW - DAY,
    lastSoundCheck: { at: NOW - DAY, ok: true, levelDb: 72 },
    expectsMonitorMic: true,
    ...over,
  };
}

const codes = (o: SiteObservation, now = NOW, p = policy) => classifySite(o, now, p).reasons.map((r) => r.code);

describe('a healthy site', () => {
  it('is operational with no reasons', () => {
    expect(classifySite(site(), NOW, policy)).toEqual({ siteId: 'cl-1', condition: 'operational', reasons: [] });
  });

  it('a station follows the same rules as a cluster', () => {
    expect(classifySite(site({ kind: 'station' }), NOW, policy).condition).toBe('operational');
    const t = telemetry({ amplifier: { on: true, volume: 50, fault: 'overload', temperatureC: 50 } });
    expect(classifySite(site({ kind: 'station', telemetry: t }), NOW, policy).condition).toBe('faulty');
  });

  it('an amplifier that is merely switched off is no reason (agents switch it on for broadcasts)', () => {
    const t = telemetry({ amplifier: { on: false, volume: 70, fault: 'none', temperatureC: 30 } });
    expect(classifySite(site({ telemetry: t }), NOW, policy).condition).toBe('operational');
  });
});

describe('a site never heard from', () => {
  it('is unverified with no reasons, whatever else is recorded', () => {
    const v = classifySite(site({ firstSeenAt: null, lastSeenAt: null, connected: false, telemetry: null }), NOW, policy);
    expect(v).toEqual({ siteId: 'cl-1', condition: 'unverified', reasons: [] });
    expect(isOnline(site({ firstSeenAt: null }), NOW, policy)).toBe(false);
    expect(offlineState(site({ firstSeenAt: null }), NOW, policy)).toBeNull();
  });
});

describe('offline', () => {
  it('a disconnected site is offline since it disconnected, in Vietnamese time', () => {
    const v = classifySite(site({ connected: false, disconnectedAt: vn(2025, 3, 10, 14, 2), lastSeenAt: vn(2025, 3, 10, 14, 1) }), NOW, policy);
    expect(v.condition).toBe('offline');
    expect(v.reasons).toHaveLength(1);
    expect(v.reasons[0]).toMatchObject({
      code: 'offline',
      severity: 'offline',
      message: 'offline since 14:02',
      params: { since: vn(2025, 3, 10, 14, 2), cause: 'disconnected' },
    });
  });

  it('a disconnected site without disconnectedAt is offline since its last message', () => {
    const v = classifySite(site({ connected: false, disconnectedAt: null, lastSeenAt: vn(2025, 3, 10, 9, 5) }), NOW, policy);
    expect(v.reasons[0]!.message).toBe('offline since 09:05');
    expect(v.reasons[0]!.params.since).toBe(vn(2025, 3, 10, 9, 5));
  });

  it('a cluster silent for more than two heartbeat intervals is offline since its last message, even if its connection never closed', () => {
    const last = NOW - 61_000;
    const v = classifySite(site({ lastSeenAt: last, intervalS: 30 }), NOW, policy);
    expect(v.condition).toBe('offline');
    expect(v.reasons[0]!.params).toEqual({ since: last, cause: 'silent' });
  });

  it('exactly two intervals of silence is still online; one millisecond more is offline', () => {
    expect(classifySite(site({ lastSeenAt: NOW - 60_000, intervalS: 30 }), NOW, policy).condition).toBe('operational');
    expect(classifySite(site({ lastSeenAt: NOW - 60_001, intervalS: 30 }), NOW, policy).condition).toBe('offline');
  });

  it('uses the site’s own interval, then the telemetry’s, then the policy default', () => {
    // intervalS 300 → 10 minutes of grace.
    expect(classifySite(site({ lastSeenAt: NOW - 9 * MIN, intervalS: 300 }), NOW, policy).condition).toBe('operational');
    expect(classifySite(site({ lastSeenAt: NOW - 11 * MIN, intervalS: 300 }), NOW, policy).condition).toBe('offline');
    // No own interval: telemetry says 120 s → 4 minutes.
    const t = telemetry({ intervalS: 120 });
    expect(classifySite(site({ lastSeenAt: NOW - 3 * MIN, intervalS: null, telemetry: t }), NOW, policy).condition).toBe('operational');
    // Neither: default 30 s → 60 s.
    expect(classifySite(site({ lastSeenAt: NOW - 61_000, intervalS: null, telemetry: null }), NOW, policy).condition).toBe('offline');
    // missedHeartbeats from policy.
    expect(classifySite(site({ lastSeenAt: NOW - 61_000, intervalS: 30 }), NOW, { ...policy, missedHeartbeats: 3 }).condition).toBe('operational');
  });

  it('offline wins: stale telemetry full of faults gives only the offline reason', () => {
    const t = telemetry({
      amplifier: { on: true, volume: 70, fault: 'overheat', temperatureC: 95 },
      lines: [{ id: 1, status: 'open', impedanceOhm: null, nominalOhm: 8 }],
      power: { source: 'battery', mainsOk: false, batteryPct: 3 },
      link: { type: '2g', signalDbm: -120 },
    });
    const v = classifySite(site({ connected: false, disconnectedAt: NOW - HOUR, telemetry: t, lastSoundVerifiedAt: null }), NOW, policy);
    expect(v.condition).toBe('offline');
    expect(v.reasons.map((r) => r.code)).toEqual(['offline']);
  });

  it('an offline time on another day shows the date (dd/MM HH:mm)', () => {
    const v = classifySite(site({ connected: false, disconnectedAt: vn(2025, 3, 8, 23, 15) }), NOW, policy);
    expect(v.reasons[0]!.message).toBe('offline since 08/03 23:15');
    expect(wordReason('vi', v.reasons[0]!, NOW)).toBe('mất kết nối từ 08/03 23:15');
  });

  it('days are Vietnamese days: 23:50 yesterday UTC+7 is not "today" just after local midnight, though the UTC date is the same', () => {
    const now = vn(2025, 3, 10, 0, 10); // 2025-03-09 17:10 UTC
    const since = vn(2025, 3, 9, 23, 50); // 2025-03-09 16:50 UTC — same UTC day
    const v = classifySite(site({ connected: false, disconnectedAt: since }), now, policy);
    expect(v.reasons[0]!.message).toBe('offline since 09/03 23:50');
    // And 00:05 local the same night is today although its UTC date is the previous day.
    expect(formatSince(vn(2025, 3, 10, 0, 5), now, 'Asia/Ho_Chi_Minh')).toBe('00:05');
  });

  it('formats correctly across a DST change and in half-hour zones', () => {
    const now = Date.UTC(2025, 2, 30, 12, 0);
    expect(formatSince(Date.UTC(2025, 2, 30, 0, 59), now, 'Europe/Berlin')).toBe('01:59');
    expect(formatSince(Date.UTC(2025, 2, 30, 1, 0), now, 'Europe/Berlin')).toBe('03:00');
    expect(formatSince(Date.UTC(2025, 2, 30, 0, 30), now, 'Asia/Kolkata')).toBe('06:00');
    expect(formatSince(Date.UTC(2025, 2, 29, 18, 29), now, 'Asia/Kolkata')).toBe('29/03 23:59');
  });

  it('formats in the policy zone', () => {
    const v = classifySite(site({ connected: false, disconnectedAt: Date.UTC(2025, 2, 10, 7, 2) }), NOW, { ...policy, timeZone: 'UTC' });
    expect(v.reasons[0]!.message).toBe('offline since 07:02');
  });
});

describe('faulty', () => {
  it.each([
    ['overheat', 'amplifier fault: overheat', 'bộ khuếch đại bị lỗi: quá nhiệt'],
    ['overload', 'amplifier fault: overload', 'bộ khuếch đại bị lỗi: quá tải'],
    ['no_response', 'amplifier fault: no response', 'bộ khuếch đại bị lỗi: không phản hồi'],
  ] as const)('an amplifier fault %s makes the site faulty', (fault, en, vi) => {
    const t = telemetry({ amplifier: { on: true, volume: 70, fault, temperatureC: 60 } });
    const v = classifySite(site({ telemetry: t }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons[0]).toMatchObject({ code: 'amplifier_fault', severity: 'faulty', message: en, params: { fault } });
    expect(wordReason('vi', v.reasons[0]!, NOW)).toBe(vi);
  });

  it('when every speaker line is open or short, no line works: faulty, with each line listed', () => {
    const t = telemetry({
      lines: [
        { id: 1, status: 'open', impedanceOhm: null, nominalOhm: 8 },
        { id: 2, status: 'short', impedanceOhm: 0.1, nominalOhm: 8 },
      ],
    });
    const v = classifySite(site({ telemetry: t }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons.map((r) => [r.code, r.severity])).toEqual([
      ['no_working_line', 'faulty'],
      ['line_open', 'faulty'],
      ['line_short', 'faulty'],
    ]);
    expect(v.reasons[0]!.params).toEqual({ lines: 2, open: 1, short: 1 });
    expect(wordReason('vi', v.reasons[0]!, NOW)).toBe('không đường loa nào hoạt động (hỏng 2/2)');
  });

  it('battery below critical is faulty (about to go dark); exactly critical is only degraded', () => {
    const low = telemetry({ power: { source: 'battery', mainsOk: false, batteryPct: 14 } });
    const v = classifySite(site({ telemetry: low }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons[0]).toMatchObject({ code: 'battery_critical', message: 'battery critical 14%' });
    const edge = telemetry({ power: { source: 'battery', mainsOk: false, batteryPct: 15 } });
    expect(classifySite(site({ telemetry: edge }), NOW, policy)).toMatchObject({ condition: 'degraded', reasons: [{ code: 'on_battery' }] });
  });

  it('a solar site with a nearly empty battery is faulty too', () => {
    const t = telemetry({ power: { source: 'solar', mainsOk: null, batteryPct: 5 } });
    expect(codes(site({ telemetry: t }))).toEqual(['battery_critical']);
    const ok = telemetry({ power: { source: 'solar', mainsOk: null, batteryPct: 60 } });
    expect(codes(site({ telemetry: ok }))).toEqual([]);
  });

  it('an unreachable amplifier (the main device) is faulty; an unreachable accessory only degraded', () => {
    const amp = telemetry({ devices: [{ id: 'amp0', kind: 'amplifier', reachable: false, error: 'i2c timeout' }] });
    const v = classifySite(site({ telemetry: amp }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons[0]).toMatchObject({
      code: 'device_unreachable',
      params: { device: 'amp0', kind: 'amplifier', error: 'i2c timeout' },
    });
    // What edge agents actually report: the device controller / the board itself.
    for (const kind of ['controller', 'board']) {
      const t = telemetry({ amplifier: null, lines: [], devices: [{ id: 'dev0', kind, reachable: false }] });
      expect(classifySite(site({ telemetry: t }), NOW, policy).condition).toBe('faulty');
    }
    const sensor = telemetry({ devices: [{ id: 't0', kind: 'temp_sensor', reachable: false }] });
    expect(classifySite(site({ telemetry: sensor }), NOW, policy).condition).toBe('degraded');
  });

  it('a sound check that heard nothing makes a site with healthy telemetry faulty', () => {
    const at = vn(2025, 3, 10, 9, 0);
    const v = classifySite(site({ lastSoundCheck: { at, ok: false, levelDb: 12 } }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons).toEqual([
      {
        code: 'sound_check_failed',
        severity: 'faulty',
        params: { at, levelDb: 12 },
        message: 'sound check heard nothing at 09:00',
      },
    ]);
  });

  it('a failed check reported only in telemetry counts too, and a later success clears it', () => {
    const at = NOW - HOUR;
    const t = telemetry({ lastSoundCheck: { at, ok: false, levelDb: null } });
    expect(codes(site({ telemetry: t, lastSoundCheck: null }))).toEqual(['sound_check_failed']);
    expect(codes(site({ telemetry: t, lastSoundCheck: { at: at + MIN, ok: true, levelDb: 70 }, lastSoundVerifiedAt: at + MIN }))).toEqual([]);
  });

  it('an agent without an audio output (heartbeat-only) is faulty whatever else it reports; one that plays, or predates the field, is not', () => {
    const v = classifySite(site({ telemetry: telemetry({ canPlay: false }) }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons).toEqual([
      {
        code: 'cannot_play',
        severity: 'faulty',
        params: {},
        message: 'cannot play: the agent has no audio output',
      },
    ]);
    expect(classifySite(site({ telemetry: telemetry({ canPlay: true }) }), NOW, policy).condition).toBe('operational');
    expect(classifySite(site(), NOW, policy).condition).toBe('operational');
    // Listed with the other faults; offline still wins over it (its telemetry is stale).
    const weak = telemetry({ canPlay: false, link: { type: '4g', signalDbm: -115 } });
    expect(codes(site({ telemetry: weak }))).toEqual(['cannot_play', 'weak_signal']);
    expect(codes(site({ telemetry: weak, connected: false }))).toEqual(['offline']);
  });

  it('faulty reasons come before degraded ones', () => {
    const t = telemetry({
      link: { type: '4g', signalDbm: -115 },
      amplifier: { on: true, volume: 70, fault: 'overheat', temperatureC: 90 },
    });
    const v = classifySite(site({ telemetry: t }), NOW, policy);
    expect(v.condition).toBe('faulty');
    expect(v.reasons.map((r) => r.severity)).toEqual(['faulty', 'degraded']);
  });
});

describe('degraded', () => {
  it('some speaker lines open or short: one reason per line, in Vietnamese with diacritics', () => {
    const t = telemetry({
      lines: [
        { id: 1, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
        { id: 2, status: 'open', impedanceOhm: null, nominalOhm: 8 },
        { id: 3, status: 'short', impedanceOhm: 0, nominalOhm: 8 },
      ],
    });
    const v = classifySite(site({ telemetry: t }), NOW, policy);
    expect(v.condition).toBe('degraded');
    expect(v.reasons.map((r) => [r.code, r.params, r.message, wordReason('vi', r, NOW)])).toEqual([
      ['line_open', { line: 2, status: 'open' }, 'speaker line 2 open', 'đường loa 2 bị hở mạch'],
      ['line_short', { line: 3, status: 'short' }, 'speaker line 3 short', 'đường loa 3 bị chập mạch'],
    ]);
  });

  it('failed lines next to lines of unknown status are degraded, not faulty (nobody knows none works)', () => {
    const t = telemetry({
      lines: [
        { id: 1, status: 'unknown', impedanceOhm: null, nominalOhm: 8 },
        { id: 2, status: 'open', impedanceOhm: null, nominalOhm: 8 },
      ],
    });
    expect(classifySite(site({ telemetry: t }), NOW, policy).condition).toBe('degraded');
  });

  it('on battery with mains lost above critical', () => {
    const t = telemetry({ power: { source: 'battery', mainsOk: false, batteryPct: 31 } });
    expect(classifySite(site({ telemetry: t }), NOW, policy).reasons).toEqual([
      { code: 'on_battery', severity: 'degraded', params: { batteryPct: 31, source: 'battery' }, message: 'on battery 31%' },
    ]);
    const mainsLost = telemetry({ power: { source: 'unknown', mainsOk: false, batteryPct: null } });
    expect(classifySite(site({ telemetry: mainsLost }), NOW, policy).reasons[0]).toMatchObject({ message: 'on battery' });
  });

  it('weak signal below the policy threshold; at the threshold is fine', () => {
    const weak = telemetry({ link: { type: '3g', signalDbm: -111 } });
    expect(classifySite(site({ telemetry: weak }), NOW, policy).reasons[0]).toMatchObject({
      code: 'weak_signal',
    });
    expect(codes(site({ telemetry: telemetry({ link: { type: '3g', signalDbm: -110 } }) }))).toEqual([]);
    expect(codes(site({ telemetry: telemetry({ link: { type: 'ethernet', signalDbm: null } }) }))).toEqual([]);
  });

  it('a hot amplifier without a fault yet is degraded', () => {
    const t = telemetry({ amplifier: { on: true, volume: 70, fault: 'none', temperatureC: 80 } });
    expect(classifySite(site({ telemetry: t }), NOW, policy).reasons[0]).toMatchObject({ code: 'amplifier_hot' });
  });

  it('a cluster with a monitoring mic whose sound was never verified', () => {
    const v = classifySite(site({ lastSoundVerifiedAt: null, lastSoundCheck: null, telemetry: telemetry({ lastSoundCheck: null }) }), NOW, policy);
    expect(v.condition).toBe('degraded');
    expect(v.reasons).toEqual([{ code: 'sound_not_verified', severity: 'degraded', params: { since: null }, message: 'sound never verified' }]);
  });

  it('sound verified longer ago than soundMaxAgeMs → "not verified since dd/MM HH:mm"; exactly at the limit is fine', () => {
    const at = NOW - policy.soundMaxAgeMs - 1;
    const v = classifySite(site({ lastSoundVerifiedAt: at, lastSoundCheck: { at, ok: true, levelDb: 70 } }), NOW, policy);
    expect(v.reasons[0]).toMatchObject({
      code: 'sound_not_verified',
      params: { since: at },
      message: 'sound not verified since 03/03 14:29',
    });
    const edge = NOW - policy.soundMaxAgeMs;
    expect(codes(site({ lastSoundVerifiedAt: edge, lastSoundCheck: { at: edge, ok: true, levelDb: 70 } }))).toEqual([]);
  });

  it('the monitoring-mic rule uses the telemetry flag, or the registry before any telemetry', () => {
    // Agent reports a mic the registry does not know of.
    expect(codes(site({ expectsMonitorMic: false, lastSoundVerifiedAt: null, lastSoundCheck: null, telemetry: telemetry({ lastSoundCheck: null }) }))).toEqual([
      'sound_not_verified',
    ]);
    // No telemetry yet: registry says mic.
    expect(codes(site({ telemetry: null, lastSoundVerifiedAt: null, lastSoundCheck: null }))).toEqual(['sound_not_verified']);
    // No mic anywhere: nothing to verify with.
    expect(codes(site({ telemetry: telemetry({ monitorMic: false, lastSoundCheck: null }), expectsMonitorMic: false, lastSoundVerifiedAt: null, lastSoundCheck: null }))).toEqual(
      [],
    );
  });

  it('a registered mic the agent does not report is degraded', () => {
    const t = telemetry({ monitorMic: false });
    expect(classifySite(site({ telemetry: t }), NOW, policy).reasons[0]).toMatchObject({
      code: 'monitor_mic_unavailable',
    });
  });

  it('a failed check is not also reported as "not verified"', () => {
    expect(codes(site({ lastSoundVerifiedAt: null, lastSoundCheck: { at: NOW - HOUR, ok: false, levelDb: null } }))).toEqual(['sound_check_failed']);
  });

  it('every reason carries a code the console words, English for API clients, and raw params (no Vietnamese prose from the server)', () => {
    const t = telemetry({
      link: { type: '2g', signalDbm: -120 },
      power: { source: 'battery', mainsOk: false, batteryPct: 40 },
      lines: [
        { id: 1, status: 'ok', impedanceOhm: 8, nominalOhm: 8 },
        { id: 2, status: 'open', impedanceOhm: null, nominalOhm: 8 },
      ],
    });
    const v = classifySite(site({ telemetry: t, lastSoundVerifiedAt: null, lastSoundCheck: null }), NOW, policy);
    expect(v.reasons.length).toBe(4);
    for (const r of v.reasons) {
      expect(r.message.length).toBeGreaterThan(0);
      expect(r).not.toHaveProperty('messageVi');
      expect((SITE_REASON_CODES as readonly string[]).includes(r.code), r.code).toBe(true);
      expect(wordReason('vi', r, NOW).normalize('NFC')).not.toBe(r.code);
      expect(typeof r.params).toBe('object');
    }
  });
});
