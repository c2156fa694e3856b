/**
 * A synthetic stretch of November 2026 through the real playout path, and the
 * reports it gives: the server (its own process) schedules a recurring
 * bulletin at 06:00 and 17:00 to a commune of Lào Cai, distributes the
 * playlists over MQTT, simulated sites (`npm run sim`, real edge agents with
 * their playout engines, media caches and receipt journals, in one process)
 * play each occurrence on their simulated amplifiers and send their receipts,
 * and the as-run log is what the server stored. Nothing is inserted in a
 * table. The commune's report (xlsx, and its PDF read with pdftotext) must
 * carry the as-run log's own totals exactly: planned, each status, skipped
 * by reason, hours on air.
 *
 * Time: the server and the sites run under libfaketime (LD_PRELOAD), all
 * reading one offset from a file (FAKETIME_TIMESTAMP_FILE, "+seconds",
 * re-read on every clock call: FAKETIME_NO_CACHE) that applies to
 * CLOCK_REALTIME and CLOCK_MONOTONIC alike, so Date, performance.now and
 * Node's timers move together in every process. Time runs at its real
 * speed while a bulletin plays (the 100 ms on-time rule keeps its meaning)
 * and jumps forward between bulletins, to LOANET_MONTH_LEAD_S (30) before
 * the next one: a day costs a minute or two of real time instead of 24 hours. Sites see each jump as a
 * suspend and resume (their keepalives may lapse and reconnect), which the
 * as-run path must survive anyway. This file's own process is not faked: it
 * computes the fake time from the same offset.
 *
 * Slow by nature: `npm run test:month`, never in `npm test`. Size:
 * LOANET_MONTH_DAYS (default 2), LOANET_MONTH_SITES sites in the commune
 * (default 3); the whole month of 99 communes is what remains (see
 * docs/reports.md).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AsRunLine } from '../../api/as-run.ts';
import { which } from '../../server/media/tools.ts';
import { capitalise, skipReasonWords, STATUS_HEADINGS } from '../../server/reports/labels.ts';
import { UNSPECIFIED_REASON } from '../../server/reports/model.ts';
import { hoursOf, lineAirtimeMs } from '../../server/reports/report-model.ts';
import { HEADER_ROW } from '../../server/reports/xlsx.ts';
import { wallTimeToEpoch } from '../../server/time/zone.ts';
import { startServerProcess, type ServerProcess } from '../helpers/cluster.ts';
import { ffmpeg } from '../helpers/media.ts';
import { type Proc, startProcess, stopAllProcesses } from '../helpers/process.ts';
import { ADMIN_PASSWORD, LAO_CAI_2025, tempDir, waitFor } from '../helpers/server.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const canRun = fs.existsSync(LIBFAKETIME) && which('ffmpeg') !== undefined && which('pdftotext') !== undefined;
const ZONE = 'Asia/Ho_Chi_Minh';
const COMMUNE = '02683'; // Xã Bát Xát
const DAYS = Number(process.env.LOANET_MONTH_DAYS ?? 2);
const SITES = Number(process.env.LOANET_MONTH_SITES ?? 3);
const BULLETIN_S = 10;
/** How far before each bulletin the clock lands: the sites' playlists and media are there already (48 h horizon); this covers a reconnect after the jump. */
const LEAD_MS = Number(process.env.LOANET_MONTH_LEAD_S ?? 30) * 1000;

const ict = (day: number, hour: number, minute = 0) => wallTimeToEpoch({ year: 2026, month: 11, day, hour, minute, second: 0 }, ZONE);

let dir: string;
let spec: string;
let offsetMs = Number.NEGATIVE_INFINITY;
let server: ServerProcess;
let token = '';
let sim: Proc | undefined;

/** The fake clock every faked process reads: only ever moved forward, written whole (rename) so no reader sees half a file. */
function setFakeNow(at: number): void {
  const s = Math.ceil((at - Date.now()) / 1000);
  if (s * 1000 < offsetMs) throw new Error('the fake clock only moves forward');
  offsetMs = s * 1000;
  fs.writeFileSync(`${spec}.tmp`, `${s >= 0 ? '+' : ''}${s}\n`);
  fs.renameSync(`${spec}.tmp`, spec);
}
const fakeNow = () => Date.now() + offsetMs;
const faked = () => ({ LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: spec, FAKETIME_NO_CACHE: '1' });

/** The server's API as the admin, logging in again when the session has expired across a jump. */
async function api(method: string, url: string, body?: unknown, raw = false): Promise<{ status: number; body: any; bytes: Buffer }> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.base}${url}`, { method, headers, body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body) });
    if (res.status === 401 && attempt === 0) {
      const r = await fetch(`${server.base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      token = ((await r.json()) as { token: string }).token;
      continue;
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    return { status: res.status, body: raw || bytes.length === 0 ? null : JSON.parse(bytes.toString('utf8')), bytes };
  }
}

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-month-');
  spec = path.join(dir, 'faketime');
  // 1 November 2026, 05:00 in Việt Nam: an hour before the first bulletin.
  setFakeNow(ict(1, 5));
  server = await startServerProcess(path.join(dir, 'server'), faked(), { name: 'the faked server' });
  token = server.token;
  const csv = fs.readFileSync(LAO_CAI_2025, 'utf8');
  const imp = await fetch(`${server.base}/api/areas/import?version=2025`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  expect(imp.status).toBe(200);

  const wav = path.join(dir, 'ban-tin.wav');
  ffmpeg('-f', 'lavfi', '-i', `sine=frequency=440:duration=${BULLETIN_S}`, '-ac', '1', wav);
  const fd = new FormData();
  fd.append('title', 'Bản tin xã Bát Xát');
  fd.append('file', new Blob([fs.readFileSync(wav)]), 'ban-tin.wav');
  const up = await api('POST', '/api/media', fd);
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  const mediaId = up.body.id as string;
  await waitFor('the bulletin ready', async () => (await api('GET', `/api/media/${mediaId}`)).body?.status === 'ready', 60_000, 250);

  const item = await api('POST', '/api/schedule/items', {
    title: 'Bản tin sáng và chiều',
    mediaId,
    targets: { areas: [`2025.${COMMUNE}`] },
    start: { dtstart: '2026-11-01T06:00', rrule: `FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0;COUNT=${DAYS * 2}` },
  });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  expect((await api('POST', `/api/schedule/items/${item.body.id}/approve`)).status).toBe(200);

  sim = startProcess(process.execPath, ['--import', 'tsx', 'firmware-sim/main.ts', '--sites', String(SITES), '--area', COMMUNE, '--heartbeat', '30', '--prefix', 'thang'], {
    env: { ...faked(), LOANET_URL: server.base, LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD, LOANET_DATA_DIR: path.join(dir, 'sim') },
  });
  await waitFor(
    `${SITES} sites online`,
    async () => {
      const s = (await api('GET', `/api/sites?area=${COMMUNE}`)).body?.sites as Array<{ status?: { condition: string } }> | undefined;
      return (s?.filter((x) => x.status && x.status.condition !== 'offline' && x.status.condition !== 'unverified').length ?? 0) >= SITES;
    },
    180_000,
    1000,
  );
}, 400_000);

afterAll(async () => {
  await stopAllProcesses();
  server?.child.kill('SIGKILL');
  if (dir && !process.env.LOANET_MONTH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

/** The as-run log of the commune over [from, to), as GET /api/as-run gives it. */
async function asRun(from: number, to: number): Promise<{ summary: { byStatus: Record<string, number>; lines: number }; lines: AsRunLine[] }> {
  const r = await api('GET', `/api/as-run?area=${COMMUNE}&from=${from}&to=${to}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

describe.skipIf(!canRun)(`${DAYS} days of bulletins through the real playout path`, () => {
  it('every occurrence is played by the sites and receipted, time jumping between them', async () => {
    const started = Date.now();
    for (let day = 1; day <= DAYS; day++) {
      for (const hour of [6, 17]) {
        const at = ict(day, hour);
        if (fakeNow() < at - LEAD_MS) setFakeNow(at - LEAD_MS);
        // Every site's line of this occurrence comes from its own receipt (the positive signal that it is over).
        await waitFor(
          `receipts of ${day}/11 ${hour}:00`,
          async () => {
            const log = await asRun(at, at + 1);
            return log.lines.length >= SITES && log.lines.every((l) => l.source === 'agent') ? log : undefined;
          },
          300_000,
          1000,
        ).catch(async (err: unknown) => {
          // What each side said, to tell a path that broke from a slow one.
          const lines = (await asRun(at, at + 1)).lines.map((l) => ({ site: l.siteId, status: l.status, source: l.source, reason: l.reason, detail: l.detail }));
          console.log(`month: stuck at ${day}/11 ${hour}:00, fake now ${new Date(fakeNow()).toISOString()}\nas-run ${JSON.stringify(lines)}`);
          console.log(`month: server output\n${server.output().slice(-6000)}\nmonth: sites output\n${sim?.text().slice(-6000)}`);
          throw err;
        });
      }
    }
    console.log(`month: ${DAYS} days, ${SITES} sites, ${Math.round((Date.now() - started) / 1000)} s of real time`);
  }, 3_600_000);

  it("the commune's report carries the as-run log's totals exactly", async () => {
    const from = ict(1, 0);
    const to = ict(DAYS + 1, 0);
    // The last occurrence's end plus the no-receipt grace has passed: nothing upcoming.
    if (fakeNow() < to) setFakeNow(to);
    const log = await asRun(from, to);
    expect(log.summary.lines).toBe(DAYS * 2 * SITES);
    const skipped: Record<string, number> = {};
    for (const l of log.lines) if (l.status === 'skipped') skipped[l.reason ?? UNSPECIFIED_REASON] = (skipped[l.reason ?? UNSPECIFIED_REASON] ?? 0) + 1;
    // Hours on air: each occurrence once, for its longest play at a site of the commune.
    const longest = new Map<string, number>();
    for (const l of log.lines) longest.set(l.entryId, Math.max(longest.get(l.entryId) ?? 0, lineAirtimeMs(l)));
    const airtimeMs = [...longest.values()].reduce((a, b) => a + b, 0);

    const period = `2026-11-01..2026-11-${String(DAYS).padStart(2, '0')}`;
    const xlsx = await api('GET', `/api/reports?area=${COMMUNE}&period=${period}&format=xlsx`, undefined, true);
    expect(xlsx.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(xlsx.bytes).buffer);
    const figures = new Map<string, unknown>();
    wb.getWorksheet('Tổng hợp')!.eachRow((r, n) => {
      if (n > HEADER_ROW) figures.set(String(r.getCell(1).value), r.getCell(2).value);
    });
    expect(figures.get('Bản tin theo kế hoạch')).toBe(log.summary.lines);
    for (const { status, heading } of STATUS_HEADINGS) expect(figures.get(heading), heading).toBe(log.summary.byStatus[status] ?? 0);
    for (const [reason, n] of Object.entries(skipped)) expect(figures.get(capitalise(skipReasonWords(reason, 'vi'))), reason).toBe(n);
    expect(figures.get('Tổng thời lượng phát')).toBeCloseTo(hoursOf(airtimeMs), 9);
    console.log(`month: as-run ${JSON.stringify(log.summary.byStatus)}, skipped ${JSON.stringify(skipped)}, on air ${(airtimeMs / 1000).toFixed(1)} s`);

    const pdf = await api('GET', `/api/reports?area=${COMMUNE}&period=${period}&format=pdf`, undefined, true);
    expect(pdf.status).toBe(200);
    const file = path.join(dir, 'bao-cao.pdf');
    fs.writeFileSync(file, pdf.bytes);
    const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    expect(text).toContain('Xã Bát Xát');
    expect(text).toMatch(new RegExp(`Bản tin theo kế hoạch\\s+${log.summary.lines}\\b`));
  }, 300_000);
});
