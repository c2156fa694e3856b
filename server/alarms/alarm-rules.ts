/**
 * From a site's verdict (coverage's condition and reasons) to the alarms that
 * should be active for it: which kinds, how severe, and with which reasons.
 * Pure: the verdict, the site's kind and the faults coverage does not see in,
 * a set of wanted alarms out; the engine compares it with the open alarms.
 *
 * Severities, for a village cluster (a commune station is one level worse):
 *
 *  - critical: reserved for what silences a commune-scale audience. A cluster
 *    alone never reaches it; a commune station does with any major fault,
 *    because the station is where the commune's operators speak from (record,
 *    go live) and its own speakers reach the commune centre, where most people
 *    live. An incident of many clusters can reach it too (incidents.ts).
 *  - major: a place cannot hear an alert now, or is about to stop hearing:
 *    offline, no audio output, amplifier fault, no working speaker line, a
 *    device the site cannot play without unreachable, the last sound check
 *    heard nothing, battery critical (on battery or solar, about to go dark).
 *  - minor: it still plays, but a part of it or its future is at risk: some
 *    speaker lines open or short (part of the village does not hear), mains
 *    lost (it plays on battery, for hours, not days), amplifier running hot,
 *    configuration not applied (it may listen to another area's channels), an
 *    update failed (the board rolled back and plays the previous release;
 *    had it not, the verdict would say offline or no audio output).
 *  - warning: worth a look on the next visit, never worth waking anyone: weak
 *    signal, sound not verified for a week, the monitoring mic missing, a
 *    device that is not needed to play (a sensor) unreachable.
 *
 * An offline site's verdict carries only 'offline' (its last telemetry is
 * stale): its other alarms are neither raised nor cleared by it, the engine
 * holds them until the site is back (alarm-engine.ts). A site never heard
 * ('unverified') has no alarm: it is a site nobody has proven yet, not a
 * failure of something that worked, and registering a site before it is
 * installed must not page anyone.
 *
 * 'update_failed' is not in the verdict today (coverage knows nothing of
 * rollouts): the service gives it as an ExternalFault from the updates
 * service's failed site records.
 */
import type { SiteReasonCode } from '../../api/coverage.ts';
import type { SiteVerdict } from '../coverage/model.ts';
import type { SiteKind } from '../registry/model.ts';
import { type AlarmKind, type AlarmReason, type AlarmSeverity, type ExternalFault, oneLevelUp, worseSeverity } from './model.ts';

/** Which alarm each reason code of a verdict feeds. Total: a new reason code does not compile until it has an alarm. */
export const KIND_OF_REASON: Record<SiteReasonCode, AlarmKind> = {
  offline: 'site_offline',
  cannot_play: 'no_audio_output',
  amplifier_fault: 'amplifier_fault',
  amplifier_hot: 'amplifier_hot',
  no_working_line: 'speaker_line',
  line_open: 'speaker_line',
  line_short: 'speaker_line',
  battery_critical: 'power',
  on_battery: 'power',
  weak_signal: 'weak_signal',
  device_unreachable: 'device_unreachable',
  sound_check_failed: 'sound_check_failed',
  monitor_mic_unavailable: 'monitor_mic',
  sound_not_verified: 'sound_not_verified',
  config_stale: 'config_not_applied',
};

/** A cluster's severity of each reason code (see the top of this file); the alarm takes its worst reason's. */
const CLUSTER_SEVERITY: Record<SiteReasonCode | 'update_failed', AlarmSeverity> = {
  offline: 'major',
  cannot_play: 'major',
  amplifier_fault: 'major',
  no_working_line: 'major',
  sound_check_failed: 'major',
  battery_critical: 'major',
  line_open: 'minor',
  line_short: 'minor',
  on_battery: 'minor',
  amplifier_hot: 'minor',
  config_stale: 'minor',
  update_failed: 'minor',
  weak_signal: 'warning',
  sound_not_verified: 'warning',
  monitor_mic_unavailable: 'warning',
  // Decided per reason from coverage's own split (CRITICAL_DEVICE_KINDS): see reasonSeverity.
  device_unreachable: 'warning',
};

/** The severity one reason alone gives an alarm of a site of `siteKind`. */
export function reasonSeverity(reason: { code: SiteReasonCode | 'update_failed'; severity?: 'degraded' | 'faulty' | 'offline' }, siteKind: SiteKind): AlarmSeverity {
  // Coverage already judged whether the unreachable device is one the site cannot play without (faulty) or not (degraded).
  const base = reason.code === 'device_unreachable' && reason.severity === 'faulty' ? 'major' : CLUSTER_SEVERITY[reason.code];
  return siteKind === 'station' ? oneLevelUp(base) : base;
}

/** An alarm the site's current state calls for. */
export interface WantedAlarm {
  kind: AlarmKind;
  severity: AlarmSeverity;
  reasons: AlarmReason[];
}

/**
 * The alarms `verdict` (and the external faults) call for, by kind, each
 * with the worst severity of its reasons and those reasons (code + params, in
 * the verdict's order: worst first).
 */
export function wantedAlarms(siteKind: SiteKind, verdict: SiteVerdict, external: readonly ExternalFault[] = []): Map<AlarmKind, WantedAlarm> {
  const out = new Map<AlarmKind, WantedAlarm>();
  // Never heard is not a fault (see the top of this file); operational has no reasons.
  if (verdict.condition !== 'unverified') {
    for (const r of verdict.reasons) addWanted(out, KIND_OF_REASON[r.code], reasonSeverity(r, siteKind), { code: r.code, params: { ...r.params } });
  }
  for (const f of external) addWanted(out, f.kind, reasonSeverity({ code: f.kind }, siteKind), { code: f.kind, params: { ...f.params } });
  return out;
}

// A function of its own, not a closure per call: wantedAlarms runs for every verdict of every site.
function addWanted(out: Map<AlarmKind, WantedAlarm>, kind: AlarmKind, severity: AlarmSeverity, reason: AlarmReason): void {
  const w = out.get(kind);
  if (!w) out.set(kind, { kind, severity, reasons: [reason] });
  else {
    w.severity = worseSeverity(w.severity, severity);
    w.reasons.push(reason);
  }
}

/**
 * The parameters that say WHICH thing is wrong (a line, a device, a kind of
 * amplifier fault, how a site went offline), as opposed to measurements that
 * move with every heartbeat (battery %, temperature, signal, times). An
 * alarm's reasons are replaced, and a history row written, only when this
 * identity changes: a battery draining one percent per heartbeat must not
 * rewrite the alarm every 30 s (its live value is on the site page).
 */
const IDENTITY_PARAMS = ['line', 'status', 'device', 'kind', 'fault', 'cause', 'source', 'expected', 'rolloutId', 'release'] as const;

export function reasonIdentity(r: AlarmReason): string {
  let id = r.code;
  for (const p of IDENTITY_PARAMS) if (p in r.params) id += `|${p}=${String(r.params[p])}`;
  return id;
}

export function sameReasonIdentity(a: readonly AlarmReason[], b: readonly AlarmReason[]): boolean {
  if (a.length !== b.length) return false;
  // The common case, one reason each, without sorting.
  if (a.length === 1) return reasonIdentity(a[0]!) === reasonIdentity(b[0]!);
  const x = a.map(reasonIdentity).sort();
  const y = b.map(reasonIdentity).sort();
  return x.every((v, i) => v === y[i]);
}
