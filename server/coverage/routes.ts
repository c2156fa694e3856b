/** Verified coverage: which villages can hear an announcement now, which cannot, and why. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { CoverageHistory, CoverageReport } from '../../api/coverage.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'areas' | 'coverage' | 'now'>;

export const coverageRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/coverage',
      {
        schema: {
          tags: ['coverage'],
          operationId: 'getCoverage',
          summary: 'Coverage of an area subtree now: counts per condition, village figures, each child, failing sites with reasons',
          description:
            'The lists (failing, unverifiedSites, uncoveredVillages) are cut to `limit` entries each, worst first; their full lengths are in failingTotal, unverifiedTotal and uncoveredVillagesTotal. Counts are always complete.',
          querystring: Type.Object({
            area: Type.Optional(Type.String({ description: 'area code (02647) or key (2025.02647); default: your scope or the province' })),
            limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 200, description: 'at most this many entries per list (default 200)' })),
          }),
          response: { 200: CoverageReport },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? (await ctx.areas.byId(p.user.areaId))?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        // A province answer with every degraded site's reasons runs to ~1 MB; serialising that
        // blocks the loop that takes in heartbeats, so lists are cut (worst first) and totals kept.
        return ctx.coverage.report(root.key, req.query.limit ?? 200);
      },
    );

    app.get(
      '/api/coverage/history',
      {
        schema: {
          tags: ['coverage'],
          operationId: 'getCoverageHistory',
          summary: 'Coverage over time for an area (snapshots every LOANET_HISTORY_S seconds; default the last 30 days)',
          querystring: Type.Object({ area: Type.Optional(Type.String()), from: Type.Optional(Type.Integer()), to: Type.Optional(Type.Integer()) }),
          response: { 200: CoverageHistory },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? (await ctx.areas.byId(p.user.areaId))?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        const to = req.query.to ?? ctx.now();
        return await ctx.coverage.history(root.key, req.query.from ?? to - 30 * 86_400_000, to);
      },
    );
  };
