/**
 * Technicians' alarms and the bell in the console: the contract's types
 * (derived from the schemas of api/alarms.ts and api/notifications.ts, never
 * declared again here), their codes in words (api/words/alarm-words.ts) and
 * the technician's queue order.
 */
import type { Static } from '@sinclair/typebox';
import type { AlarmDetail as AlarmDetailSchema, AlarmList as AlarmListSchema, AlarmRecord, AlarmStreamEvent } from '../../api/alarms.ts';
import type { NotificationList as NotificationListSchema, NotificationRecord, UnreadCount as UnreadCountSchema, VapidKey as VapidKeySchema } from '../../api/notifications.ts';
import { alarmCodeIn, alarmWord, type AlarmWordGroup } from '../../api/words/alarm-words.ts';
import { lang } from './i18n.ts';

export type { AlarmRecord, AlarmStreamEvent, NotificationRecord };
export type AlarmDetail = Static<typeof AlarmDetailSchema>;
export type AlarmList = Static<typeof AlarmListSchema>;
export type NotificationList = Static<typeof NotificationListSchema>;
export type UnreadCount = Static<typeof UnreadCountSchema>;
export type VapidKey = Static<typeof VapidKeySchema>;
export type AlarmSeverity = AlarmRecord['severity'];
export type AlarmKind = AlarmRecord['kind'];

// The kinds as records over the contract's unions, so a kind added there fails the typecheck here
// (the lists of api/alarms.ts are values: importing them would bundle the schemas into the console).
const SEVERITY_RANK: Record<AlarmSeverity, number> = { critical: 0, major: 1, minor: 2, warning: 3 };
const KIND_SET: Record<AlarmKind, true> = {
  site_offline: true,
  no_audio_output: true,
  amplifier_fault: true,
  amplifier_hot: true,
  speaker_line: true,
  power: true,
  weak_signal: true,
  device_unreachable: true,
  sound_check_failed: true,
  monitor_mic: true,
  sound_not_verified: true,
  config_not_applied: true,
  update_failed: true,
};
/** Worst first. */
export const SEVERITIES = Object.keys(SEVERITY_RANK) as AlarmSeverity[];
export const KINDS = Object.keys(KIND_SET) as AlarmKind[];

/** A code of a group (kind, severity, state, clearCause, history …) in the user's language. */
export function alarmCode(group: AlarmWordGroup, code: string): string {
  return alarmCodeIn(lang(), group, code);
}

/** "repeated n times" of a flapping alarm. */
export function alarmCountWords(n: number): string {
  return alarmWord(lang(), 'alarmCount', { n });
}

const STATE_RANK: Record<AlarmRecord['state'], number> = { raised: 0, pending: 1, acknowledged: 2, cleared: 3 };

/**
 * The technician's queue: what nobody has taken yet first (raised before
 * acknowledged, cleared last), then the worst, then the newest.
 */
export function queueOrder(a: AlarmRecord, b: AlarmRecord): number {
  return STATE_RANK[a.state] - STATE_RANK[b.state] || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || (b.raisedAt ?? b.detectedAt) - (a.raisedAt ?? a.detectedAt);
}
