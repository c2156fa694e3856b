/**
 * The maintenance log's tables (migration 30: work_orders, work_order_events)
 * on the async Kysely store, SQLite or PostgreSQL.
 *
 * Every change is a conditional UPDATE on the state (and updated_at) the
 * change was decided from, with its audit row, in one transaction: two
 * people (or two servers) acting on one order at once cannot both win, and
 * the automatic close (WHERE state = 'resolved') happens once however many
 * servers hear the verification — the loser's update matches no row and
 * writes no audit row.
 *
 * Every stored change also goes, in its transaction, to the feed the other
 * servers read to tell their consoles (migration 35: work_order_feed), under
 * the next number of the 'work_orders' counter row (change_feeds). Raising
 * that row locks it until the commit, so changes commit in the order of their
 * numbers (as registry_changes' counter, server/registry/changes.ts): a
 * reader that has seen number n has seen every change below it. Each change
 * names the store that wrote it (`writer`): its own server told its consoles
 * already. The counter is raised last, so writers queue for it only for the
 * end of their transactions.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AlarmKind } from '../alarms/model.ts';
import type { Database } from '../store/schema.ts';
import type { PartUsed, WorkOrder, WorkOrderChange, WorkOrderEvent, WorkOrderSource, WorkOrderState } from './model.ts';

type OrderRow = Selectable<Database['work_orders']>;

function orderOf(r: OrderRow): WorkOrder {
  return {
    id: Number(r.id),
    source: r.source as WorkOrderSource,
    alarmId: r.alarm_id,
    faultKind: r.fault_kind as AlarmKind | null,
    siteId: r.site_id,
    areaId: Number(r.area_id),
    state: r.state,
    assignee: r.assignee_id === null ? null : { userId: Number(r.assignee_id), username: r.assignee ?? '' },
    visitPlannedFor: r.visit_planned_for,
    parts: JSON.parse(r.parts) as PartUsed[],
    notes: r.notes,
    resolution: r.resolution,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    verifiedAt: r.verified_at,
    closedAt: r.closed_at,
    cancelledAt: r.cancelled_at,
  };
}

/** The columns a change writes (everything but id and what never changes). */
function changedColumns(o: NewWorkOrder) {
  return {
    state: o.state,
    assignee_id: o.assignee?.userId ?? null,
    assignee: o.assignee?.username ?? null,
    visit_planned_for: o.visitPlannedFor,
    parts: JSON.stringify(o.parts),
    notes: o.notes,
    resolution: o.resolution,
    updated_at: o.updatedAt,
    resolved_at: o.resolvedAt,
    resolved_by: o.resolvedBy,
    verified_at: o.verifiedAt,
    closed_at: o.closedAt,
    cancelled_at: o.cancelledAt,
  };
}

const eventRow = (e: WorkOrderEvent, orderId: number) => ({
  order_id: orderId,
  at: e.at,
  by_user: e.by,
  action: e.action,
  from_state: e.from,
  to_state: e.to,
  detail: JSON.stringify(e.detail),
});

/** A new order: everything but its id (the store gives it). */
export type NewWorkOrder = Omit<WorkOrder, 'id'>;

export interface WorkOrderQuery {
  /** The areas the orders' sites stand in (a subtree's ids); undefined = everywhere. */
  areaIds?: readonly number[];
  states?: readonly WorkOrderState[];
  siteId?: string;
  alarmId?: string;
  assigneeId?: number;
  limit: number;
  offset: number;
}

/** A unique violation, in either dialect's words (SQLite's message, PostgreSQL's SQLSTATE 23505). */
function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || /UNIQUE constraint failed/i.test(e?.message ?? '');
}

/** A change read from the feed: its number, and whether this store wrote it. */
export interface FedChange extends WorkOrderChange {
  seq: number;
  mine: boolean;
}

export class WorkOrderStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** This store among the servers' on one database (the feed's `writer`). */
    readonly writer: string = randomBytes(8).toString('hex'),
  ) {}

  /**
   * Stores a new order and its 'create' audit row. Undefined when the alarm
   * already has an active order (the partial unique index refused it, so two
   * people turning one alarm into an order at once make one).
   */
  async create(o: NewWorkOrder, by: string): Promise<WorkOrder | undefined> {
    return (await this.createChange(o, by))?.order;
  }

  /** create(), answering the change as stored (and fed to the other servers). */
  async createChange(o: NewWorkOrder, by: string): Promise<WorkOrderChange | undefined> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto('work_orders')
          .values({
            source: o.source,
            alarm_id: o.alarmId,
            fault_kind: o.faultKind,
            site_id: o.siteId,
            area_id: o.areaId,
            created_at: o.createdAt,
            created_by: o.createdBy,
            ...changedColumns(o),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const order = orderOf(r);
        const detail = { source: o.source, alarmId: o.alarmId, siteId: o.siteId, ...(o.notes ? { notes: o.notes } : {}) };
        const event: WorkOrderEvent = { orderId: order.id, at: o.createdAt, by, action: 'create', from: null, to: o.state, detail };
        await trx.insertInto('work_order_events').values(eventRow(event, order.id)).execute();
        await this.feed(trx, { order, event });
        return { order, event };
      });
    } catch (err) {
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
  }

  async get(id: number): Promise<WorkOrder | undefined> {
    const r = await this.db.selectFrom('work_orders').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? orderOf(r) : undefined;
  }

  /**
   * Writes `next` if the stored order is still as `prev` left it (same state,
   * same updated_at), with its audit row. False when somebody else changed
   * it first (nothing written).
   */
  async change(prev: WorkOrder, next: WorkOrder, event: WorkOrderEvent): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('work_orders')
        .set(changedColumns(next))
        .where('id', '=', prev.id)
        .where('state', '=', prev.state)
        .where('updated_at', '=', prev.updatedAt)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await trx.insertInto('work_order_events').values(eventRow(event, prev.id)).execute();
      await this.feed(trx, { order: next, event });
      return true;
    });
  }

  /** The newest change's number: a reader starting now reads what comes after it. */
  async feedHead(): Promise<number> {
    const r = await this.db.selectFrom('change_feeds').select('seq').where('name', '=', 'work_orders').executeTakeFirstOrThrow();
    return Number(r.seq);
  }

  /** Up to `limit` changes numbered after `seq`, in order. */
  async feedAfter(seq: number, limit: number): Promise<FedChange[]> {
    const rows = await this.db.selectFrom('work_order_feed').selectAll().where('seq', '>', seq).orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), mine: r.writer === this.writer, ...(JSON.parse(r.change) as WorkOrderChange) }));
  }

  /** Deletes all but the newest `keep` changes of the feed; resolves to how many went. */
  async trimFeed(keep: number): Promise<number> {
    const head = await this.feedHead();
    const r = await this.db
      .deleteFrom('work_order_feed')
      .where('seq', '<=', head - keep)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** The change to the feed under the counter's next number (see the header: last in its transaction). */
  private async feed(trx: Transaction<Database>, change: WorkOrderChange): Promise<void> {
    const n = await trx
      .updateTable('change_feeds')
      .set((eb) => ({ seq: eb('seq', '+', 1) }))
      .where('name', '=', 'work_orders')
      .returning('seq')
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('work_order_feed')
      .values({ seq: Number(n.seq), writer: this.writer, change: JSON.stringify(change) })
      .execute();
  }

  /** Orders matching `q`, newest first, a page of them and how many match in all. */
  async list(q: WorkOrderQuery): Promise<{ orders: WorkOrder[]; total: number }> {
    let base = this.db.selectFrom('work_orders');
    if (q.areaIds) {
      if (q.areaIds.length === 0) return { orders: [], total: 0 };
      base = base.where('area_id', 'in', [...q.areaIds]);
    }
    if (q.states?.length) base = base.where('state', 'in', [...q.states]);
    if (q.siteId !== undefined) base = base.where('site_id', '=', q.siteId);
    if (q.alarmId !== undefined) base = base.where('alarm_id', '=', q.alarmId);
    if (q.assigneeId !== undefined) base = base.where('assignee_id', '=', q.assigneeId);
    const total = await base.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    const rows = await base.selectAll().orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute();
    return { orders: rows.map(orderOf), total: Number(total?.n ?? 0) };
  }

  /** The orders a site's verification may close. */
  async resolvedOf(siteId?: string): Promise<WorkOrder[]> {
    let q = this.db.selectFrom('work_orders').selectAll().where('state', '=', 'resolved');
    if (siteId !== undefined) q = q.where('site_id', '=', siteId);
    return (await q.orderBy('id').execute()).map(orderOf);
  }

  /** Orders made from alarms, for the repair times: those of the given alarms. */
  async ofAlarms(alarmIds: readonly string[]): Promise<WorkOrder[]> {
    const out: WorkOrder[] = [];
    // In slices: a year of a province's alarms would pass PostgreSQL's and SQLite's bound-parameter limits at once.
    for (let i = 0; i < alarmIds.length; i += 1000) {
      const rows = await this.db
        .selectFrom('work_orders')
        .selectAll()
        .where('alarm_id', 'in', alarmIds.slice(i, i + 1000))
        .execute();
      out.push(...rows.map(orderOf));
    }
    return out;
  }

  /** The audit trail of one order, oldest first. */
  async events(orderId: number): Promise<WorkOrderEvent[]> {
    const rows = await this.db.selectFrom('work_order_events').selectAll().where('order_id', '=', orderId).orderBy('id').execute();
    return rows.map((r) => ({
      orderId: Number(r.order_id),
      at: r.at,
      by: r.by_user,
      action: r.action as WorkOrderEvent['action'],
      from: r.from_state as WorkOrderState | null,
      to: r.to_state as WorkOrderState,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }
}
