/**
 * A bulletin's as-run in the villages' languages (GET /api/as-run/languages):
 * village by village, the versions planned and what became of each, and
 * whether the village heard it in its own language or why not.
 */
import { qs } from '../api.ts';
import { t, type StringKey } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { LanguageNames } from '../language-names.ts';
import { codeWords } from '../site-words.ts';
import type { AsRunLanguages, AsRunLanguagesSite } from '../../../api/index.ts';

type NotHeardReason = NonNullable<AsRunLanguagesSite['notHeard']>['reason'];
const NOT_HEARD_KEY: Record<NotHeardReason, StringKey> = {
  no_version: 'langWhy_no_version',
  agent_without_parts: 'langWhy_agent_without_parts',
  not_played: 'langWhy_not_played',
  skipped: 'langWhy_skipped',
  no_receipt: 'langWhy_no_receipt',
};

function heardText(s: AsRunLanguagesSite, names: LanguageNames): string {
  if (s.heardOwnLanguage === true) return t('langHeardYes');
  if (s.heardOwnLanguage === null || !s.notHeard) return t('langHeardUnknown');
  const why = t(NOT_HEARD_KEY[s.notHeard.reason], { lang: names.name(s.notHeard.language) });
  return `${t('langHeardNo')}: ${why}${s.notHeard.detail ? ` (${codeWords('why_', s.notHeard.detail)})` : ''}`;
}

export function AsRunLanguagesView(props: { item: string; entry: string; area: string; names: LanguageNames; onClose: () => void }) {
  const res = useApi<AsRunLanguages>(`/api/as-run/languages${qs({ item: props.item, entry: props.entry, area: props.area || undefined })}`);
  const d = res.data;
  return (
    <div class="card" data-testid="as-run-languages" data-item={props.item}>
      <div class="row">
        <strong style="flex:1">
          {t('langAsRunTitle')} {d ? `— ${d.item.title}` : ''}
        </strong>
        <button type="button" class="secondary" onClick={props.onClose}>
          {t('close')}
        </button>
      </div>
      {res.error && (
        <p class="error" role="alert">
          {res.error}
        </p>
      )}
      {d && (
        <p class="muted" data-testid="as-run-languages-summary">
          {t('langAsRunSummary', { heard: d.summary.heardOwnLanguage, not: d.summary.notHeard, unknown: d.summary.unknown, all: d.summary.sites })}
        </p>
      )}
      <div class="scroll">
        <table class="stack">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('langSiteLanguages')}</th>
              <th>{t('langVersionsPlayed')}</th>
              <th>{t('langHeardOwn')}</th>
            </tr>
          </thead>
          <tbody>
            {(d?.sites ?? []).map((s) => (
              <tr data-site={s.siteId} data-heard={s.heardOwnLanguage === null ? 'unknown' : String(s.heardOwnLanguage)} data-reason={s.notHeard?.reason ?? ''}>
                <td class="stack-title">
                  {s.siteName} <span class="muted">{s.areaName}</span>
                </td>
                <td data-label={t('langSiteLanguages')}>{props.names.list(s.languages)}</td>
                <td data-label={t('langVersionsPlayed')}>
                  {s.versions
                    .map((v) => `${props.names.name(v.language)}: ${codeWords('asRun_', v.outcome ?? 'no_receipt')}${v.reason ? ` (${codeWords('why_', v.reason)})` : ''}`)
                    .join('; ') || '—'}
                  {s.missing.length > 0 && (
                    <div class="muted">
                      {t('langMissingThere', { langs: props.names.list(s.missing) })}
                      {s.fallback ? ` — ${t(NOT_HEARD_KEY[s.fallback], { lang: props.names.name(s.languages[0] ?? '') })}` : ''}
                    </div>
                  )}
                </td>
                <td data-label={t('langHeardOwn')} class={s.heardOwnLanguage === false ? 'warn-text' : s.heardOwnLanguage ? 'ok' : 'muted'}>
                  {heardText(s, props.names)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
