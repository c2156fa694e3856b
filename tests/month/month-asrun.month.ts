/**
 * A synthetic stretch of November 2026 through the real playout path, and the
 * reports it gives: the server (its own process) schedules a recurring
 * province-wide bulletin at 06:00 and 17:00, distributes the playlists over
 * MQTT, simulated sites (`npm run sim`, real edge agents with their playout
 * engines, media caches and receipt journals) in LOANET_MONTH_COMMUNES
 * communes of Lào Cai play each occurrence on their simulated amplifiers and
 * send their receipts, and the as-run log is what the server stored. Nothing
 * is inserted in a table. The province's report and each commune's (xlsx,
 * and the PDF read with pdftotext) must carry the as-run log's own totals
 * exactly: planned, each status, skipped by reason, hours on air; the
 * province's "Theo xã" sheet each commune's.
 *
 * Faults through the real path, in one commune out of ten (the first, at
 * least): a station whose sim process is killed (SIGKILL: its agent dies, the
 * broker publishes its last will) before the second occurrence and started
 * again before the third, so that occurrence is not played there; and a
 * station whose sim process is started again with its amplifier overheated
 * (`--faults 1 --fault-kind amp_overheat`) for the third and fourth
 * occurrences, and healthy from the fifth. The reports must say so: the
 * killed stations offline (a fault, and the commune's uptime short by about
 * the time they were down), the overheated ones an amplifier fault.
 *
 * Time: the server and the sites run under libfaketime (LD_PRELOAD, its
 * thread-safe build libfaketimeMT.so.1: see LIBFAKETIME), all
 * reading one offset from a file (FAKETIME_TIMESTAMP_FILE, "+seconds",
 * re-read on every clock call: FAKETIME_NO_CACHE) that applies to
 * CLOCK_REALTIME and CLOCK_MONOTONIC alike, so Date, performance.now and
 * Node's timers move together in every process. Time runs at its real
 * speed while a bulletin plays (the 100 ms on-time rule keeps its meaning)
 * and jumps forward between bulletins, to LOANET_MONTH_LEAD_S (30) before
 * the next one. Sites see each jump as a suspend and resume (their
 * keepalives may lapse and reconnect), which the as-run path must survive
 * anyway. This file's own process is not faked: it computes the fake time
 * from the same offset.
 *
 * Slow by nature: `npm run test:month`, never in `npm test`. Size (docs/reports.md):
 * LOANET_MONTH_COMMUNES (2; 99 is the province), LOANET_MONTH_SITES per
 * commune (3: its station and clusters), LOANET_MONTH_DAYS (2),
 * LOANET_MONTH_EVERY (1: a bulletin day every that many days, the days
 * between jumped over whole, to reach late in the month in fewer
 * occurrences), LOANET_MONTH_FAULTS (1; 0: none).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AsRunLine } from '../../api/as-run.ts';
import { numberWords } from '../../api/words/reasons.ts';
import { which } from '../../server/media/tools.ts';
import { capitalise, faultKindWords, skipReasonWords, STATUS_HEADINGS } from '../../server/reports/labels.ts';
import { UNSPECIFIED_REASON } from '../../server/reports/model.ts';
import { hoursOf, lineAirtimeMs } from '../../server/reports/report-model.ts';
import { HEADER_ROW } from '../../server/reports/xlsx.ts';
import { wallTimeToEpoch } from '../../server/time/zone.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { ffmpeg } from '../helpers/media.ts';
import { type Proc, startProcess, stopAllProcesses, stopProcess } from '../helpers/process.ts';
import { ADMIN_PASSWORD, LAO_CAI_2025, tempDir, waitFor } from '../helpers/server.ts';

/**
 * The synchronised build: Node reads its clocks from several threads, and the plain libfaketime.so.1
 * re-reads the offset file into shared buffers unguarded, so now and then one read came back unfaked
 * (the real date, weeks from the faked one: 8 of 5,514 reads in 8 s, three threads reading). One such
 * read put a process's timers weeks out (a station that went silent, an engine that expired what it
 * held); with libfaketimeMT.so.1, none in 440,000.
 */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const canRun = fs.existsSync(LIBFAKETIME) && which('ffmpeg') !== undefined && which('pdftotext') !== undefined;
const ZONE = 'Asia/Ho_Chi_Minh';
const PROVINCE = '15'; // Tỉnh Lào Cai
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const COMMUNE_COUNT = env('LOANET_MONTH_COMMUNES', 2);
const SITES = env('LOANET_MONTH_SITES', 3);
const DAYS = env('LOANET_MONTH_DAYS', 2);
const EVERY = env('LOANET_MONTH_EVERY', 1);
const FAULTS = env('LOANET_MONTH_FAULTS', 1) !== 0;
const BULLETIN_S = 10;
/** How far before each bulletin the clock lands: the sites' playlists and media are there already (48 h horizon); this covers a reconnect after the jump. */
const LEAD_MS = env('LOANET_MONTH_LEAD_S', 30) * 1000;

const ict = (day: number, hour: number, minute = 0) => wallTimeToEpoch({ year: 2026, month: 11, day, hour, minute, second: 0 }, ZONE);

/** The communes simulated: the first of the province by official code (Xã Bát Xát among the first four). */
const COMMUNES: Array<{ code: string; name: string }> = fs
  .readFileSync(LAO_CAI_2025, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(','))
  .map((c) => ({ code: c[2]!, name: c[3]! }))
  .sort((a, b) => a.code.localeCompare(b.code))
  .slice(0, COMMUNE_COUNT);
/** One commune in ten has a station that goes down and one whose amplifier overheats. */
const FAULT_COMMUNES = FAULTS ? COMMUNES.filter((_, i) => i % 10 === 0) : [];
const BULLETIN_DAYS = Array.from({ length: Math.ceil(DAYS / EVERY) }, (_, i) => 1 + i * EVERY);
const OCCURRENCES = BULLETIN_DAYS.flatMap((day) => [6, 17].map((hour) => ({ day, hour, at: ict(day, hour) })));
/** The occurrence (index) before which the down stations are killed, and before which they are back. */
const DOWN = { from: 1, to: 2 };
/** The occurrences the overheated stations run through with their fault. */
const AMP = { from: 2, to: 4 };

let dir: string;
let spec: string;
let offsetMs = Number.NEGATIVE_INFINITY;
let server: ServerProcess;
let token = '';
const sims = new Map<string, Proc>();
/** Fake time each down station was killed and started again. */
const downtime: Array<{ from: number; to: number }> = [];

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

/**
 * fetch, once more when the connection it reused was reset: this process's clock is not faked, so its
 * idle keep-alive sockets outlive a jump that the server saw as hours, after which the server has closed them.
 */
async function fetchAgain(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return fetch(url, init);
  }
}

/** The server's API as the admin, logging in again when the session has expired across a jump. */
async function api(method: string, url: string, body?: unknown, raw = false): Promise<{ status: number; body: any; bytes: Buffer }> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
    const res = await fetchAgain(`${server.base}${url}`, { method, headers, body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body) });
    if (res.status === 401 && attempt === 0) {
      const r = await fetchAgain(`${server.base}/api/auth/login`, {
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

/**
 * One `npm run sim` process: `prefix` names its sites and its folder (credentials, receipt journals, saved
 * playlists, media caches), so a process started again is the same sites, as a board rebooting is.
 */
function startSim(prefix: string, communes: ReadonlyArray<{ code: string }>, sites: number, extra: string[] = []): void {
  const args = ['--import', 'tsx', 'firmware-sim/main.ts', '--sites', String(sites), '--area', communes.map((c) => c.code).join(','), '--heartbeat', '30', '--prefix', prefix];
  sims.set(
    prefix,
    startProcess(process.execPath, [...args, ...extra], {
      env: { ...faked(), LOANET_URL: server.base, LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD, LOANET_DATA_DIR: path.join(dir, `sim-${prefix}`) },
    }),
  );
}

interface SiteRow {
  id: string;
  status?: { condition: string };
}
async function sitesOnline(prefix: string): Promise<number> {
  const s = (await api('GET', `/api/sites?q=${prefix}-&limit=50000`)).body?.sites as SiteRow[] | undefined;
  return s?.filter((x) => x.id.startsWith(`${prefix}-`) && x.status && x.status.condition !== 'offline' && x.status.condition !== 'unverified').length ?? 0;
}
const waitOnline = (prefix: string, n: number) => waitFor(`${n} sites ${prefix}-… online`, async () => (await sitesOnline(prefix)) >= n, 300_000, 1000);

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
  fd.append('title', 'Bản tin tỉnh Lào Cai');
  fd.append('file', new Blob([fs.readFileSync(wav)]), 'ban-tin.wav');
  const up = await api('POST', '/api/media', fd);
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  const mediaId = up.body.id as string;
  await waitFor('the bulletin ready', async () => (await api('GET', `/api/media/${mediaId}`)).body?.status === 'ready', 60_000, 250);

  const item = await api('POST', '/api/schedule/items', {
    title: 'Bản tin sáng và chiều',
    mediaId,
    targets: { areas: [`2025.${PROVINCE}`] },
    start: { dtstart: '2026-11-01T06:00', rrule: `FREQ=DAILY;INTERVAL=${EVERY};BYHOUR=6,17;BYMINUTE=0;COUNT=${OCCURRENCES.length}` },
  });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  expect((await api('POST', `/api/schedule/items/${item.body.id}/approve`)).status).toBe(200);

  // Each commune: its station and clusters (one process for all), plus in the fault communes a station to kill and one to overheat.
  startSim('thang', COMMUNES, COMMUNES.length * SITES);
  if (FAULT_COMMUNES.length > 0) {
    startSim('mat', FAULT_COMMUNES, FAULT_COMMUNES.length);
    startSim('amp', FAULT_COMMUNES, FAULT_COMMUNES.length);
  }
  await waitOnline('thang', COMMUNES.length * SITES);
  if (FAULT_COMMUNES.length > 0) await Promise.all([waitOnline('mat', FAULT_COMMUNES.length), waitOnline('amp', FAULT_COMMUNES.length)]);
}, 900_000);

afterAll(async () => {
  await stopAllProcesses();
  server?.child.kill('SIGKILL');
  if (dir && !process.env.LOANET_MONTH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

/** The as-run log of an area over [from, to), as GET /api/as-run gives it. */
async function asRun(area: string, from: number, to: number): Promise<{ summary: { byStatus: Record<string, number>; lines: number }; lines: AsRunLine[] }> {
  const r = await api('GET', `/api/as-run?area=${area}&from=${from}&to=${to}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** Before occurrence `i`: the faults it runs with, through the sim processes. */
async function faultsBefore(i: number): Promise<void> {
  if (FAULT_COMMUNES.length === 0) return;
  const n = FAULT_COMMUNES.length;
  if (i === DOWN.from) {
    await stopProcess(sims.get('mat')!, 'SIGKILL');
    downtime.push({ from: fakeNow(), to: Number.POSITIVE_INFINITY });
  }
  if (i === DOWN.to) {
    startSim('mat', FAULT_COMMUNES, n);
    await waitOnline('mat', n);
    downtime[downtime.length - 1]!.to = fakeNow();
  }
  if (i === AMP.from || i === AMP.to) {
    await stopProcess(sims.get('amp')!, 'SIGTERM');
    // Started again with its amplifier overheated from the start, or healthy again.
    startSim('amp', FAULT_COMMUNES, n, i === AMP.from ? ['--faults', '1', '--fault-kind', 'amp_overheat'] : []);
    // Faulty is not offline: an overheated station is connected and says so.
    await waitOnline('amp', n);
  }
}
/** The sites expected to send a receipt for occurrence `i` by its end (the killed ones send theirs once started again). */
function receipting(i: number): number {
  const down = FAULT_COMMUNES.length > 0 && i >= DOWN.from && i < DOWN.to ? FAULT_COMMUNES.length : 0;
  return COMMUNES.length * SITES + 2 * FAULT_COMMUNES.length - down;
}

describe.skipIf(!canRun)(`${OCCURRENCES.length} bulletins in ${COMMUNES.length} communes through the real playout path`, () => {
  it('every occurrence is played by the sites that are up and receipted, time jumping between them', async () => {
    const started = Date.now();
    for (const [i, { day, hour, at }] of OCCURRENCES.entries()) {
      const jumpAt = Math.max(fakeNow(), at - LEAD_MS - 5_000);
      // Faults are set while the clock stands a little before the lead, so a restarted site is up for the jump.
      if (fakeNow() < jumpAt) setFakeNow(jumpAt);
      await faultsBefore(i);
      if (fakeNow() < at - LEAD_MS) setFakeNow(at - LEAD_MS);
      const want = receipting(i);
      // Every site's line of this occurrence comes from its own receipt (the positive signal that it is over).
      await waitFor(
        `${want} receipts of ${day}/11 ${hour}:00`,
        async () => {
          const log = await asRun(PROVINCE, at, at + 1);
          return log.lines.filter((l) => l.source === 'agent').length >= want ? log : undefined;
        },
        300_000,
        1000,
      ).catch(async (err: unknown) => {
        // What each side said, to tell a path that broke from a slow one.
        const lines = (await asRun(PROVINCE, at, at + 1)).lines.map((l) => ({ site: l.siteId, status: l.status, source: l.source, reason: l.reason, detail: l.detail }));
        console.log(`month: stuck at ${day}/11 ${hour}:00, fake now ${new Date(fakeNow()).toISOString()}\nas-run ${JSON.stringify(lines)}`);
        console.log(`month: server output\n${server.output().slice(-6000)}`);
        for (const [name, p] of sims) console.log(`month: sim ${name} output\n${p.lines.slice(-60).join('\n')}`);
        throw err;
      });
      console.log(`month: ${day}/11 ${hour}:00 receipted by ${want} sites, ${Math.round((Date.now() - started) / 1000)} s`);
    }
    console.log(`month: ${OCCURRENCES.length} occurrences, ${COMMUNES.length} communes, ${Math.round((Date.now() - started) / 1000)} s of real time`);
  }, 3_600_000);

  it("the province's report and each commune's carry the as-run log's totals exactly, and the faults injected", async () => {
    const from = ict(1, 0);
    const to = ict(BULLETIN_DAYS.at(-1)! + 1, 0);
    // The last occurrence's end plus the no-receipt grace has passed: nothing upcoming.
    if (fakeNow() < to) setFakeNow(to);
    const period = `2026-11-01..2026-11-${String(BULLETIN_DAYS.at(-1)!).padStart(2, '0')}`;
    // A restarted agent may still settle what it missed: the log is read once it stands still.
    let last = '';
    await waitFor(
      'the as-run log to settle',
      async () => {
        const now = JSON.stringify((await asRun(PROVINCE, from, to)).summary);
        const same = now === last;
        last = now;
        return same;
      },
      120_000,
      5000,
    );

    const province = await checkReport(PROVINCE, period, from, to, `Tỉnh Lào Cai`);
    expect(province.log.summary.lines).toBe(OCCURRENCES.length * (COMMUNES.length * SITES + 2 * FAULT_COMMUNES.length));
    // Every entry a site held ends in that site's own receipt, the killed stations' occurrences missed while dead included.
    const unsettled = province.log.lines.filter((l) => l.source !== 'agent').map((l) => [l.siteId, new Date(l.scheduledAt).toISOString(), l.status]);
    expect(unsettled, 'lines with no receipt from their site').toEqual([]);
    // The province's sheet "Theo xã": each commune's row is that commune's as-run.
    const byCommune = new Map<string, Map<string, unknown>>();
    const communes = province.wb.getWorksheet('Theo xã')!;
    const headings = (communes.getRow(HEADER_ROW).values as unknown[]).map((v) => String(v ?? ''));
    communes.eachRow((r, n) => {
      if (n <= HEADER_ROW) return;
      const m = new Map<string, unknown>();
      headings.forEach((h, j) => h && m.set(h, r.getCell(j).value));
      byCommune.set(String(r.getCell(1).value), m);
    });

    for (const c of COMMUNES) {
      const own = await checkReport(c.code, period, from, to, c.name);
      const row = byCommune.get(c.code);
      expect(row, `${c.code} in the province's Theo xã`).toBeDefined();
      expect(row!.get('Bản tin theo kế hoạch'), c.code).toBe(own.log.summary.lines);
      for (const { status, heading } of STATUS_HEADINGS) expect(row!.get(heading), `${c.code} ${heading}`).toBe(own.log.summary.byStatus[status] ?? 0);

      if (!FAULT_COMMUNES.includes(c)) continue;
      // What was injected: the killed station offline, the overheated one's amplifier, and the commune's uptime short of the downtime.
      const faults: Array<{ site: string; kind: string }> = [];
      own.wb.getWorksheet('Sự cố')!.eachRow((r, n) => {
        if (n > HEADER_ROW) faults.push({ site: String(r.getCell(1).value), kind: String(r.getCell(5).value) });
      });
      const code = c.code.toLowerCase();
      expect(faults, c.code).toContainEqual({ site: `mat-${code}-st`, kind: faultKindWords('site_offline', 'vi') });
      expect(faults, c.code).toContainEqual({ site: `amp-${code}-st`, kind: faultKindWords('amplifier_fault', 'vi') });
      const down = downtime.reduce((n, d) => n + (d.to - d.from), 0);
      const siteTime = (SITES + 2) * (to - from);
      const uptime = own.figures.get('Thời gian hoạt động (nghe được)') as number;
      expect(uptime, `${c.code} uptime, a station down ${(down / 3_600_000).toFixed(1)} h`).toBeLessThanOrEqual(1 - (0.9 * down) / siteTime);
      // Its lines at the killed and overheated stations say why they did not play: the killed one, once started again, that what it missed expired.
      const mine = own.log.lines.filter((l) => l.siteId === `mat-${code}-st` || l.siteId === `amp-${code}-st`);
      for (const o of OCCURRENCES.slice(DOWN.from, DOWN.to)) {
        const line = mine.find((l) => l.siteId === `mat-${code}-st` && l.scheduledAt === o.at);
        expect(line && [line.status, line.reason], `mat-${code}-st at ${o.day}/11 ${o.hour}:00`).toEqual(['skipped', 'expired']);
      }
      console.log(`month: ${c.code} faults ${JSON.stringify(faults)}, uptime ${uptime}, lines ${JSON.stringify(mine.map((l) => [l.siteId, l.status, l.reason]))}`);
    }
  }, 1_800_000);
});

/** One area's report (xlsx and PDF) against its as-run log: planned, each status, skipped by reason, hours on air. */
async function checkReport(area: string, period: string, from: number, to: number, name: string) {
  const log = await asRun(area, from, to);
  const skipped: Record<string, number> = {};
  for (const l of log.lines) if (l.status === 'skipped') skipped[l.reason ?? UNSPECIFIED_REASON] = (skipped[l.reason ?? UNSPECIFIED_REASON] ?? 0) + 1;
  // Hours on air: each occurrence once per commune, for its longest play at a site of that commune (the province: the communes' sum).
  const longest = new Map<string, number>();
  for (const l of log.lines) {
    const key = `${l.entryId}|${communeOf(l.siteId)}`;
    longest.set(key, Math.max(longest.get(key) ?? 0, lineAirtimeMs(l)));
  }
  const airtimeMs = [...longest.values()].reduce((a, b) => a + b, 0);

  const xlsx = await api('GET', `/api/reports?area=${area}&period=${period}&format=xlsx`, undefined, true);
  expect(xlsx.status).toBe(200);
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(new Uint8Array(xlsx.bytes).buffer);
  const figures = new Map<string, unknown>();
  wb.getWorksheet('Tổng hợp')!.eachRow((r, n) => {
    if (n > HEADER_ROW) figures.set(String(r.getCell(1).value), r.getCell(2).value);
  });
  expect(figures.get('Bản tin theo kế hoạch'), area).toBe(log.summary.lines);
  for (const { status, heading } of STATUS_HEADINGS) expect(figures.get(heading), `${area} ${heading}`).toBe(log.summary.byStatus[status] ?? 0);
  for (const [reason, n] of Object.entries(skipped)) expect(figures.get(capitalise(skipReasonWords(reason, 'vi'))), `${area} ${reason}`).toBe(n);
  expect(figures.get('Tổng thời lượng phát'), area).toBeCloseTo(hoursOf(airtimeMs), 9);
  console.log(`month: ${area} as-run ${JSON.stringify(log.summary.byStatus)}, skipped ${JSON.stringify(skipped)}, on air ${(airtimeMs / 1000).toFixed(1)} s`);

  const pdf = await api('GET', `/api/reports?area=${area}&period=${period}&format=pdf`, undefined, true);
  expect(pdf.status).toBe(200);
  const file = path.join(dir, `bao-cao-${area}.pdf`);
  fs.writeFileSync(file, pdf.bytes);
  const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  // The province's name is in the heading's capitals (UBND TỈNH LÀO CAI).
  expect(text.toLocaleLowerCase('vi')).toContain(name.toLocaleLowerCase('vi'));
  // Written as the report writes numbers (numberWords: grouped with a dot from 10.000 on, so 6340 but 10.340).
  expect(text).toMatch(new RegExp(`Bản tin theo kế hoạch\\s+${numberWords('vi', log.summary.lines).replaceAll('.', '\\.')}\\b`));
  return { log, wb, figures };
}

/** The commune of a simulated site, from its id (`<prefix>-<commune code>-…`, fleet-plan.ts). */
function communeOf(siteId: string): string {
  return siteId.split('-')[1]!;
}
