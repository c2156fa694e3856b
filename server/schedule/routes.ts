/**
 * The schedule over HTTP: broadcast items (create as draft, list, read, edit
 * a draft, approve, cancel), the dry-run conflict check the console shows
 * before saving, the calendar of occurrences per area, and playlist
 * distribution: per site desired vs held, and how many sites have not
 * converged. Rules (four eyes, area scope, same-priority refusal) live in
 * server/schedule/service.ts; docs/bulletins.md explains them.
 *
 * Times in: epoch ms, ISO 8601 with an offset, or local Asia/Ho_Chi_Minh
 * wall time without one. Times out: epoch ms plus `…Local` ISO with +07:00.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { Errors, fail } from '../errors.ts';
import type { User } from '../auth/users.ts';
import type { ScheduledItem } from './items-store.ts';
import { MAX_PERIOD_MS, conflictView, inputRefused, type ItemInput } from './service.ts';
import { itemStarts, targetSites, type SiteDirectory } from './resolve.ts';
import { localIso, parseInstant, startOfLocalDay, ScheduleInputError } from './times.ts';
import type { AreaNode } from '../registry/model.ts';
import { ApprovedItem, Calendar, CheckResult, Distribution, ItemList, ItemVersionIn, ItemView, SitePlaylist } from '../../api/schedule.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'coverage' | 'fleet' | 'now' | 'schedule' | 'sites'>;

const TimeIn = Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Integer({ minimum: 0 })], {
  description: 'epoch ms, ISO 8601 with an offset (2026-11-27T06:00:00+07:00), or local Asia/Ho_Chi_Minh time without one (2026-11-27T06:00)',
});
const PriorityIn = Type.Union([Type.Literal('normal'), Type.Literal('priority'), Type.Literal('emergency')], {
  description: 'Circular 39/2020/TT-BTTTT class; a higher one pre-empts a lower one at a site',
});
const StartIn = Type.Union(
  [
    Type.Object({ at: TimeIn }, { additionalProperties: false, description: 'one play at this instant' }),
    Type.Object(
      {
        dtstart: TimeIn,
        rrule: Type.String({ minLength: 1, maxLength: 300, description: 'RFC 5545 RRULE, e.g. FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0 (every day at 06:00 and 17:00)' }),
        exdates: Type.Optional(Type.Array(TimeIn, { maxItems: 400, description: 'occurrences left out (local wall times)' })),
      },
      { additionalProperties: false, description: 'a recurrence in Asia/Ho_Chi_Minh; dtstart is the first occurrence' },
    ),
  ],
  { description: 'when: a one-off `at`, or a recurrence `dtstart` + `rrule`' },
);
const TargetsIn = Type.Object(
  {
    areas: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 200, description: 'area codes or keys (02683, 2025.02683): every site in each subtree' }),
    ),
    sites: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 2000, description: 'site ids' })),
  },
  { additionalProperties: false },
);
const itemFields = {
  title: Type.String({ minLength: 1, maxLength: 200 }),
  mediaId: Type.String({ minLength: 1, maxLength: 64, description: 'a ready item of the media library: the default version (Vietnamese normally)' }),
  versions: Type.Optional(
    Type.Array(ItemVersionIn, {
      maxItems: 7,
      description: "the bulletin in other languages, each a ready media item in that language; a site hears the versions of its area's languages, in their order",
    }),
  ),
  targets: TargetsIn,
  start: StartIn,
  priority: Type.Optional(PriorityIn),
  validFrom: Type.Optional(Type.Union([TimeIn, Type.Null()], { description: 'no occurrence starts before this' })),
  validUntil: Type.Optional(Type.Union([TimeIn, Type.Null()], { description: 'no occurrence starts at or after this (nor, when queued, ends after it)' })),
  queue: Type.Optional(Type.Boolean({ description: 'wait behind an overlapping item of the same or higher priority instead of being refused (same) or skipped (higher)' })),
  note: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
};
const ItemBody = Type.Object(itemFields, { additionalProperties: false });
const ItemPatchBody = Type.Partial(Type.Object(itemFields), { additionalProperties: false });
const ItemId = Type.Object({ id: Type.String({ maxLength: 80 }) });
const Period = {
  from: Type.Optional(TimeIn),
  to: Type.Optional(TimeIn),
};

export const scheduleRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const svc = ctx.schedule.service;
    const dist = ctx.schedule.distribution;

    const parseTime = (v: string | number, field: string) => {
      try {
        return parseInstant(v, field);
      } catch (e) {
        if (e instanceof ScheduleInputError) throw inputRefused(e);
        throw e;
      }
    };

    /** The period of a query: default today (local), at most MAX_PERIOD_MS. */
    const periodOf = (q: { from?: string | number; to?: string | number }, defaultDays: number) => {
      const from = q.from !== undefined ? parseTime(q.from, 'from') : startOfLocalDay(ctx.now());
      const to = q.to !== undefined ? parseTime(q.to, 'to') : from + defaultDays * 86_400_000;
      if (to <= from) throw fail('LOANET_PERIOD_EMPTY', { field: 'to', from: localIso(from), to: localIso(to) });
      if (to - from > MAX_PERIOD_MS) throw fail('LOANET_PERIOD_TOO_LONG', { field: 'to', maxDays: MAX_PERIOD_MS / 86_400_000 });
      return { from, to };
    };

    /** The area asked for (scope-checked), else the user's own, else the default root. */
    const areaFor = (req: FastifyRequest, code: string | undefined): AreaNode => {
      const p = requirePermission(req, 'read');
      if (code) {
        const a = ctx.coverage.resolveArea(code);
        requirePermission(req, 'read', ctx.coverage.areaPath(a.id));
        return a;
      }
      if (p.user.areaId !== null) {
        const own = ctx.coverage.areaIndex().byId.get(p.user.areaId);
        if (own) return own;
      }
      return ctx.coverage.defaultRoot();
    };

    /** A scoped user sees items that play in their area (targets inside it, or above it). */
    const visible = (user: User, item: ScheduledItem, dir: SiteDirectory) => {
      if (user.areaId === null) return true;
      const idx = dir.index;
      return svc.targetAreaIds(item, dir).some((id) => idx.isInSubtree(id, user.areaId!) || idx.isInSubtree(user.areaId!, id));
    };

    const view = (item: ScheduledItem, dir: SiteDirectory) => {
      const idx = dir.index;
      const now = ctx.now();
      const next = itemStarts(item, { from: now, to: now + 31 * 86_400_000 }, 5).starts;
      const local = (t: number | null | undefined) => (t === null || t === undefined ? null : localIso(t));
      return {
        id: item.id,
        title: item.title,
        status: item.status,
        priority: item.priority,
        queue: item.queue === true,
        mediaId: item.mediaId,
        durationMs: item.durationMs,
        language: item.language ?? null,
        versions: item.versions ?? [],
        targets: {
          areas: item.targets.areaKeys.map((k) => {
            const a = idx.get(k);
            return { key: k, code: a?.code ?? k.slice(k.indexOf('.') + 1), name: a?.name ?? null };
          }),
          sites: item.targets.siteIds,
        },
        sites: targetSites(item, dir).siteIds.length,
        start: 'at' in item.start ? { at: item.start.at, atLocal: localIso(item.start.at) } : { ...item.start, zone: item.start.zone ?? 'Asia/Ho_Chi_Minh' },
        validFrom: item.validFrom ?? null,
        validFromLocal: local(item.validFrom),
        validUntil: item.validUntil ?? null,
        validUntilLocal: local(item.validUntil),
        note: item.note,
        nextOccurrences: next.map((t) => ({ at: t, local: localIso(t) })),
        createdBy: item.createdBy,
        createdAt: item.createdAt,
        createdAtLocal: localIso(item.createdAt),
        updatedBy: item.updatedBy,
        updatedAt: item.updatedAt,
        updatedAtLocal: localIso(item.updatedAt),
        approvedBy: item.approvedBy ?? null,
        approvedAt: item.approvedAt,
        approvedAtLocal: local(item.approvedAt),
        cancelledBy: item.cancelledBy,
        cancelledAt: item.cancelledAt,
        cancelledAtLocal: local(item.cancelledAt),
        cancelReason: item.cancelReason,
      };
    };

    const toInput = (b: typeof ItemBody.static): ItemInput => ({ ...b, targets: { areas: b.targets.areas ?? [], sites: b.targets.sites ?? [] } });

    app.get(
      '/api/schedule/items',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'listScheduleItems',
          summary: 'Broadcast items that play in an area (targets inside it or above it), by status and period',
          querystring: Type.Object({
            area: Type.Optional(Type.String({ description: 'area code or key; default: your own area' })),
            status: Type.Optional(Type.Union([Type.Literal('draft'), Type.Literal('approved'), Type.Literal('cancelled')])),
            ...Period,
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            offset: Type.Optional(Type.Integer({ minimum: 0 })),
          }),
          response: { 200: ItemList },
        },
      },
      async (req) => {
        const area = areaFor(req, req.query.area);
        const idx = ctx.coverage.areaIndex();
        const areaIds = [...idx.subtree(area.id)].map((a) => a.id).concat(idx.ancestors(area.id).map((a) => a.id));
        const from = req.query.from !== undefined ? parseTime(req.query.from, 'from') : undefined;
        const to = req.query.to !== undefined ? parseTime(req.query.to, 'to') : undefined;
        const r = await svc.directory();
        const { total, items } = await svc.list({ areaIds, status: req.query.status, from, to, limit: req.query.limit ?? 200, offset: req.query.offset ?? 0 });
        return { area: { key: area.key, name: area.name }, total, items: items.map((i) => view(i, r)) };
      },
    );

    app.post(
      '/api/schedule/items',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'createScheduleItem',
          summary: 'Create a broadcast item as a draft (it goes out only once approved)',
          description:
            'Refused with 400 naming the field for unknown media, areas or sites, a bad RRULE, or a validity window that ends before it starts; 403 outside your area; 409 LOANET_SCHEDULE_CONFLICT naming the overlapping item(s) and the sites when an approved item of the same priority overlaps at a site (send "queue": true to play right after it instead).',
          body: ItemBody,
          response: { 201: ItemView },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'schedule.write');
        const item = await svc.create(toInput(req.body), p.user);
        return reply
          .status(201)
          .header('location', `/api/schedule/items/${item.id}`)
          .send(view(item, await svc.directory()));
      },
    );

    app.post(
      '/api/schedule/check',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'checkScheduleItem',
          summary: 'Dry run: would this item be accepted? Answers the conflicts, the sites and the next occurrences, saves nothing',
          body: Type.Object(
            { ...itemFields, id: Type.Optional(Type.String({ maxLength: 80, description: 'the item being edited (not compared with itself)' })) },
            { additionalProperties: false },
          ),
          response: { 200: CheckResult },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'schedule.write');
        const { id, ...body } = req.body;
        const existing = id ? await svc.get(id) : undefined;
        const dir = await svc.directory();
        const item = await svc.prepare(toInput(body), p.user, existing, dir);
        svc.assertScope(p.user, item, dir);
        const { result, sites, next } = await svc.check(item, dir);
        return {
          ok: result.ok,
          // The console words the conflict from its code and the conflicts' titles (strings/errors.ts): no Vietnamese sentence here.
          ...(result.ok ? {} : { code: result.code, message: result.message }),
          conflicts: result.ok ? [] : result.conflicts.map(conflictView),
          queuedBehind: result.ok ? result.queuedBehind.map(conflictView) : [],
          problems: result.problems,
          sites,
          nextOccurrences: next.map((t) => ({ at: t, local: localIso(t) })),
        };
      },
    );

    app.get(
      '/api/schedule/items/:id',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'getScheduleItem',
          summary: 'One broadcast item, with its sites and next occurrences',
          params: ItemId,
          response: { 200: ItemView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const item = await svc.get(req.params.id);
        const dir = await svc.directory();
        if (!visible(p.user, item, dir)) throw Errors.notFound('broadcast_item', req.params.id);
        return view(item, dir);
      },
    );

    app.patch(
      '/api/schedule/items/:id',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'updateScheduleItem',
          summary: 'Edit a draft (approved items are cancelled and created anew)',
          params: ItemId,
          body: ItemPatchBody,
          response: { 200: ItemView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'schedule.write');
        const b = req.body;
        const patch = { ...b, ...(b.targets ? { targets: { areas: b.targets.areas ?? [], sites: b.targets.sites ?? [] } } : {}) };
        return view(await svc.update(req.params.id, patch, p.user), await svc.directory());
      },
    );

    app.post(
      '/api/schedule/items/:id/approve',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'approveScheduleItem',
          summary: 'Approve a draft: it goes out to every targeted site (answers once the playlists are published)',
          description:
            'Four eyes: an operator may not approve a draft they created or last edited; an admin may approve any. The same-priority check runs again (409 when something overlapping was approved meanwhile).',
          params: ItemId,
          response: { 200: ApprovedItem },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'schedule.approve');
        const item = await svc.approve(req.params.id, p.user);
        const d = dist.lastRefresh();
        return { ...view(item, await svc.directory()), distribution: d ? { at: d.at, sites: d.sites, published: d.published, failed: d.failed } : null };
      },
    );

    app.post(
      '/api/schedule/items/:id/cancel',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'cancelScheduleItem',
          summary: 'Cancel a draft or an approved item; approved ones are withdrawn from every playlist',
          params: ItemId,
          body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false })),
          response: { 200: ItemView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'schedule.write');
        const item = await svc.cancel(req.params.id, p.user, req.body?.reason);
        return view(item, await svc.directory());
      },
    );

    app.get(
      '/api/schedule/calendar',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'getScheduleCalendar',
          summary: 'Occurrences of the items that play in an area during a period (the week view); default: 7 days from today',
          querystring: Type.Object({
            area: Type.Optional(Type.String()),
            ...Period,
            includeDrafts: Type.Optional(Type.Boolean({ description: 'also drafts (not yet going out)' })),
            includeCancelled: Type.Optional(Type.Boolean()),
          }),
          response: { 200: Calendar },
        },
      },
      async (req) => {
        const area = areaFor(req, req.query.area);
        const { from, to } = periodOf(req.query, 7);
        const c = await svc.calendar(area, from, to, { includeDrafts: req.query.includeDrafts === true, includeCancelled: req.query.includeCancelled === true });
        return {
          area: { key: area.key, code: area.code, name: area.name },
          from,
          fromLocal: localIso(from),
          to,
          toLocal: localIso(to),
          occurrences: c.occurrences,
          problems: c.problems,
        };
      },
    );

    app.get(
      '/api/schedule/distribution',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'getScheduleDistribution',
          summary: 'Playlist distribution: the last refresh, and the sites of an area whose agent does not hold the desired playlist version',
          querystring: Type.Object({ area: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })) }),
          response: { 200: Distribution },
        },
      },
      async (req) => {
        const area = areaFor(req, req.query.area);
        const ids = (await ctx.sites.list({ areaIds: ctx.coverage.subtreeIds(area.id) })).map((s) => s.id);
        const c = dist.convergence(ids);
        const last = dist.lastRefresh();
        return {
          area: { key: area.key, name: area.name },
          lastRefresh: last ? { ...last, atLocal: localIso(last.at) } : null,
          sites: c.sites,
          converged: c.converged,
          notConverged: c.notConverged.length,
          notConvergedSites: c.notConverged.slice(0, req.query.limit ?? 100).map((n) => ({ ...n, online: ctx.fleet.isOnline(n.siteId) })),
        };
      },
    );

    app.get(
      '/api/sites/:id/playlist',
      {
        schema: {
          tags: ['schedule', 'sites'],
          operationId: 'getSitePlaylist',
          summary: "A site's desired playlist (what the server published) against the version its agent reports holding",
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 200: SitePlaylist },
        },
      },
      async (req) => {
        const site = await ctx.sites.require(req.params.id);
        requirePermission(req, 'read', ctx.coverage.areaPath(site.areaId));
        const s = dist.status(site.id);
        return {
          siteId: site.id,
          online: ctx.fleet.isOnline(site.id),
          converged: s.converged,
          desired: s.desired
            ? {
                ...s.desired,
                atLocal: localIso(s.desired.at),
                horizonEndLocal: localIso(s.desired.horizonEnd),
                entries: s.desired.entries.map((e) => ({ ...e, startLocal: localIso(e.startAt), endLocal: localIso(e.startAt + e.durationMs) })),
              }
            : null,
          published: s.published ? { ...s.published, atLocal: localIso(s.published.at) } : null,
          held: s.held,
        };
      },
    );
  };
