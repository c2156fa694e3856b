import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { AreaIndex, coverageOf, coverageSnapshotRows } from '../../server/coverage/coverage.ts';
import { CoverageCounts, type CountedSite, coverageFromCounts, snapshotRowsFromCounts, timeOverrides } from '../../server/coverage/coverage-counts.ts';
import { classifySite, mayHaveWorsened } from '../../server/coverage/site-condition.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
import { DEFAULT_COVERAGE_POLICY, SITE_CONDITIONS, type SiteCondition, type SiteObservation, type SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaLevel, AreaNode, SiteKind } from '../../server/registry/model.ts';

const NOW = Date.UTC(2025, 2, 10, 7, 30);

let nextId = 1;
function area(code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextId++, key: `2025.${code}`, code, version: '2025', name, level, parentId: parent?.id ?? null };
}

// Province → 2 districts → communes → villages, one village with a hamlet below it (a village in a village).
const P = area('01', 'Tỉnh', 'province', null);
const D1 = area('01001', 'Huyện Một', 'district', P);
const D2 = area('01002', 'Huyện Hai', 'district', P);
const C1 = area('C1', 'Xã Ấp', 'commune', D1);
const C2 = area('C2', 'Xã Bình', 'commune', D1);
const C3 = area('C3', 'Xã Cà', 'commune', D2);
const V1 = area('V1', 'Thôn Một', 'village', C1);
const V2 = area('V2', 'Thôn Hai', 'village', C1);
const V3 = area('V3', 'Thôn Ba', 'village', C2);
const V4 = area('V4', 'Thôn Bốn', 'village', C3);
const H1 = area('H1', 'Xóm Một', 'village', V4);
const NODES = [P, D1, D2, C1, C2, C3, V1, V2, V3, V4, H1];
const RETIRED_AREA = 999;
const index = AreaIndex.build(NODES);

/** The full recompute: coverageOf over every counted site, with the counted conditions as verdicts. */
function recompute(sites: readonly CountedSite[], rootKey: string) {
  const obs: SiteObservation[] = sites.map(asObservation);
  const verdicts = new Map<string, SiteVerdict>(sites.map((s) => [s.siteId, { siteId: s.siteId, condition: s.condition, reasons: [] }]));
  return coverageOf(index, rootKey, obs, verdicts, NOW, DEFAULT_COVERAGE_POLICY);
}

function asObservation(s: CountedSite): SiteObservation {
  return {
    siteId: s.siteId,
    name: s.name,
    kind: s.kind,
    areaId: s.areaId,
    firstSeenAt: null,
    lastSeenAt: null,
    connected: false,
    disconnectedAt: null,
    intervalS: null,
    telemetry: null,
    lastSoundVerifiedAt: null,
    lastSoundCheck: null,
    expectsMonitorMic: false,
  };
}

function snapshotFull(sites: readonly CountedSite[], levels: ReadonlySet<AreaLevel>) {
  const verdicts = new Map<string, SiteVerdict>(sites.map((s) => [s.siteId, { siteId: s.siteId, condition: s.condition, reasons: [] }]));
  const obs = sites.map(asObservation);
  return coverageSnapshotRows(index, obs, verdicts, NOW, DEFAULT_COVERAGE_POLICY, levels);
}

const noReasons = (conditions: Map<string, SiteCondition>) => (siteId: string) => ({ siteId, condition: conditions.get(siteId)!, reasons: [] });

function expectSameAsRecompute(counts: CoverageCounts, sites: Map<string, CountedSite>, rootKey: string, limit = Number.POSITIVE_INFINITY): void {
  const full = recompute([...sites.values()], rootKey);
  const conditions = new Map([...sites.values()].map((s) => [s.siteId, s.condition]));
  const got = coverageFromCounts(counts, rootKey, NOW, limit, noReasons(conditions));
  const { failing, unverifiedSites, uncoveredVillages, ...head } = full;
  const { failing: gf, unverifiedSites: gu, uncoveredVillages: gv, failingTotal, unverifiedTotal, uncoveredVillagesTotal, ...ghead } = got;
  expect(ghead).toEqual(head);
  expect(gf).toEqual(failing.slice(0, limit));
  expect(gu).toEqual(unverifiedSites.slice(0, limit));
  expect(gv).toEqual(uncoveredVillages.slice(0, limit));
  expect([failingTotal, unverifiedTotal, uncoveredVillagesTotal]).toEqual([failing.length, unverifiedSites.length, uncoveredVillages.length]);
}

const site = (siteId: string, kind: SiteKind, at: AreaNode, condition: SiteCondition, name = siteId): CountedSite => ({ siteId, name, kind, areaId: at.id, condition });

describe('CoverageCounts', () => {
  it('starts with every village without cluster and no sites', () => {
    const c = new CoverageCounts(index);
    expect(c.countsAt(index.tin(P.id)!)).toEqual({
      sites: 0,
      operational: 0,
      degraded: 0,
      faulty: 0,
      offline: 0,
      unverified: 0,
      villages: 5,
      villagesCovered: 0,
      villagesFailing: 0,
      villagesWithoutCluster: 5,
    });
    expect(c.countsAt(index.tin(V4.id)!).villages).toBe(2);
  });

  it('adds a cluster: its village and every ancestor count it, the village becomes covered', () => {
    const c = new CoverageCounts(index);
    c.upsert(site('a', 'cluster', V1, 'operational'));
    for (const n of [V1, C1, D1, P]) {
      const k = c.countsAt(index.tin(n.id)!);
      expect([k.sites, k.operational, k.villagesCovered]).toEqual([1, 1, 1]);
    }
    expect(c.countsAt(index.tin(D2.id)!).sites).toBe(0);
  });

  it('a condition change moves the site between counts and the village between covered and failing', () => {
    const c = new CoverageCounts(index);
    c.upsert(site('a', 'cluster', V1, 'operational'));
    c.upsert(site('a', 'cluster', V1, 'offline'));
    const k = c.countsAt(index.tin(P.id)!);
    expect([k.operational, k.offline, k.villagesCovered, k.villagesFailing, k.villagesWithoutCluster]).toEqual([0, 1, 0, 1, 4]);
    const all = index.size - 1;
    expect(c.sitesInRange('offline', 0, all, 10).map((s) => s.siteId)).toEqual(['a']);
    expect(c.sitesInRange('operational', 0, all, 10)).toEqual([]);
    expect(c.countIn('operational')).toBe(0);
  });

  it('moving a site to another area takes it out of the old subtree', () => {
    const c = new CoverageCounts(index);
    c.upsert(site('a', 'cluster', V1, 'operational'));
    c.upsert(site('a', 'cluster', H1, 'operational'));
    expect(c.countsAt(index.tin(D1.id)!).sites).toBe(0);
    expect(c.countsAt(index.tin(D1.id)!).villagesCovered).toBe(0);
    // A cluster in the hamlet covers the hamlet and the village above it.
    expect(c.countsAt(index.tin(D2.id)!).villagesCovered).toBe(2);
  });

  it('removing a site, or one in an area not in the index, leaves the counts as before', () => {
    const c = new CoverageCounts(index);
    const before = c.countsAt(index.tin(P.id)!);
    c.upsert(site('a', 'station', C1, 'faulty'));
    c.upsert({ siteId: 'b', name: 'b', kind: 'cluster', areaId: RETIRED_AREA, condition: 'offline' });
    expect(c.countsAt(index.tin(P.id)!).sites).toBe(1);
    c.remove('a');
    c.remove('b');
    c.remove('never-there');
    expect(c.countsAt(index.tin(P.id)!)).toEqual(before);
    expect(c.size).toBe(0);
  });

  it('withConditions answers with the replaced conditions and puts the recorded ones back, also when it throws', () => {
    const c = new CoverageCounts(index);
    c.upsert(site('a', 'cluster', V1, 'operational'));
    const during = c.withConditions([{ siteId: 'a', condition: 'offline' }], () => c.countsAt(index.tin(P.id)!));
    expect([during.offline, during.villagesCovered]).toEqual([1, 0]);
    expect(() =>
      c.withConditions([{ siteId: 'a', condition: 'faulty' }], () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const after = c.countsAt(index.tin(P.id)!);
    expect([after.operational, after.offline, after.faulty, after.villagesCovered]).toEqual([1, 0, 0, 1]);
  });

  it('timeOverrides names the sites time alone made worse: a live site silent past two intervals is offline', () => {
    const o: SiteObservation = {
      siteId: 'a',
      name: 'a',
      kind: 'cluster',
      areaId: V1.id,
      firstSeenAt: NOW - 86_400_000,
      lastSeenAt: NOW,
      connected: true,
      disconnectedAt: null,
      intervalS: 30,
      telemetry: healthyTelemetry('a', 1, { monitorMic: false }),
      lastSoundVerifiedAt: NOW,
      lastSoundCheck: null,
      expectsMonitorMic: false,
    };
    const c = CoverageCounts.build(index, [{ ...site('a', 'cluster', V1, 'operational'), obs: o }, site('b', 'cluster', V2, 'operational')]);
    expect(timeOverrides(c, NOW + 60_000, DEFAULT_COVERAGE_POLICY)).toEqual([]);
    expect(timeOverrides(c, NOW + 60_001, DEFAULT_COVERAGE_POLICY)).toEqual([{ siteId: 'a', condition: 'offline' }]);
    // A heartbeat moves lastSeenAt in place (no event): the site is live again.
    o.lastSeenAt = NOW + 60_000;
    expect(timeOverrides(c, NOW + 60_001, DEFAULT_COVERAGE_POLICY)).toEqual([]);
  });

  it('a report cuts its lists to the limit, worst first, and asks for reasons only of the sites it lists', () => {
    const sites = new Map<string, CountedSite>();
    const c = new CoverageCounts(index);
    const add = (s: CountedSite) => {
      sites.set(s.siteId, s);
      c.upsert(s);
    };
    add(site('a', 'cluster', V1, 'degraded', 'Ấp A'));
    add(site('b', 'cluster', V2, 'offline', 'Bình B'));
    add(site('c', 'station', C3, 'faulty', 'Cà C'));
    add(site('d', 'cluster', V3, 'unverified', 'Đông D'));
    const asked: string[] = [];
    const r = coverageFromCounts(c, P.key, NOW, 2, (id) => {
      asked.push(id);
      return { siteId: id, condition: sites.get(id)!.condition, reasons: [] };
    });
    expect(r.failing.map((f) => f.siteId)).toEqual(['b', 'c']);
    expect(asked).toEqual(['b', 'c']);
    expect([r.failingTotal, r.unverifiedTotal, r.uncoveredVillagesTotal]).toEqual([3, 1, 5]);
    expect(r.uncoveredVillages).toHaveLength(2);
    expectSameAsRecompute(c, sites, P.key, 2);
  });

  it('after any sequence of adds, moves, renames, condition changes and removals the counts and lists equal a full recompute', () => {
    const areas = [...NODES, { id: RETIRED_AREA } as AreaNode];
    const op = fc.oneof(
      fc.record({
        t: fc.constant('upsert' as const),
        i: fc.integer({ min: 0, max: 11 }),
        area: fc.integer({ min: 0, max: areas.length - 1 }),
        kind: fc.constantFrom<SiteKind>('cluster', 'station'),
        condition: fc.constantFrom(...SITE_CONDITIONS),
        name: fc.constantFrom('Ấp', 'Bình', 'an', 'Ă', 'Đồng 2', 'Đồng 10'),
      }),
      fc.record({ t: fc.constant('remove' as const), i: fc.integer({ min: 0, max: 11 }) }),
      // A report between changes: the list order kept from it must follow the changes after it.
      fc.record({ t: fc.constant('report' as const), area: fc.integer({ min: 0, max: NODES.length - 1 }), limit: fc.integer({ min: 0, max: 6 }) }),
    );
    // One replacement per site at most, as timeOverrides gives them.
    const replacement = fc.uniqueArray(fc.record({ i: fc.integer({ min: 0, max: 11 }), condition: fc.constantFrom(...SITE_CONDITIONS) }), {
      maxLength: 5,
      selector: (r) => r.i,
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 6 }), replacement, (ops, limit, replaced) => {
        const c = new CoverageCounts(index);
        const sites = new Map<string, CountedSite>();
        for (const o of ops) {
          if (o.t === 'report') {
            expectSameAsRecompute(c, sites, NODES[o.area]!.key, o.limit);
            continue;
          }
          const siteId = `s${o.i}`;
          if (o.t === 'remove') {
            c.remove(siteId);
            sites.delete(siteId);
            continue;
          }
          const s: CountedSite = { siteId, name: o.name, kind: o.kind, areaId: areas[o.area]!.id, condition: o.condition };
          c.upsert(s);
          sites.set(siteId, s);
        }
        for (const n of NODES) expectSameAsRecompute(c, sites, n.key);
        expectSameAsRecompute(c, sites, P.key, limit);
        // Conditions replaced for one answer (what time alone changed): the answer of those conditions, then the recorded ones again.
        const overrides = replaced.filter((r) => sites.has(`s${r.i}`)).map((r) => ({ siteId: `s${r.i}`, condition: r.condition }));
        const during = new Map(sites);
        for (const o of overrides) during.set(o.siteId, { ...during.get(o.siteId)!, condition: o.condition });
        c.withConditions(overrides, () => {
          for (const n of NODES) expectSameAsRecompute(c, during, n.key);
          expectSameAsRecompute(c, during, P.key, limit);
        });
        for (const n of NODES) expectSameAsRecompute(c, sites, n.key);
        const all = new Set<AreaLevel>(['province', 'district', 'commune', 'village']);
        expect(snapshotRowsFromCounts(c, NOW, all)).toEqual(snapshotFull([...sites.values()], all));
        // Built at once from the final sites: the same counts.
        const built = CoverageCounts.build(index, sites.values());
        for (let p = 0; p < index.size; p++) expect(built.countsAt(p)).toEqual(c.countsAt(p));
      }),
      { numRuns: 200 },
    );
  });
});

describe('mayHaveWorsened', () => {
  const policy = DEFAULT_COVERAGE_POLICY;
  const MIN = 60_000;
  const DAY = 86_400_000;

  it('says no for a site that stays as classified later, and yes once it goes silent', () => {
    const o: SiteObservation = {
      siteId: 's',
      name: 's',
      kind: 'cluster',
      areaId: V1.id,
      firstSeenAt: NOW - DAY,
      lastSeenAt: NOW,
      connected: true,
      disconnectedAt: null,
      intervalS: 30,
      telemetry: healthyTelemetry('s', 1, { monitorMic: false }),
      lastSoundVerifiedAt: NOW,
      lastSoundCheck: null,
      expectsMonitorMic: false,
    };
    const c = classifySite(o, NOW, policy).condition;
    expect(c).toBe('operational');
    expect(mayHaveWorsened(o, c, NOW + 60_000, policy)).toBe(false);
    expect(mayHaveWorsened(o, c, NOW + 60_001, policy)).toBe(true);
  });

  it('whenever it says no, classifying later gives the condition recorded earlier (time only makes verdicts worse)', () => {
    fc.assert(
      fc.property(
        fc.record({
          heard: fc.boolean(),
          connected: fc.boolean(),
          seenAgo: fc.integer({ min: 0, max: 10 * MIN }),
          intervalS: fc.constantFrom(null, 5, 30, 120),
          mic: fc.boolean(),
          expectsMic: fc.boolean(),
          withTelemetry: fc.boolean(),
          verifiedAgo: fc.option(fc.integer({ min: 0, max: 10 * DAY })),
          config: fc.option(fc.record({ dueIn: fc.integer({ min: -2 * MIN, max: 2 * MIN }), held: fc.boolean() })),
          signal: fc.constantFrom(-80, -120),
        }),
        fc.integer({ min: 0, max: 8 * DAY }),
        (x, later) => {
          const t = healthyTelemetry('s', 1, { monitorMic: x.mic, link: { type: '4g', signalDbm: x.signal }, ...(x.config?.held ? { config: { revision: 3, hash: 'h3' } } : {}) });
          const o: SiteObservation = {
            siteId: 's',
            name: 's',
            kind: 'cluster',
            areaId: V1.id,
            firstSeenAt: x.heard ? NOW - DAY : null,
            lastSeenAt: x.heard ? NOW - x.seenAgo : null,
            connected: x.connected,
            disconnectedAt: x.connected ? null : NOW - x.seenAgo,
            intervalS: x.intervalS,
            telemetry: x.withTelemetry ? t : null,
            lastSoundVerifiedAt: x.verifiedAgo === null ? null : NOW - x.verifiedAgo,
            lastSoundCheck: null,
            expectsMonitorMic: x.expectsMic,
            ...(x.config ? { expectedConfig: { revision: 3, hash: 'h3', dueAt: NOW + x.config.dueIn } } : {}),
          };
          const recorded = classifySite(o, NOW, policy).condition;
          if (!mayHaveWorsened(o, recorded, NOW + later, policy)) expect(classifySite(o, NOW + later, policy).condition).toBe(recorded);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
