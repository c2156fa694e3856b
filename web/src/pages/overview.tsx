/**
 * Coverage now for the user's area (or a chosen child): operational share of
 * sites and of villages, each child area, the failing sites with reasons, a
 * map, and the last 30 days. Redrawn when the server pushes a change.
 */
import { useEffect, useMemo } from 'preact/hooks';
import { qs } from '../api.ts';
import { formatShare, formatTime, t } from '../i18n.ts';
import { useApi, useThrottled } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import { navigate } from '../router.ts';
import type { AreaView, CoverageHistoryPoint, CoverageReport, Me, SiteBrief } from '../../../api/index.ts';
import { CONDITIONS } from '../conditions.ts';
import { ConditionPill, Reasons, ShareBar } from '../components/condition.tsx';
import { SiteMap } from '../components/site-map.tsx';
import { HistoryChart } from '../components/history-chart.tsx';

export function OverviewPage(props: { me: Me; query: URLSearchParams }) {
  const area = props.query.get('area') ?? '';
  const coverage = useApi<CoverageReport & { failingTotal: number }>(`/api/coverage${qs({ area, limit: 100 })}`);
  const sites = useApi<{ total: number; sites: SiteBrief[] }>(`/api/sites${qs({ area, limit: 5000, brief: true })}`);
  const rootKey = coverage.data?.area.key;
  const children = useApi<{ areas: AreaView[] }>(rootKey ? `/api/areas${qs({ parent: rootKey })}` : null);
  const here = useApi<AreaView>(area ? `/api/areas/${encodeURIComponent(area)}` : null);
  const to = useMemo(() => Date.now(), [area]);
  const from = to - 30 * 86_400_000;
  const history = useApi<{ points: CoverageHistoryPoint[] }>(`/api/coverage/history${qs({ area, from, to })}`);

  const refresh = useThrottled(() => {
    coverage.reload();
    sites.reload();
  }, 1500);
  useEffect(() => onLive('condition', refresh), [refresh]);

  const c = coverage.data;
  if (coverage.error && !c) return <p class="error">{coverage.error}</p>;
  if (!c) return <p class="muted">{t('loading')}</p>;

  // The coverage answer counts sites of both kinds; village loudspeakers are what most people hear, so clusters get their own share.
  const clusterList = sites.data && sites.data.total === sites.data.sites.length ? sites.data.sites.filter((s) => s.kind === 'cluster') : undefined;
  const clusters = clusterList && { total: clusterList.length, operational: clusterList.filter((s) => s.condition === 'operational').length };
  // Worst first, so what needs a technician is at the top; areas with no site yet folded away.
  const withSites = c.children.filter((ch) => ch.sites > 0).sort((a, b) => (a.operationalShare ?? 0) - (b.operationalShare ?? 0) || a.area.name.localeCompare(b.area.name, 'vi'));
  const withoutSites = c.children.filter((ch) => ch.sites === 0);

  return (
    <section>
      <h1 data-testid="overview-title">{t('coverageOf', { area: c.area.name })}</h1>
      <div class="row">
        {area && rootKey !== props.me.area && (
          // One level up, but never above the user's own area (the server would refuse it).
          <button type="button" class="secondary" onClick={() => navigate(here.data?.parent && here.data.parent !== props.me.area ? `/${qs({ area: here.data.parent })}` : '/')}>
            ↑ {t('up')}
          </button>
        )}
        <span class="muted">{formatTime(c.at)}</span>
      </div>
      <div class="grid">
        <div class="card" data-testid="share-sites">
          <div class="muted">{t('operationalSites')}</div>
          <div class="big">{formatShare(c.operationalShare)}</div>
          <div class="muted">
            {c.operational} / {c.sites}
          </div>
        </div>
        {clusters && (
          <div class="card" data-testid="share-clusters">
            <div class="muted">{t('operationalClusters')}</div>
            <div class="big">{formatShare(clusters.total ? clusters.operational / clusters.total : null)}</div>
            <div class="muted">
              {clusters.operational} / {clusters.total}
            </div>
          </div>
        )}
        <div class="card" data-testid="share-villages">
          <div class="muted">{t('villagesCovered')}</div>
          <div class="big">{formatShare(c.villageShare)}</div>
          <div class="muted">
            {c.villagesCovered} / {c.villages}
          </div>
        </div>
        {CONDITIONS.filter((k) => k !== 'operational').map((k) => (
          <a class="card" href={`/sites${qs({ area: c.area.key, condition: k })}`} style="text-decoration:none;color:inherit" data-testid={`count-${k}`}>
            <ConditionPill condition={k} />
            <div class="big">{c[k]}</div>
          </a>
        ))}
      </div>

      <div class="two">
        <div>
          <h2>{t('map')}</h2>
          <div class="card">{sites.data ? <SiteMap sites={sites.data.sites} communes={children.data?.areas ?? []} /> : <p class="muted">{t('loading')}</p>}</div>
        </div>
        <div>
          <h2>{t('last30')}</h2>
          <div class="card">{history.data ? <HistoryChart points={history.data.points} from={from} to={to} /> : <p class="muted">{t('loading')}</p>}</div>
        </div>
      </div>

      <h2>
        {t('failingSites')} ({c.failingTotal ?? c.failing.length})
      </h2>
      {c.failing.length === 0 ? (
        <p class="ok">{t('noFailing')}</p>
      ) : (
        <div class="scroll">
          <table data-testid="failing">
            <thead>
              <tr>
                <th>{t('name')}</th>
                <th>{t('condition')}</th>
                <th>{t('reasons')}</th>
              </tr>
            </thead>
            <tbody>
              {c.failing.map((f) => (
                <tr>
                  <td>
                    <a href={`/sites/${encodeURIComponent(f.siteId)}`}>{f.name}</a>
                  </td>
                  <td>
                    <ConditionPill condition={f.condition} />
                  </td>
                  <td>
                    <Reasons reasons={f.reasons} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {withSites.length > 0 && (
        <>
          <h2>{t('byArea')}</h2>
          <div class="scroll">
            <table data-testid="children">
              <thead>
                <tr>
                  <th>{t('area')}</th>
                  <th>{t('operationalSites')}</th>
                  <th>{t('villagesCovered')}</th>
                  <th class="hide-sm">{t('sitesTotal')}</th>
                  <th class="hide-sm">{t('failingSites')}</th>
                </tr>
              </thead>
              <tbody>
                {withSites.map((ch) => (
                  <tr data-area={ch.area.key}>
                    <td>
                      <a href={`/${qs({ area: ch.area.key })}`}>{ch.area.name}</a>
                    </td>
                    <td>
                      {formatShare(ch.operationalShare)} <ShareBar share={ch.operationalShare} />
                    </td>
                    <td>
                      {formatShare(ch.villageShare)} ({ch.villagesCovered}/{ch.villages})
                    </td>
                    <td class="hide-sm">{ch.sites}</td>
                    <td class="hide-sm">{ch.degraded + ch.faulty + ch.offline}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {withoutSites.length > 0 && (
        <details>
          <summary class="muted">{t('areasWithoutSites', { n: withoutSites.length })}</summary>
          <p class="muted">{withoutSites.map((ch) => ch.area.name).join(', ')}</p>
        </details>
      )}
    </section>
  );
}
