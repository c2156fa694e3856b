/**
 * The maintenance log over HTTP: list work orders (a technician's own queue
 * with `mine`), one order with its audit trail, make one from an alarm or a
 * site, assign, plan the visit, record parts and notes, resolve, cancel,
 * request a sound check; and time to acknowledge / to repair.
 *
 * Who: reading needs `read`; every change needs `site.command` (as acting
 * on alarms). Scope, as the alarms' routes: a person bound to an area sees
 * only the orders of sites in its subtree; one outside it is not found
 * (404, ids cannot be probed), a list or repair times asked for an area
 * outside it is 403. Closing is nobody's click: the verification does it
 * (service.ts). Every person's action is written to the audit log too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  AssignRequest,
  CancelRequest,
  CreateWorkOrderRequest,
  PlanVisitRequest,
  RecordRequest,
  RepairTimes,
  RepairTimesQuery,
  ResolveRequest,
  SoundCheckRequested,
  WorkOrderDetail,
  WorkOrderAssignees,
  WorkOrderList,
  WorkOrderListQuery,
  WorkOrderParams,
  WorkOrderRecord,
} from '../../api/maintenance.ts';
import type { ServerContext } from '../context.ts';
import { fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import type { AreaNode } from '../registry/model.ts';
import { isVerifiedAfter } from './lifecycle.ts';
import { ACTIVE_STATES, WORK_ORDER_STATES, type WorkOrder, type WorkOrderAction, type WorkOrderState } from './model.ts';
import { workOrderRefusal } from './refusals.ts';
import { repairTimesOf } from './repair-report.ts';
import { mayBeAssigned, type MaintenanceService } from './service.ts';

export type RouteDeps = Pick<ServerContext, 'coverage' | 'fleet' | 'audit' | 'alarms' | 'users'> & { maintenance: MaintenanceService };

export const maintenanceRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const index = () => ctx.coverage.areaIndex();
    const svc = ctx.maintenance;

    const record = (o: WorkOrder): Static<typeof WorkOrderRecord> => {
      const obs = ctx.fleet.observation(o.siteId);
      const awaiting =
        o.state === 'resolved' &&
        o.resolvedAt !== null &&
        !isVerifiedAfter(o.resolvedAt, {
          lastSoundVerifiedAt: obs?.lastSoundVerifiedAt ?? null,
          condition: ctx.fleet.verdict(o.siteId)?.condition,
          conditionSince: ctx.fleet.verdict(o.siteId)?.since ?? null,
        });
      return {
        id: o.id,
        source: o.source,
        alarmId: o.alarmId,
        faultKind: o.faultKind,
        siteId: o.siteId,
        siteName: obs?.name ?? null,
        areaKey: index().byId.get(o.areaId)?.key ?? null,
        state: o.state,
        assignee: o.assignee,
        visitPlannedFor: o.visitPlannedFor,
        parts: o.parts,
        notes: o.notes,
        resolution: o.resolution,
        createdAt: o.createdAt,
        createdBy: o.createdBy,
        updatedAt: o.updatedAt,
        resolvedAt: o.resolvedAt,
        resolvedBy: o.resolvedBy,
        verifiedAt: o.verifiedAt,
        closedAt: o.closedAt,
        cancelledAt: o.cancelledAt,
        awaitingVerification: awaiting,
      };
    };

    /** The area a request is about (its `area`, else the person's, else the whole network), checked against the person's scope. */
    const areaOfRequest = (req: FastifyRequest, key: string | undefined): AreaNode => {
      const p = requirePermission(req, 'read');
      let area = key ? ctx.coverage.resolveArea(key) : p.user.areaId !== null ? index().byId.get(p.user.areaId) : undefined;
      area ??= ctx.coverage.defaultRoot();
      requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
      return area;
    };

    const inScope = (userAreaId: number | null, areaId: number) => userAreaId === null || ctx.coverage.areaPath(areaId).includes(userAreaId);

    /** An order the person may see, else 404. */
    const visibleOrder = async (req: FastifyRequest, id: number): Promise<WorkOrder> => {
      const p = requirePermission(req, 'read');
      const o = await svc.store.get(id);
      if (!o || !inScope(p.user.areaId, o.areaId)) throw fail('LOANET_WORK_ORDER_NOT_FOUND', { id });
      return o;
    };

    /** For a change: the role first (403, a viewer learns nothing of ids), then visible (404), then inside the person's area. */
    const changeableOrder = async (req: FastifyRequest, id: number) => {
      requirePermission(req, 'site.command');
      const o = await visibleOrder(req, id);
      const p = requirePermission(req, 'site.command', ctx.coverage.areaPath(o.areaId));
      return { order: o, user: p.user };
    };

    const act = async (req: FastifyRequest, id: number, action: WorkOrderAction, opts: { field?: string; userId?: number } = {}) => {
      const { order, user } = await changeableOrder(req, id);
      const r = await svc.act(order.id, action, user.username);
      if (!r.ok) throw workOrderRefusal(r.error, opts);
      await ctx.audit.record({ id: user.id, username: user.username }, `work_order.${action.type}`, String(order.id), {
        siteId: order.siteId,
        from: order.state,
        to: r.value.state,
      });
      return record(r.value);
    };

    app.get(
      '/api/work-orders',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'listWorkOrders',
          summary: "Work orders of an area's subtree, newest first, by state, site, alarm; `mine` for a technician's own queue",
          querystring: WorkOrderListQuery,
          response: { 200: WorkOrderList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const area = areaOfRequest(req, req.query.area);
        const limit = req.query.limit ?? 100;
        const offset = req.query.offset ?? 0;
        const states = req.query.state
          ? [...new Set(req.query.state.split(',').flatMap((s): WorkOrderState[] => (s === 'active' ? [...ACTIVE_STATES] : [s as WorkOrderState])))].filter((s) =>
              (WORK_ORDER_STATES as readonly string[]).includes(s),
            )
          : undefined;
        const whole = index().roots.length === 1 && index().roots[0]!.id === area.id;
        const { orders, total } = await svc.store.list({
          ...(whole ? {} : { areaIds: [...ctx.coverage.subtreeIds(area.id)] }),
          ...(states ? { states } : {}),
          ...(req.query.site !== undefined ? { siteId: req.query.site } : {}),
          ...(req.query.alarm !== undefined ? { alarmId: req.query.alarm } : {}),
          ...(req.query.mine ? { assigneeId: p.user.id } : req.query.assignee !== undefined ? { assigneeId: req.query.assignee } : {}),
          limit,
          offset,
        });
        return { orders: orders.map(record), total, limit, offset };
      },
    );

    app.post(
      '/api/work-orders',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'createWorkOrder',
          summary: 'Make a work order from an alarm, or for planned maintenance of a site',
          body: CreateWorkOrderRequest,
          response: { 201: WorkOrderRecord },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'site.command');
        const body = req.body;
        const notes = body.notes ?? null;
        let order: WorkOrder;
        if ('alarmId' in body) {
          const a = await ctx.alarms.alarm(body.alarmId);
          // An alarm outside the person's area is not found, as on the alarms' routes.
          if (!a || a.state === 'pending' || !inScope(p.user.areaId, a.areaId)) throw fail('LOANET_WORK_ORDER_NOT_FOUND', { id: body.alarmId });
          requirePermission(req, 'site.command', ctx.coverage.areaPath(a.areaId));
          const r = await svc.fromAlarm(a.id, p.user.username, notes);
          if (!r.ok) throw workOrderRefusal(r.error, { alarmId: a.id });
          order = r.value;
        } else {
          const obs = ctx.fleet.observation(body.siteId);
          if (!obs || !inScope(p.user.areaId, obs.areaId)) throw fail('LOANET_NOT_FOUND', { thing: 'site', id: body.siteId });
          requirePermission(req, 'site.command', ctx.coverage.areaPath(obs.areaId));
          order = await svc.planned({ siteId: obs.siteId, areaId: obs.areaId }, p.user.username, notes);
        }
        await ctx.audit.record({ id: p.user.id, username: p.user.username }, 'work_order.create', String(order.id), { siteId: order.siteId, alarmId: order.alarmId });
        return reply.code(201).send(record(order));
      },
    );

    app.get(
      '/api/work-orders/:id',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'getWorkOrder',
          summary: 'One work order and every transition of it (who, when, from, to)',
          params: WorkOrderParams,
          response: { 200: WorkOrderDetail },
        },
      },
      async (req) => {
        const o = await visibleOrder(req, req.params.id);
        const events = (await svc.store.events(o.id)).map((e) => ({ at: e.at, by: e.by, action: e.action, from: e.from, to: e.to, detail: e.detail }));
        return { order: record(o), events };
      },
    );

    app.get(
      '/api/work-orders/:id/assignees',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'listWorkOrderAssignees',
          summary: 'Who the order may be given to: enabled users who may act on sites and whose area covers its site (those the assign route accepts)',
          params: WorkOrderParams,
          response: { 200: WorkOrderAssignees },
        },
      },
      async (req) => {
        // Only those who may assign learn who may be assigned.
        const { order } = await changeableOrder(req, req.params.id);
        const path = ctx.coverage.areaPath(order.areaId);
        const users = (await ctx.users.list()).filter((u) => mayBeAssigned(u, path));
        return {
          users: users.map((u) => {
            const area = u.areaId === null ? undefined : index().byId.get(u.areaId);
            return { userId: u.id, username: u.username, role: u.role, areaKey: area?.key ?? null, areaName: area?.name ?? null };
          }),
        };
      },
    );

    const post = <B extends TSchema>(
      path: string,
      operationId: string,
      summary: string,
      body: B,
      toAction: (b: Static<B>) => WorkOrderAction,
      opts: (b: Static<B>) => { field?: string; userId?: number } = () => ({}),
    ) =>
      app.post(path, { schema: { tags: ['maintenance'], operationId, summary, params: WorkOrderParams, body, response: { 200: WorkOrderRecord } } }, async (req) => {
        const b = req.body as Static<B>;
        return act(req, (req.params as Static<typeof WorkOrderParams>).id, toAction(b), opts(b));
      });

    post(
      '/api/work-orders/:id/assign',
      'assignWorkOrder',
      'Give the order to a technician (a user who may act on sites and whose area covers the site)',
      AssignRequest,
      (b) => ({ type: 'assign', assignee: { userId: b.userId, username: '' } }),
      (b) => ({ userId: b.userId }),
    );
    post('/api/work-orders/:id/visit', 'planWorkOrderVisit', 'Plan the visit (the day, epoch ms)', PlanVisitRequest, (b) => ({ type: 'plan_visit', on: b.on }));
    post('/api/work-orders/:id/record', 'recordWorkOrder', 'Record the parts used (replaces the list) and the notes', RecordRequest, (b) => ({
      type: 'record',
      ...(b.parts !== undefined ? { parts: b.parts } : {}),
      ...(b.notes !== undefined ? { notes: b.notes } : {}),
    }));
    post(
      '/api/work-orders/:id/resolve',
      'resolveWorkOrder',
      "Say the repair is done, with what was done: the order waits for the site's verification (a sound check heard with the site operational), which closes it",
      ResolveRequest,
      (b) => ({ type: 'resolve', resolution: b.resolution }),
      () => ({ field: 'resolution' }),
    );
    post(
      '/api/work-orders/:id/cancel',
      'cancelWorkOrder',
      'Cancel the order, saying why',
      CancelRequest,
      (b) => ({ type: 'cancel', note: b.note }),
      () => ({ field: 'note' }),
    );

    app.post(
      '/api/work-orders/:id/sound-check',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'requestWorkOrderSoundCheck',
          summary: "Ask the order's site for a sound check now (the verification that closes a resolved order)",
          params: WorkOrderParams,
          response: { 202: SoundCheckRequested },
        },
      },
      async (req, reply) => {
        const { order, user } = await changeableOrder(req, req.params.id);
        const c = await svc.requestSoundCheck(order, user.username);
        await ctx.audit.record({ id: user.id, username: user.username }, 'work_order.sound_check', String(order.id), { siteId: order.siteId, commandId: c.id });
        return reply.code(202).send({ commandId: c.id, siteId: order.siteId });
      },
    );

    app.get(
      '/api/maintenance/repair-times',
      {
        schema: {
          tags: ['maintenance'],
          operationId: 'getRepairTimes',
          summary: 'Time to acknowledge and time to repair (to the verified sound check) per commune and fault kind, of alarms raised in [from, to)',
          querystring: RepairTimesQuery,
          response: { 200: RepairTimes },
        },
      },
      async (req) => {
        const area = areaOfRequest(req, req.query.area);
        const { from, to } = req.query;
        if (to <= from) throw fail('LOANET_PERIOD_EMPTY', { field: 'to', from: new Date(from).toISOString(), to: new Date(to).toISOString() });
        await ctx.alarms.settled();
        const whole = index().roots.length === 1 && index().roots[0]!.id === area.id;
        const rows = await repairTimesOf(
          { alarms: ctx.alarms.store, orders: svc.store, index: index() },
          { ...(whole ? {} : { areaIds: [...ctx.coverage.subtreeIds(area.id)] }), from, to },
        );
        return { from, to, rows };
      },
    );
  };
