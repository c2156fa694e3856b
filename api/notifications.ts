/**
 * Who is told of technicians' alarms (server/notifications): the rules a
 * province admin manages, a person's own notifications (the console's bell)
 * and their Web Push subscriptions. Codes, not words: the console words
 * kinds, severities and causes.
 */
import { type Static, Type } from '@sinclair/typebox';
import { AlarmKind, AlarmSeverity } from './alarms.ts';
import { EpochMs, Nullable } from './common.ts';

const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('technician'), Type.Literal('emergency'), Type.Literal('viewer')]);

export const EscalationStep = Type.Object(
  {
    roles: Type.Array(Role, { uniqueItems: true, maxItems: 5, description: 'users of these roles whose area scope holds the alarm' }),
    userIds: Type.Array(Type.Integer({ minimum: 1 }), { uniqueItems: true, maxItems: 50, description: 'these users, if their area scope holds the alarm' }),
  },
  { additionalProperties: false },
);

const Minute = Type.Integer({ minimum: 0, maximum: 1439, description: 'minutes after local midnight (Asia/Ho_Chi_Minh)' });
/** A rule's own quiet hours (start > end spans midnight; start = end: none, it wakes people at any hour). */
export const RuleQuietHours = Type.Object({ startMinute: Minute, endMinute: Minute }, { additionalProperties: false });

/** A rule as written by an admin. */
export const NotificationRuleInput = Type.Object(
  {
    area: Nullable(Type.String({ minLength: 1, description: 'the subtree root (area key or code); null: the whole network (a network-wide admin only)' })),
    minSeverity: AlarmSeverity,
    kinds: Nullable(Type.Array(AlarmKind, { minItems: 1, uniqueItems: true })),
    delayS: Type.Integer({ minimum: 0, maximum: 86_400, description: 'after the alarm is shown; cleared or acknowledged before: nobody is told' }),
    escalateAfterS: Nullable(Type.Integer({ minimum: 60, maximum: 7 * 86_400, description: 'time without acknowledgement before the next step; null: no escalation' })),
    steps: Type.Array(EscalationStep, { minItems: 1, maxItems: 5 }),
    enabled: Type.Boolean(),
    /** The rule's own quiet hours; absent or null: the province's (22:00-06:00). */
    quietHours: Type.Optional(Nullable(RuleQuietHours)),
  },
  { additionalProperties: false },
);
export type NotificationRuleInput = Static<typeof NotificationRuleInput>;

export const NotificationRuleRecord = Type.Object({
  id: Type.Integer(),
  area: Nullable(Type.String()),
  minSeverity: AlarmSeverity,
  kinds: Nullable(Type.Array(AlarmKind)),
  delayS: Type.Integer(),
  escalateAfterS: Nullable(Type.Integer()),
  steps: Type.Array(EscalationStep),
  enabled: Type.Boolean(),
  quietHours: Nullable(RuleQuietHours),
});
export type NotificationRuleRecord = Static<typeof NotificationRuleRecord>;

/** GET /api/notification-rules. */
export const NotificationRuleList = Type.Array(NotificationRuleRecord);
export type NotificationRuleList = Static<typeof NotificationRuleList>;

export const NotificationRuleParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const NotificationCause = Type.Union([Type.Literal('raised'), Type.Literal('severity_raised'), Type.Literal('escalated')]);

/** One notification of the bell (also the `notification` event of the console's stream). */
export const NotificationRecord = Type.Object({
  id: Type.Integer(),
  alarmId: Type.String(),
  siteId: Type.String(),
  siteName: Nullable(Type.String()),
  kind: AlarmKind,
  severity: AlarmSeverity,
  cause: NotificationCause,
  createdAt: EpochMs,
  readAt: Nullable(EpochMs),
  push: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
});
export type NotificationRecord = Static<typeof NotificationRecord>;

export const NotificationListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'ids below this one (the next page)' })),
  unread: Type.Optional(Type.Boolean()),
});

export const NotificationList = Type.Object({ unread: Type.Integer({ minimum: 0 }), notifications: Type.Array(NotificationRecord) });

export const MarkReadRequest = Type.Object(
  { ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 500, description: 'left out: all of yours' })) },
  { additionalProperties: false },
);
export const UnreadCount = Type.Object({ unread: Type.Integer({ minimum: 0 }), marked: Type.Integer({ minimum: 0 }) });

export const VapidKey = Type.Object({ publicKey: Type.String({ description: 'applicationServerKey for PushManager.subscribe (base64url, 65 bytes)' }) });

/** PushSubscription.toJSON() as the browser gives it. */
export const PushSubscriptionInput = Type.Object({
  endpoint: Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://' }),
  expirationTime: Type.Optional(Nullable(Type.Number())),
  keys: Type.Object({
    p256dh: Type.String({ pattern: '^[A-Za-z0-9_-]{87}$' }),
    auth: Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' }),
  }),
});
export const PushUnsubscribeInput = Type.Object({ endpoint: Type.String({ minLength: 8, maxLength: 2048 }) }, { additionalProperties: false });

export const AlarmNotificationsParams = Type.Object({ alarmId: Type.String({ minLength: 1, maxLength: 64 }) });

/** Who was told of an alarm, when, why, and what came of each channel. */
export const AlarmNotifications = Type.Object({
  alarmId: Type.String(),
  told: Type.Array(
    Type.Object({
      id: Type.Integer(),
      userId: Type.Integer(),
      username: Nullable(Type.String()),
      cause: NotificationCause,
      step: Type.Integer({ description: 'the escalation step of the rule (0: the first people told)' }),
      ruleId: Nullable(Type.Integer()),
      createdAt: EpochMs,
      /** The bell: when the person read it. */
      readAt: Nullable(EpochMs),
      push: Type.Object({
        state: Type.Union([Type.Literal('none'), Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
        attempts: Type.Integer(),
        error: Nullable(Type.String()),
        deliveredAt: Nullable(EpochMs),
      }),
    }),
  ),
});
