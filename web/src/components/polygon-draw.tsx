/**
 * Drawing an alert's area over the sites' map: each tap adds a corner, the
 * shape closes itself, and the sites inside are counted as the user draws
 * (the server decides the targets: POST /api/alerts `polygon`, the same ray
 * casting in server/alerts/targets.ts). Plain SVG over the projection of the
 * site map, so it works offline; points are [latitude, longitude].
 * Without a pointer (a keyboard, a screen reader, coordinates from a
 * hazard map), the corners are typed or pasted, one per line, and the
 * field shows the drawn ones in the same form.
 */
import { useEffect, useState } from 'preact/hooks';
import { formatNumber, lang, t } from '../i18n.ts';
import type { SiteBrief } from '../../../api/index.ts';
import { fitProjection } from './projection.ts';

const W = 600;
const H = 420;
const PAD = 24;
/** What the API takes (server/alerts/targets.ts DRAWN_POLYGON_MAX_POINTS is larger): enough for a hand-drawn shape. */
export const MAX_CORNERS = 64;

export type LatLon = [number, number];

/** Whether (lat, lon) lies inside the polygon (even-odd ray casting). */
export function inside(p: LatLon, poly: LatLon[]): boolean {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ai, oi] = poly[i]!;
    const [aj, oj] = poly[j]!;
    if (oi > p[1] !== oj > p[1] && p[0] < ((aj - ai) * (p[1] - oi)) / (oj - oi) + ai) hit = !hit;
  }
  return hit;
}

/**
 * One corner as typed: "22,42 103,97" (the Vietnamese decimal comma, a space
 * between) or "22.42, 103.97" / "22.42,103.97"; null if it is not a latitude
 * and a longitude.
 */
export function parseCorner(line: string): LatLon | null {
  const s = line.trim();
  let parts = s.split(/\s+/).map((p) => p.replace(/[,;]$/, ''));
  if (parts.length !== 2) parts = s.split(',').map((p) => p.trim());
  if (parts.length !== 2 || parts.some((p) => !/^[+-]?\d+([.,]\d+)?$/.test(p))) return null;
  const [lat, lon] = parts.map((p) => Number(p.replace(',', '.'))) as [number, number];
  return Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? [lat, lon] : null;
}

/** Corners typed one per line (or separated by ";"): the polygon, or the first line that is not a corner (1-based). */
export function parseCorners(text: string): { corners: LatLon[] } | { badLine: number; line: string } {
  const lines = text.split(/[\n;]/).filter((l) => l.trim() !== '');
  const corners: LatLon[] = [];
  for (const [i, l] of lines.entries()) {
    const c = parseCorner(l);
    if (!c) return { badLine: i + 1, line: l.trim() };
    corners.push(c);
  }
  return { corners };
}

/** Corners as the field shows them, in the user's number format (vi: "22,42 103,97"; en: "22.42, 103.97"). */
function cornersText(poly: LatLon[]): string {
  const sep = lang() === 'vi' ? ' ' : ', ';
  return poly.map(([la, lo]) => `${formatNumber(la, 6).replace(/0+$/, '').replace(/[.,]$/, '')}${sep}${formatNumber(lo, 6).replace(/0+$/, '').replace(/[.,]$/, '')}`).join('\n');
}

/** The keyboard's way: corners typed or pasted, applied at once, with the line that could not be read named. */
function CornersField(props: { value: LatLon[]; onChange: (p: LatLon[]) => void }) {
  const [text, setText] = useState(() => cornersText(props.value));
  const [error, setError] = useState('');
  useEffect(() => setText(cornersText(props.value)), [props.value]);
  const apply = () => {
    const r = parseCorners(text);
    if ('badLine' in r) return setError(t('cornerUnreadable', { n: r.badLine, line: r.line }));
    if (r.corners.length > MAX_CORNERS) return setError(t('cornersTooMany', { max: MAX_CORNERS }));
    setError('');
    props.onChange(r.corners);
  };
  return (
    <div class="corners" data-testid="corners-field">
      <label>
        {t('cornersTyped')}
        <textarea
          name="corners"
          rows={4}
          value={text}
          placeholder={t('cornersExample')}
          onInput={(e) => setText(e.currentTarget.value)}
          aria-describedby="corners-help"
          style="width:100%"
        />
      </label>
      <small id="corners-help" class="muted">
        {t('cornersHelp')}
      </small>
      <div class="row">
        <button type="button" class="secondary" onClick={apply} data-testid="corners-apply">
          {t('cornersApply')}
        </button>
        {error && (
          <span class="error" role="alert" data-testid="corners-error">
            {error}
          </span>
        )}
      </div>
    </div>
  );
}

export function PolygonDraw(props: { sites: SiteBrief[]; value: LatLon[]; onChange: (p: LatLon[]) => void }) {
  const placed = props.sites.filter((s) => s.lat !== null && s.lon !== null);
  if (placed.length === 0)
    return (
      <div data-testid="polygon-draw" data-corners={props.value.length} data-inside={0}>
        <p class="muted">{t('noCoords')}</p>
        <CornersField value={props.value} onChange={props.onChange} />
      </div>
    );
  const proj = fitProjection(
    placed.map((s) => ({ lat: s.lat!, lon: s.lon! })),
    { width: W, height: H, pad: PAD },
  );
  // The projection is linear: invert it from two points.
  const lat0 = placed[0]!.lat!;
  const lon0 = placed[0]!.lon!;
  const kx = proj.x(lon0 + 1) - proj.x(lon0);
  const ky = proj.y(lat0 + 1) - proj.y(lat0);
  const toLatLon = (x: number, y: number): LatLon => [+(lat0 + (y - proj.y(lat0)) / ky).toFixed(6), +(lon0 + (x - proj.x(lon0)) / kx).toFixed(6)];
  const poly = props.value;
  const add = (e: MouseEvent) => {
    const svg = e.currentTarget as SVGSVGElement;
    const m = svg.getScreenCTM();
    if (!m || poly.length >= MAX_CORNERS) return;
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    props.onChange([...poly, toLatLon(pt.x, pt.y)]);
  };
  const within = poly.length >= 3 ? placed.filter((s) => inside([s.lat!, s.lon!], poly)) : [];
  const pts = poly.map(([la, lo]) => `${proj.x(lo).toFixed(1)},${proj.y(la).toFixed(1)}`).join(' ');
  return (
    <div data-testid="polygon-draw" data-corners={poly.length} data-inside={within.length}>
      <p class="muted">{t('drawHelp')}</p>
      {/* biome-ignore lint/a11y/useKeyWithClickEvents: a shape is drawn by pointing; the corners field below is the keyboard's way to the same shape */}
      <svg
        viewBox={`0 0 ${W} ${H}`}
        width="100%"
        role="img"
        aria-label={t('drawArea')}
        onClick={add}
        style="background:#eef3ef;border-radius:6px;cursor:crosshair;touch-action:manipulation;max-height:60vh;display:block"
      >
        {poly.length >= 3 && <polygon points={pts} fill="rgba(217,48,37,.18)" stroke="var(--faulty)" stroke-width="2" />}
        {poly.length === 2 && <polyline points={pts} fill="none" stroke="var(--faulty)" stroke-width="2" />}
        {placed.map((s) => {
          const inArea = within.includes(s);
          return <circle data-site={s.id} data-inside={inArea} cx={proj.x(s.lon!)} cy={proj.y(s.lat!)} r={inArea ? 5 : 4} fill={inArea ? 'var(--faulty)' : '#5b6570'} />;
        })}
        {poly.map(([la, lo]) => (
          <circle cx={proj.x(lo)} cy={proj.y(la)} r={6} fill="#fff" stroke="var(--faulty)" stroke-width="2" />
        ))}
      </svg>
      <div class="row">
        <span>{poly.length >= 3 ? t('sitesInDrawn', { n: within.length }) : t('drawMore', { n: 3 - poly.length })}</span>
        <button type="button" class="secondary" disabled={poly.length === 0} onClick={() => props.onChange(poly.slice(0, -1))}>
          {t('undoCorner')}
        </button>
        <button type="button" class="secondary" disabled={poly.length === 0} onClick={() => props.onChange([])}>
          {t('clearDrawing')}
        </button>
      </div>
      <CornersField value={poly} onChange={props.onChange} />
    </div>
  );
}
