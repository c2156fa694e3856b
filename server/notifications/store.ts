/**
 * The notifications' tables (migration 27) on the async Kysely store, SQLite
 * or PostgreSQL: the rules, the notifications (one person told of one alarm:
 * the bell's rows and their Web Push state), each open alarm's track (its
 * pending delays and escalations, model.ts AlarmTrack as JSON) and the push
 * subscriptions.
 *
 * The policy's effects of one signal or tick are written in one transaction
 * (`apply`), with the outbox messages they enqueue: a person told, the track
 * that remembers it and the webhook that reports it are stored together or
 * not at all, so a restart neither tells anyone twice nor forgets anyone.
 */
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { ALARM_KINDS, type AlarmKind, type AlarmSeverity } from '../alarms/model.ts';
import { ROLES } from '../auth/users.ts';
import type { Database } from '../store/schema.ts';
import type { AlarmTrack, EscalationStep, NotificationCause, NotificationRule, RuleQuietHours } from './model.ts';
import type { PushSubscriptionKeys } from './web-push.ts';

export const EscalationStepSchema = Type.Object(
  {
    roles: Type.Array(Type.Union(ROLES.map((r) => Type.Literal(r))), { uniqueItems: true, maxItems: ROLES.length }),
    userIds: Type.Array(Type.Integer({ minimum: 1 }), { uniqueItems: true, maxItems: 50 }),
  },
  { additionalProperties: false },
);
export const StepsSchema = Type.Array(EscalationStepSchema, { minItems: 1, maxItems: 5 });
const Minute = Type.Integer({ minimum: 0, maximum: 1439 });
export const QuietSchema = Type.Object({ startMinute: Minute, endMinute: Minute }, { additionalProperties: false });
export const KindsSchema = Type.Array(Type.Union(ALARM_KINDS.map((k) => Type.Literal(k))), { minItems: 1, uniqueItems: true });

/** One notification as the bell shows it. */
export interface Notification {
  id: number;
  userId: number;
  alarmId: string;
  siteId: string;
  areaId: number;
  kind: AlarmKind;
  severity: AlarmSeverity;
  cause: NotificationCause;
  ruleId: number | null;
  step: number;
  createdAt: number;
  readAt: number | null;
  push: { state: 'none' | 'pending' | 'delivered' | 'failed'; attempts: number; error: string | null; at: number | null };
}

export type RuleInput = Omit<NotificationRule, 'id'>;

/** Rows per multi-row statement: 500 × 15 columns stays far under SQLite's 32,766 parameters. */
const CHUNK = 500;

type NotificationRow = Selectable<Database['notifications']>;

function notificationOf(r: NotificationRow): Notification {
  return {
    id: r.id,
    userId: r.user_id,
    alarmId: r.alarm_id,
    siteId: r.site_id,
    areaId: r.area_id,
    kind: r.kind as AlarmKind,
    severity: r.severity as AlarmSeverity,
    cause: r.cause,
    ruleId: r.rule_id,
    step: r.step,
    createdAt: r.created_at,
    readAt: r.read_at,
    push: { state: r.push_state, attempts: r.push_attempts, error: r.push_error, at: r.pushed_at },
  };
}

function ruleOf(r: Selectable<Database['notification_rules']>): NotificationRule {
  const steps: unknown = JSON.parse(r.steps);
  const kinds: unknown = r.kinds === null ? null : JSON.parse(r.kinds);
  if (!Value.Check(StepsSchema, steps)) throw new Error(`notification rule ${r.id}: its steps are not valid`);
  if (kinds !== null && !Value.Check(KindsSchema, kinds)) throw new Error(`notification rule ${r.id}: its kinds are not valid`);
  const quiet: unknown = r.quiet_hours === null || r.quiet_hours === undefined ? null : JSON.parse(r.quiet_hours);
  if (quiet !== null && !Value.Check(QuietSchema, quiet)) throw new Error(`notification rule ${r.id}: its quiet hours are not valid`);
  return {
    id: r.id,
    areaId: r.area_id,
    minSeverity: r.min_severity,
    kinds: kinds as AlarmKind[] | null,
    delayMs: r.delay_ms,
    escalateAfterMs: r.escalate_after_ms,
    steps: steps as EscalationStep[],
    enabled: r.enabled === 1,
    // Absent when the rule keeps the province's: a rule reads back as it was written.
    ...(quiet !== null ? { quietHours: quiet as RuleQuietHours } : {}),
  };
}

/** One person told, as `apply` writes it. */
export interface NewNotification {
  userId: number;
  alarm: AlarmTrack['alarm'];
  cause: NotificationCause;
  ruleId: number;
  step: number;
  at: number;
}

export interface PushSubscriptionRow extends PushSubscriptionKeys {
  id: number;
  userId: number;
}

export class NotificationStore {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- rules

  async rules(): Promise<NotificationRule[]> {
    return (await this.db.selectFrom('notification_rules').selectAll().orderBy('id').execute()).map(ruleOf);
  }

  async createRule(input: RuleInput, now: number): Promise<NotificationRule> {
    const r = await this.db.insertInto('notification_rules').values(this.ruleRow(input, now)).returningAll().executeTakeFirstOrThrow();
    return ruleOf(r);
  }

  /** undefined when there is no such rule. */
  async updateRule(id: number, input: RuleInput, now: number): Promise<NotificationRule | undefined> {
    const { created_at: _c, ...row } = this.ruleRow(input, now);
    const r = await this.db.updateTable('notification_rules').set(row).where('id', '=', id).returningAll().executeTakeFirst();
    return r && ruleOf(r);
  }

  async deleteRule(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('notification_rules').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  private ruleRow(input: RuleInput, now: number) {
    return {
      area_id: input.areaId,
      min_severity: input.minSeverity,
      kinds: input.kinds === null ? null : JSON.stringify(input.kinds),
      delay_ms: input.delayMs,
      escalate_after_ms: input.escalateAfterMs,
      steps: JSON.stringify(input.steps),
      enabled: input.enabled ? 1 : 0,
      quiet_hours: input.quietHours ? JSON.stringify({ startMinute: input.quietHours.startMinute, endMinute: input.quietHours.endMinute }) : null,
      created_at: now,
      updated_at: now,
    };
  }

  // ---- tracks

  async tracks(): Promise<AlarmTrack[]> {
    return (await this.db.selectFrom('notification_tracks').select('track').execute()).map((r) => JSON.parse(r.track) as AlarmTrack);
  }

  /**
   * One batch of the policy's effects, in one transaction: tracks kept or
   * forgotten, people told (push pending when they have a subscription),
   * and `more` (the outbox's enqueue) in the same transaction. The new
   * notifications, with their ids.
   */
  async apply(
    batch: { saved: AlarmTrack[]; closed: string[]; told: NewNotification[] },
    now: number,
    more?: (trx: Transaction<Database>) => Promise<unknown>,
  ): Promise<Notification[]> {
    return this.db.transaction().execute(async (trx) => {
      for (const t of batch.saved) {
        await trx
          .insertInto('notification_tracks')
          .values({ alarm_id: t.alarm.alarmId, track: JSON.stringify(t), updated_at: now })
          .onConflict((oc) => oc.column('alarm_id').doUpdateSet({ track: JSON.stringify(t), updated_at: now }))
          .execute();
      }
      for (let i = 0; i < batch.closed.length; i += CHUNK)
        await trx
          .deleteFrom('notification_tracks')
          .where('alarm_id', 'in', batch.closed.slice(i, i + CHUNK))
          .execute();
      const out: Notification[] = [];
      if (batch.told.length > 0) {
        const userIds = [...new Set(batch.told.map((n) => n.userId))];
        const withPush = new Set<number>();
        for (let i = 0; i < userIds.length; i += CHUNK) {
          const rows = await trx
            .selectFrom('push_subscriptions')
            .select('user_id')
            .where('user_id', 'in', userIds.slice(i, i + CHUNK))
            .execute();
          for (const r of rows) withPush.add(r.user_id);
        }
        // In chunks: SQLite takes at most 32,766 parameters in a statement, and a broker restart tells thousands at once.
        for (let i = 0; i < batch.told.length; i += CHUNK) {
          const rows = await trx
            .insertInto('notifications')
            .values(
              batch.told.slice(i, i + CHUNK).map((n) => ({
                user_id: n.userId,
                alarm_id: n.alarm.alarmId,
                site_id: n.alarm.siteId,
                area_id: n.alarm.areaId,
                kind: n.alarm.kind,
                severity: n.alarm.severity,
                cause: n.cause,
                rule_id: n.ruleId,
                step: n.step,
                created_at: n.at,
                read_at: null,
                push_state: withPush.has(n.userId) ? ('pending' as const) : ('none' as const),
                push_next_at: withPush.has(n.userId) ? n.at : null,
                push_error: null,
                pushed_at: null,
              })),
            )
            .returningAll()
            .execute();
          out.push(...rows.map(notificationOf));
        }
      }
      if (more) await more(trx);
      return out;
    });
  }

  // ---- the bell

  /** A user's notifications, newest first, before id `before`. */
  async ofUser(userId: number, opts: { limit: number; before?: number; unreadOnly?: boolean }): Promise<Notification[]> {
    let q = this.db.selectFrom('notifications').selectAll().where('user_id', '=', userId);
    if (opts.before !== undefined) q = q.where('id', '<', opts.before);
    if (opts.unreadOnly) q = q.where('read_at', 'is', null);
    return (await q.orderBy('id', 'desc').limit(opts.limit).execute()).map(notificationOf);
  }

  /** Notifications stored after id `after`, oldest first (what another server's consoles have not heard yet). */
  async after(after: number, limit: number): Promise<Notification[]> {
    return (await this.db.selectFrom('notifications').selectAll().where('id', '>', after).orderBy('id').limit(limit).execute()).map(notificationOf);
  }

  /** The newest notification's id, 0 when there is none. */
  async lastId(): Promise<number> {
    const r = await this.db
      .selectFrom('notifications')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(r?.id ?? 0);
  }

  /** Everyone told of an alarm, oldest first. */
  async ofAlarm(alarmId: string, limit = 500): Promise<Notification[]> {
    return (await this.db.selectFrom('notifications').selectAll().where('alarm_id', '=', alarmId).orderBy('id').limit(limit).execute()).map(notificationOf);
  }

  async unreadCount(userId: number): Promise<number> {
    const r = await this.db
      .selectFrom('notifications')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('user_id', '=', userId)
      .where('read_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Marks the user's own notifications read (`ids`, or all when null); how many changed. */
  async markRead(userId: number, ids: number[] | null, now: number): Promise<number> {
    let q = this.db.updateTable('notifications').set({ read_at: now }).where('user_id', '=', userId).where('read_at', 'is', null);
    if (ids !== null) {
      if (ids.length === 0) return 0;
      q = q.where('id', 'in', ids);
    }
    return Number((await q.executeTakeFirst()).numUpdatedRows);
  }

  /** Deletes the notifications made before `before` whose push is settled; how many. */
  async purge(before: number): Promise<number> {
    const r = await this.db.deleteFrom('notifications').where('created_at', '<', before).where('push_state', '!=', 'pending').executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- Web Push

  async subscribe(userId: number, sub: PushSubscriptionKeys, now: number): Promise<void> {
    // One endpoint is one browser: a phone handed to another technician follows its new user.
    await this.db
      .insertInto('push_subscriptions')
      .values({ user_id: userId, endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth, created_at: now })
      .onConflict((oc) => oc.column('endpoint').doUpdateSet({ user_id: userId, p256dh: sub.p256dh, auth: sub.auth, created_at: now }))
      .execute();
  }

  async unsubscribe(userId: number, endpoint: string): Promise<boolean> {
    const r = await this.db.deleteFrom('push_subscriptions').where('user_id', '=', userId).where('endpoint', '=', endpoint).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async subscriptionsOf(userId: number): Promise<PushSubscriptionRow[]> {
    const rows = await this.db.selectFrom('push_subscriptions').selectAll().where('user_id', '=', userId).orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, userId: r.user_id, endpoint: r.endpoint, p256dh: r.p256dh, auth: r.auth }));
  }

  async dropSubscription(id: number): Promise<void> {
    await this.db.deleteFrom('push_subscriptions').where('id', '=', id).execute();
  }

  /** Notifications whose push is due at `now`, oldest first. */
  async duePushes(now: number, limit: number): Promise<Notification[]> {
    const rows = await this.db
      .selectFrom('notifications')
      .selectAll()
      .where('push_state', '=', 'pending')
      .where('push_next_at', '<=', now)
      .orderBy('push_next_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(notificationOf);
  }

  async settlePush(id: number, outcome: { state: 'pending' | 'delivered' | 'failed' | 'none'; nextAt: number | null; error: string | null; at: number }): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set((eb) => ({
        push_state: outcome.state,
        push_attempts: eb('push_attempts', '+', 1),
        push_next_at: outcome.nextAt,
        push_error: outcome.error,
        pushed_at: outcome.state === 'delivered' ? outcome.at : null,
      }))
      .where('id', '=', id)
      .where('push_state', '=', 'pending')
      .execute();
  }
}
