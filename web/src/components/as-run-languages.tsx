/**
 * A bulletin's as-run in the villages' languages (GET /api/as-run/languages):
 * village by village, the versions planned and what became of each, and
 * whether the village heard it in its own language or why not, with the
 * version it heard instead when it fell back. One occurrence, named by its
 * time in Asia/Ho_Chi_Minh.
 */
import { useEffect, useRef } from 'preact/hooks';
import { qs } from '../api.ts';
import { formatTime, lang, t, type StringKey } from '../i18n.ts';
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

/** A language's name inside a Vietnamese sentence: "bản tiếng Tày", not "bản Tiếng Tày" (English names stay as they are). */
function inSentence(names: LanguageNames, tag: string): string {
  const name = names.name(tag);
  return lang() === 'vi' ? name.replace(/^Tiếng /u, 'tiếng ') : name;
}

/** The site fell back: it heard another version in place of its own language's. */
const fellBack = (s: AsRunLanguagesSite) => (s.notHeard?.reason === 'no_version' || s.notHeard?.reason === 'agent_without_parts') && s.played.length > 0;

function heardText(s: AsRunLanguagesSite, names: LanguageNames): string {
  if (s.heardOwnLanguage === true) return t('langHeardYes');
  if (s.heardOwnLanguage === null || !s.notHeard) return t('langHeardUnknown');
  // The version heard instead: the one that played, else the one planned.
  const instead = s.played.length > 0 ? s.played : s.versions.map((v) => v.language);
  const why = t(NOT_HEARD_KEY[s.notHeard.reason], {
    lang: inSentence(names, s.notHeard.language),
    played: instead.map((l) => inSentence(names, l)).join(', '),
  });
  return `${t('langHeardNo')}: ${why}${s.notHeard.detail ? ` (${codeWords('why_', s.notHeard.detail)})` : ''}`;
}

/** "3/5 sites heard it in their own language, 2 fell back to another version.": the parts that are not zero. */
function summaryText(d: AsRunLanguages): string {
  const fallback = d.sites.filter((s) => s.heardOwnLanguage === false && fellBack(s)).length;
  const parts = [t('langSumHeard', { heard: d.summary.heardOwnLanguage, all: d.summary.sites })];
  if (fallback > 0) parts.push(t('langSumFallback', { n: fallback }));
  if (d.summary.notHeard - fallback > 0) parts.push(t('langSumNotHeard', { n: d.summary.notHeard - fallback }));
  if (d.summary.unknown > 0) parts.push(t('langSumUnknown', { n: d.summary.unknown }));
  return `${parts.join(', ')}.`;
}

export function AsRunLanguagesView(props: { item: string; entry: string; area: string; names: LanguageNames; onClose: () => void }) {
  const res = useApi<AsRunLanguages>(`/api/as-run/languages${qs({ item: props.item, entry: props.entry, area: props.area || undefined })}`);
  const d = res.data;
  // Opened from a row far down the as-run log: bring it to where the reader looks (on a phone, screens above).
  const card = useRef<HTMLDivElement>(null);
  useEffect(() => card.current?.scrollIntoView({ block: 'start' }), [props.entry]);
  return (
    <div class="card" data-testid="as-run-languages" data-item={props.item} ref={card}>
      <div class="row">
        <strong style="flex:1">
          {t('langAsRunTitle')} {d ? `— ${d.item.title}, ${formatTime(d.from)}` : ''}
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
          {summaryText(d)}
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
                  {s.missing.length > 0 && <div class="muted">{t('langMissingThere', { langs: props.names.list(s.missing) })}</div>}
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
