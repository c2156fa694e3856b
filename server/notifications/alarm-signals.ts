/**
 * The alarms service's events, as the notification rules hear them (the
 * adapter of model.ts's port): the engine's `notification_due` is an alarm
 * to tell of (its delay counts from its time); an alarm that became
 * acknowledged stops the escalation; an alarm cleared, or a pending one
 * dropped before it showed, ends it. Everything else (history rows,
 * incidents, a count that rose) changes nothing for who is told.
 */
import type { AlarmEffect } from '../alarms/alarm-engine.ts';
import type { AlarmSignal } from './model.ts';

export function signalOfAlarmEffect(e: AlarmEffect): AlarmSignal | null {
  switch (e.type) {
    case 'notification_due':
      return {
        type: 'alarm_due',
        at: e.at,
        cause: e.cause,
        alarm: { alarmId: e.alarmId, siteId: e.siteId, areaId: e.areaId, kind: e.kind, severity: e.severity, incidentId: e.incidentId },
      };
    case 'alarm_updated':
      if (e.alarm.state === 'raised') {
        const a = e.alarm;
        return {
          type: 'alarm_changed',
          at: a.updatedAt,
          alarm: { alarmId: a.id, siteId: a.siteId, areaId: a.areaId, kind: a.kind, severity: a.severity, incidentId: a.incidentId },
        };
      }
      if (e.alarm.state !== 'acknowledged' || !e.alarm.acknowledged) return null;
      return { type: 'alarm_acknowledged', at: e.alarm.acknowledged.at, alarmId: e.alarm.id, by: e.alarm.acknowledged.by, note: e.alarm.acknowledged.note };
    case 'alarm_cleared':
      return { type: 'alarm_closed', at: e.alarm.cleared?.at ?? e.alarm.updatedAt, alarmId: e.alarm.id, by: e.alarm.cleared?.by ?? null, note: e.alarm.cleared?.note ?? null };
    case 'alarm_dropped':
      return { type: 'alarm_closed', at: e.alarm.updatedAt, alarmId: e.alarm.id, by: null, note: null };
    default:
      return null;
  }
}
