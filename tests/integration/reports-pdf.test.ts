/**
 * The report as a printable PDF: rendered from a synthetic month of Lào Cai's
 * 99 communes to a file, then read by poppler as a printer or a viewer would
 * (pdftotext for the words, pdftoppm for the pages): the Vietnamese text with
 * its diacritics and the model's figures are there, the tables' headers come
 * back on each page they run onto, every page is numbered, and no page is blank.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberWords } from '../../api/words/reasons.ts';
import { which } from '../../server/media/tools.ts';
import { parseAreaCsv } from '../../server/registry/area-import.ts';
import { reportPeriod } from '../../server/reports/period.ts';
import { reportPdf } from '../../server/reports/pdf.ts';
import type { Report } from '../../server/reports/model.ts';
import { buildReport, hoursOf } from '../../server/reports/report-model.ts';
import { syntheticMonth } from '../../server/reports/synthetic-month.ts';
import { haveTools, type ToolCheck } from '../helpers/require-tool.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';

const POPPLER: ToolCheck = {
  name: 'pdftoppm and pdftotext (poppler-utils)',
  install: 'apt-get install poppler-utils',
  present: () => (which('pdftoppm') !== undefined && which('pdftotext') !== undefined) || 'not on PATH',
};

const NOV = reportPeriod({ kind: 'month', year: 2026, month: 11 });

describe.skipIf(!haveTools(POPPLER))('the PDF report of a month', () => {
  let dir: string;
  let file: string;
  let report: Report;
  let pages: string[];
  let month: ReturnType<typeof syntheticMonth>;
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-report-pdf-'));
    const drafts = parseAreaCsv(fs.readFileSync(new URL('../../server/registry/vn-admin/lao-cai-2025.csv', import.meta.url), 'utf8'));
    month = syntheticMonth({ drafts, period: NOV, random: mulberry32(11) });
    report = buildReport(month.inputs);
    file = path.join(dir, 'bao-cao-2026-11.pdf');
    fs.writeFileSync(file, await reportPdf(report));
    // pdftotext separates pages with a form feed.
    pages = run('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'])
      .split('\f')
      .filter((p) => p.trim() !== '');
  }, 180_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is A4, with the official head: unit, national motto, place and date, title and period', () => {
    const info = run('pdfinfo', [file]);
    expect(info).toMatch(/Page size:\s+595\.28 x 841\.89 pts \(A4\)/);
    const first = pages[0]!;
    for (const text of [
      'UBND TỈNH LÀO CAI',
      'HỆ THỐNG TRUYỀN THANH CƠ SỞ',
      'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM',
      'Độc lập – Tự do – Hạnh phúc',
      'Lào Cai, ngày 02 tháng 12 năm 2026',
      'BÁO CÁO',
      'Tháng 11/2026',
    ]) {
      expect(first, text).toContain(text);
    }
  });

  it('numbers every page "Trang i/n"', () => {
    expect(pages.length).toBeGreaterThanOrEqual(3);
    pages.forEach((p, i) => expect(p).toContain(`Trang ${i + 1}/${pages.length}`));
  });

  it("prints the model's figures: the summary, and each commune's row with its diacritics", () => {
    const all = pages.join('\n');
    const line = (label: string) => all.split('\n').find((l) => l.trim().startsWith(label)) ?? '';
    expect(line('Bản tin theo kế hoạch')).toContain(numberWords('vi', report.totals.bulletins.planned));
    expect(line('Đã phát đúng giờ')).toContain(numberWords('vi', report.totals.bulletins.byStatus.played));
    expect(line('Tổng thời lượng phát')).toContain(`${numberWords('vi', hoursOf(report.totals.airtime.totalMs), 2)} giờ`);
    expect(line('Số sự cố phát sinh')).toContain(numberWords('vi', report.totals.faults.total.count));
    for (const c of report.communes) {
      const row = line(c.area.name);
      expect(row, c.area.name).not.toBe('');
      expect(row).toContain(numberWords('vi', hoursOf(c.figures.airtime.totalMs), 2));
    }
    expect(all).toContain('Phường Cam Đường');
    expect(all).toContain('Xã Hợp Thành');
  });

  it("names each language's hours, H'Mông with its apostrophe", () => {
    const all = pages.join('\n');
    expect(report.languages).toEqual(['vi', 'hmn']);
    const hmn = all.split('\n').find((l) => l.includes("Phát bằng Tiếng H'Mông")) ?? '';
    expect(hmn).toContain(`${numberWords('vi', hoursOf(report.totals.airtime.byLanguage.hmn!), 2)} giờ`);
  });

  it("a commune's own report: the commune as the unit and the place, one row", async () => {
    const commune = report.communes.find((c) => c.area.name === 'Xã Hợp Thành')!;
    const own = buildReport({ ...month.inputs, rootKey: commune.area.key });
    const ownFile = path.join(dir, 'xa-hop-thanh.pdf');
    fs.writeFileSync(ownFile, await reportPdf(own));
    const text = run('pdftotext', ['-layout', '-enc', 'UTF-8', ownFile, '-']);
    for (const t of [
      'UBND XÃ HỢP THÀNH',
      'Hợp Thành, ngày 02 tháng 12 năm 2026',
      'Hoạt động đài truyền thanh cơ sở xã – Tháng 11/2026',
      'I. TỔNG HỢP TOÀN XÃ: XÃ HỢP THÀNH',
      'Toàn xã',
    ])
      expect(text, t).toContain(t);
    expect(own.totals.bulletins).toEqual(commune.figures.bulletins);
    expect(text.split('\n').find((l) => l.trim().startsWith('Bản tin theo kế hoạch'))).toContain(numberWords('vi', commune.figures.bulletins.planned));
  });

  it('repeats the commune table header on each page it runs onto', () => {
    const withRows = pages.filter((p) => report.communes.some((c) => p.includes(c.area.name)));
    expect(withRows.length).toBeGreaterThanOrEqual(2);
    for (const p of withRows) expect(p).toMatch(/Xã, phường/);
  });

  it('renders to PNG pages (pdftoppm), none of them blank', () => {
    run('pdftoppm', ['-png', '-r', '40', file, path.join(dir, 'page')]);
    const pngs = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('page') && f.endsWith('.png'))
      .sort();
    expect(pngs).toHaveLength(pages.length);
    for (const f of pngs) {
      const bytes = fs.readFileSync(path.join(dir, f));
      expect(bytes.subarray(1, 4).toString('latin1'), f).toBe('PNG');
    }
    // Each page says something besides its number (a short last page, the closing note alone, is not blank).
    pages.forEach((p, i) => expect(p.replace(/Trang \d+\/\d+/, '').trim(), `page ${i + 1}`).not.toBe(''));
    // The same pages in grey (PGM: a header, then one byte a pixel) to count the ink; at 40 dpi small print is grey, not black.
    run('pdftoppm', ['-gray', '-r', '40', file, path.join(dir, 'grey')]);
    const greys = fs.readdirSync(dir).filter((f) => f.startsWith('grey'));
    expect(greys).toHaveLength(pages.length);
    for (const f of greys) {
      const pgm = fs.readFileSync(path.join(dir, f));
      const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 40).toString('latin1'));
      expect(header, f).not.toBeNull();
      const pixels = pgm.subarray(header![0].length);
      expect(pixels.length).toBe(Number(header![1]) * Number(header![2]));
      const ink = pixels.reduce((n, v) => n + (v < 200 ? 1 : 0), 0) / pixels.length;
      expect(ink, `${f}: share of inked pixels`).toBeGreaterThan(0.002);
    }
  });
});
