/**
 * The nouns of "who is told" about technicians' alarms (issue 20, item 2):
 * notification rules, the people they reach, quiet hours, the alarm events
 * the rules listen to (a port: the alarms service feeds it, tests feed it by
 * hand) and what the rules decide. Pure types and tables: no I/O, no clock.
 */
import { type AlarmKind, type AlarmSeverity, SEVERITY_RANK } from '../alarms/model.ts';
import type { Role } from '../auth/users.ts';

/** One step of a rule's escalation: the users of these roles, and these users by id, inside the alarm's scope. */
export interface EscalationStep {
  roles: Role[];
  userIds: number[];
}

/**
 * Who is told of an alarm, and when. A rule covers the alarms of its area's
 * subtree (null: the whole network) at `minSeverity` or worse, of `kinds`
 * (null: every kind). Its first step is told `delayMs` after the alarm is
 * shown, if it is still open and nobody acknowledged it; each next step
 * `escalateAfterMs` after the one before while nobody acknowledges it. A step
 * is told only the people whose own area scope holds the alarm's area, so a
 * rule can never reach past the scope of the people it names.
 */
export interface NotificationRule {
  id: number;
  areaId: number | null;
  minSeverity: AlarmSeverity;
  kinds: AlarmKind[] | null;
  delayMs: number;
  /** null: the first step only. */
  escalateAfterMs: number | null;
  /** At least one. */
  steps: EscalationStep[];
  enabled: boolean;
  /**
   * The rule's own quiet hours, in the province's time zone (start = end:
   * none, it wakes people at any hour); absent or null: the province's.
   */
  quietHours?: RuleQuietHours | null;
}

/** Quiet hours as a rule sets them: minutes after local midnight (start > end spans midnight). */
export interface RuleQuietHours {
  startMinute: number;
  endMinute: number;
}

/** A person a rule may reach, as server/auth keeps them. */
export interface Recipient {
  id: number;
  role: Role;
  /** The root of the user's scope; null: the whole network. */
  areaId: number | null;
}

/**
 * Quiet hours in local wall time: from `startMinute` to `endMinute` (minutes
 * after local midnight; start > end spans midnight). null in a policy: none.
 */
export interface QuietHours {
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

/** Asia/Ho_Chi_Minh 22:00–06:00: the province's night. */
export const DEFAULT_QUIET_HOURS: QuietHours = { startMinute: 22 * 60, endMinute: 6 * 60, timeZone: 'Asia/Ho_Chi_Minh' };

/**
 * The kinds that, at major severity or worse, mean an emergency alert would
 * not be heard now (or within hours) at the site, so they wake people in
 * quiet hours: the site is offline (it cannot receive the alert), it cannot
 * play (no audio output, amplifier fault, no working speaker line, a device
 * it cannot play without unreachable), its last sound check heard nothing,
 * or its battery is about to go dark (power at major = battery critical). The
 * same kinds at minor (a single line open, mains lost with a full battery)
 * and every other kind (hot amplifier, weak signal, configuration, update,
 * monitoring mic, sound not verified) still play an alert tonight, and wait
 * for the morning. See server/alarms/alarm-rules.ts for the severities.
 */
export const HEARING_KINDS: ReadonlySet<AlarmKind> = new Set<AlarmKind>([
  'site_offline',
  'no_audio_output',
  'amplifier_fault',
  'speaker_line',
  'device_unreachable',
  'sound_check_failed',
  'power',
]);

export function stopsAlertsBeingHeard(kind: AlarmKind, severity: AlarmSeverity): boolean {
  return HEARING_KINDS.has(kind) && SEVERITY_RANK[severity] >= SEVERITY_RANK.major;
}

/** What the rules need to know of an alarm. */
export interface AlarmRef {
  alarmId: string;
  siteId: string;
  areaId: number;
  kind: AlarmKind;
  severity: AlarmSeverity;
  incidentId: string | null;
}

/**
 * The port: alarm events in, acknowledgements in. The alarms service's
 * `notification_due` becomes `alarm_due` (its delay counts from `at`); an
 * acknowledgement stops the escalation; a clear (or a pending alarm dropped)
 * ends it, and nobody not yet told ever is. An alarm that joins an incident
 * says so (alarm_changed): who was told of one alarm of an incident is not
 * told of its others (a commune cut is one page, not one per village).
 */
export type AlarmSignal =
  | { type: 'alarm_due'; at: number; alarm: AlarmRef; cause: 'raised' | 'severity_raised' }
  /** The alarm changed without a new notification being due: it joined an incident, its severity moved. */
  | { type: 'alarm_changed'; at: number; alarm: AlarmRef }
  | { type: 'alarm_acknowledged'; at: number; alarmId: string; by: string; note: string | null }
  | { type: 'alarm_closed'; at: number; alarmId: string; by: string | null; note: string | null };

/** Why someone is told. */
export type NotificationCause = 'raised' | 'severity_raised' | 'escalated';
export const NOTIFICATION_CAUSES: readonly NotificationCause[] = ['raised', 'severity_raised', 'escalated'];

/** A rule's progress on one alarm: the next step to tell, and when (null: done). */
export interface RuleProgress {
  ruleId: number;
  nextStep: number;
  /** When the step is due by the rule's times alone; `dueAt` is it, or the end of the quiet hours it falls in. */
  baseAt: number | null;
  dueAt: number | null;
  cause: 'raised' | 'severity_raised';
}

/** What the rules remember of an open alarm: kept in the store, so a restart keeps every delay and escalation. */
export interface AlarmTrack {
  alarm: AlarmRef;
  rules: RuleProgress[];
  /** Users told of it so far (nobody is told twice of one alarm). */
  told: number[];
  /** When the outbox is told it was raised (the rules' damping: a 30 s drop reaches no webhook either); null: not to be, or already. */
  announceAt: number | null;
  /** The outbox was told it was raised (so it is told of its acknowledgement and clear, and of nothing it was not told was raised). */
  announced: boolean;
  acknowledged: boolean;
}

/** The outbox's alarm.* event types this module enqueues. */
export type AnnouncedEvent = 'alarm.raised' | 'alarm.acknowledged' | 'alarm.cleared';

/** What the rules decide; the service carries it out. */
export type NotificationEffect =
  /** Tell these users (never empty), each one notification. */
  | { type: 'tell'; at: number; alarm: AlarmRef; userIds: number[]; cause: NotificationCause; ruleId: number; step: number }
  /** Tell the outbox (webhooks, Telegram): once per alarm raised, then its acknowledgement and clear. */
  | { type: 'announce'; at: number; alarm: AlarmRef; event: AnnouncedEvent; by: string | null; note: string | null }
  /** Keep this track (its delays and escalations) in the store. */
  | { type: 'track_saved'; track: AlarmTrack }
  /** The alarm needs nothing more: forget its track. */
  | { type: 'track_closed'; alarmId: string };
