/**
 * GET /api/as-run/languages: for one bulletin (and optionally one of its
 * occurrences), village by village: the village's languages, the versions it
 * was sent and what became of each, and whether it heard the bulletin in its
 * own language, or why not (server/asrun/languages.ts). Decree 49/2024/NĐ-CP
 * asks grassroots information to reach people in their own languages: this
 * is where a province sees whether it did.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requirePermission } from '../http/auth.ts';
import { Errors, fail } from '../errors.ts';
import { AsRunLanguages, AsRunLanguagesQuery, type AsRunLanguagesSite } from '../../api/as-run.ts';
import { MAX_PERIOD_MS } from '../schedule/service.ts';
import { localIso, startOfLocalDay } from '../schedule/times.ts';
import { scheduledAtOf } from '../schedule/sent-entries.ts';
import { accountArea, instantParam, type RouteDeps } from './routes.ts';
import { explainNotHeard } from './languages.ts';

export const asRunLanguageRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/as-run/languages',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'listAsRunLanguages',
          summary: 'Did each village hear a bulletin in its own language? Village by village: its languages, the versions played and their outcome, and why not',
          description:
            "Default period: the item's one start, or today (local) for a recurring item; `entry` picks one occurrence. A village's own language is the first of its languages. Not heard: no version in it was recorded (no_version: the default version played instead), its agent cannot play several versions (agent_without_parts), its version did not play to its end (not_played), the server skipped the programme there (skipped), or no receipt came (no_receipt).",
          querystring: AsRunLanguagesQuery,
          response: { 200: AsRunLanguages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        const index = ctx.coverage.areaIndex();
        let area = q.area ? ctx.coverage.resolveArea(q.area) : p.user.areaId !== null ? index.byId.get(p.user.areaId) : undefined;
        area ??= ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        const item = await ctx.schedule.service.get(q.item);
        // A scoped user sees items that play in their area (targets inside it or above it), as the schedule's routes do.
        if (p.user.areaId !== null) {
          const scope = p.user.areaId;
          const dir = await ctx.schedule.service.directory();
          const ids = ctx.schedule.service.targetAreaIds(item, dir);
          if (!ids.some((id) => index.isInSubtree(id, scope) || index.isInSubtree(scope, id))) throw Errors.notFound('broadcast_item', q.item);
        }
        let from: number;
        let to: number;
        if (q.entry !== undefined) {
          if (!q.entry.startsWith(`${item.id}@`)) throw Errors.notFound('broadcast_item', q.entry);
          from = scheduledAtOf(q.entry, -1);
          if (from < 0) throw Errors.notFound('broadcast_item', q.entry);
          to = from + 1;
        } else {
          const one = 'at' in item.start ? item.start.at : undefined;
          from = q.from !== undefined ? instantParam(q.from, 'from') : (one ?? startOfLocalDay(ctx.now()));
          to = q.to !== undefined ? instantParam(q.to, 'to') : one !== undefined && q.from === undefined ? one + 1 : from + 86_400_000;
        }
        if (to <= from) throw fail('LOANET_PERIOD_EMPTY', { field: 'to', from: localIso(from), to: localIso(to) });
        if (to - from > MAX_PERIOD_MS) throw fail('LOANET_PERIOD_TOO_LONG', { field: 'to', maxDays: MAX_PERIOD_MS / 86_400_000 });

        const { lines } = await accountArea(ctx, area, from, to, { item: item.id, graceS: q.graceS });
        const sites: AsRunLanguagesSite[] = [];
        for (const l of lines) {
          if (q.entry !== undefined && l.entryId !== q.entry) continue;
          const x = l.languages;
          sites.push({
            entryId: l.entryId,
            scheduledAt: l.scheduledAt,
            scheduledLocal: localIso(l.scheduledAt),
            siteId: l.siteId,
            siteName: l.siteName,
            areaKey: l.areaKey,
            areaName: l.areaName,
            status: l.status,
            // An item without versions: one version, in its media's language, whatever the village speaks.
            languages: x?.site ?? [],
            versions: x?.versions ?? [],
            played: x?.played ?? [],
            missing: x?.missing ?? [],
            fallback: x?.fallback ?? null,
            heardOwnLanguage: x?.heardOwnLanguage ?? null,
            notHeard: x?.notHeard ?? null,
            explanation: x ? explainNotHeard(x) : null,
          });
        }
        return {
          item: { id: item.id, title: item.title, language: item.language ?? null, versions: (item.versions ?? []).map((v) => ({ language: v.language, mediaId: v.mediaId })) },
          area: { key: area.key, code: area.code, name: area.name },
          from,
          fromLocal: localIso(from),
          to,
          toLocal: localIso(to),
          summary: {
            sites: sites.length,
            heardOwnLanguage: sites.filter((s) => s.heardOwnLanguage === true).length,
            notHeard: sites.filter((s) => s.heardOwnLanguage === false).length,
            unknown: sites.filter((s) => s.heardOwnLanguage === null).length,
          },
          sites,
        };
      },
    );
  };
