/**
 * Sites drawn from their coordinates as SVG, coloured by condition: an
 * equirectangular projection scaled by cos(latitude), with each commune's
 * name at its centre. No tile server, so it works offline and costs no data.
 */
import { t } from '../i18n.ts';
import type { AreaView, SiteBrief, SiteCondition } from '../../../api/index.ts';
import { CONDITIONS } from '../conditions.ts';
import { dotRadius, fitProjection, labelBaseline, mapPad } from './projection.ts';

const W = 600;
const H = 420;

export function SiteMap(props: { sites: SiteBrief[]; communes: AreaView[] }) {
  const placed = props.sites.filter((s) => s.lat !== null && s.lon !== null);
  if (placed.length === 0) return <p class="muted">{t('noCoords')}</p>;
  const r = placed.length > 1000 ? 2.5 : placed.length > 200 ? 3.5 : 5;
  const ring = r * 4;
  const communes = props.communes.filter((c) => c.lat !== null && c.lon !== null);
  // The communes' centres are fitted too, with room for their rings and names: none drawn past the edge.
  const { x, y } = fitProjection(
    [...placed, ...communes].map((p) => ({ lat: p.lat!, lon: p.lon! })),
    { width: W, height: H, pad: mapPad(ring) },
  );
  // Worst drawn last so a faulty site is never hidden under an operational one.
  const order: Record<SiteCondition, number> = { operational: 0, unverified: 1, degraded: 2, offline: 3, faulty: 4 };
  const cond = (s: SiteBrief): SiteCondition => s.condition;
  const sorted = [...placed].sort((a, b) => order[cond(a)] - order[cond(b)]);
  const showNames = props.communes.length <= 40;
  return (
    <figure style="margin:0">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={t('map')} data-testid="site-map" style="background:#eef3ef;border-radius:6px">
        {communes.map((c) => (
          <g>
            <circle cx={x(c.lon!)} cy={y(c.lat!)} r={ring} fill="none" stroke="#b9c7bd" stroke-dasharray="2 2" />
            {showNames && (
              <text x={x(c.lon!)} y={labelBaseline(y(c.lat!), ring, H)} font-size="10" text-anchor="middle" fill="#5b6570">
                {c.name}
              </text>
            )}
          </g>
        ))}
        {sorted.map((s) => (
          <a href={`/sites/${encodeURIComponent(s.id)}`}>
            <circle cx={x(s.lon!)} cy={y(s.lat!)} r={dotRadius(r, s.kind, cond(s))} fill={`var(--${cond(s)})`} stroke="#fff" stroke-width="1" data-condition={cond(s)}>
              <title>
                {s.name} — {t(cond(s))}
              </title>
            </circle>
          </a>
        ))}
      </svg>
      <figcaption class="legend">
        {CONDITIONS.map((c) => (
          <span>
            <i style={`background:var(--${c})`} />
            {t(c)} ({placed.filter((s) => cond(s) === c).length})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
