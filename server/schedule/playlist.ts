/**
 * The desired playlist of each site for the coming horizon (default 48 h),
 * what the server distributes and the agent plays from its cache even when
 * the link is down.
 *
 * A playlist's `version` is a hash of its entries only (not of when it was
 * computed, nor of the input order), so recomputing an unchanged schedule
 * gives the same version and an agent reporting it need download nothing.
 * (As the horizon slides, entries entering or leaving it do change it.)
 * `mediaNeeded` says which media (by SHA-256, the cache key) some entry
 * still needs: everything else may be evicted from a full cache.
 */
import { createHash } from 'node:crypto';
import { arbitrateSite, type SitePlan } from './conflicts.ts';
import { DEFAULT_HORIZON_MS, type BroadcastItem, type Horizon, type Occurrence, type Priority } from './model.ts';
import { isLive, resolveItem, type ResolveProblem, type SiteDirectory } from './resolve.ts';
import { LanguagePlanner, hasVersions, type LanguageFallback, type LanguagePlan } from './language-plan.ts';

/** One language version in an entry that plays several. */
export interface PlaylistPart {
  language: string;
  mediaId: string;
  sha256: string;
  durationMs: number;
}

/** What a site was planned to hear of an item with language versions (recorded with the sent entry: the as-run says it). */
export interface PlannedLanguages {
  /** The site's languages, in order. */
  site: string[];
  /** The languages played, in order. */
  played: string[];
  /** The site's languages the item has no version in. */
  missing: string[];
  fallback: LanguageFallback | null;
}

export interface PlaylistEntry {
  /** Occurrence id: item + scheduled start (stable across recomputation and queue shifts). */
  id: string;
  itemId: string;
  mediaId: string;
  /** The media file's SHA-256: what the agent fetches, verifies and caches by. */
  sha256: string;
  /** When to start playing (after any queue shift). */
  startAt: number;
  /** Of the whole programme: with parts, their sum. */
  durationMs: number;
  priority: Priority;
  /** Several language versions played back to back as one programme (mediaId and sha256 are the first's). */
  parts?: PlaylistPart[];
  /** For an item with language versions: what this site hears of them. */
  languages?: PlannedLanguages;
}

export interface SitePlaylist {
  siteId: string;
  version: string;
  /** By startAt, then id. */
  entries: PlaylistEntry[];
}

/** What the schedule needs to know of a media item. */
export type MediaLookup = (mediaId: string) => { sha256: string } | undefined;

export interface PlaylistProblem {
  itemId: string;
  code: 'unknown_media';
  message: string;
}

/** [now, now + 48 h). */
export function defaultHorizon(now: number, lengthMs: number = DEFAULT_HORIZON_MS): Horizon {
  return { from: now, to: now + lengthMs };
}

function compareEntries(a: PlaylistEntry, b: PlaylistEntry): number {
  return a.startAt - b.startAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Stable hash of the entries, whatever their order: 16 hex digits. */
export function playlistVersion(entries: readonly PlaylistEntry[]): string {
  const h = createHash('sha256');
  h.update('loanet-playlist/1\n');
  for (const e of [...entries].sort(compareEntries)) {
    // Parts only when present: a playlist without them keeps the version it always had.
    const parts = e.parts ? `\t${e.parts.map((p) => `${p.language}:${p.sha256}:${p.durationMs}`).join(',')}` : '';
    h.update(`${e.id}\t${e.itemId}\t${e.mediaId}\t${e.sha256}\t${e.startAt}\t${e.durationMs}\t${e.priority}${parts}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

export function makePlaylist(siteId: string, entries: readonly PlaylistEntry[]): SitePlaylist {
  const sorted = [...entries].sort(compareEntries);
  return { siteId, version: playlistVersion(sorted), entries: sorted };
}

/** What this site hears of an item with language versions (undefined: the item has none). */
export type SiteLanguagePlans = (itemId: string) => LanguagePlan | undefined;

/**
 * One site's arbitrated plan → its playlist, cut to entries that are still
 * playing or start within the horizon. An item with language versions plays
 * what `languagePlans` says for this site: one version, or several as parts.
 */
export function playlistForSite(
  plan: SitePlan,
  items: ReadonlyMap<string, BroadcastItem>,
  media: MediaLookup,
  horizon: Horizon,
  languagePlans: SiteLanguagePlans = () => undefined,
): { playlist: SitePlaylist; problems: PlaylistProblem[] } {
  const entries: PlaylistEntry[] = [];
  const problems: PlaylistProblem[] = [];
  for (const p of plan.plays) {
    if (p.startAt >= horizon.to || p.endAt <= horizon.from) continue;
    const item = items.get(p.itemId);
    if (!item) continue;
    const lp = languagePlans(item.id);
    const versions = lp ? lp.plays : [{ language: '', mediaId: item.mediaId, durationMs: item.durationMs }];
    const found = versions.map((v) => ({ v, m: media(v.mediaId) }));
    const lost = found.find((f) => !f.m);
    if (lost) {
      problems.push({ itemId: item.id, code: 'unknown_media', message: `"${item.title}" plays media ${lost.v.mediaId}, which is not in the library` });
      continue;
    }
    const first = found[0]!;
    const entry: PlaylistEntry = {
      id: p.id,
      itemId: item.id,
      mediaId: first.v.mediaId,
      sha256: first.m!.sha256,
      startAt: p.startAt,
      durationMs: p.endAt - p.startAt,
      priority: p.priority,
    };
    if (lp) {
      if (found.length > 1) entry.parts = found.map(({ v, m }) => ({ language: v.language, mediaId: v.mediaId, sha256: m!.sha256, durationMs: v.durationMs }));
      entry.languages = { site: lp.siteLanguages, played: lp.plays.map((v) => v.language), missing: lp.missing, fallback: lp.fallback };
    }
    entries.push(entry);
  }
  return { playlist: makePlaylist(plan.siteId, entries), problems };
}

export interface ScheduleComputation {
  /** One playlist per active site (empty ones too: an agent must learn it has nothing to play). */
  playlists: Map<string, SitePlaylist>;
  plans: Map<string, SitePlan>;
  problems: Array<ResolveProblem | PlaylistProblem>;
}

/** The whole pure pipeline: items → occurrences → per-site arbitration → playlists, in one synchronous piece. */
export function computePlaylists(items: readonly BroadcastItem[], sites: SiteDirectory, media: MediaLookup, horizon: Horizon): ScheduleComputation {
  const steps = computePlaylistSteps(items, sites, media, horizon);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * What a step says of the next one: 'wide-next' when it resolves an item
 * targeting areas (a province item: its 30,000 site ids gathered and sorted
 * in one piece), so a driver under a time budget serves its loop first if
 * much of its slice is used.
 */
export type PlaylistStep = undefined | 'wide-next';

/** Sites whose occurrences are placed between two steps: an item's sites are its largest piece of work (a province item reaches every site). */
const SITES_PER_STEP = 256;

/**
 * The same pipeline as `computePlaylists`, and the same result, in small
 * steps: it yields after each piece of bounded work (a slice of an item's
 * sites, one site's arbitration, one site's playlist) so a shell that shares
 * its event loop with alerts and live audio can serve it between steps
 * (distribution.ts drives it under a time budget). At 30,000 sites the whole
 * takes about a second of CPU; no single step is more than a few ms.
 * Nothing is read from outside between steps: the inputs must not change
 * while it is driven (the shell takes them once per run).
 */
export function* computePlaylistSteps(
  items: readonly BroadcastItem[],
  sites: SiteDirectory,
  media: MediaLookup,
  horizon: Horizon,
): Generator<PlaylistStep, ScheduleComputation, void> {
  const byId = new Map(items.map((i) => [i.id, i]));
  const planners = new Map<string, LanguagePlanner>();
  for (const i of items) if (isLive(i) && hasVersions(i)) planners.set(i.id, new LanguagePlanner(i));
  const languagePlans = (siteId: string): SiteLanguagePlans => {
    const languages = sites.languagesOf(siteId);
    const parts = sites.canPlayParts(siteId);
    return (itemId) => planners.get(itemId)?.plan(languages, parts);
  };
  const all: Array<ResolveProblem | PlaylistProblem> = [];
  // resolveOccurrences then arbitrate's grouping, fused: each site's occurrences in the same order (item, then start) as theirs.
  const bySite = new Map<string, Occurrence[]>();
  for (const item of items) {
    if (!isLive(item)) continue;
    if (item.targets.areaKeys.length > 0) yield 'wide-next';
    const r = resolveItem(item, sites, horizon);
    all.push(...r.problems);
    const { siteIds, starts } = r.resolved;
    yield;
    if (starts.length === 0) continue;
    const planner = planners.get(item.id);
    for (let k = 0; k < siteIds.length; k++) {
      const siteId = siteIds[k]!;
      let list = bySite.get(siteId);
      if (!list) bySite.set(siteId, (list = []));
      // Each site's programme is as long as the versions it hears: arbitration keeps that end clear.
      const durationMs = planner ? planner.plan(sites.languagesOf(siteId), sites.canPlayParts(siteId)).durationMs : item.durationMs;
      for (const startAt of starts) list.push({ itemId: item.id, siteId, startAt, endAt: startAt + durationMs, priority: item.priority });
      if ((k + 1) % SITES_PER_STEP === 0) yield;
    }
  }
  const plans = new Map<string, SitePlan>();
  for (const [siteId, list] of bySite) {
    plans.set(siteId, arbitrateSite(siteId, list, byId));
    yield;
  }
  const playlists = new Map<string, SitePlaylist>();
  const reported = new Set<string>();
  for (const site of sites.activeSites()) {
    const plan = plans.get(site.siteId) ?? { siteId: site.siteId, plays: [], skipped: [] };
    const r = playlistForSite(plan, byId, media, horizon, languagePlans(site.siteId));
    playlists.set(site.siteId, r.playlist);
    for (const p of r.problems) {
      if (!reported.has(p.itemId)) all.push(p);
      reported.add(p.itemId);
    }
    yield;
  }
  return { playlists, plans, problems: all };
}

export interface PlaylistDiff {
  /** True when nothing differs (the versions are equal). */
  same: boolean;
  added: PlaylistEntry[];
  removed: PlaylistEntry[];
  /** Same occurrence id, different content (moved by a queue shift, media replaced, …). */
  changed: Array<{ before: PlaylistEntry; after: PlaylistEntry }>;
}

export function diffPlaylists(before: SitePlaylist, after: SitePlaylist): PlaylistDiff {
  const old = new Map(before.entries.map((e) => [e.id, e]));
  const added: PlaylistEntry[] = [];
  const changed: PlaylistDiff['changed'] = [];
  for (const e of after.entries) {
    const o = old.get(e.id);
    if (!o) added.push(e);
    else {
      old.delete(e.id);
      if (
        o.mediaId !== e.mediaId ||
        o.sha256 !== e.sha256 ||
        o.startAt !== e.startAt ||
        o.durationMs !== e.durationMs ||
        o.priority !== e.priority ||
        o.itemId !== e.itemId ||
        JSON.stringify(o.parts) !== JSON.stringify(e.parts)
      ) {
        changed.push({ before: o, after: e });
      }
    }
  }
  const removed = [...old.values()];
  return { same: added.length === 0 && removed.length === 0 && changed.length === 0, added, removed, changed };
}

/** SHA-256s some entry of these playlists plays: the agent's cache must keep them; anything else may go. */
export function mediaNeeded(playlists: SitePlaylist | Iterable<SitePlaylist>): Set<string> {
  const needed = new Set<string>();
  const list: Iterable<SitePlaylist> = 'entries' in playlists ? [playlists as SitePlaylist] : (playlists as Iterable<SitePlaylist>);
  for (const p of list)
    for (const e of p.entries) {
      needed.add(e.sha256);
      for (const part of e.parts ?? []) needed.add(part.sha256);
    }
  return needed;
}
