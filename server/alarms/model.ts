/**
 * The nouns of technicians' alarms, shared by the pure modules of this folder
 * (rules, lifecycle, damping, incidents, area summary, engine). Pure types and
 * tables: no I/O, no clock. Everything a person reads is a code with
 * parameters (the console words it), never prose.
 */
import type { SiteReasonCode } from '../../api/coverage.ts';
import type { SiteKind } from '../registry/model.ts';

/** Worst first. See alarm-rules.ts for what each means and why a kind gets one. */
export const ALARM_SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

/** Higher is worse. */
export const SEVERITY_RANK: Record<AlarmSeverity, number> = { warning: 0, minor: 1, major: 2, critical: 3 };

export function worseSeverity(a: AlarmSeverity, b: AlarmSeverity): AlarmSeverity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

/** One level worse, critical stays critical. */
export function oneLevelUp(s: AlarmSeverity): AlarmSeverity {
  return s === 'warning' ? 'minor' : s === 'minor' ? 'major' : 'critical';
}

/**
 * What is wrong, one alarm per site and kind (the alarm key). Several reason
 * codes of the verdict can feed one kind: every speaker line of a site is one
 * `speaker_line` alarm, and mains lost then battery critical is one `power`
 * alarm whose severity rises, because a technician fixes one thing for each.
 */
export const ALARM_KINDS = [
  'site_offline',
  'no_audio_output',
  'amplifier_fault',
  'amplifier_hot',
  'speaker_line',
  'power',
  'weak_signal',
  'device_unreachable',
  'sound_check_failed',
  'monitor_mic',
  'sound_not_verified',
  'config_not_applied',
  'update_failed',
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

/**
 * Kinds that come from outside the site's verdict: the service passes them in
 * (the updates service knows a site's update failed; coverage does not).
 */
export const EXTERNAL_ALARM_KINDS: ReadonlySet<AlarmKind> = new Set<AlarmKind>(['update_failed']);

/** A verdict's reason codes, plus the ones of external faults. */
export type AlarmReasonCode = SiteReasonCode | 'update_failed';

/** A reason as coverage gives it, without its English message: the console words code + params. */
export interface AlarmReason {
  code: AlarmReasonCode;
  params: Record<string, string | number | null>;
}

/** A fault the verdict does not carry, given by the service (today: a failed update of the site). */
export interface ExternalFault {
  kind: 'update_failed';
  /** e.g. { rolloutId, release, reason } as the updates service records them. */
  params: Record<string, string | number | null>;
}

/** What the alarms need to know of a site. */
export interface AlarmSite {
  siteId: string;
  kind: SiteKind;
  areaId: number;
}

/**
 * pending: the fault is seen but not yet shown (a short glitch must not make
 * an alarm; see flap-damping.ts); raised: shown, nobody owns it yet;
 * acknowledged: a person said they own it; cleared: over, final. A fault seen
 * again after its alarm is cleared makes a new alarm with the same key.
 */
export type AlarmState = 'pending' | 'raised' | 'acknowledged' | 'cleared';
export const OPEN_STATES: ReadonlySet<AlarmState> = new Set<AlarmState>(['pending', 'raised', 'acknowledged']);
/** The states counted and shown: raised or acknowledged, whether or not the fault is present right now. */
export type VisibleState = 'raised' | 'acknowledged';

export type ClearCause = 'condition_cleared' | 'manual' | 'site_removed';

export interface Alarm {
  id: string;
  /** `siteId/kind`: the same fault of the same site is one alarm. */
  key: string;
  siteId: string;
  siteKind: SiteKind;
  areaId: number;
  kind: AlarmKind;
  severity: AlarmSeverity;
  /** The reasons as of the last change of their identity (see alarm-rules.ts reasonIdentity). */
  reasons: AlarmReason[];
  state: AlarmState;
  /** When the fault was first seen (the pending delay counts from here). */
  detectedAt: number;
  /** When the alarm was shown (left pending); null while pending. */
  raisedAt: number | null;
  updatedAt: number;
  /** Occurrences: 1, plus one for every return of the fault within the hold-down (a flapping site). */
  count: number;
  /** Whether the fault is present in what the server last saw. */
  active: boolean;
  /** Since when the fault has been absent (the hold-down counts from here); null while active. */
  inactiveSince: number | null;
  acknowledged: { at: number; by: string; note: string | null } | null;
  cleared: { at: number; cause: ClearCause; by: string | null; note: string | null } | null;
  /** The incident this alarm is a child of. */
  incidentId: string | null;
}

export function alarmKey(siteId: string, kind: AlarmKind): string {
  return `${siteId}/${kind}`;
}

export function isVisible(a: Alarm): a is Alarm & { state: VisibleState } {
  return a.state === 'raised' || a.state === 'acknowledged';
}

/** One row of an alarm's history: lifecycle transitions only (a flap changes `count` on the alarm, the fleet's site_events keep the timeline). */
export type AlarmHistoryEvent = { alarmId: string; at: number; count: number } & (
  | { type: 'raised'; severity: AlarmSeverity; reasons: AlarmReason[] }
  | { type: 'acknowledged'; by: string; note: string | null }
  | { type: 'severity_changed'; from: AlarmSeverity; to: AlarmSeverity; reasons: AlarmReason[] }
  | { type: 'reasons_changed'; reasons: AlarmReason[] }
  | { type: 'cleared'; cause: ClearCause; by: string | null; note: string | null }
);

/** Why a person's action on an alarm was refused: a code the console words, never prose. */
export type AlarmErrorCode = 'ALARM_NOT_FOUND' | 'ALARM_NOT_RAISED' | 'ALARM_ALREADY_ACKNOWLEDGED' | 'ALARM_ALREADY_CLEARED' | 'ALARM_CONDITION_ACTIVE' | 'ALARM_NOTE_REQUIRED';

export interface AlarmError {
  code: AlarmErrorCode;
  alarmId: string;
}

export type AlarmResult<T> = { ok: true; value: T } | { ok: false; error: AlarmError };
