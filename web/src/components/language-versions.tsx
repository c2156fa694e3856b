/**
 * The schedule form's "language versions": for each language the targeted
 * villages speak (GET /api/schedule/languages, for each area targeted) or the operator adds, a
 * library item in that language, a file uploaded in it, or a recording from
 * the microphone. Shows which languages are spoken there and which still have
 * no version (those villages hear the default, Vietnamese, instead).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, uploadWithProgress } from '../api.ts';
import { t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { LanguageNames } from '../language-names.ts';
import type { MediaEntry, MediaItem, MediaList, ScheduleLanguages } from '../../../api/index.ts';
import { followMedia, formatDuration } from './media-picker.tsx';
import { VersionRecorder } from './version-recorder.tsx';

/** language → media id of its version; a language with '' is shown but has no version yet. */
export type VersionChoice = Record<string, string>;

/** The languages spoken at one area's sites, most villages first (then in the order met), with the villages speaking each. */
function spokenIn(villages: ScheduleLanguages['villages']): Array<{ language: string; villages: string[] }> {
  const withSites = villages.filter((v) => v.sites > 0);
  const by = new Map<string, string[]>();
  for (const v of withSites.length > 0 ? withSites : villages) for (const l of v.languages) by.set(l, [...(by.get(l) ?? []), v.name]);
  return [...by].map(([language, names]) => ({ language, villages: names })).sort((a, b) => b.villages.length - a.villages.length);
}

/**
 * The languages spoken at the areas' sites, with the villages speaking each: those spoken in most of the
 * areas first, then as the areas list them (each area most villages first), so a language of one remote
 * commune does not push ahead of one heard in all of them.
 */
export function spokenLanguages(areas: ReadonlyArray<ScheduleLanguages['villages']>): Array<{ language: string; villages: string[] }> {
  const by = new Map<string, { areas: number; villages: string[] }>();
  for (const villages of areas) {
    for (const s of spokenIn(villages)) {
      const seen = by.get(s.language);
      by.set(s.language, { areas: (seen?.areas ?? 0) + 1, villages: [...(seen?.villages ?? []), ...s.villages] });
    }
  }
  return [...by].sort((a, b) => b[1].areas - a[1].areas).map(([language, s]) => ({ language, villages: s.villages }));
}

/**
 * Each area's villages and their languages, in the areas' order; undefined until they answered. An area
 * that could not be read adds nothing (its villages then hear the default unless a version is added by hand).
 */
function useAreaLanguages(areas: readonly string[]): ScheduleLanguages[] | undefined {
  // The caller may build its list anew at each render: the areas themselves decide when to fetch again.
  const key = areas.join('\n');
  const [got, setGot] = useState<{ key: string; areas: ScheduleLanguages[] } | undefined>(undefined);
  useEffect(() => {
    if (key === '') return;
    let current = true;
    const asked = key.split('\n').map((area) => get<ScheduleLanguages>(`/api/schedule/languages?area=${encodeURIComponent(area)}`));
    void Promise.allSettled(asked).then((answers) => {
      const read = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
      if (current && read.length > 0) setGot({ key, areas: read });
    });
    return () => void (current = false);
  }, [key]);
  return got?.key === key ? got.areas : undefined;
}

export function LanguageVersions(props: {
  /** Where it plays: the languages spoken in each are offered (none: the operator adds them). */
  areas: readonly string[];
  defaultLang: string | undefined;
  title: string;
  value: VersionChoice;
  onChange: (v: VersionChoice) => void;
  canWrite: boolean;
  names: LanguageNames;
  onError: (e: unknown) => void;
}) {
  const where = useAreaLanguages(props.areas);
  const lib = useApi<MediaList>('/api/media?purpose=bulletin&limit=200');
  const [adding, setAdding] = useState('');
  const [uploading, setUploading] = useState('');
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);

  const spoken = useMemo(() => spokenLanguages((where ?? []).map((a) => a.villages)), [where]);
  const rows = useMemo(() => {
    // A version chosen stays listed even in the default's language (the default changed since): the server refuses it, and the row is where to remove it.
    const langs = [...spoken.map((s) => s.language).filter((l) => l !== props.defaultLang), ...Object.keys(props.value)];
    return [...new Set(langs)];
  }, [spoken, props.value, props.defaultLang]);
  const missing = rows.filter((l) => !props.value[l] && spoken.some((s) => s.language === l));

  const set = (language: string, mediaId: string) => props.onChange({ ...props.value, [language]: mediaId });
  const ready = (language: string) => (item: MediaItem) => {
    lib.reload();
    set(language, item.id);
  };
  const upload = (language: string) => (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const form = new FormData();
    form.append('title', `${props.title || file.name.replace(/\.[^.]+$/, '')} (${language})`);
    form.append('lang', language);
    form.append('file', file);
    setUploading(language);
    uploadWithProgress<MediaEntry>('/api/media?waitMs=0', form, () => {})
      .then((entry) =>
        followMedia(
          entry,
          () => {},
          () => alive.current,
        ),
      )
      .then(ready(language), props.onError)
      .finally(() => setUploading(''));
    input.value = '';
  };

  const items = lib.data?.items ?? [];
  return (
    <fieldset class="card lang-versions" data-testid="language-versions">
      <legend>{t('langVersions')}</legend>
      {props.areas.length > 0 && where && (
        <p class="muted" data-testid="spoken-languages">
          {t('langSpokenHere', { langs: spoken.map((s) => props.names.name(s.language)).join(', ') || '—' })}
        </p>
      )}
      {missing.length > 0 && (
        <p class="warn-text" data-testid="missing-versions">
          {t('langNoVersionYet', { langs: props.names.list(missing), def: props.names.name(props.defaultLang ?? 'vi') })}
        </p>
      )}
      {rows.map((language) => {
        const inLang = items.filter((m) => m.lang === language);
        const s = spoken.find((x) => x.language === language);
        return (
          <div class="row lang-row" data-language={language} data-has-version={props.value[language] ? 'true' : 'false'}>
            <label>
              {props.names.name(language)}
              <span class="muted"> {s ? t('langVillagesN', { n: s.villages.length }) : t('langNotSpokenHere')}</span>
              <select name={`version-${language}`} value={props.value[language] ?? ''} onChange={(e) => set(language, e.currentTarget.value)}>
                <option value="">{inLang.length > 0 ? t('langChooseVersion') : t('langNoItemInLanguage')}</option>
                {inLang.map((m) => (
                  <option value={m.id}>
                    {m.title} ({formatDuration(m.durationMs)})
                  </option>
                ))}
              </select>
            </label>
            {props.canWrite && (
              <>
                <label>
                  {t('upload')}
                  <input type="file" name={`version-file-${language}`} accept="audio/*,.mp3,.wav,.ogg,.m4a" disabled={uploading !== ''} onChange={upload(language)} />
                </label>
                <VersionRecorder
                  language={language}
                  title={`${props.title || t('langRecording')} (${props.names.name(language)})`}
                  onReady={ready(language)}
                  onError={props.onError}
                />
              </>
            )}
            {uploading === language && <span class="muted">{t('processing')}</span>}
            {/* biome-ignore lint/a11y/useMediaCaption: the operator's own recording, played to check it before scheduling; no caption track exists for it */}
            {props.value[language] && <audio controls preload="none" src={`/api/media/${encodeURIComponent(props.value[language])}/audio`} />}
            {(!s || language === props.defaultLang) && (
              <button type="button" class="secondary" onClick={() => props.onChange(Object.fromEntries(Object.entries(props.value).filter(([l]) => l !== language)))}>
                {t('langRemove')}
              </button>
            )}
          </div>
        );
      })}
      <div class="row">
        <label>
          {t('langAdd')}
          <select name="addLanguage" value={adding} onChange={(e) => setAdding(e.currentTarget.value)}>
            <option value="" />
            {props.names.known
              .filter((l) => l.tag !== props.defaultLang && !rows.includes(l.tag))
              .map((l) => (
                <option value={l.tag}>{l.name}</option>
              ))}
          </select>
        </label>
        <button
          type="button"
          class="secondary"
          disabled={!adding}
          onClick={() => {
            set(adding, '');
            setAdding('');
          }}
        >
          {t('langAddButton')}
        </button>
      </div>
    </fieldset>
  );
}
