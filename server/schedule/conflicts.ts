/**
 * Priority arbitration at a site, and the same-priority check that refuses
 * a new item before it is saved (an operator hears of the clash while
 * editing, not from a site that skipped it).
 *
 * Decisions:
 * - Higher priority plays (emergency > priority > normal, Circular 39). A
 *   lower occurrence that overlaps a higher one at a site is skipped there
 *   *whole* (`higher_priority`), not cut short: half a bulletin informs no one.
 * - `queue: true` means "wait, don't drop me": instead of being skipped, the
 *   occurrence starts right when the occurrence blocking it ends, repeatedly if
 *   the next slot is taken too, as long as it still ends by the item's
 *   `validUntil` (else it is skipped `queue_no_room`). Queued items yield to
 *   non-queued items of the same priority, so queueing never displaces an
 *   item that was there on its own terms. The occurrence keeps its id (item +
 *   scheduled start) so agents and the as-run log can follow it.
 * - Two non-queued items of the same priority overlapping at a site are
 *   refused up front by `checkNewItem`; should any still meet (data saved
 *   before a change, an item whose own repeats overlap), the one scheduled
 *   first plays and the other is skipped `same_priority`.
 *
 * Per site, accepted plays are kept as a sorted list of disjoint intervals;
 * each occurrence is placed by binary search, so arbitration is
 * O(n log n) per site.
 */
import { PRIORITY_RANK, occurrenceId, type BroadcastItem, type Horizon, type Occurrence } from './model.ts';
import { SCHEDULE_ZONE } from './recurrence.ts';
import { isLive, resolveItem, type ResolveProblem, type SiteDirectory } from './resolve.ts';
import { longestDurationMs } from './language-plan.ts';
import { formatShort } from '../time/zone.ts';

export interface PlannedOccurrence extends Occurrence {
  /** Stable id: item + scheduled start (see occurrenceId). */
  id: string;
  /** Start before any queue shift. */
  scheduledAt: number;
  /** startAt − scheduledAt (0 unless queued behind another). */
  shiftedMs: number;
}

export type SkipReason = 'higher_priority' | 'same_priority' | 'queue_no_room';

export interface SkippedOccurrence extends Occurrence {
  id: string;
  reason: SkipReason;
  /** Id of the occurrence that took the slot. */
  blockedBy: string;
}

export interface SitePlan {
  siteId: string;
  /** What plays, by start time, never overlapping. */
  plays: PlannedOccurrence[];
  skipped: SkippedOccurrence[];
}

/** Items by id (for `queue` and `validUntil`). */
export type ItemLookup = ReadonlyMap<string, Pick<BroadcastItem, 'queue' | 'validUntil'>>;

/** Arbitrate the occurrences of ONE site. */
export function arbitrateSite(siteId: string, occurrences: readonly Occurrence[], items: ItemLookup): SitePlan {
  // Sort keys computed once, not per comparison: this runs for every site of a province.
  const order = occurrences.map((o) => {
    const item = items.get(o.itemId);
    return { o, rank: PRIORITY_RANK[o.priority], queued: item?.queue === true, validUntil: item?.validUntil ?? Infinity };
  });
  order.sort((a, b) => b.rank - a.rank || Number(a.queued) - Number(b.queued) || a.o.startAt - b.o.startAt || (a.o.itemId < b.o.itemId ? -1 : a.o.itemId > b.o.itemId ? 1 : 0));
  const plays: PlannedOccurrence[] = [];
  const skipped: SkippedOccurrence[] = [];
  for (const { o, rank, queued, validUntil } of order) {
    const id = occurrenceId(o.itemId, o.startAt);
    const duration = o.endAt - o.startAt;
    let start = o.startAt;
    for (;;) {
      // plays are disjoint and sorted by start, hence also by end.
      const i = firstEndingAfter(plays, start);
      const blocker = plays[i];
      if (!blocker || blocker.startAt >= start + duration) {
        plays.splice(i, 0, {
          itemId: o.itemId,
          siteId: o.siteId,
          startAt: start,
          endAt: start + duration,
          priority: o.priority,
          id,
          scheduledAt: o.startAt,
          shiftedMs: start - o.startAt,
        });
        break;
      }
      if (!queued) {
        const reason: SkipReason = PRIORITY_RANK[blocker.priority] > rank ? 'higher_priority' : 'same_priority';
        skipped.push({ itemId: o.itemId, siteId: o.siteId, startAt: o.startAt, endAt: o.endAt, priority: o.priority, id, reason, blockedBy: blocker.id });
        break;
      }
      start = blocker.endAt;
      if (start + duration > validUntil) {
        skipped.push({ itemId: o.itemId, siteId: o.siteId, startAt: o.startAt, endAt: o.endAt, priority: o.priority, id, reason: 'queue_no_room', blockedBy: blocker.id });
        break;
      }
    }
  }
  skipped.sort((a, b) => a.startAt - b.startAt || (a.itemId < b.itemId ? -1 : 1));
  return { siteId, plays, skipped };
}

function firstEndingAfter(plays: readonly PlannedOccurrence[], t: number): number {
  let lo = 0;
  let hi = plays.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (plays[mid]!.endAt <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Arbitrate every site: occurrences are grouped by site, then `arbitrateSite` each. */
export function arbitrate(occurrences: readonly Occurrence[], items: ItemLookup): Map<string, SitePlan> {
  const bySite = new Map<string, Occurrence[]>();
  for (const o of occurrences) {
    let list = bySite.get(o.siteId);
    if (!list) bySite.set(o.siteId, (list = []));
    list.push(o);
  }
  const plans = new Map<string, SitePlan>();
  for (const [siteId, list] of bySite) plans.set(siteId, arbitrateSite(siteId, list, items));
  return plans;
}

// ------------------------------------------------- the same-priority check ----

/** Where a set of sites is, said briefly: whole areas by name, the rest by id. */
export interface SitePlaces {
  /** Areas all of whose active sites are in the set (largest such areas only). */
  areas: Array<{ key: string; name: string; sites: number }>;
  /** Sites of the set not inside one of those areas. */
  siteIds: string[];
}

export interface ConflictEntry {
  itemId: string;
  title: string;
  /** Every site where the two items overlap, sorted. */
  siteIds: string[];
  /** The same sites, compressed to whole areas where possible. */
  places: SitePlaces;
  firstOverlapAt: number;
}

export type CheckResult =
  | { ok: true /** Same-priority items the new (queued) item will wait behind. */; queuedBehind: ConflictEntry[]; problems: ResolveProblem[] }
  | { ok: false; code: 'same_priority_overlap'; message: string; conflicts: ConflictEntry[]; problems: ResolveProblem[] };

/**
 * Would `newItem` overlap, at any site, an existing live item of the same
 * priority within the horizon? If so it is refused, naming each item, the
 * sites and the first overlap, unless it asks to queue. Higher and lower
 * priorities never refuse: arbitration settles them. Existing items that
 * queue are not counted: they wait behind whatever is there.
 *
 * Occurrence times do not depend on the site before arbitration, so this
 * compares items pairwise (sorted start lists, binary search) and intersects
 * target sets only for pairs that overlap in time.
 */
export function checkNewItem(newItem: BroadcastItem, existingItems: readonly BroadcastItem[], sites: SiteDirectory, horizon: Horizon, opts: { zone?: string } = {}): CheckResult {
  const zone = opts.zone ?? SCHEDULE_ZONE;
  const mine = resolveItem(newItem, sites, horizon);
  const problems = [...mine.problems];
  const mySites = new Set(mine.resolved.siteIds);
  const conflicts: ConflictEntry[] = [];
  for (const other of existingItems) {
    if (other.id === newItem.id || !isLive(other) || other.priority !== newItem.priority || other.queue === true) continue;
    const theirs = resolveItem(other, sites, horizon).resolved;
    // An item with language versions is as long as its longest site's programme: checked at that length (a bound: sites hearing fewer versions end sooner).
    const at = firstOverlap(mine.resolved.starts, longestDurationMs(newItem), theirs.starts, longestDurationMs(other));
    if (at === undefined) continue;
    const shared = theirs.siteIds.filter((s) => mySites.has(s));
    if (shared.length === 0) continue;
    conflicts.push({ itemId: other.id, title: other.title, siteIds: shared, places: placesOf(shared, sites), firstOverlapAt: at });
  }
  conflicts.sort((a, b) => a.firstOverlapAt - b.firstOverlapAt || (a.itemId < b.itemId ? -1 : 1));
  if (conflicts.length === 0 || newItem.queue === true) return { ok: true, queuedBehind: conflicts, problems };
  const en = conflicts.map((c) => `overlaps "${c.title}" at ${describePlaces(c)} from ${formatShort(c.firstOverlapAt, zone)}`);
  return {
    ok: false,
    code: 'same_priority_overlap',
    message: `"${newItem.title}" ${en.join('; ')}. Move it, or ask to queue it behind.`,
    conflicts,
    problems,
  };
}

/**
 * The earliest instant at which an interval [a, a+da) overlaps some
 * [b, b+db), both start lists ascending; undefined if none do.
 */
export function firstOverlap(a: readonly number[], da: number, b: readonly number[], db: number): number | undefined {
  let best: number | undefined;
  for (const s of a) {
    if (best !== undefined && s >= best) break;
    // First b whose interval ends after s: the earliest-starting candidate.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! + db <= s) lo = mid + 1;
      else hi = mid;
    }
    const t = b[lo];
    if (t !== undefined && t < s + da) {
      const at = Math.max(s, t);
      if (best === undefined || at < best) best = at;
    }
  }
  return best;
}

/** Compress a set of sites to the largest areas it covers whole, plus the leftover sites. */
export function placesOf(siteIds: readonly string[], dir: SiteDirectory): SitePlaces {
  const index = dir.index;
  const total = dir.activeCountByPosition();
  const inSet = new Int32Array(index.size);
  const loose: string[] = [];
  for (const id of siteIds) {
    const p = dir.positionOf(id);
    if (p === undefined) loose.push(id);
    else inSet[p]!++;
  }
  // Children come after their parent in preorder: one backward pass sums subtrees.
  for (let p = index.size - 1; p >= 0; p--) {
    const parent = index.parentPosition(p);
    if (parent >= 0) {
      total[parent]! += total[p]!;
      inSet[parent]! += inSet[p]!;
    }
  }
  const areas: SitePlaces['areas'] = [];
  const covered = new Set<number>();
  for (let p = 0; p < index.size; p++) {
    if (inSet[p] === 0) continue;
    const node = index.order[p]!;
    if (inSet[p] === total[p]) {
      areas.push({ key: node.key, name: node.name, sites: inSet[p]! });
      const end = index.toutOf(node.id)!;
      for (let q = p; q <= end; q++) covered.add(q);
      p = end;
    }
  }
  for (const id of siteIds) {
    const p = dir.positionOf(id);
    if (p !== undefined && !covered.has(p)) loose.push(id);
  }
  return { areas, siteIds: loose.sort() };
}

/** The places of a conflict in English, for API clients (the console words the conflicts' titles, areas and sites itself). */
function describePlaces(c: ConflictEntry): string {
  const n = c.siteIds.length;
  const count = `${n} site${n === 1 ? '' : 's'}`;
  const names = c.places.areas.map((a) => a.name);
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more areas` : '');
  const loose = c.places.siteIds;
  const looseList = loose.slice(0, 5).join(', ') + (loose.length > 5 ? ', …' : '');
  if (names.length === 0) return `${count} (${looseList})`;
  if (loose.length === 0) return `${count} in ${shown}`;
  return `${count} in ${shown} and ${loose.length} other site${loose.length === 1 ? '' : 's'} (${looseList})`;
}
