/**
 * GET /api/as-run: the nhật ký phát thanh of an area for a period. One line
 * per (entry, site) the server asked to play, with the site's receipt or,
 * when none came, why not as far as the server knows (server/asrun/
 * accounting.ts). JSON by default; CSV (UTF-8 with BOM, Vietnamese and
 * English headers, local times) when asked with `Accept: text/csv` or
 * `?format=csv`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { fail } from '../errors.ts';
import { type AS_RUN_STATUSES, STATUS_LABEL, accountAsRun, type SiteInfo, type SiteNow } from './accounting.ts';
import { type AS_RUN_STATUS_VALUES, AsRunLog, AsRunQuery } from '../../api/as-run.ts';
import { asRunCsv } from './csv.ts';
import { MAX_PERIOD_MS, inputRefused } from '../schedule/service.ts';
import { ScheduleInputError, localIso, parseInstant, startOfLocalDay } from '../schedule/times.ts';
import { SCHEDULE_ZONE } from '../schedule/recurrence.ts';
import type { AreaNode } from '../registry/model.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'asRun' | 'coverage' | 'fleet' | 'now' | 'schedule' | 'sites'>;

// The contract's statuses are the accounting's, in its order (the order of every byStatus): a status
// added on one side only fails the typecheck.
type Same<A extends readonly string[], B extends readonly string[]> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const sameStatuses: Same<typeof AS_RUN_STATUSES, typeof AS_RUN_STATUS_VALUES> = true;
void sameStatuses;

/**
 * The as-run accounting of an area's sites for a period (optionally one site,
 * one item): the stores read, then the pure accounting. Shared by the log and
 * the languages view (language-routes.ts).
 */
export async function accountArea(
  ctx: RouteDeps,
  area: AreaNode,
  from: number,
  to: number,
  opts: { site?: string | undefined; item?: string | undefined; graceS?: number | undefined },
): Promise<ReturnType<typeof accountAsRun>> {
  const index = ctx.coverage.areaIndex();
  let sites = await ctx.sites.list({ areaIds: ctx.coverage.subtreeIds(area.id), includeRetired: true });
  if (opts.site) {
    sites = sites.filter((s) => s.id === opts.site);
    if (sites.length === 0) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: 'site', thing: 'site', id: opts.site });
  }
  const siteIds = sites.map((s) => s.id);
  const info = new Map<string, SiteInfo>(sites.map((s) => [s.id, { name: s.name, areaKey: s.areaKey, areaName: index.byId.get(s.areaId)?.name ?? s.areaKey }]));
  const sent = await ctx.schedule.sent.list({ siteIds, from, to, ...(opts.item ? { itemId: opts.item } : {}) });
  const receipts = await ctx.asRun.list({ siteIds, from, to, ...(opts.item ? { itemId: opts.item } : {}) });
  // Each item's title read once, before the accounting (which is synchronous); an item gone is named by its id.
  const titles = new Map<string, string>();
  for (const itemId of new Set([...sent, ...receipts].map((e) => e.itemId))) {
    titles.set(itemId, (await ctx.schedule.service.get(itemId).catch(() => undefined))?.title ?? itemId);
  }
  const titleOf = (itemId: string) => titles.get(itemId) ?? itemId;
  const now = ctx.now();
  const siteNow = (id: string): SiteNow | undefined => {
    const v = ctx.fleet.classify(id, now);
    if (!v) return { condition: 'retired', reason: null };
    const r = v.reasons[0];
    if (r) return { condition: v.condition, reason: { code: r.code, params: r.params, message: r.message } };
    // Never heard from has no reason of its own in the verdict: say so.
    return { condition: v.condition, reason: v.condition === 'unverified' ? { code: 'never_connected', params: {}, message: 'never connected to the server' } : null };
  };
  return accountAsRun({ sent, receipts, sites: info, titleOf, siteNow, now, ...(opts.graceS !== undefined ? { graceMs: opts.graceS * 1000 } : {}) });
}

/** A time in a query (epoch ms or a local ISO time), or the schedule's refusal naming the field. */
export function instantParam(v: string | number, field: string): number {
  try {
    return parseInstant(v, field);
  } catch (e) {
    if (e instanceof ScheduleInputError) throw inputRefused(e);
    throw e;
  }
}

export const asRunRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/as-run',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'listAsRun',
          summary:
            'As-run log (nhật ký phát thanh) of an area for a period: every (entry, site) played, late, partial, skipped with why, or not reported; CSV with Accept: text/csv',
          description:
            'Default period: today (local). Each line: the bulletin, the site, its status (played | late | early | unverified | partial | skipped | unknown | no_receipt | upcoming; early/late: on the server clock, after the site corrected its clock; unverified: played on a site clock never checked against the server clock, so when is not known; unknown: the site lost its record of the entry and does not guess), the site clock when it played (clockSynced, clockErrorMs), who says so (agent receipt or server), the reason in Vietnamese and English, start/end/start error/frames from the receipt, and for no_receipt the site\'s condition now (e.g. offline since 14:02). CSV: UTF-8 with BOM, headers "Vietnamese / English", times dd/mm/yyyy hh:mm:ss in Asia/Ho_Chi_Minh.',
          querystring: AsRunQuery,
          response: { 200: { description: 'the log: JSON, or CSV when asked', content: { 'application/json': { schema: AsRunLog }, 'text/csv': { schema: Type.String() } } } },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        const index = ctx.coverage.areaIndex();
        let area = q.area ? ctx.coverage.resolveArea(q.area) : p.user.areaId !== null ? index.byId.get(p.user.areaId) : undefined;
        area ??= ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        const from = q.from !== undefined ? instantParam(q.from, 'from') : startOfLocalDay(ctx.now());
        const to = q.to !== undefined ? instantParam(q.to, 'to') : from + 86_400_000;
        if (to <= from) throw fail('LOANET_PERIOD_EMPTY', { field: 'to', from: localIso(from), to: localIso(to) });
        if (to - from > MAX_PERIOD_MS) throw fail('LOANET_PERIOD_TOO_LONG', { field: 'to', maxDays: MAX_PERIOD_MS / 86_400_000 });

        const { lines: all, summary, entries } = await accountArea(ctx, area, from, to, { site: q.site, item: q.item, graceS: q.graceS });
        const lines = q.status ? all.filter((l) => l.status === q.status) : all;

        const wantsCsv = q.format === 'csv' || (q.format !== 'json' && /\btext\/csv\b/i.test(req.headers.accept ?? ''));
        if (wantsCsv) {
          const day = localIso(from).slice(0, 10).replace(/-/g, '');
          return reply
            .header('content-type', 'text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="nhat-ky-phat-thanh_${area.code}_${day}.csv"`)
            .send(asRunCsv(lines, SCHEDULE_ZONE));
        }
        const local = (t: number | null) => (t === null ? null : localIso(t));
        // A 200 with two content types: the type provider cannot check it, so the answer is typed here.
        const log: AsRunLog = {
          area: { key: area.key, code: area.code, name: area.name },
          from,
          fromLocal: localIso(from),
          to,
          toLocal: localIso(to),
          summary,
          entries: entries.map((e) => ({ ...e, scheduledLocal: localIso(e.scheduledAt) })),
          statusLabels: STATUS_LABEL,
          lines: lines.map((l) => ({
            ...l,
            scheduledLocal: localIso(l.scheduledAt),
            startLocal: localIso(l.startAt),
            startedLocal: local(l.startedAt),
            endedLocal: local(l.endedAt),
            receivedLocal: local(l.receivedAt),
          })),
        };
        return log;
      },
    );
  };
