/**
 * Periodic reports (server/reports): the download routes over a
 * ReportService that reads the other features' stores, and the monthly job
 * (monthly.ts) that makes last month's reports, keeps them and tells the
 * outbox, and the daily push of the source information system documents
 * (source-system/push.ts). The jobs first look 10 minutes after start (not at once: a server
 * restarting in a hurry, or a test server, has better things to do), then
 * every hour; a month already made costs one file check. The monthly job
 * also removes kept months past LOANET_REPORTS_KEEP_MONTHS first.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { MonthlyReports } from './monthly.ts';
import { reportRoutes } from './routes.ts';
import { ReportService } from './service.ts';
import { SourceSystemPush } from './source-system/push.ts';
import { sourceSystemRoutes } from './source-system/routes.ts';
import type { ReportSourceDeps } from './sources.ts';

const FIRST_CHECK_MS = 10 * 60_000;
const CHECK_EVERY_MS = 3_600_000;

export function reportsFeature(ctx: ReportSourceDeps & Pick<ServerContext, 'config' | 'outbox' | 'log' | 'disk' | 'fleet' | 'cluster'>): Feature {
  const reports = new ReportService(ctx);
  // Kept in the shared folder, so every server serves them; made by one server (the history lease's holder).
  const monthly = new MonthlyReports(reports, { ...ctx, dataDir: ctx.config.sharedDir });
  const push = new SourceSystemPush({ ...ctx, dataDir: ctx.config.sharedDir });
  const held = <T>(fn: () => T) => ctx.cluster.whileHeld('history', fn);
  const jobs = Jobs.of(ctx);
  let first: NodeJS.Timeout | undefined;
  return {
    name: 'reports',
    routes: [reportRoutes({ coverage: ctx.coverage, reports, monthly }), sourceSystemRoutes(ctx)],
    start() {
      // Old months go before new ones are made: the shared folder never holds more than it keeps plus one.
      const due = () => {
        try {
          monthly.prune(ctx.config.reportsKeepMonths);
        } catch (err) {
          // A month that cannot be removed now is tried again next hour; last month is made all the same.
          ctx.log.warn({ err }, 'reports: removing kept months past their keeping failed');
        }
        return monthly.runDue();
      };
      const run = jobs.guard('monthly reports', held(due));
      const runPush = jobs.guard(
        'source system push',
        held(() => push.runDue()),
      );
      first = setTimeout(() => {
        run();
        runPush();
      }, FIRST_CHECK_MS);
      first.unref();
      jobs.every('monthly reports', CHECK_EVERY_MS, held(due));
      jobs.every(
        'source system push',
        CHECK_EVERY_MS,
        held(() => push.runDue()),
      );
    },
    async stop() {
      clearTimeout(first);
      jobs.stop();
      await Promise.all([monthly.stop(), push.stop()]);
    },
  };
}
