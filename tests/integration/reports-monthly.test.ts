/**
 * Scheduled delivery of reports on a real server: last month's reports (the
 * province's and each commune's, Excel and PDF) made once by the monthly job
 * (the MonthlyReports the reports feature runs, here over the server's own
 * stores and outbox, without waiting for the 1st), kept for download through
 * /api/reports/kept (scoped to the user's area), and told to a webhook
 * receiver as signed `report.ready` events, one per area, in order.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEnvelope } from '../../server/outbox/model.ts';
import { verify } from '../../server/outbox/signature.ts';
import { MonthlyReports, previousMonth, type ReportReadyData } from '../../server/reports/monthly.ts';
import { ReportService } from '../../server/reports/service.ts';
import { previousDay, SourceSystemPush } from '../../server/reports/source-system/push.ts';
import { SourceSystemDocument } from '../../server/reports/source-system/schema.ts';
import { Value } from '@sinclair/typebox/value';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CSV =
  'province_code,province_name,commune_code,commune_name,commune_type,lat,lon\n15,Tỉnh Lào Cai,02671,Phường Cam Đường,phường,22.43089,104.00719\n15,Tỉnh Lào Cai,02683,Xã Bát Xát,xã,22.51954,103.85259\n';

let t: TestServer;
let receiver: http.Server;
const taken: OutboxEnvelope[] = [];
let badSignatures = 0;
let monthly: MonthlyReports;
let period: string;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => req.headers[n] as string | undefined;
      if (!verify(SECRET, { id: h('webhook-id'), timestamp: h('webhook-timestamp'), signature: h('webhook-signature') }, body, Math.floor(Date.now() / 1000)).ok) {
        badSignatures++;
        res.writeHead(401).end();
        return;
      }
      taken.push(JSON.parse(body) as OutboxEnvelope);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  t = await startTestServer({
    LOANET_OUTBOX_DESTINATIONS: JSON.stringify([{ name: 'so-ttt', adapter: 'webhook', url, secret: SECRET, events: ['report.ready', 'source_system.record'] }]),
  });
  const r = await t.api('POST', '/api/areas/import?version=2025', CSV, { contentType: 'text/csv' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  monthly = new MonthlyReports(new ReportService(t.server.ctx), { ...t.server.ctx, dataDir: t.dataDir });
  period = previousMonth(Date.now());
}, 120_000);

afterAll(async () => {
  await t?.stop();
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('last month’s reports, made once, kept and announced', () => {
  it('the month before is the calendar month in Việt Nam', () => {
    expect(previousMonth(Date.parse('2026-11-30T17:30:00Z'))).toBe('2026-11'); // 1 December 00:30 ICT
    expect(previousMonth(Date.parse('2026-11-30T16:30:00Z'))).toBe('2026-10'); // still 30 November in ICT
    expect(previousMonth(Date.parse('2027-01-01T00:00:00Z'))).toBe('2026-12');
  });

  it('makes the province’s and each commune’s report once, and a second run makes nothing', async () => {
    expect(await monthly.runDue()).toBe(6);
    expect(await monthly.runDue()).toBe(0);
    const files = fs.readdirSync(path.join(t.dataDir, 'reports', period)).filter((f) => !f.startsWith('.'));
    expect(files.sort()).toEqual(['15', '02671', '02683'].flatMap((c) => [`bao-cao_${c}_${period}.pdf`, `bao-cao_${c}_${period}.xlsx`]).sort());
  }, 120_000);

  it('tells the receiver report.ready once per area, in order, signed', async () => {
    const ready = () => taken.filter((e) => e.type === 'report.ready');
    await waitFor('three report.ready events', () => ready().length === 3, 60_000);
    expect(badSignatures).toBe(0);
    const data = ready().map((e) => e.data as ReportReadyData);
    expect(data.map((d) => d.area.code)).toEqual(['15', '02671', '02683']);
    expect(data.every((d) => d.period === period)).toBe(true);
    expect(data[0]!.files.map((f) => f.url)).toEqual([`/api/reports/kept/${period}/bao-cao_15_${period}.xlsx`, `/api/reports/kept/${period}/bao-cao_15_${period}.pdf`]);
  });

  it('lists and serves the kept files, each user only their own area’s', async () => {
    const all = await t.api('GET', '/api/reports/kept');
    expect(all.status).toBe(200);
    expect(all.body.reports).toHaveLength(6);
    const url = all.body.reports.find((r: { area: { code: string }; format: string }) => r.area.code === '02683' && r.format === 'xlsx').url as string;
    const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await res.arrayBuffer());
    expect(String(wb.getWorksheet('Tổng hợp')!.getCell(2, 1).value)).toContain('Đơn vị: Xã Bát Xát');

    const u = await t.api('POST', '/api/users', { username: 'batxat', password: 'a long enough password 42', role: 'viewer', area: '02683' });
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    const token = (await t.api('POST', '/api/auth/login', { username: 'batxat', password: 'a long enough password 42' }, { token: null })).body.token as string;
    const own = await t.api('GET', '/api/reports/kept', undefined, { token });
    expect(own.body.reports.map((r: { fileName: string }) => r.fileName).sort()).toEqual([`bao-cao_02683_${period}.pdf`, `bao-cao_02683_${period}.xlsx`]);
    const pdf = await fetch(`${t.baseUrl}/api/reports/kept/${period}/bao-cao_02683_${period}.pdf`, { headers: { authorization: `Bearer ${token}` } });
    expect(pdf.status).toBe(200);
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString('latin1'),
    ).toBe('%PDF-');
    const other = await t.api('GET', `/api/reports/kept/${period}/bao-cao_02671_${period}.pdf`, undefined, { token });
    expect(other.status).toBe(404);
    const traversal = await t.api('GET', `/api/reports/kept/${period}/..%2F..%2Fsecret`, undefined, { token });
    expect(traversal.status).toBe(404);
  });

  it("pushes yesterday's source information system document per commune, once, signed and valid", async () => {
    expect(previousDay(Date.parse('2026-11-30T17:30:00Z'))).toBe('2026-11-30'); // 1 December 00:30 ICT
    expect(previousDay(Date.parse('2027-01-01T00:00:00Z'))).toBe('2026-12-31');
    const push = new SourceSystemPush({ ...t.server.ctx, dataDir: t.dataDir });
    expect(await push.runDue()).toBe(2);
    expect(await push.runDue()).toBe(0);
    const records = () => taken.filter((e) => e.type === 'source_system.record');
    await waitFor('two source_system.record events', () => records().length === 2, 60_000);
    expect(badSignatures).toBe(0);
    for (const e of records()) expect([...Value.Errors(SourceSystemDocument, e.data)].map((x) => `${x.path} ${x.message}`)).toEqual([]);
    expect(records().map((e) => (e.data as SourceSystemDocument).area.code)).toEqual(['02671', '02683']);
    const day = previousDay(Date.now());
    expect((records()[0]!.data as SourceSystemDocument).period.from).toBe(new Date(Date.parse(`${day}T00:00:00+07:00`)).toISOString());
  }, 60_000);
});
