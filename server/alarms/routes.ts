/**
 * Technicians' alarms over HTTP: list and filter (JSON or CSV), one alarm
 * with its history, comments and incident, acknowledge, clear by hand,
 * comment, and the area summary tree.
 *
 * Who: reading needs `read`; acknowledging, clearing and commenting need
 * `site.command` (technicians, operators, admins: whoever may act on the
 * site). Scope: a person bound to an area sees only the alarms of sites in
 * its subtree; an alarm outside it is not found (404, so ids cannot be
 * probed), and a list or summary asked for an area outside it is 403. Every
 * person's action is written to the audit log. A refused action is a typed
 * code (refusals.ts), never prose.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import type { AreaNode } from '../registry/model.ts';
import {
  AcknowledgeRequest,
  AlarmDetail,
  AlarmList,
  AlarmListQuery,
  AlarmParams,
  AlarmRecord,
  AlarmSummary,
  AlarmSummaryQuery,
  AlarmComment as AlarmCommentSchema,
  ClearRequest,
  CommentRequest,
} from '../../api/alarms.ts';
import type { Static } from '@sinclair/typebox';
import { alarmsCsv } from './csv-export.ts';
import type { Incident } from './incidents.ts';
import { ALARM_KINDS, ALARM_SEVERITIES, type Alarm, type AlarmKind, type AlarmSeverity, type AlarmState } from './model.ts';
import { alarmRefusal } from './refusals.ts';

export type RouteDeps = Pick<ServerContext, 'coverage' | 'fleet' | 'audit' | 'now' | 'alarms'>;

/** Most alarms one CSV export holds: a year of a province's alarms, well under what a spreadsheet opens. */
const CSV_MAX_ROWS = 50_000;

function listOf<T extends string>(raw: string | undefined, allowed: readonly T[], field: string): T[] | undefined {
  if (raw === undefined) return undefined;
  const out: T[] = [];
  for (const v of raw.split(',')) {
    if (!(allowed as readonly string[]).includes(v)) throw fail('LOANET_BAD_REQUEST', { field, text: `${field}: unknown value ${v}; one of ${allowed.join(', ')}`, value: v });
    out.push(v as T);
  }
  return out;
}

export const alarmRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const index = () => ctx.coverage.areaIndex();
    const areaKeyOf = (areaId: number) => index().byId.get(areaId)?.key ?? null;

    const record = (a: Alarm): Static<typeof AlarmRecord> => ({
      id: a.id,
      siteId: a.siteId,
      siteName: ctx.fleet.observation(a.siteId)?.name ?? null,
      siteKind: a.siteKind,
      areaKey: areaKeyOf(a.areaId),
      kind: a.kind,
      severity: a.severity,
      reasons: a.reasons,
      state: a.state,
      detectedAt: a.detectedAt,
      raisedAt: a.raisedAt,
      updatedAt: a.updatedAt,
      count: a.count,
      active: a.active,
      acknowledged: a.acknowledged,
      cleared: a.cleared,
      incidentId: a.incidentId,
    });
    const incidentRecord = (i: Incident) => ({
      id: i.id,
      kind: i.kind,
      alarmKind: i.alarmKind,
      areaKey: areaKeyOf(i.areaId),
      rootAlarmId: i.rootAlarmId,
      state: i.state,
      severity: i.severity,
      openedAt: i.openedAt,
      resolvedAt: i.resolvedAt,
      members: i.members,
      counts: i.counts,
    });

    /** The area a request is about (its `area`, else the person's, else the whole network), checked against the person's scope. */
    const areaOfRequest = (req: FastifyRequest, key: string | undefined): AreaNode => {
      const p = requirePermission(req, 'read');
      let area = key ? ctx.coverage.resolveArea(key) : p.user.areaId !== null ? index().byId.get(p.user.areaId) : undefined;
      area ??= ctx.coverage.defaultRoot();
      requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
      return area;
    };

    /** An alarm the person may see, else 404 (a person of commune B is not told that commune A's alarm exists). */
    const visibleAlarm = async (req: FastifyRequest, id: string): Promise<Alarm> => {
      const p = requirePermission(req, 'read');
      const a = await ctx.alarms.alarm(id);
      if (!a || a.state === 'pending') throw fail('LOANET_ALARM_NOT_FOUND', { id });
      if (p.user.areaId !== null && !ctx.coverage.areaPath(a.areaId).includes(p.user.areaId)) throw fail('LOANET_ALARM_NOT_FOUND', { id });
      return a;
    };

    /** The same, for a change: the role first (403: a viewer learns nothing of ids), then visible (404), then inside the person's area. */
    const changeableAlarm = async (req: FastifyRequest, id: string) => {
      requirePermission(req, 'site.command');
      const a = await visibleAlarm(req, id);
      const p = requirePermission(req, 'site.command', ctx.coverage.areaPath(a.areaId));
      return { alarm: a, user: p.user };
    };

    const query = (req: FastifyRequest, q: AlarmListQuery, limit: number, offset: number) => {
      let area = areaOfRequest(req, q.area);
      if (q.commune) {
        const c = ctx.coverage.resolveArea(q.commune);
        // A commune outside the asked area narrows to nothing.
        if (!index().isInSubtree(c.id, area.id)) return undefined;
        area = c;
      }
      const states = listOf(q.state, ['open', 'raised', 'acknowledged', 'cleared'] as const, 'state') ?? ['open'];
      const expanded = [...new Set(states.flatMap((s): AlarmState[] => (s === 'open' ? ['raised', 'acknowledged'] : [s])))];
      const whole = index().roots.length === 1 && index().roots[0]!.id === area.id;
      return {
        ...(whole ? {} : { areaIds: [...ctx.coverage.subtreeIds(area.id)] }),
        severities: listOf<AlarmSeverity>(q.severity, ALARM_SEVERITIES, 'severity'),
        kinds: listOf<AlarmKind>(q.kind, ALARM_KINDS, 'kind'),
        states: expanded,
        ...(q.site !== undefined ? { siteId: q.site } : {}),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        limit,
        offset,
      };
    };

    app.get(
      '/api/alarms',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'listAlarms',
          summary:
            "Technicians' alarms of an area's subtree, most recently raised first, filtered by severity, state, kind, commune, site and time raised; CSV with Accept: text/csv",
          querystring: AlarmListQuery,
          response: {
            200: {
              description: 'a page of alarms: JSON, or CSV (every match up to 50,000, headers in Vietnamese / English) when asked',
              content: { 'application/json': { schema: AlarmList }, 'text/csv': { schema: Type.String() } },
            },
          },
        },
      },
      async (req, reply) => {
        await ctx.alarms.settled();
        const wantsCsv = /\btext\/csv\b/i.test(req.headers.accept ?? '');
        const limit = wantsCsv ? CSV_MAX_ROWS : (req.query.limit ?? 100);
        const offset = wantsCsv ? 0 : (req.query.offset ?? 0);
        const q = query(req, req.query, limit, offset);
        const { alarms, total } = q ? await ctx.alarms.store.list(q) : { alarms: [], total: 0 };
        if (wantsCsv) {
          const now = ctx.now();
          const csv = alarmsCsv(
            alarms,
            (id) => {
              const o = ctx.fleet.observation(id);
              return { name: o?.name ?? null, areaKey: o ? areaKeyOf(o.areaId) : null };
            },
            now,
          );
          return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="canh-bao-ky-thuat.csv"').send(csv);
        }
        // A 200 with two content types: the type provider cannot check it, so the answer is typed here.
        const body: Static<typeof AlarmList> = { alarms: alarms.map(record), total, limit, offset };
        return body;
      },
    );

    app.get(
      '/api/alarms/summary',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'getAlarmSummary',
          summary: "Open alarms by severity and state in an area's subtree, and in each of its children down to `depth` levels (parents first)",
          querystring: AlarmSummaryQuery,
          response: { 200: AlarmSummary },
        },
      },
      async (req) => {
        const area = areaOfRequest(req, req.query.area);
        const depth = req.query.depth ?? 1;
        const summary = ctx.alarms.areaSummary();
        const out: Static<typeof AlarmSummary>['areas'] = [];
        const walk = (node: AreaNode, parentKey: string | null, level: number) => {
          const s = summary.of(node.key);
          if (!s) return;
          out.push({ ...s, parentKey });
          if (level < depth) for (const c of summary.index.children(node.id)) walk(c, node.key, level + 1);
        };
        walk(area, area.parentId === null ? null : areaKeyOf(area.parentId), 0);
        return { areas: out };
      },
    );

    app.get(
      '/api/alarms/:id',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'getAlarm',
          summary: 'One alarm: its lifecycle history, people’s comments and the incident it is a child of',
          params: AlarmParams,
          response: { 200: AlarmDetail },
        },
      },
      async (req) => {
        const a = await visibleAlarm(req, req.params.id);
        await ctx.alarms.settled();
        const history = (await ctx.alarms.store.history(a.id)).map(({ type, at, count, alarmId: _a, ...detail }) => ({ type, at, count, detail }));
        const comments = (await ctx.alarms.store.comments(a.id)).map(({ at, by, note }) => ({ at, by, note }));
        const incident = a.incidentId ? await ctx.alarms.incident(a.incidentId) : undefined;
        return { alarm: record(a), history, comments, incident: incident ? incidentRecord(incident) : null };
      },
    );

    app.post(
      '/api/alarms/:id/acknowledge',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'acknowledgeAlarm',
          summary: 'Say you own a raised alarm (who and when are recorded, a note optional)',
          params: AlarmParams,
          body: AcknowledgeRequest,
          response: { 200: AlarmRecord },
        },
      },
      async (req) => {
        const { alarm, user } = await changeableAlarm(req, req.params.id);
        const note = req.body?.note ?? null;
        const r = await ctx.alarms.acknowledge(alarm.id, user.username, note);
        if (!r.ok) throw alarmRefusal(r.error);
        await ctx.audit.record({ id: user.id, username: user.username }, 'alarm.acknowledge', alarm.id, { siteId: alarm.siteId, kind: alarm.kind, note });
        return record(r.alarm);
      },
    );

    app.post(
      '/api/alarms/:id/clear',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'clearAlarm',
          summary: 'Clear an alarm by hand, saying what was done (refused while the server still sees the fault)',
          params: AlarmParams,
          body: ClearRequest,
          response: { 200: AlarmRecord },
        },
      },
      async (req) => {
        const { alarm, user } = await changeableAlarm(req, req.params.id);
        const r = await ctx.alarms.clear(alarm.id, user.username, req.body.note);
        if (!r.ok) throw alarmRefusal(r.error);
        await ctx.audit.record({ id: user.id, username: user.username }, 'alarm.clear', alarm.id, { siteId: alarm.siteId, kind: alarm.kind, note: req.body.note });
        return record(r.alarm);
      },
    );

    app.post(
      '/api/alarms/:id/comments',
      {
        schema: {
          tags: ['alarms'],
          operationId: 'commentAlarm',
          summary: 'Add a comment to an alarm, open or cleared',
          params: AlarmParams,
          body: CommentRequest,
          response: { 201: AlarmCommentSchema },
        },
      },
      async (req, reply) => {
        const { alarm, user } = await changeableAlarm(req, req.params.id);
        const c = await ctx.alarms.comment(alarm.id, user.username, req.body.note);
        await ctx.audit.record({ id: user.id, username: user.username }, 'alarm.comment', alarm.id, { siteId: alarm.siteId });
        return reply.code(201).send({ at: c.at, by: c.by, note: c.note });
      },
    );
  };
