/**
 * Bulletins and schedule: make a broadcast (media from the library, uploaded
 * or spoken; where; when; priority), see conflicts BEFORE saving (the
 * server's dry run, re-asked as the form changes), approve or cancel, the
 * week calendar of an area, and the as-run log with its CSV.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.ts';
import { formatDay, formatTime, lang, localInputValue, t, type StringKey } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { AreaView, CalendarOccurrence, CheckResult, Conflict, ItemView, Me } from '../../../api/index.ts';
import { formatDuration, MediaPicker, type MediaSummary } from '../components/media-picker.tsx';

type Item = ItemView;
/** Where two items overlap: whole areas by name, then the sites outside them. */
const placesText = (c: Conflict) => [...c.places.areas.map((a) => a.name), ...c.places.siteIds].join(', ');
type Occurrence = CalendarOccurrence;
interface AsRunLine {
  title: string;
  siteName: string;
  areaName: string;
  startAt: number;
  status: string;
  explanation: { vi: string; en: string } | null;
}

const PRIORITY_KEY: Record<string, StringKey> = { normal: 'normal', priority: 'priorityHigh', emergency: 'emergencyPriority' };
const STATUS_KEY: Record<string, StringKey> = { draft: 'draft', approved: 'approved', cancelled: 'cancelled' };
const DAY = 86_400_000;
/** Played, but not when it should have (or not known when): shown as a warning, not as a plain "played". */
const CLOCK_WARN = new Set(['late', 'early', 'unverified', 'unknown']);
const both = (x: { vi: string; en: string } | undefined) => (x ? `${x.vi} / ${x.en}` : '');

function BroadcastForm(props: { me: Me; communes: AreaView[]; onSaved: () => void }) {
  const perms = props.me.permissions;
  const [title, setTitle] = useState('');
  const [mediaId, setMediaId] = useState('');
  const [area, setArea] = useState(props.me.area ?? '');
  const [start, setStart] = useState(() => localInputValue(Date.now() + 10 * 60_000));
  const [daily, setDaily] = useState(false);
  const [priority, setPriority] = useState('normal');
  const [check, setCheck] = useState<CheckResult | null>(null);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');

  const body = useMemo(() => {
    if (!mediaId || !area || !start) return null;
    const [date, time] = start.split('T');
    const [hh, mm] = (time ?? '00:00').split(':');
    return {
      title: title || 'Bản tin',
      mediaId,
      targets: { areas: [area] },
      priority,
      start: daily ? { dtstart: `${date}T${hh}:${mm}`, rrule: `FREQ=DAILY;BYHOUR=${Number(hh)};BYMINUTE=${Number(mm)}` } : { at: start },
    };
  }, [title, mediaId, area, start, daily, priority]);

  // Conflicts are shown before saving: the server's dry run, asked again whenever the form changes.
  useEffect(() => {
    setCheck(null);
    setError('');
    setSaved('');
    if (!body) return;
    const timer = window.setTimeout(() => {
      api<CheckResult>('POST', '/api/schedule/check', body).then(setCheck, (e: Error) => setError(e.message));
    }, 300);
    return () => clearTimeout(timer);
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
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };

  const conflictMsg = check && !check.ok ? (lang() === 'vi' ? check.messageVi : check.message) : null;
  return (
    <form class="card" onSubmit={save} data-testid="broadcast-form">
      <div class="row">
        <label style="flex:1">
          {t('title')}
          <input name="title" value={title} maxLength={200} onInput={(e) => setTitle(e.currentTarget.value)} required />
        </label>
      </div>
      <MediaPicker value={mediaId} onChange={setMediaId} canWrite={perms.includes('media.write')} />
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
        <label>
          {t('startAt')} (GMT+7)
          <input name="start" type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} required />
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
      {check && check.ok && (
        <p class="ok" data-testid="check-result" data-ok="true">
          {t('noConflict', { n: check.sites })} {check.nextOccurrences.slice(0, 3).map((o) => formatTime(o.at)).join(', ')}
        </p>
      )}
      {check && !check.ok && (
        <div class="error" data-testid="check-result" data-ok="false" role="alert">
          <strong>{t('conflict')}:</strong> {conflictMsg}
          <ul>
            {check.conflicts.map((c) => (
              <li>
                {[c.title, placesText(c), formatTime(c.firstOverlapAt)].filter(Boolean).join(' — ')}
              </li>
            ))}
          </ul>
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="row">
        <button type="submit" disabled={!check || !check.ok}>
          {t('saveDraft')}
        </button>
        {saved && <span class="ok" data-testid="saved-item">{t('saved')}</span>}
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
  const calendar = useApi<{ area: { name: string }; occurrences: Occurrence[] }>(`/api/schedule/calendar${qs({ area, from, to, includeDrafts: true })}`);
  const items = useApi<{ total: number; items: Item[] }>(`/api/schedule/items${qs({ area, limit: 50 })}`);
  const asRun = useApi<{ lines: AsRunLine[]; statusLabels: Record<string, { vi: string; en: string }> }>(`/api/as-run${qs({ area, from: from - 7 * DAY, to: Math.min(to, Date.now() + DAY) })}`);
  const [actionError, setActionError] = useState('');
  const distribution = useApi<{ sites: number; converged: number; notConvergedSites: Array<{ siteId: string; online: boolean }> }>(`/api/schedule/distribution${qs({ area })}`);
  const library = useApi<{ total: number; items: Array<MediaSummary & { createdAt: number; createdBy: string | null }> }>('/api/media?limit=50');

  const reload = () => {
    calendar.reload();
    items.reload();
    distribution.reload();
  };
  const act = async (id: string, action: 'approve' | 'cancel') => {
    setActionError('');
    try {
      await api('POST', `/api/schedule/items/${encodeURIComponent(id)}/${action}`, action === 'cancel' ? {} : undefined);
      reload();
    } catch (e) {
      setActionError(e instanceof ApiError ? e.message : String(e));
    }
  };

  const days = Array.from({ length: 7 }, (_, i) => from + i * DAY);
  const byDay = (d: number) => (calendar.data?.occurrences ?? []).filter((o) => o.startLocal.slice(0, 10) === localInputValue(d).slice(0, 10));
  const label = (l: { vi: string; en: string } | undefined) => (l ? (lang() === 'vi' ? l.vi : l.en) : '');

  return (
    <section>
      <h1>{t('schedule')}</h1>
      {perms.includes('schedule.write') && (
        <>
          <h2>{t('newBroadcast')}</h2>
          <BroadcastForm me={props.me} communes={communes.data?.areas ?? []} onSaved={reload} />
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
          <div class="card">
            <strong>{formatDay(d)}</strong>
            {byDay(d).length === 0 ? (
              <div class="muted">—</div>
            ) : (
              byDay(d).map((o) => (
                <div class={`occ ${o.status}`} data-item={o.itemId}>
                  {o.startLocal.slice(11, 16)}
                  {o.endLocal.slice(11, 16) !== o.startLocal.slice(11, 16) ? `–${o.endLocal.slice(11, 16)}` : ''} {o.title} <span class="muted">({t(STATUS_KEY[o.status] ?? 'status')}, {t('sitesN', { n: o.sites })})</span>
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
        <p class="error" role="alert">
          {actionError}
        </p>
      )}
      <div class="scroll">
        <table data-testid="items">
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
                <td>{i.title}</td>
                <td>{t(STATUS_KEY[i.status] ?? 'status')}</td>
                <td>{t(PRIORITY_KEY[i.priority] ?? 'normal')}</td>
                <td>
                  {i.targets.areas.map((a) => a.name ?? a.key).join(', ')} ({t('sitesN', { n: i.sites })})
                </td>
                <td>{i.nextOccurrences[0] ? formatTime(i.nextOccurrences[0].at) : '—'}</td>
                <td>
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

      <h2>
        {t('mediaLibrary')} ({library.data?.total ?? '…'})
      </h2>
      <div class="scroll">
        <table data-testid="library">
          <tbody>
            {(library.data?.items ?? []).map((m) => (
              <tr>
                <td>{m.title}</td>
                <td>{formatDuration(m.durationMs)}</td>
                <td class="hide-sm muted">
                  {m.lang} · {formatTime(m.createdAt)} · {m.createdBy ?? ''}
                </td>
                <td>
                  <audio controls preload="none" src={`/api/media/${encodeURIComponent(m.id)}/audio`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>{t('asRun')}</h2>
      <p>
        <a href={`/api/as-run${qs({ area, from: from - 7 * DAY, to: Math.min(to, Date.now() + DAY), format: 'csv' })}`} download data-testid="as-run-csv">
          {t('exportCsv')}
        </a>
      </p>
      <div class="scroll">
        <table data-testid="as-run">
          <thead>
            <tr>
              <th>{t('startAt')}</th>
              <th>{t('title')}</th>
              <th>{t('name')}</th>
              <th>{t('status')}</th>
              <th class="hide-sm">{t('reasons')}</th>
            </tr>
          </thead>
          <tbody>
            {(asRun.data?.lines ?? []).slice(0, 300).map((l) => (
              <tr>
                <td>{formatTime(l.startAt)}</td>
                <td>{l.title}</td>
                <td>
                  {l.siteName} <span class="muted">{l.areaName}</span>
                </td>
                <td data-status={l.status} class={CLOCK_WARN.has(l.status) ? 'warn-text' : ''} title={both(asRun.data?.statusLabels[l.status])}>
                  {label(asRun.data?.statusLabels[l.status]) || l.status}
                </td>
                <td class="hide-sm muted">{label(l.explanation ?? undefined)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
