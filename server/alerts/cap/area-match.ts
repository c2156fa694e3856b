/**
 * CAP `<area>` → loanet targets. Pure.
 *
 * (a) Geocodes. A `<geocode>` whose valueName is in `VN_ADMIN_GEOCODE_NAMES`
 *     (compared after Unicode NFC, trimming and lower-casing) names an official
 *     mã đơn vị hành chính. Its value is either a bare code (`02683`), read in
 *     the structure version the caller says is current, or `{version}.{code}`
 *     (`2025.02683`), the AreaNode key itself. Codes not in the `AreaIndex` are
 *     reported. Geocodes of other schemes (SAME, FIPS, …) are reported as not
 *     Vietnamese.
 * (b) Polygons and circles are matched against site coordinates (the caller
 *     supplies `{siteId, lat, lon, areaId}`; SiteObservation has none).
 *     Polygon: ray casting with lat/lon taken as plane coordinates. At province
 *     scale (~100 km) the error of treating degrees as planar is far below the
 *     precision of a hand-drawn warning polygon. Vietnam (102°–110° E) is far
 *     from the antimeridian and the poles, so no wrap-around handling is done:
 *     a polygon crossing ±180° would be read wrongly. A point exactly on an edge
 *     may fall either way. Circle: haversine great-circle distance on a sphere of
 *     radius 6371.0088 km (mean Earth radius), inside when distance ≤ radius.
 *
 * Geometry is untrusted and sized by the sender, so it is capped where it is
 * read (`GEOMETRY_LIMITS`: points per polygon, shapes and points per alert;
 * CAP polygons from NWS, ECCC or BoM have at most a few hundred points), and
 * matching a polygon against the registry's sites costs little even at the
 * cap: a bounding-box test first, then only the edges of the point's latitude
 * band (`compileRing`), with exactly the crossing rule of `pointInPolygon`.
 *
 * Result: `areaKeys` from geocodes (the caller expands each to the sites of its
 * subtree), `siteIds` from geometry, `unmatched` with a reason for every
 * geocode/shape/area that yielded nothing, and `matchesNothing` when neither
 * list has anything — the caller refuses such an alert.
 */
import type { AreaIndex } from '../../coverage/coverage.ts';
import type { CapAlert, CapArea, LatLon } from './model.ts';

/**
 * Accepted valueNames for Vietnamese administrative codes (normalised form).
 * - `vn-admin`, `vn_admin`: loanet's recommended ASCII name;
 * - `mã đơn vị hành chính`, `ma don vi hanh chinh`, `madvhc`: the official Vietnamese term, with and without diacritics;
 * - `vn-dvhc`: short form seen in Vietnamese GIS data.
 */
export const VN_ADMIN_GEOCODE_NAMES: readonly string[] = ['vn-admin', 'vn_admin', 'mã đơn vị hành chính', 'ma don vi hanh chinh', 'madvhc', 'vn-dvhc'];

export interface SiteLocation {
  siteId: string;
  lat: number;
  lon: number;
  areaId: number;
}

export interface AreaMatchContext {
  index: AreaIndex;
  sites: readonly SiteLocation[];
  /** Structure version for bare codes, e.g. '2025'. */
  currentVersion: string;
}

export interface Unmatched {
  /** `info[0]/area[1]/geocode[0]` */
  path: string;
  reason: string;
}

export interface AreaMatch {
  areaKeys: string[];
  siteIds: string[];
  unmatched: Unmatched[];
  matchesNothing: boolean;
}

export function isVnAdminValueName(valueName: string): boolean {
  return VN_ADMIN_GEOCODE_NAMES.includes(valueName.normalize('NFC').trim().toLowerCase());
}

/** What one alert (CAP or drawn) may carry: refused beyond, naming the limit. */
export const GEOMETRY_LIMITS = {
  /** Points of one polygon (first = last counted): real warning polygons have tens to a few hundred. */
  polygonPoints: 4_000,
  /** Polygons and circles of one alert, all its info and area blocks together. */
  shapesPerAlert: 500,
  /** Points of all the polygons of one alert together. */
  pointsPerAlert: 40_000,
} as const;

const CODE_RE = /^\d{2,5}$/;
const KEY_RE = /^([0-9A-Za-z-]+)\.(\d{2,5})$/;

export function matchAlertAreas(alert: CapAlert, ctx: AreaMatchContext): AreaMatch {
  const areaKeys = new Set<string>();
  const siteIds = new Set<string>();
  const unmatched: Unmatched[] = [];
  alert.info.forEach((info, i) => {
    info.area.forEach((area, j) => {
      const found = matchArea(area, `info[${i}]/area[${j}]`, ctx, unmatched);
      for (const k of found.areaKeys) areaKeys.add(k);
      for (const s of found.siteIds) siteIds.add(s);
    });
  });
  if (alert.info.every((info) => info.area.length === 0)) unmatched.push({ path: 'info', reason: 'the alert has no <area>' });
  return { areaKeys: [...areaKeys], siteIds: [...siteIds], unmatched, matchesNothing: areaKeys.size === 0 && siteIds.size === 0 };
}

function matchArea(area: CapArea, path: string, ctx: AreaMatchContext, unmatched: Unmatched[]): { areaKeys: string[]; siteIds: string[] } {
  const areaKeys: string[] = [];
  const siteIds: string[] = [];
  area.geocode.forEach((g, k) => {
    const p = `${path}/geocode[${k}]`;
    if (!isVnAdminValueName(g.valueName)) {
      unmatched.push({ path: p, reason: `geocode ${g.valueName} is not a Vietnamese administrative code scheme` });
      return;
    }
    const v = g.value.trim();
    let key: string | null = null;
    if (CODE_RE.test(v)) key = `${ctx.currentVersion}.${v}`;
    else if (KEY_RE.test(v)) key = v;
    if (key === null) {
      unmatched.push({ path: p, reason: `"${v}" is not an administrative code (e.g. 02683 or 2025.02683)` });
      return;
    }
    if (!ctx.index.get(key)) {
      unmatched.push({ path: p, reason: `administrative code ${key} is not in the area registry` });
      return;
    }
    areaKeys.push(key);
  });
  area.polygon.forEach((ring, k) => {
    const hits = sitesInRing(ring, ctx.sites);
    if (hits.length === 0) unmatched.push({ path: `${path}/polygon[${k}]`, reason: 'no site lies inside the polygon' });
    siteIds.push(...hits);
  });
  area.circle.forEach((c, k) => {
    const hits = ctx.sites.filter((s) => haversineKm(c.center, [s.lat, s.lon]) <= c.radiusKm).map((s) => s.siteId);
    if (hits.length === 0) unmatched.push({ path: `${path}/circle[${k}]`, reason: `no site lies within ${c.radiusKm} km of ${c.center[0]},${c.center[1]}` });
    siteIds.push(...hits);
  });
  if (area.geocode.length === 0 && area.polygon.length === 0 && area.circle.length === 0) {
    unmatched.push({ path, reason: `area "${area.areaDesc.slice(0, 80)}" has only a description: no geocode, polygon or circle` });
  }
  return { areaKeys, siteIds };
}

/** Ray casting (even-odd rule), lat/lon as plane coordinates; `ring` is closed. */
export function pointInPolygon(p: LatLon, ring: readonly LatLon[]): boolean {
  const [y, x] = p;
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [yi, xi] = ring[i]!;
    const [yj, xj] = ring[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * `pointInPolygon` for many points: the ring's bounding box, and its edges
 * sorted into latitude bands so a point is tested against the edges of its
 * band only. Gives the same answer as `pointInPolygon` (the same edges cross
 * the ray, by the same test) at a fraction of the cost for large rings.
 */
export function compileRing(ring: readonly LatLon[]): (p: LatLon) => boolean {
  const n = ring.length;
  if (n === 0) return () => false;
  const ys = new Float64Array(n);
  const xs = new Float64Array(n);
  let minY = Infinity;
  let maxY = -Infinity;
  let minX = Infinity;
  let maxX = -Infinity;
  for (let i = 0; i < n; i++) {
    const y = (ys[i] = ring[i]![0]);
    const x = (xs[i] = ring[i]![1]);
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
  }
  // About four edges per band for an ordinary outline; an edge is listed in every band it spans.
  const bands = Math.max(1, Math.min(1024, Math.ceil(n / 4)));
  const h = (maxY - minY) / bands || 1;
  const band = (y: number) => Math.min(bands - 1, Math.max(0, Math.floor((y - minY) / h)));
  // Edge i joins point i and point i-1 (i = 0: the last point), as in pointInPolygon.
  const lists: number[][] = Array.from({ length: bands }, () => []);
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const yi = ys[i]!;
    const yj = ys[j]!;
    if (yi === yj) continue; // never crosses a horizontal ray
    for (let b = band(Math.min(yi, yj)), hi = band(Math.max(yi, yj)); b <= hi; b++) lists[b]!.push(i);
  }
  const edgesOf = lists.map((l) => Int32Array.from(l));
  return ([y, x]) => {
    // Outside the box nothing crosses (or every crossing pairs up): outside, as pointInPolygon answers.
    if (!(y >= minY && y < maxY && x >= minX && x <= maxX)) return false;
    let inside = false;
    const edges = edgesOf[band(y)]!;
    for (let k = 0; k < edges.length; k++) {
      const i = edges[k]!;
      const j = i === 0 ? n - 1 : i - 1;
      const yi = ys[i]!;
      const xi = xs[i]!;
      const yj = ys[j]!;
      const xj = xs[j]!;
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  };
}

/** Ids of the sites inside a closed ring. */
export function sitesInRing(ring: readonly LatLon[], sites: readonly SiteLocation[]): string[] {
  const inside = compileRing(ring);
  return sites.filter((s) => inside([s.lat, s.lon])).map((s) => s.siteId);
}

const EARTH_RADIUS_KM = 6371.0088;

export function haversineKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}
