import { describe, expect, it } from 'vitest';
import { SITE_REASON_CODES } from '../../api/coverage.ts';
import { DEFAULT_COVERAGE_POLICY, type SiteObservation, type SiteVerdict } from '../../server/coverage/model.ts';
import { classifySite } from '../../server/coverage/site-condition.ts';
import type { TelemetryMessage } from '../../protocol/index.ts';
import type { SiteKind } from '../../server/registry/model.ts';
import { KIND_OF_REASON, reasonIdentity, reasonSeverity, sameReasonIdentity, wantedAlarms } from '../../server/alarms/alarm-rules.ts';
import { ALARM_KINDS } from '../../server/alarms/model.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';

const NOW = Date.UTC(2026, 11, 5, 3, 0);

/** A site heard a minute ago, with this telemetry: the verdict coverage gives it. */
function verdictOf(kind: SiteKind, tel: Partial<TelemetryMessage> = {}, over: Partial<SiteObservation> = {}): SiteVerdict {
  const obs: SiteObservation = {
    siteId: 'S1',
    name: 'S1',
    kind,
    areaId: 1,
    firstSeenAt: NOW - 86_400_000,
    lastSeenAt: NOW - 10_000,
    connected: true,
    disconnectedAt: null,
    intervalS: 30,
    telemetry: healthyTelemetry('S1', 1, tel),
    lastSoundVerifiedAt: null,
    lastSoundCheck: null,
    expectsMonitorMic: false,
    ...over,
  };
  return classifySite(obs, NOW, DEFAULT_COVERAGE_POLICY);
}

const twoLines = (a: 'ok' | 'open' | 'short', b: 'ok' | 'open' | 'short') => ({
  lines: [
    { id: 1, status: a, impedanceOhm: null, nominalOhm: 8 },
    { id: 2, status: b, impedanceOhm: null, nominalOhm: 8 },
  ],
});

describe('alarm rules: from a verdict to the alarms a site should have', () => {
  it('a healthy site has none, and a site never heard has none (it is not a failure of something that worked)', () => {
    expect(wantedAlarms('cluster', verdictOf('cluster')).size).toBe(0);
    const never = verdictOf('cluster', {}, { firstSeenAt: null, lastSeenAt: null });
    expect(never.condition).toBe('unverified');
    expect(wantedAlarms('cluster', never).size).toBe(0);
  });

  it('one speaker line open is a minor speaker_line alarm naming the line; every line failed is major', () => {
    const one = wantedAlarms('cluster', verdictOf('cluster', twoLines('open', 'ok')));
    expect([...one.keys()]).toEqual(['speaker_line']);
    expect(one.get('speaker_line')).toEqual({ kind: 'speaker_line', severity: 'minor', reasons: [{ code: 'line_open', params: { line: 1, status: 'open' } }] });

    const all = wantedAlarms('cluster', verdictOf('cluster', twoLines('open', 'short'))).get('speaker_line')!;
    expect(all.severity).toBe('major');
    expect(all.reasons.map((r) => r.code)).toEqual(['no_working_line', 'line_open', 'line_short']);
  });

  it('amplifier overheat is a major amplifier_fault with its temperature; merely hot is minor amplifier_hot', () => {
    const fault = wantedAlarms('cluster', verdictOf('cluster', { amplifier: { on: true, volume: 70, fault: 'overheat', temperatureC: 91 } }));
    expect(fault.get('amplifier_fault')).toEqual({
      kind: 'amplifier_fault',
      severity: 'major',
      reasons: [{ code: 'amplifier_fault', params: { fault: 'overheat', temperatureC: 91 } }],
    });
    const hot = wantedAlarms('cluster', verdictOf('cluster', { amplifier: { on: true, volume: 70, fault: 'none', temperatureC: 80 } }));
    expect(hot.get('amplifier_hot')?.severity).toBe('minor');
    expect(hot.has('amplifier_fault')).toBe(false);
  });

  it('mains lost is a minor power alarm; the same alarm kind goes major when the battery is critical', () => {
    const mains = wantedAlarms('cluster', verdictOf('cluster', { power: { source: 'battery', mainsOk: false, batteryPct: 80 } })).get('power')!;
    expect(mains.severity).toBe('minor');
    expect(mains.reasons).toEqual([{ code: 'on_battery', params: { batteryPct: 80, source: 'battery' } }]);
    const critical = wantedAlarms('cluster', verdictOf('cluster', { power: { source: 'battery', mainsOk: false, batteryPct: 9 } })).get('power')!;
    expect(critical.severity).toBe('major');
    expect(critical.reasons[0]!.code).toBe('battery_critical');
  });

  it('an offline village cluster is major, an offline commune station critical; offline carries nothing else', () => {
    const off = { connected: false, disconnectedAt: NOW - 120_000 };
    const cluster = wantedAlarms('cluster', verdictOf('cluster', twoLines('open', 'ok'), off));
    expect([...cluster.keys()]).toEqual(['site_offline']);
    expect(cluster.get('site_offline')!.severity).toBe('major');
    expect(cluster.get('site_offline')!.reasons).toEqual([{ code: 'offline', params: { since: NOW - 120_000, cause: 'disconnected' } }]);
    expect(wantedAlarms('station', verdictOf('station', {}, off)).get('site_offline')!.severity).toBe('critical');
  });

  it('a station is one level worse than a cluster for every reason, critical staying critical', () => {
    for (const code of [...SITE_REASON_CODES, 'update_failed' as const]) {
      const c = reasonSeverity({ code }, 'cluster');
      const s = reasonSeverity({ code }, 'station');
      const up = { warning: 'minor', minor: 'major', major: 'critical', critical: 'critical' } as const;
      expect(s, code).toBe(up[c]);
    }
  });

  it('sound not verified, weak signal and a missing monitoring mic are warnings; a failed sound check is major', () => {
    const mic = verdictOf('cluster', { monitorMic: true, link: { type: '4g', signalDbm: -118 } });
    const w = wantedAlarms('cluster', mic);
    expect(w.get('sound_not_verified')?.severity).toBe('warning');
    expect(w.get('weak_signal')?.severity).toBe('warning');
    const failed = verdictOf('cluster', { monitorMic: true }, { lastSoundCheck: { at: NOW - 60_000, ok: false, levelDb: -80 } });
    expect(wantedAlarms('cluster', failed).get('sound_check_failed')?.severity).toBe('major');
  });

  it('an unreachable device the site cannot play without is major, a sensor is a warning', () => {
    const v = verdictOf('cluster', {
      devices: [
        { id: 'amp1', kind: 'amplifier', reachable: false },
        { id: 't1', kind: 'sensor', reachable: false },
      ],
    } as Partial<TelemetryMessage>);
    const a = wantedAlarms('cluster', v).get('device_unreachable')!;
    expect(a.severity).toBe('major');
    expect(a.reasons.map((r) => r.params.device)).toEqual(['amp1', 't1']);
    const sensorOnly = verdictOf('cluster', { devices: [{ id: 't1', kind: 'sensor', reachable: false }] } as Partial<TelemetryMessage>);
    expect(wantedAlarms('cluster', sensorOnly).get('device_unreachable')!.severity).toBe('warning');
  });

  it('configuration not applied (from the verdict) and update failed (given by the service) are minor', () => {
    const stale = verdictOf('cluster', {}, { expectedConfig: { revision: 4, hash: 'h4', dueAt: NOW - 1 } });
    expect(wantedAlarms('cluster', stale).get('config_not_applied')).toEqual({
      kind: 'config_not_applied',
      severity: 'minor',
      reasons: [{ code: 'config_stale', params: { applied: null, expected: 4 } }],
    });
    const upd = wantedAlarms('cluster', verdictOf('cluster'), [{ kind: 'update_failed', params: { rolloutId: 'r1', release: '1.4.0', reason: 'rolled_back' } }]);
    expect(upd.get('update_failed')).toEqual({
      kind: 'update_failed',
      severity: 'minor',
      reasons: [{ code: 'update_failed', params: { rolloutId: 'r1', release: '1.4.0', reason: 'rolled_back' } }],
    });
  });

  it('every reason code feeds an alarm kind, and every kind but the external one is fed by some code', () => {
    for (const code of SITE_REASON_CODES) expect(ALARM_KINDS).toContain(KIND_OF_REASON[code]);
    const fed = new Set(Object.values(KIND_OF_REASON));
    expect(ALARM_KINDS.filter((k) => !fed.has(k))).toEqual(['update_failed']);
  });

  it("a reason's identity is which thing is wrong, not the measurement that moves with every heartbeat", () => {
    expect(reasonIdentity({ code: 'on_battery', params: { batteryPct: 80, source: 'battery' } })).toBe(
      reasonIdentity({ code: 'on_battery', params: { batteryPct: 79, source: 'battery' } }),
    );
    expect(reasonIdentity({ code: 'line_open', params: { line: 1, status: 'open' } })).not.toBe(reasonIdentity({ code: 'line_open', params: { line: 2, status: 'open' } }));
    const a = [
      { code: 'line_open' as const, params: { line: 1, status: 'open' } },
      { code: 'line_open' as const, params: { line: 2, status: 'open' } },
    ];
    expect(sameReasonIdentity(a, [...a].reverse())).toBe(true);
    expect(sameReasonIdentity(a, a.slice(0, 1))).toBe(false);
  });
});
