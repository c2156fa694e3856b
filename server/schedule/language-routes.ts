/**
 * GET /api/schedule/languages: for a commune (any area), the languages its
 * villages hear bulletins in, and for each approved bulletin that will play
 * there, the languages with no version yet, and where they are spoken: what
 * the commune's station must still record (Decree 49/2024/NĐ-CP).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { ScheduleLanguages } from '../../api/schedule.ts';
import { effectiveLanguages } from '../registry/area-languages.ts';
import { localIso } from './times.ts';
import { itemStarts, targetSites } from './resolve.ts';
import { itemVersions, missingVersions } from './language-plan.ts';
import { CONFLICT_WINDOW_MS } from './service.ts';

/** What these routes use of the server, and nothing else. */
export type LanguageRouteDeps = Pick<ServerContext, 'coverage' | 'media' | 'now' | 'schedule'>;

export const scheduleLanguageRoutes =
  (ctx: LanguageRouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const svc = ctx.schedule.service;

    app.get(
      '/api/schedule/languages',
      {
        schema: {
          tags: ['schedule'],
          operationId: 'getScheduleLanguages',
          summary: "A commune's villages' languages, and the language versions its upcoming bulletins still lack",
          description:
            'Each area of the subtree with the languages it hears bulletins in (its own, inherited, or the Vietnamese default); then each approved item with an occurrence in the next 31 days at a site of the area, with the languages spoken at its sites there that it has no version in, and the villages that speak them.',
          querystring: Type.Object({ area: Type.Optional(Type.String({ maxLength: 100, description: 'area code or key; default: your own area, else the province' })) }),
          response: { 200: ScheduleLanguages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const index = ctx.coverage.areaIndex();
        let area = req.query.area ? ctx.coverage.resolveArea(req.query.area) : p.user.areaId !== null ? index.byId.get(p.user.areaId) : undefined;
        area ??= ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        const dir = await svc.directory();
        const sites = dir.sitesIn(area);
        const perArea = new Map<number, number>();
        for (const s of sites) perArea.set(s.areaId, (perArea.get(s.areaId) ?? 0) + 1);
        const villages = [...index.subtree(area.id)].map((a) => {
          const eff = effectiveLanguages(a.id, index.byId);
          return {
            key: a.key,
            name: a.name,
            level: a.level,
            languages: [...eff.languages],
            source: eff.fromAreaId === null ? ('default' as const) : eff.fromAreaId === a.id ? ('own' as const) : ('inherited' as const),
            sites: perArea.get(a.id) ?? 0,
          };
        });

        const now = ctx.now();
        const areaIds = [...index.subtree(area.id)].map((a) => a.id).concat(index.ancestors(area.id).map((a) => a.id));
        const { items } = await svc.list({ areaIds, status: 'approved', from: now, limit: 1000 });
        const inArea = new Set(sites.map((s) => s.siteId));
        const out: ScheduleLanguages['items'] = [];
        for (const item of items) {
          const next = itemStarts(item, { from: now, to: now + CONFLICT_WINDOW_MS }, 1).starts[0];
          if (next === undefined) continue;
          const targeted = targetSites(item, dir).siteIds.filter((id) => inArea.has(id));
          if (targeted.length === 0) continue;
          // An item without versions is in its media's language: read it (the item keeps it only when it has versions).
          const language = item.language ?? (await ctx.media.library.item(item.mediaId))?.lang ?? 'vi';
          const withLanguage = { ...item, language };
          const missing = missingVersions(
            withLanguage,
            targeted.map((siteId) => ({ siteId, languages: dir.languagesOf(siteId) })),
          );
          out.push({
            id: item.id,
            title: item.title,
            priority: item.priority,
            nextAt: next,
            nextLocal: localIso(next),
            language,
            versions: itemVersions(withLanguage).map((v) => v.language),
            sites: targeted.length,
            missing: missing.map((m) => {
              const areasOf = new Map<number, { key: string; name: string }>();
              for (const id of m.siteIds) {
                const a = index.byId.get(dir.byId.get(id)!.areaId);
                if (a) areasOf.set(a.id, { key: a.key, name: a.name });
              }
              return { language: m.language, sites: m.siteIds.length, villages: [...areasOf.values()] };
            }),
          });
        }
        out.sort((a, b) => a.nextAt - b.nextAt || (a.id < b.id ? -1 : 1));
        return { area: { key: area.key, code: area.code, name: area.name }, villages, items: out };
      },
    );
  };
