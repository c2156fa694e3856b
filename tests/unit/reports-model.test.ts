/**
 * The periodic report's figures (server/reports/report-model.ts): each one
 * from the as-run lines, live plays, alert deliveries, condition histories
 * and fault episodes it claims to come from, and every total derivable from
 * the rows beside it — on hand-made cases, on random inputs (fast-check), and
 * on a synthetic month of Lào Cai's 99 communes.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';
import { AS_RUN_STATUSES, type AsRunLine, type AsRunStatus } from '../../server/asrun/accounting.ts';
import { type Delivery, pendingDelivery } from '../../server/alerts/model.ts';
import { SITE_CONDITIONS, type SiteCondition } from '../../server/coverage/model.ts';
import { parseAreaCsv } from '../../server/registry/area-import.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { reportPeriod } from '../../server/reports/period.ts';
import { skipReasonWords } from '../../server/reports/labels.ts';
import {
  AIRTIME_KINDS,
  type AlertInput,
  type FaultEpisode,
  type LivePlay,
  type Report,
  type ReportInputs,
  type ReportSite,
  type SiteHistory,
  type UnitFigures,
} from '../../server/reports/model.ts';
import { buildReport, lineAirtimeMs } from '../../server/reports/report-model.ts';
import { syntheticMonth } from '../../server/reports/synthetic-month.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOV = reportPeriod({ kind: 'month', year: 2026, month: 11 });
const T = NOV.from + 5 * 24 * HOUR + 6 * HOUR;

// --------------------------------------------------------------- invariants --

/** Figures that are not sums (shares, means, maxima, alerts counted once per commune they reached). */
const NOT_ADDITIVE = new Set(['share', 'meanRepairMs', 'longestRepairMs', 'meanAckMs', 'alerts.alerts']);

function flatten(o: unknown, prefix = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof o === 'number') {
    if (!NOT_ADDITIVE.has(prefix) && !NOT_ADDITIVE.has(prefix.split('.').pop()!)) out.set(prefix, o);
  } else if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

/** The numeric leaves of each, summed by path. */
function sumOf(units: readonly unknown[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const u of units) for (const [k, v] of flatten(u)) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

function expectSameSums(actual: Map<string, number>, expected: Map<string, number>, what: string): void {
  const keys = new Set([...actual.keys(), ...expected.keys()]);
  const diff = [...keys].filter((k) => (actual.get(k) ?? 0) !== (expected.get(k) ?? 0)).map((k) => `${k}: ${actual.get(k)} ≠ Σ ${expected.get(k)}`);
  expect(diff, what).toEqual([]);
}

const sum = (xs: Iterable<number>) => [...xs].reduce((a, b) => a + b, 0);

function expectUnitConsistent(u: UnitFigures, where: string): void {
  const b = u.bulletins;
  expect(b.planned, `${where}: planned = Σ statuses`).toBe(sum(AS_RUN_STATUSES.map((s) => b.byStatus[s])));
  expect(b.byStatus.skipped, `${where}: skipped = Σ reasons`).toBe(sum(Object.values(b.skippedByReason)));
  expect(u.airtime.totalMs, `${where}: airtime = Σ kinds`).toBe(sum(AIRTIME_KINDS.map((k) => u.airtime.byKind[k])));
  expect(u.airtime.totalMs, `${where}: airtime = Σ languages`).toBe(sum(Object.values(u.airtime.byLanguage)));
  expect(u.uptime.siteMs, `${where}: site-time = Σ conditions`).toBe(sum(SITE_CONDITIONS.map((c) => u.uptime.byCondition[c])));
  expect(u.uptime.audibleMs).toBe(u.uptime.byCondition.operational + u.uptime.byCondition.degraded);
  expect(u.uptime.share).toBe(u.uptime.siteMs > 0 ? u.uptime.audibleMs / u.uptime.siteMs : null);
  expect(u.coverage.coveredMs).toBeLessThanOrEqual(u.coverage.villageMs);
  expect(u.coverage.share).toBe(u.coverage.villageMs > 0 ? u.coverage.coveredMs / u.coverage.villageMs : null);
  expect(u.sites).toBe(u.stations + u.clusters);
  const f = u.faults.total;
  expect(f.count, `${where}: faults = repaired + open`).toBe(f.repaired + f.open);
  expectSameSums(flatten(f), sumOf(Object.values(u.faults.byKind)), `${where}: faults = Σ kinds`);
  expect(f.meanRepairMs).toBe(f.repaired > 0 ? f.repairMs / f.repaired : null);
  expect(f.acknowledged).toBeLessThanOrEqual(f.count);
  expect(f.meanAckMs).toBe(f.acknowledged > 0 ? f.ackMs / f.acknowledged : null);
  expect(u.alerts.sounded).toBeLessThanOrEqual(u.alerts.deliveries);
  expect(u.alerts.message).toBeLessThanOrEqual(u.alerts.sounded);
  expect(u.alerts.heard).toBeLessThanOrEqual(u.alerts.message);
}

/** Every total derivable from its rows. */
function expectReportConsistent(r: Report): void {
  const units = [...r.communes.map((c) => c.figures), ...(r.outside ? [r.outside] : [])];
  expectSameSums(flatten(r.totals), sumOf(units), 'the totals are the sum of the communes (and sites above commune level)');
  expectUnitConsistent(r.totals, 'totals');
  for (const c of r.communes) {
    expectUnitConsistent(c.figures, c.area.name);
    expectSameSums(flatten(c.figures.coverage), sumOf(c.villages.map((v) => v.coverage)), `${c.area.name}: coverage = Σ villages`);
    expect(sum(c.villages.map((v) => v.uptime.siteMs))).toBeLessThanOrEqual(c.figures.uptime.siteMs);
    expect(sum(c.villages.map((v) => v.clusters))).toBeLessThanOrEqual(c.figures.clusters);
  }
  expect(r.faults.length, 'a fault row per fault counted').toBe(r.totals.faults.total.count);
  expect(sum(r.faults.map((f) => f.repairMs ?? 0))).toBe(r.totals.faults.total.repairMs);
  expect(sum(r.alerts.map((a) => a.targeted)), 'an alert row per delivery counted').toBe(r.totals.alerts.deliveries);
  expect(sum(r.alerts.map((a) => a.message))).toBe(r.totals.alerts.message);
  expect(new Set(Object.keys(r.totals.bulletins.skippedByReason))).toEqual(new Set(r.skipReasons));
  expect(new Set(Object.keys(r.totals.airtime.byLanguage))).toEqual(new Set(r.languages));
}

// ------------------------------------------------------------ small builders --

function areasOf(spec: Array<{ code: string; villages: number }>, withDistrict = false): AreaNode[] {
  const out: AreaNode[] = [{ id: 1, key: '2025.15', code: '15', version: '2025', name: 'Tỉnh Lào Cai', level: 'province', parentId: null }];
  let parent = 1;
  if (withDistrict) {
    out.push({ id: 2, key: '2025.080', code: '080', version: '2025', name: 'Huyện Thử', level: 'district', parentId: 1 });
    parent = 2;
  }
  for (const c of spec) {
    const id = out.length + 1;
    out.push({ id, key: `2025.${c.code}`, code: c.code, version: '2025', name: `Xã ${c.code}`, level: 'commune', parentId: parent });
    for (let v = 1; v <= c.villages; v++)
      out.push({ id: out.length + 1, key: `2025.${c.code}0${v}`, code: `${c.code}0${v}`, version: '2025', name: `Thôn ${v}`, level: 'village', parentId: id });
  }
  return out;
}

const areaId = (areas: AreaNode[], code: string) => areas.find((a) => a.code === code)!.id;

function line(siteId: string, status: AsRunStatus, over: Partial<AsRunLine> = {}): AsRunLine {
  const played = ['played', 'late', 'early', 'unverified', 'partial'].includes(status);
  return {
    entryId: `bt-1@${T}`,
    itemId: 'bt-1',
    title: 'Bản tin',
    siteId,
    siteName: siteId,
    areaKey: '',
    areaName: '',
    scheduledAt: T,
    startAt: T,
    durationMs: 15 * MIN,
    priority: 'normal',
    status,
    source: 'agent',
    reason: null,
    why: [],
    explanation: null,
    startedAt: played ? T : null,
    endedAt: played ? T + (status === 'partial' ? 5 * MIN : 15 * MIN) : null,
    startErrorMs: null,
    clockSynced: true,
    clockErrorMs: null,
    frames: null,
    detail: null,
    receivedAt: T + 20 * MIN,
    siteNow: null,
    ...over,
  };
}

function inputs(over: Partial<ReportInputs> & Pick<ReportInputs, 'areas' | 'sites'>): ReportInputs {
  return {
    period: NOV,
    rootKey: '2025.15',
    asRun: [],
    items: new Map([['bt-1', { kind: 'bulletin', lang: 'vi' }]]),
    live: [],
    alerts: [],
    conditions: new Map(),
    faults: [],
    generatedAt: NOV.to,
    ...over,
  };
}

const always = (condition: SiteCondition): SiteHistory => ({ transitions: [{ at: NOV.from - HOUR, condition }] });

// ----------------------------------------------------------------- examples --

describe('the report of a month, on hand-made cases', () => {
  const areas = areasOf([
    { code: '02680', villages: 2 },
    { code: '02683', villages: 1 },
  ]);
  const sites: ReportSite[] = [
    { siteId: 'st-a', name: 'Đài xã A', kind: 'station', areaId: areaId(areas, '02680') },
    { siteId: 'cl-a1', name: 'Cụm 1', kind: 'cluster', areaId: areaId(areas, '0268001') },
    { siteId: 'cl-a2', name: 'Cụm 2', kind: 'cluster', areaId: areaId(areas, '0268001') },
    { siteId: 'cl-b1', name: 'Cụm B', kind: 'cluster', areaId: areaId(areas, '0268301') },
  ];

  it('counts bulletins by the as-run status, skipped ones by reason, and receipts nobody planned apart', () => {
    const r = buildReport(
      inputs({
        areas,
        sites,
        asRun: [
          line('st-a', 'played'),
          line('cl-a1', 'late'),
          line('cl-a2', 'skipped', { reason: 'no_media' }),
          line('cl-b1', 'skipped', { reason: null }),
          line('cl-b1', 'played', { entryId: 'old@1', priority: '' }),
          line('cl-a1', 'no_receipt', { entryId: `bt-1@${T + 24 * HOUR}`, scheduledAt: T + 24 * HOUR }),
          // Outside the month: not in this report.
          line('cl-a1', 'played', { scheduledAt: NOV.to }),
        ],
      }),
    );
    const a = r.communes[0]!.figures.bulletins;
    expect(a.planned).toBe(4);
    expect(a.byStatus).toMatchObject({ played: 1, late: 1, skipped: 1, no_receipt: 1 });
    expect(a.skippedByReason).toEqual({ no_media: 1 });
    expect(r.communes[1]!.figures.bulletins).toMatchObject({ planned: 1, unplanned: 1, skippedByReason: { unspecified: 1 } });
    expect(r.skipReasons).toEqual(['no_media', 'unspecified']);
    expect(skipReasonWords('no_media', 'vi')).toBe('không có tệp âm thanh trong bộ nhớ của trạm');
    expect(skipReasonWords('unspecified', 'vi')).toBe('không rõ lý do');
    expect(skipReasonWords('new_code', 'vi')).toBe('lý do khác (mã new_code)');
    expectReportConsistent(r);
  });

  it("leaves an alert's file copy to the alert: it is not a bulletin", () => {
    const r = buildReport(inputs({ areas, sites, items: new Map([['al-1', { kind: 'alert', lang: 'vi' }]]), asRun: [line('st-a', 'played', { itemId: 'al-1' })] }));
    expect(r.totals.bulletins.planned).toBe(0);
    expect(r.totals.airtime.totalMs).toBe(0);
  });

  it('counts a programme once per commune, for its longest play there; the province adds the communes', () => {
    const r = buildReport(
      inputs({
        areas,
        sites,
        asRun: [line('st-a', 'played'), line('cl-a1', 'partial'), line('cl-b1', 'played')],
        live: [
          { streamId: 7, siteId: 'cl-a1', source: 'relay', relayOrigin: 'national', lang: 'vi', startedAt: T, playedMs: HOUR },
          { streamId: 7, siteId: 'cl-a2', source: 'relay', relayOrigin: 'national', lang: 'vi', startedAt: T, playedMs: 40 * MIN },
          { streamId: 8, siteId: 'cl-b1', source: 'browser', relayOrigin: null, lang: 'hmn', startedAt: T, playedMs: 10 * MIN },
        ],
      }),
    );
    expect(r.communes[0]!.figures.airtime.byKind).toMatchObject({ bulletin: 15 * MIN, relay_national: HOUR });
    expect(r.communes[1]!.figures.airtime.byKind).toMatchObject({ bulletin: 15 * MIN, live: 10 * MIN });
    expect(r.totals.airtime.byKind.bulletin).toBe(30 * MIN);
    expect(r.totals.airtime.byLanguage).toEqual({ vi: 30 * MIN + HOUR, hmn: 10 * MIN });
    expect(r.languages).toEqual(['vi', 'hmn']);
    expectReportConsistent(r);
  });

  it("takes a line's time on air from its receipt, else its frames, else (played whole) its length", () => {
    expect(lineAirtimeMs(line('x', 'played'))).toBe(15 * MIN);
    expect(lineAirtimeMs(line('x', 'partial', { startedAt: null, endedAt: null, frames: 1500 }))).toBe(30_000);
    expect(lineAirtimeMs(line('x', 'partial', { startedAt: null, endedAt: null }))).toBe(0);
    expect(lineAirtimeMs(line('x', 'unverified', { startedAt: null, endedAt: null }))).toBe(15 * MIN);
    expect(lineAirtimeMs(line('x', 'skipped'))).toBe(0);
    expect(lineAirtimeMs(line('x', 'no_receipt'))).toBe(0);
  });

  it('a village is covered while any one of its clusters is operational; uptime counts degraded as audible', () => {
    const days = (n: number) => NOV.from + n * 24 * HOUR;
    const conditions = new Map<string, SiteHistory>([
      // Cluster 1 offline days 0–10, cluster 2 offline days 5–20: the village is uncovered days 5–10.
      [
        'cl-a1',
        {
          transitions: [
            { at: NOV.from, condition: 'offline' },
            { at: days(10), condition: 'operational' },
          ],
        },
      ],
      [
        'cl-a2',
        {
          transitions: [
            { at: NOV.from - 1, condition: 'operational' },
            { at: days(5), condition: 'offline' },
            { at: days(20), condition: 'operational' },
          ],
        },
      ],
      ['st-a', always('degraded')],
      ['cl-b1', always('faulty')],
    ]);
    const r = buildReport(inputs({ areas, sites, conditions }));
    const a = r.communes[0]!;
    expect(a.villages.map((v) => v.coverage.coveredMs)).toEqual([NOV.to - NOV.from - 5 * 24 * HOUR, 0]);
    expect(a.villages[1]!.coverage.villagesWithoutCluster).toBe(1);
    expect(a.figures.coverage).toMatchObject({ villages: 2, villagesWithoutCluster: 1, villageMs: 2 * (NOV.to - NOV.from) });
    expect(a.figures.uptime.audibleMs).toBe(3 * (NOV.to - NOV.from) - 10 * 24 * HOUR - 15 * 24 * HOUR);
    expect(r.communes[1]!.figures.uptime.share).toBe(0);
    expectReportConsistent(r);
  });

  it('a site counts from its registration to its retirement, and not at all outside them', () => {
    const late: ReportSite[] = [{ siteId: 'cl-a1', name: 'Cụm 1', kind: 'cluster', areaId: areaId(areas, '0268001'), createdAt: NOV.from + 10 * 24 * HOUR }];
    const r = buildReport(inputs({ areas, sites: late, conditions: new Map([['cl-a1', always('operational')]]) }));
    expect(r.totals.uptime.siteMs).toBe(NOV.to - NOV.from - 10 * 24 * HOUR);
    expect(r.totals.uptime.share).toBe(1);
    expect(r.communes[0]!.villages[0]!.coverage.coveredMs).toBe(NOV.to - NOV.from - 10 * 24 * HOUR);
    const gone: ReportSite[] = [
      { siteId: 'cl-a1', name: 'Cụm 1', kind: 'cluster', areaId: areaId(areas, '0268001'), retiredAt: NOV.from - HOUR },
      { siteId: 'cl-a2', name: 'Cụm 2', kind: 'cluster', areaId: areaId(areas, '0268001'), createdAt: NOV.to },
    ];
    const none = buildReport(inputs({ areas, sites: gone }));
    expect(none.totals).toMatchObject({ sites: 0, clusters: 0, uptime: { siteMs: 0, share: null } });
    expect(none.communes[0]!.villages[0]!.coverage.villagesWithoutCluster).toBe(1);
  });

  it('faults that began in the month, with their time to repair, and those still open', () => {
    const faults: FaultEpisode[] = [
      { siteId: 'cl-a1', kind: 'offline', startedAt: T, endedAt: T + 2 * HOUR, acknowledgedAt: T + HOUR / 2 },
      { siteId: 'cl-a1', kind: 'offline', startedAt: T + 5 * HOUR, endedAt: T + 9 * HOUR, acknowledgedAt: T + 6.5 * HOUR },
      { siteId: 'cl-b1', kind: 'amplifier_fault', startedAt: T, endedAt: null },
      { siteId: 'cl-b1', kind: 'line_open', startedAt: NOV.from - HOUR, endedAt: T },
    ];
    const r = buildReport(inputs({ areas, sites, faults }));
    expect(r.totals.faults.byKind.offline).toMatchObject({ count: 2, repaired: 2, repairMs: 6 * HOUR, longestRepairMs: 4 * HOUR, meanRepairMs: 3 * HOUR });
    expect(r.totals.faults.byKind.amplifier_fault).toMatchObject({ count: 1, open: 1, meanRepairMs: null, acknowledged: 0, meanAckMs: null });
    // Time to acknowledge: half an hour and an hour and a half, one hour on average; a fault nobody acknowledged is not in it.
    expect(r.totals.faults.byKind.offline).toMatchObject({ acknowledged: 2, ackMs: 2 * HOUR, meanAckMs: HOUR });
    expect(r.totals.faults.total).toMatchObject({ count: 3, acknowledged: 2, meanAckMs: HOUR });
    expect(r.faultKinds).toEqual(['amplifier_fault', 'offline']);
    expect(r.faults[0]).toMatchObject({ siteId: 'cl-a1', commune: { code: '02680' }, village: { code: '0268001' }, repairMs: 2 * HOUR, ackMs: HOUR / 2 });
    expectReportConsistent(r);
  });

  it('alerts: time to the first sound, and to every site playing the message (none while one never did)', () => {
    const d = (siteId: string, over: Partial<Delivery>): Delivery => ({ ...pendingDelivery('al-1', siteId, 1), ...over });
    const alert = (deliveries: Delivery[]): AlertInput => ({
      alert: { id: 'al-1', title: 'Lũ quét', revisedAt: T, test: false, priority: 'emergency', endedAt: T + HOUR },
      lang: 'vi',
      deliveries,
    });
    const all = [
      d('st-a', { status: 'completed', firstSoundAt: T + 900, messageAt: T + 9000, completedAt: T + 100_000, messageRepeats: 2, levelDb: -20, levelThresholdDb: -40 }),
      d('cl-b1', { status: 'completed', firstSoundAt: T + 1500, messageAt: T + 12_000, completedAt: T + 130_000 }),
    ];
    const r = buildReport(inputs({ areas, sites, alerts: [alert(all)] }));
    expect(r.alerts[0]).toMatchObject({ targeted: 2, sounded: 2, message: 2, heard: 1, communes: 2, firstSoundAfterMs: 900, allMessageAfterMs: 12_000 });
    expect(r.totals.airtime.byKind.alert).toBe(100_000 - 900 + 130_000 - 1500);
    const one = buildReport(inputs({ areas, sites, alerts: [alert([...all, d('cl-a1', { status: 'failed', firstSoundAt: T + 700, failedAt: T + 5000 })])] }));
    expect(one.alerts[0]).toMatchObject({ targeted: 3, sounded: 3, message: 2, firstSoundAfterMs: 700, allMessageAfterMs: null });
    expect(one.communes[0]!.figures.alerts).toEqual({ alerts: 1, deliveries: 2, sounded: 2, message: 1, heard: 1 });
    expectReportConsistent(one);
  });

  it("a commune's own report has one row, and the sites above commune level are counted apart", () => {
    const withDistrict = areasOf([{ code: '02680', villages: 1 }], true);
    const s: ReportSite[] = [
      { siteId: 'st-huyen', name: 'Đài huyện', kind: 'station', areaId: 2 },
      { siteId: 'cl-a1', name: 'Cụm 1', kind: 'cluster', areaId: areaId(withDistrict, '0268001') },
    ];
    const province = buildReport(inputs({ areas: withDistrict, sites: s, asRun: [line('st-huyen', 'played'), line('cl-a1', 'played')] }));
    expect(province.outside?.sites).toBe(1);
    expect(province.communes[0]!.district?.code).toBe('080');
    expectReportConsistent(province);
    const commune = buildReport(inputs({ areas: withDistrict, sites: s, rootKey: '2025.02680', asRun: [line('st-huyen', 'played'), line('cl-a1', 'played')] }));
    expect(commune.root.level).toBe('commune');
    expect(commune.communes.map((c) => c.area.code)).toEqual(['02680']);
    expect(commune.outside).toBeNull();
    expect(commune.totals.bulletins.planned).toBe(1);
    expect(() => buildReport(inputs({ areas: withDistrict, sites: s, rootKey: '2025.0268001' }))).toThrow(RangeError);
  });
});

// --------------------------------------------------------------- properties --

const STATUSES = fc.constantFrom(...AS_RUN_STATUSES);
const CONDITION = fc.constantFrom(...SITE_CONDITIONS);

describe('on random inputs, every total is derivable from the rows', () => {
  it('totals = Σ communes (+ above commune level), planned = Σ statuses, airtime = Σ kinds = Σ languages, site-time = Σ conditions', () => {
    const arb = fc.record({
      communes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      sites: fc.array(fc.record({ area: fc.nat(), kind: fc.constantFrom('station', 'cluster') as fc.Arbitrary<'station' | 'cluster'>, from: fc.option(fc.nat({ max: 40 })) }), {
        maxLength: 12,
      }),
      lines: fc.array(
        fc.record({
          site: fc.nat(),
          entry: fc.nat({ max: 5 }),
          status: STATUSES,
          reason: fc.option(fc.constantFrom('no_media', 'amp_fault', 'x')),
          planned: fc.boolean(),
          day: fc.integer({ min: -2, max: 31 }),
          ms: fc.nat({ max: HOUR }),
          lang: fc.constantFrom('vi', 'hmn', 'ium'),
          alertCopy: fc.boolean(),
        }),
        { maxLength: 40 },
      ),
      live: fc.array(
        fc.record({
          site: fc.nat(),
          stream: fc.nat({ max: 4 }),
          source: fc.constantFrom('relay', 'media', 'browser') as fc.Arbitrary<LivePlay['source']>,
          origin: fc.constantFrom('national', 'provincial', 'other') as fc.Arbitrary<'national'>,
          ms: fc.nat({ max: 2 * HOUR }),
        }),
        { maxLength: 20 },
      ),
      history: fc.array(fc.array(fc.record({ day: fc.integer({ min: -1, max: 31 }), condition: CONDITION }), { maxLength: 5 }), { maxLength: 12 }),
      faults: fc.array(
        fc.record({ site: fc.nat(), kind: fc.constantFrom('offline', 'line_open'), day: fc.integer({ min: -1, max: 30 }), hours: fc.option(fc.nat({ max: 100 })) }),
        { maxLength: 15 },
      ),
      alerts: fc.array(fc.array(fc.record({ site: fc.nat(), first: fc.option(fc.nat({ max: 9000 })), message: fc.option(fc.nat({ max: 9000 })) }), { maxLength: 6 }), {
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(arb, (g) => {
        const areas = areasOf(
          g.communes.map((villages, i) => ({ code: `0${2600 + i}`, villages })),
          g.sites.length % 2 === 0,
        );
        const placeable = areas.filter((a) => a.level !== 'province');
        const sites: ReportSite[] = g.sites.map((s, i) => ({
          siteId: `s${i}`,
          name: `Trạm ${i}`,
          kind: s.kind,
          areaId: placeable[s.area % placeable.length]!.id,
          createdAt: s.from === null ? null : NOV.from + s.from * 24 * HOUR,
        }));
        const siteOf = (n: number) => (sites.length ? sites[n % sites.length]!.siteId : 'nobody');
        const day = (d: number) => NOV.from + d * 24 * HOUR;
        const items = new Map<string, { kind: 'bulletin' | 'alert'; lang: string }>();
        const asRun = g.lines.map((l) => {
          const itemId = `it${l.entry}${l.alertCopy ? 'a' : ''}`;
          items.set(itemId, { kind: l.alertCopy ? 'alert' : 'bulletin', lang: l.lang });
          return line(siteOf(l.site), l.status, {
            itemId,
            entryId: `${itemId}@${l.day}`,
            scheduledAt: day(l.day),
            reason: l.reason,
            priority: l.planned ? 'normal' : '',
            startedAt: day(l.day),
            endedAt: day(l.day) + l.ms,
          });
        });
        const conditions = new Map(g.history.map((h, i) => [`s${i}`, { transitions: h.map((x) => ({ at: day(x.day), condition: x.condition })).sort((a, b) => a.at - b.at) }]));
        const r = buildReport(
          inputs({
            areas,
            sites,
            asRun,
            items,
            live: g.live.map((l) => ({
              streamId: l.stream,
              siteId: siteOf(l.site),
              source: l.source,
              relayOrigin: l.source === 'relay' ? l.origin : null,
              lang: 'vi',
              startedAt: T,
              playedMs: l.ms,
            })),
            conditions,
            faults: g.faults.map((f) => ({ siteId: siteOf(f.site), kind: f.kind, startedAt: day(f.day), endedAt: f.hours === null ? null : day(f.day) + f.hours * HOUR })),
            alerts: g.alerts.map((a, n) => ({
              alert: { id: `al${n}`, title: 'Cảnh báo', revisedAt: T, test: false, priority: 'emergency', endedAt: T + HOUR },
              lang: 'vi',
              deliveries: [...new Map(a.map((x) => [siteOf(x.site), x])).entries()].map(([siteId, x]) => ({
                ...pendingDelivery(`al${n}`, siteId, 1),
                status: x.first === null ? 'pending' : 'completed',
                firstSoundAt: x.first === null ? null : T + x.first,
                messageAt: x.first === null || x.message === null ? null : T + x.first + x.message,
                completedAt: x.first === null ? null : T + 20_000,
              })),
            })),
          }),
        );
        expectReportConsistent(r);
        // Bulletins agree with the lines themselves.
        const counted = asRun.filter(
          (l) => l.scheduledAt >= NOV.from && l.scheduledAt < NOV.to && items.get(l.itemId)?.kind === 'bulletin' && l.priority !== '' && l.siteId !== 'nobody',
        );
        expect(r.totals.bulletins.planned).toBe(counted.length);
      }),
      { numRuns: 200 },
    );
  });
});

// -------------------------------------------------------- a synthetic month --

describe("a synthetic month of Lào Cai's 99 communes", () => {
  const drafts = parseAreaCsv(fs.readFileSync(new URL('../../server/registry/vn-admin/lao-cai-2025.csv', import.meta.url), 'utf8'));
  const month = syntheticMonth({ drafts, period: NOV, random: mulberry32(20261130) });
  const r = buildReport(month.inputs);

  it('has a row for each of the 99 communes, with their villages', () => {
    expect(r.root.name).toBe('Tỉnh Lào Cai');
    expect(r.communes).toHaveLength(99);
    expect(r.communes.every((c) => c.villages.length >= 3)).toBe(true);
    expect(r.outside).toBeNull();
  });

  it("its bulletin figures are the as-run log's, status by status", () => {
    expect(r.totals.bulletins.byStatus).toEqual(month.asRunSummary.byStatus);
    expect(r.totals.bulletins.planned).toBe(month.asRunSummary.lines);
    // Two bulletins a day, every site, every day of November.
    expect(r.totals.bulletins.planned).toBe(2 * 30 * month.inputs.sites.length);
  });

  it('every total is derivable from its rows', () => {
    expectReportConsistent(r);
  });

  it('relays, live broadcasts and alerts all count on air; a national relay an hour a day is at most 30 hours a commune', () => {
    for (const c of r.communes) {
      expect(c.figures.airtime.byKind.relay_national).toBeLessThanOrEqual(30 * HOUR);
      expect(c.figures.airtime.byKind.relay_national).toBeGreaterThan(0);
    }
    expect(r.totals.airtime.byKind.relay_provincial).toBeGreaterThan(0);
    expect(r.totals.airtime.byKind.live).toBeGreaterThan(0);
    expect(r.totals.airtime.byKind.alert).toBeGreaterThan(0);
    expect(r.alerts.length).toBeGreaterThan(0);
    expect(r.faults.length).toBeGreaterThan(0);
  });
});
