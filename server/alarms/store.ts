/**
 * The alarms' tables (migration 24: alarms, alarm_history, incidents) on the
 * async Kysely store, SQLite or PostgreSQL: the engine's effects written in
 * one transaction per batch, and the engine's state read back at start.
 *
 * What is kept: every alarm that was shown (raised, then acknowledged,
 * cleared: the row is updated in place, its history appended), pending ones
 * too (a restart keeps counting their delay) until they are shown or
 * dropped (a dropped alarm was never shown: its row goes, it has no
 * history); every incident, open or resolved. Reading back takes only the
 * open ones, and the highest id number used, so ids are never reused.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { type AlarmEffect, type AlarmEngineState, restoreAlarmState } from './alarm-engine.ts';
import type { Incident, IncidentKind, IncidentMember } from './incidents.ts';
import type { Alarm, AlarmHistoryEvent, AlarmKind, AlarmReason, AlarmSeverity, AlarmState, ClearCause } from './model.ts';
import type { SiteKind } from '../registry/model.ts';
import { inBatches } from '../store/batches.ts';

type AlarmRow = Database['alarms'];
type IncidentRow = Database['incidents'];

/** The number in an engine id (`al-12`, `in-3`). */
const numberOf = (id: string): number => {
  const n = Number(id.slice(id.indexOf('-') + 1));
  if (!Number.isSafeInteger(n)) throw new Error(`alarm store: an id without a number: ${id}`);
  return n;
};

function alarmRow(a: Alarm): AlarmRow {
  return {
    id: a.id,
    n: numberOf(a.id),
    key: a.key,
    site_id: a.siteId,
    site_kind: a.siteKind,
    area_id: a.areaId,
    kind: a.kind,
    severity: a.severity,
    reasons: JSON.stringify(a.reasons),
    state: a.state,
    detected_at: a.detectedAt,
    raised_at: a.raisedAt,
    updated_at: a.updatedAt,
    count: a.count,
    active: a.active ? 1 : 0,
    inactive_since: a.inactiveSince,
    ack_at: a.acknowledged?.at ?? null,
    ack_by: a.acknowledged?.by ?? null,
    ack_note: a.acknowledged?.note ?? null,
    cleared_at: a.cleared?.at ?? null,
    clear_cause: a.cleared?.cause ?? null,
    cleared_by: a.cleared?.by ?? null,
    clear_note: a.cleared?.note ?? null,
    incident_id: a.incidentId,
  };
}

function alarmOf(r: AlarmRow): Alarm {
  return {
    id: r.id,
    key: r.key,
    siteId: r.site_id,
    siteKind: r.site_kind as SiteKind,
    areaId: r.area_id,
    kind: r.kind as AlarmKind,
    severity: r.severity as AlarmSeverity,
    reasons: JSON.parse(r.reasons) as AlarmReason[],
    state: r.state as AlarmState,
    detectedAt: r.detected_at,
    raisedAt: r.raised_at,
    updatedAt: r.updated_at,
    count: r.count,
    active: r.active === 1,
    inactiveSince: r.inactive_since,
    acknowledged: r.ack_at === null ? null : { at: r.ack_at, by: r.ack_by ?? '', note: r.ack_note },
    cleared: r.cleared_at === null ? null : { at: r.cleared_at, cause: r.clear_cause as ClearCause, by: r.cleared_by, note: r.clear_note },
    incidentId: r.incident_id,
  };
}

function incidentRow(i: Incident): IncidentRow {
  return {
    id: i.id,
    n: numberOf(i.id),
    kind: i.kind,
    alarm_kind: i.alarmKind,
    area_id: i.areaId,
    root_alarm_id: i.rootAlarmId,
    state: i.state,
    severity: i.severity,
    opened_at: i.openedAt,
    last_joined_at: i.lastJoinedAt,
    resolved_at: i.resolvedAt,
    members: JSON.stringify(i.members),
    counts: JSON.stringify(i.counts),
  };
}

function incidentOf(r: IncidentRow): Incident {
  return {
    id: r.id,
    kind: r.kind as IncidentKind,
    alarmKind: r.alarm_kind as AlarmKind,
    areaId: r.area_id,
    rootAlarmId: r.root_alarm_id,
    state: r.state as Incident['state'],
    openedAt: r.opened_at,
    lastJoinedAt: r.last_joined_at,
    resolvedAt: r.resolved_at,
    severity: r.severity as AlarmSeverity,
    members: JSON.parse(r.members) as IncidentMember[],
    counts: JSON.parse(r.counts) as Incident['counts'],
  };
}

/** A history row's fields beyond the common ones, as JSON. */
function historyDetail(e: AlarmHistoryEvent): string {
  const { alarmId: _a, at: _t, count: _c, type: _y, ...rest } = e;
  return JSON.stringify(rest);
}

/** What a list of alarms asks for; every field narrows it. */
export interface AlarmQuery {
  /** The areas the alarms stand in (a subtree's ids); undefined = everywhere. */
  areaIds?: readonly number[];
  severities?: readonly AlarmSeverity[];
  states?: readonly AlarmState[];
  kinds?: readonly AlarmKind[];
  siteId?: string;
  /** Raised at or after `from`, before `to` (epoch ms). */
  from?: number;
  to?: number;
  limit: number;
  offset: number;
}

/** A person's words on an alarm. */
export interface AlarmComment {
  alarmId: string;
  at: number;
  by: string;
  note: string;
}

/** A person's action asked on a server that does not run the alarms (migration 29). */
export interface AlarmActionRequest {
  alarmId: string;
  type: 'acknowledge' | 'clear';
  at: number;
  by: string;
  note: string | null;
}

export class AlarmStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Write a step's effects (or several steps', in order) in one transaction. `notification_due` is not stored: the notification rules own it. */
  async apply(effects: readonly AlarmEffect[]): Promise<void> {
    const w = storeWrites(effects);
    if (w.alarms.length + w.dropped.length + w.incidents.length + w.history.length === 0) return;
    await this.db.transaction().execute((trx) => write(trx, w));
  }

  /** The history of one alarm, oldest first. */
  async history(alarmId: string): Promise<AlarmHistoryEvent[]> {
    const rows = await this.db.selectFrom('alarm_history').selectAll().where('alarm_id', '=', alarmId).orderBy('id').execute();
    return rows.map((r) => ({ ...(JSON.parse(r.detail) as object), type: r.type, alarmId: r.alarm_id, at: r.at, count: r.count }) as AlarmHistoryEvent);
  }

  /** One alarm by id, open or not. */
  async alarm(id: string): Promise<Alarm | undefined> {
    const r = await this.db.selectFrom('alarms').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? alarmOf(r) : undefined;
  }

  /** One incident by id, open or resolved. */
  async incident(id: string): Promise<Incident | undefined> {
    const r = await this.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? incidentOf(r) : undefined;
  }

  /**
   * Alarms matching `q`, the most recently raised first (then the newest
   * detected), a page of them and how many match in all. Pending alarms are
   * never listed: they are not shown (flap-damping.ts).
   */
  async list(q: AlarmQuery): Promise<{ alarms: Alarm[]; total: number }> {
    let base = this.db.selectFrom('alarms').where('state', '<>', 'pending');
    if (q.areaIds) {
      if (q.areaIds.length === 0) return { alarms: [], total: 0 };
      base = base.where('area_id', 'in', [...q.areaIds]);
    }
    if (q.severities?.length) base = base.where('severity', 'in', q.severities);
    if (q.states?.length) base = base.where('state', 'in', q.states);
    if (q.kinds?.length) base = base.where('kind', 'in', q.kinds);
    if (q.siteId !== undefined) base = base.where('site_id', '=', q.siteId);
    if (q.from !== undefined) base = base.where('raised_at', '>=', q.from);
    if (q.to !== undefined) base = base.where('raised_at', '<', q.to);
    const total = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const rows = await base.selectAll().orderBy('raised_at', 'desc').orderBy('n', 'desc').limit(q.limit).offset(q.offset).execute();
    return { alarms: rows.map(alarmOf), total: Number(total?.n ?? 0) };
  }

  /** A person's comment on an alarm (open or cleared); the alarm must be stored. */
  async comment(c: AlarmComment): Promise<void> {
    await this.db.insertInto('alarm_comments').values({ alarm_id: c.alarmId, at: c.at, by_user: c.by, note: c.note }).execute();
  }

  /** An alarm's comments, oldest first. */
  async comments(alarmId: string): Promise<AlarmComment[]> {
    const rows = await this.db.selectFrom('alarm_comments').selectAll().where('alarm_id', '=', alarmId).orderBy('id').execute();
    return rows.map((r) => ({ alarmId: r.alarm_id, at: r.at, by: r.by_user, note: r.note }));
  }

  /** A person's acknowledge or clear for the server that runs the alarms (another one: service.ts viaHolder); its id. */
  async requestAction(a: AlarmActionRequest): Promise<number> {
    const r = await this.db
      .insertInto('alarm_actions')
      .values({ alarm_id: a.alarmId, type: a.type, at: a.at, by_user: a.by, note: a.note, result: null, decided_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(r.id);
  }

  /** The actions no server decided yet, oldest first. */
  async pendingActions(): Promise<Array<AlarmActionRequest & { id: number }>> {
    const rows = await this.db.selectFrom('alarm_actions').selectAll().where('result', 'is', null).orderBy('id').execute();
    return rows.map((r) => ({ id: Number(r.id), alarmId: r.alarm_id, type: r.type, at: r.at, by: r.by_user, note: r.note }));
  }

  /** The holder's answer to an action ('ok' or a refusal's code); only once (a second decision of the same row changes nothing). */
  async decideAction(id: number, result: string, at: number): Promise<void> {
    await this.db.updateTable('alarm_actions').set({ result, decided_at: at }).where('id', '=', id).where('result', 'is', null).execute();
  }

  /** The answer to an action, undefined while undecided (or gone). */
  async actionResult(id: number): Promise<string | undefined> {
    const r = await this.db.selectFrom('alarm_actions').select('result').where('id', '=', id).executeTakeFirst();
    return r?.result ?? undefined;
  }

  /** The asking server read its answer; decided actions older than `before` (their asker died) go too. */
  async forgetActions(ids: readonly number[], before: number): Promise<void> {
    if (ids.length > 0)
      await this.db
        .deleteFrom('alarm_actions')
        .where('id', 'in', [...ids])
        .execute();
    await this.db.deleteFrom('alarm_actions').where('decided_at', '<', before).execute();
  }

  /** The open alarms and incidents and the highest id number used: what the engine restarts from. */
  async load(): Promise<{ open: Alarm[]; incidents: Incident[]; seq: number }> {
    const open = await this.db.selectFrom('alarms').selectAll().where('state', '<>', 'cleared').orderBy('n').execute();
    const incidents = await this.db.selectFrom('incidents').selectAll().where('state', '=', 'open').orderBy('n').execute();
    const a = await this.db
      .selectFrom('alarms')
      .select((eb) => eb.fn.max('n').as('n'))
      .executeTakeFirst();
    const i = await this.db
      .selectFrom('incidents')
      .select((eb) => eb.fn.max('n').as('n'))
      .executeTakeFirst();
    const seq = Math.max(Number(a?.n ?? 0), Number(i?.n ?? 0));
    return { open: open.map(alarmOf), incidents: incidents.map(incidentOf), seq };
  }
}

/** The engine's state after a restart, from the store: hand it to `new AlarmEngine(ctx, state)`, then feed every site's verdict once. */
export async function restoreAlarmStateFrom(store: AlarmStore): Promise<AlarmEngineState> {
  const { open, incidents, seq } = await store.load();
  return restoreAlarmState(open, incidents, seq);
}

/** What one batch writes: each alarm and incident once, in its last state; the dropped alarms; every history row, in order. */
export interface StoreWrites {
  alarms: Alarm[];
  dropped: string[];
  incidents: Incident[];
  history: AlarmHistoryEvent[];
}

/**
 * A batch's effects as rows. A transaction shows only its end, so an alarm
 * or incident changed several times in the batch is written once, as it
 * ended (a broker restart's burst puts each commune's incident in hundreds
 * of effects, each with every child so far: writing each was quadratic).
 * An alarm whose last effect is a drop is deleted (a pending one never
 * shown: it has no history). `notification_due` is not stored here.
 */
export function storeWrites(effects: readonly AlarmEffect[]): StoreWrites {
  const alarms = new Map<string, Alarm | null>();
  const incidents = new Map<string, Incident>();
  const history: AlarmHistoryEvent[] = [];
  for (const e of effects) {
    switch (e.type) {
      case 'alarm_pending':
      case 'alarm_raised':
      case 'alarm_updated':
      case 'alarm_cleared':
        alarms.delete(e.alarm.id);
        alarms.set(e.alarm.id, e.alarm);
        break;
      case 'alarm_dropped':
        alarms.delete(e.alarm.id);
        alarms.set(e.alarm.id, null);
        break;
      case 'history':
        history.push(e.event);
        break;
      case 'incident_opened':
      case 'incident_updated':
      case 'incident_resolved':
        incidents.set(e.incident.id, e.incident);
        break;
      case 'notification_due':
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown alarm effect ${(never as { type: string }).type}`);
      }
    }
  }
  const out: StoreWrites = { alarms: [], dropped: [], incidents: [...incidents.values()], history };
  for (const [id, a] of alarms) {
    if (a) out.alarms.push(a);
    else out.dropped.push(id);
  }
  return out;
}

/** Rows per statement: 24 columns × 400 stays well under SQLite's 32,766 bound parameters (PostgreSQL's 65,535). */
const ROWS_PER_STATEMENT = 400;

const chunks = <T>(xs: readonly T[]): T[][] => inBatches(xs, ROWS_PER_STATEMENT);

/** Alarms first (history rows reference them), then the dropped, incidents, history: multi-row statements, upserts taking the new row's values. */
async function write(trx: Transaction<Database>, w: StoreWrites): Promise<void> {
  for (const part of chunks(w.alarms)) {
    await trx
      .insertInto('alarms')
      .values(part.map(alarmRow))
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => excludedOf(eb, ALARM_COLUMNS)))
      .execute();
  }
  for (const part of chunks(w.dropped)) await trx.deleteFrom('alarms').where('id', 'in', part).execute();
  for (const part of chunks(w.incidents)) {
    await trx
      .insertInto('incidents')
      .values(part.map(incidentRow))
      .onConflict((oc) => oc.column('id').doUpdateSet((eb) => excludedOf(eb, INCIDENT_COLUMNS)))
      .execute();
  }
  for (const part of chunks(w.history)) {
    await trx
      .insertInto('alarm_history')
      .values(part.map((e) => ({ alarm_id: e.alarmId, at: e.at, type: e.type, count: e.count, detail: historyDetail(e) })))
      .execute();
  }
}

const ALARM_COLUMNS = Object.keys(alarmRow(sampleAlarm())).filter((c) => c !== 'id') as Array<Exclude<keyof AlarmRow, 'id'>>;
const INCIDENT_COLUMNS = Object.keys(incidentRowSample()).filter((c) => c !== 'id') as Array<Exclude<keyof IncidentRow, 'id'>>;

/**
 * `SET col = excluded.col` for every column: the row being inserted wins.
 * Built from the column list (taken from alarmRow/incidentRow, so it cannot
 * miss a column); Kysely cannot type a SET built by name, hence the cast.
 */
function excludedOf<C extends string>(eb: { ref(r: string): unknown }, columns: readonly C[]): Record<C, never> {
  return Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}`)])) as Record<C, never>;
}

function sampleAlarm(): Alarm {
  return {
    id: 'al-0',
    key: '',
    siteId: '',
    siteKind: 'cluster',
    areaId: 0,
    kind: 'site_offline',
    severity: 'major',
    reasons: [],
    state: 'pending',
    detectedAt: 0,
    raisedAt: null,
    updatedAt: 0,
    count: 1,
    active: true,
    inactiveSince: null,
    acknowledged: null,
    cleared: null,
    incidentId: null,
  };
}

function incidentRowSample(): IncidentRow {
  return incidentRow({
    id: 'in-0',
    kind: 'cut',
    alarmKind: 'site_offline',
    areaId: 0,
    rootAlarmId: null,
    state: 'open',
    openedAt: 0,
    lastJoinedAt: 0,
    resolvedAt: null,
    severity: 'major',
    members: [],
    counts: { members: 0, active: 0, stations: 0, clusters: 0 },
  });
}
