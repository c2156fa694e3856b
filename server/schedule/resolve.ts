/**
 * Which sites an item targets, and when it starts within a horizon: broadcast
 * items → per-site occurrences (before priority arbitration, conflicts.ts).
 *
 * - Only approved items play: drafts wait for approval, cancelled items never
 *   play (four eyes: nothing reaches a loudspeaker on one person's word).
 * - An area target covers every site in its subtree (AreaIndex preorder
 *   ranges: sites are sorted by their area's position once, so an area's sites
 *   are one binary-searched slice). Retired sites never play; a site whose area
 *   is not in the index is reachable only by naming it.
 * - An occurrence starts in [validFrom, validUntil) and is kept when it
 *   overlaps the horizon, so one that began just before `from` and still plays
 *   is there to block lower priorities.
 * Unknown targets and bad recurrences are reported as problems, not thrown,
 * so one bad item cannot stop a province's playlists.
 */
import type { AreaIndex } from '../coverage/coverage.ts';
import type { AreaNode } from '../registry/model.ts';
import { DEFAULT_AREA_LANGUAGES, effectiveLanguages } from '../registry/area-languages.ts';
import type { BroadcastItem, Horizon, Occurrence, ScheduleSite } from './model.ts';
import { RecurrenceError, expandRecurrence } from './recurrence.ts';
import { LanguagePlanner, hasVersions, longestDurationMs } from './language-plan.ts';

export interface ResolveProblem {
  itemId: string;
  code: 'unknown_area' | 'unknown_site' | 'retired_site' | 'invalid_recurrence' | 'truncated';
  message: string;
}

/** The sites a schedule can target, indexed for area-subtree lookups. Build once per registry change. */
export class SiteDirectory {
  readonly index: AreaIndex;
  readonly byId: ReadonlyMap<string, ScheduleSite>;
  /** Active (non-retired) sites whose area is in the index, by their area's preorder position. */
  private readonly sorted: ReadonlyArray<{ site: ScheduleSite; pos: number }>;
  /** Each area's languages, worked out once per directory. */
  private readonly languages = new Map<number, readonly string[]>();

  constructor(index: AreaIndex, sites: readonly ScheduleSite[]) {
    this.index = index;
    this.byId = new Map(sites.map((s) => [s.siteId, s]));
    const sorted: Array<{ site: ScheduleSite; pos: number }> = [];
    for (const site of sites) {
      if (site.retired) continue;
      const pos = index.tin(site.areaId);
      if (pos !== undefined) sorted.push({ site, pos });
    }
    sorted.sort((a, b) => a.pos - b.pos || (a.site.siteId < b.site.siteId ? -1 : a.site.siteId > b.site.siteId ? 1 : 0));
    this.sorted = sorted;
  }

  /** Active sites in the subtree of `area`, in preorder. */
  sitesIn(area: AreaNode): ScheduleSite[] {
    const lo = this.index.tin(area.id);
    const hi = this.index.toutOf(area.id);
    if (lo === undefined || hi === undefined) return [];
    const out: ScheduleSite[] = [];
    for (let i = lowerBound(this.sorted, lo); i < this.sorted.length && this.sorted[i]!.pos <= hi; i++) out.push(this.sorted[i]!.site);
    return out;
  }

  /** Active sites per preorder position (for folding counts up the tree). */
  activeCountByPosition(): Int32Array {
    const counts = new Int32Array(this.index.size);
    for (const s of this.sorted) counts[s.pos]!++;
    return counts;
  }

  /** Every active site (retired ones left out), in area preorder. */
  activeSites(): ScheduleSite[] {
    const out: ScheduleSite[] = this.sorted.map((s) => s.site);
    for (const s of this.byId.values()) if (!s.retired && this.index.tin(s.areaId) === undefined) out.push(s);
    return out;
  }

  /** The languages a site hears bulletins in, in order: its area's own, else inherited (server/registry/area-languages.ts). */
  languagesOf(siteId: string): readonly string[] {
    const s = this.byId.get(siteId);
    if (!s) return DEFAULT_AREA_LANGUAGES;
    let l = this.languages.get(s.areaId);
    if (!l) this.languages.set(s.areaId, (l = effectiveLanguages(s.areaId, this.index.byId).languages));
    return l;
  }

  /** Whether a site's agent plays entries with parts (several language versions as one programme). */
  canPlayParts(siteId: string): boolean {
    return this.byId.get(siteId)?.canPlayParts === true;
  }

  positionOf(siteId: string): number | undefined {
    const s = this.byId.get(siteId);
    return s && !s.retired ? this.index.tin(s.areaId) : undefined;
  }
}

function lowerBound(a: ReadonlyArray<{ pos: number }>, pos: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]!.pos < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether an item goes out at all: approved (drafts wait, cancelled never). */
export function isLive(item: BroadcastItem): boolean {
  return item.status === 'approved';
}

/** The active site ids an item targets, sorted, without duplicates. */
export function targetSites(item: BroadcastItem, dir: SiteDirectory): { siteIds: string[]; problems: ResolveProblem[] } {
  const ids = new Set<string>();
  const problems: ResolveProblem[] = [];
  for (const key of item.targets.areaKeys) {
    const area = dir.index.get(key);
    if (!area) {
      problems.push({ itemId: item.id, code: 'unknown_area', message: `"${item.title}" targets area ${key}, which is not a current area` });
      continue;
    }
    for (const s of dir.sitesIn(area)) ids.add(s.siteId);
  }
  for (const id of item.targets.siteIds) {
    const s = dir.byId.get(id);
    if (!s) problems.push({ itemId: item.id, code: 'unknown_site', message: `"${item.title}" targets site ${id}, which is not registered` });
    else if (s.retired) problems.push({ itemId: item.id, code: 'retired_site', message: `"${item.title}" targets site ${id}, which is retired` });
    else ids.add(id);
  }
  return { siteIds: [...ids].sort(), problems };
}

/**
 * Start instants of an item whose play overlaps the horizon, within its
 * validity, ascending. Status is not checked here (checkNewItem asks this of
 * drafts).
 */
export function itemStarts(item: BroadcastItem, horizon: Horizon, maxOccurrences?: number): { starts: number[]; problems: ResolveProblem[] } {
  // A site hearing several language versions plays longest: an occurrence it may still be playing is kept.
  const from = Math.max(horizon.from - longestDurationMs(item) + 1, item.validFrom ?? -Infinity);
  const to = Math.min(horizon.to, item.validUntil ?? Infinity);
  if (!(to > from)) return { starts: [], problems: [] };
  const start = item.start;
  if ('at' in start) return { starts: start.at >= from && start.at < to ? [start.at] : [], problems: [] };
  try {
    const spec = { dtstart: start.dtstart, rrule: start.rrule, ...(start.exdates ? { exdates: start.exdates } : {}), ...(start.zone ? { zone: start.zone } : {}) };
    const window = { from: Number.isFinite(from) ? from : horizon.from, to };
    const x = expandRecurrence(spec, window, maxOccurrences === undefined ? {} : { maxOccurrences });
    const problems: ResolveProblem[] = x.truncated
      ? [{ itemId: item.id, code: 'truncated', message: `"${item.title}" has more than ${x.starts.length} occurrences in the horizon; the rest are left out` }]
      : [];
    return { starts: x.starts, problems };
  } catch (e) {
    if (!(e instanceof RecurrenceError)) throw e;
    return { starts: [], problems: [{ itemId: item.id, code: 'invalid_recurrence', message: `"${item.title}": ${e.message}` }] };
  }
}

/** One item resolved: when it starts and where; shared by every site it targets. */
export interface ResolvedItem {
  item: BroadcastItem;
  starts: number[];
  siteIds: string[];
}

export function resolveItem(item: BroadcastItem, dir: SiteDirectory, horizon: Horizon): { resolved: ResolvedItem; problems: ResolveProblem[] } {
  const t = itemStarts(item, horizon);
  const s = targetSites(item, dir);
  return { resolved: { item, starts: t.starts, siteIds: s.siteIds }, problems: [...s.problems, ...t.problems] };
}

/** Every live item's occurrences at every site it targets that overlap the horizon, each as long as that site plays it (language-plan.ts). */
export function resolveOccurrences(items: readonly BroadcastItem[], dir: SiteDirectory, horizon: Horizon): { occurrences: Occurrence[]; problems: ResolveProblem[] } {
  const occurrences: Occurrence[] = [];
  const problems: ResolveProblem[] = [];
  for (const item of items) {
    if (!isLive(item)) continue;
    const r = resolveItem(item, dir, horizon);
    problems.push(...r.problems);
    const planner = hasVersions(item) ? new LanguagePlanner(item) : undefined;
    for (const siteId of r.resolved.siteIds) {
      const durationMs = planner ? planner.plan(dir.languagesOf(siteId), dir.canPlayParts(siteId)).durationMs : item.durationMs;
      for (const startAt of r.resolved.starts) {
        occurrences.push({ itemId: item.id, siteId, startAt, endAt: startAt + durationMs, priority: item.priority });
      }
    }
  }
  return { occurrences, problems };
}
