/**
 * An alert's language versions in the tracker: village by village, whether each heard the alert in its own
 * languages, and the form adding versions to an alert in flight.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { t } from '../i18n.ts';
import { useApi, useThrottled } from '../hooks.ts';
import type { AlertDetail, AlertReport } from '../../../api/index.ts';
import type { LanguageNames } from '../language-names.ts';
import { LanguageVersions, type VersionChoice } from './language-versions.tsx';

/** The per-village language view re-reads the delivery report at most this often while the alert changes. */
const REPORT_REFRESH_MS = 3000;

/** A version's state in words: ready ones say nothing more. */
function versionState(v: { state: string; reason: string | null }): string {
  if (v.state === 'preparing') return ` (${t('alertVersionPreparing')})`;
  if (v.state === 'failed') return ` (${t('alertVersionFailed', { why: v.reason ?? '—' })})`;
  return '';
}

/**
 * Village by village, whether it heard the alert in its own languages: what each site said it played
 * (languagesPlayed) and what it had no file for when its turn came (languagesMissed), from the report;
 * a site of Vietnamese alone has neither and is not listed.
 */
export function AlertLanguages(props: { data: AlertDetail; names: LanguageNames }) {
  const { data, names } = props;
  const report = useApi<AlertReport>(`/api/alerts/${encodeURIComponent(data.alert.id)}/report?format=json`);
  // The tracker reloads on the alert's live events; the report (a line per site, a province's thousands) follows
  // at most every few seconds, keeping what it showed meanwhile.
  const reloadReport = useThrottled(report.reload, REPORT_REFRESH_MS);
  useEffect(() => reloadReport(), [data, reloadReport]);
  const villages = useMemo(
    () =>
      (report.data?.sites ?? [])
        .filter((s) => (s.languagesPlayed ?? null) !== null || (s.languagesMissed?.length ?? 0) > 0)
        .sort((a, b) => (a.areaName ?? a.name).localeCompare(b.areaName ?? b.name, 'vi')),
    [report.data],
  );
  return (
    <div class="card" data-testid="alert-languages">
      <h2>{t('alertLanguages')}</h2>
      <ul>
        {(data.delivery.languages ?? []).map((l) => (
          <li data-language={l.language} data-played={l.played} data-missed={l.missed} data-state={l.state}>
            {t('alertLanguageLine', { lang: names.name(l.language), played: l.played, missed: l.missed })}
            {versionState(l)}
          </li>
        ))}
      </ul>
      {report.error && <p class="error">{report.error}</p>}
      {report.data && villages.length === 0 && <p class="muted">{t('alertVillageNone')}</p>}
      {villages.length > 0 && (
        <div class="scroll">
          <table data-testid="alert-villages">
            <thead>
              <tr>
                <th>{t('alertVillage')}</th>
                <th>{t('alertVillageHeard')}</th>
                <th>{t('alertVillageMissed')}</th>
              </tr>
            </thead>
            <tbody>
              {villages.map((s) => {
                const played = s.languagesPlayed ?? [];
                const missed = s.languagesMissed ?? [];
                return (
                  <tr data-site={s.siteId} data-played={played.join(',')} data-missed={missed.join(',')} class={missed.length > 0 ? 'warn' : undefined}>
                    <td>
                      <a href={`/sites/${encodeURIComponent(s.siteId)}`}>{s.areaName ?? s.name}</a>
                      {s.areaName && <span class="muted"> {s.name}</span>}
                    </td>
                    <td>{played.length > 0 ? names.list(played) : '—'}</td>
                    <td class={missed.length > 0 ? 'error' : undefined}>{missed.length > 0 ? names.list(missed) : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/**
 * Versions added to an alert in flight (POST /api/alerts/{id}/versions): the same revision, so the sites
 * playing it take them for the repeats still to come; only ready items not already held are sent.
 */
export function AddVersions(props: { data: AlertDetail; names: LanguageNames; onAdded: () => void }) {
  const { data, names } = props;
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState<VersionChoice>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState<string[]>([]);
  const held = (data.alert.versions ?? []).filter((v) => v.state !== 'failed').map((v) => v.language);
  const toAdd = Object.entries(value)
    .filter(([language, mediaId]) => mediaId !== '' && !held.includes(language))
    .map(([language, mediaId]) => ({ language, mediaId }));
  const send = async () => {
    setBusy(true);
    setError('');
    try {
      await api('POST', `/api/alerts/${encodeURIComponent(data.alert.id)}/versions`, { versions: toAdd });
      setDone(toAdd.map((v) => v.language));
      setValue({});
      props.onAdded();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <details class="card" data-testid="add-version" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{t('alertAddVersion')}</summary>
      {held.length > 0 && (
        <p class="muted" data-testid="versions-held" data-languages={held.join(',')}>
          {t('alertAddVersionHeld', { langs: names.list(held) })}
        </p>
      )}
      {open && (
        <LanguageVersions
          areas={data.alert.targetAreas}
          defaultLang="vi"
          title={data.alert.title}
          value={value}
          onChange={setValue}
          canWrite
          names={names}
          onError={(e) => setError(e instanceof Error ? e.message : String(e))}
        />
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {done.length > 0 && (
        <p class="ok" data-testid="versions-added" data-languages={done.join(',')}>
          {t('alertAddVersionDone', { langs: names.list(done) })}
        </p>
      )}
      <button type="button" onClick={send} disabled={busy || toAdd.length === 0} data-testid="add-version-send">
        {t('alertAddVersionSend')}
      </button>
    </details>
  );
}
