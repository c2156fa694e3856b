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
