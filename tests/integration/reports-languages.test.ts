/**
 * Hours on air by language in the commune's and the province's reports,
 * checked against the as-run log of bulletins played through the real
 * playout path: a real server (HTTP, embedded broker over TCP, SQLite), real
 * ffmpeg for the media, the fleet runner's real agents playing each village's
 * versions back to back on simulated amplifiers and sending their receipts
 * with each part's outcome.
 *
 * Xã Bát Xát's villages speak [hmn, vi], [ium, hmn, vi], [vi] and [tyz]; the
 * bulletin has vi (default), hmn and ium versions, so the Tày village hears
 * the Vietnamese one as a fallback. The workbook (read back with exceljs) and
 * the PDF (pdftotext, pdftoppm) must carry, per language, the longest time
 * each version played in the commune as the agents' receipts give it, split
 * by whether the village speaks that language, and how many villages heard it
 * each way, as the as-run log says village by village.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { numberWords } from '../../api/words/reasons.ts';
import { which } from '../../server/media/tools.ts';
import { HEADER_ROW } from '../../server/reports/xlsx.ts';
import { wallTimeAt } from '../../server/time/zone.ts';
import { BAT_XAT, communeSites, receiptsWritten, scheduleBulletin, startLanguageWorld, uploadLanguageTone, type LanguageWorld } from '../helpers/language-villages.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { waitFor, type TestServer } from '../helpers/server.ts';

const canRun = haveTools('ffmpeg') && which('pdftotext') !== undefined && which('pdftoppm') !== undefined;
const H = 3_600_000;
const COMMUNE = BAT_XAT; // Xã Bát Xát
const PREFIX = 'rlang';
const VERSION_S = 2;
/** Village → its languages, in order; the commune (its station) keeps the default, Vietnamese. */
const VILLAGES: Record<number, string[]> = { 1: ['hmn', 'vi'], 2: ['ium', 'hmn', 'vi'], 3: ['vi'], 4: ['tyz'] };
const NAMES: Record<string, string> = { vi: 'Tiếng Việt', hmn: "Tiếng H'Mông", ium: 'Tiếng Dao (Iu Mien)' };

const { site, station: STATION } = communeSites(PREFIX);
const SITES = [STATION, site(1), site(2), site(3), site(4)];

let w: LanguageWorld;
let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let periodText: string;
const media: Record<string, string> = {};

const ymd = (at: number) => {
  const w = wallTimeAt(at, 'Asia/Ho_Chi_Minh');
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
};

async function download(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${t.token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** What the report must say for one language in the commune, worked out from the as-run log and the agents' receipts. */
interface Expected {
  ms: number;
  ownMs: number;
  fallbackMs: number;
  placesOwn: number;
  placesFallback: number;
}
let expected: Record<string, Expected>;
let totalMs: number;

beforeAll(async () => {
  if (!canRun) return;
  w = await startLanguageWorld({ tempPrefix: 'loanet-report-languages-', env: { LOANET_SCHEDULE_RECOMPUTE_S: '5' } });
  ({ t, dir } = w);
  for (const [lang, hz] of [
    ['vi', 440],
    ['hmn', 550],
    ['ium', 660],
  ] as const) {
    media[lang] = (await uploadLanguageTone(t, dir, { lang, title: `Bản tin (${lang})`, seconds: VERSION_S, hz })).id;
  }
  fleet = await w.startVillages({ idPrefix: PREFIX, villages: VILLAGES });

  // The bulletin, through the schedule as an operator makes it.
  const at = Date.now() + 20_000;
  const { itemId, entryId } = await scheduleBulletin(t, { mediaId: media.vi!, versions: { hmn: media.hmn!, ium: media.ium! }, at });
  periodText = `${ymd(at)}..${ymd(at)}`;

  await receiptsWritten(fleet, SITES, entryId, at - Date.now() + 4 * VERSION_S * 1000 + 60_000);
  // The as-run log, village by village, once every receipt reached the server.
  const view = await waitFor(
    'every receipt at the server',
    async () => {
      const r = await t.inject('GET', `/api/as-run/languages?item=${itemId}&entry=${encodeURIComponent(entryId)}&area=${COMMUNE}`);
      expect(r.status, r.text).toBe(200);
      const sites = r.body.sites as Array<{ siteId: string; status: string }>;
      return sites.length === SITES.length && sites.every((s) => s.status !== 'upcoming' && s.status !== 'no_receipt') ? r.body : undefined;
    },
    60_000,
    200,
  );
  const log = await t.inject('GET', `/api/as-run?area=${COMMUNE}&item=${itemId}&from=${at - 60_000}&to=${at + 60_000}`);
  expect(log.status, log.text).toBe(200);

  // From the as-run: each site's languages and what played; each version's time from the receipt the agent sent (its frames).
  expected = {};
  totalMs = 0;
  const places = new Map<string, { own: Set<string>; fallback: Set<string> }>();
  const longest = new Map<string, number>();
  for (const s of view.sites as Array<{ siteId: string; languages: string[]; versions: Array<{ language: string; outcome: string | null }> }>) {
    const line = (log.body.lines as Array<{ siteId: string; status: string; startedAt: number; endedAt: number }>).find((l) => l.siteId === s.siteId)!;
    // Whole plays: a start that missed the 100 ms mark on a busy machine is 'late', and the report counts it the same.
    expect(['played', 'late'], `${s.siteId}: ${line.status}`).toContain(line.status);
    totalMs = Math.max(totalMs, line.endedAt - line.startedAt);
    const receipt = fleet.site(s.siteId).agent.playout!.journal.get(entryId)!;
    const parts: Array<{ lang: string; ms: number }> = receipt.parts
      ? receipt.parts.map((p) => ({ lang: p.language, ms: (p.frames ?? 0) * 20 }))
      : [{ lang: s.versions[0]!.language, ms: line.endedAt - line.startedAt }];
    expect(
      parts.map((p) => p.lang),
      s.siteId,
    ).toEqual(s.versions.map((v) => v.language));
    for (const p of parts) {
      const use = s.languages.includes(p.lang) ? 'own' : 'fallback';
      const e = (expected[p.lang] ??= { ms: 0, ownMs: 0, fallbackMs: 0, placesOwn: 0, placesFallback: 0 });
      e.ms = Math.max(e.ms, p.ms);
      longest.set(`${p.lang}\n${use}`, Math.max(longest.get(`${p.lang}\n${use}`) ?? 0, p.ms));
      let pl = places.get(p.lang);
      if (!pl) places.set(p.lang, (pl = { own: new Set(), fallback: new Set() }));
      pl[use].add(s.siteId);
    }
  }
  for (const [lang, e] of Object.entries(expected)) {
    e.ownMs = longest.get(`${lang}\nown`) ?? 0;
    e.fallbackMs = longest.get(`${lang}\nfallback`) ?? 0;
    e.placesOwn = places.get(lang)!.own.size;
    e.placesFallback = places.get(lang)!.fallback.size;
  }
}, 300_000);

afterAll(async () => {
  await w?.stop();
});

describe.skipIf(!canRun)('hours on air by language, from bulletins played in the villages’ languages', () => {
  it('the as-run says what the report will count: each village its versions, the Tày village Vietnamese as a fallback', () => {
    // Sanity of the scene before the report is read against it.
    expect(Object.keys(expected).sort()).toEqual(['hmn', 'ium', 'vi']);
    expect(expected.vi).toMatchObject({ placesOwn: 4, placesFallback: 1 });
    expect(expected.hmn).toMatchObject({ placesOwn: 2, placesFallback: 0 });
    expect(expected.ium).toMatchObject({ placesOwn: 1, placesFallback: 0 });
    for (const e of Object.values(expected)) expect(e.ms).toBeGreaterThan((VERSION_S - 0.5) * 1000);
  });

  it("the commune's workbook: a row per language with its hours, own and fallback, and the villages each way", async () => {
    const res = await download(`/api/reports?area=${COMMUNE}&period=${periodText}&format=xlsx`);
    expect(res.status, res.body.toString('utf8').slice(0, 300)).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(res.body).buffer);
    const ws = wb.getWorksheet('Theo ngôn ngữ')!;
    const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const col = (h: string) => {
      const i = headers.indexOf(h);
      expect(i, `"${h}" among ${JSON.stringify(headers.filter(Boolean))}`).toBeGreaterThan(0);
      return i;
    };
    const rows = new Map<string, ExcelJS.Row>();
    ws.eachRow((row, n) => {
      if (n > HEADER_ROW && row.getCell(col('Tên xã, phường')).value === 'Xã Bát Xát') rows.set(String(row.getCell(col('Mã ngôn ngữ')).value), row);
    });
    expect([...rows.keys()]).toEqual(['vi', 'hmn', 'ium']);
    for (const [lang, e] of Object.entries(expected)) {
      const row = rows.get(lang)!;
      expect(row.getCell(col('Ngôn ngữ')).value).toBe(NAMES[lang]);
      expect(row.getCell(col('Giờ phát')).value, `${lang} hours`).toBeCloseTo(e.ms / H, 12);
      expect(row.getCell(col('Giờ phát bằng tiếng của thôn')).value, `${lang} own`).toBeCloseTo(e.ownMs / H, 12);
      expect(row.getCell(col('Giờ phát thay (thôn không nói tiếng này)')).value, `${lang} fallback`).toBeCloseTo(e.fallbackMs / H, 12);
      expect(row.getCell(col('Số thôn nghe bằng tiếng của mình')).value, `${lang} villages own`).toBe(e.placesOwn);
      expect(row.getCell(col('Số thôn nghe phát thay')).value, `${lang} villages fallback`).toBe(e.placesFallback);
    }
    expect(rows.get('vi')!.getCell(col('Bằng tiếng của thôn / phát thay')).value).toBe('Bằng tiếng của thôn và phát thay');
    expect(rows.get('hmn')!.getCell(col('Bằng tiếng của thôn / phát thay')).value).toBe('Bằng tiếng của thôn');

    // "Theo xã": the commune's hours (the longest play, Thôn 02's three versions) and each language's.
    const communes = wb.getWorksheet('Theo xã')!;
    const ch = (communes.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const row = communes.getRow(HEADER_ROW + 1);
    expect(row.getCell(ch.indexOf('Tổng giờ phát')).value).toBeCloseTo(totalMs / H, 12);
    for (const [lang, e] of Object.entries(expected)) expect(row.getCell(ch.indexOf(`Giờ phát: ${NAMES[lang]}`)).value, lang).toBeCloseTo(e.ms / H, 12);
    // The summary: how long Vietnamese stood in for a village's own language.
    const summary = new Map<string, unknown>();
    wb.getWorksheet('Tổng hợp')!.eachRow((r) => summary.set(String(r.getCell(1).value), r.getCell(2).value));
    expect(summary.get('Trong đó phát thay cho thôn không nói tiếng Việt')).toBeCloseTo(expected.vi!.fallbackMs / H, 12);
  }, 60_000);

  it('the province PDF: hours by language, villages each way, and Xã Bát Xát among the communes with a fallback', async () => {
    const res = await download(`/api/reports?period=${periodText}&format=pdf`);
    expect(res.status, res.body.toString('utf8').slice(0, 300)).toBe(200);
    const file = path.join(dir, 'province.pdf');
    fs.writeFileSync(file, res.body);
    const text = execFileSync('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8', timeout: 60_000 });
    const section = text.slice(text.indexOf('III. THỜI LƯỢNG PHÁT THEO NGÔN NGỮ'), text.indexOf('IV. THÔN CÓ ĐỘ PHỦ'));
    expect(section.length, text.slice(0, 2000)).toBeGreaterThan(40);
    const rowOf = (name: string) =>
      section
        .split('\n')
        .find((l) => l.trim().startsWith(name))
        ?.trim() ?? '';
    const hrs = (ms: number) => numberWords('vi', ms / H, 2);
    for (const [lang, e] of Object.entries(expected)) {
      // Language, hours, own, fallback, villages own, villages fallback, in words.
      const cells = rowOf(NAMES[lang]!).split(/\s{2,}/);
      expect(cells, lang).toEqual([NAMES[lang], hrs(e.ms), hrs(e.ownMs), hrs(e.fallbackMs), String(e.placesOwn), String(e.placesFallback)]);
    }
    // The communes whose villages heard a fallback: Bát Xát, in Vietnamese, one village.
    expect(section).toContain('Xã, phường có thôn nghe phát thay');
    const batXat = rowOf('Xã Bát Xát').split(/\s{2,}/);
    expect(batXat).toEqual(['Xã Bát Xát', NAMES.vi, hrs(expected.vi!.fallbackMs), '1']);
    // It renders: the page with section III has ink.
    const page = text.slice(0, text.indexOf('III. THỜI LƯỢNG PHÁT THEO NGÔN NGỮ')).split('\f').length;
    execFileSync('pdftoppm', ['-gray', '-r', '40', '-f', String(page), '-l', String(page), file, path.join(dir, 'lang')], { timeout: 60_000 });
    const pgm = fs.readdirSync(dir).find((f) => f.startsWith('lang') && f.endsWith('.pgm'));
    expect(pgm).toBeDefined();
    const bytes = fs.readFileSync(path.join(dir, pgm!));
    const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(bytes.subarray(0, 40).toString('latin1'))!;
    const pixels = bytes.subarray(header[0].length);
    expect(pixels.reduce((n, v) => n + (v < 200 ? 1 : 0), 0) / pixels.length).toBeGreaterThan(0.01);
  }, 60_000);
});
