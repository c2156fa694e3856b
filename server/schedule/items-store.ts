/**
 * Broadcast items in the store (tables broadcast_items and
 * broadcast_item_areas, migration 4; their language versions in
 * broadcast_item_versions, migration 32), on SQLite or PostgreSQL through Kysely.
 * Only storage: validation, approval rules and conflict checks live in
 * service.ts; the pure core (model.ts, resolve.ts, …) reads the
 * `BroadcastItem` view of a row.
 */
import { type ExpressionBuilder, type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type { BroadcastItemsTable, Database } from '../store/schema.ts';
import type { BroadcastItem, ItemStart, ItemStatus, ItemVersion } from './model.ts';
import { longestDurationMs } from './language-plan.ts';

/** A broadcast item as stored: the core's item plus who did what, when. */
export interface ScheduledItem extends BroadcastItem {
  note: string | null;
  createdById: number | null;
  createdAt: number;
  updatedBy: string;
  updatedById: number | null;
  updatedAt: number;
  approvedById: number | null;
  approvedAt: number | null;
  cancelledBy: string | null;
  cancelledById: number | null;
  cancelledAt: number | null;
  cancelReason: string | null;
}

type Row = Selectable<BroadcastItemsTable>;

function toItem(r: Row, versions: ReadonlyMap<string, ItemVersion[]>): ScheduledItem {
  const start: ItemStart =
    r.start_at !== null
      ? { at: r.start_at }
      : {
          dtstart: r.dtstart ?? '',
          rrule: r.rrule ?? '',
          ...(r.exdates ? { exdates: JSON.parse(r.exdates) as string[] } : {}),
          ...(r.zone ? { zone: r.zone } : {}),
        };
  return {
    id: r.id,
    mediaId: r.media_id,
    durationMs: r.duration_ms,
    ...(r.language !== null ? { language: r.language } : {}),
    ...(versions.has(r.id) ? { versions: versions.get(r.id)! } : {}),
    title: r.title,
    targets: { areaKeys: JSON.parse(r.target_areas) as string[], siteIds: JSON.parse(r.target_sites) as string[] },
    start,
    priority: r.priority,
    ...(r.valid_from !== null ? { validFrom: r.valid_from } : {}),
    ...(r.valid_until !== null ? { validUntil: r.valid_until } : {}),
    status: r.status,
    queue: r.queue === 1,
    createdBy: r.created_by,
    ...(r.approved_by !== null ? { approvedBy: r.approved_by } : {}),
    note: r.note,
    createdById: r.created_by_id,
    createdAt: r.created_at,
    updatedBy: r.updated_by,
    updatedById: r.updated_by_id,
    updatedAt: r.updated_at,
    approvedById: r.approved_by_id,
    approvedAt: r.approved_at,
    cancelledBy: r.cancelled_by,
    cancelledById: r.cancelled_by_id,
    cancelledAt: r.cancelled_at,
    cancelReason: r.cancel_reason,
  };
}

/** The bounds of an item's possible starts, for indexed period queries (NULL last = open-ended). */
export function startBounds(item: Pick<BroadcastItem, 'start' | 'validFrom' | 'validUntil'>, dtstartAt: number | undefined): { firstAt: number; lastAt: number | null } {
  if ('at' in item.start) return { firstAt: item.start.at, lastAt: item.start.at };
  const first = Math.max(dtstartAt ?? 0, item.validFrom ?? 0);
  return { firstAt: first, lastAt: item.validUntil ?? null };
}

/** Still playing after `from` somewhere: its last start plus its longest programme (all its versions) ends later, or it has no last start. */
function mayPlayAfter(eb: ExpressionBuilder<Database, 'broadcast_items'>, from: number) {
  return eb.or([eb('last_at', 'is', null), eb(eb('last_at', '+', eb.fn.coalesce('longest_ms', 'duration_ms')), '>', from)]);
}

/** Rows per IN list: SQLite takes at most 32,766 parameters in one statement. */
const CHUNK = 500;

export interface ItemFilter {
  status?: ItemStatus;
  /** Items some target of which lies in one of these areas (ids). */
  areaIds?: readonly number[];
  /** Items that may start in [from, to) (by their stored bounds; recurrences are not expanded here). */
  from?: number;
  to?: number;
  mediaId?: string;
  limit?: number;
  offset?: number;
}

export class BroadcastItemStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(id: string): Promise<ScheduledItem | undefined> {
    const r = await this.db.selectFrom('broadcast_items').selectAll().where('id', '=', id).executeTakeFirst();
    return r && (await this.toItems([r]))[0];
  }

  /** Rows → items, with the versions of those that have any (one query per CHUNK items that say they have). */
  private async toItems(rows: readonly Row[]): Promise<ScheduledItem[]> {
    const ids = rows.filter((r) => r.language !== null).map((r) => r.id);
    const versions = new Map<string, ItemVersion[]>();
    for (let i = 0; i < ids.length; i += CHUNK) {
      const vs = await this.db
        .selectFrom('broadcast_item_versions')
        .select(['item_id', 'language', 'media_id', 'duration_ms'])
        .where('item_id', 'in', ids.slice(i, i + CHUNK))
        .orderBy('item_id')
        .orderBy('position')
        .execute();
      for (const v of vs) {
        let list = versions.get(v.item_id);
        if (!list) versions.set(v.item_id, (list = []));
        list.push({ language: v.language, mediaId: v.media_id, durationMs: v.duration_ms });
      }
    }
    return rows.map((r) => toItem(r, versions));
  }

  /** Approved items that may still start at or after `from`: what distribution reads. */
  async live(from: number): Promise<ScheduledItem[]> {
    const rows = await this.db
      .selectFrom('broadcast_items')
      .selectAll()
      .where('status', '=', 'approved')
      .where((eb) => mayPlayAfter(eb, from))
      .orderBy('first_at')
      .orderBy('id')
      .execute();
    return this.toItems(rows);
  }

  async list(f: ItemFilter = {}): Promise<{ total: number; items: ScheduledItem[] }> {
    // No area can hold a target when none is asked for: `IN ()` is no SQL in either dialect.
    if (f.areaIds && f.areaIds.length === 0) return { total: 0, items: [] };
    let q = this.db.selectFrom('broadcast_items');
    if (f.status) q = q.where('status', '=', f.status);
    if (f.mediaId) q = q.where('media_id', '=', f.mediaId);
    if (f.to !== undefined) q = q.where('first_at', '<', f.to);
    const from = f.from;
    if (from !== undefined) q = q.where((eb) => mayPlayAfter(eb, from));
    const areaIds = f.areaIds;
    if (areaIds)
      q = q.where('id', 'in', (eb) =>
        eb
          .selectFrom('broadcast_item_areas')
          .select('item_id')
          .where('area_id', 'in', [...new Set(areaIds)]),
      );
    const [count, rows] = await Promise.all([
      q.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
      q
        .selectAll()
        .orderBy('first_at')
        .orderBy('id')
        .limit(f.limit ?? 200)
        .offset(f.offset ?? 0)
        .execute(),
    ]);
    // COUNT is a BIGINT in PostgreSQL: whatever the driver hands back, a number.
    return { total: Number(count.n), items: await this.toItems(rows) };
  }

  /** Insert or replace an item with the area ids of its targets, in one transaction (or the caller's, from `exclusive`). */
  async save(item: ScheduledItem, bounds: { firstAt: number; lastAt: number | null }, areaIds: readonly number[]): Promise<void> {
    if (!this.db.isTransaction) {
      await this.db.transaction().execute((trx) => new BroadcastItemStore(trx).save(item, bounds, areaIds));
      return;
    }
    const s = item.start;
    const rec = 'at' in s ? undefined : s;
    const row: Row = {
      id: item.id,
      title: item.title,
      media_id: item.mediaId,
      duration_ms: item.durationMs,
      target_areas: JSON.stringify(item.targets.areaKeys),
      target_sites: JSON.stringify(item.targets.siteIds),
      start_at: 'at' in s ? s.at : null,
      dtstart: rec?.dtstart ?? null,
      rrule: rec?.rrule ?? null,
      exdates: rec?.exdates ? JSON.stringify(rec.exdates) : null,
      zone: rec?.zone ?? null,
      priority: item.priority,
      valid_from: item.validFrom ?? null,
      valid_until: item.validUntil ?? null,
      queue: item.queue ? 1 : 0,
      note: item.note,
      status: item.status,
      first_at: bounds.firstAt,
      last_at: bounds.lastAt,
      created_by: item.createdBy,
      created_by_id: item.createdById,
      created_at: item.createdAt,
      updated_by: item.updatedBy,
      updated_by_id: item.updatedById,
      updated_at: item.updatedAt,
      approved_by: item.approvedBy ?? null,
      approved_by_id: item.approvedById,
      approved_at: item.approvedAt,
      cancelled_by: item.cancelledBy,
      cancelled_by_id: item.cancelledById,
      cancelled_at: item.cancelledAt,
      cancel_reason: item.cancelReason,
      language: item.versions?.length ? (item.language ?? null) : null,
      longest_ms: item.versions?.length ? longestDurationMs(item) : null,
    };
    // Who created it, and when, never change once stored.
    const { id: _id, created_by: _by, created_by_id: _byId, created_at: _at, ...changes } = row;
    await this.db
      .insertInto('broadcast_items')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(changes))
      .execute();
    await this.db.deleteFrom('broadcast_item_areas').where('item_id', '=', item.id).execute();
    const areas = [...new Set(areaIds)].map((a) => ({ item_id: item.id, area_id: a }));
    if (areas.length) await this.db.insertInto('broadcast_item_areas').values(areas).execute();
    await this.db.deleteFrom('broadcast_item_versions').where('item_id', '=', item.id).execute();
    const versions = (item.versions ?? []).map((v, position) => ({ item_id: item.id, language: v.language, position, media_id: v.mediaId, duration_ms: v.durationMs }));
    if (versions.length) await this.db.insertInto('broadcast_item_versions').values(versions).execute();
  }

  /**
   * Run `fn` on this store inside one transaction that no other `exclusive`
   * run overlaps, on this server or another sharing the PostgreSQL store: the
   * schedule's checks (status still a draft, no same-priority overlap with
   * what is approved) read and then write, and with async queries two
   * requests could otherwise both read before either wrote, and both win.
   * SQLite: one connection, and Kysely runs its transactions one at a time
   * on it. PostgreSQL: a transaction-scoped advisory lock per schema.
   * `fn` must use only the store it is given: anything else reading the
   * store would wait behind this transaction on SQLite's one connection.
   */
  async exclusive<T>(fn: (tx: BroadcastItemStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      if (isPostgres(trx)) await sql`SELECT pg_advisory_xact_lock(hashtext('loanet.schedule.' || current_schema()))`.execute(trx);
      return fn(new BroadcastItemStore(trx));
    });
  }

  /** Non-cancelled items playing `mediaId` (as their default or another language version) that may still start after `now` (the media library's retire guard). */
  async usingMedia(mediaId: string, now: number): Promise<ScheduledItem[]> {
    const rows = await this.db
      .selectFrom('broadcast_items')
      .selectAll()
      .where((eb) => eb.or([eb('media_id', '=', mediaId), eb('id', 'in', eb.selectFrom('broadcast_item_versions').select('item_id').where('media_id', '=', mediaId))]))
      .where('status', '!=', 'cancelled')
      .where((eb) => mayPlayAfter(eb, now))
      .orderBy('first_at')
      .orderBy('id')
      .execute();
    return this.toItems(rows);
  }
}

/** Which dialect a Kysely instance speaks (its adapter is what compiles for it). */
function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
