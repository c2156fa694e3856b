/**
 * GET /api/source-system/v1: the pull side of the source information system
 * adapter (docs/source-system.md): the version-1 document of an area over a
 * period of at most 31 days, for the user's own area or below. An API token
 * of a viewer scoped to the province is what a provincial system uses.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requirePermission } from '../../http/auth.ts';
import { MAX_DOCUMENT_DAYS, type SourceSystemDeps, sourceSystemDocument } from './document.ts';
import { SourceSystemDocument } from './schema.ts';

export const SourceSystemQuery = Type.Object(
  {
    area: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "an area's key or official code; default: the user's own area" })),
    period: Type.String({
      pattern: '^(\\d{4}-\\d{2}|\\d{4}-\\d{2}-\\d{2}\\.\\.\\d{4}-\\d{2}-\\d{2})$',
      description: `a month 2026-11, or whole days 2026-11-01..2026-11-15 (both included; at most ${MAX_DOCUMENT_DAYS} days), in Asia/Ho_Chi_Minh`,
    }),
  },
  { additionalProperties: false },
);

export const sourceSystemRoutes =
  (ctx: SourceSystemDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/source-system/v1',
      {
        schema: {
          tags: ['reports'],
          operationId: 'sourceSystemDocument',
          summary:
            'What a source information system collects (stations and clusters with their status, broadcasts with their as-run, alerts with their delivery), schema loanet.source-system/1',
          querystring: SourceSystemQuery,
          response: { 200: SourceSystemDocument },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        let area = q.area ? ctx.coverage.resolveArea(q.area) : p.user.areaId !== null ? ctx.coverage.areaIndex().byId.get(p.user.areaId) : undefined;
        area ??= ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        return sourceSystemDocument(ctx, area, q.period);
      },
    );
  };
