/**
 * The console's event stream (GET /api/stream, Server-Sent Events,
 * server/console/stream-routes.ts): the event names and the JSON of each `data:`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable, Reason, SiteCondition } from './common.ts';
import { AlertState, DeliveryCounts } from './alerts.ts';
import { CommandRecord } from './sites.ts';
import { AlarmStreamEvent } from './alarms.ts';
import { NotificationRecord } from './notifications.ts';
import { WorkOrderStreamEvent } from './maintenance.ts';

/** First frame after connecting: the stream is live. */
export const HelloEvent = Type.Object({ at: EpochMs, username: Type.String() });
export type HelloEvent = Static<typeof HelloEvent>;

/** A site changed condition. */
export const ConditionEvent = Type.Object({ siteId: Type.String(), at: EpochMs, from: Nullable(SiteCondition), to: SiteCondition, reasons: Type.Array(Reason) });
export type ConditionEvent = Static<typeof ConditionEvent>;

/** A command became final: its result came back, or it expired (the command as GET /api/commands/{id} answers it). */
export const CommandEvent = CommandRecord;
export type CommandEvent = Static<typeof CommandEvent>;

/** An alert changed: started, delivery moved, updated, cancelled, expired. */
export const AlertEvent = Type.Object({
  kind: Type.Union([Type.Literal('started'), Type.Literal('delivery'), Type.Literal('updated'), Type.Literal('cancelled'), Type.Literal('expired')]),
  alertId: Type.String(),
  revision: Type.Integer(),
  state: AlertState,
  test: Type.Boolean(),
  title: Type.String(),
  counts: Type.Optional({ ...DeliveryCounts, description: 'network-wide delivery counts: sent only to users of the whole network' }),
});
export type AlertEvent = Static<typeof AlertEvent>;

/** A live stream over the reader's area started, ended, or had its delay raised for a slow link: GET /api/live/streams/{id} for the rest. */
export const LiveEvent = Type.Object({
  kind: Type.Union([Type.Literal('started'), Type.Literal('ended'), Type.Literal('delay_raised')]),
  streamId: Type.Integer(),
  at: EpochMs,
});
export type LiveEvent = Static<typeof LiveEvent>;

/** A technician's alarm of a site in the reader's area was raised, changed or cleared: GET /api/alarms/{id} for the rest. */
export const AlarmEvent = AlarmStreamEvent;
export type AlarmEvent = Static<typeof AlarmEvent>;

/** You were told of an alarm (the bell): only to the user told. */
export const NotificationEvent = NotificationRecord;
export type NotificationEvent = Static<typeof NotificationEvent>;

/** A work order of a site in the reader's area was made or changed (assigned, visit planned, resolved, closed by the verification, cancelled): GET /api/work-orders/{id} for the rest. */
export const WorkOrderEvent = WorkOrderStreamEvent;
export type WorkOrderEvent = Static<typeof WorkOrderEvent>;

/** Event name → its data. */
export const StreamEvents = {
  hello: HelloEvent,
  condition: ConditionEvent,
  command: CommandEvent,
  alert: AlertEvent,
  live: LiveEvent,
  alarm: AlarmEvent,
  notification: NotificationEvent,
  work_order: WorkOrderEvent,
} as const;
export interface StreamEventMap {
  hello: HelloEvent;
  condition: ConditionEvent;
  command: CommandEvent;
  alert: AlertEvent;
  live: LiveEvent;
  alarm: AlarmEvent;
  notification: NotificationEvent;
  work_order: WorkOrderEvent;
}
