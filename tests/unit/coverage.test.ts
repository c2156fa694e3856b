import { describe, expect, it } from 'vitest';
import {
  AreaIndex,
  UnknownAreaError,
  classifyAll,
  coverageOf,
  coverageSnapshotRows,
  headlineCondition,
  sitesOutsideIndex,
  vietnameseSortKey,
} from '../../server/coverage/coverage.ts';
import { DEFAULT_COVERAGE_POLICY, type SiteCondition, type SiteObservation, type SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaLevel, AreaNode, SiteKind } from '../../server/registry/model.ts';

const NOW = Date.UTC(2025, 2, 10, 7, 30);
const policy = DEFAULT_COVERAGE_POLICY;

let nextId = 1;
function area(code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextId++, key: `2025.${code}`, code, version: '2025', name, level, parentId: parent?.id ?? null };
}

function obs(siteId: string, kind: SiteKind, at: AreaNode | number, name = siteId): SiteObservation {
  return {
    siteId,
    name,
    kind,
    areaId: typeof at === 'number' ? at : at.id,
    firstSeenAt: NOW - 86_400_000,
    lastSeenAt: NOW - 1000,
    connected: true,
    disconnectedAt: null,
    intervalS: 30,
    telemetry: null,
    lastSoundVerifiedAt: NOW - 3_600_000,
    lastSoundCheck: null,
    expectsMonitorMic: false,
  };
}

function verdicts(map: Record<string, SiteCondition>): Map<string, SiteVerdict> {
  const m = new Map<string, SiteVerdict>();
  for (const [siteId, condition] of Object.entries(map)) {
    const reasons: SiteVerdict['reasons'] =
      condition === 'operational' || condition === 'unverified'
        ? []
        : [{ code: condition === 'offline' ? 'offline' : 'line_open', params: {}, message: condition, severity: condition }];
    m.set(siteId, { siteId, condition, reasons });
  }
  return m;
}

/**
 * Three-level tree (province → district → commune → village):
 *   P
 *   ├─ D1
 *   │  ├─ C1: villages V1, V2, V3
 *   │  └─ C2: villages V4
 *   └─ D2
 *      └─ C3: (no villages)
 */
function threeLevel() {
  const P = area('01', 'Tỉnh Thử', 'province', null);
  const D1 = area('001', 'Huyện Một', 'district', P);
  const D2 = area('002', 'Huyện Hai', 'district', P);
  const C1 = area('00001', 'Xã Một', 'commune', D1);
  const C2 = area('00002', 'Xã Hai', 'commune', D1);
  const C3 = area('00003', 'Xã Ba', 'commune', D2);
  const V1 = area('00001.01', 'Thôn Đông', 'village', C1);
  const V2 = area('00001.02', 'Thôn Tây', 'village', C1);
  const V3 = area('00001.03', 'Thôn Bắc', 'village', C1);
  const V4 = area('00002.01', 'Thôn Nam', 'village', C2);
  const nodes = [V4, P, C3, D1, V2, D2, C1, V1, V3, C2]; // any order
  return { P, D1, D2, C1, C2, C3, V1, V2, V3, V4, index: AreaIndex.build(nodes) };
}

describe('AreaIndex', () => {
  it('knows children, ancestors, subtrees and villages whatever order the nodes come in', () => {
    const t = threeLevel();
    expect(t.index.roots.map((n) => n.key)).toEqual([t.P.key]);
    expect(t.index.children(t.P.id).map((n) => n.name)).toEqual(['Huyện Một', 'Huyện Hai']);
    expect(t.index.children(t.C1.id).map((n) => n.name)).toEqual(['Thôn Đông', 'Thôn Tây', 'Thôn Bắc']);
    expect(t.index.ancestors(t.V2.id).map((n) => n.name)).toEqual(['Xã Một', 'Huyện Một', 'Tỉnh Thử']);
    expect([...t.index.subtree(t.D1.id)].map((n) => n.name)).toEqual(['Huyện Một', 'Xã Một', 'Thôn Đông', 'Thôn Tây', 'Thôn Bắc', 'Xã Hai', 'Thôn Nam']);
    expect(t.index.villages.map((n) => n.name)).toEqual(['Thôn Đông', 'Thôn Tây', 'Thôn Bắc', 'Thôn Nam']);
    expect(t.index.get('2025.00002')).toBe(t.C2);
    expect(t.index.isInSubtree(t.V4.id, t.D1.id)).toBe(true);
    expect(t.index.isInSubtree(t.V4.id, t.D2.id)).toBe(false);
    expect(t.index.size).toBe(10);
  });

  it('a node whose parent was retired (not passed in) becomes a root; a parent cycle is left out', () => {
    const P = area('90', 'P', 'province', null);
    const orphan: AreaNode = { ...area('91', 'Mồ côi', 'commune', null), parentId: 99_999 };
    const a: AreaNode = { ...area('92', 'A', 'commune', null) };
    const b: AreaNode = { ...area('93', 'B', 'commune', null), parentId: a.id };
    a.parentId = b.id;
    const idx = AreaIndex.build([P, orphan, a, b]);
    expect(idx.roots.map((n) => n.name).sort()).toEqual(['Mồ côi', 'P']);
    expect(idx.unreachable.map((n) => n.name).sort()).toEqual(['A', 'B']);
  });
});

describe('coverageOf', () => {
  it('counts each site in every area of its ancestry, for the root and each direct child', () => {
    const t = threeLevel();
    const sites = [obs('st-c1', 'station', t.C1), obs('cl-v1', 'cluster', t.V1), obs('cl-v2', 'cluster', t.V2), obs('cl-v4', 'cluster', t.V4), obs('st-c3', 'station', t.C3)];
    const v = verdicts({ 'st-c1': 'operational', 'cl-v1': 'operational', 'cl-v2': 'degraded', 'cl-v4': 'offline', 'st-c3': 'unverified' });
    const r = coverageOf(t.index, t.P.key, sites, v, NOW, policy);
    expect(r).toMatchObject({
      at: NOW,
      area: { key: t.P.key, code: '01', version: '2025', name: 'Tỉnh Thử', level: 'province' },
      sites: 5,
      operational: 2,
      degraded: 1,
      faulty: 0,
      offline: 1,
      unverified: 1,
      operationalShare: 2 / 5,
      villages: 4,
      villagesCovered: 1,
      villagesFailing: 2,
      villagesWithoutCluster: 1,
      villageShare: 1 / 4,
    });
    expect(r.children.map((c) => [c.area.name, c.sites, c.operational, c.villages, c.villagesCovered])).toEqual([
      ['Huyện Một', 4, 2, 4, 1],
      ['Huyện Hai', 1, 0, 0, 0],
    ]);
  });

  it('a village is covered only by an operational cluster; degraded or faulty clusters leave it failing', () => {
    const t = threeLevel();
    const sites = [obs('a', 'cluster', t.V1), obs('b', 'cluster', t.V1), obs('c', 'cluster', t.V2), obs('d', 'cluster', t.V3)];
    const r = coverageOf(t.index, t.C1.key, sites, verdicts({ a: 'faulty', b: 'operational', c: 'faulty', d: 'degraded' }), NOW, policy);
    expect(r.villagesCovered).toBe(1); // V1: one of two clusters works
    expect(r.villagesFailing).toBe(2);
    expect(r.uncoveredVillages).toEqual([
      { key: t.V2.key, name: 'Thôn Tây', reason: 'no_operational_cluster' },
      { key: t.V3.key, name: 'Thôn Bắc', reason: 'no_operational_cluster' },
    ]);
  });

  it('a village with only a faulty cluster is failing, not "without cluster"', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.C2.key, [obs('x', 'cluster', t.V4)], verdicts({ x: 'faulty' }), NOW, policy);
    expect(r).toMatchObject({ villages: 1, villagesCovered: 0, villagesFailing: 1, villagesWithoutCluster: 0, villageShare: 0 });
    expect(r.uncoveredVillages).toEqual([{ key: t.V4.key, name: 'Thôn Nam', reason: 'no_operational_cluster' }]);
  });

  it('a never-heard cluster does not cover its village', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.C2.key, [obs('x', 'cluster', t.V4)], verdicts({ x: 'unverified' }), NOW, policy);
    expect(r.villagesFailing).toBe(1);
    expect(r.unverifiedSites).toEqual([{ siteId: 'x', name: 'x', areaKey: t.V4.key }]);
    expect(r.failing).toEqual([]);
  });

  it('an operational station in a commune covers no village: villages are heard through their clusters', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.C1.key, [obs('st', 'station', t.C1)], verdicts({ st: 'operational' }), NOW, policy);
    expect(r).toMatchObject({ sites: 1, operational: 1, operationalShare: 1, villages: 3, villagesCovered: 0, villagesWithoutCluster: 3 });
    expect(r.uncoveredVillages.map((u) => u.reason)).toEqual(['no_cluster', 'no_cluster', 'no_cluster']);
  });

  it('a station placed in a village does not cover it either', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.C2.key, [obs('st', 'station', t.V4)], verdicts({ st: 'operational' }), NOW, policy);
    expect(r.villagesWithoutCluster).toBe(1);
  });

  it('works on a two-level tree (province → commune → village, no districts)', () => {
    const P = area('02', 'Tỉnh Hai Cấp', 'province', null);
    const C = area('02001', 'Phường Một', 'commune', P);
    const V = area('02001.01', 'Tổ dân phố 1', 'village', C);
    const idx = AreaIndex.build([P, C, V]);
    const r = coverageOf(idx, P.key, [obs('k', 'cluster', V)], verdicts({ k: 'operational' }), NOW, policy);
    expect(r.children.map((c) => [c.area.level, c.villagesCovered])).toEqual([['commune', 1]]);
    expect(r.villageShare).toBe(1);
  });

  it('a cluster in a sub-area of a village counts for the village', () => {
    const P = area('03', 'P', 'province', null);
    const V = area('03.01', 'Thôn', 'village', P);
    const H = area('03.01.1', 'Xóm', 'commune', V); // unusual, but the subtree rule holds
    const idx = AreaIndex.build([P, V, H]);
    const r = coverageOf(idx, P.key, [obs('k', 'cluster', H)], verdicts({ k: 'operational' }), NOW, policy);
    expect(r.villagesCovered).toBe(1);
  });

  it('lists failing sites worst first (offline, faulty, degraded), then by Vietnamese name; unverified apart', () => {
    const t = threeLevel();
    const sites = [
      obs('s1', 'cluster', t.V1, 'Cụm Bắc'),
      obs('s2', 'cluster', t.V1, 'Cụm An'),
      obs('s3', 'cluster', t.V2, 'Cụm Đông'),
      obs('s4', 'cluster', t.V2, 'Cụm Dương'),
      obs('s5', 'cluster', t.V3, 'Cụm Ấp'),
      obs('s6', 'cluster', t.V3, 'Cụm Zê'),
      obs('s7', 'station', t.C1, 'Đài Xã'),
    ];
    const v = verdicts({ s1: 'degraded', s2: 'degraded', s3: 'faulty', s4: 'offline', s5: 'unverified', s6: 'operational', s7: 'faulty' });
    const r = coverageOf(t.index, t.C1.key, sites, v, NOW, policy);
    expect(r.failing.map((f) => [f.siteId, f.condition])).toEqual([
      ['s4', 'offline'],
      ['s3', 'faulty'], // "Cụm Đông" before "Đài Xã"
      ['s7', 'faulty'],
      ['s2', 'degraded'],
      ['s1', 'degraded'],
    ]);
    expect(r.failing[0]).toMatchObject({ name: 'Cụm Dương', areaKey: t.V2.key, reasons: [{ code: 'offline' }] });
    expect(r.unverifiedSites).toEqual([{ siteId: 's5', name: 'Cụm Ấp', areaKey: t.V3.key }]);
  });

  it('an unknown or retired root key throws UnknownAreaError', () => {
    const t = threeLevel();
    expect(() => coverageOf(t.index, '2020.01', [], new Map(), NOW, policy)).toThrow(UnknownAreaError);
    try {
      coverageOf(t.index, 'nope', [], new Map(), NOW, policy);
    } catch (e) {
      expect(e).toBeInstanceOf(UnknownAreaError);
      expect((e as UnknownAreaError).areaKey).toBe('nope');
      expect((e as UnknownAreaError).code).toBe('unknown_area');
    }
  });

  it('sites in a retired or unknown area are counted nowhere', () => {
    const t = threeLevel();
    const sites = [obs('ok', 'cluster', t.V1), obs('lost', 'cluster', 424_242)];
    const r = coverageOf(t.index, t.P.key, sites, verdicts({ ok: 'operational', lost: 'faulty' }), NOW, policy);
    expect(r.sites).toBe(1);
    expect(r.failing).toEqual([]);
    expect(sitesOutsideIndex(t.index, sites).map((s) => s.siteId)).toEqual(['lost']);
  });

  it('shares are null when there is nothing to divide by', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.C3.key, [], new Map(), NOW, policy);
    expect(r).toMatchObject({ sites: 0, villages: 0, operationalShare: null, villageShare: null, children: [] });
  });

  it('classifies a site the verdict map lacks, and accepts a function instead of a map', () => {
    const t = threeLevel();
    const s = obs('fresh', 'cluster', t.V4);
    expect(coverageOf(t.index, t.C2.key, [s], new Map(), NOW, policy).villagesCovered).toBe(1);
    const silent = { ...s, lastSeenAt: NOW - 10 * 60_000 };
    expect(coverageOf(t.index, t.C2.key, [silent], new Map(), NOW, policy).offline).toBe(1);
    const r = coverageOf(t.index, t.C2.key, [s], () => ({ siteId: 'fresh', condition: 'faulty', reasons: [] }), NOW, policy);
    expect(r.faulty).toBe(1);
  });

  it('sites outside the root are ignored', () => {
    const t = threeLevel();
    const r = coverageOf(t.index, t.D2.key, [obs('a', 'cluster', t.V1)], verdicts({ a: 'faulty' }), NOW, policy);
    expect(r.sites).toBe(0);
    expect(r.failing).toEqual([]);
  });
});

describe('coverageSnapshotRows', () => {
  it('gives one row per commune-or-higher area, matching coverageOf', () => {
    const t = threeLevel();
    const sites = [obs('a', 'cluster', t.V1), obs('b', 'cluster', t.V4), obs('c', 'station', t.C3)];
    const v = classifyAll(sites, NOW, policy);
    const rows = coverageSnapshotRows(t.index, sites, v, NOW, policy);
    expect(rows.map((r) => r.areaKey)).toEqual([t.P.key, t.D1.key, t.C1.key, t.C2.key, t.D2.key, t.C3.key]);
    for (const row of rows) {
      const r = coverageOf(t.index, row.areaKey, sites, v, NOW, policy);
      expect(row).toMatchObject({
        at: NOW,
        sites: r.sites,
        operational: r.operational,
        villages: r.villages,
        villagesCovered: r.villagesCovered,
        villagesFailing: r.villagesFailing,
        villagesWithoutCluster: r.villagesWithoutCluster,
      });
    }
  });

  it('is empty for an empty index', () => {
    expect(coverageSnapshotRows(AreaIndex.build([]), [], new Map(), NOW, policy)).toEqual([]);
  });
});

describe('vietnameseSortKey', () => {
  const sorted = (names: string[]) => [...names].sort((a, b) => (vietnameseSortKey(a) < vietnameseSortKey(b) ? -1 : 1));

  it('orders by the Vietnamese alphabet: a ă â b c d đ e ê … o ô ơ … u ư', () => {
    expect(sorted(['Ư', 'u', 'ơ', 'Ô', 'o', 'Đ', 'd', 'ê', 'e', 'â', 'Ă', 'a'])).toEqual(['a', 'Ă', 'â', 'd', 'Đ', 'e', 'ê', 'o', 'Ô', 'ơ', 'u', 'Ư']);
    expect(sorted(['Thôn Đông', 'Thôn Dương', 'Thôn Ấp'])).toEqual(['Thôn Ấp', 'Thôn Dương', 'Thôn Đông']);
  });

  it('tones only break ties, in the traditional order (ngang, huyền, hỏi, ngã, sắc, nặng)', () => {
    expect(sorted(['mạ', 'má', 'mã', 'mả', 'mà', 'ma'])).toEqual(['ma', 'mà', 'mả', 'mã', 'má', 'mạ']);
    expect(sorted(['Bá B', 'Ba C'])).toEqual(['Bá B', 'Ba C']);
  });

  it('compares numbers by value', () => {
    expect(sorted(['Cụm 10', 'Cụm 9', 'Cụm 09a', 'Cụm 100'])).toEqual(['Cụm 9', 'Cụm 09a', 'Cụm 10', 'Cụm 100']);
  });

  it('is the same for composed and decomposed input', () => {
    expect(vietnameseSortKey('Thôn Đặng'.normalize('NFD'))).toBe(vietnameseSortKey('Thôn Đặng'.normalize('NFC')));
  });
});

describe('headlineCondition', () => {
  it('is the worst condition present', () => {
    const base = { sites: 3, operational: 1, degraded: 1, faulty: 0, offline: 0, unverified: 1 };
    expect(headlineCondition(base)).toBe('degraded');
    expect(headlineCondition({ ...base, faulty: 1 })).toBe('faulty');
    expect(headlineCondition({ ...base, offline: 1 })).toBe('offline');
    expect(headlineCondition({ sites: 1, operational: 0, degraded: 0, faulty: 0, offline: 0, unverified: 1 })).toBe('unverified');
  });
});

describe('scale', () => {
  // Speed is measured by tests/bench/coverage-compute.ts, never asserted here.
  it('counts a 3,000-site / 2,000-village province completely', () => {
    const P = area('99', 'P', 'province', null);
    const nodes: AreaNode[] = [P];
    const sites: SiteObservation[] = [];
    for (let d = 0; d < 10; d++) {
      const D = area(`99${d}`, `D${d}`, 'district', P);
      nodes.push(D);
      for (let c = 0; c < 20; c++) {
        const C = area(`99${d}.${c}`, `C${c}`, 'commune', D);
        nodes.push(C);
        sites.push(obs(`st-${d}-${c}`, 'station', C));
        for (let v = 0; v < 10; v++) {
          const V = area(`99${d}.${c}.${v}`, `V${v}`, 'village', C);
          nodes.push(V);
          if (v < 9) sites.push(obs(`cl-${d}-${c}-${v}`, 'cluster', V));
        }
      }
    }
    for (let i = 0; sites.length < 3000; i++) sites.push(obs(`ex-${i}`, 'cluster', nodes[nodes.length - 1 - (i % 50)]!));
    const idx = AreaIndex.build(nodes);
    coverageOf(idx, P.key, sites, new Map(), NOW, policy); // warm up
    const r = coverageOf(idx, P.key, sites, classifyAll(sites, NOW, policy), NOW, policy);
    expect(r.villages).toBe(2000);
    expect(r.sites).toBe(3000);
    expect(r.children.reduce((n, c) => n + c.sites, 0)).toBe(3000);
  });
});
