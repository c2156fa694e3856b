/**
 * The registry's nouns: the kinds of site and the area tree's nodes. Pure
 * types, owned here because the registry keeps them (areas.ts, sites.ts);
 * coverage, schedule and alerts read them.
 */

export type SiteKind = 'station' | 'cluster';
export type AreaLevel = 'province' | 'district' | 'commune' | 'village';

export interface AreaNode {
  id: number;
  /** `{structureVersion}.{code}`, e.g. `2025.02647`. */
  key: string;
  code: string;
  version: string;
  name: string;
  level: AreaLevel;
  parentId: number | null;
  /** The area's own languages, in order (area-languages.ts); null or absent: it speaks its parent's. */
  languages?: readonly string[] | null;
}
