/** Coverage (villages covered) and uptime (sites operational) over time, as two SVG lines. */
import { formatClock, formatDay, formatShare, formatTime, t } from '../i18n.ts';
import type { CoverageHistoryPoint } from '../../../api/index.ts';

const W = 600;
const H = 200;
const L = 40;
const R = 10;
const T = 10;
const B = 24;

export function HistoryChart(props: { points: CoverageHistoryPoint[]; from: number; to: number }) {
  const pts = props.points.filter((p) => p.sites > 0);
  if (pts.length === 0) return <p class="muted">{t('noHistory')}</p>;
  // A network younger than the window is drawn from its first snapshot, not squeezed into the right edge.
  const from = Math.max(props.from, pts[0]!.at);
  const x = (at: number) => L + ((at - from) / Math.max(1, props.to - from)) * (W - L - R);
  const y = (share: number) => T + (1 - share) * (H - T - B);
  const line = (share: (p: CoverageHistoryPoint) => number | null) =>
    pts
      .map((p) => [p, share(p)] as const)
      .filter(([, s]) => s !== null)
      .map(([p, s], i) => `${i === 0 ? 'M' : 'L'}${x(p.at).toFixed(1)},${y(s!).toFixed(1)}`)
      .join(' ');
  const uptime = (p: CoverageHistoryPoint) => p.operational / p.sites;
  const villages = (p: CoverageHistoryPoint) => (p.villages > 0 ? p.villagesCovered / p.villages : null);
  const last = pts[pts.length - 1]!;
  const span = props.to - from;
  const ticks = span > 3 * 86_400_000 ? [0, 7, 14, 21, 28].map((d) => props.to - d * 86_400_000).filter((d) => d >= from) : [from, from + span / 2, props.to];
  const tickLabel = span > 3 * 86_400_000 ? formatDay : formatClock;
  return (
    <figure style="margin:0">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={t('last30')} data-testid="history-chart">
        {[0, 0.25, 0.5, 0.75, 1].map((s) => (
          <g>
            <line x1={L} x2={W - R} y1={y(s)} y2={y(s)} stroke="#dde1e5" />
            <text x={L - 4} y={y(s) + 4} font-size="10" text-anchor="end" fill="#5b6570">
              {Math.round(s * 100)}%
            </text>
          </g>
        ))}
        {ticks.map((d) => (
          <text x={x(d)} y={H - 6} font-size="10" text-anchor="middle" fill="#5b6570">
            {tickLabel(d)}
          </text>
        ))}
        <path d={line(uptime)} fill="none" stroke="var(--operational)" stroke-width="2" data-series="uptime" />
        <path d={line(villages)} fill="none" stroke="#1a73e8" stroke-width="2" stroke-dasharray="5 3" data-series="villages" />
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
