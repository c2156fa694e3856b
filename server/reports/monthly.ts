/**
 * Scheduled delivery: last month's reports made once the month is over (on
 * the 1st, or at the first check after a server that was down then starts),
 * kept in the data folder for download, and told to the outbox's receivers
 * as `report.ready` events (e-mail is out of reach here).
 *
 * What is made for a month: the province's report (the default root) and
 * each commune's, as .xlsx and .pdf, in `${dataDir}/reports/<yyyy-mm>/`
 * named as the download route names them. A month is done when its marker
 * file `.done` exists: written after every file and every event, so a
 * server stopped half-way makes the month again at its next check (files
 * are written to a temporary name and renamed, never seen half-written).
 * The events are therefore at least once: a stop between the enqueue and
 * the marker sends the month's events again, with new ids; receivers
 * recognise a repeat by `data.period` and `data.area.code`.
 *
 * The files live in the shared folder (LOANET_SHARED_DIR), made by the
 * history lease's holder. They are kept `keepMonths` months
 * (LOANET_REPORTS_KEEP_MONTHS) and then removed, a whole month at a time
 * (prune): they are copies for download, not the archive (the reports
 * were delivered when made, and any period can be made again from the
 * store while its data is kept).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ServerContext } from '../context.ts';
import type { AreaNode } from '../registry/model.ts';
import { wallTimeAt } from '../time/zone.ts';
import { REPORT_ZONE } from './period.ts';
import { REPORT_FORMATS, type ReportFormat, type ReportService } from './service.ts';

/** The data of a `report.ready` event (docs/webhooks.md). */
export type ReportReadyData = {
  /** `2026-11`. */
  period: string;
  area: { key: string; code: string; name: string; level: string };
  files: Array<{ format: ReportFormat; fileName: string; bytes: number; url: string }>;
};

export interface KeptReport {
  period: string;
  fileName: string;
  areaCode: string;
  format: ReportFormat;
  bytes: number;
  createdAt: number;
}

/** The month before the one `now` falls in, in Asia/Ho_Chi_Minh, as `yyyy-mm` (pure). */
export function previousMonth(now: number, zone: string = REPORT_ZONE): string {
  const w = wallTimeAt(now, zone);
  const year = w.month === 1 ? w.year - 1 : w.year;
  const month = w.month === 1 ? 12 : w.month - 1;
  return `${year}-${String(month).padStart(2, '0')}`;
}

/**
 * The first month still kept when `now` falls in some month: the `keepMonths`
 * months before the current one are kept (with 36, in December 2026 the
 * months from December 2023 to November 2026), as `yyyy-mm` (pure).
 */
export function oldestKeptMonth(now: number, keepMonths: number, zone: string = REPORT_ZONE): string {
  if (!Number.isInteger(keepMonths) || keepMonths < 1) throw new RangeError(`reports are kept at least one month, not ${keepMonths}`);
  const w = wallTimeAt(now, zone);
  const index = w.year * 12 + (w.month - 1) - keepMonths;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

const PERIOD = /^\d{4}-\d{2}$/;
const FILE = /^bao-cao_([0-9A-Za-z.]+)_(\d{4}-\d{2})\.(xlsx|pdf)$/;

/** A kept report's file name as the download route accepts it: its area code, period and format, or undefined. */
export function parseKeptName(fileName: string): { areaCode: string; period: string; format: ReportFormat } | undefined {
  const m = FILE.exec(fileName);
  return m ? { areaCode: m[1]!, period: m[2]!, format: m[3] as ReportFormat } : undefined;
}

export type MonthlyDeps = Pick<ServerContext, 'coverage' | 'outbox' | 'now' | 'log'> & { dataDir: string };

export class MonthlyReports {
  private readonly dir: string;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly service: ReportService,
    private readonly deps: MonthlyDeps,
  ) {
    this.dir = path.join(deps.dataDir, 'reports');
  }

  /** Makes last month's reports if they are not made yet; resolves to the files written (0: nothing was due). One run at a time. */
  runDue(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    this.running ??= this.make(previousMonth(this.deps.now())).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The areas a month's reports are made for: the province, then each commune under it by code. */
  areas(): AreaNode[] {
    const root = this.deps.coverage.defaultRoot();
    const subtree = this.deps.coverage.subtreeIds(root.id);
    const communes = this.deps.coverage
      .areaIndex()
      .order.filter((a) => a.level === 'commune' && subtree.has(a.id))
      .sort((a, b) => a.code.localeCompare(b.code));
    return [root, ...communes];
  }

  async make(period: string): Promise<number> {
    if (!PERIOD.test(period)) throw new RangeError(`a kept report's period is yyyy-mm, not ${period}`);
    const monthDir = path.join(this.dir, period);
    if (fs.existsSync(path.join(monthDir, '.done'))) return 0;
    fs.mkdirSync(monthDir, { recursive: true, mode: 0o700 });
    let written = 0;
    for (const area of this.areas()) {
      // A stopping server leaves the month unmarked: the next start makes it again.
      if (this.stopped) return written;
      const files: ReportReadyData['files'] = [];
      for (const format of REPORT_FORMATS) {
        const f = await this.service.file(area, period, format);
        const tmp = path.join(monthDir, `.${f.fileName}.tmp`);
        fs.writeFileSync(tmp, f.body, { mode: 0o600 });
        fs.renameSync(tmp, path.join(monthDir, f.fileName));
        written++;
        files.push({ format, fileName: f.fileName, bytes: f.body.length, url: `/api/reports/kept/${period}/${f.fileName}` });
      }
      const data: ReportReadyData = { period, area: { key: area.key, code: area.code, name: area.name, level: area.level }, files };
      await this.deps.outbox.enqueue('report.ready', data);
    }
    fs.writeFileSync(path.join(monthDir, '.done'), `${new Date(this.deps.now()).toISOString()}\n`, { mode: 0o600 });
    this.deps.log.info({ period, files: written }, 'reports: last month made and kept for download');
    return written;
  }

  /**
   * Removes the kept months older than the `keepMonths` before the current
   * one, each month's folder whole (its files and its `.done`), and the
   * source information system's day markers of those months; resolves to the
   * months removed. A month removed is never made again: only last month is.
   */
  prune(keepMonths: number): string[] {
    const oldest = oldestKeptMonth(this.deps.now(), keepMonths);
    const removed: string[] = [];
    if (fs.existsSync(this.dir)) {
      for (const period of fs.readdirSync(this.dir).filter((p) => PERIOD.test(p) && p < oldest)) {
        fs.rmSync(path.join(this.dir, period), { recursive: true, force: true });
        removed.push(period);
      }
    }
    // The push's day markers (source-system/push.ts) are only looked at for yesterday: older ones go with their month.
    const days = path.join(this.deps.dataDir, 'source-system');
    if (fs.existsSync(days)) {
      for (const f of fs.readdirSync(days)) if (/^\d{4}-\d{2}-\d{2}\.done$/.test(f) && f.slice(0, 7) < oldest) fs.rmSync(path.join(days, f), { force: true });
    }
    if (removed.length > 0) this.deps.log.info({ removed, keepMonths }, 'reports: kept months past their keeping removed');
    return removed.sort();
  }

  /** Makes nothing more; resolves once the area being made is finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  /** Kept reports, newest period first; only those `visible` (by area code) when given. */
  list(visible?: (areaCode: string) => boolean): KeptReport[] {
    if (!fs.existsSync(this.dir)) return [];
    const out: KeptReport[] = [];
    for (const period of fs.readdirSync(this.dir).filter((p) => PERIOD.test(p))) {
      for (const fileName of fs.readdirSync(path.join(this.dir, period))) {
        const k = parseKeptName(fileName);
        if (!k || k.period !== period || (visible && !visible(k.areaCode))) continue;
        const st = fs.statSync(path.join(this.dir, period, fileName));
        out.push({ period, fileName, areaCode: k.areaCode, format: k.format, bytes: st.size, createdAt: Math.round(st.mtimeMs) });
      }
    }
    return out.sort((a, b) => b.period.localeCompare(a.period) || a.fileName.localeCompare(b.fileName));
  }

  /** A kept file's path, when the name is one this module makes and the file exists. */
  file(period: string, fileName: string): string | undefined {
    const k = parseKeptName(fileName);
    if (!PERIOD.test(period) || !k || k.period !== period) return undefined;
    const p = path.join(this.dir, period, fileName);
    return fs.existsSync(p) ? p : undefined;
  }
}
