/**
 * The periodic report as an Excel workbook (exceljs): what the province's
 * offices exchange. Sheets:
 * - "Tổng hợp": the area's figures, one per line (summaryFigures);
 * - "Theo xã": one row per commune, the area's total last. One sheet with a
 *   row per commune rather than a sheet per commune: a culture department
 *   officer compares communes, sorts and filters them and sums a column,
 *   which 99 sheets would prevent; a commune's own report is this same
 *   workbook with one row;
 * - "Theo ngôn ngữ": a row per commune and language: its hours, of which
 *   heard in the villages' own language and played as a fallback, and how
 *   many villages heard it each way; then the area's row per language;
 * - "Không phát theo lý do": a row per commune, a column per reason;
 * - "Theo thôn": uptime and verified coverage per village;
 * - "Cảnh báo", "Sự cố": one row per alert, per fault.
 *
 * Numbers are numbers (counts, hours with two decimals, shares as per cent),
 * times are Excel dates showing the wall time in Asia/Ho_Chi_Minh
 * (dd/mm/yyyy hh:mm), headers are frozen. Text cells are plain strings,
 * never formulas; the total row's sums are formulas with their results
 * stored, so the file reads right before Excel recalculates it.
 */
import ExcelJS from 'exceljs';
import { zoneOffsetMs } from '../time/zone.ts';
import {
  AIRTIME_KIND_LABEL,
  capitalise,
  faultKindWords,
  LANGUAGE_USE_LABEL,
  languageName,
  languageUseWords,
  LEVEL_VI,
  periodLine,
  REPAIR_SOURCE_LABEL,
  STATUS_HEADINGS,
  skipReasonWords,
  summaryFigures,
  TITLE_VI,
} from './labels.ts';
import { dateTimeVi } from './period.ts';
import { AIRTIME_KINDS, type Report, type UnitFigures } from './model.ts';
import { hoursOf } from './report-model.ts';

export const FMT = {
  count: '#,##0',
  hours: '#,##0.00',
  share: '0.00%',
  seconds: '#,##0.0',
  date: 'dd/mm/yyyy hh:mm',
} as const;

type Cell = string | number | Date | null;

interface Column<R> {
  header: string;
  width: number;
  fmt?: string;
  value(r: R): Cell;
  /** The total row's cell: 'sum' sums the column; a function gives it from the totals. */
  total?: 'sum' | ((t: UnitFigures) => Cell);
}

/** Rows 1–3 name the report; the table's header is row 4, frozen with everything above it. */
export const HEADER_ROW = 4;

/** An instant as an Excel date that shows its wall time in `zone` (Excel dates carry no zone). */
export function excelDate(at: number, zone: string): Date {
  return new Date(at + zoneOffsetMs(at, zone));
}

function titleRows(ws: ExcelJS.Worksheet, report: Report, sheetTitle: string, width: number): void {
  ws.getCell(1, 1).value = `${TITLE_VI} – ${sheetTitle}`;
  ws.getCell(1, 1).font = { bold: true, size: 13 };
  ws.getCell(2, 1).value =
    `Đơn vị: ${report.root.name} · ${periodLine(report.period.label.vi)} (${dateTimeVi(report.period.from, report.period.zone)} – ${dateTimeVi(report.period.to, report.period.zone)}, giờ Việt Nam)`;
  ws.getCell(3, 1).value = `Lập lúc ${dateTimeVi(report.generatedAt, report.period.zone)} từ nhật ký phát thanh, báo cáo trạng thái và cảnh báo của hệ thống`;
  ws.getCell(3, 1).font = { italic: true, size: 9 };
  if (width > 1) ws.mergeCells(1, 1, 1, Math.min(width, 12));
}

function table<R>(
  wb: ExcelJS.Workbook,
  report: Report,
  name: string,
  title: string,
  columns: readonly Column<R>[],
  rows: readonly R[],
  total?: { label: string; figures: UnitFigures },
): ExcelJS.Worksheet {
  const ws = wb.addWorksheet(name, {
    views: [{ state: 'frozen', xSplit: 2, ySplit: HEADER_ROW }],
    pageSetup: { paperSize: 9, orientation: 'landscape', fitToPage: true, fitToWidth: 1, fitToHeight: 0 },
  });
  titleRows(ws, report, title, columns.length);
  columns.forEach((c, i) => {
    ws.getColumn(i + 1).width = c.width;
  });
  const header = ws.getRow(HEADER_ROW);
  header.values = columns.map((c) => c.header);
  header.font = { bold: true };
  header.alignment = { wrapText: true, vertical: 'middle', horizontal: 'center' };
  header.height = 45;
  header.eachCell((cell) => {
    cell.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFDDEBF7' } };
    cell.border = { bottom: { style: 'thin' } };
  });
  rows.forEach((r, i) => {
    const row = ws.getRow(HEADER_ROW + 1 + i);
    columns.forEach((c, j) => {
      const cell = row.getCell(j + 1);
      cell.value = c.value(r);
      if (c.fmt) cell.numFmt = c.fmt;
    });
  });
  if (total) {
    const at = HEADER_ROW + 1 + rows.length;
    const row = ws.getRow(at);
    row.font = { bold: true };
    columns.forEach((c, j) => {
      const cell = row.getCell(j + 1);
      if (j === 0) cell.value = total.label;
      else if (c.total === 'sum') {
        const letter = ws.getColumn(j + 1).letter;
        const sum = rows.reduce((s, r) => s + (Number(c.value(r)) || 0), 0);
        cell.value = rows.length ? { formula: `SUM(${letter}${HEADER_ROW + 1}:${letter}${at - 1})`, result: sum } : 0;
      } else if (typeof c.total === 'function') cell.value = c.total(total.figures);
      if (c.fmt) cell.numFmt = c.fmt;
      cell.border = { top: { style: 'thin' } };
    });
  }
  ws.autoFilter = { from: { row: HEADER_ROW, column: 1 }, to: { row: HEADER_ROW, column: columns.length } };
  return ws;
}

const hours = (ms: number | null) => (ms === null ? null : hoursOf(ms));
const seconds = (ms: number | null) => (ms === null ? null : ms / 1000);

type CommuneLine = Report['communes'][number];

function communeColumns(report: Report): Column<CommuneLine>[] {
  const f = (pick: (u: UnitFigures) => number, header: string, fmt: string = FMT.count, width = 11): Column<CommuneLine> => ({
    header,
    width,
    fmt,
    value: (c) => pick(c.figures),
    total: 'sum',
  });
  const h = (pick: (u: UnitFigures) => number, header: string): Column<CommuneLine> => ({
    header,
    width: 12,
    fmt: FMT.hours,
    value: (c) => hoursOf(pick(c.figures)),
    total: 'sum',
  });
  const share = (pick: (u: UnitFigures) => number | null, header: string): Column<CommuneLine> => ({
    header,
    width: 12,
    fmt: FMT.share,
    value: (c) => pick(c.figures),
    total: pick,
  });
  const withDistrict = report.communes.some((c) => c.district !== null);
  return [
    { header: 'Mã xã', width: 10, value: (c) => c.area.code },
    { header: 'Tên xã, phường', width: 26, value: (c) => c.area.name },
    ...(withDistrict ? [{ header: 'Huyện, thị xã, thành phố', width: 22, value: (c: CommuneLine) => c.district?.name ?? null }] : []),
    f((u) => u.stations, 'Đài truyền thanh xã'),
    f((u) => u.clusters, 'Cụm loa'),
    f((u) => u.coverage.villages, 'Số thôn'),
    f((u) => u.bulletins.planned, 'Bản tin theo kế hoạch'),
    ...STATUS_HEADINGS.map(({ status, heading }) => f((u) => u.bulletins.byStatus[status], heading)),
    share((u) => (u.bulletins.planned > 0 ? u.bulletins.byStatus.played / u.bulletins.planned : null), 'Tỷ lệ phát đúng giờ'),
    f((u) => u.bulletins.unplanned, 'Phát ngoài kế hoạch'),
    h((u) => u.airtime.totalMs, 'Tổng giờ phát'),
    ...AIRTIME_KINDS.map((k) => h((u) => u.airtime.byKind[k], `Giờ phát: ${AIRTIME_KIND_LABEL[k].vi.toLowerCase()}`)),
    ...report.languages.map((l) => h((u) => u.airtime.byLanguage[l] ?? 0, `Giờ phát: ${languageName(l)}`)),
    share((u) => u.uptime.share, 'Thời gian hoạt động'),
    share((u) => u.coverage.share, 'Độ phủ đã xác minh'),
    f((u) => u.coverage.villagesWithoutCluster, 'Thôn chưa có cụm loa'),
    f((u) => u.faults.total.count, 'Số sự cố'),
    f((u) => u.faults.total.repaired, 'Đã khắc phục'),
    f((u) => u.faults.total.repairedByWorkOrder, 'Khắc phục theo phiếu sửa chữa'),
    f((u) => u.faults.total.open, 'Chưa khắc phục'),
    {
      header: 'Thời gian khắc phục trung bình (giờ)',
      width: 13,
      fmt: FMT.hours,
      value: (c) => hours(c.figures.faults.total.meanRepairMs),
      total: (t) => hours(t.faults.total.meanRepairMs),
    },
    {
      header: 'Thời gian đến khi xác nhận trung bình (giờ)',
      width: 13,
      fmt: FMT.hours,
      value: (c) => hours(c.figures.faults.total.meanAckMs),
      total: (t) => hours(t.faults.total.meanAckMs),
    },
    f((u) => u.alerts.deliveries, 'Cảnh báo: lượt điểm nhận lệnh'),
    f((u) => u.alerts.message, 'Cảnh báo: đã phát bản tin'),
  ];
}

export function reportWorkbook(report: Report): ExcelJS.Workbook {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'loanet';
  wb.created = new Date(report.generatedAt);
  wb.title = `${TITLE_VI} – ${report.root.name} – ${report.period.label.vi}`;
  const zone = report.period.zone;
  const areaWord = LEVEL_VI[report.root.level];

  // Tổng hợp
  const figures = summaryFigures(report, report.totals);
  const summary = table(
    wb,
    report,
    'Tổng hợp',
    `Tổng hợp ${areaWord}`,
    [
      { header: 'Chỉ tiêu', width: 58, value: (x) => (x.heading ? x.label.toUpperCase() : x.label) },
      { header: 'Giá trị', width: 16, value: (x) => x.value },
      { header: 'Đơn vị', width: 12, value: (x) => (x.heading ? null : x.unit === 'hours' ? 'giờ' : x.unit === 'share' ? '%' : 'lượt, số') },
    ],
    figures,
  );
  summary.views = [{ state: 'frozen', xSplit: 0, ySplit: HEADER_ROW }];
  figures.forEach((x, i) => {
    const row = summary.getRow(HEADER_ROW + 1 + i);
    if (x.heading) row.font = { bold: true };
    row.getCell(2).numFmt = x.unit === 'hours' ? FMT.hours : x.unit === 'share' ? FMT.share : FMT.count;
  });

  // Theo xã
  table(wb, report, 'Theo xã', 'Số liệu theo xã, phường', communeColumns(report), report.communes, { label: `Toàn ${areaWord}`, figures: report.totals });

  // Theo ngôn ngữ
  const byLanguage = [
    ...report.communes.map((c) => ({ name: c.area.name, code: c.area.code, f: c.figures, total: false })),
    { name: `Toàn ${areaWord}`, code: report.root.code, f: report.totals, total: true },
  ].flatMap((u) => report.languages.filter((l) => (u.f.airtime.byLanguage[l] ?? 0) > 0).map((l) => ({ ...u, lang: l, use: u.f.airtime.languageUse[l]! })));
  const langSheet = table(
    wb,
    report,
    'Theo ngôn ngữ',
    'Thời lượng phát theo ngôn ngữ',
    [
      { header: 'Mã xã', width: 10, value: (x) => x.code },
      { header: 'Tên xã, phường', width: 26, value: (x) => x.name },
      { header: 'Ngôn ngữ', width: 18, value: (x) => languageName(x.lang) },
      { header: 'Mã ngôn ngữ', width: 9, value: (x) => x.lang },
      { header: 'Giờ phát', width: 12, fmt: FMT.hours, value: (x) => hoursOf(x.f.airtime.byLanguage[x.lang] ?? 0) },
      { header: 'Bằng tiếng của thôn / phát thay', width: 24, value: (x) => languageUseWords(x.use, 'vi') },
      { header: `Giờ phát ${LANGUAGE_USE_LABEL.own.vi.toLowerCase()}`, width: 14, fmt: FMT.hours, value: (x) => hoursOf(x.use.ownMs) },
      { header: `Giờ ${LANGUAGE_USE_LABEL.fallback.vi.toLowerCase()}`, width: 16, fmt: FMT.hours, value: (x) => hoursOf(x.use.fallbackMs) },
      { header: 'Số thôn nghe bằng tiếng của mình', width: 13, fmt: FMT.count, value: (x) => x.use.placesOwn },
      { header: 'Số thôn nghe phát thay', width: 13, fmt: FMT.count, value: (x) => x.use.placesFallback },
    ],
    byLanguage,
  );
  byLanguage.forEach((x, i) => {
    if (x.total) langSheet.getRow(HEADER_ROW + 1 + i).font = { bold: true };
  });

  // Không phát theo lý do
  table(
    wb,
    report,
    'Không phát theo lý do',
    'Bản tin không phát, theo lý do',
    [
      { header: 'Mã xã', width: 10, value: (c: CommuneLine) => c.area.code },
      { header: 'Tên xã, phường', width: 26, value: (c: CommuneLine) => c.area.name },
      { header: 'Không phát (tổng)', width: 12, fmt: FMT.count, value: (c: CommuneLine) => c.figures.bulletins.byStatus.skipped, total: 'sum' },
      ...report.skipReasons.map(
        (reason): Column<CommuneLine> => ({
          header: capitalise(skipReasonWords(reason, 'vi')),
          width: 18,
          fmt: FMT.count,
          value: (c) => c.figures.bulletins.skippedByReason[reason] ?? 0,
          total: 'sum',
        }),
      ),
    ],
    report.communes,
    { label: `Toàn ${areaWord}`, figures: report.totals },
  );

  // Theo thôn
  const villages = report.communes.flatMap((c) => c.villages.map((v) => ({ commune: c.area, v })));
  table(
    wb,
    report,
    'Theo thôn',
    'Hoạt động và độ phủ theo thôn',
    [
      { header: 'Mã thôn', width: 11, value: (x) => x.v.area.code },
      { header: 'Tên thôn', width: 24, value: (x) => x.v.area.name },
      { header: 'Xã, phường', width: 24, value: (x) => x.commune.name },
      { header: 'Cụm loa', width: 10, fmt: FMT.count, value: (x) => x.v.clusters },
      { header: 'Thời gian hoạt động', width: 13, fmt: FMT.share, value: (x) => x.v.uptime.share },
      { header: 'Độ phủ đã xác minh', width: 13, fmt: FMT.share, value: (x) => x.v.coverage.share },
      { header: 'Giờ có cụm loa hoạt động', width: 14, fmt: FMT.hours, value: (x) => hoursOf(x.v.coverage.coveredMs) },
      { header: 'Giờ trong kỳ', width: 12, fmt: FMT.hours, value: (x) => hoursOf(x.v.coverage.villageMs) },
      { header: 'Chưa có cụm loa', width: 10, value: (x) => (x.v.coverage.villagesWithoutCluster ? 'Chưa có' : '') },
    ],
    villages,
  );

  // Cảnh báo
  table(
    wb,
    report,
    'Cảnh báo',
    'Cảnh báo khẩn cấp',
    [
      { header: 'Mã cảnh báo', width: 14, value: (a) => a.id },
      { header: 'Nội dung', width: 34, value: (a) => a.title },
      { header: 'Phát lệnh lúc', width: 17, fmt: FMT.date, value: (a) => excelDate(a.issuedAt, zone) },
      { header: 'Diễn tập', width: 10, value: (a) => (a.test ? 'Diễn tập' : '') },
      { header: 'Mức', width: 11, value: (a) => (a.priority === 'emergency' ? 'Khẩn cấp' : 'Ưu tiên') },
      { header: 'Ngôn ngữ', width: 14, value: (a) => languageName(a.lang) },
      { header: 'Số xã', width: 8, fmt: FMT.count, value: (a) => a.communes },
      { header: 'Điểm nhận lệnh', width: 10, fmt: FMT.count, value: (a) => a.targeted },
      { header: 'Đã phát âm thanh', width: 10, fmt: FMT.count, value: (a) => a.sounded },
      { header: 'Đã phát bản tin', width: 10, fmt: FMT.count, value: (a) => a.message },
      { header: 'Micrô xác nhận nghe thấy', width: 11, fmt: FMT.count, value: (a) => a.heard },
      { header: 'Đến âm thanh đầu tiên (giây)', width: 13, fmt: FMT.seconds, value: (a) => seconds(a.firstSoundAfterMs) },
      { header: 'Đến 100 % điểm phát bản tin (giây)', width: 14, fmt: FMT.seconds, value: (a) => seconds(a.allMessageAfterMs) },
    ],
    report.alerts,
  );

  // Sự cố
  table(
    wb,
    report,
    'Sự cố',
    'Sự cố kỹ thuật',
    [
      { header: 'Mã điểm', width: 18, value: (f) => f.siteId },
      { header: 'Tên điểm', width: 28, value: (f) => f.siteName },
      { header: 'Xã, phường', width: 22, value: (f) => f.commune?.name ?? null },
      { header: 'Thôn', width: 18, value: (f) => f.village?.name ?? null },
      { header: 'Loại sự cố', width: 26, value: (f) => faultKindWords(f.kind, 'vi') },
      { header: 'Bắt đầu', width: 17, fmt: FMT.date, value: (f) => excelDate(f.startedAt, zone) },
      { header: 'Khắc phục xong', width: 17, fmt: FMT.date, value: (f) => (f.endedAt === null ? 'Chưa khắc phục' : excelDate(f.endedAt, zone)) },
      { header: 'Thời gian khắc phục (giờ)', width: 13, fmt: FMT.hours, value: (f) => hours(f.repairMs) },
      { header: 'Khắc phục tính theo', width: 26, value: (f) => REPAIR_SOURCE_LABEL[f.repairSource].vi },
      { header: 'Xác nhận lúc', width: 17, fmt: FMT.date, value: (f) => (f.acknowledgedAt === null ? 'Chưa xác nhận' : excelDate(f.acknowledgedAt, zone)) },
      { header: 'Thời gian đến khi xác nhận (giờ)', width: 13, fmt: FMT.hours, value: (f) => hours(f.ackMs) },
    ],
    report.faults,
  );
  return wb;
}

/** The workbook as the bytes of an .xlsx file. */
export async function reportXlsx(report: Report): Promise<Buffer> {
  const out = await reportWorkbook(report).xlsx.writeBuffer();
  return Buffer.from(out);
}
