/**
 * Coverage (villages covered) and uptime (sites operational) over time, as two
 * SVG lines. The drawing is in the box's own pixels (its width is measured),
 * so labels keep their size on a phone and every label is placed inside the
 * box. Snapshots are a step function (a value holds until the next one), so
 * the last one is drawn on to the end of the window: a network with a single
 * snapshot, in its first minutes, already shows a line.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatClock, formatDay, formatNumber, formatShare, formatTime, t } from '../i18n.ts';
import type { CoverageHistoryPoint } from '../../../api/index.ts';

const H = 200;
const L = 40;
const R = 12;
const T = 10;
const B = 24;
const FONT = 11;
/** The narrowest and widest the drawing is laid out for (CSS px). */
const MIN_W = 240;
const MAX_W = 1400;
/** The shortest span drawn. */
const MIN_SPAN_MS = 60_000;
const DAY = 86_400_000;

/** The width the figure is given, followed as the page resizes (a phone turned, a window narrowed). */
function useWidth(fallback: number) {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.round(el.getBoundingClientRect().width) || fallback);
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return { ref, width };
}

export function HistoryChart(props: { points: CoverageHistoryPoint[]; from: number; to: number }) {
  const { ref, width } = useWidth(600);
  const pts = props.points.filter((p) => p.sites > 0);
  if (pts.length === 0) {
    return (
      <figure style="margin:0" ref={ref}>
        <p class="muted">{t('noHistory')}</p>
      </figure>
    );
  }
  const W = Math.min(MAX_W, Math.max(MIN_W, width));
  const last = pts[pts.length - 1]!;
  // A network younger than the window is drawn from its first snapshot, not squeezed into the right edge;
  // over at least a minute, so a snapshot taken a moment ago is a line, not a point.
  const from = Math.max(props.from, pts[0]!.at);
  const to = Math.max(props.to, last.at, from + MIN_SPAN_MS);
  const span = to - from;
  const x = (at: number) => L + ((at - from) / span) * (W - L - R);
  const y = (share: number) => T + (1 - share) * (H - T - B);
  const uptime = (p: CoverageHistoryPoint) => p.operational / p.sites;
  const villages = (p: CoverageHistoryPoint) => (p.villages > 0 ? p.villagesCovered / p.villages : null);
  /** Steps: each snapshot's value holds until the next snapshot, the last one until `to`. */
  const line = (share: (p: CoverageHistoryPoint) => number | null) => {
    const known = pts.map((p) => [p.at, share(p)] as const).filter((e): e is readonly [number, number] => e[1] !== null);
    if (known.length === 0) return '';
    const xy = (at: number, s: number) => `${x(at).toFixed(1)},${y(s).toFixed(1)}`;
    let d = `M${xy(known[0]![0], known[0]![1])}`;
    for (let i = 1; i < known.length; i++) d += ` L${xy(known[i]![0], known[i - 1]![1])} L${xy(known[i]![0], known[i]![1])}`;
    return `${d} L${xy(to, known[known.length - 1]![1])}`;
  };
  const long = span > 3 * DAY;
  const candidates = long ? [0, 7, 14, 21, 28].map((d) => to - d * DAY).filter((d) => d >= from) : [from, from + span / 2, to];
  const tickLabel = long ? formatDay : formatClock;
  // Labels that would read the same (a few minutes of data in HH:mm) are shown once.
  const ticks = candidates.filter((d, i) => candidates.findIndex((e) => tickLabel(e) === tickLabel(d)) === i);
  // Every label inside the box: one near an edge is anchored on that edge instead of centred on its tick.
  const anchor = (px: number) => (px < L + 30 ? 'start' : px > W - R - 30 ? 'end' : 'middle');
  const labelX = (px: number) => (px > W - R - 30 ? Math.min(px, W - 2) : px < L + 30 ? Math.max(px, L) : px);
  return (
    <figure style="margin:0" ref={ref}>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={t('last30')} data-testid="history-chart" style="display:block;max-width:100%">
        {[0, 0.25, 0.5, 0.75, 1].map((s) => (
          <g>
            <line x1={L} x2={W - R} y1={y(s)} y2={y(s)} stroke="#dde1e5" />
            <text x={L - 4} y={y(s) + 4} font-size={FONT} text-anchor="end" fill="#5b6570" data-axis="y">
              {formatNumber(Math.round(s * 100), 0, '%')}
            </text>
          </g>
        ))}
        {ticks.map((d) => (
          <text x={labelX(x(d))} y={H - 6} font-size={FONT} text-anchor={anchor(x(d))} fill="#5b6570" data-axis="x">
            {tickLabel(d)}
          </text>
        ))}
        <path d={line(uptime)} fill="none" stroke="var(--operational)" stroke-width="2" data-series="uptime" />
        <path d={line(villages)} fill="none" stroke="#1a73e8" stroke-width="2" stroke-dasharray="5 3" data-series="villages" />
        {pts.length <= 3 && pts.map((p) => <circle cx={x(p.at)} cy={y(uptime(p))} r="3" fill="var(--operational)" data-point={p.at} />)}
      </svg>
      <figcaption class="legend">
        <span>
          <i style="background:var(--operational)" />
          {t('uptime')}: {formatShare(uptime(last))}
        </span>
        <span>
          <i style="background:#1a73e8" />
          {t('villagesCovered')}: {formatShare(villages(last))}
        </span>
        <span class="muted">{formatTime(last.at)}</span>
      </figcaption>
    </figure>
  );
}
