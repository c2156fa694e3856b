/**
 * The periodic report as a printable A4 PDF (pdfkit, no browser on the
 * server), laid out as a Vietnamese administrative document (Nghị định
 * 30/2020/NĐ-CP, Phụ lục I): the reporting unit and the national motto side
 * by side, place and date, the title, then the sections:
 * I. the area's summary, II. one row per commune, III. hours by language
 * (heard in the villages' own language or as a fallback, and the communes
 * where villages heard a fallback), IV. villages whose verified coverage
 * fell short, V. alerts, VI. faults by kind. The workbook
 * (xlsx.ts) carries every village and every fault; on paper those lists
 * would run to dozens of pages, so the PDF keeps what an officer acts on.
 *
 * Tables break across pages with their header repeated; every page is
 * numbered "Trang i/n". The font is DejaVu Serif Condensed, vendored in
 * ./fonts with its licence: every Vietnamese letter with its diacritics,
 * never the machine's own fonts.
 */
import path from 'node:path';
import { serverDataFile } from '../files.ts';
import PDFDocument from 'pdfkit';
import { numberWords } from '../../api/words/reasons.ts';
import { wallTimeAt } from '../time/zone.ts';
import type { AsRunStatus } from '../asrun/accounting.ts';
import { capitalise, faultKindWords, languageName, LEVEL_VI, summaryFigures, type SummaryFigure } from './labels.ts';
import { dateTimeVi } from './period.ts';
import type { Report, UnitFigures } from './model.ts';
import { hoursOf } from './report-model.ts';

/** The vendored fonts: under server/reports/fonts in the sources, beside the bundle once built (scripts/build.ts SERVER_FILES). */
export const FONT_DIR = path.dirname(serverDataFile('reports/fonts/DejaVuSerifCondensed.ttf'));

export interface PdfOptions {
  /** Where DejaVuSerifCondensed(.ttf, -Bold.ttf) are; default: beside this module. */
  fontDir?: string;
  /** A village whose verified coverage is below this share is listed (default 0.9). */
  coverageBelow?: number;
}

// A4 in points; margins as the decree asks (left 30 mm, right 15 mm, top and bottom 20 mm).
const PAGE = { width: 595.28, height: 841.89 };
const MARGIN = { top: 57, bottom: 57, left: 85, right: 43 };
const CONTENT = PAGE.width - MARGIN.left - MARGIN.right;
const FOOTER_Y = PAGE.height - 38;

type Doc = PDFKit.PDFDocument;

interface Column<R> {
  header: string;
  width: number;
  align?: 'left' | 'right' | 'center';
  text(r: R): string;
}

const n0 = (n: number) => numberWords('vi', n);
const pct = (s: number | null) => (s === null ? '—' : numberWords('vi', s * 100, 1, '%'));
const hrs = (ms: number | null) => (ms === null ? '—' : numberWords('vi', hoursOf(ms), 2));
const secs = (ms: number | null) => (ms === null ? '—' : numberWords('vi', ms / 1000, 1));

function figureText(f: SummaryFigure): string {
  if (f.heading) return '';
  if (f.unit === 'share') return pct(f.value);
  if (f.unit === 'hours') return f.value === null ? '—' : `${numberWords('vi', f.value, 2)} giờ`;
  return f.value === null ? '—' : n0(f.value);
}

/**
 * A table that breaks across pages: each row is measured first and goes to
 * the next page, under the header drawn again, when it would not fit.
 */
function table<R>(doc: Doc, columns: readonly Column<R>[], rows: readonly R[], opts: { fontSize?: number; bold?: (r: R) => boolean } = {}): void {
  const size = opts.fontSize ?? 8;
  const pad = 2.5;
  const scale = CONTENT / columns.reduce((s, c) => s + c.width, 0);
  const widths = columns.map((c) => c.width * scale);
  const bottom = PAGE.height - MARGIN.bottom;
  const heightOf = (cells: readonly string[], font: string) => {
    doc.font(font).fontSize(size);
    return Math.max(...cells.map((t, i) => doc.heightOfString(t || ' ', { width: widths[i]! - 2 * pad }))) + 2 * pad;
  };
  const drawRow = (cells: readonly string[], font: string, fill: string | null) => {
    const h = heightOf(cells, font);
    const y = doc.y;
    let x = MARGIN.left;
    if (fill) doc.rect(MARGIN.left, y, CONTENT, h).fill(fill);
    doc.fillColor('black').font(font).fontSize(size);
    cells.forEach((t, i) => {
      doc.text(t, x + pad, y + pad, { width: widths[i]! - 2 * pad, align: columns[i]!.align ?? 'left', lineBreak: true });
      x += widths[i]!;
    });
    doc
      .lineWidth(0.4)
      .strokeColor('#888888')
      .moveTo(MARGIN.left, y + h)
      .lineTo(MARGIN.left + CONTENT, y + h)
      .stroke();
    doc.x = MARGIN.left;
    doc.y = y + h;
  };
  const headers = columns.map((c) => c.header);
  const header = () => drawRow(headers, 'bold', '#DDEBF7');
  if (doc.y + heightOf(headers, 'bold') + 20 > bottom) doc.addPage();
  header();
  for (const r of rows) {
    const cells = columns.map((c) => c.text(r));
    const font = opts.bold?.(r) ? 'bold' : 'regular';
    if (doc.y + heightOf(cells, font) > bottom) {
      doc.addPage();
      header();
    }
    drawRow(cells, font, null);
  }
  doc.moveDown(0.8);
}

function heading(doc: Doc, text: string): void {
  if (doc.y + 60 > PAGE.height - MARGIN.bottom) doc.addPage();
  doc.moveDown(0.4).font('bold').fontSize(11).fillColor('black').text(text, MARGIN.left, doc.y, { width: CONTENT });
  doc.moveDown(0.3);
}

/** The document's head: the unit and the motto side by side, place and date, the title. */
function titleBlock(doc: Doc, report: Report): void {
  const top = MARGIN.top;
  const leftW = CONTENT * 0.42;
  const rightX = MARGIN.left + CONTENT * 0.4;
  const rightW = CONTENT * 0.6;
  const unit = report.root.name.toUpperCase();
  doc.font('regular').fontSize(10).text(`UBND ${unit}`, MARGIN.left, top, { width: leftW, align: 'center' });
  doc.font('bold').fontSize(10).text('HỆ THỐNG TRUYỀN THANH CƠ SỞ', MARGIN.left, doc.y, { width: leftW, align: 'center' });
  const leftEnd = doc.y;
  doc
    .lineWidth(0.6)
    .strokeColor('black')
    .moveTo(MARGIN.left + leftW * 0.3, leftEnd + 4)
    .lineTo(MARGIN.left + leftW * 0.7, leftEnd + 4)
    .stroke();
  doc.font('bold').fontSize(10).text('CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM', rightX, top, { width: rightW, align: 'center' });
  doc.font('bold').fontSize(11).text('Độc lập – Tự do – Hạnh phúc', rightX, doc.y, { width: rightW, align: 'center' });
  const mottoEnd = doc.y;
  doc
    .moveTo(rightX + rightW * 0.22, mottoEnd + 4)
    .lineTo(rightX + rightW * 0.78, mottoEnd + 4)
    .stroke();
  const w = wallTimeAt(report.generatedAt, report.period.zone);
  const place = report.root.name.replace(/^(Tỉnh|Thành phố|Huyện|Thị xã|Xã|Phường|Thị trấn)\s+/u, '');
  const p2 = (n: number) => String(n).padStart(2, '0');
  doc
    .font('regular')
    .fontSize(10)
    .text(`${place}, ngày ${p2(w.day)} tháng ${p2(w.month)} năm ${w.year}`, rightX, mottoEnd + 10, { width: rightW, align: 'center', oblique: true });
  doc.y = Math.max(doc.y, leftEnd) + 22;
  doc.font('bold').fontSize(14).text('BÁO CÁO', MARGIN.left, doc.y, { width: CONTENT, align: 'center' });
  doc.font('bold').fontSize(11).text(`Hoạt động đài truyền thanh cơ sở ${LEVEL_VI[report.root.level]} – ${report.period.label.vi}`, { width: CONTENT, align: 'center' });
  doc
    .font('regular')
    .fontSize(9)
    .text(`Từ ${dateTimeVi(report.period.from, report.period.zone)} đến ${dateTimeVi(report.period.to, report.period.zone)} (giờ Việt Nam, không kể thời điểm cuối)`, {
      width: CONTENT,
      align: 'center',
    });
  doc.moveDown(1);
}

type CommuneLine = Report['communes'][number];

/** The commune table's columns (a row per commune, then the area's total). */
type CommuneTableRow = { name: string; f: UnitFigures; total?: true };

function communeColumns(): Column<CommuneTableRow>[] {
  const b = (s: AsRunStatus) => (r: { f: UnitFigures }) => n0(r.f.bulletins.byStatus[s]);
  return [
    { header: 'Xã, phường', width: 70, text: (r) => r.name },
    { header: 'Bản tin theo kế hoạch', width: 30, align: 'right', text: (r) => n0(r.f.bulletins.planned) },
    { header: 'Đúng giờ', width: 28, align: 'right', text: b('played') },
    { header: 'Muộn', width: 22, align: 'right', text: b('late') },
    { header: 'Không phát', width: 24, align: 'right', text: b('skipped') },
    { header: 'Chưa có báo cáo', width: 26, align: 'right', text: b('no_receipt') },
    {
      header: 'Khác',
      width: 22,
      align: 'right',
      text: (r) => n0(r.f.bulletins.planned - r.f.bulletins.byStatus.played - r.f.bulletins.byStatus.late - r.f.bulletins.byStatus.skipped - r.f.bulletins.byStatus.no_receipt),
    },
    { header: 'Giờ phát', width: 28, align: 'right', text: (r) => hrs(r.f.airtime.totalMs) },
    { header: 'Hoạt động', width: 28, align: 'right', text: (r) => pct(r.f.uptime.share) },
    { header: 'Độ phủ xác minh', width: 28, align: 'right', text: (r) => pct(r.f.coverage.share) },
    { header: 'Sự cố', width: 20, align: 'right', text: (r) => n0(r.f.faults.total.count) },
    { header: 'Khắc phục TB (giờ)', width: 28, align: 'right', text: (r) => hrs(r.f.faults.total.meanRepairMs) },
  ];
}

function draw(doc: Doc, report: Report, opts: PdfOptions): void {
  const areaWord = LEVEL_VI[report.root.level];
  titleBlock(doc, report);

  heading(doc, `I. TỔNG HỢP TOÀN ${areaWord.toUpperCase()}: ${report.root.name.toUpperCase()}`);
  table(
    doc,
    [
      { header: 'Chỉ tiêu', width: 300, text: (f: SummaryFigure) => (f.heading ? f.label.toUpperCase() : `   ${f.label}`) },
      { header: 'Số liệu', width: 110, align: 'right', text: figureText },
    ],
    summaryFigures(report, report.totals),
    { fontSize: 9, bold: (f) => f.heading === true },
  );

  heading(doc, 'II. SỐ LIỆU THEO XÃ, PHƯỜNG');
  doc
    .font('regular')
    .fontSize(8)
    .text(
      '"Khác": phát sớm, chưa xác minh đồng hồ, phát dở dang, không rõ, chưa đến giờ (chi tiết trong tệp Excel). Giờ phát: mỗi chương trình tính một lần trong một xã, theo lượt phát dài nhất.',
      { width: CONTENT },
    );
  doc.moveDown(0.3);
  table(
    doc,
    communeColumns(),
    [...report.communes.map((c: CommuneLine): CommuneTableRow => ({ name: c.area.name, f: c.figures })), { name: `Toàn ${areaWord}`, f: report.totals, total: true }],
    {
      fontSize: 7.5,
      bold: (r) => r.total === true,
    },
  );

  languageSection(doc, report);

  const below = opts.coverageBelow ?? 0.9;
  const weak = report.communes.flatMap((c) => c.villages.filter((v) => v.coverage.share !== null && v.coverage.share < below).map((v) => ({ c, v })));
  heading(doc, `IV. THÔN CÓ ĐỘ PHỦ ĐÃ XÁC MINH DƯỚI ${numberWords('vi', below * 100, 0, '%')}`);
  if (weak.length === 0) doc.font('regular').fontSize(9).text('Không có thôn nào.', { width: CONTENT }).moveDown(0.5);
  else
    table(
      doc,
      [
        { header: 'Thôn', width: 90, text: (x) => x.v.area.name },
        { header: 'Xã, phường', width: 100, text: (x) => x.c.area.name },
        { header: 'Cụm loa', width: 35, align: 'right', text: (x) => n0(x.v.clusters) },
        { header: 'Hoạt động', width: 45, align: 'right', text: (x) => pct(x.v.uptime.share) },
        { header: 'Độ phủ xác minh', width: 45, align: 'right', text: (x) => pct(x.v.coverage.share) },
        { header: 'Ghi chú', width: 90, text: (x) => (x.v.coverage.villagesWithoutCluster ? 'Chưa có cụm loa' : '') },
      ],
      weak,
    );

  heading(doc, 'V. CẢNH BÁO KHẨN CẤP');
  if (report.alerts.length === 0) doc.font('regular').fontSize(9).text('Không có cảnh báo nào trong kỳ.', { width: CONTENT }).moveDown(0.5);
  else
    table(
      doc,
      [
        { header: 'Nội dung', width: 100, text: (a) => `${a.title}${a.test ? ' (diễn tập)' : ''}` },
        { header: 'Phát lệnh lúc', width: 55, text: (a) => dateTimeVi(a.issuedAt, report.period.zone) },
        { header: 'Ngôn ngữ', width: 40, text: (a) => languageName(a.lang) },
        { header: 'Số xã', width: 25, align: 'right', text: (a) => n0(a.communes) },
        { header: 'Điểm nhận lệnh', width: 32, align: 'right', text: (a) => n0(a.targeted) },
        { header: 'Đã phát bản tin', width: 32, align: 'right', text: (a) => n0(a.message) },
        { header: 'Đến âm thanh đầu tiên (giây)', width: 40, align: 'right', text: (a) => secs(a.firstSoundAfterMs) },
        { header: 'Đến 100 % điểm (giây)', width: 40, align: 'right', text: (a) => (a.allMessageAfterMs === null ? 'chưa đạt' : secs(a.allMessageAfterMs)) },
      ],
      report.alerts,
    );

  heading(doc, 'VI. SỰ CỐ KỸ THUẬT THEO LOẠI');
  const kinds = report.faultKinds.map((k) => ({ kind: k, f: report.totals.faults.byKind[k]! }));
  if (kinds.length === 0) doc.font('regular').fontSize(9).text('Không có sự cố nào trong kỳ.', { width: CONTENT }).moveDown(0.5);
  else
    table(
      doc,
      [
        { header: 'Loại sự cố', width: 120, text: (x) => capitalise(faultKindWords(x.kind, 'vi')) },
        { header: 'Số sự cố', width: 40, align: 'right', text: (x) => n0(x.f.count) },
        { header: 'Đã khắc phục', width: 45, align: 'right', text: (x) => n0(x.f.repaired) },
        { header: 'Theo phiếu sửa chữa', width: 45, align: 'right', text: (x) => n0(x.f.repairedByWorkOrder) },
        { header: 'Chưa khắc phục', width: 45, align: 'right', text: (x) => n0(x.f.open) },
        { header: 'Thời gian khắc phục TB (giờ)', width: 55, align: 'right', text: (x) => hrs(x.f.meanRepairMs) },
        { header: 'Lâu nhất (giờ)', width: 45, align: 'right', text: (x) => hrs(x.f.longestRepairMs) },
        { header: 'Xác nhận TB (giờ)', width: 50, align: 'right', text: (x) => hrs(x.f.meanAckMs) },
      ],
      [...kinds, { kind: 'Tổng cộng', f: report.totals.faults.total }],
      { bold: (x) => x.kind === 'Tổng cộng' },
    );

  doc
    .font('regular')
    .fontSize(8)
    .fillColor('#444444')
    .text(
      `Báo cáo lập tự động lúc ${dateTimeVi(report.generatedAt, report.period.zone)} từ nhật ký phát thanh, báo cáo trạng thái thiết bị và cảnh báo của hệ thống. Thời gian khắc phục một sự cố có phiếu sửa chữa tính đến khi kiểm tra âm thanh đạt đóng phiếu, sự cố không có phiếu tính đến khi cảnh báo hết. Số liệu chi tiết từng thôn, từng sự cố trong tệp Excel cùng kỳ.`,
      MARGIN.left,
      doc.y + 6,
      { width: CONTENT },
    );
}

/**
 * III. Hours by language: the area's row per language (its hours, heard in
 * the villages' own language or played as a fallback, and how many villages
 * heard it each way); then, in a report of several communes, each commune
 * where villages heard a fallback, the ones to act on.
 */
function languageSection(doc: Doc, report: Report): void {
  heading(doc, 'III. THỜI LƯỢNG PHÁT THEO NGÔN NGỮ');
  if (report.languages.length === 0) {
    doc.font('regular').fontSize(9).text('Không có chương trình nào được phát trong kỳ.', { width: CONTENT }).moveDown(0.5);
    return;
  }
  doc
    .font('regular')
    .fontSize(8)
    .text(
      'Tính theo phần (bản ngôn ngữ) mỗi điểm đã phát. "Phát thay": thôn không nói tiếng này nghe bản này vì chương trình chưa có bản bằng tiếng của thôn. Một bản phát cho thôn nói tiếng đó và phát thay ở thôn khác được tính ở cả hai cột.',
      { width: CONTENT },
    );
  doc.moveDown(0.3);
  const t = report.totals.airtime;
  table(
    doc,
    [
      { header: 'Ngôn ngữ', width: 80, text: (l: string) => languageName(l) },
      { header: 'Giờ phát', width: 40, align: 'right', text: (l) => hrs(t.byLanguage[l] ?? 0) },
      { header: 'Bằng tiếng của thôn (giờ)', width: 45, align: 'right', text: (l) => hrs(t.languageUse[l]?.ownMs ?? 0) },
      { header: 'Phát thay (giờ)', width: 40, align: 'right', text: (l) => hrs(t.languageUse[l]?.fallbackMs ?? 0) },
      { header: 'Thôn nghe bằng tiếng của mình', width: 45, align: 'right', text: (l) => n0(t.languageUse[l]?.placesOwn ?? 0) },
      { header: 'Thôn nghe phát thay', width: 40, align: 'right', text: (l) => n0(t.languageUse[l]?.placesFallback ?? 0) },
    ],
    report.languages,
    { fontSize: 8.5 },
  );
  if (report.communes.length < 2) return;
  const fallbacks = report.communes.flatMap((c) =>
    report.languages.filter((l) => (c.figures.airtime.languageUse[l]?.fallbackMs ?? 0) > 0).map((l) => ({ c, l, u: c.figures.airtime.languageUse[l]! })),
  );
  if (fallbacks.length === 0) {
    doc.font('regular').fontSize(9).text('Không xã, phường nào có thôn phải nghe phát thay.', { width: CONTENT }).moveDown(0.5);
    return;
  }
  doc.font('bold').fontSize(9).text('Xã, phường có thôn nghe phát thay', { width: CONTENT }).moveDown(0.2);
  table(
    doc,
    [
      { header: 'Xã, phường', width: 110, text: (x) => x.c.area.name },
      { header: 'Ngôn ngữ phát thay', width: 80, text: (x) => languageName(x.l) },
      { header: 'Giờ phát thay', width: 45, align: 'right', text: (x) => hrs(x.u.fallbackMs) },
      { header: 'Số thôn', width: 35, align: 'right', text: (x) => n0(x.u.placesFallback) },
    ],
    fallbacks,
  );
}

/** Writes "Trang i/n" at the foot of every page (pages are buffered until the end). */
function pageNumbers(doc: Doc): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    // Writing below the bottom margin would start a new page: lift the margin for the footer.
    const bottom = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font('regular')
      .fontSize(9)
      .fillColor('black')
      .text(`Trang ${i - range.start + 1}/${range.count}`, MARGIN.left, FOOTER_Y, { width: CONTENT, align: 'center', lineBreak: false });
    doc.page.margins.bottom = bottom;
  }
}

/** The report as the bytes of an A4 PDF. */
export function reportPdf(report: Report, opts: PdfOptions = {}): Promise<Buffer> {
  const fonts = opts.fontDir ?? FONT_DIR;
  const doc = new PDFDocument({
    size: 'A4',
    margins: MARGIN,
    bufferPages: true,
    info: {
      Title: `Báo cáo hoạt động đài truyền thanh cơ sở – ${report.root.name} – ${report.period.label.vi}`,
      Author: 'loanet',
      Subject: report.period.label.vi,
      CreationDate: new Date(report.generatedAt),
    },
  });
  doc.registerFont('regular', path.join(fonts, 'DejaVuSerifCondensed.ttf'));
  doc.registerFont('bold', path.join(fonts, 'DejaVuSerifCondensed-Bold.ttf'));
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  try {
    draw(doc, report, opts);
    pageNumbers(doc);
  } finally {
    doc.end();
  }
  return done;
}
