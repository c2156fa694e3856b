import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { haversineKm, isVnAdminValueName, matchAlertAreas, pointInPolygon, type SiteLocation } from '../../server/alerts/cap/area-match.ts';
import type { CapAlert, LatLon } from '../../server/alerts/cap/model.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { AreaLevel, AreaNode } from '../../server/registry/model.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cap');
function load(name: string, edit: (s: string) => string = (s) => s): CapAlert {
  const r = parseCap(edit(readFileSync(path.join(FIXTURES, name), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.alert;
}

let nextId = 1;
const node = (code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode => ({
  id: nextId++,
  key: `2025.${code}`,
  code,
  version: '2025',
  name,
  level,
  parentId: parent?.id ?? null,
});
const P = node('15', 'Tỉnh Lào Cai', 'province', null);
const BAT_XAT = node('02683', 'Xã Bát Xát', 'commune', P);
const Y_TY = node('02701', 'Xã Y Tý', 'commune', P);
const MUONG_HUM = node('02728', 'Xã Mường Hum', 'commune', P);
const index = AreaIndex.build([P, BAT_XAT, Y_TY, MUONG_HUM]);

// Sites near the 2025 centroids (lao-cai-2025.csv).
const SITES: SiteLocation[] = [
  { siteId: 'bat-xat-station', lat: 22.51954, lon: 103.85259, areaId: BAT_XAT.id },
  { siteId: 'y-ty-station', lat: 22.6516, lon: 103.6013, areaId: Y_TY.id },
  { siteId: 'muong-hum-station', lat: 22.46677, lon: 103.65784, areaId: MUONG_HUM.id },
  { siteId: 'muong-hum-ban-2', lat: 22.48, lon: 103.67, areaId: MUONG_HUM.id }, // ≈ 1.9 km NE of the centroid
  { siteId: 'muong-hum-ban-9', lat: 22.5, lon: 103.7, areaId: MUONG_HUM.id }, // ≈ 5.7 km away
];
const ctx = { index, sites: SITES, currentVersion: '2025' };

describe('CAP area → loanet targets', () => {
  it('geocode VN-ADMIN 02683 → the Bát Xát area key', () => {
    expect(matchAlertAreas(load('vn-lu-quet-bat-xat-alert.xml'), ctx)).toEqual({ areaKeys: ['2025.02683'], siteIds: [], unmatched: [], matchesNothing: false });
  });

  it('the Update reaches Bát Xát (2025.02683 form) and Y Tý (Vietnamese valueName)', () => {
    expect(matchAlertAreas(load('vn-lu-quet-bat-xat-update.xml'), ctx).areaKeys).toEqual(['2025.02683', '2025.02701']);
  });

  it('accepted valueNames, normalised', () => {
    for (const n of ['VN-ADMIN', 'vn_admin', 'Mã đơn vị hành chính', ' ma don vi hanh chinh ', 'MADVHC', 'mã đơn vị hành chính'.normalize('NFD')]) {
      expect(isVnAdminValueName(n), n).toBe(true);
    }
    expect(isVnAdminValueName('SAME')).toBe(false);
  });

  it('unknown codes, foreign schemes and malformed values are reported; nothing matched is said so', () => {
    const a = load('vn-lu-quet-bat-xat-alert.xml', (s) =>
      s.replace(
        /<geocode>[\s\S]*?<\/geocode>/,
        '<geocode><valueName>VN-ADMIN</valueName><value>99999</value></geocode><geocode><valueName>SAME</valueName><value>006037</value></geocode><geocode><valueName>VN-ADMIN</valueName><value>Bát Xát</value></geocode>',
      ),
    );
    const m = matchAlertAreas(a, ctx);
    expect(m.matchesNothing).toBe(true);
    expect(m.unmatched).toEqual([
      { path: 'info[0]/area[0]/geocode[0]', reason: 'administrative code 2025.99999 is not in the area registry' },
      { path: 'info[0]/area[0]/geocode[1]', reason: 'geocode SAME is not a Vietnamese administrative code scheme' },
      { path: 'info[0]/area[0]/geocode[2]', reason: '"Bát Xát" is not an administrative code (e.g. 02683 or 2025.02683)' },
    ]);
  });

  it('an older structure version by key is looked up as written', () => {
    const a = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace('<value>02683</value>', '<value>2020.02683</value>'));
    expect(matchAlertAreas(a, ctx).unmatched[0]!.reason).toContain('2020.02683 is not in the area registry');
  });

  it('the landslide circle (3 km around Mường Hum) takes the sites within 3 km only', () => {
    const m = matchAlertAreas(load('vn-sat-lo-muong-hum-circle.xml'), ctx);
    expect(m.siteIds.sort()).toEqual(['muong-hum-ban-2', 'muong-hum-station']);
    expect(m.areaKeys).toEqual([]);
    expect(m.matchesNothing).toBe(false);
  });

  it('a polygon around Bát Xát and Y Tý but not Mường Hum', () => {
    const a = load('vn-lu-quet-bat-xat-alert.xml', (s) =>
      s.replace(/<geocode>[\s\S]*?<\/geocode>/, '<polygon>22.51,103.55 22.70,103.55 22.70,103.90 22.51,103.90 22.51,103.55</polygon>'),
    );
    expect(matchAlertAreas(a, ctx).siteIds.sort()).toEqual(['bat-xat-station', 'y-ty-station']);
  });

  it('shapes that reach no site, and description-only areas, are reported', () => {
    const m = matchAlertAreas(load('v1dot2_appendix_adot2.xml'), ctx);
    expect(m.matchesNothing).toBe(true);
    expect(m.unmatched.map((u) => u.path)).toEqual(['info[0]/area[0]/geocode[0]', 'info[0]/area[0]/geocode[1]', 'info[0]/area[0]/geocode[2]', 'info[0]/area[0]/polygon[0]']);
    const d = matchAlertAreas(load('v1dot2_appendix_adot1.xml'), ctx);
    expect(d.unmatched[0]!.reason).toContain('only a description');
    expect(matchAlertAreas(load('ipaws-5e6dd9de023f1930ef6548d9.xml'), ctx)).toMatchObject({
      matchesNothing: true,
      unmatched: [{ path: 'info', reason: 'the alert has no <area>' }],
    });
  });
});

describe('geometry', () => {
  it('haversine: one degree of latitude ≈ 111.2 km; Bát Xát–Y Tý ≈ 30 km', () => {
    expect(haversineKm([22, 104], [23, 104])).toBeCloseTo(111.19, 1);
    expect(haversineKm([22.51954, 103.85259], [22.6516, 103.6013])).toBeGreaterThan(29);
    expect(haversineKm([22.51954, 103.85259], [22.6516, 103.6013])).toBeLessThan(31);
  });

  it('point in polygon agrees with a rectangle test', () => {
    const ring: LatLon[] = [
      [22, 103],
      [23, 103],
      [23, 104],
      [22, 104],
      [22, 103],
    ];
    fc.assert(
      fc.property(fc.double({ min: 21, max: 24, noNaN: true }), fc.double({ min: 102, max: 105, noNaN: true }), (lat, lon) => {
        const strictlyIn = lat > 22 && lat < 23 && lon > 103 && lon < 104;
        const strictlyOut = lat < 22 || lat > 23 || lon < 103 || lon > 104;
        if (strictlyIn) expect(pointInPolygon([lat, lon], ring)).toBe(true);
        if (strictlyOut) expect(pointInPolygon([lat, lon], ring)).toBe(false);
      }),
    );
  });

  it('point in a concave polygon', () => {
    // A "U": the notch (22.5..23, 103.4..103.6) is outside.
    const u: LatLon[] = [
      [22, 103],
      [23, 103],
      [23, 103.4],
      [22.5, 103.4],
      [22.5, 103.6],
      [23, 103.6],
      [23, 104],
      [22, 104],
      [22, 103],
    ];
    expect(pointInPolygon([22.8, 103.5], u)).toBe(false);
    expect(pointInPolygon([22.8, 103.2], u)).toBe(true);
    expect(pointInPolygon([22.2, 103.5], u)).toBe(true);
  });
});
