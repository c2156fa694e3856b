/**
 * The languages an area speaks, in the order its bulletins should be heard
 * (Decree 49/2024/NĐ-CP: grassroots information in ethnic-minority
 * languages). An area may hold its own ordered list; one that does not
 * speaks its parent's, and so on up the tree; a tree where no area says
 * anything speaks Vietnamese. Tags are BCP 47 in the media library's
 * canonical case (server/media/languages.ts), so they compare as strings
 * with the language of a media item. Pure.
 */
import { normaliseLanguageTag } from '../media/languages.ts';

/** What a province that set nothing speaks. */
export const DEFAULT_AREA_LANGUAGES: readonly string[] = ['vi'];

/** Most languages one area may list: as many as one programme may have versions (protocol MAX_PLAYLIST_PARTS). */
export const MAX_AREA_LANGUAGES = 8;

/** What the inheritance needs of an area: its parent and its own list (null or absent: inherits). */
export interface LanguageNode {
  id: number;
  parentId: number | null;
  languages?: readonly string[] | null;
}

export interface EffectiveLanguages {
  languages: readonly string[];
  /** The area whose own list this is (the area itself, or the nearest ancestor with one); null: the default. */
  fromAreaId: number | null;
}

/** Deepest tree walked: the area tree is a handful of levels; a longer chain is a parent cycle, not a tree. */
const MAX_DEPTH = 32;

/** The languages of area `id`: its own list, else its nearest ancestor's, else DEFAULT_AREA_LANGUAGES. */
export function effectiveLanguages(id: number, byId: ReadonlyMap<number, LanguageNode>): EffectiveLanguages {
  let cur = byId.get(id);
  for (let depth = 0; cur && depth < MAX_DEPTH; depth++) {
    if (cur.languages && cur.languages.length > 0) return { languages: cur.languages, fromAreaId: cur.id };
    if (cur.parentId === null || cur.parentId === cur.id) break;
    cur = byId.get(cur.parentId);
  }
  return { languages: DEFAULT_AREA_LANGUAGES, fromAreaId: null };
}

/** Effective languages of many areas, each ancestor looked at once: what a province's playlists are computed with. */
export function effectiveLanguagesOf(ids: Iterable<number>, byId: ReadonlyMap<number, LanguageNode>): Map<number, readonly string[]> {
  const memo = new Map<number, readonly string[]>();
  const resolve = (start: number): readonly string[] => {
    const chain: number[] = [];
    let cur = byId.get(start);
    let found: readonly string[] = DEFAULT_AREA_LANGUAGES;
    for (let depth = 0; cur && depth < MAX_DEPTH; depth++) {
      const known = memo.get(cur.id);
      if (known) {
        found = known;
        break;
      }
      chain.push(cur.id);
      if (cur.languages && cur.languages.length > 0) {
        found = cur.languages;
        break;
      }
      if (cur.parentId === null || cur.parentId === cur.id) break;
      cur = byId.get(cur.parentId);
    }
    for (const c of chain) memo.set(c, found);
    return found;
  };
  const out = new Map<number, readonly string[]>();
  for (const id of ids) out.set(id, memo.get(id) ?? resolve(id));
  return out;
}

export type LanguageListProblem = { problem: 'not_a_tag'; index: number; value: string } | { problem: 'too_many'; max: number } | { problem: 'empty' };

/**
 * A list as typed or imported → canonical tags in the given order, each once
 * (`HMN` and `hmn` are one language); or the first problem: a tag that is not
 * BCP 47, more than MAX_AREA_LANGUAGES languages, or none.
 */
export function normaliseLanguageList(raw: readonly string[]): { ok: true; languages: string[] } | ({ ok: false } & LanguageListProblem) {
  const out: string[] = [];
  for (const [index, value] of raw.entries()) {
    const tag = normaliseLanguageTag(value);
    if (!tag) return { ok: false, problem: 'not_a_tag', index, value };
    if (!out.includes(tag)) out.push(tag);
  }
  if (out.length === 0) return { ok: false, problem: 'empty' };
  if (out.length > MAX_AREA_LANGUAGES) return { ok: false, problem: 'too_many', max: MAX_AREA_LANGUAGES };
  return { ok: true, languages: out };
}

/** A list as stored (JSON text, NULL for none) → tags, or null; anything unreadable counts as no list (inherits). */
export function parseStoredLanguages(text: string | null): string[] | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v) || v.length === 0 || !v.every((t): t is string => typeof t === 'string')) return null;
    return v;
  } catch {
    return null;
  }
}
