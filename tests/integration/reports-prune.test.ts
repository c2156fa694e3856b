/**
 * Kept monthly reports are removed once past their keeping
 * (LOANET_REPORTS_KEEP_MONTHS): a real server's store and the monthly job
 * (MonthlyReports, as the reports feature runs it on the history lease's
 * holder) make real files for old and recent months on a clock set to
 * December 2026; pruning removes the months before the kept ones, whole,
 * with the source information system's day markers of those months, keeps
 * the rest, and the kept reports' route no longer lists them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonthlyReports, oldestKeptMonth } from '../../server/reports/monthly.ts';
import { ReportService } from '../../server/reports/service.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const CSV =
  'province_code,province_name,commune_code,commune_name,commune_type,lat,lon\n15,Tỉnh Lào Cai,02671,Phường Cam Đường,phường,22.43089,104.00719\n15,Tỉnh Lào Cai,02683,Xã Bát Xát,xã,22.51954,103.85259\n';
/** 1 December 2026, 00:30 in Việt Nam. */
const NOW = Date.parse('2026-11-30T17:30:00Z');

let t: TestServer;
let monthly: MonthlyReports;

beforeAll(async () => {
  t = await startTestServer({ LOANET_REPORTS_KEEP_MONTHS: '24' });
  const r = await t.api('POST', '/api/areas/import?version=2025', CSV, { contentType: 'text/csv' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  monthly = new MonthlyReports(new ReportService(t.server.ctx), { ...t.server.ctx, now: () => NOW, dataDir: t.dataDir });
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('kept reports past their keeping', () => {
  it('keeps the months before the current one, in Việt Nam’s calendar', () => {
    expect(oldestKeptMonth(NOW, 36)).toBe('2023-12');
    expect(oldestKeptMonth(NOW - 3_600_000, 36)).toBe('2023-11'); // still 30 November in ICT
    expect(oldestKeptMonth(NOW, 1)).toBe('2026-11');
    expect(oldestKeptMonth(Date.parse('2027-01-15T00:00:00Z'), 13)).toBe('2025-12');
    expect(() => oldestKeptMonth(NOW, 0)).toThrow(RangeError);
  });

  it('removes the months past LOANET_REPORTS_KEEP_MONTHS whole, with their day markers, and keeps the others', async () => {
    const keep = t.server.ctx.config.reportsKeepMonths;
    expect(keep).toBe(24);
    for (const period of ['2024-10', '2024-11', '2024-12', '2026-11']) expect(await monthly.make(period)).toBe(6);
    const reports = path.join(t.dataDir, 'reports');
    const markers = path.join(t.dataDir, 'source-system');
    fs.mkdirSync(markers, { recursive: true });
    for (const day of ['2024-11-30', '2024-12-01', '2026-11-30']) fs.writeFileSync(path.join(markers, `${day}.done`), 'x\n');
    const before = (await t.api('GET', '/api/reports/kept')).body.reports as Array<{ period: string }>;
    expect(new Set(before.map((r) => r.period))).toEqual(new Set(['2024-10', '2024-11', '2024-12', '2026-11']));

    expect(monthly.prune(keep)).toEqual(['2024-10', '2024-11']);
    expect(fs.readdirSync(reports).sort()).toEqual(['2024-12', '2026-11']);
    expect(fs.readdirSync(path.join(reports, '2024-12')).filter((f) => !f.startsWith('.'))).toHaveLength(6);
    expect(fs.existsSync(path.join(reports, '2024-12', '.done'))).toBe(true);
    expect(fs.readdirSync(markers).sort()).toEqual(['2024-12-01.done', '2026-11-30.done']);
    const after = (await t.api('GET', '/api/reports/kept')).body.reports as Array<{ period: string }>;
    expect(new Set(after.map((r) => r.period))).toEqual(new Set(['2024-12', '2026-11']));
    expect(after).toHaveLength(12);

    // Again: nothing more to remove; last month is still there and not made again.
    expect(monthly.prune(keep)).toEqual([]);
    expect(await monthly.runDue()).toBe(0);
  }, 120_000);
});
