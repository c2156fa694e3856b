/** Sites of the user's area: search and filter (kept in the address, so a filtered list can be shared), live conditions. */
import { useEffect, useState } from 'preact/hooks';
import { qs } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { useApi, useThrottled } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import { navigate } from '../router.ts';
import type { AreaView, Me, SiteView } from '../../../api/index.ts';
import { CONDITIONS } from '../conditions.ts';
import { ConditionPill, Reasons } from '../components/condition.tsx';

export function SitesPage(props: { me: Me; query: URLSearchParams }) {
  const q = props.query;
  const filter = { q: q.get('q') ?? '', area: q.get('area') ?? '', condition: q.get('condition') ?? '', kind: q.get('kind') ?? '' };
  const [text, setText] = useState(filter.q);
  useEffect(() => setText(filter.q), [filter.q]);
  const list = useApi<{ total: number; sites: SiteView[] }>(`/api/sites${qs({ ...filter, limit: 500 })}`);
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const refresh = useThrottled(list.reload, 1500);
  useEffect(() => onLive('condition', refresh), [refresh]);

  const set = (patch: Partial<typeof filter>) => navigate(`/sites${qs({ ...filter, ...patch })}`, true);

  return (
    <section>
      <h1>{t('sites')}</h1>
      {/* biome-ignore lint/a11y/useSemanticElements: the <search> element is newer than the browsers of older phones in commune offices; the role says the same */}
      <form
        class="row"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set({ q: text });
        }}
      >
        <input name="q" type="search" placeholder={t('search')} aria-label={t('search')} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <select name="area" aria-label={t('commune')} value={filter.area} onChange={(e) => set({ area: e.currentTarget.value })}>
          <option value="">{t('allCommunes')}</option>
          {(communes.data?.areas ?? []).map((a) => (
            <option value={a.key}>{a.name}</option>
          ))}
        </select>
        <select name="condition" aria-label={t('condition')} value={filter.condition} onChange={(e) => set({ condition: e.currentTarget.value })}>
          <option value="">{t('allConditions')}</option>
          {CONDITIONS.map((c) => (
            <option value={c}>{t(c)}</option>
          ))}
        </select>
        <select name="kind" aria-label={t('kind')} value={filter.kind} onChange={(e) => set({ kind: e.currentTarget.value })}>
          <option value="">{t('allKinds')}</option>
          <option value="station">{t('station')}</option>
          <option value="cluster">{t('cluster')}</option>
        </select>
        <button type="submit">{t('search')}</button>
      </form>
      {list.error && <p class="error">{list.error}</p>}
      {!list.data ? (
        <p class="muted">{t('loading')}</p>
      ) : (
        <>
          <p class="muted" data-testid="sites-count">
            {list.data.sites.length} {t('shown')} / {list.data.total} {t('total')}
          </p>
          <div class="scroll">
            <table data-testid="sites">
              <thead>
                <tr>
                  <th>{t('name')}</th>
                  <th>{t('condition')}</th>
                  <th class="hide-sm">{t('kind')}</th>
                  <th class="hide-sm">{t('lastHeartbeat')}</th>
                  <th>{t('reasons')}</th>
                </tr>
              </thead>
              <tbody>
                {list.data.sites.map((s) => (
                  <tr data-site={s.id}>
                    <td>
                      <a href={`/sites/${encodeURIComponent(s.id)}`}>{s.name}</a>
                      <div class="muted">{s.id}</div>
                    </td>
                    <td>
                      <ConditionPill condition={s.status?.condition} />
                    </td>
                    <td class="hide-sm">{t(s.kind)}</td>
                    <td class="hide-sm">{formatTime(s.status?.lastSeenAt)}</td>
                    <td>
                      <Reasons reasons={s.status?.reasons ?? []} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
