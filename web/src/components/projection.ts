/**
 * Where a site goes on the offline map: an equirectangular projection whose
 * east-west scale is cos(mean latitude), so a commune keeps its shape (at 22°N
 * a degree of longitude is 7% shorter than one of latitude), fitted and
 * centred in the drawing with north up. Pure, so it is unit-tested.
 */
export interface Box {
  width: number;
  height: number;
  pad: number;
}

export interface Projection {
  x(lon: number): number;
  y(lat: number): number;
}

export function fitProjection(points: ReadonlyArray<{ lat: number; lon: number }>, box: Box): Projection {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const minLat = Math.min(...lats);
  const maxLat = Math.max(...lats);
  const minLon = Math.min(...lons);
  const maxLon = Math.max(...lons);
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  // A single site (or sites on one line) still gets a finite scale.
  const spanX = Math.max((maxLon - minLon) * k, 0.01);
  const spanY = Math.max(maxLat - minLat, 0.01);
  const innerW = box.width - 2 * box.pad;
  const innerH = box.height - 2 * box.pad;
  const scale = Math.min(innerW / spanX, innerH / spanY);
  // From the centre of the sites to the centre of the drawing: the other dimension (or a lone site) is centred.
  const midLon = (minLon + maxLon) / 2;
  const midLat = (minLat + maxLat) / 2;
  return {
    x: (lon) => box.width / 2 + (lon - midLon) * k * scale,
    y: (lat) => box.height / 2 - (lat - midLat) * scale,
  };
}

/** Height of a label's text above its baseline (the map's 10 px font), and the gap to what it names. */
const LABEL_ASCENT = 10;
const LABEL_GAP = 2;

/**
 * Where a commune's name goes: above its ring, or below it when above would
 * leave the drawing (a commune on the top edge), so no name is cut.
 */
export function labelBaseline(cy: number, ringR: number, height: number): number {
  const above = cy - ringR - LABEL_GAP;
  if (above - LABEL_ASCENT >= 0) return above;
  return Math.min(cy + ringR + LABEL_GAP + LABEL_ASCENT, height - 1);
}

/** Room the drawing keeps around the sites for the commune rings (ring radius) and one line of label above them. */
export function mapPad(ringR: number): number {
  return ringR + LABEL_GAP + LABEL_ASCENT + 2;
}

/**
 * A site's dot: a station larger than a cluster, and a site that needs
 * attention (faulty, offline) larger than a healthy one, so it stands out
 * rather than hides among them.
 */
export function dotRadius(base: number, kind: 'station' | 'cluster', condition: string): number {
  return base * (kind === 'station' ? 1.4 : 1) * (condition === 'faulty' || condition === 'offline' ? 1.3 : 1);
}
