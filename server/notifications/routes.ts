/**
 * Who is told, over HTTP: the notification rules (admins: `users.manage`,
 * since a rule decides whom the server wakes), a person's own notifications
 * (the console's bell: list, unread count, mark read) and their Web Push
 * subscriptions (the VAPID public key to subscribe with; store, remove).
 *
 * Scope: an admin bound to an area sees and writes only the rules of its
 * subtree (a rule outside it is not found, 404; a rule placed outside it or
 * network-wide is 403 naming `area`). Everyone reads and marks only their
 * own notifications: the user comes from the session, never the request.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  AlarmNotifications,
  AlarmNotificationsParams,
  MarkReadRequest,
  NotificationList,
  NotificationListQuery,
  type NotificationRecord,
  NotificationRuleInput,
  NotificationRuleList,
  NotificationRuleParams,
  NotificationRuleRecord,
  PushSubscriptionInput,
  PushUnsubscribeInput,
  UnreadCount,
  VapidKey,
} from '../../api/notifications.ts';
import type { ServerContext } from '../context.ts';
import { Errors, fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import type { NotificationRule } from './model.ts';
import type { NotificationService } from './service.ts';
import { serviceWorkerScript } from './service-worker.ts';
import type { Notification, NotificationStore, RuleInput } from './store.ts';

export interface NotificationRouteDeps extends Pick<ServerContext, 'coverage' | 'fleet' | 'audit' | 'users' | 'now' | 'alarms'> {
  service: NotificationService;
  store: NotificationStore;
  /** The VAPID public key (web-push.ts). */
  vapidPublicKey: string;
}

export function notificationRecord(n: Notification, siteName: string | null): NotificationRecord {
  return {
    id: n.id,
    alarmId: n.alarmId,
    siteId: n.siteId,
    siteName,
    kind: n.kind,
    severity: n.severity,
    cause: n.cause,
    createdAt: n.createdAt,
    readAt: n.readAt,
    push: n.push.state,
  };
}

export const notificationRoutes =
  (ctx: NotificationRouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const areaKeyOf = (id: number | null) => (id === null ? null : (ctx.coverage.areaIndex().byId.get(id)?.key ?? null));
    const record = (r: NotificationRule): NotificationRuleRecord => ({
      id: r.id,
      area: areaKeyOf(r.areaId),
      minSeverity: r.minSeverity,
      kinds: r.kinds,
      delayS: Math.round(r.delayMs / 1000),
      escalateAfterS: r.escalateAfterMs === null ? null : Math.round(r.escalateAfterMs / 1000),
      steps: r.steps,
      enabled: r.enabled,
      quietHours: r.quietHours ?? null,
    });
    const inScope = (scope: number | null, areaId: number | null) => scope === null || (areaId !== null && ctx.coverage.areaPath(areaId).includes(scope));

    /** The rule input, checked against the admin's scope and the users it names. */
    const ruleInput = async (req: FastifyRequest, body: NotificationRuleInput): Promise<RuleInput> => {
      const p = requirePermission(req, 'users.manage');
      const areaId = body.area === null ? null : ctx.coverage.resolveArea(body.area).id;
      if (!inScope(p.user.areaId, areaId)) {
        throw Errors.forbidden({
          rule: 'scope',
          field: 'area',
          text: areaId === null ? 'an admin bound to an area writes rules inside it, not network-wide ones' : 'the area lies outside your own area',
        });
      }
      for (const step of body.steps) {
        for (const id of step.userIds) {
          const u = await ctx.users.byId(id);
          if (!u || u.disabledAt !== null) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: 'steps', thing: 'user', id: String(id) });
        }
      }
      return {
        areaId,
        minSeverity: body.minSeverity,
        kinds: body.kinds,
        delayMs: body.delayS * 1000,
        escalateAfterMs: body.escalateAfterS === null ? null : body.escalateAfterS * 1000,
        steps: body.steps,
        enabled: body.enabled,
        quietHours: body.quietHours ?? null,
      };
    };

    /** A rule the admin may see, else 404. */
    const visibleRule = async (req: FastifyRequest, id: number): Promise<NotificationRule> => {
      const p = requirePermission(req, 'users.manage');
      const r = (await ctx.service.rules()).find((x) => x.id === id);
      if (!r || !inScope(p.user.areaId, r.areaId)) throw Errors.notFound('notification_rule', id);
      return r;
    };

    app.get(
      '/api/notification-rules',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'listNotificationRules',
          summary: 'The notification rules of your area (admins)',
          response: { 200: NotificationRuleList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        return (await ctx.service.rules()).filter((r) => inScope(p.user.areaId, r.areaId)).map(record);
      },
    );

    app.post(
      '/api/notification-rules',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'createNotificationRule',
          summary: 'A rule: which alarms of an area subtree tell whom, after how long, and whom next when nobody acknowledges',
          body: NotificationRuleInput,
          response: { 201: NotificationRuleRecord },
        },
      },
      async (req, reply) => {
        const input = await ruleInput(req, req.body);
        const r = await ctx.service.createRule(input);
        const { user } = requirePermission(req, 'users.manage');
        await ctx.audit.record({ id: user.id, username: user.username }, 'notification_rule.create', String(r.id), { area: req.body.area });
        return reply.code(201).send(record(r));
      },
    );

    app.put(
      '/api/notification-rules/:id',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'replaceNotificationRule',
          summary: 'Replace a rule (its delays and escalations of open alarms already under way go on)',
          params: NotificationRuleParams,
          body: NotificationRuleInput,
          response: { 200: NotificationRuleRecord },
        },
      },
      async (req) => {
        await visibleRule(req, req.params.id);
        const input = await ruleInput(req, req.body);
        const r = await ctx.service.updateRule(req.params.id, input);
        if (!r) throw Errors.notFound('notification_rule', req.params.id);
        const { user } = requirePermission(req, 'users.manage');
        await ctx.audit.record({ id: user.id, username: user.username }, 'notification_rule.update', String(r.id), { area: req.body.area, enabled: r.enabled });
        return record(r);
      },
    );

    app.delete(
      '/api/notification-rules/:id',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'deleteNotificationRule',
          summary: 'Delete a rule: it tells nobody more, also of alarms it was waiting on',
          params: NotificationRuleParams,
          response: { 204: Type.Null() },
        },
      },
      async (req, reply) => {
        await visibleRule(req, req.params.id);
        await ctx.service.deleteRule(req.params.id);
        const { user } = requirePermission(req, 'users.manage');
        await ctx.audit.record({ id: user.id, username: user.username }, 'notification_rule.delete', String(req.params.id));
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/api/notifications',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'listMyNotifications',
          summary: 'Your notifications, newest first, and how many are unread (the bell)',
          querystring: NotificationListQuery,
          response: { 200: NotificationList },
        },
      },
      async (req) => {
        const { user } = requirePermission(req, 'read');
        const q = req.query;
        const list = await ctx.store.ofUser(user.id, { limit: q.limit ?? 50, ...(q.before === undefined ? {} : { before: q.before }), unreadOnly: q.unread === true });
        return {
          unread: await ctx.store.unreadCount(user.id),
          notifications: list.map((n) => notificationRecord(n, ctx.fleet.observation(n.siteId)?.name ?? null)),
        };
      },
    );

    app.get(
      '/api/notifications/alarm/:alarmId',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'listAlarmNotifications',
          summary: 'Who was told of an alarm, when and why, whether they read it and whether Web Push delivered it (anyone who may see the alarm)',
          params: AlarmNotificationsParams,
          response: { 200: AlarmNotifications },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const a = await ctx.alarms.alarm(req.params.alarmId);
        // As the alarms' own routes: one outside the person's area, or never shown, is not found.
        if (!a || a.state === 'pending' || !inScope(p.user.areaId, a.areaId)) throw fail('LOANET_ALARM_NOT_FOUND', { id: req.params.alarmId });
        const told = await ctx.store.ofAlarm(a.id);
        const names = new Map<number, string | null>();
        for (const id of new Set(told.map((n) => n.userId))) names.set(id, (await ctx.users.byId(id))?.username ?? null);
        return {
          alarmId: a.id,
          told: told.map((n) => ({
            id: n.id,
            userId: n.userId,
            username: names.get(n.userId) ?? null,
            cause: n.cause,
            step: n.step,
            ruleId: n.ruleId,
            createdAt: n.createdAt,
            readAt: n.readAt,
            push: { state: n.push.state, attempts: n.push.attempts, error: n.push.error, deliveredAt: n.push.at },
          })),
        };
      },
    );

    app.post(
      '/api/notifications/read',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'markMyNotificationsRead',
          summary: 'Mark your notifications read (those named, or all)',
          body: MarkReadRequest,
          response: { 200: UnreadCount },
        },
      },
      async (req) => {
        const { user } = requirePermission(req, 'read');
        const marked = await ctx.store.markRead(user.id, req.body.ids ?? null, ctx.now());
        return { marked, unread: await ctx.store.unreadCount(user.id) };
      },
    );

    app.get(
      '/api/notifications/sw.js',
      {
        config: { public: true },
        schema: {
          tags: ['notifications'],
          operationId: 'getServiceWorker',
          summary: "The console's service worker: shows a Web Push as a notification (public: a browser fetches it without the API token)",
          response: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: Type.String() } } } },
        },
      },
      async (_req, reply) =>
        reply
          .header('content-type', 'text/javascript; charset=utf-8')
          // Registered for the whole console (scope /), though served under /api.
          .header('service-worker-allowed', '/')
          .header('cache-control', 'no-cache')
          .send(serviceWorkerScript()),
    );

    app.get(
      '/api/notifications/push/key',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'getVapidKey',
          summary: "The server's VAPID public key, to subscribe this browser to Web Push",
          response: { 200: VapidKey },
        },
      },
      async (req) => {
        requirePermission(req, 'read');
        return { publicKey: ctx.vapidPublicKey };
      },
    );

    app.post(
      '/api/notifications/push/subscriptions',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'addPushSubscription',
          summary: "Store this browser's Web Push subscription (PushSubscription.toJSON()): your notifications reach it",
          body: PushSubscriptionInput,
          response: { 204: Type.Null() },
        },
      },
      async (req, reply) => {
        const { user } = requirePermission(req, 'read');
        await ctx.store.subscribe(user.id, { endpoint: req.body.endpoint, p256dh: req.body.keys.p256dh, auth: req.body.keys.auth }, ctx.now());
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/api/notifications/push/subscriptions',
      {
        schema: {
          tags: ['notifications'],
          operationId: 'removePushSubscription',
          summary: "Remove one of your browsers' Web Push subscriptions",
          body: PushUnsubscribeInput,
          response: { 204: Type.Null() },
        },
      },
      async (req, reply) => {
        const { user } = requirePermission(req, 'read');
        await ctx.store.unsubscribe(user.id, req.body.endpoint);
        return reply.code(204).send(null);
      },
    );
  };
