/**
 * A commune's languages (Decree 49/2024/NĐ-CP): the languages each village
 * hears bulletins in (its own list, or inherited, marked), changed by those
 * who may change areas (PUT/DELETE /api/areas/{key}/languages), and for each
 * upcoming bulletin there the versions still to record and where they are
 * spoken (GET /api/schedule/languages): the station's "what I must still record".
 */
import { useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.ts';
import { errorText as codeText, formatTime, t } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { useLanguageNames } from '../language-names.ts';
import { navigate } from '../router.ts';
import type { AreaLanguages, AreaLanguagesUpdate, AreaView, Me, ScheduleLanguages } from '../../../api/index.ts';

type Village = ScheduleLanguages['villages'][number];

function failText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  if (e.worded) return e.message;
  return codeText(e.code, e.details, '') || errorText(e);
}

/** Why this user cannot change a village's languages, or null when they can (the server decides; this only spares a refusal). */
function editRefusal(me: Me, v: Village): string | null {
  if (!me.permissions.includes('registry.write')) return t('langEditNotAllowed');
  // An admin scoped to an area changes only areas strictly inside it (server/registry/area-routes.ts).
  if (me.area !== null && me.area === v.key) return t('langEditOwnRoot');
  return null;
}

function VillageRow(props: { me: Me; v: Village; names: ReturnType<typeof useLanguageNames>; onChanged: () => void }) {
  const { v, names } = props;
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState('');
  const refusal = editRefusal(props.me, v);
  const save = async () => {
    setError('');
    const body: AreaLanguagesUpdate = { languages: (draft ?? '').split(/[\s,;]+/).filter(Boolean) };
    try {
      await api<AreaLanguages>('PUT', `/api/areas/${encodeURIComponent(v.key)}/languages`, body);
      setDraft(null);
      props.onChanged();
    } catch (e) {
      setError(t('notSaved', { reason: failText(e) }));
    }
  };
  const inherit = async () => {
    setError('');
    try {
      await api<AreaLanguages>('DELETE', `/api/areas/${encodeURIComponent(v.key)}/languages`);
      props.onChanged();
    } catch (e) {
      setError(t('notSaved', { reason: failText(e) }));
    }
  };
  return (
    <tr data-area={v.key} data-source={v.source} data-languages={v.languages.join(',')}>
      <td class="stack-title">
        {v.name} <span class="muted">({t('sitesN', { n: v.sites })})</span>
      </td>
      <td data-label={t('langSpoken')}>
        {names.list(v.languages)}{' '}
        <span class={v.source === 'own' ? 'ok' : 'muted'} data-testid="language-source">
          ({t(v.source === 'own' ? 'langSourceOwn' : v.source === 'inherited' ? 'langSourceInherited' : 'langSourceDefault')})
        </span>
      </td>
      <td class="actions">
        {refusal ? (
          <span class="muted" data-testid="edit-refusal">
            {refusal}
          </span>
        ) : draft === null ? (
          <>
            <button type="button" class="secondary" data-action="edit-languages" onClick={() => setDraft(v.languages.join(', '))}>
              {t('langEdit')}
            </button>{' '}
            {v.source === 'own' && (
              <button type="button" class="secondary" data-action="inherit-languages" onClick={inherit}>
                {t('langInherit')}
              </button>
            )}
          </>
        ) : (
          <div class="row">
            <label>
              {t('langTagsInOrder')}
              <input name="languages" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="hmn, vi" />
            </label>
            <label>
              {t('langAdd')}
              <select
                name="addLanguage"
                value=""
                onChange={(e) => {
                  const tag = e.currentTarget.value;
                  if (tag) setDraft([...(draft ?? '').split(/[\s,;]+/).filter(Boolean), tag].join(', '));
                }}
              >
                <option value="" />
                {names.known.map((l) => (
                  <option value={l.tag}>
                    {l.name} ({l.tag})
                  </option>
                ))}
              </select>
            </label>
            <button type="button" data-action="save-languages" onClick={save}>
              {t('save')}
            </button>
            <button type="button" class="secondary" onClick={() => setDraft(null)}>
              {t('cancel')}
            </button>
          </div>
        )}
        {error && (
          <p class="error" role="alert" data-testid="languages-error">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

export function LanguagesPage(props: { me: Me; query: URLSearchParams }) {
  const names = useLanguageNames();
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const area = props.query.get('area') ?? props.me.area ?? '';
  const res = useApi<ScheduleLanguages>(`/api/schedule/languages${qs({ area: area || undefined })}`);
  const d = res.data;
  return (
    <section class="languages">
      <h1>
        {t('langPageTitle')} {d ? `— ${d.area.name}` : ''}
      </h1>
      <p class="muted">{t('langPageIntro')}</p>
      <div class="row">
        <select name="area" aria-label={t('area')} value={area} onChange={(e) => navigate(`/schedule/languages${qs({ area: e.currentTarget.value || undefined })}`, true)}>
          <option value="">{props.me.areaName ?? t('whole')}</option>
          {(communes.data?.areas ?? []).map((a) => (
            <option value={a.key}>{a.name}</option>
          ))}
        </select>
        <a href={`/schedule${qs({ area: area || undefined })}`}>{t('schedule')}</a>
      </div>
      {res.error && (
        <p class="error" role="alert" data-testid="load-error">
          {res.error}
        </p>
      )}

      <h2>{t('langToRecord')}</h2>
      {d?.items.every((i) => i.missing.length === 0) && (
        <p class="ok" data-testid="nothing-to-record">
          {t('langNothingToRecord')}
        </p>
      )}
      <ul data-testid="to-record">
        {(d?.items ?? [])
          .filter((i) => i.missing.length > 0)
          .map((i) => (
            <li data-item={i.id}>
              <strong>{i.title}</strong> <span class="muted">({formatTime(i.nextAt)})</span>
              <div class="muted">{t('langHasVersions', { langs: names.list(i.versions) })}</div>
              <ul>
                {i.missing.map((m) => (
                  <li data-missing={m.language}>{t('langMissingIn', { lang: names.name(m.language), n: m.sites, villages: m.villages.map((x) => x.name).join(', ') })}</li>
                ))}
              </ul>
            </li>
          ))}
      </ul>

      <h2>{t('langVillages')}</h2>
      <div class="scroll">
        <table class="stack" data-testid="village-languages">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('langSpoken')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(d?.villages ?? []).map((v) => (
              <VillageRow key={v.key} me={props.me} v={v} names={names} onChanged={res.reload} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
