/** Periodic reports (server/reports): the download route over a ReportService that reads the other features' stores. */
import type { Feature } from '../feature.ts';
import { reportRoutes } from './routes.ts';
import { ReportService } from './service.ts';
import type { ReportSourceDeps } from './sources.ts';

export function reportsFeature(ctx: ReportSourceDeps): Feature {
  const reports = new ReportService(ctx);
  return { name: 'reports', routes: [reportRoutes({ coverage: ctx.coverage, reports })] };
}
