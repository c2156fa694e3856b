/**
 * Technicians' alarms of the user's area (issue 20): the technician's own
 * queue first (unacknowledged first, worst first), filtered by severity,
 * state, kind and commune; one alarm with its history, comments and incident,
 * acknowledged, cleared with a note or commented on. Live: the console's
 * event stream says when an alarm of the area changed, and the list reloads.
 * Assigning an alarm is a work order's (maintenance): the alarm page makes
 * or opens its order (work-orders.tsx AlarmWorkOrder).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from '../api.ts';
import { downloadFile } from '../download.ts';
import { formatTime, t } from '../i18n.ts';
import { errorText, useApi, useThrottled } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import { reasonWords } from '../site-words.ts';
import { alarmCode, alarmCountWords, type AlarmDetail, type AlarmList, type AlarmRecord, KINDS, queueOrder, SEVERITIES } from '../alarms.ts';
import type { AreaView, Me } from '../../../api/index.ts';
import { AlarmWorkOrder } from './work-orders.tsx';
import { FilterSelect } from '../components/filter-select.tsx';

/** Reloads at most this often however many alarms of a storm change at once. */
const LIVE_RELOAD_MS = 1_000;

const STATE_FILTERS = ['open', 'raised', 'acknowledged', 'cleared'] as const;
type StateFilter = (typeof STATE_FILTERS)[number];

export function SeverityPill({ severity }: { severity: AlarmRecord['severity'] }) {
  return (
    <span class={`pill sev-${severity}`} data-severity={severity}>
      {alarmCode('severity', severity)}
    </span>
  );
}

const canAct = (me: Me) => me.permissions.includes('site.command');

/** Acknowledge an alarm from a list or its page; `done` reloads what shows it. */
function AcknowledgeButton({ alarm, done, note }: { alarm: AlarmRecord; done: (error?: string) => void; note?: string }) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      data-testid="alarm-acknowledge"
      disabled={busy}
      onClick={() => {
        setBusy(true);
        api<AlarmRecord>('POST', `/api/alarms/${encodeURIComponent(alarm.id)}/acknowledge`, note ? { note } : null).then(
          () => {
            setBusy(false);
            done();
          },
          (e: Error) => {
            setBusy(false);
            done(errorText(e));
          },
        );
      }}
    >
      {t('alarmsAcknowledge')}
    </button>
  );
}

/** One alarm as a line of a list (a card on a phone). */
export function AlarmItem({ alarm, me, reload, showSite = true }: { alarm: AlarmRecord; me: Me; reload: () => void; showSite?: boolean }) {
  const [error, setError] = useState('');
  return (
    <li class={`alarm-item state-${alarm.state}`} data-alarm={alarm.id} data-state={alarm.state} data-severity={alarm.severity}>
      <div class="alarm-head">
        <SeverityPill severity={alarm.severity} /> <strong>{alarmCode('kind', alarm.kind)}</strong>
        {showSite && (
          <>
            {' · '}
            <a href={`/sites/${encodeURIComponent(alarm.siteId)}`}>{alarm.siteName ?? alarm.siteId}</a>
          </>
        )}
      </div>
      <div class="muted">
        <span data-testid="alarm-state">{alarmCode('state', alarm.state)}</span> · {formatTime(alarm.raisedAt ?? alarm.detectedAt)}
        {alarm.count > 1 ? ` · ${alarmCountWords(alarm.count)}` : ''}
      </div>
      {alarm.reasons.length > 0 && <div class="alarm-reasons">{alarm.reasons.map((r) => reasonWords(r)).join('; ')}</div>}
      <div class="row alarm-actions">
        <a class="button secondary" href={`/alarms/${encodeURIComponent(alarm.id)}`}>
          {t('alarmsOpen')}
        </a>
        {canAct(me) && alarm.state === 'raised' && (
          <AcknowledgeButton
            alarm={alarm}
            done={(e) => {
              setError(e ?? '');
              reload();
            }}
          />
        )}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

/** Filters as the page's query string keeps them (a link to a filtered list works). */
interface Filters {
  severity: string;
  state: StateFilter;
  kind: string;
  commune: string;
}

function readFilters(q: URLSearchParams): Filters {
  const state = q.get('state') ?? 'open';
  return {
    severity: q.get('severity') ?? '',
    state: (STATE_FILTERS as readonly string[]).includes(state) ? (state as StateFilter) : 'open',
    kind: q.get('kind') ?? '',
    commune: q.get('commune') ?? '',
  };
}

export function AlarmsPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const [f, setF] = useState<Filters>(() => readFilters(query));
  const [csvError, setCsvError] = useState('');
  const url = `/api/alarms${qs({ severity: f.severity, state: f.state, kind: f.kind, commune: f.commune, limit: 500 })}`;
  const list = useApi<AlarmList>(url);
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const reload = useThrottled(list.reload, LIVE_RELOAD_MS);
  useEffect(() => onLive('alarm', () => reload()), [reload]);
  // Back in view after a drop of the stream: what changed meanwhile.
  useEffect(() => onLive('status', (on) => on && list.reload()), [list.reload]);

  const set = (patch: Partial<Filters>) => {
    const next = { ...f, ...patch };
    setF(next);
    history.replaceState(null, '', `/alarms${qs({ ...next, state: next.state === 'open' ? '' : next.state })}`);
  };
  const alarms = [...(list.data?.alarms ?? [])].sort(queueOrder);
  const select = (name: keyof Filters, label: string, options: Array<[string, string]>) => (
    <FilterSelect name={name} label={label} value={f[name]} options={options} onChange={(v) => set({ [name]: v } as Partial<Filters>)} />
  );
  return (
    <section class="alarms">
      <h1 data-testid="alarms-title">{t('alarmsTitle', { area: me.areaName ?? t('whole') })}</h1>
      {me.role === 'technician' && (
        <p data-testid="alarms-queue">
          <strong>{t('alarmsQueue')}</strong> <span class="muted">{t('alarmsQueueHint')}</span>
        </p>
      )}
      <details class="filters" open={window.matchMedia?.('(min-width: 701px)').matches ?? true}>
        <summary>{t('filter')}</summary>
        <div class="row">
          {select('severity', t('alarmsSeverity'), [['', t('alarmsAny')], ...SEVERITIES.map((s): [string, string] => [s, alarmCode('severity', s)])])}
          {select(
            'state',
            t('alarmsState'),
            STATE_FILTERS.map((s): [string, string] => [s, s === 'open' ? t('alarmsStateOpen') : alarmCode('state', s)]),
          )}
          {select('kind', t('kind'), [['', t('alarmsAny')], ...KINDS.map((k): [string, string] => [k, alarmCode('kind', k)])])}
          {select('commune', t('commune'), [['', t('alarmsAllCommunes')], ...(communes.data?.areas ?? []).map((a): [string, string] => [a.key, a.name])])}
        </div>
      </details>
      {list.error && <p class="error">{list.error}</p>}
      {list.data && (
        <p class="row">
          <span class="muted" data-testid="alarms-total">
            {t('alarmsTotal', { n: list.data.total })}
          </span>
          <button
            type="button"
            class="secondary"
            data-testid="alarms-csv"
            onClick={() => downloadFile(url, 'canh-bao-ky-thuat.csv', 'text/csv').catch((e: Error) => setCsvError(errorText(e)))}
          >
            {t('alarmsCsv')}
          </button>
          {csvError && <span class="error">{csvError}</span>}
        </p>
      )}
      {list.data && alarms.length === 0 && <p class="muted">{t('alarmsNone')}</p>}
      <ul class="alarm-list" data-testid="alarms">
        {alarms.map((a) => (
          <AlarmItem key={a.id} alarm={a} me={me} reload={list.reload} />
        ))}
      </ul>
    </section>
  );
}

/** A history row's own fields in words: who and note, severity from/to, cause. */
function historyDetail(type: string, d: Record<string, unknown>): string {
  const parts: string[] = [];
  const str = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  if (type === 'severity_changed' && str('from') && str('to')) parts.push(`${alarmCode('severity', str('from')!)} → ${alarmCode('severity', str('to')!)}`);
  if (type === 'raised' && str('severity')) parts.push(alarmCode('severity', str('severity')!));
  if (str('cause')) parts.push(alarmCode('clearCause', str('cause')!));
  if (str('by')) parts.push(str('by')!);
  if (str('note')) parts.push(`“${str('note')}”`);
  if (Array.isArray(d.reasons)) parts.push((d.reasons as Array<{ code: string; params?: Record<string, unknown> }>).map((r) => reasonWords(r)).join('; '));
  return parts.join(' · ');
}

/** A note form: clear (note required) or comment. */
function NoteForm({ label, name, required, onSubmit }: { label: string; name: string; required: boolean; onSubmit: (note: string) => Promise<string | undefined> }) {
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="note-form"
      data-testid={`alarm-${name}-form`}
      onSubmit={(e) => {
        e.preventDefault();
        if (required && !note.trim()) return setError(t('alarmsClearNoteMissing'));
        setBusy(true);
        onSubmit(note.trim()).then(
          (err) => {
            setBusy(false);
            setError(err ?? '');
            if (!err) setNote('');
          },
          () => setBusy(false),
        );
      }}
    >
      <label>
        {name === 'clear' ? t('alarmsClearNote') : t('alarmsNote')}
        <textarea name="note" rows={2} maxLength={2000} value={note} onInput={(e) => setNote((e.currentTarget as HTMLTextAreaElement).value)} />
      </label>
      <button type="submit" disabled={busy}>
        {label}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function AlarmPage({ me, id }: { me: Me; id: string }) {
  const d = useApi<AlarmDetail>(`/api/alarms/${encodeURIComponent(id)}`);
  const [error, setError] = useState('');
  useEffect(() => onLive('alarm', (e) => e.alarmId === id && d.reload()), [id, d.reload]);
  const post = (what: 'clear' | 'comments') => async (note: string) => {
    try {
      await api('POST', `/api/alarms/${encodeURIComponent(id)}/${what}`, { note });
      d.reload();
      return undefined;
    } catch (e) {
      return errorText(e as Error);
    }
  };
  const back = (
    <p>
      <a href="/alarms">{t('alarmsBack')}</a>
    </p>
  );
  if (d.error && !d.data)
    return (
      <section>
        {back}
        <p class="error">{d.error}</p>
      </section>
    );
  if (!d.data) return <p class="muted">{t('loading')}</p>;
  const { alarm: a, history, comments, incident } = d.data;
  return (
    <section class="alarm-page" data-alarm={a.id} data-state={a.state}>
      {back}
      <h1>
        <SeverityPill severity={a.severity} /> {alarmCode('kind', a.kind)}
      </h1>
      <p>
        <a href={`/sites/${encodeURIComponent(a.siteId)}`}>{a.siteName ?? a.siteId}</a> · <span data-testid="alarm-state">{alarmCode('state', a.state)}</span> ·{' '}
        {a.active ? t('alarmsActiveNow') : t('alarmsNotActive')}
      </p>
      <p class="muted">
        {t('alarmsRaisedAt')} {formatTime(a.raisedAt ?? a.detectedAt)}
        {a.count > 1 ? ` · ${alarmCountWords(a.count)}` : ''}
      </p>
      {a.reasons.length > 0 && (
        <p>
          {t('alarmsReasons')}: {a.reasons.map((r) => reasonWords(r)).join('; ')}
        </p>
      )}
      {a.acknowledged && (
        <p data-testid="alarm-acknowledged">
          {t('alarmsAcknowledged', { by: a.acknowledged.by, at: formatTime(a.acknowledged.at) })}
          {a.acknowledged.note ? ` — “${a.acknowledged.note}”` : ''}
        </p>
      )}
      {a.cleared && (
        <p data-testid="alarm-cleared">
          {t('alarmsCleared', { at: formatTime(a.cleared.at), cause: alarmCode('clearCause', a.cleared.cause) })}
          {a.cleared.by ? ` (${a.cleared.by})` : ''}
          {a.cleared.note ? ` — “${a.cleared.note}”` : ''}
        </p>
      )}
      {incident && (
        <p class="muted" data-testid="alarm-incident">
          {t('alarmsIncident', { kind: alarmCode('incidentKind', incident.kind), state: alarmCode('incidentState', incident.state), n: incident.counts.members })}
        </p>
      )}
      {canAct(me) && a.state !== 'cleared' && (
        <div class="card alarm-act">
          {a.state === 'raised' && (
            <p>
              <AcknowledgeButton
                alarm={a}
                done={(e) => {
                  setError(e ?? '');
                  d.reload();
                }}
              />
            </p>
          )}
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <NoteForm label={t('alarmsClear')} name="clear" required onSubmit={post('clear')} />
        </div>
      )}
      {a.state !== 'pending' && <AlarmWorkOrder me={me} alarmId={a.id} alarmOpen={a.state !== 'cleared'} />}
      <h2>{t('alarmsComments')}</h2>
      {comments.length === 0 && <p class="muted">{t('alarmsNoComments')}</p>}
      <ul data-testid="alarm-comments">
        {comments.map((c) => (
          <li>
            <span class="muted">
              {formatTime(c.at)} · {c.by}:
            </span>{' '}
            {c.note}
          </li>
        ))}
      </ul>
      {canAct(me) && <NoteForm label={t('alarmsComment')} name="comment" required onSubmit={post('comments')} />}
      <h2>{t('alarmsHistory')}</h2>
      <ul data-testid="alarm-history">
        {history.map((h) => (
          <li>
            <span class="muted">{formatTime(h.at)}</span> {alarmCode('history', h.type)}
            {historyDetail(h.type, h.detail) ? ` — ${historyDetail(h.type, h.detail)}` : ''}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The site page's part: the site's alarms, open and cleared, newest first. */
export function SiteAlarms({ me, siteId }: { me: Me; siteId: string }) {
  const list = useApi<AlarmList>(`/api/alarms${qs({ site: siteId, state: 'raised,acknowledged,cleared', limit: 50 })}`);
  const reload = useThrottled(list.reload, LIVE_RELOAD_MS);
  useEffect(() => onLive('alarm', (e) => e.siteId === siteId && reload()), [siteId, reload]);
  return (
    <div data-testid="site-alarms">
      <h2>{t('alarmsSiteHistory')}</h2>
      {list.error && <p class="error">{list.error}</p>}
      {list.data && list.data.alarms.length === 0 && <p class="muted">{t('alarmsNone')}</p>}
      <ul class="alarm-list">
        {(list.data?.alarms ?? []).map((a) => (
          <AlarmItem key={a.id} alarm={a} me={me} reload={list.reload} showSite={false} />
        ))}
      </ul>
    </div>
  );
}
