/**
 * Work orders (the maintenance log, server/maintenance): the list of the
 * user's area with the technician's own open orders first, filtered by
 * state, assignee and commune; one order with what a technician does to it
 * (assign, plan the visit, record parts and notes, resolve, cancel) and its
 * history; the place of an alarm's order on the alarm page and of a site's
 * orders on the site page. Closing is the server's: a resolved order waits
 * for a sound check heard with the site operational, which it may request.
 * Live: the console's event stream says when an order of the area changed.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { errorText, useApi, useThrottled } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import { navigate } from '../router.ts';
import { alarmCode } from '../alarms.ts';
import {
  isActive,
  ownFirst,
  WORK_ORDER_STATES,
  type WorkOrderDetail,
  type WorkOrderList,
  type WorkOrderRecord,
  visitDay,
  workOrderAction,
  workOrderState,
} from '../work-orders.ts';
import { WorkOrderActions } from '../components/work-order-actions.tsx';
import type { AreaView, Me } from '../../../api/index.ts';
import { FilterSelect } from '../components/filter-select.tsx';

const LIVE_RELOAD_MS = 1_000;
const canAct = (me: Me) => me.permissions.includes('site.command');

/** A state's colour, borrowed from the site conditions': nothing done yet is the fault's, over is operational's. */
const STATE_COLOUR: Record<WorkOrderRecord['state'], string> = {
  open: 'faulty',
  assigned: 'degraded',
  visit_planned: 'degraded',
  resolved: 'unverified',
  closed: 'operational',
  cancelled: 'offline',
};

export function WorkOrderStatePill({ state }: { state: WorkOrderRecord['state'] }) {
  return (
    <span class={`pill ${STATE_COLOUR[state]}`} data-testid="wo-state" data-state={state}>
      {workOrderState(state)}
    </span>
  );
}

/** One order as a line of a list (a card on a phone). */
export function WorkOrderItem({ order: o, me, showSite = true }: { order: WorkOrderRecord; me: Me; showSite?: boolean }) {
  const mine = o.assignee?.username === me.username;
  return (
    <li class={`alarm-item wo-item${mine && isActive(o.state) ? ' mine' : ''}`} data-order={o.id} data-state={o.state} data-mine={mine ? 'yes' : 'no'}>
      <div class="alarm-head">
        <WorkOrderStatePill state={o.state} /> <a href={`/work-orders/${o.id}`}>{t('woNumber', { id: o.id })}</a>
        {' · '}
        {o.faultKind ? alarmCode('kind', o.faultKind) : t('woPlanned')}
        {showSite && (
          <>
            {' · '}
            <a href={`/sites/${encodeURIComponent(o.siteId)}`}>{o.siteName ?? o.siteId}</a>
          </>
        )}
      </div>
      <div class="muted">
        {t('woAssignee')}: <span data-testid="wo-assignee">{o.assignee?.username ?? t('woUnassigned')}</span>
        {o.visitPlannedFor !== null ? ` · ${t('woVisitOn', { day: visitDay(o.visitPlannedFor) })}` : ''} · {formatTime(o.updatedAt)}
      </div>
      {o.awaitingVerification && (
        <div class="muted" data-testid="wo-awaiting">
          {t('woAwaiting')}
        </div>
      )}
    </li>
  );
}

interface Filters {
  state: string;
  /** '' anyone, 'me', or a user id. */
  assignee: string;
  commune: string;
}

function readFilters(q: URLSearchParams): Filters {
  return { state: q.get('state') ?? 'active', assignee: q.get('assignee') ?? '', commune: q.get('commune') ?? '' };
}

export function WorkOrdersPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const [f, setF] = useState<Filters>(() => readFilters(query));
  const url = `/api/work-orders${qs({
    state: f.state,
    area: f.commune,
    mine: f.assignee === 'me' ? true : undefined,
    assignee: f.assignee !== '' && f.assignee !== 'me' ? f.assignee : undefined,
    limit: 500,
  })}`;
  const list = useApi<WorkOrderList>(url);
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const reload = useThrottled(list.reload, LIVE_RELOAD_MS);
  useEffect(() => onLive('work_order', () => reload()), [reload]);
  useEffect(() => onLive('status', (on) => on && list.reload()), [list.reload]);
  // The people orders are assigned to, as the lists showed them (the users list is an admin's).
  const [people, setPeople] = useState<Map<number, string>>(new Map());
  useEffect(() => {
    const seen = (list.data?.orders ?? []).flatMap((o) => (o.assignee && o.assignee.username !== me.username ? [o.assignee] : []));
    if (seen.some((a) => !people.has(a.userId))) setPeople(new Map([...people, ...seen.map((a): [number, string] => [a.userId, a.username])]));
  }, [list.data]);

  const set = (patch: Partial<Filters>) => {
    const next = { ...f, ...patch };
    setF(next);
    history.replaceState(null, '', `/work-orders${qs({ ...next, state: next.state === 'active' ? '' : next.state })}`);
  };
  const orders = [...(list.data?.orders ?? [])].sort(ownFirst(me.username));
  const select = (name: keyof Filters, label: string, options: Array<[string, string]>) => (
    <FilterSelect name={name} label={label} value={f[name]} options={options} onChange={(v) => set({ [name]: v } as Partial<Filters>)} />
  );
  return (
    <section class="work-orders">
      <h1 data-testid="wo-title">{t('woTitle', { area: me.areaName ?? t('whole') })}</h1>
      {canAct(me) && (
        <p data-testid="wo-queue">
          <strong>{t('woMine')}</strong> <span class="muted">{t('woMineHint')}</span>
        </p>
      )}
      <details class="filters" open={window.matchMedia?.('(min-width: 701px)').matches ?? true}>
        <summary>{t('filter')}</summary>
        <div class="row">
          {select('state', t('alarmsState'), [['active', t('woStateActive')], ...WORK_ORDER_STATES.map((s): [string, string] => [s, workOrderState(s)]), ['', t('alarmsAny')]])}
          {select('assignee', t('woAssignee'), [['', t('woAnyone')], ['me', t('woMe')], ...[...people].map(([id, name]): [string, string] => [String(id), name])])}
          {select('commune', t('commune'), [['', t('alarmsAllCommunes')], ...(communes.data?.areas ?? []).map((a): [string, string] => [a.key, a.name])])}
        </div>
      </details>
      {list.error && <p class="error">{list.error}</p>}
      {list.data && (
        <p class="muted" data-testid="wo-total">
          {t('woTotal', { n: list.data.total })}
        </p>
      )}
      {list.data && orders.length === 0 && <p class="muted">{t('woNone')}</p>}
      <ul class="alarm-list" data-testid="work-orders">
        {orders.map((o) => (
          <WorkOrderItem key={o.id} order={o} me={me} />
        ))}
      </ul>
    </section>
  );
}

export function WorkOrderPage({ me, id }: { me: Me; id: number }) {
  const d = useApi<WorkOrderDetail>(`/api/work-orders/${id}`);
  useEffect(() => onLive('work_order', (e) => e.orderId === id && d.reload()), [id, d.reload]);
  // A resolved order closes when the site is heard: its condition events say when to look again.
  useEffect(() => onLive('condition', (e) => e.siteId === d.data?.order.siteId && d.reload()), [d.data?.order.siteId, d.reload]);
  const back = (
    <p>
      <a href="/work-orders">{t('woBack')}</a>
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
  const { order: o, events } = d.data;
  return (
    <section class="work-order-page" data-order={o.id} data-state={o.state}>
      {back}
      <h1>
        {t('woNumber', { id: o.id })} <WorkOrderStatePill state={o.state} />
      </h1>
      <p>
        <a href={`/sites/${encodeURIComponent(o.siteId)}`}>{o.siteName ?? o.siteId}</a> · {t('woFault')}: {o.faultKind ? alarmCode('kind', o.faultKind) : t('woPlanned')}
        {o.alarmId && (
          <>
            {' · '}
            <a href={`/alarms/${encodeURIComponent(o.alarmId)}`} data-testid="wo-alarm">
              {t('alarms')} {o.alarmId}
            </a>
          </>
        )}
      </p>
      <p class="muted">{t('woCreatedBy', { by: o.createdBy, at: formatTime(o.createdAt) })}</p>
      <p>
        {t('woAssignee')}: <strong data-testid="wo-assignee">{o.assignee?.username ?? t('woUnassigned')}</strong>
        {o.visitPlannedFor !== null && <span data-testid="wo-visit"> · {t('woVisitOn', { day: visitDay(o.visitPlannedFor) })}</span>}
      </p>
      <h2>{t('woParts')}</h2>
      {o.parts.length === 0 ? (
        <p class="muted">{t('woNoParts')}</p>
      ) : (
        <ul data-testid="wo-parts">
          {o.parts.map((p) => (
            <li>
              {p.part} × {p.quantity}
            </li>
          ))}
        </ul>
      )}
      {o.notes && (
        <p data-testid="wo-notes">
          {t('woNotes')}: {o.notes}
        </p>
      )}
      {o.resolution && (
        <p data-testid="wo-resolution">
          {t('woResolvedBy', { by: o.resolvedBy ?? '', at: formatTime(o.resolvedAt) })} — “{o.resolution}”
        </p>
      )}
      {o.awaitingVerification && (
        <p class="card" data-testid="wo-awaiting">
          {t('woAwaiting')}
        </p>
      )}
      {o.closedAt !== null && <p data-testid="wo-closed">{t('woClosedAt', { at: formatTime(o.closedAt) })}</p>}
      {o.cancelledAt !== null && <p data-testid="wo-cancelled">{t('woCancelledAt', { at: formatTime(o.cancelledAt) })}</p>}
      {canAct(me) && isActive(o.state) && <WorkOrderActions order={o} done={d.reload} />}
      <h2>{t('woHistory')}</h2>
      <ul data-testid="wo-history">
        {events.map((e) => (
          <li data-action={e.action}>
            <span class="muted">{formatTime(e.at)}</span> {e.by === 'verification' ? t('woVerification') : e.by}: {workOrderAction(e.action)} → {workOrderState(e.to)}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The alarm page's part: its work order (opened or made from here) and those before it. */
export function AlarmWorkOrder({ me, alarmId, alarmOpen }: { me: Me; alarmId: string; alarmOpen: boolean }) {
  const list = useApi<WorkOrderList>(`/api/work-orders${qs({ alarm: alarmId, limit: 20 })}`);
  useEffect(() => onLive('work_order', (e) => e.alarmId === alarmId && list.reload()), [alarmId, list.reload]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const orders = list.data?.orders ?? [];
  const active = orders.find((o) => isActive(o.state));
  const create = () => {
    setBusy(true);
    api<WorkOrderRecord>('POST', '/api/work-orders', { alarmId }).then(
      (o) => navigate(`/work-orders/${o.id}`),
      (e: Error) => {
        setBusy(false);
        setError(errorText(e));
        list.reload();
      },
    );
  };
  return (
    <div class="card" data-testid="alarm-work-order">
      <h2>{t('woOfAlarm')}</h2>
      {list.error && <p class="error">{list.error}</p>}
      {active ? (
        <p>
          <a class="button" href={`/work-orders/${active.id}`} data-testid="wo-open">
            {t('woOpenExisting', { id: active.id })}
          </a>{' '}
          <WorkOrderStatePill state={active.state} /> · {t('woAssignee')}: {active.assignee?.username ?? t('woUnassigned')}
          {active.awaitingVerification && <span class="muted"> · {t('woAwaiting')}</span>}
        </p>
      ) : (
        list.data && <p class="muted">{t('woNoOrder')}</p>
      )}
      {!active && list.data && canAct(me) && alarmOpen && (
        <p>
          <button type="button" data-testid="wo-create" disabled={busy} onClick={create}>
            {t('woCreate')}
          </button>
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {orders.filter((o) => o !== active).length > 0 && (
        <ul class="alarm-list">
          {orders
            .filter((o) => o !== active)
            .map((o) => (
              <WorkOrderItem key={o.id} order={o} me={me} showSite={false} />
            ))}
        </ul>
      )}
    </div>
  );
}

/** The site page's part: the site's work orders, open ones first. */
export function SiteWorkOrders({ me, siteId }: { me: Me; siteId: string }) {
  const list = useApi<WorkOrderList>(`/api/work-orders${qs({ site: siteId, limit: 50 })}`);
  useEffect(() => onLive('work_order', (e) => e.siteId === siteId && list.reload()), [siteId, list.reload]);
  const orders = [...(list.data?.orders ?? [])].sort(ownFirst(me.username));
  return (
    <div data-testid="site-work-orders">
      <h2>{t('woSiteOrders')}</h2>
      {list.error && <p class="error">{list.error}</p>}
      {list.data && orders.length === 0 && <p class="muted">{t('woNone')}</p>}
      <ul class="alarm-list">
        {orders.map((o) => (
          <WorkOrderItem key={o.id} order={o} me={me} showSite={false} />
        ))}
      </ul>
    </div>
  );
}
