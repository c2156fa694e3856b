/**
 * Hours on air by language in the periodic report (server/reports/report-model.ts),
 * from the parts (language versions) each site played: each version's
 * language and the time it actually sounded, whether the place heard it in a
 * language it speaks or in place of one it has no version in (a H'Mông
 * village that heard Vietnamese counts as Vietnamese, as a fallback), each
 * programme's version once per commune for its longest play there, the
 * province the sum of its communes.
 */
import ExcelJS from 'exceljs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { pendingDelivery } from '../../server/alerts/model.ts';
import type { AsRunLine, AsRunStatus } from '../../server/asrun/accounting.ts';
import type { LineLanguages, VersionOutcome } from '../../server/asrun/languages.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { reportPeriod } from '../../server/reports/period.ts';
import type { Report, ReportInputs, ReportSite, UnitFigures } from '../../server/reports/model.ts';
import { buildReport, hoursOf, lineLanguageAirtime, versionAirtimeMs } from '../../server/reports/report-model.ts';
import { HEADER_ROW, reportXlsx } from '../../server/reports/xlsx.ts';

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const NOV = reportPeriod({ kind: 'month', year: 2026, month: 11 });
const T = NOV.from + 5 * 24 * HOUR + 6 * HOUR;

/** The province, communes A (02680: villages 01–04) and B (02683: village 01), B speaking H'Mông. */
function areas(): AreaNode[] {
  const out: AreaNode[] = [{ id: 1, key: '2025.15', code: '15', version: '2025', name: 'Tỉnh Lào Cai', level: 'province', parentId: null }];
  const add = (a: Omit<AreaNode, 'id' | 'version' | 'key'>) => {
    out.push({ ...a, id: out.length + 1, version: '2025', key: `2025.${a.code}` });
    return out.length;
  };
  const a = add({ code: '02680', name: 'Xã A', level: 'commune', parentId: 1 });
  add({ code: '0268001', name: 'Thôn 1', level: 'village', parentId: a, languages: ['hmn', 'vi'] });
  add({ code: '0268002', name: 'Thôn 2', level: 'village', parentId: a, languages: ['ium', 'hmn', 'vi'] });
  add({ code: '0268003', name: 'Thôn 3', level: 'village', parentId: a });
  add({ code: '0268004', name: 'Thôn 4', level: 'village', parentId: a, languages: ['tyz'] });
  const b = add({ code: '02683', name: 'Xã B', level: 'commune', parentId: 1, languages: ['hmn'] });
  add({ code: '0268301', name: 'Thôn B1', level: 'village', parentId: b });
  return out;
}
const AREAS = areas();
const idOf = (code: string) => AREAS.find((a) => a.code === code)!.id;
const SITES: ReportSite[] = [
  { siteId: 'st-a', name: 'Đài xã A', kind: 'station', areaId: idOf('02680') },
  { siteId: 'v1', name: 'Cụm thôn 1', kind: 'cluster', areaId: idOf('0268001') },
  { siteId: 'v2', name: 'Cụm thôn 2', kind: 'cluster', areaId: idOf('0268002') },
  { siteId: 'v3', name: 'Cụm thôn 3', kind: 'cluster', areaId: idOf('0268003') },
  { siteId: 'v4', name: 'Cụm thôn 4', kind: 'cluster', areaId: idOf('0268004') },
  { siteId: 'v4b', name: 'Cụm thôn 4 (2)', kind: 'cluster', areaId: idOf('0268004') },
  { siteId: 'b1', name: 'Cụm thôn B1', kind: 'cluster', areaId: idOf('0268301') },
];

/** A version that played whole for `s` seconds from `at`. */
const v = (language: string, at: number, s: number, over: Partial<VersionOutcome> = {}): VersionOutcome => ({
  language,
  mediaId: `m-${language}`,
  outcome: 'played',
  reason: null,
  startedAt: at,
  endedAt: at + s * S,
  frames: (s * S) / 20,
  ...over,
});

function langs(site: string[], versions: VersionOutcome[], over: Partial<LineLanguages> = {}): LineLanguages {
  return {
    site,
    versions,
    played: versions.filter((x) => x.outcome === 'played').map((x) => x.language),
    missing: [],
    fallback: null,
    heardOwnLanguage: true,
    notHeard: null,
    ...over,
  };
}

function line(siteId: string, status: AsRunStatus, languages: LineLanguages | undefined, over: Partial<AsRunLine> = {}): AsRunLine {
  const vs = languages?.versions ?? [];
  const end = vs.reduce((m, x) => Math.max(m, x.endedAt ?? 0), 0);
  return {
    entryId: `bt-1@${T}`,
    itemId: 'bt-1',
    title: 'Thông báo tiêm chủng',
    siteId,
    siteName: siteId,
    areaKey: '',
    areaName: '',
    scheduledAt: T,
    startAt: T,
    durationMs: 3 * MIN,
    priority: 'normal',
    status,
    source: 'agent',
    reason: null,
    why: [],
    explanation: null,
    startedAt: status === 'skipped' ? null : T,
    endedAt: status === 'skipped' ? null : end || T + MIN,
    startErrorMs: 0,
    clockSynced: true,
    clockErrorMs: 0,
    frames: null,
    detail: null,
    receivedAt: T + 5 * MIN,
    siteNow: null,
    ...(languages ? { languages } : {}),
    ...over,
  };
}

function report(over: Partial<ReportInputs>): Report {
  return buildReport({
    period: NOV,
    rootKey: '2025.15',
    areas: AREAS,
    sites: SITES,
    asRun: [],
    items: new Map([['bt-1', { kind: 'bulletin', lang: 'vi' }]]),
    live: [],
    alerts: [],
    conditions: new Map(),
    faults: [],
    generatedAt: NOV.to,
    ...over,
  });
}

const communeA = (r: Report) => r.communes.find((c) => c.area.code === '02680')!.figures;
const communeB = (r: Report) => r.communes.find((c) => c.area.code === '02683')!.figures;

/** Each language's hours: at least each use's, at most their sum; a language heard is in both tables. */
function expectLanguagesConsistent(u: UnitFigures, where: string): void {
  expect(Object.keys(u.airtime.languageUse).sort(), where).toEqual(Object.keys(u.airtime.byLanguage).sort());
  for (const [lang, ms] of Object.entries(u.airtime.byLanguage)) {
    const use = u.airtime.languageUse[lang]!;
    expect(ms, `${where} ${lang}: ≥ own, ≥ fallback`).toBeGreaterThanOrEqual(Math.max(use.ownMs, use.fallbackMs));
    expect(ms, `${where} ${lang}: ≤ own + fallback`).toBeLessThanOrEqual(use.ownMs + use.fallbackMs);
    expect(use.placesOwn > 0, `${where} ${lang}: places heard it as their own ⇔ own hours`).toBe(use.ownMs > 0);
    expect(use.placesFallback > 0, `${where} ${lang}: places heard it as a fallback ⇔ fallback hours`).toBe(use.fallbackMs > 0);
  }
}

/** The province's language figures are the sums of its communes'. */
function expectProvinceSums(r: Report): void {
  const units = [...r.communes.map((c) => c.figures), ...(r.outside ? [r.outside] : [])];
  for (const lang of r.languages) {
    const sum = (pick: (u: UnitFigures) => number) => units.reduce((s, u) => s + pick(u), 0);
    expect(r.totals.airtime.byLanguage[lang], lang).toBe(sum((u) => u.airtime.byLanguage[lang] ?? 0));
    for (const k of ['ownMs', 'fallbackMs', 'placesOwn', 'placesFallback'] as const) {
      expect(r.totals.airtime.languageUse[lang]![k], `${lang} ${k}`).toBe(sum((u) => u.airtime.languageUse[lang]?.[k] ?? 0));
    }
  }
  expectLanguagesConsistent(r.totals, 'totals');
  for (const c of r.communes) expectLanguagesConsistent(c.figures, c.area.name);
}

describe('hours on air by language, from the parts each site played', () => {
  it('counts each version in its language, once per commune for its longest play; a Tày village that heard Vietnamese counts it as a fallback', () => {
    const r = report({
      asRun: [
        // Thôn 1 (hmn, vi): H'Mông 70 s then Vietnamese 60 s.
        line('v1', 'played', langs(['hmn', 'vi'], [v('hmn', T, 70), v('vi', T + 70 * S, 60)])),
        // Thôn 2 (ium, hmn, vi): Dao 80 s, H'Mông 70 s, Vietnamese 60 s.
        line('v2', 'played', langs(['ium', 'hmn', 'vi'], [v('ium', T, 80), v('hmn', T + 80 * S, 70), v('vi', T + 150 * S, 60)])),
        // Thôn 3 (the commune's default, vi) and the station: Vietnamese alone.
        line('v3', 'played', langs(['vi'], [v('vi', T, 60)])),
        line('st-a', 'played', langs(['vi'], [v('vi', T, 60)])),
        // Thôn 4 (tyz): no Tày version, the Vietnamese one played instead.
        line('v4', 'played', langs(['tyz'], [v('vi', T, 60)], { missing: ['tyz'], fallback: 'no_version', heardOwnLanguage: false })),
      ],
    });
    const a = communeA(r);
    // The commune broadcast the programme for 210 s (Thôn 2's play, the longest).
    expect(a.airtime.totalMs).toBe(210 * S);
    expect(a.airtime.byLanguage).toEqual({ vi: 60 * S, hmn: 70 * S, ium: 80 * S });
    expect(a.airtime.languageUse).toEqual({
      vi: { ownMs: 60 * S, fallbackMs: 60 * S, placesOwn: 4, placesFallback: 1 },
      hmn: { ownMs: 70 * S, fallbackMs: 0, placesOwn: 2, placesFallback: 0 },
      ium: { ownMs: 80 * S, fallbackMs: 0, placesOwn: 1, placesFallback: 0 },
    });
    expect(r.languages).toEqual(['vi', 'hmn', 'ium']);
    expectProvinceSums(r);
  });

  it('villages hearing different versions side by side add up to more language-hours than hours', () => {
    const r = report({
      asRun: [line('v1', 'played', langs(['hmn'], [v('hmn', T, 70)])), line('v2', 'played', langs(['ium'], [v('ium', T, 80)]))],
    });
    expect(communeA(r).airtime.totalMs).toBe(80 * S);
    expect(communeA(r).airtime.byLanguage).toEqual({ hmn: 70 * S, ium: 80 * S });
  });

  it('counts only the time a version sounded: a version skipped for want of its media none, one cut short its frames', () => {
    const r = report({
      asRun: [
        line(
          'v2',
          'partial',
          langs(
            ['ium', 'hmn', 'vi'],
            [
              v('ium', T, 80, { outcome: 'skipped', reason: 'no_media', startedAt: null, endedAt: null, frames: null }),
              v('hmn', T, 70),
              v('vi', T + 70 * S, 60, { outcome: 'partial', reason: 'amp_fault', endedAt: T + 95 * S, frames: 25 * 50 }),
            ],
          ),
          { reason: 'no_media' },
        ),
      ],
    });
    expect(communeA(r).airtime.byLanguage).toEqual({ hmn: 70 * S, vi: 25 * S });
    expect(communeA(r).airtime.totalMs).toBe(95 * S);
  });

  it("takes a version's frames over its times (a version repeated between others), and a receipt silent on versions whole in the first one's language", () => {
    expect(versionAirtimeMs(v('vi', T, 60, { endedAt: T + 200 * S }))).toBe(60 * S);
    expect(versionAirtimeMs(v('vi', T, 60, { frames: null }))).toBe(60 * S);
    expect(versionAirtimeMs(v('vi', T, 60, { outcome: 'skipped' }))).toBe(0);
    expect(versionAirtimeMs(v('vi', T, 60, { outcome: null }))).toBe(0);
    const silent = line(
      'v1',
      'played',
      langs(['hmn', 'vi'], [v('hmn', T, 70, { startedAt: null, endedAt: null, frames: null }), v('vi', T, 60, { startedAt: null, endedAt: null, frames: null })]),
      {
        endedAt: T + 130 * S,
      },
    );
    expect(lineLanguageAirtime(silent, 'vi')).toEqual([{ lang: 'hmn', ms: 130 * S }]);
    // No versions: all of it in the item's language.
    expect(lineLanguageAirtime(line('v1', 'played', undefined), 'vi')).toEqual([{ lang: 'vi', ms: MIN }]);
    expect(lineLanguageAirtime(line('v1', 'skipped', undefined), 'vi')).toEqual([]);
  });

  it("a bulletin without versions is in its item's language: own where the village speaks it (its own list or its commune's), a fallback where it does not", () => {
    const r = report({
      asRun: [line('v1', 'played', undefined), line('v3', 'played', undefined), line('v4', 'played', undefined), line('v4b', 'played', undefined), line('b1', 'played', undefined)],
    });
    // Thôn 1 lists vi, Thôn 3 inherits the province's default; Thôn 4 speaks Tày only (two clusters, one place).
    expect(communeA(r).airtime.languageUse.vi).toEqual({ ownMs: MIN, fallbackMs: MIN, placesOwn: 2, placesFallback: 1 });
    // Thôn B1 inherits Xã B's H'Mông.
    expect(communeB(r).airtime.languageUse.vi).toEqual({ ownMs: 0, fallbackMs: MIN, placesOwn: 0, placesFallback: 1 });
    expect(r.totals.airtime.languageUse.vi).toEqual({ ownMs: MIN, fallbackMs: 2 * MIN, placesOwn: 2, placesFallback: 2 });
    expectProvinceSums(r);
  });

  it('live streams and alerts count in their language, by the listening place', () => {
    const r = report({
      live: [{ streamId: 3, siteId: 'b1', source: 'relay', relayOrigin: 'provincial', lang: 'hmn', startedAt: T, playedMs: HOUR }],
      alerts: [
        {
          alert: { id: 'al-1', title: 'Lũ quét', revisedAt: T, test: false, priority: 'emergency', endedAt: null },
          lang: 'vi',
          deliveries: [{ ...pendingDelivery('al-1', 'b1', 1), status: 'completed', firstSoundAt: T + S, messageAt: T + 5 * S, completedAt: T + 2 * MIN }],
        },
      ],
    });
    const b = communeB(r);
    expect(b.airtime.languageUse.hmn).toEqual({ ownMs: HOUR, fallbackMs: 0, placesOwn: 1, placesFallback: 0 });
    expect(b.airtime.languageUse.vi).toEqual({ ownMs: 0, fallbackMs: 2 * MIN - S, placesOwn: 0, placesFallback: 1 });
    expectProvinceSums(r);
  });
});

describe('in the workbook: "Theo ngôn ngữ", a row per commune and language, the area last', () => {
  it("gives each language's hours, own and fallback, and the villages each way, as numbers", async () => {
    const r = report({
      asRun: [
        line('v1', 'played', langs(['hmn', 'vi'], [v('hmn', T, 70), v('vi', T + 70 * S, 60)])),
        line('v4', 'played', langs(['tyz'], [v('vi', T, 60)], { missing: ['tyz'], fallback: 'no_version', heardOwnLanguage: false })),
        line('b1', 'played', undefined),
      ],
    });
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(await reportXlsx(r)).buffer);
    const ws = wb.getWorksheet('Theo ngôn ngữ')!;
    const header = (ws.getRow(HEADER_ROW).values as unknown[]).slice(1);
    expect(header).toEqual([
      'Mã xã',
      'Tên xã, phường',
      'Ngôn ngữ',
      'Mã ngôn ngữ',
      'Giờ phát',
      'Bằng tiếng của thôn / phát thay',
      'Giờ phát bằng tiếng của thôn',
      'Giờ phát thay (thôn không nói tiếng này)',
      'Số thôn nghe bằng tiếng của mình',
      'Số thôn nghe phát thay',
    ]);
    const rows: unknown[][] = [];
    ws.eachRow((row, n) => {
      if (n > HEADER_ROW) rows.push((row.values as unknown[]).slice(1));
    });
    const h = (s: number) => hoursOf(s * S);
    expect(rows).toEqual([
      ['02680', 'Xã A', 'Tiếng Việt', 'vi', h(60), 'Bằng tiếng của thôn và phát thay', h(60), h(60), 1, 1],
      ['02680', 'Xã A', "Tiếng H'Mông", 'hmn', h(70), 'Bằng tiếng của thôn', h(70), 0, 1, 0],
      ['02683', 'Xã B', 'Tiếng Việt', 'vi', h(60), 'Phát thay (thôn không nói tiếng này)', 0, h(60), 0, 1],
      ['15', 'Toàn tỉnh', 'Tiếng Việt', 'vi', h(120), 'Bằng tiếng của thôn và phát thay', h(60), h(120), 1, 2],
      ['15', 'Toàn tỉnh', "Tiếng H'Mông", 'hmn', h(70), 'Bằng tiếng của thôn', h(70), 0, 1, 0],
    ]);
    expect(ws.getRow(HEADER_ROW + 4).font?.bold).toBe(true);
    // The summary says how long Vietnamese stood in for a village's own language.
    const summary: string[] = [];
    wb.getWorksheet('Tổng hợp')!.eachRow((row) => summary.push(`${row.getCell(1).value} = ${row.getCell(2).value}`));
    expect(summary).toContain(`Trong đó phát thay cho thôn không nói tiếng Việt = ${h(120)}`);
  });
});

describe('on random plays of bulletins with versions', () => {
  const LANGS = ['vi', 'hmn', 'ium', 'tyz'] as const;
  it('each language ≥ each use and ≤ their sum, places heard ⇔ hours, the province = Σ communes', () => {
    const arb = fc.array(
      fc.record({
        site: fc.constantFrom(...SITES.map((s) => s.siteId)),
        entry: fc.nat({ max: 3 }),
        siteLangs: fc.subarray([...LANGS], { minLength: 0, maxLength: 3 }),
        versions: fc.array(
          fc.record({ lang: fc.constantFrom(...LANGS), s: fc.integer({ min: 1, max: 300 }), outcome: fc.constantFrom('played', 'late', 'partial', 'skipped', null) }),
          { minLength: 0, maxLength: 3 },
        ),
        status: fc.constantFrom<AsRunStatus>('played', 'late', 'partial', 'skipped', 'no_receipt'),
      }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(arb, (plays) => {
        const asRun = plays.map((p) => {
          let at = T;
          const versions = p.versions.map((x) => {
            const out = v(x.lang, at, x.s, { outcome: x.outcome as VersionOutcome['outcome'] });
            at += x.s * S;
            return out;
          });
          return line(p.site, p.status, p.versions.length > 0 ? langs(p.siteLangs, versions) : undefined, { entryId: `bt-1@${T + p.entry}` });
        });
        expectProvinceSums(report({ asRun }));
      }),
    );
  });
});
