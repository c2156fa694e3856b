/**
 * The periodic reports a commune and the province file: a period and an
 * area in, the figures (buildReport over what sources.ts reads) and the
 * rendered file out, as an Excel workbook (xlsx.ts) or a PDF (pdf.ts).
 *
 * Bounded: a period is at most MAX_REPORT_DAYS (a year, or a range no longer
 * than one: the province's year reads about 360,000 as-run lines); longer is
 * refused with LOANET_PERIOD_TOO_LONG before anything is read. Reports are
 * made one at a time (a province's PDF takes seconds of CPU): a second asks
 * waits behind the first rather than both slowing heartbeats and alerts,
 * and with MAX_WAITING already waiting one more is refused at once
 * (LOANET_UNAVAILABLE, reason busy) rather than piling up behind them.
 */
import { fail } from '../errors.ts';
import type { AreaNode } from '../registry/model.ts';
import type { Report } from './model.ts';
import { parsePeriod, type ReportPeriod } from './period.ts';
import { buildReport } from './report-model.ts';
import { type ReportSourceDeps, readReportInputs } from './sources.ts';

export const MAX_REPORT_DAYS = 366;
export const REPORT_FORMATS = ['xlsx', 'pdf'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const CONTENT_TYPE: Readonly<Record<ReportFormat, string>> = {
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
};

export interface ReportFile {
  report: Report;
  body: Buffer;
  contentType: string;
  /** ASCII, for Content-Disposition: bao-cao_<area code>_<period>.<format>. */
  fileName: string;
}

/** A period's text (`2026-11`, `2026-Q4`, `2026`, `2026-11-01..2026-11-15`) as a period a report may cover, or a typed refusal. */
export function reportPeriodOf(text: string, field = 'period'): ReportPeriod {
  const period = parsePeriod(text);
  if (!period) throw fail('LOANET_BAD_REQUEST', { field, text: `${text} is not a period: write 2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15` });
  if (period.to - period.from > MAX_REPORT_DAYS * 86_400_000 + 3_600_000) throw fail('LOANET_PERIOD_TOO_LONG', { field, maxDays: MAX_REPORT_DAYS });
  return period;
}

/** The period's text form again, for a file name. */
function periodSlug(text: string): string {
  return text.trim().replace(/\.\./, '_');
}

/** Reports waiting behind the one being made before another is refused. */
export const MAX_WAITING = 3;

/** Runs one job at a time, in order; refuses (throws) a job when `maxWaiting` already wait. A failed job does not stop the next. */
export class OneAtATime {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(private readonly maxWaiting: number) {}

  /** Jobs accepted and not finished (the one running included). */
  get size(): number {
    return this.queued;
  }

  run<T>(job: () => Promise<T>): Promise<T> {
    // The one running is not waiting: `queued - 1` wait behind it.
    if (this.queued - 1 >= this.maxWaiting) {
      return Promise.reject(fail('LOANET_UNAVAILABLE', { reason: 'busy', text: `${this.queued} reports are being made; ask again in a minute` }));
    }
    this.queued++;
    const out = this.tail.then(job).finally(() => {
      this.queued--;
    });
    this.tail = out.catch(() => undefined);
    return out;
  }
}

export class ReportService {
  private readonly queue = new OneAtATime(MAX_WAITING);

  constructor(private readonly deps: ReportSourceDeps) {}

  /** The figures of `root` (a commune or above) over `period`. */
  async report(root: AreaNode, period: ReportPeriod): Promise<Report> {
    if (root.level === 'village') throw fail('LOANET_BAD_REQUEST', { field: 'area', text: `a report covers a commune or more; ${root.name} is a village` });
    return buildReport(await readReportInputs(this.deps, root, period));
  }

  /** The report rendered, made after any report in progress. */
  file(root: AreaNode, periodText: string, format: ReportFormat): Promise<ReportFile> {
    const period = reportPeriodOf(periodText);
    return this.queue.run(async () => {
      const report = await this.report(root, period);
      // The renderers load exceljs and pdfkit (about 2 s of a start's CPU under a test runner) only when a file is asked for.
      const body = format === 'xlsx' ? await (await import('./xlsx.ts')).reportXlsx(report) : await (await import('./pdf.ts')).reportPdf(report);
      return { report, body, contentType: CONTENT_TYPE[format], fileName: `bao-cao_${root.code}_${periodSlug(periodText)}.${format}` };
    });
  }
}
