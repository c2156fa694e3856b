/**
 * Which language versions of a bulletin a site hears, and in which order
 * (Decree 49/2024/NĐ-CP: grassroots information in ethnic-minority
 * languages). Pure: the site's languages (its area's, inherited:
 * server/registry/area-languages.ts) and whether its agent plays parts are
 * passed in.
 *
 * Decisions:
 * - The versions play in the order of the site's languages, one per
 *   language the bulletin has a version in, back to back as one programme.
 * - A language of the site with no version is listed as missing, never
 *   filled by playing another version twice.
 * - If none of the site's languages has a version, the default version
 *   (Vietnamese normally) plays alone: a village hears the bulletin in some
 *   language rather than not at all (fallback `no_version`).
 * - Several versions need an agent that plays parts (protocol
 *   PLAYLIST_PARTS_FEATURE); an older agent gets the default version alone
 *   (fallback `agent_without_parts`). One version alone needs no parts and
 *   reaches any agent.
 * - The programme lasts the sum of what plays at that site: its
 *   arbitration and conflicts use that end, not the default version's.
 */
import type { BroadcastItem, ItemVersion } from './model.ts';

/** Most versions one programme plays (protocol MAX_PLAYLIST_PARTS). */
export const MAX_VERSIONS = 8;

/** Why the default version plays instead of the site's own languages. */
export const LANGUAGE_FALLBACKS = ['no_version', 'agent_without_parts'] as const;
export type LanguageFallback = (typeof LANGUAGE_FALLBACKS)[number];

export interface LanguagePlan {
  /** The site's languages, in order, as the plan saw them. */
  siteLanguages: string[];
  /** What plays, in order: one or more versions. */
  plays: ItemVersion[];
  /** Languages of the site the bulletin has no version in. */
  missing: string[];
  /** Why the default version plays instead of the site's own, or null. */
  fallback: LanguageFallback | null;
  durationMs: number;
}

/** Every version of an item, the default first: what it can play in. */
export function itemVersions(item: Pick<BroadcastItem, 'mediaId' | 'durationMs' | 'language' | 'versions'>): ItemVersion[] {
  const first: ItemVersion = { language: item.language ?? 'vi', mediaId: item.mediaId, durationMs: item.durationMs };
  return [first, ...(item.versions ?? [])];
}

/** Whether an item has versions in other languages (else every site plays its one media as before). */
export function hasVersions(item: Pick<BroadcastItem, 'versions'>): boolean {
  return (item.versions?.length ?? 0) > 0;
}

/** The longest any site may play the item: the first MAX_VERSIONS versions back to back. */
export function longestDurationMs(item: Pick<BroadcastItem, 'mediaId' | 'durationMs' | 'language' | 'versions'>): number {
  if (!hasVersions(item)) return item.durationMs;
  return itemVersions(item)
    .slice(0, MAX_VERSIONS)
    .reduce((n, v) => n + v.durationMs, 0);
}

/** What a site with these languages hears of the item (see the module's decisions). */
export function planLanguages(
  item: Pick<BroadcastItem, 'mediaId' | 'durationMs' | 'language' | 'versions'>,
  siteLanguages: readonly string[],
  canPlayParts: boolean,
): LanguagePlan {
  const all = itemVersions(item);
  const byLanguage = new Map<string, ItemVersion>();
  for (const v of all) if (!byLanguage.has(v.language)) byLanguage.set(v.language, v);
  const languages = [...new Set(siteLanguages)];
  const chosen: ItemVersion[] = [];
  const media = new Set<string>();
  const missing: string[] = [];
  for (const lang of languages) {
    const v = byLanguage.get(lang);
    if (!v) missing.push(lang);
    else if (!media.has(v.mediaId) && chosen.length < MAX_VERSIONS) {
      chosen.push(v);
      media.add(v.mediaId);
    }
  }
  const only = (v: ItemVersion, fallback: LanguageFallback | null): LanguagePlan => ({
    siteLanguages: languages,
    plays: [v],
    missing,
    fallback,
    durationMs: v.durationMs,
  });
  const def = all[0]!;
  if (chosen.length === 0) return only(def, 'no_version');
  if (chosen.length === 1) return only(chosen[0]!, null);
  if (!canPlayParts) return only(def, 'agent_without_parts');
  return { siteLanguages: languages, plays: chosen, missing, fallback: null, durationMs: chosen.reduce((n, v) => n + v.durationMs, 0) };
}

/**
 * Plans of one item for many sites, each distinct (languages, parts) asked
 * once: a province's villages share a handful of language lists.
 */
export class LanguagePlanner {
  private readonly memo = new Map<string, LanguagePlan>();
  constructor(private readonly item: Pick<BroadcastItem, 'mediaId' | 'durationMs' | 'language' | 'versions'>) {}
  plan(siteLanguages: readonly string[], canPlayParts: boolean): LanguagePlan {
    const key = `${canPlayParts ? 1 : 0}|${siteLanguages.join(',')}`;
    let p = this.memo.get(key);
    if (!p) this.memo.set(key, (p = planLanguages(this.item, siteLanguages, canPlayParts)));
    return p;
  }
}

/**
 * What an operator must still record for an item: each language some of
 * these sites speak that the item has no version in, with those sites, in
 * the order the languages are first met. An item without versions is in its
 * default version's language only.
 */
export function missingVersions(
  item: Pick<BroadcastItem, 'mediaId' | 'durationMs' | 'language' | 'versions'>,
  sites: ReadonlyArray<{ siteId: string; languages: readonly string[] }>,
): Array<{ language: string; siteIds: string[] }> {
  const planner = new LanguagePlanner(item);
  const out = new Map<string, string[]>();
  for (const s of sites) {
    for (const language of planner.plan(s.languages, true).missing) {
      let list = out.get(language);
      if (!list) out.set(language, (list = []));
      list.push(s.siteId);
    }
  }
  return [...out].map(([language, siteIds]) => ({ language, siteIds }));
}
