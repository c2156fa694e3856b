/**
 * GET /api/reports: a periodic report (báo cáo định kỳ) of an area as an
 * Excel workbook or a PDF, for the user's own area or below.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { MAX_REPORT_DAYS, REPORT_FORMATS, type ReportService } from './service.ts';

const Binary = Type.Unsafe<unknown>({ type: 'string', format: 'binary' });

export const ReportQuery = Type.Object(
  {
    area: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "an area's key or official code; default: the user's own area (the province for a user without one)" }),
    ),
    period: Type.String({
      pattern: '^(\\d{4}(-\\d{2}|-[Qq][1-4])?|\\d{4}-\\d{2}-\\d{2}\\.\\.\\d{4}-\\d{2}-\\d{2})$',
      description: `a month 2026-11, a quarter 2026-Q4, a year 2026, or whole days 2026-11-01..2026-11-15 (both included; at most ${MAX_REPORT_DAYS} days), in Asia/Ho_Chi_Minh`,
    }),
    format: Type.Optional(
      Type.Union(
        REPORT_FORMATS.map((f) => Type.Literal(f)),
        { description: 'xlsx (default) or pdf' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ReportRouteDeps = Pick<ServerContext, 'coverage'> & { reports: ReportService };

export const reportRoutes =
  (ctx: ReportRouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/reports',
      {
        schema: {
          tags: ['reports'],
          operationId: 'downloadReport',
          summary: 'A periodic report (báo cáo định kỳ) of a commune or the province as an Excel workbook or a printable PDF, in Vietnamese',
          description:
            'Bulletins planned and played (the as-run log’s statuses, skipped by reason), hours on air by kind and language, uptime and verified coverage per commune and village, faults and time to repair, alerts with time to first sound and to every site (docs/reports.md). A period longer than a year is refused (LOANET_PERIOD_TOO_LONG); a village is refused (a report covers a commune or more). Reports are made one at a time.',
          querystring: ReportQuery,
          response: {
            200: {
              description: 'the file, as an attachment named bao-cao_<area code>_<period>.<format>',
              content: {
                'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: Binary },
                'application/pdf': { schema: Binary },
              },
            },
          },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        let area = q.area ? ctx.coverage.resolveArea(q.area) : p.user.areaId !== null ? ctx.coverage.areaIndex().byId.get(p.user.areaId) : undefined;
        area ??= ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        const file = await ctx.reports.file(area, q.period, q.format ?? 'xlsx');
        return reply.header('content-type', file.contentType).header('content-disposition', `attachment; filename="${file.fileName}"`).send(file.body);
      },
    );
  };
