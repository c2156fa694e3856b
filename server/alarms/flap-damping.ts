/**
 * Flap damping: a site going offline and online every minute is ONE alarm
 * with a count, not sixty, and a glitch of a few seconds is no alarm at all.
 * Pure decisions over one alarm and the clock passed in; the engine applies
 * them (alarm-engine.ts).
 *
 * Two delays, both per alarm:
 *
 *  - pending (before an alarm shows): a fault first seen at `detectedAt`
 *    shows at `detectedAt + pendingMs(kind)` if it is present then, or if it
 *    came back in between (a fault that returns is not a glitch, however
 *    short each time). One that went and stayed away for the hold-down is
 *    dropped without a trace. The delay is per kind: where the verdict itself
 *    already waited (offline = two missed heartbeats) it is zero.
 *
 *  - hold-down (before a clear is final): a fault that goes away at t leaves
 *    its alarm open, marked inactive; at t + holdDownMs without a return the
 *    alarm is cleared. A return within the hold-down reopens the same alarm
 *    and adds one to its count, keeping who acknowledged it: it is the same
 *    fault, and whoever owns it still does.
 *
 * Nothing here decides who is told when: the notification delay of a rule
 * (a 4G cluster that drops for 30 s wakes nobody) is the notification rules'
 * own, counted from the alarm's raisedAt, and `count` tells them it flaps.
 *
 * While a site is offline its other alarms are held (neither shown nor
 * cleared, no clock running): nothing it reported before going dark is known
 * to be repaired. Their hold-down counts from when it is back online.
 */
import { type Alarm, type AlarmKind, ALARM_KINDS } from './model.ts';

export interface DampingPolicy {
  /** A fault absent this long is over; one back within it is the same alarm, count + 1. */
  holdDownMs: number;
  /** Delay before a newly seen fault shows, when its kind has none of its own. */
  defaultPendingMs: number;
  pendingMsByKind: Partial<Record<AlarmKind, number>>;
}

/**
 * Defaults, for agents that report every 30 s (the heartbeat) and a verdict
 * that calls a silent site offline after two missed heartbeats (60 s):
 *
 *  - holdDownMs 5 min: ten heartbeats in a row. A link that holds for less
 *    has not been repaired, it is flapping; 5 min is also short enough that a
 *    site repaired for real shows cleared before the technician leaves it.
 *  - pending 0 by default: a fault report (amplifier fault, sound check
 *    failed, no audio output) is a fact, not a measurement that wobbles, and
 *    offline already waited 60 s in the verdict; configuration not applied
 *    has its own grace period in site-config, sound not verified its 7 days.
 *  - speaker_line and power 60 s (two heartbeats): one line measurement can
 *    be noise, and rural mains drop for seconds many times a day.
 *  - amplifier_hot 2 min: the temperature hovers around the threshold.
 *  - weak_signal 10 min: 4G signal moves with weather and load; only a
 *    lasting weak signal is worth a visit.
 */
export const DEFAULT_DAMPING_POLICY: DampingPolicy = {
  holdDownMs: 5 * 60_000,
  defaultPendingMs: 0,
  pendingMsByKind: {
    speaker_line: 60_000,
    power: 60_000,
    amplifier_hot: 2 * 60_000,
    weak_signal: 10 * 60_000,
  },
};

export function pendingMsOf(kind: AlarmKind, policy: DampingPolicy): number {
  return policy.pendingMsByKind[kind] ?? policy.defaultPendingMs;
}

/** Whether the policy is usable: non-negative finite delays for known kinds. */
export function validDampingPolicy(policy: DampingPolicy): boolean {
  const ok = (n: number) => Number.isFinite(n) && n >= 0;
  if (!ok(policy.holdDownMs) || !ok(policy.defaultPendingMs)) return false;
  return Object.entries(policy.pendingMsByKind).every(([k, v]) => (ALARM_KINDS as readonly string[]).includes(k) && typeof v === 'number' && ok(v));
}

/**
 * Where the site of an alarm stands: online (since when, null when not
 * known), offline (its other alarms held), or unknown: no verdict since the
 * server started, so its alarms restored from the store are neither shown
 * nor cleared until the fleet says how it is.
 */
export type SiteLiveness = { state: 'online'; since: number | null } | { state: 'offline' } | { state: 'unknown' };

/** What time alone does to an alarm at `now`: show it, clear it, drop it (pending, never shown), or nothing. */
export type DueAction = 'surface' | 'clear' | 'drop' | null;

/**
 * Whether the site's state holds this alarm still (see the top of this file).
 * A failed update is not the verdict's: the updates service says when it is
 * over, whatever the site's link does.
 */
export function isHeld(alarm: Alarm, site: SiteLiveness): boolean {
  if (alarm.kind === 'update_failed' || site.state === 'online') return false;
  return site.state === 'unknown' || alarm.kind !== 'site_offline';
}

/** When the hold-down of an inactive alarm ends (from its absence, or from the site's return, whichever is later); null if it is active or held. */
export function holdDownEndsAt(alarm: Alarm, site: SiteLiveness, policy: DampingPolicy): number | null {
  if (alarm.active || alarm.inactiveSince === null || isHeld(alarm, site)) return null;
  const from = site.state === 'online' ? Math.max(alarm.inactiveSince, site.since ?? alarm.inactiveSince) : alarm.inactiveSince;
  return from + policy.holdDownMs;
}

/** When a pending alarm may show; null if it is not pending, or held. */
export function surfacesAt(alarm: Alarm, site: SiteLiveness, policy: DampingPolicy): number | null {
  if (alarm.state !== 'pending' || isHeld(alarm, site)) return null;
  if (!alarm.active && alarm.count < 2) return null;
  return alarm.detectedAt + pendingMsOf(alarm.kind, policy);
}

/** The next moment at which time alone changes this alarm, or null (it waits for an event). */
export function nextDueAt(alarm: Alarm, site: SiteLiveness, policy: DampingPolicy): number | null {
  if (alarm.state === 'cleared') return null;
  const s = surfacesAt(alarm, site, policy);
  const h = holdDownEndsAt(alarm, site, policy);
  if (s === null) return h;
  if (h === null) return s;
  return Math.min(s, h);
}

/**
 * What is due for `alarm` at `now`. A pending alarm that may show shows, even
 * if its hold-down ended at the same moment: it came back at least once.
 */
export function dueAction(alarm: Alarm, site: SiteLiveness, now: number, policy: DampingPolicy): DueAction {
  if (alarm.state === 'cleared') return null;
  const s = surfacesAt(alarm, site, policy);
  if (s !== null && now >= s) return 'surface';
  const h = holdDownEndsAt(alarm, site, policy);
  if (h !== null && now >= h) return alarm.state === 'pending' ? 'drop' : 'clear';
  return null;
}
