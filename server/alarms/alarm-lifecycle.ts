/**
 * One alarm's state machine. Every transition is a pure function from the
 * alarm (and what happened, at a time passed in) to the new alarm and the
 * history rows to store; a person's action that is not allowed returns a
 * typed error code instead of throwing.
 *
 *                fault seen
 *                    │
 *                    ▼
 *               ┌─────────┐  fault gone for the hold-down
 *               │ pending │ ─────────────────────────────▶ dropped (never shown, no history)
 *               └─────────┘
 *                    │ pending delay over (flap-damping.ts)
 *                    ▼
 *               ┌─────────┐  acknowledge (who, when, note)  ┌──────────────┐
 *               │ raised  │ ──────────────────────────────▶ │ acknowledged │
 *               └─────────┘                                 └──────────────┘
 *                    │  fault gone for the hold-down, or cleared by hand │
 *                    │  (who, a note) when the fault is not seen now     │
 *                    ▼                                                   ▼
 *               ┌───────────────────────────────────────────────────────────┐
 *               │ cleared (final)                                           │
 *               └───────────────────────────────────────────────────────────┘
 *
 * Orthogonal to the state, `active` says whether the fault is present now.
 * A fault that goes away marks the alarm inactive (its hold-down starts); one
 * that returns before the hold-down ends reopens the same alarm, count + 1,
 * in the same state (acknowledged stays acknowledged: the same person owns
 * the same fault). After the final clear, the fault seen again is a new
 * alarm with the same key.
 *
 * Cleared by hand while the server still sees the fault: refused
 * (ALARM_CONDITION_ACTIVE). The server's proof beats a click, as for work
 * orders (a work order closed by a click while the site is still faulty
 * stays open): clearing it would only raise a new alarm at the next verdict,
 * losing the acknowledgement and the count. The person acknowledges it
 * instead. A fault the server cannot see now (a site offline holds its other
 * alarms) may be cleared by hand: the technician may have repaired it; if
 * the site returns with it, a new alarm says so.
 */
import { sameReasonIdentity, type WantedAlarm } from './alarm-rules.ts';
import { type Alarm, type AlarmError, type AlarmErrorCode, type AlarmHistoryEvent, type AlarmResult, type AlarmSite, alarmKey, type ClearCause, SEVERITY_RANK } from './model.ts';

export interface Transition {
  alarm: Alarm;
  history: AlarmHistoryEvent[];
}

const fail = <T>(code: AlarmErrorCode, alarm: Alarm): AlarmResult<T> => ({ ok: false, error: { code, alarmId: alarm.id } satisfies AlarmError });

const cleanNote = (note: string | null | undefined): string | null => {
  const t = note?.trim() ?? '';
  return t === '' ? null : t;
};

/** A fault seen for the first time (or again after its alarm was cleared): a new pending alarm. The damping decides when it shows. */
export function openAlarm(id: string, site: AlarmSite, wanted: WantedAlarm, at: number): Alarm {
  return {
    id,
    key: alarmKey(site.siteId, wanted.kind),
    siteId: site.siteId,
    siteKind: site.kind,
    areaId: site.areaId,
    kind: wanted.kind,
    severity: wanted.severity,
    reasons: wanted.reasons,
    state: 'pending',
    detectedAt: at,
    raisedAt: null,
    updatedAt: at,
    count: 1,
    active: true,
    inactiveSince: null,
    acknowledged: null,
    cleared: null,
    incidentId: null,
  };
}

/** pending → raised. */
export function surface(alarm: Alarm, at: number): AlarmResult<Transition> {
  if (alarm.state !== 'pending') return fail(alarm.state === 'cleared' ? 'ALARM_ALREADY_CLEARED' : 'ALARM_NOT_RAISED', alarm);
  const next: Alarm = { ...alarm, state: 'raised', raisedAt: at, updatedAt: at };
  return { ok: true, value: { alarm: next, history: [{ type: 'raised', alarmId: alarm.id, at, count: next.count, severity: next.severity, reasons: next.reasons }] } };
}

export interface PresentTransition extends Transition {
  /** The fault came back within the hold-down: count + 1. */
  reopened: boolean;
  /** The severity rose (the notification rules may want to tell again). */
  severityRaised: boolean;
}

/**
 * The fault is present at `at` with this severity and these reasons. Reopens
 * an inactive alarm (count + 1), follows the severity both ways, and replaces
 * the reasons when their identity changed (not for a moved measurement).
 * A visible alarm's severity or reasons change is a history row; a pending
 * one's is not (nobody saw it yet).
 */
export function faultPresent(alarm: Alarm, at: number, wanted: WantedAlarm): PresentTransition {
  if (alarm.state === 'cleared') return { alarm, history: [], reopened: false, severityRaised: false };
  const reopened = !alarm.active;
  const severityChanged = wanted.severity !== alarm.severity;
  const reasonsChanged = !sameReasonIdentity(alarm.reasons, wanted.reasons);
  if (!reopened && !severityChanged && !reasonsChanged) return { alarm, history: [], reopened: false, severityRaised: false };
  const next: Alarm = {
    ...alarm,
    active: true,
    inactiveSince: null,
    count: reopened ? alarm.count + 1 : alarm.count,
    severity: wanted.severity,
    reasons: severityChanged || reasonsChanged ? wanted.reasons : alarm.reasons,
    updatedAt: at,
  };
  const history: AlarmHistoryEvent[] = [];
  const visible = alarm.state !== 'pending';
  if (visible && severityChanged)
    history.push({ type: 'severity_changed', alarmId: alarm.id, at, count: next.count, from: alarm.severity, to: wanted.severity, reasons: next.reasons });
  else if (visible && reasonsChanged) history.push({ type: 'reasons_changed', alarmId: alarm.id, at, count: next.count, reasons: next.reasons });
  return { alarm: next, history, reopened, severityRaised: visible && SEVERITY_RANK[wanted.severity] > SEVERITY_RANK[alarm.severity] };
}

/** The fault is no longer seen at `at`: the alarm stays open, its hold-down starts. */
export function faultAbsent(alarm: Alarm, at: number): Alarm {
  if (alarm.state === 'cleared' || !alarm.active) return alarm;
  return { ...alarm, active: false, inactiveSince: at, updatedAt: at };
}

/** A person owns the alarm: raised → acknowledged. */
export function acknowledge(alarm: Alarm, at: number, by: string, note?: string | null): AlarmResult<Transition> {
  if (alarm.state === 'cleared') return fail('ALARM_ALREADY_CLEARED', alarm);
  if (alarm.state === 'acknowledged') return fail('ALARM_ALREADY_ACKNOWLEDGED', alarm);
  if (alarm.state === 'pending') return fail('ALARM_NOT_RAISED', alarm);
  const n = cleanNote(note);
  const next: Alarm = { ...alarm, state: 'acknowledged', acknowledged: { at, by, note: n }, updatedAt: at };
  return { ok: true, value: { alarm: next, history: [{ type: 'acknowledged', alarmId: alarm.id, at, count: next.count, by, note: n }] } };
}

/**
 * A person clears the alarm, with a note (what was done). `faultSeen`: the
 * server sees the fault now (an active alarm of a site it can see); then the
 * clear is refused, see the top of this file.
 */
export function clearByHand(alarm: Alarm, at: number, by: string, note: string | null | undefined, faultSeen: boolean): AlarmResult<Transition> {
  if (alarm.state === 'cleared') return fail('ALARM_ALREADY_CLEARED', alarm);
  if (alarm.state === 'pending') return fail('ALARM_NOT_RAISED', alarm);
  const n = cleanNote(note);
  if (n === null) return fail('ALARM_NOTE_REQUIRED', alarm);
  if (faultSeen) return fail('ALARM_CONDITION_ACTIVE', alarm);
  return { ok: true, value: clearNow(alarm, at, 'manual', by, n) };
}

/** The fault stayed away for the hold-down, or the site left the fleet: cleared, final. Not for pending alarms (those are dropped). */
export function clearAutomatically(alarm: Alarm, at: number, cause: Exclude<ClearCause, 'manual'>): Transition {
  if (alarm.state === 'cleared') return { alarm, history: [] };
  return clearNow(alarm, at, cause, null, null);
}

function clearNow(alarm: Alarm, at: number, cause: ClearCause, by: string | null, note: string | null): Transition {
  const next: Alarm = { ...alarm, state: 'cleared', cleared: { at, cause, by, note }, updatedAt: at };
  return { alarm: next, history: [{ type: 'cleared', alarmId: alarm.id, at, count: next.count, cause, by, note }] };
}

/** The site moved to another area or changed kind in the registry: the alarm follows it (no history: the registry audits the move). */
export function followSite(alarm: Alarm, site: AlarmSite): Alarm {
  if (alarm.areaId === site.areaId && alarm.siteKind === site.kind) return alarm;
  return { ...alarm, areaId: site.areaId, siteKind: site.kind };
}
