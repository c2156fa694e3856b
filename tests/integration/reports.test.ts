/**
 * Periodic reports from a real server: bulletins scheduled and approved over
 * HTTP, distributed to sites over MQTT, and reported back by each site with
 * its own credential as as-run receipts (played on time, late, skipped for an
 * amplifier fault, none at all); then GET /api/reports as Excel (opened with
 * exceljs) and PDF (read with pdftotext, rendered with pdftoppm) carries the
 * figures the as-run log itself (GET /api/as-run) gives for the same area and
 * period. Periods too long, malformed, or a village, are refused with their
 * codes; a user of another commune may not read this one's report.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteTopic, type AsRunEvent, type PlaylistEntryMessage, type PlaylistMessage } from '../../protocol/index.ts';
import { Value } from '@sinclair/typebox/value';
import { which } from '../../server/media/tools.ts';
import { SourceSystemDocument } from '../../server/reports/source-system/schema.ts';
import { HEADER_ROW } from '../../server/reports/xlsx.ts';
import { wallTimeAt } from '../../server/time/zone.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { alarmVi } from '../../api/words/alarm-words.ts';
import { PROTOCOL_VERSION } from '../../protocol/index.ts';

const canRun = haveTools('ffmpeg') && which('pdftotext') !== undefined && which('pdftoppm') !== undefined;
const H = 3_600_000;
const COMMUNE = '02683'; // Xã Bát Xát
const OTHER = '02671'; // Phường Cam Đường

interface SimSite {
  id: string;
  client: MqttClient;
  entries: PlaylistEntryMessage[];
}

let t: TestServer;
const sims: SimSite[] = [];
let dir: string;
let periodText: string;

const ymd = (at: number) => {
  const w = wallTimeAt(at, 'Asia/Ho_Chi_Minh');
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
};

async function site(name: string, kind: 'station' | 'cluster', area: string): Promise<SimSite> {
  const s = await t.api('POST', '/api/sites', { name, kind, area });
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  const { siteId, secret } = s.body.credential as { siteId: string; secret: string };
  const client = await mqtt.connectAsync(t.mqttUrl, { clientId: siteId, username: siteId, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
  const sim: SimSite = { id: siteId, client, entries: [] };
  client.on('message', (topic, payload) => {
    if (topic === siteTopic(siteId, 'playlist') && payload.length > 0) sim.entries = (JSON.parse(payload.toString('utf8')) as PlaylistMessage).entries;
  });
  await client.subscribeAsync(siteTopic(siteId, 'playlist'), { qos: 1 });
  sims.push(sim);
  return sim;
}

/** The site's receipt for its entry of `itemId`, published with its own credential. */
async function receipt(s: SimSite, itemId: string, r: Pick<AsRunEvent, 'outcome'> & Partial<AsRunEvent>): Promise<void> {
  const e = await waitFor(`${s.id}'s entry of ${itemId}`, () => s.entries.find((x) => x.itemId === itemId));
  const ev: AsRunEvent = {
    v: 1,
    siteId: s.id,
    at: Date.now(),
    type: 'as_run',
    entryId: e.id,
    kind: e.kind,
    itemId,
    mediaId: e.mediaId,
    scheduledAt: e.startAt,
    clockSynced: true,
    ...r,
  };
  const before = t.server.ctx.asRun.stats().stored;
  await s.client.publishAsync(siteTopic(s.id, 'event'), JSON.stringify(ev), { qos: 1 });
  await waitFor('the receipt stored', () => t.server.ctx.asRun.stats().stored > before);
}

async function item(title: string, mediaId: string, siteIds: string[], at: number): Promise<string> {
  const r = await t.api('POST', '/api/schedule/items', { title, mediaId, targets: { sites: siteIds }, start: { at } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect((await t.api('POST', `/api/schedule/items/${r.body.id}/approve`)).status).toBe(200);
  return r.body.id as string;
}

async function download(url: string): Promise<{ status: number; type: string | null; disposition: string | null; body: Buffer }> {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${t.token}` } });
  return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), body: Buffer.from(await res.arrayBuffer()) };
}

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-reports-');
  // Alarms raised at once and cleared 1 s after their fault: the faults test's alarm comes and goes within it.
  t = await startTestServer({ LOANET_ALARM_PENDING_S: '0', LOANET_ALARM_HOLD_DOWN_S: '1' });
  await importLaoCai2025(t);
  const mediaId = await uploadTone(t, dir, { title: 'Bản tin thử', seconds: 2 });
  const station = await site('Đài xã Bát Xát', 'station', COMMUNE);
  const a = await site('Cụm loa Bát Xát A', 'cluster', COMMUNE);
  const b = await site('Cụm loa Bát Xát B', 'cluster', COMMUNE);
  const other = await site('Cụm loa Cam Đường', 'cluster', OTHER);
  const at = Date.now() + 2 * H;
  const morning = await item('Bản tin sáng', mediaId, [station.id, a.id, b.id, other.id], at);
  const evening = await item('Bản tin chiều', mediaId, [station.id, a.id], at + H);
  const played = (s: SimSite, late = 0) =>
    waitFor('entry', () => s.entries.find((x) => x.itemId === morning)).then((e) =>
      receipt(s, morning, {
        outcome: late > 0 ? 'late' : 'played',
        startedAt: e.startAt + late,
        endedAt: e.startAt + late + 2000,
        startErrorMs: late,
        frames: 100,
        clockErrorMs: 0,
      }),
    );
  await played(station);
  await played(a, 30_000);
  await receipt(b, morning, { outcome: 'skipped', reason: 'amp_fault' });
  await played(other);
  await receipt(station, evening, { outcome: 'skipped', reason: 'amp_fault' });
  // The evening bulletin at site a: no receipt (not due yet: upcoming).
  periodText = `${ymd(Date.now())}..${ymd(Date.now() + 2 * 86_400_000)}`;
}, 180_000);

afterAll(async () => {
  for (const s of sims) await s.client.endAsync().catch(() => undefined);
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('periodic reports from a real server', () => {
  it("the workbook's commune row carries the as-run log's own figures", async () => {
    const [from, to] = periodText.split('..');
    const fromMs = Date.parse(`${from}T00:00:00+07:00`);
    const toMs = Date.parse(`${to}T00:00:00+07:00`) + 86_400_000;
    const log = await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${fromMs}&to=${toMs}`);
    expect(log.status).toBe(200);
    const byStatus = log.body.summary.byStatus as Record<string, number>;
    expect(byStatus).toMatchObject({ played: 1, late: 1, skipped: 2, upcoming: 1 });

    const res = await download(`/api/reports?area=${COMMUNE}&period=${periodText}&format=xlsx`);
    expect(res.status, res.body.toString('utf8').slice(0, 300)).toBe(200);
    expect(res.type).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(res.disposition).toBe(`attachment; filename="bao-cao_${COMMUNE}_${periodText.replace('..', '_')}.xlsx"`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(res.body).buffer);
    const ws = wb.getWorksheet('Theo xã')!;
    const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const row = ws.getRow(HEADER_ROW + 1);
    const cell = (header: string) => {
      const i = headers.indexOf(header);
      expect(i, `"${header}" among ${JSON.stringify(headers.filter(Boolean))}`).toBeGreaterThan(0);
      const v = row.getCell(i).value;
      return typeof v === 'object' && v !== null && 'result' in v ? v.result : v;
    };
    expect(cell('Mã xã')).toBe(COMMUNE);
    expect(cell('Tên xã, phường')).toBe('Xã Bát Xát');
    expect(cell('Bản tin theo kế hoạch')).toBe(log.body.summary.lines);
    expect(cell('Đã phát đúng giờ')).toBe(byStatus.played);
    expect(cell('Phát muộn')).toBe(byStatus.late);
    expect(cell('Không phát')).toBe(byStatus.skipped);
    expect(cell('Chưa đến giờ')).toBe(byStatus.upcoming);
    expect(cell('Đài truyền thanh xã')).toBe(1);
    expect(cell('Cụm loa')).toBe(2);
    // Hours on air: the morning bulletin counts once in the commune, for its longest play (2 s).
    expect(cell('Tổng giờ phát')).toBeCloseTo(2000 / H, 6);
    const reasons = wb.getWorksheet('Không phát theo lý do')!;
    const reasonHeaders = (reasons.getRow(HEADER_ROW).values as unknown[]).map(String);
    const ampCol = reasonHeaders.findIndex((h) => /khuếch đại/i.test(h));
    expect(ampCol, JSON.stringify(reasonHeaders)).toBeGreaterThan(0);
    expect(reasons.getRow(HEADER_ROW + 1).getCell(ampCol).value).toBe(2);
    // The other commune's site is not in this commune's report.
    expect(String(wb.getWorksheet('Tổng hợp')!.getCell(2, 1).value)).toContain('Đơn vị: Xã Bát Xát');
  }, 60_000);

  it('the province report sums both communes, and the PDF renders with the expected text', async () => {
    const res = await download(`/api/reports?period=${periodText}&format=pdf`);
    expect(res.status, res.body.toString('utf8').slice(0, 300)).toBe(200);
    expect(res.type).toBe('application/pdf');
    const file = path.join(dir, 'province.pdf');
    fs.writeFileSync(file, res.body);
    const text = execFileSync('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8', timeout: 60_000 });
    expect(text).toContain('CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM');
    expect(text).toMatch(/Hoạt động đài truyền thanh cơ sở tỉnh – Từ \d\d\/\d\d\/\d{4} đến/);
    expect(text).toContain('TỈNH LÀO CAI');
    expect(text).toContain('Xã Bát Xát');
    expect(text).toContain('Phường Cam Đường');
    execFileSync('pdftoppm', ['-r', '40', '-png', '-f', '1', '-l', '1', file, path.join(dir, 'page')], { timeout: 60_000 });
    const png = fs.readdirSync(dir).find((f) => f.startsWith('page') && f.endsWith('.png'));
    expect(png).toBeDefined();
    expect(fs.statSync(path.join(dir, png!)).size).toBeGreaterThan(1000);

    const xlsx = await download(`/api/reports?period=${periodText}`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(xlsx.body).buffer);
    const ws = wb.getWorksheet('Theo xã')!;
    const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const planned = headers.indexOf('Bản tin theo kế hoạch');
    const rows: Array<{ code: unknown; planned: unknown }> = [];
    ws.eachRow((r, n) => {
      if (n > HEADER_ROW) rows.push({ code: r.getCell(1).value, planned: r.getCell(planned).value });
    });
    const communeRow = rows.find((r) => r.code === COMMUNE);
    const otherRow = rows.find((r) => r.code === OTHER);
    expect(communeRow?.planned).toBe(5);
    expect(otherRow?.planned).toBe(1);
    const total = rows.at(-1)!.planned;
    expect(typeof total === 'object' && total !== null && 'result' in total ? total.result : total).toBe(6);
  }, 120_000);

  it("the source information system's document: the stations, and each occurrence with the as-run log's counts", async () => {
    const doc = await t.api('GET', `/api/source-system/v1?area=${COMMUNE}&period=${periodText}`);
    expect(doc.status, JSON.stringify(doc.body)).toBe(200);
    expect([...Value.Errors(SourceSystemDocument, doc.body)].map((e) => `${e.path} ${e.message}`)).toEqual([]);
    expect(doc.body.area).toEqual({ code: COMMUNE, name: 'Xã Bát Xát', level: 'commune' });
    expect(doc.body.stations.map((s: { kind: string }) => s.kind).sort()).toEqual(['cluster', 'cluster', 'station']);
    const [from, to] = periodText.split('..');
    const log = await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${Date.parse(`${from}T00:00:00+07:00`)}&to=${Date.parse(`${to}T00:00:00+07:00`) + 86_400_000}`);
    const fromLog = (log.body.entries as Array<{ entryId: string; sites: number; byStatus: Record<string, number> }>).map((e) => ({
      entryId: e.entryId,
      sites: e.sites,
      asRun: e.byStatus,
    }));
    const fromDoc = (doc.body.broadcasts as Array<{ entryId: string; sites: number; asRun: Record<string, number>; title: string }>).map((b) => ({
      entryId: b.entryId,
      sites: b.sites,
      asRun: b.asRun,
    }));
    expect(fromDoc.sort((a, b) => a.entryId.localeCompare(b.entryId))).toEqual(fromLog.sort((a, b) => a.entryId.localeCompare(b.entryId)));
    expect(doc.body.broadcasts.map((b: { title: string }) => b.title).sort()).toEqual(['Bản tin chiều', 'Bản tin sáng']);
    const long = await t.api('GET', `/api/source-system/v1?area=${COMMUNE}&period=2026-10-01..2026-11-30`);
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ error: 'LOANET_PERIOD_TOO_LONG', params: { maxDays: 31 } });
  });

  it("faults are the technicians' alarms: an amplifier that overheats and recovers is one repaired fault of its commune", async () => {
    // Cụm loa Bát Xát B, registered third.
    const b = sims[2]!;
    const beat = async (seq: number, over = {}) => b.client.publishAsync(siteTopic(b.id, 'telemetry'), JSON.stringify(healthyTelemetry(b.id, seq, over)), { qos: 1 });
    await b.client.publishAsync(siteTopic(b.id, 'state'), JSON.stringify({ v: PROTOCOL_VERSION, siteId: b.id, state: 'online', at: Date.now() }), { qos: 1, retain: true });
    await beat(1, { amplifier: { on: true, volume: 70, fault: 'overheat', temperatureC: 92 } });
    type A = { id: string; kind: string; state: string };
    const alarms = async () => (await t.api('GET', `/api/alarms?site=${b.id}&state=open,cleared&limit=50`)).body.alarms as A[];
    const raised = await waitFor('the amplifier alarm raised', async () => (await alarms()).find((a) => a.kind === 'amplifier_fault'), 20_000);
    const ack = await t.api('POST', `/api/alarms/${raised.id}/acknowledge`, { note: 'đang đến thay quạt' });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    let seq = 2;
    await waitFor(
      'the amplifier alarm cleared',
      async () => {
        await beat(seq++);
        return (await alarms()).some((a) => a.kind === 'amplifier_fault' && a.state === 'cleared');
      },
      30_000,
      300,
    );

    const res = await download(`/api/reports?area=${COMMUNE}&period=${periodText}`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(res.body).buffer);
    const ws = wb.getWorksheet('Sự cố')!;
    const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const rows: unknown[][] = [];
    ws.eachRow((r, n) => {
      if (n > HEADER_ROW) rows.push(r.values as unknown[]);
    });
    const row = rows.find((r) => r[headers.indexOf('Tên điểm')] === 'Cụm loa Bát Xát B' && r[headers.indexOf('Loại sự cố')] === alarmVi.kind_amplifier_fault);
    expect(row, JSON.stringify(rows)).toBeDefined();
    expect(row![headers.indexOf('Khắc phục xong')]).toBeInstanceOf(Date);
    expect(typeof row![headers.indexOf('Thời gian khắc phục (giờ)')]).toBe('number');
    expect(row![headers.indexOf('Xác nhận lúc')]).toBeInstanceOf(Date);
    expect(typeof row![headers.indexOf('Thời gian đến khi xác nhận (giờ)')]).toBe('number');
  }, 90_000);

  it('refuses a period over a year, a period it cannot read and a village, with their codes', async () => {
    const long = await t.api('GET', `/api/reports?area=${COMMUNE}&period=2025-01-01..2026-06-30`);
    expect(long.status).toBe(400);
    expect(long.body.error).toBe('LOANET_PERIOD_TOO_LONG');
    expect(long.body.params).toMatchObject({ field: 'period', maxDays: 366 });
    const bad = await t.api('GET', `/api/reports?area=${COMMUNE}&period=2026-13`);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('LOANET_BAD_REQUEST');
    const shape = await t.api('GET', `/api/reports?area=${COMMUNE}&period=last-month`);
    expect(shape.status).toBe(400);
  });

  it("a user of another commune may not read this commune's report", async () => {
    const u = await t.api('POST', '/api/users', { username: 'camduong', password: 'a long enough password 42', role: 'viewer', area: OTHER });
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    const login = await t.api('POST', '/api/auth/login', { username: 'camduong', password: 'a long enough password 42' }, { token: null });
    const token = login.body.token as string;
    const refused = await t.api('GET', `/api/reports?area=${COMMUNE}&period=${periodText}`, undefined, { token });
    expect(refused.status).toBe(403);
    const own = await fetch(`${t.baseUrl}/api/reports?period=${periodText}`, { headers: { authorization: `Bearer ${token}` } });
    expect(own.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await own.arrayBuffer());
    expect(String(wb.getWorksheet('Tổng hợp')!.getCell(2, 1).value)).toContain('Đơn vị: Phường Cam Đường');
  });
});
