/**
 * Where an alert goes, pure: target areas and/or sites picked by geometry
 * (a drawn polygon, a CAP polygon or circle) → the sites targeted, the area
 * channels to publish on, and whether the message must name its sites.
 *
 * - Area keys must be in the area index; each targets every site of its subtree.
 * - Geometry targets individual sites; they are published on their own
 *   areas' channels with a `sites` filter, since the rest of those areas is
 *   not meant to hear it.
 * - Channels are a minimal cover: an area below another target area is not
 *   published on again (its sites hear the ancestor's channel).
 * - Scope: an official whose role is scoped to an area subtree may target only
 *   inside it; anything outside is refused (never silently dropped: an
 *   official must know the alert does not reach what they drew), naming the
 *   areas they gave but only counting the sites, which are not theirs to see.
 */
import type { AreaIndex } from '../coverage/coverage.ts';
import type { AreaNode } from '../registry/model.ts';
import { compileRing, type SiteLocation } from './cap/area-match.ts';
import type { LatLon } from './cap/model.ts';

export interface TargetSite {
  siteId: string;
  areaId: number;
  lat: number | null;
  lon: number | null;
}

export interface TargetRequest {
  areaKeys: readonly string[];
  /** Sites chosen by geometry. */
  siteIds: readonly string[];
}

export interface ResolvedTargets {
  /** Every targeted site, sorted. */
  siteIds: string[];
  /** Area channels to publish on. */
  channels: string[];
  /** Sites the message must name (geometry involved); null: every site of the channels' areas. */
  siteFilter: string[] | null;
  /** The target areas as given. */
  areas: AreaNode[];
}

export type TargetProblem = { field: string; message: string };

export function resolveTargets(req: TargetRequest, index: AreaIndex, sites: readonly TargetSite[]): { ok: true; targets: ResolvedTargets } | { ok: false; problem: TargetProblem } {
  const areas: AreaNode[] = [];
  for (const [i, key] of req.areaKeys.entries()) {
    const node = index.get(key);
    if (!node) return { ok: false, problem: { field: `areas[${i}]`, message: `area ${key} is not in the area registry` } };
    if (!areas.some((a) => a.id === node.id)) areas.push(node);
  }
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  const targeted = new Set<string>();
  for (const s of sites) if (areas.some((a) => index.isInSubtree(s.areaId, a.id))) targeted.add(s.siteId);
  const geometric: TargetSite[] = [];
  for (const id of req.siteIds) {
    const s = byId.get(id);
    if (!s) return { ok: false, problem: { field: 'sites', message: `site ${id} is not registered` } };
    if (!targeted.has(id)) geometric.push(s);
    targeted.add(id);
  }
  if (targeted.size === 0) {
    return { ok: false, problem: { field: areas.length > 0 ? 'areas' : 'polygon', message: 'the target holds no registered site: nothing would hear the alert' } };
  }
  const channelAreas = new Map<number, AreaNode>(areas.map((a) => [a.id, a]));
  for (const s of geometric) {
    const node = index.byId.get(s.areaId);
    if (node) channelAreas.set(node.id, node);
  }
  const all = [...channelAreas.values()];
  const channels = all
    .filter((a) => !all.some((b) => b.id !== a.id && index.isInSubtree(a.id, b.id)))
    .map((a) => a.key)
    .sort();
  const siteIds = [...targeted].sort();
  return { ok: true, targets: { siteIds, channels, siteFilter: geometric.length > 0 ? siteIds : null, areas } };
}

/** Points of a polygon drawn on the console's map (the body of POST /api/alerts refuses more, naming the limit). */
export const DRAWN_POLYGON_MAX_POINTS = 1000;

/** Sites inside a drawn polygon (closed automatically when the first point is not repeated at the end). */
export function sitesInPolygon(polygon: readonly LatLon[], sites: readonly TargetSite[]): string[] {
  const inside = compileRing(closeRing(polygon));
  return sites.filter((s) => s.lat !== null && s.lon !== null && inside([s.lat, s.lon])).map((s) => s.siteId);
}

export function closeRing(polygon: readonly LatLon[]): LatLon[] {
  const first = polygon[0];
  const last = polygon[polygon.length - 1];
  if (!first || !last) return [];
  return first[0] === last[0] && first[1] === last[1] ? [...polygon] : [...polygon, first];
}

/** Why a drawn polygon is unusable, or null. */
export function polygonProblem(polygon: readonly LatLon[]): string | null {
  if (polygon.length > DRAWN_POLYGON_MAX_POINTS) return `has ${polygon.length} points; a drawn polygon may have at most ${DRAWN_POLYGON_MAX_POINTS}`;
  for (const [i, p] of polygon.entries()) {
    if (!(p[0] >= -90 && p[0] <= 90 && p[1] >= -180 && p[1] <= 180)) return `point ${i} (${p[0]},${p[1]}) is not a WGS 84 latitude,longitude`;
  }
  const distinct = new Set(polygon.map((p) => `${p[0]},${p[1]}`));
  if (distinct.size < 3) return 'a polygon needs at least 3 distinct points';
  return null;
}

/** Sites with coordinates as the CAP area matcher wants them. */
export function siteLocations(sites: readonly TargetSite[]): SiteLocation[] {
  return sites.flatMap((s) => (s.lat !== null && s.lon !== null ? [{ siteId: s.siteId, lat: s.lat, lon: s.lon, areaId: s.areaId }] : []));
}

/**
 * Scope check for an official whose role covers the subtree of `scopeAreaId`
 * (null: the whole network). Answers what lies outside, or null when all is inside.
 */
export function outsideScope(targets: ResolvedTargets, scopeAreaId: number | null, index: AreaIndex, sites: readonly TargetSite[]): string | null {
  if (scopeAreaId === null) return null;
  const areasOut = targets.areas.filter((a) => !index.isInSubtree(a.id, scopeAreaId)).map((a) => `${a.key} (${a.name})`);
  if (areasOut.length > 0) return `area ${areasOut.slice(0, 5).join(', ')}${areasOut.length > 5 ? ` and ${areasOut.length - 5} more` : ''} lies outside your area`;
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  const sitesOut = targets.siteIds.filter((id) => {
    const s = byId.get(id);
    return !s || !index.isInSubtree(s.areaId, scopeAreaId);
  });
  // Only how many: the sites of other communes (ids, names) are not the caller's to learn from a refusal.
  if (sitesOut.length > 0) return `${sitesOut.length} ${sitesOut.length === 1 ? 'site' : 'sites'} of the target ${sitesOut.length === 1 ? 'lies' : 'lie'} outside your area`;
  return null;
}
