/** The console's offline site map: sites placed by coordinates, fitted, centred, north up, shape kept. */
import { describe, expect, it } from 'vitest';
import { dotRadius, fitProjection, labelBaseline, mapPad } from '../../web/src/components/projection.ts';

const box = { width: 600, height: 420, pad: 18 };
const BAT_XAT = { lat: 22.51954, lon: 103.85259 };
const LAO_CAI = { lat: 22.49889, lon: 104.01072 };
const CAM_DUONG = { lat: 22.43089, lon: 104.00719 };

describe('fitProjection', () => {
  it('keeps every site inside the drawing, north up and east right', () => {
    const pts = [BAT_XAT, LAO_CAI, CAM_DUONG];
    const p = fitProjection(pts, box);
    for (const s of pts) {
      expect(p.x(s.lon)).toBeGreaterThanOrEqual(box.pad - 1e-9);
      expect(p.x(s.lon)).toBeLessThanOrEqual(box.width - box.pad + 1e-9);
      expect(p.y(s.lat)).toBeGreaterThanOrEqual(box.pad - 1e-9);
      expect(p.y(s.lat)).toBeLessThanOrEqual(box.height - box.pad + 1e-9);
    }
    expect(p.y(BAT_XAT.lat)).toBeLessThan(p.y(CAM_DUONG.lat)); // Bát Xát is further north: higher on the map
    expect(p.x(BAT_XAT.lon)).toBeLessThan(p.x(LAO_CAI.lon)); // and further west: to the left
  });

  it('scales a degree of longitude by cos(latitude), so distances keep their proportions', () => {
    const p = fitProjection([BAT_XAT, CAM_DUONG], box);
    const dLon = 0.05;
    const dLat = 0.05;
    const east = p.x(BAT_XAT.lon + dLon) - p.x(BAT_XAT.lon);
    const north = p.y(BAT_XAT.lat) - p.y(BAT_XAT.lat + dLat);
    const k = Math.cos((((BAT_XAT.lat + CAM_DUONG.lat) / 2) * Math.PI) / 180);
    expect(east / north).toBeCloseTo(k, 6);
  });

  it('fills the limiting dimension and centres the other', () => {
    // A north-south line of sites: height is the limit, the line sits in the middle horizontally.
    const p = fitProjection(
      [
        { lat: 22.3, lon: 104 },
        { lat: 22.6, lon: 104 },
      ],
      box,
    );
    expect(p.y(22.6)).toBeCloseTo(box.pad, 6);
    expect(p.y(22.3)).toBeCloseTo(box.height - box.pad, 6);
    expect(p.x(104)).toBeCloseTo(box.width / 2, 0);
  });

  it('draws a single site in the middle', () => {
    const p = fitProjection([BAT_XAT], box);
    expect(p.x(BAT_XAT.lon)).toBeCloseTo(box.width / 2, 6);
    expect(p.y(BAT_XAT.lat)).toBeCloseTo(box.height / 2, 6);
  });
});

describe('what is drawn around the sites', () => {
  it("a commune's name goes above its ring, or below it when above would leave the drawing; never outside", () => {
    const ring = 20;
    expect(labelBaseline(200, ring, 420)).toBe(178);
    // On the top edge (the pad keeps the ring itself inside): below the ring, inside the box.
    const top = labelBaseline(mapPad(ring), ring, 420);
    expect(top - 10).toBeGreaterThanOrEqual(0);
    expect(labelBaseline(5, ring, 420)).toBe(37);
    expect(labelBaseline(5, ring, 420)).toBeLessThanOrEqual(419);
  });

  it('a fitted map with the pad for rings and names keeps every ring and name inside', () => {
    const ring = 20;
    const pts = [BAT_XAT, LAO_CAI, CAM_DUONG];
    const p = fitProjection(pts, { width: 600, height: 420, pad: mapPad(ring) });
    for (const s of pts) {
      const cy = p.y(s.lat);
      expect(cy - ring).toBeGreaterThanOrEqual(0);
      expect(cy + ring).toBeLessThanOrEqual(420);
      expect(labelBaseline(cy, ring, 420) - 10).toBeGreaterThanOrEqual(0);
    }
  });

  it('a faulty or offline site is drawn larger than a healthy one, a station larger than a cluster', () => {
    expect(dotRadius(5, 'cluster', 'faulty')).toBeGreaterThan(dotRadius(5, 'cluster', 'operational'));
    expect(dotRadius(5, 'cluster', 'offline')).toBeGreaterThan(dotRadius(5, 'cluster', 'degraded'));
    expect(dotRadius(5, 'station', 'operational')).toBeGreaterThan(dotRadius(5, 'cluster', 'operational'));
    expect(dotRadius(5, 'station', 'faulty')).toBeGreaterThan(dotRadius(5, 'station', 'operational'));
  });
});
