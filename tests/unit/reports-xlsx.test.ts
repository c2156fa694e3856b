/**
 * The report as an Excel workbook: written to bytes, read back with exceljs
 * as any standard reader would, and every cell checked against the report
 * model's figures (a synthetic month of Lào Cai's 99 communes).
 */
import fs from 'node:fs';
import ExcelJS from 'exceljs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../helpers/seeded-random.ts';
import { parseAreaCsv } from '../../server/registry/area-import.ts';
import { dateTimeVi, reportPeriod } from '../../server/reports/period.ts';
import { AIRTIME_KIND_LABEL } from '../../server/reports/labels.ts';
import type { Report } from '../../server/reports/model.ts';
import { buildReport, hoursOf } from '../../server/reports/report-model.ts';
import { syntheticMonth } from '../../server/reports/synthetic-month.ts';
import { FMT, HEADER_ROW, reportXlsx } from '../../server/reports/xlsx.ts';

const NOV = reportPeriod({ kind: 'month', year: 2026, month: 11 });
const drafts = parseAreaCsv(fs.readFileSync(new URL('../../server/registry/vn-admin/lao-cai-2025.csv', import.meta.url), 'utf8'));

let report: Report;
let month: ReturnType<typeof syntheticMonth>;
let wb: ExcelJS.Workbook;

/** Column number of a header, failing with the headers it has. */
function col(ws: ExcelJS.Worksheet, header: string): number {
  const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
  const i = headers.indexOf(header);
  expect(i, `"${header}" among ${JSON.stringify(headers.filter(Boolean))}`).toBeGreaterThan(0);
  return i;
}

/** A cell's number: a plain number, or a formula's stored result. */
function num(cell: ExcelJS.Cell): number {
  const v = cell.value;
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'result' in v && typeof v.result === 'number') return v.result;
  throw new Error(`${cell.address} holds ${JSON.stringify(v)}, not a number`);
}

beforeAll(async () => {
  month = syntheticMonth({ drafts, period: NOV, random: mulberry32(7) });
  report = buildReport(month.inputs);
  const bytes = await reportXlsx(report);
  expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK');
  wb = new ExcelJS.Workbook();
  // exceljs declares its own Buffer (an ArrayBuffer); the bytes of a Node Buffer are what it reads.
  await wb.xlsx.load(new Uint8Array(bytes).buffer);
}, 120_000);

describe('the Excel workbook of a month', () => {
  it('has the summary, a row per commune, reasons, villages, alerts and faults, each with its header frozen', () => {
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Tổng hợp', 'Theo xã', 'Theo ngôn ngữ', 'Không phát theo lý do', 'Theo thôn', 'Cảnh báo', 'Sự cố']);
    for (const ws of wb.worksheets) {
      expect(ws.views[0], ws.name).toMatchObject({ state: 'frozen', ySplit: HEADER_ROW });
      expect(ws.getColumn(1).width, ws.name).toBeGreaterThan(8);
    }
    expect(String(wb.getWorksheet('Tổng hợp')!.getCell(2, 1).value)).toContain('Đơn vị: Tỉnh Lào Cai · Kỳ báo cáo: Tháng 11/2026');
  });

  it('"Theo xã": each commune row holds the model\'s figures as numbers, the total row sums them', () => {
    const ws = wb.getWorksheet('Theo xã')!;
    const planned = col(ws, 'Bản tin theo kế hoạch');
    const onTime = col(ws, 'Đã phát đúng giờ');
    const late = col(ws, 'Phát muộn');
    const hours = col(ws, 'Tổng giờ phát');
    const national = col(ws, `Giờ phát: ${AIRTIME_KIND_LABEL.relay_national.vi.toLowerCase()}`);
    const vi = col(ws, 'Giờ phát: Tiếng Việt');
    const hmn = col(ws, "Giờ phát: Tiếng H'Mông");
    const uptime = col(ws, 'Thời gian hoạt động');
    const faults = col(ws, 'Số sự cố');
    report.communes.forEach((c, i) => {
      const row = ws.getRow(HEADER_ROW + 1 + i);
      expect(row.getCell(2).value).toBe(c.area.name);
      expect(row.getCell(planned).value).toBe(c.figures.bulletins.planned);
      expect(row.getCell(onTime).value).toBe(c.figures.bulletins.byStatus.played);
      expect(row.getCell(late).value).toBe(c.figures.bulletins.byStatus.late);
      expect(row.getCell(hours).value).toBeCloseTo(hoursOf(c.figures.airtime.totalMs), 9);
      expect(row.getCell(national).value).toBeCloseTo(hoursOf(c.figures.airtime.byKind.relay_national), 9);
      expect(row.getCell(vi).value).toBeCloseTo(hoursOf(c.figures.airtime.byLanguage.vi ?? 0), 9);
      expect(row.getCell(hmn).value).toBeCloseTo(hoursOf(c.figures.airtime.byLanguage.hmn ?? 0), 9);
      expect(row.getCell(uptime).value).toBe(c.figures.uptime.share);
      expect(row.getCell(faults).value).toBe(c.figures.faults.total.count);
    });
    expect(ws.getRow(HEADER_ROW + 1).getCell(hours).numFmt).toBe(FMT.hours);
    expect(ws.getRow(HEADER_ROW + 1).getCell(uptime).numFmt).toBe(FMT.share);
    const total = ws.getRow(HEADER_ROW + 1 + report.communes.length);
    expect(total.getCell(1).value).toBe('Toàn tỉnh');
    expect(num(total.getCell(planned))).toBe(report.totals.bulletins.planned);
    expect(num(total.getCell(onTime))).toBe(report.totals.bulletins.byStatus.played);
    expect(num(total.getCell(hours))).toBeCloseTo(hoursOf(report.totals.airtime.totalMs), 6);
    expect(total.getCell(planned).formula).toBe(`SUM(${ws.getColumn(planned).letter}${HEADER_ROW + 1}:${ws.getColumn(planned).letter}${HEADER_ROW + 99})`);
    expect(total.getCell(uptime).value).toBe(report.totals.uptime.share);
  });

  it('"Tổng hợp": the province\'s figures, one per line', () => {
    const ws = wb.getWorksheet('Tổng hợp')!;
    const byLabel = new Map<string, ExcelJS.Cell>();
    ws.eachRow((row, n) => {
      if (n > HEADER_ROW) byLabel.set(String(row.getCell(1).value), row.getCell(2));
    });
    expect(byLabel.get('Bản tin theo kế hoạch')?.value).toBe(report.totals.bulletins.planned);
    expect(byLabel.get('Số xã, phường')?.value).toBe(99);
    expect(byLabel.get('Số cụm loa')?.value).toBe(report.totals.clusters);
    expect(byLabel.get('Tổng thời lượng phát')?.value).toBeCloseTo(hoursOf(report.totals.airtime.totalMs), 9);
    expect(byLabel.get('Tổng thời lượng phát')?.numFmt).toBe(FMT.hours);
    expect(byLabel.get('Độ phủ đã xác minh (thời gian thôn có cụm loa hoạt động)')?.value).toBe(report.totals.coverage.share);
    expect(byLabel.get('Số sự cố phát sinh')?.value).toBe(report.totals.faults.total.count);
    expect(byLabel.get('Lượt điểm nhận lệnh')?.value).toBe(report.totals.alerts.deliveries);
  });

  it('"Không phát theo lý do" adds up to the skipped bulletins', () => {
    const ws = wb.getWorksheet('Không phát theo lý do')!;
    expect(report.skipReasons.length).toBeGreaterThan(0);
    const total = ws.getRow(HEADER_ROW + 1 + report.communes.length);
    expect(num(total.getCell(3))).toBe(report.totals.bulletins.byStatus.skipped);
    const reasons = report.skipReasons.map((_, i) => num(total.getCell(4 + i)));
    expect(reasons.reduce((a, b) => a + b, 0)).toBe(report.totals.bulletins.byStatus.skipped);
    expect(String(ws.getRow(HEADER_ROW).getCell(4).value)).toMatch(/[ạảãáàâầấậẩẫăắằặẳẵđêềếệểễôồốộổỗơờớợởỡưừứựửữ]/);
  });

  it('"Cảnh báo" and "Sự cố": dates show the Vietnamese wall time dd/mm/yyyy hh:mm, durations are numbers', () => {
    const alerts = wb.getWorksheet('Cảnh báo')!;
    expect(alerts.rowCount).toBe(HEADER_ROW + report.alerts.length);
    report.alerts.forEach((a, i) => {
      const row = alerts.getRow(HEADER_ROW + 1 + i);
      const issued = row.getCell(col(alerts, 'Phát lệnh lúc'));
      expect(issued.numFmt).toBe('dd/mm/yyyy hh:mm');
      const d = issued.value as Date;
      const p = (n: number) => String(n).padStart(2, '0');
      expect(`${p(d.getUTCDate())}/${p(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`).toBe(dateTimeVi(a.issuedAt));
      expect(row.getCell(col(alerts, 'Điểm nhận lệnh')).value).toBe(a.targeted);
      expect(row.getCell(col(alerts, 'Đến âm thanh đầu tiên (giây)')).value).toBe(a.firstSoundAfterMs === null ? null : a.firstSoundAfterMs / 1000);
    });
    const faults = wb.getWorksheet('Sự cố')!;
    expect(faults.rowCount).toBe(HEADER_ROW + report.faults.length);
    const repair = col(faults, 'Thời gian khắc phục (giờ)');
    report.faults.forEach((f, i) => {
      const cell = faults.getRow(HEADER_ROW + 1 + i).getCell(repair);
      expect(cell.value).toBe(f.repairMs === null ? null : hoursOf(f.repairMs));
    });
    expect(report.faults.some((f) => f.endedAt === null)).toBe(true);
  });

  it('"Theo thôn": a row per village with its coverage', () => {
    const ws = wb.getWorksheet('Theo thôn')!;
    const villages = report.communes.flatMap((c) => c.villages);
    expect(ws.rowCount).toBe(HEADER_ROW + villages.length);
    const share = col(ws, 'Độ phủ đã xác minh');
    villages.forEach((v, i) => expect(ws.getRow(HEADER_ROW + 1 + i).getCell(share).value).toBe(v.coverage.share));
  });

  it("a commune's own report: one row, its total the commune's", async () => {
    const commune = report.communes[1]!;
    const own = buildReport({ ...month.inputs, rootKey: commune.area.key });
    const back = new ExcelJS.Workbook();
    await back.xlsx.load(new Uint8Array(await reportXlsx(own)).buffer);
    const ws = back.getWorksheet('Theo xã')!;
    expect(ws.rowCount).toBe(HEADER_ROW + 2);
    expect(ws.getRow(HEADER_ROW + 1).getCell(2).value).toBe(commune.area.name);
    expect(ws.getRow(HEADER_ROW + 2).getCell(1).value).toBe('Toàn xã');
    const planned = col(ws, 'Bản tin theo kế hoạch');
    expect(num(ws.getRow(HEADER_ROW + 2).getCell(planned))).toBe(commune.figures.bulletins.planned);
    expect(String(back.getWorksheet('Tổng hợp')!.getCell(2, 1).value)).toContain(`Đơn vị: ${commune.area.name}`);
  });
});
