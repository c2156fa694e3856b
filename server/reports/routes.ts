/**
 * GET /api/reports: a periodic report (báo cáo định kỳ) of an area as an
 * Excel workbook or a PDF, for the user's own area or below.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import fs from 'node:fs';
import type { ServerContext } from '../context.ts';
import { fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import { type MonthlyReports, parseKeptName } from './monthly.ts';
import { CONTENT_TYPE, MAX_REPORT_DAYS, REPORT_FORMATS, type ReportService } from './service.ts';

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

export const KeptReportList = Type.Object({
  reports: Type.Array(
    Type.Object({
      period: Type.String({ description: 'yyyy-mm' }),
      area: Type.Object({ code: Type.String(), name: Type.String() }),
      format: Type.Union(REPORT_FORMATS.map((f) => Type.Literal(f))),
      fileName: Type.String(),
      bytes: Type.Integer({ minimum: 0 }),
      createdAt: Type.Integer({ description: 'epoch ms' }),
      url: Type.String({ description: 'GET it (with your login) for the file' }),
    }),
  ),
});

export type ReportRouteDeps = Pick<ServerContext, 'coverage'> & { reports: ReportService; monthly: MonthlyReports };

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

    /** Whether the user may read an area's reports, by its code (an area no longer known: only users of the whole network). */
    const visibleTo = (userAreaId: number | null) => (code: string) => {
      if (userAreaId === null) return true;
      try {
        return ctx.coverage.areaPath(ctx.coverage.resolveArea(code).id).includes(userAreaId);
      } catch {
        return false;
      }
    };

    app.get(
      '/api/reports/kept',
      {
        schema: {
          tags: ['reports'],
          operationId: 'listKeptReports',
          summary: "Reports made on the 1st of each month for the month before (the province's and each commune's, Excel and PDF), kept for download; those of the user's area",
          response: { 200: KeptReportList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const visible = visibleTo(p.user.areaId);
        return {
          reports: ctx.monthly.list(visible).map((k) => {
            let name = k.areaCode;
            try {
              name = ctx.coverage.resolveArea(k.areaCode).name;
            } catch {
              // An area no longer in the tree: named by its code.
            }
            return { ...k, area: { code: k.areaCode, name }, url: `/api/reports/kept/${k.period}/${k.fileName}` };
          }),
        };
      },
    );

    app.get(
      '/api/reports/kept/:period/:file',
      {
        schema: {
          tags: ['reports'],
          operationId: 'downloadKeptReport',
          summary: 'One kept monthly report, as made on the 1st',
          params: Type.Object({ period: Type.String({ pattern: '^\\d{4}-\\d{2}$' }), file: Type.String({ maxLength: 100 }) }),
          response: {
            200: {
              description: 'the file',
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
        const { period, file } = req.params;
        const k = parseKeptName(file);
        const at = ctx.monthly.file(period, file);
        // Outside the user's area reads as absent: its existence is not theirs to learn.
        if (!k || !at || !visibleTo(p.user.areaId)(k.areaCode)) throw fail('LOANET_NOT_FOUND', { thing: 'file', id: `${period}/${file}` });
        return reply.header('content-type', CONTENT_TYPE[k.format]).header('content-disposition', `attachment; filename="${file}"`).send(fs.readFileSync(at));
      },
    );
  };
