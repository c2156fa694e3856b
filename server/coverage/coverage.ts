/**
 * Coverage of an area: how many sites are in each condition, and which
 * villages can hear an announcement right now.
 *
 * An `AreaIndex` is built once from the current (non-retired) `AreaNode`s and
 * lays the tree out in preorder (an Euler tour): every node gets a position
 * `tin` and the last position of its subtree `tout`, so "area A is in the
 * subtree of B" is `tin[B] <= tin[A] <= tout[B]`. A coverage computation then:
 *
 *   1. assigns each site to the position of its area (one Map lookup),
 *   2. adds its verdict to per-position counters (typed arrays),
 *   3. sweeps the positions of the root's subtree from last to first, adding
 *      each node's totals to its parent (children always come after their
 *      parent in preorder, so one backward pass yields every subtree total).
 *
 * That is O(sites + areas in the root's subtree) per call, with no per-call
 * Maps or recursion; `coverageSnapshotRows` reuses the same pass for every
 * area at once.
 *
 * Village rule: a village is an AreaNode with level 'village'. It is covered
 * iff at least one site of kind 'cluster' in its subtree is operational;
 * failing if it has clusters but none is operational; without cluster if no
 * cluster is registered in it. A commune station does not cover villages
 * (its sound reaches them through the clusters). Unverified clusters count as
 * clusters that are not operational.
 *
 * Sites whose areaId is not in the index (a retired or unknown area) are not
 * counted anywhere; `sitesOutsideIndex` lists them for a data-quality view.
 */
import type { AreaCoverage, ConditionCounts, CoveragePolicy, CoverageReport, SiteCondition, SiteObservation, SiteVerdict, VillageFigures } from './model.ts';
import type { AreaLevel, AreaNode } from '../registry/model.ts';
import { classifySite } from './site-condition.ts';

/** The root key of a coverage request names no (current) area. Callers map it to 404. */
export class UnknownAreaError extends Error {
  override readonly name = 'UnknownAreaError';
  readonly code = 'unknown_area';
  constructor(readonly areaKey: string) {
    super(`unknown area ${areaKey}`);
  }
}

/** Verdicts by siteId, or a function giving one. A site the map lacks is classified on the spot. */
export type VerdictSource = ReadonlyMap<string, SiteVerdict> | ((site: SiteObservation) => SiteVerdict);

// ------------------------------------------------------------ the index ----

export class AreaIndex {
  /** Nodes in preorder (Euler tour order); `order[tin(n)] === n`. */
  readonly order: readonly AreaNode[];
  readonly byId: ReadonlyMap<number, AreaNode>;
  readonly byKey: ReadonlyMap<string, AreaNode>;
  /** Top-level nodes: no parent, or a parent that is not in the index. */
  readonly roots: readonly AreaNode[];
  /** Every village, in tree order. */
  readonly villages: readonly AreaNode[];
  /** Nodes that are not reachable from a root (a parent cycle); ignored everywhere. */
  readonly unreachable: readonly AreaNode[];

  private readonly pos: Map<number, number>;
  private readonly tout: Int32Array;
  /** Position of the parent, -1 for a root. */
  private readonly parentPos: Int32Array;
  private readonly childIds: Map<number, AreaNode[]>;

  private constructor(nodes: readonly AreaNode[]) {
    const byId = new Map<number, AreaNode>();
    const byKey = new Map<string, AreaNode>();
    for (const n of nodes) {
      byId.set(n.id, n);
      byKey.set(n.key, n);
    }
    const childIds = new Map<number, AreaNode[]>();
    const roots: AreaNode[] = [];
    for (const n of nodes) {
      if (n.parentId === null || !byId.has(n.parentId) || n.parentId === n.id) {
        roots.push(n);
        continue;
      }
      let list = childIds.get(n.parentId);
      if (!list) childIds.set(n.parentId, (list = []));
      list.push(n);
    }
    const byCodeThenName = (a: AreaNode, b: AreaNode) => (a.code < b.code ? -1 : a.code > b.code ? 1 : a.id - b.id);
    roots.sort(byCodeThenName);
    for (const list of childIds.values()) list.sort(byCodeThenName);

    // Iterative preorder walk.
    const order: AreaNode[] = [];
    const pos = new Map<number, number>();
    const tout = new Int32Array(nodes.length);
    const parentPos = new Int32Array(nodes.length);
    const stack: Array<{ node: AreaNode; parent: number; exit: boolean }> = [];
    for (let r = roots.length - 1; r >= 0; r--) stack.push({ node: roots[r]!, parent: -1, exit: false });
    while (stack.length > 0) {
      const top = stack.pop()!;
      if (top.exit) {
        tout[pos.get(top.node.id)!] = order.length - 1;
        continue;
      }
      if (pos.has(top.node.id)) continue;
      const p = order.length;
      pos.set(top.node.id, p);
      order.push(top.node);
      parentPos[p] = top.parent;
      stack.push({ node: top.node, parent: top.parent, exit: true });
      const kids = childIds.get(top.node.id);
      if (kids) for (let k = kids.length - 1; k >= 0; k--) stack.push({ node: kids[k]!, parent: p, exit: false });
    }

    this.order = order;
    this.byId = byId;
    this.byKey = byKey;
    this.roots = roots;
    this.villages = order.filter((n) => n.level === 'village');
    this.unreachable = nodes.filter((n) => !pos.has(n.id));
    this.pos = pos;
    this.tout = tout;
    this.parentPos = parentPos;
    this.childIds = childIds;
  }

  /** Build once from the current areas (retired areas are simply not passed in). */
  static build(nodes: readonly AreaNode[]): AreaIndex {
    return new AreaIndex(nodes);
  }

  get size(): number {
    return this.order.length;
  }

  get(key: string): AreaNode | undefined {
    return this.byKey.get(key);
  }

  /** Preorder position, or undefined for an area not in the index. */
  tin(id: number): number | undefined {
    return this.pos.get(id);
  }

  /** Last preorder position of the subtree (inclusive). */
  toutOf(id: number): number | undefined {
    const p = this.pos.get(id);
    return p === undefined ? undefined : this.tout[p];
  }

  parentPosition(position: number): number {
    return this.parentPos[position] ?? -1;
  }

  children(id: number): readonly AreaNode[] {
    return this.childIds.get(id) ?? [];
  }

  /** Ancestors nearest first (parent, grandparent, …, root). */
  ancestors(id: number): AreaNode[] {
    const out: AreaNode[] = [];
    let p = this.pos.get(id);
    if (p === undefined) return out;
    p = this.parentPos[p]!;
    while (p >= 0) {
      out.push(this.order[p]!);
      p = this.parentPos[p]!;
    }
    return out;
  }

  /** Whether area `id` is `ancestorId` or lies below it. */
  isInSubtree(id: number, ancestorId: number): boolean {
    const a = this.pos.get(ancestorId);
    const p = this.pos.get(id);
    return a !== undefined && p !== undefined && p >= a && p <= this.tout[a]!;
  }

  /** The node and everything below it, in preorder. */
  *subtree(id: number): Generator<AreaNode> {
    const a = this.pos.get(id);
    if (a === undefined) return;
    const end = this.tout[a]!;
    for (let p = a; p <= end; p++) yield this.order[p]!;
  }
}

// ---------------------------------------------------------- aggregation ----

const COND_INDEX: Record<SiteCondition, number> = { operational: 0, degraded: 1, faulty: 2, offline: 3, unverified: 4 };

/** Per-position totals over one subtree range [start, end]; index = position − start. */
interface RangeTotals {
  start: number;
  end: number;
  /** 5 counters per position: operational, degraded, faulty, offline, unverified. */
  cond: Int32Array;
  /** 4 per position: villages, covered, failing, withoutCluster. */
  vil: Int32Array;
  /** Per position: own clusters / own operational clusters (before the sweep, for villages). */
  clusters: Int32Array;
  opClusters: Int32Array;
}

function resolveVerdict(verdicts: VerdictSource, site: SiteObservation, now: number, policy: CoveragePolicy): SiteVerdict {
  if (typeof verdicts === 'function') return verdicts(site);
  return verdicts.get(site.siteId) ?? classifySite(site, now, policy);
}

function aggregateRange(
  index: AreaIndex,
  start: number,
  end: number,
  sites: readonly SiteObservation[],
  verdictOf: (site: SiteObservation, position: number) => SiteVerdict,
): RangeTotals {
  const n = end - start + 1;
  const cond = new Int32Array(n * 5);
  const vil = new Int32Array(n * 4);
  const clusters = new Int32Array(n);
  const opClusters = new Int32Array(n);

  for (const site of sites) {
    const p = index.tin(site.areaId);
    if (p === undefined || p < start || p > end) continue;
    const i = p - start;
    const v = verdictOf(site, p);
    cond[i * 5 + COND_INDEX[v.condition]]!++;
    if (site.kind === 'cluster') {
      clusters[i]!++;
      if (v.condition === 'operational') opClusters[i]!++;
    }
  }

  // Backward sweep: children come after their parent in preorder.
  for (let i = n - 1; i >= 0; i--) {
    const node = index.order[start + i]!;
    if (node.level === 'village') {
      vil[i * 4]!++;
      if (opClusters[i]! > 0) vil[i * 4 + 1]!++;
      else if (clusters[i]! > 0) vil[i * 4 + 2]!++;
      else vil[i * 4 + 3]!++;
    }
    const pp = index.parentPosition(start + i);
    if (pp < start || i === 0) continue;
    const j = pp - start;
    for (let k = 0; k < 5; k++) cond[j * 5 + k]! += cond[i * 5 + k]!;
    for (let k = 0; k < 4; k++) vil[j * 4 + k]! += vil[i * 4 + k]!;
    // Clusters roll up too, so a village containing sub-areas sees their clusters.
    clusters[j]! += clusters[i]!;
    opClusters[j]! += opClusters[i]!;
  }
  return { start, end, cond, vil, clusters, opClusters };
}

function areaCoverageAt(index: AreaIndex, t: RangeTotals, position: number): AreaCoverage {
  const node = index.order[position]!;
  const i = position - t.start;
  const c = t.cond;
  const counts: ConditionCounts = {
    sites: c[i * 5]! + c[i * 5 + 1]! + c[i * 5 + 2]! + c[i * 5 + 3]! + c[i * 5 + 4]!,
    operational: c[i * 5]!,
    degraded: c[i * 5 + 1]!,
    faulty: c[i * 5 + 2]!,
    offline: c[i * 5 + 3]!,
    unverified: c[i * 5 + 4]!,
  };
  const v: VillageFigures = {
    villages: t.vil[i * 4]!,
    villagesCovered: t.vil[i * 4 + 1]!,
    villagesFailing: t.vil[i * 4 + 2]!,
    villagesWithoutCluster: t.vil[i * 4 + 3]!,
  };
  return {
    area: { key: node.key, code: node.code, version: node.version, name: node.name, level: node.level },
    ...counts,
    ...v,
    operationalShare: counts.sites === 0 ? null : counts.operational / counts.sites,
    villageShare: v.villages === 0 ? null : v.villagesCovered / v.villages,
  };
}

// ------------------------------------------------------------- coverage ----

/** Order of failing sites: worst first (offline, faulty, degraded — SITE_CONDITIONS puts the worst last). */
const FAIL_RANK: Record<SiteCondition, number> = { offline: 0, faulty: 1, degraded: 2, operational: 9, unverified: 9 };

/**
 * Vietnamese sort key, so sorting thousands of failing sites compares plain
 * strings instead of calling Intl.Collator per comparison (that alone was most
 * of the time for a 30,000-site province). Primary: letters in Vietnamese
 * alphabet order (a ă â b c d đ e ê … o ô ơ … u ư …), case-insensitive,
 * digit runs compared as numbers; secondary (ties only): tones in the
 * traditional order (ngang, huyền, hỏi, ngã, sắc, nặng).
 */
const ALPHABET = 'aăâbcdđeêfghijklmnoôơpqrstuưvwxyz';
const LETTER_RANK = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));
const TONE_RANK: Record<number, number> = { 0x300: 1, 0x309: 2, 0x303: 3, 0x301: 4, 0x323: 5 };
const sortKeyCache = new Map<string, string>();

export function vietnameseSortKey(name: string): string {
  const hit = sortKeyCache.get(name);
  if (hit !== undefined) return hit;
  // Recompose letter modifiers (ă â ê ô ơ ư) but keep tones apart.
  const d = name.toLowerCase().normalize('NFD');
  let primary = '';
  let tones = '';
  for (let i = 0; i < d.length; i++) {
    let ch = d[i]!;
    const code = ch.charCodeAt(0);
    if (code >= 0x30 && code <= 0x39) {
      let j = i;
      while (j < d.length && d.charCodeAt(j) >= 0x30 && d.charCodeAt(j) <= 0x39) j++;
      const digits = d.slice(i, j).replace(/^0+(?=\d)/, '');
      primary += String.fromCharCode(0x800 + digits.length) + digits;
      i = j - 1;
      continue;
    }
    if (code >= 0x300 && code <= 0x36f) continue; // a mark without a base letter
    let tone = 0;
    while (i + 1 < d.length) {
      const m = d.charCodeAt(i + 1);
      if (m === 0x306 || m === 0x302 || m === 0x31b) ch = (ch + d[i + 1]!).normalize('NFC');
      else if (TONE_RANK[m] !== undefined) tone = TONE_RANK[m]!;
      else if (!(m >= 0x300 && m <= 0x36f)) break;
      i++;
    }
    const rank = LETTER_RANK.get(ch);
    primary += rank === undefined ? ch : String.fromCharCode(0x1000 + rank);
    tones += String.fromCharCode(0x30 + tone);
  }
  const key = `${primary}\u0000${tones}`;
  if (sortKeyCache.size >= 200_000) sortKeyCache.clear();
  sortKeyCache.set(name, key);
  return key;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortByName<T extends { siteId: string; name: string }>(items: T[], rank: (item: T) => number): T[] {
  const keyed = items.map((item) => ({ item, r: rank(item), k: vietnameseSortKey(item.name) }));
  keyed.sort((a, b) => a.r - b.r || cmp(a.k, b.k) || cmp(a.item.siteId, b.item.siteId));
  return keyed.map((x) => x.item);
}

/**
 * Coverage of the area `rootKey` and each of its direct children. Throws
 * `UnknownAreaError` when `rootKey` is not in the index. `verdicts` may be a
 * Map (a site it lacks is classified with `now`/`policy`) or a function.
 *
 * - `failing`: every degraded/faulty/offline site in the subtree, offline
 *   first, then faulty, then degraded; by name (Vietnamese collation), then siteId.
 * - `unverifiedSites`: never-heard sites, by name.
 * - `uncoveredVillages`: villages not covered, in tree order (grouped by commune).
 */
export function coverageOf(index: AreaIndex, rootKey: string, sites: readonly SiteObservation[], verdicts: VerdictSource, now: number, policy: CoveragePolicy): CoverageReport {
  const root = index.get(rootKey);
  const start = root === undefined ? undefined : index.tin(root.id);
  if (root === undefined || start === undefined) throw new UnknownAreaError(rootKey);
  const end = index.toutOf(root.id)!;

  const failing: CoverageReport['failing'] = [];
  const unverifiedSites: CoverageReport['unverifiedSites'] = [];
  const totals = aggregateRange(index, start, end, sites, (site, p) => {
    const v = resolveVerdict(verdicts, site, now, policy);
    if (v.condition === 'unverified') {
      unverifiedSites.push({ siteId: site.siteId, name: site.name, areaKey: index.order[p]!.key });
    } else if (v.condition !== 'operational') {
      // An explicit literal, not a spread: one object shape, several times faster for 10k entries.
      failing.push({ siteId: v.siteId, condition: v.condition, reasons: v.reasons, name: site.name, areaKey: index.order[p]!.key });
    }
    return v;
  });

  const failingSorted = sortByName(failing, (f) => FAIL_RANK[f.condition]);
  const unverifiedSorted = sortByName(unverifiedSites, () => 0);

  const uncoveredVillages: CoverageReport['uncoveredVillages'] = [];
  for (let p = start; p <= end; p++) {
    const node = index.order[p]!;
    if (node.level !== 'village') continue;
    const i = p - start;
    if (totals.opClusters[i]! > 0) continue;
    uncoveredVillages.push({
      key: node.key,
      name: node.name,
      reason: totals.clusters[i]! > 0 ? 'no_operational_cluster' : 'no_cluster',
    });
  }

  const children = index.children(root.id).map((c) => areaCoverageAt(index, totals, index.tin(c.id)!));
  return {
    ...areaCoverageAt(index, totals, start),
    at: now,
    children,
    failing: failingSorted,
    unverifiedSites: unverifiedSorted,
    uncoveredVillages,
  };
}

/** One stored coverage-history row. */
export interface CoverageSnapshotRow extends ConditionCounts, VillageFigures {
  at: number;
  areaKey: string;
  level: AreaLevel;
}

/** The levels a coverage history row is stored for. */
export const SNAPSHOT_LEVELS: ReadonlySet<AreaLevel> = new Set<AreaLevel>(['province', 'district', 'commune']);

/**
 * Counts for every area of level commune or higher, in one pass over all
 * sites and areas (for the coverage history stored every few minutes).
 */
export function coverageSnapshotRows(
  index: AreaIndex,
  sites: readonly SiteObservation[],
  verdicts: VerdictSource,
  now: number,
  policy: CoveragePolicy,
  levels: ReadonlySet<AreaLevel> = SNAPSHOT_LEVELS,
): CoverageSnapshotRow[] {
  if (index.size === 0) return [];
  const totals = aggregateRange(index, 0, index.size - 1, sites, (site) => resolveVerdict(verdicts, site, now, policy));
  const rows: CoverageSnapshotRow[] = [];
  for (let p = 0; p < index.size; p++) {
    const node = index.order[p]!;
    if (!levels.has(node.level)) continue;
    const a = areaCoverageAt(index, totals, p);
    rows.push({
      at: now,
      areaKey: node.key,
      level: node.level,
      sites: a.sites,
      operational: a.operational,
      degraded: a.degraded,
      faulty: a.faulty,
      offline: a.offline,
      unverified: a.unverified,
      villages: a.villages,
      villagesCovered: a.villagesCovered,
      villagesFailing: a.villagesFailing,
      villagesWithoutCluster: a.villagesWithoutCluster,
    });
  }
  return rows;
}

/** Classify every site once (the Map form of `VerdictSource`). */
export function classifyAll(sites: readonly SiteObservation[], now: number, policy: CoveragePolicy): Map<string, SiteVerdict> {
  const out = new Map<string, SiteVerdict>();
  for (const s of sites) out.set(s.siteId, classifySite(s, now, policy));
  return out;
}

/** Sites whose area is not in the index (retired or unknown): counted nowhere. */
export function sitesOutsideIndex(index: AreaIndex, sites: readonly SiteObservation[]): SiteObservation[] {
  return sites.filter((s) => index.tin(s.areaId) === undefined);
}

/** The headline condition of a set of counts: the worst condition any site is in, 'operational' when empty. */
export function headlineCondition(c: ConditionCounts): SiteCondition {
  if (c.offline > 0) return 'offline';
  if (c.faulty > 0) return 'faulty';
  if (c.degraded > 0) return 'degraded';
  if (c.operational === 0 && c.unverified > 0) return 'unverified';
  return 'operational';
}
