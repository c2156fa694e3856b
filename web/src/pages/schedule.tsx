/**
 * Bulletins and schedule: make a broadcast (media from the library, uploaded
 * or spoken; where; when; priority), see conflicts BEFORE saving (the
 * server's dry run, re-asked as the form changes), approve or cancel, the
 * week calendar of an area (weekday names, and how a recurring item repeats),
 * and the as-run log with its CSV. Every failed call says why, in the user's
 * language where the server gives the words or a code the console knows.
 * On a phone the tables become stacked cards, so no button is off-screen.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, errorWording, qs } from '../api.ts';
import { errorText as codeText, formatDay, formatTime, lang, localInputValue, t, type StringKey } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { AreaView, AsRunLog, Calendar, CheckResult, Conflict, Distribution, ItemList, ItemVersionIn, ItemView, MediaEntry, MediaList, Me } from '../../../api/index.ts';
import { formatDuration, MediaPicker } from '../components/media-picker.tsx';
import { DateTimeEntry } from '../components/date-entry.tsx';
import { recurrenceText, weekdayName } from '../recurrence.ts';
import { asRunWhyWords, codeWords } from '../site-words.ts';
import { LanguageVersions, type VersionChoice } from '../components/language-versions.tsx';
import { AsRunLanguagesView } from '../components/as-run-languages.tsx';
import { useLanguageNames } from '../language-names.ts';

type Item = ItemView;
/** Where two items overlap: whole areas by name, then the sites outside them. */
const placesText = (c: Conflict) => [...c.places.areas.map((a) => a.name), ...c.places.siteIds].join(', ');

const PRIORITY_KEY: Record<string, StringKey> = { normal: 'normal', priority: 'priorityHigh', emergency: 'emergencyPriority' };
const STATUS_KEY: Record<string, StringKey> = { draft: 'draft', approved: 'approved', cancelled: 'cancelled' };
const DAY = 86_400_000;
/** Played, but not when it should have (or not known when): shown as a warning, not as a plain "played". */
const CLOCK_WARN = new Set(['late', 'early', 'unverified', 'unknown']);

/**
 * Why a call failed, as the user reads it: the console's own words for a code
 * it knows; else the refusal in the user's words for its status; a network
 * failure says so rather than nothing.
 */
function failText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof TypeError ? t('networkFailed') : e instanceof Error ? e.message : String(e);
  if (e.worded) return e.message;
  return codeText(e.code, e.details, '') || errorText(e);
}

function BroadcastForm(props: { me: Me; communes: AreaView[]; onSaved: () => void; onMedia: (id: string) => void }) {
  const perms = props.me.permissions;
  const [title, setTitle] = useState('');
  const [mediaId, setMediaId] = useState('');
  const [area, setArea] = useState(props.me.area ?? '');
  const [start, setStart] = useState(() => localInputValue(Date.now() + 10 * 60_000));
  const [daily, setDaily] = useState(false);
  const [priority, setPriority] = useState('normal');
  const [versions, setVersions] = useState<VersionChoice>({});
  const names = useLanguageNames();
  // The default version's language: the versions are the bulletin in the others.
  const chosen = useApi<MediaEntry>(mediaId ? `/api/media/${encodeURIComponent(mediaId)}` : null);
  const defaultLang = chosen.data?.status === 'ready' ? chosen.data.lang : undefined;
  const [check, setCheck] = useState<CheckResult | null>(null);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');

  const body = useMemo(() => {
    if (!mediaId || !area || !start) return null;
    const [date, time] = start.split('T');
    const [hh, mm] = (time ?? '00:00').split(':');
    const chosenVersions: ItemVersionIn[] = Object.entries(versions)
      .filter(([, id]) => id)
      .map(([language, id]) => ({ language, mediaId: id }));
    return {
      title: title || 'Bản tin',
      mediaId,
      ...(chosenVersions.length > 0 ? { versions: chosenVersions } : {}),
      targets: { areas: [area] },
      priority,
      start: daily ? { dtstart: `${date}T${hh}:${mm}`, rrule: `FREQ=DAILY;BYHOUR=${Number(hh)};BYMINUTE=${Number(mm)}` } : { at: start },
    };
  }, [title, mediaId, versions, area, start, daily, priority]);

  // Conflicts are shown before saving: the server's dry run, asked again whenever the form changes.
  useEffect(() => {
    setCheck(null);
    setError('');
    setSaved('');
    if (!body) return;
    // An answer to a form that has changed since (the day typed, then the time) is stale: it must not enable saving.
    let current = true;
    const timer = window.setTimeout(() => {
      api<CheckResult>('POST', '/api/schedule/check', body).then(
        (r) => current && setCheck(r),
        (e: unknown) => current && setError(t('checkFailed', { reason: failText(e) })),
      );
    }, 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [body]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!body) return;
    setError('');
    try {
      const item = await api<Item>('POST', '/api/schedule/items', body);
      setSaved(item.id);
      props.onSaved();
    } catch (err) {
      setError(t('notSaved', { reason: failText(err) }));
      // The schedule changed since the last dry run (someone approved another item): ask again, so the form shows what is in the way now.
      if (err instanceof ApiError && err.status === 409) api<CheckResult>('POST', '/api/schedule/check', body).then(setCheck, () => {});
    }
  };

  // Worded like the refusal a save would get (the same code and titles); the list below says where and when.
  const conflictMsg = check && !check.ok ? errorWording('LOANET_SCHEDULE_CONFLICT', { titles: [...new Set(check.conflicts.map((c) => c.title))] }, check.message ?? '') : null;
  return (
    <form class="card" onSubmit={save} data-testid="broadcast-form">
      <div class="row">
        <label style="flex:1">
          {t('title')}
          <input name="title" value={title} maxLength={200} onInput={(e) => setTitle(e.currentTarget.value)} required />
        </label>
      </div>
      <MediaPicker
        value={mediaId}
        onChange={(id) => {
          setMediaId(id);
          props.onMedia(id);
        }}
        canWrite={perms.includes('media.write')}
      />
      <div class="row">
        <label>
          {t('targetArea')}
          <select name="area" value={area} onChange={(e) => setArea(e.currentTarget.value)} required>
            <option value="">{t('chooseArea')}</option>
            {props.communes.map((a) => (
              <option value={a.key}>{a.name}</option>
            ))}
          </select>
        </label>
        <label htmlFor="broadcast-start">
          {t('startAt')} (GMT+7)
          <DateTimeEntry id="broadcast-start" name="start" value={start} onChange={setStart} required />
        </label>
        <label style="flex-direction:row;align-items:center;gap:.3rem">
          <input name="daily" type="checkbox" checked={daily} onChange={(e) => setDaily(e.currentTarget.checked)} /> {t('repeatDaily')}
        </label>
        <label>
          {t('priority')}
          <select name="priority" value={priority} onChange={(e) => setPriority(e.currentTarget.value)}>
            {['normal', 'priority', 'emergency'].map((p) => (
              <option value={p}>{t(PRIORITY_KEY[p]!)}</option>
            ))}
          </select>
        </label>
      </div>
      {area && mediaId && (
        <LanguageVersions
          areas={[area]}
          defaultLang={defaultLang}
          title={title}
          value={versions}
          onChange={setVersions}
          canWrite={perms.includes('media.write')}
          names={names}
          onError={(e) => setError(t('langVersionFailed', { reason: failText(e) }))}
        />
      )}
      {check?.ok && (
        <p class="ok" data-testid="check-result" data-ok="true">
          {t('noConflict', { n: check.sites })}{' '}
          {check.nextOccurrences
            .slice(0, 3)
            .map((o) => formatTime(o.at))
            .join(', ')}
        </p>
      )}
      {check && !check.ok && (
        <div class="error" data-testid="check-result" data-ok="false" role="alert">
          <strong>{t('conflict')}:</strong> {conflictMsg}
          <ul>
            {check.conflicts.map((c) => (
              <li>{[c.title, placesText(c), formatTime(c.firstOverlapAt)].filter(Boolean).join(' — ')}</li>
            ))}
          </ul>
        </div>
      )}
      {error && (
        <p class="error" role="alert" data-testid="form-error">
          {error}
        </p>
      )}
      <div class="row">
        <button type="submit" disabled={!check?.ok}>
          {t('saveDraft')}
        </button>
        {saved && (
          <span class="ok" data-testid="saved-item">
            {t('saved')}
          </span>
        )}
      </div>
    </form>
  );
}

export function SchedulePage(props: { me: Me; query: URLSearchParams }) {
  const perms = props.me.permissions;
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const area = props.query.get('area') ?? props.me.area ?? '';
  const [week, setWeek] = useState(0);
  const from = useMemo(() => {
    const today = localInputValue(Date.now()).slice(0, 10);
    return Date.parse(`${today}T00:00:00+07:00`) + week * 7 * DAY;
  }, [week]);
  const to = from + 7 * DAY;
  const calendar = useApi<Calendar>(`/api/schedule/calendar${qs({ area, from, to, includeDrafts: true })}`);
  const items = useApi<ItemList>(`/api/schedule/items${qs({ area, limit: 50 })}`);
  // The items that play this week, for how each calendar entry repeats (the calendar lists occurrences only).
  const weekItems = useApi<ItemList>(`/api/schedule/items${qs({ area, from, to, limit: 1000 })}`);
  // The as-run's end read once per week shown: read at each render, the clock made a new address each time, and each new address cleared and fetched the log again, so it never showed.
  const asRunTo = useMemo(() => Math.min(to, Date.now() + DAY), [to]);
  const asRun = useApi<AsRunLog>(`/api/as-run${qs({ area, from: from - 7 * DAY, to: asRunTo })}`);
  const [actionError, setActionError] = useState('');
  const distribution = useApi<Distribution>(`/api/schedule/distribution${qs({ area })}`);
  const library = useApi<MediaList>('/api/media?purpose=bulletin&limit=50');
  const names = useLanguageNames();
  /** The occurrence whose as-run is shown village by village, in the villages' languages. */
  const [langView, setLangView] = useState<{ item: string; entry: string } | null>(null);

  const reload = () => {
    calendar.reload();
    items.reload();
    weekItems.reload();
    distribution.reload();
    library.reload();
  };
  const act = async (id: string, action: 'approve' | 'cancel') => {
    setActionError('');
    try {
      await api('POST', `/api/schedule/items/${encodeURIComponent(id)}/${action}`, action === 'cancel' ? {} : undefined);
      reload();
    } catch (e) {
      setActionError(t('actionFailed', { reason: failText(e) }));
    }
  };

  const days = Array.from({ length: 7 }, (_, i) => from + i * DAY);
  const byDay = (d: number) => (calendar.data?.occurrences ?? []).filter((o) => o.startLocal.slice(0, 10) === localInputValue(d).slice(0, 10));
  const repeats = useMemo(() => {
    const m = new Map<string, string>();
    for (const i of [...(weekItems.data?.items ?? []), ...(items.data?.items ?? [])]) {
      const r = recurrenceText(i.start);
      if (r) m.set(i.id, r);
    }
    return m;
    // The words follow the language chosen.
  }, [weekItems.data, items.data, lang()]);
  const loadErrors = [calendar.error, items.error, asRun.error, distribution.error, library.error].filter((e): e is string => !!e);

  return (
    <section class="schedule">
      <h1>{t('schedule')}</h1>
      <p>
        <a href={`/schedule/languages${qs({ area: area || undefined })}`} data-testid="languages-link">
          {t('langPageLink')}
        </a>
      </p>
      {loadErrors.length > 0 && (
        <p class="error" role="alert" data-testid="load-error">
          {[...new Set(loadErrors)].join(' · ')}
        </p>
      )}
      {perms.includes('schedule.write') && (
        <>
          <h2>{t('newBroadcast')}</h2>
          <BroadcastForm
            me={props.me}
            communes={communes.data?.areas ?? []}
            onSaved={reload}
            // A bulletin just uploaded or spoken is chosen in the form: the library below counts and lists it at once.
            onMedia={(id) => id && library.data && !library.data.items.some((m) => m.id === id) && library.reload()}
          />
        </>
      )}

      <h2>
        {t('weekCalendar')} {calendar.data ? `— ${calendar.data.area.name}` : ''}
      </h2>
      <div class="row">
        <select name="calendarArea" aria-label={t('area')} value={area} onChange={(e) => navigate(`/schedule${qs({ area: e.currentTarget.value })}`, true)}>
          <option value="">{props.me.areaName ?? t('whole')}</option>
          {(communes.data?.areas ?? []).map((a) => (
            <option value={a.key}>{a.name}</option>
          ))}
        </select>
        <button type="button" class="secondary" onClick={() => setWeek(week - 1)}>
          {t('previousWeek')}
        </button>
        <button type="button" class="secondary" onClick={() => setWeek(week + 1)}>
          {t('nextWeek')}
        </button>
      </div>
      <div class="week" data-testid="week">
        {days.map((d) => (
          <div class="card" data-day={localInputValue(d).slice(0, 10)}>
            <strong>
              <span data-testid="weekday">{weekdayName(d)}</span> {formatDay(d)}
            </strong>
            {byDay(d).length === 0 ? (
              <div class="muted">—</div>
            ) : (
              byDay(d).map((o) => (
                <div class={`occ ${o.status}`} data-item={o.itemId}>
                  {o.startLocal.slice(11, 16)}
                  {o.endLocal.slice(11, 16) !== o.startLocal.slice(11, 16) ? `–${o.endLocal.slice(11, 16)}` : ''} {o.title}{' '}
                  <span class="muted">
                    ({t(STATUS_KEY[o.status] ?? 'status')}, {t('sitesN', { n: o.sites })})
                  </span>
                  {repeats.has(o.itemId) && (
                    <div class="muted" data-testid="recurrence">
                      ↻ {repeats.get(o.itemId)}
                    </div>
                  )}
                </div>
              ))
            )}
          </div>
        ))}
      </div>

      {distribution.data && distribution.data.sites > 0 && (
        <p class={distribution.data.converged === distribution.data.sites ? 'ok' : 'muted'} data-testid="distribution">
          {t('playlistsHeld', { n: distribution.data.converged, all: distribution.data.sites })}
          {distribution.data.notConvergedSites.length > 0 &&
            ` — ${distribution.data.notConvergedSites
              .slice(0, 10)
              .map((x) => `${x.siteId}${x.online ? '' : ` (${t('offline').toLowerCase()})`}`)
              .join(', ')}`}
        </p>
      )}

      <h2>{t('items')}</h2>
      {actionError && (
        <p class="error" role="alert" data-testid="action-error">
          {actionError}
        </p>
      )}
      <div class="scroll">
        <table data-testid="items" class="stack">
          <thead>
            <tr>
              <th>{t('title')}</th>
              <th>{t('status')}</th>
              <th>{t('priority')}</th>
              <th>{t('targetArea')}</th>
              <th>{t('startAt')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(items.data?.items ?? []).map((i) => (
              <tr data-item={i.id} data-status={i.status}>
                <td class="stack-title">{i.title}</td>
                <td data-label={t('status')}>{t(STATUS_KEY[i.status] ?? 'status')}</td>
                <td data-label={t('priority')}>{t(PRIORITY_KEY[i.priority] ?? 'normal')}</td>
                <td data-label={t('targetArea')}>
                  {i.targets.areas.map((a) => a.name ?? a.key).join(', ')} ({t('sitesN', { n: i.sites })})
                </td>
                <td data-label={t('startAt')}>
                  {repeats.has(i.id) && (
                    <div data-testid="recurrence">
                      ↻ {repeats.get(i.id)}
                      {i.nextOccurrences[0] ? <span class="muted"> · {t('nextAt')}:</span> : ''}
                    </div>
                  )}
                  {i.nextOccurrences[0] ? formatTime(i.nextOccurrences[0].at) : 'at' in i.start ? formatTime(i.start.at) : '—'}
                </td>
                <td class="actions">
                  {i.status === 'draft' && perms.includes('schedule.approve') && (
                    <button type="button" onClick={() => act(i.id, 'approve')} data-action="approve">
                      {t('approve')}
                    </button>
                  )}{' '}
                  {i.status !== 'cancelled' && perms.includes('schedule.write') && (
                    <button type="button" class="secondary" onClick={() => act(i.id, 'cancel')} data-action="cancel">
                      {t('cancel')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2 data-testid="library-total" data-total={library.data?.total}>
        {t('mediaLibrary')} ({library.data?.total ?? '…'})
      </h2>
      <div class="scroll">
        <table data-testid="library" class="stack">
          <tbody>
            {(library.data?.items ?? []).map((m) => (
              <tr>
                <td class="stack-title">{m.title}</td>
                <td>{formatDuration(m.durationMs)}</td>
                <td class="hide-sm muted">
                  {m.lang} · {formatTime(m.createdAt)} · {m.createdBy ?? ''}
                </td>
                <td>
                  {/* biome-ignore lint/a11y/useMediaCaption: the library's own bulletins, played to check them; no caption track exists (a spoken one's text is its transcript) */}
                  <audio controls preload="none" src={`/api/media/${encodeURIComponent(m.id)}/audio`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>{t('asRun')}</h2>
      <p>
        <a href={`/api/as-run${qs({ area, from: from - 7 * DAY, to: asRunTo, format: 'csv' })}`} download data-testid="as-run-csv">
          {t('exportCsv')}
        </a>
      </p>
      {langView && <AsRunLanguagesView item={langView.item} entry={langView.entry} area={area} names={names} onClose={() => setLangView(null)} />}
      <div class="scroll">
        <table data-testid="as-run" class="stack">
          <thead>
            <tr>
              <th>{t('startAt')}</th>
              <th>{t('title')}</th>
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th class="hide-sm">{t('reasons')}</th>
              <th>{t('langShort')}</th>
            </tr>
          </thead>
          <tbody>
            {(asRun.data?.lines ?? []).slice(0, 300).map((l) => (
              <tr data-item={l.itemId} data-site={l.siteId}>
                <td class="stack-title">{formatTime(l.startAt)}</td>
                <td>{l.title}</td>
                <td data-label={t('name')}>
                  {l.siteName} <span class="muted">{l.areaName}</span>
                </td>
                <td data-label={t('status')} data-status={l.status} class={CLOCK_WARN.has(l.status) ? 'warn-text' : ''}>
                  {codeWords('asRun_', l.status)}
                </td>
                <td class="hide-sm muted" title={l.detail ? `${t('technicalDetail')} ${l.detail}` : undefined}>
                  {asRunWhyWords(l.why, l.siteNow)}
                </td>
                <td data-label={t('langShort')}>
                  {l.languages && (
                    <button type="button" class="secondary" data-action="as-run-languages" onClick={() => setLangView({ item: l.itemId, entry: l.entryId })}>
                      {l.languages.heardOwnLanguage === true ? '✓ ' : l.languages.heardOwnLanguage === false ? '✗ ' : ''}
                      {t('langOwnShort')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
