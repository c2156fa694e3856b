/** Verified coverage: which villages can hear an announcement now, which cannot, and why. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../../context.ts';
import { requirePermission } from '../auth.ts';

export const coverageRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/coverage',
      {
        schema: {
          tags: ['coverage'],
          summary: 'Coverage of an area subtree now: counts per condition, village figures, each child, failing sites with reasons',
          querystring: Type.Object({ area: Type.Optional(Type.String({ description: 'area code (02647) or key (2025.02647); default: your scope or the province' })) }),
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? ctx.areas.byId(p.user.areaId)?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        return ctx.coverage.report(root.key);
      },
    );

    app.get(
      '/api/coverage/history',
      {
        schema: {
          tags: ['coverage'],
          summary: 'Coverage over time for an area (snapshots every LOANET_HISTORY_S seconds; default the last 30 days)',
          querystring: Type.Object({ area: Type.Optional(Type.String()), from: Type.Optional(Type.Integer()), to: Type.Optional(Type.Integer()) }),
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? ctx.areas.byId(p.user.areaId)?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        const to = req.query.to ?? ctx.now();
        return ctx.coverage.history(root.key, req.query.from ?? to - 30 * 86_400_000, to);
      },
    );
  };
