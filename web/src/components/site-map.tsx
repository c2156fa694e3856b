/**
 * Sites drawn from their coordinates as SVG, coloured by condition: an
 * equirectangular projection scaled by cos(latitude), with each commune's
 * name at its centre. No tile server, so it works offline and costs no data.
 */
import { t } from '../i18n.ts';
import type { AreaView, SiteBrief, SiteCondition } from '../../../api/index.ts';
import { CONDITIONS } from '../conditions.ts';
import { fitProjection } from './projection.ts';

const W = 600;
const H = 420;
const PAD = 18;

export function SiteMap(props: { sites: SiteBrief[]; communes: AreaView[] }) {
  const placed = props.sites.filter((s) => s.lat !== null && s.lon !== null);
  if (placed.length === 0) return <p class="muted">{t('noCoords')}</p>;
  const { x, y } = fitProjection(
    placed.map((s) => ({ lat: s.lat!, lon: s.lon! })),
    { width: W, height: H, pad: PAD },
  );
  // Worst drawn last so a faulty site is never hidden under an operational one.
  const order: Record<SiteCondition, number> = { operational: 0, unverified: 1, degraded: 2, offline: 3, faulty: 4 };
  const cond = (s: SiteBrief): SiteCondition => s.condition;
  const sorted = [...placed].sort((a, b) => order[cond(a)] - order[cond(b)]);
  const r = placed.length > 1000 ? 2.5 : placed.length > 200 ? 3.5 : 5;
  const showNames = props.communes.length <= 40;
  return (
    <figure style="margin:0">
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={t('map')} data-testid="site-map" style="background:#eef3ef;border-radius:6px">
        {props.communes
          .filter((c) => c.lat !== null && c.lon !== null)
          .map((c) => (
            <g>
              <circle cx={x(c.lon!)} cy={y(c.lat!)} r={r * 4} fill="none" stroke="#b9c7bd" stroke-dasharray="2 2" />
              {showNames && (
                <text x={x(c.lon!)} y={y(c.lat!) - r * 4 - 2} font-size="10" text-anchor="middle" fill="#5b6570">
                  {c.name}
                </text>
              )}
            </g>
          ))}
        {sorted.map((s) => (
          <a href={`/sites/${encodeURIComponent(s.id)}`}>
            <circle cx={x(s.lon!)} cy={y(s.lat!)} r={s.kind === 'station' ? r * 1.4 : r} fill={`var(--${cond(s)})`} stroke="#fff" stroke-width="1" data-condition={cond(s)}>
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
