/**
 * Which simulated sites to run for a given number: pure, deterministic.
 *
 * One commune station per commune first (as the province plan requires),
 * then village clusters spread round-robin over the communes, one per
 * village. The official lists stop at commune level (see
 * server/registry/vn-admin/SOURCES.md), so the villages are simulated:
 * codes `{commune}-{NN}`, names "Thôn NN", placed within a few km of the
 * commune's centroid. Every fifth cluster is a solar one without a
 * monitoring microphone, as in remote hamlets.
 */
export interface CommuneInfo {
  key: string;
  code: string;
  name: string;
  lat: number | null;
  lon: number | null;
}

export interface PlannedVillage {
  code: string;
  name: string;
  parentKey: string;
  lat: number | null;
  lon: number | null;
}

export interface PlannedSite {
  id: string;
  name: string;
  kind: 'station' | 'cluster';
  /** Area key or code the site is registered in (the commune for a station, the village for a cluster). */
  area: string;
  profile: 'commune-station' | 'village-cluster-4g' | 'village-cluster-solar';
  lat: number | null;
  lon: number | null;
  village?: PlannedVillage;
}

/** Deterministic offset in [-1, 1) from a string, so positions repeat from run to run. */
function hashUnit(s: string, salt: number): number {
  let h = 2166136261 ^ salt;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return ((h >>> 0) / 2 ** 32) * 2 - 1;
}

function near(lat: number | null, lon: number | null, seed: string, km: number): { lat: number | null; lon: number | null } {
  if (lat === null || lon === null) return { lat: null, lon: null };
  const dLat = (hashUnit(seed, 1) * km) / 111;
  const dLon = (hashUnit(seed, 2) * km) / (111 * Math.cos((lat * Math.PI) / 180));
  return { lat: Math.round((lat + dLat) * 1e5) / 1e5, lon: Math.round((lon + dLon) * 1e5) / 1e5 };
}

export function planFleet(communes: readonly CommuneInfo[], n: number, idPrefix = 'sim'): PlannedSite[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`number of sites must be a whole number ≥ 0, got ${n}`);
  if (communes.length === 0) throw new Error('no communes to place sites in: import an area list first');
  const sorted = [...communes].sort((a, b) => a.code.localeCompare(b.code));
  const out: PlannedSite[] = [];
  for (const c of sorted.slice(0, Math.min(n, sorted.length))) {
    const code = c.code.toLowerCase();
    out.push({ id: `${idPrefix}-${code}-st`, name: `Đài truyền thanh ${c.name}`, kind: 'station', area: c.key, profile: 'commune-station', lat: c.lat, lon: c.lon });
  }
  let clusters = n - out.length;
  for (let round = 1; clusters > 0; round++) {
    for (const c of sorted) {
      if (clusters === 0) break;
      const nn = String(round).padStart(2, '0');
      const villageCode = `${c.code}-${nn}`;
      const pos = near(c.lat, c.lon, villageCode, 4);
      const village: PlannedVillage = { code: villageCode, name: `Thôn ${nn}`, parentKey: c.key, lat: pos.lat, lon: pos.lon };
      const index = out.length - Math.min(n, sorted.length);
      out.push({
        id: `${idPrefix}-${c.code.toLowerCase()}-v${nn}`,
        name: `Cụm loa thôn ${nn}, ${c.name}`,
        kind: 'cluster',
        area: `${c.key.split('.')[0]}.${villageCode}`,
        profile: index % 5 === 4 ? 'village-cluster-solar' : 'village-cluster-4g',
        lat: pos.lat,
        lon: pos.lon,
        village,
      });
      clusters--;
    }
  }
  return out;
}

/** Pick `share` of the sites (deterministically by seed) for fault injection. */
export function pickFaulty<T extends { id: string }>(sites: readonly T[], share: number, seed = 1): T[] {
  if (share <= 0) return [];
  const count = Math.round(sites.length * Math.min(1, share));
  return [...sites].sort((a, b) => hashUnit(a.id, seed) - hashUnit(b.id, seed)).slice(0, count);
}
