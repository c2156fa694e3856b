/**
 * Coverage counts kept up to date as sites change, instead of walking every
 * site per request: a pure data structure over an `AreaIndex`.
 *
 * For every area (by its preorder position) it holds the totals of its whole
 * subtree: sites per condition, clusters and operational clusters (what the
 * village rule reads), and the village figures. A change to one site touches
 * only its area's ancestors (a handful: village → commune → district →
 * province), so `upsert`/`remove` are O(depth) and reading an area's coverage
 * is O(1). The village rule is the one of coverage.ts: a village is covered
 * iff its subtree has an operational cluster, failing if it has clusters but
 * none operational, without cluster otherwise.
 *
 * Sites are also kept in one set per condition, so the lists a request
 * returns (failing and unverified sites) are gathered from the sites in those
 * conditions, not from every site; and, once asked for, in list order
 * (Vietnamese name, then site id), kept in order as sites join and leave
 * (a binary search and a splice each). A province answer then reads the
 * first `limit` of 15,000 unverified sites instead of sorting them all per
 * request (36 of the 40 ms a request took at 30,000 sites).
 *
 * A site whose area is not in the index (retired or unknown) is remembered but
 * counted nowhere, as in coverageOf.
 */
import { type AreaIndex, type CoverageSnapshotRow, SNAPSHOT_LEVELS, UnknownAreaError, vietnameseSortKey } from './coverage.ts';
import type { AreaCoverage, ConditionCounts, CoveragePolicy, CoverageReport, SiteCondition, SiteObservation, SiteVerdict, VillageFigures } from './model.ts';
import { classifySite, mayHaveWorsened } from './site-condition.ts';
import type { AreaLevel, SiteKind } from '../registry/model.ts';

/** What the counts need to know of a site. */
export interface CountedSite {
  siteId: string;
  name: string;
  kind: SiteKind;
  areaId: number;
  condition: SiteCondition;
  /** The site's live observation (the fleet mutates it in place), for the time check of `timeOverrides`. */
  obs?: SiteObservation;
}

/** A site with its sort key, in a condition's list order. */
interface OrderedSite {
  site: CountedSite;
  key: string;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const inListOrder = (a: OrderedSite, b: OrderedSite) => cmp(a.key, b.key) || cmp(a.site.siteId, b.site.siteId);
const ordered = (site: CountedSite): OrderedSite => ({ site, key: vietnameseSortKey(site.name) });

/** Where `entry` is, or would go, in a list in list order (binary search). */
function sortedPosition(list: readonly OrderedSite[], entry: OrderedSite): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (inListOrder(list[mid]!, entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const COND_INDEX: Record<SiteCondition, number> = { operational: 0, degraded: 1, faulty: 2, offline: 3, unverified: 4 };
/** Village status: 0 covered, 1 failing (clusters, none operational), 2 without cluster. */
type VillageStatus = 0 | 1 | 2;

export class CoverageCounts {
  private readonly sites = new Map<string, CountedSite>();
  private readonly byCondition: Record<SiteCondition, Set<string>> = {
    operational: new Set(),
    degraded: new Set(),
    faulty: new Set(),
    offline: new Set(),
    unverified: new Set(),
  };
  /** 5 per position: subtree sites per condition. */
  private readonly cond: Int32Array;
  /** 4 per position: subtree villages, covered, failing, without cluster. */
  private readonly vil: Int32Array;
  private readonly clusters: Int32Array;
  private readonly opClusters: Int32Array;
  /** Per condition, its recorded sites in list order, once asked for; kept in order as sites come and go (apply). */
  private readonly listOrder: Partial<Record<SiteCondition, OrderedSite[]>> = {};
  /** Inside withConditions: the sites replaced, by id, with their recorded entry. */
  private readonly recorded = new Map<string, CountedSite>();

  constructor(readonly index: AreaIndex) {
    const n = index.size;
    this.cond = new Int32Array(n * 5);
    this.vil = new Int32Array(n * 4);
    this.clusters = new Int32Array(n);
    this.opClusters = new Int32Array(n);
    // Every village starts without cluster; count it in its own and its ancestors' figures.
    for (let p = 0; p < n; p++) {
      if (index.order[p]!.level !== 'village') continue;
      for (let a = p; a >= 0; a = index.parentPosition(a)) {
        this.vil[a * 4]!++;
        this.vil[a * 4 + 3]!++;
      }
    }
  }

  static build(index: AreaIndex, sites: Iterable<CountedSite>): CoverageCounts {
    const c = new CoverageCounts(index);
    for (const s of sites) c.upsert(s);
    return c;
  }

  get size(): number {
    return this.sites.size;
  }

  get(siteId: string): CountedSite | undefined {
    return this.sites.get(siteId);
  }

  /** Add a site, or change its area, kind, name or condition. */
  upsert(site: CountedSite): void {
    const prev = this.sites.get(site.siteId);
    if (prev) this.apply(prev, -1);
    const copy: CountedSite = { siteId: site.siteId, name: site.name, kind: site.kind, areaId: site.areaId, condition: site.condition, obs: site.obs };
    this.sites.set(site.siteId, copy);
    this.apply(copy, +1);
  }

  remove(siteId: string): void {
    const prev = this.sites.get(siteId);
    if (!prev) return;
    this.apply(prev, -1);
    this.sites.delete(siteId);
  }

  /**
   * Run `fn` with some sites' conditions replaced (what time alone changed
   * since the last recorded verdict), then put the recorded ones back: the
   * counts keep mirroring the recorded verdicts, whatever `fn` throws.
   */
  withConditions<T>(overrides: ReadonlyArray<{ siteId: string; condition: SiteCondition }>, fn: () => T): T {
    if (this.recorded.size > 0) throw new Error('CoverageCounts.withConditions: already inside one');
    try {
      for (const o of overrides) {
        const prev = this.sites.get(o.siteId);
        if (!prev || prev.condition === o.condition || this.recorded.has(o.siteId)) continue;
        this.recorded.set(o.siteId, prev);
        this.upsert({ ...prev, condition: o.condition });
      }
      return fn();
    } finally {
      for (const prev of [...this.recorded.values()].reverse()) this.upsert(prev);
      this.recorded.clear();
    }
  }

  /** Every site, in no particular order. */
  all(): IterableIterator<CountedSite> {
    return this.sites.values();
  }

  /** Number of sites (anywhere, counted or not) in a condition. */
  countIn(condition: SiteCondition): number {
    return this.byCondition[condition].size;
  }

  /** Whether the village at `position` has clusters and whether any is operational (its subtree's). */
  villageClusters(position: number): { clusters: number; operational: number } {
    return { clusters: this.clusters[position]!, operational: this.opClusters[position]! };
  }

  /** Subtree counts of the area at `position`. */
  countsAt(position: number): ConditionCounts & VillageFigures {
    const c = this.cond;
    const i = position * 5;
    const v = position * 4;
    return {
      sites: c[i]! + c[i + 1]! + c[i + 2]! + c[i + 3]! + c[i + 4]!,
      operational: c[i]!,
      degraded: c[i + 1]!,
      faulty: c[i + 2]!,
      offline: c[i + 3]!,
      unverified: c[i + 4]!,
      villages: this.vil[v]!,
      villagesCovered: this.vil[v + 1]!,
      villagesFailing: this.vil[v + 2]!,
      villagesWithoutCluster: this.vil[v + 3]!,
    };
  }

  /** The AreaCoverage of the area at `position` (as coverageOf gives it). */
  areaCoverageAt(position: number): AreaCoverage {
    const node = this.index.order[position]!;
    const c = this.countsAt(position);
    return {
      area: { key: node.key, code: node.code, version: node.version, name: node.name, level: node.level },
      ...c,
      operationalShare: c.sites === 0 ? null : c.operational / c.sites,
      villageShare: c.villages === 0 ? null : c.villagesCovered / c.villages,
    };
  }

  private villageStatus(p: number): VillageStatus {
    return this.opClusters[p]! > 0 ? 0 : this.clusters[p]! > 0 ? 1 : 2;
  }

  /**
   * The sites in `condition` (with any withConditions replacement) whose area
   * is at preorder positions [start, end], in list order: at most `limit`.
   * The recorded order is kept between calls; the few sites a replacement
   * moved in are sorted apart and merged in.
   */
  sitesInRange(condition: SiteCondition, start: number, end: number, limit: number): CountedSite[] {
    const out: CountedSite[] = [];
    if (limit <= 0) return out;
    const inRange = (s: CountedSite) => {
      const p = this.index.tin(s.areaId);
      return p !== undefined && p >= start && p <= end;
    };
    const base = this.recordedOrder(condition);
    const movedIn: OrderedSite[] = [];
    for (const id of this.recorded.keys()) {
      const s = this.sites.get(id)!;
      if (s.condition === condition && inRange(s)) movedIn.push(ordered(s));
    }
    movedIn.sort(inListOrder);
    let i = 0;
    let j = 0;
    while (out.length < limit && (i < base.length || j < movedIn.length)) {
      const b = base[i];
      if (b && (this.recorded.has(b.site.siteId) || !inRange(b.site))) {
        i++; // replaced (it is in another condition now), or elsewhere in the tree
        continue;
      }
      const m = movedIn[j];
      if (b && (!m || inListOrder(b, m) <= 0)) {
        out.push(b.site);
        i++;
      } else {
        out.push(m!.site);
        j++;
      }
    }
    return out;
  }

  /** The recorded sites of a condition in list order, sorted once until they change. */
  private recordedOrder(condition: SiteCondition): readonly OrderedSite[] {
    const kept = this.listOrder[condition];
    if (kept) return kept;
    const list: OrderedSite[] = [];
    for (const id of this.byCondition[condition]) if (!this.recorded.has(id)) list.push(ordered(this.sites.get(id)!));
    for (const prev of this.recorded.values()) if (prev.condition === condition) list.push(ordered(prev));
    list.sort(inListOrder);
    this.listOrder[condition] = list;
    return list;
  }

  private apply(site: CountedSite, sign: 1 | -1): void {
    if (sign > 0) this.byCondition[site.condition].add(site.siteId);
    else this.byCondition[site.condition].delete(site.siteId);
    // A replacement inside withConditions leaves the recorded order as it is: sitesInRange accounts for it.
    const list = this.recorded.size === 0 ? this.listOrder[site.condition] : undefined;
    if (list) {
      const entry = ordered(site);
      const at = sortedPosition(list, entry);
      if (sign > 0) list.splice(at, 0, entry);
      else if (list[at]?.site.siteId === site.siteId) list.splice(at, 1);
      else delete this.listOrder[site.condition]; // not where it should be: sort again when next asked
    }
    const pos = this.index.tin(site.areaId);
    if (pos === undefined) return;
    const k = COND_INDEX[site.condition];
    const cluster = site.kind === 'cluster';
    const op = cluster && site.condition === 'operational';
    for (let a = pos; a >= 0; a = this.index.parentPosition(a)) {
      this.cond[a * 5 + k]! += sign;
      if (!cluster) continue;
      const isVillage = this.index.order[a]!.level === 'village';
      const before = isVillage ? this.villageStatus(a) : 0;
      this.clusters[a]! += sign;
      if (op) this.opClusters[a]! += sign;
      if (!isVillage) continue;
      const after = this.villageStatus(a);
      if (after === before) continue;
      // The village changed status: move it between the figures of itself and every ancestor.
      for (let b = a; b >= 0; b = this.index.parentPosition(b)) {
        this.vil[b * 4 + 1 + before]!--;
        this.vil[b * 4 + 1 + after]!++;
      }
    }
  }
}

// ------------------------------------------------------------- a report ----

/**
 * The conditions time alone has changed at `now` since the counts' recorded
 * verdicts (for `withConditions`): a cheap test per site with an observation,
 * a classification only for the sites it flags (silent past the deadline,
 * sound proof or a configuration come due, and not yet re-evaluated by the
 * fleet's sweep).
 */
export function timeOverrides(counts: CoverageCounts, now: number, policy: CoveragePolicy): Array<{ siteId: string; condition: SiteCondition }> {
  const out: Array<{ siteId: string; condition: SiteCondition }> = [];
  for (const s of counts.all()) {
    if (!s.obs || !mayHaveWorsened(s.obs, s.condition, now, policy)) continue;
    const condition = classifySite(s.obs, now, policy).condition;
    if (condition !== s.condition) out.push({ siteId: s.siteId, condition });
  }
  return out;
}

/** Order of failing sites: worst first (as in coverageOf). */
const FAIL_ORDER: readonly SiteCondition[] = ['offline', 'faulty', 'degraded'];

export interface BoundedCoverageReport extends CoverageReport {
  failingTotal: number;
  unverifiedTotal: number;
  uncoveredVillagesTotal: number;
}

/**
 * The coverage of `rootKey` from the counts: the same answer as coverageOf
 * over the same conditions, with each list cut to `limit` entries (worst
 * first) and its full length in the …Total fields. Counts are read, not
 * computed; only the sites in a failing or unverified condition within the
 * subtree are looked at, and `verdictOf` (the reasons) is asked only for the
 * failing sites returned. Throws UnknownAreaError for an area not in the index.
 */
export function coverageFromCounts(counts: CoverageCounts, rootKey: string, now: number, limit: number, verdictOf: (siteId: string) => SiteVerdict): BoundedCoverageReport {
  const index = counts.index;
  const root = index.get(rootKey);
  const start = root === undefined ? undefined : index.tin(root.id);
  if (root === undefined || start === undefined) throw new UnknownAreaError(rootKey);
  const end = index.toutOf(root.id)!;
  const head = counts.areaCoverageAt(start);

  const failing: CoverageReport['failing'] = [];
  for (const condition of FAIL_ORDER) {
    if (failing.length >= limit) break;
    if (head[condition] === 0) continue;
    for (const s of counts.sitesInRange(condition, start, end, limit - failing.length)) {
      const v = verdictOf(s.siteId);
      failing.push({ siteId: s.siteId, condition, reasons: v.reasons, name: s.name, areaKey: index.order[index.tin(s.areaId)!]!.key });
    }
  }

  const unverifiedSites: CoverageReport['unverifiedSites'] = [];
  if (limit > 0 && head.unverified > 0) {
    for (const s of counts.sitesInRange('unverified', start, end, limit)) {
      unverifiedSites.push({ siteId: s.siteId, name: s.name, areaKey: index.order[index.tin(s.areaId)!]!.key });
    }
  }

  const uncoveredTotal = head.villagesFailing + head.villagesWithoutCluster;
  const uncoveredVillages: CoverageReport['uncoveredVillages'] = [];
  for (let p = start; p <= end && uncoveredVillages.length < Math.min(limit, uncoveredTotal); p++) {
    const node = index.order[p]!;
    if (node.level !== 'village') continue;
    const c = counts.villageClusters(p);
    if (c.operational > 0) continue;
    uncoveredVillages.push({ key: node.key, name: node.name, reason: c.clusters > 0 ? 'no_operational_cluster' : 'no_cluster' });
  }

  return {
    ...head,
    at: now,
    children: index.children(root.id).map((c) => counts.areaCoverageAt(index.tin(c.id)!)),
    failing,
    failingTotal: head.offline + head.faulty + head.degraded,
    unverifiedSites,
    unverifiedTotal: head.unverified,
    uncoveredVillages,
    uncoveredVillagesTotal: uncoveredTotal,
  };
}

/** The coverage history rows (every area of the given levels) read from the counts: what coverageSnapshotRows computes from every site. */
export function snapshotRowsFromCounts(counts: CoverageCounts, now: number, levels: ReadonlySet<AreaLevel> = SNAPSHOT_LEVELS): CoverageSnapshotRow[] {
  const rows: CoverageSnapshotRow[] = [];
  const index = counts.index;
  for (let p = 0; p < index.size; p++) {
    const node = index.order[p]!;
    if (levels.has(node.level)) rows.push({ at: now, areaKey: node.key, level: node.level, ...counts.countsAt(p) });
  }
  return rows;
}
