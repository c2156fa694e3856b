/**
 * Broadcast items in SQLite (tables broadcast_items and broadcast_item_areas,
 * migration 4). Only storage: validation, approval rules and conflict checks
 * live in service.ts; the pure core (model.ts, resolve.ts, …) reads the
 * `BroadcastItem` view of a row.
 */
import type { Db } from '../store/db.ts';
import type { BroadcastItem, ItemStart, ItemStatus, Priority } from './model.ts';

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

interface Row {
  id: string;
  title: string;
  media_id: string;
  duration_ms: number;
  target_areas: string;
  target_sites: string;
  start_at: number | null;
  dtstart: string | null;
  rrule: string | null;
  exdates: string | null;
  zone: string | null;
  priority: Priority;
  valid_from: number | null;
  valid_until: number | null;
  queue: number;
  note: string | null;
  status: ItemStatus;
  first_at: number;
  last_at: number | null;
  created_by: string;
  created_by_id: number | null;
  created_at: number;
  updated_by: string;
  updated_by_id: number | null;
  updated_at: number;
  approved_by: string | null;
  approved_by_id: number | null;
  approved_at: number | null;
  cancelled_by: string | null;
  cancelled_by_id: number | null;
  cancelled_at: number | null;
  cancel_reason: string | null;
}

function toItem(r: Row): ScheduledItem {
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
  constructor(private readonly db: Db) {}

  get(id: string): ScheduledItem | undefined {
    const r = this.db.prepare('SELECT * FROM broadcast_items WHERE id = ?').get(id) as Row | undefined;
    return r && toItem(r);
  }

  /** Approved items that may still start at or after `from`: what distribution reads. */
  live(from: number): ScheduledItem[] {
    return (
      this.db.prepare("SELECT * FROM broadcast_items WHERE status = 'approved' AND (last_at IS NULL OR last_at + duration_ms > ?) ORDER BY first_at, id").all(from) as Row[]
    ).map(toItem);
  }

  list(f: ItemFilter = {}): { total: number; items: ScheduledItem[] } {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (f.status) where.push('status = ?'), args.push(f.status);
    if (f.mediaId) where.push('media_id = ?'), args.push(f.mediaId);
    if (f.to !== undefined) where.push('first_at < ?'), args.push(f.to);
    if (f.from !== undefined) where.push('(last_at IS NULL OR last_at + duration_ms > ?)'), args.push(f.from);
    if (f.areaIds) {
      where.push('id IN (SELECT item_id FROM broadcast_item_areas WHERE area_id IN (SELECT value FROM json_each(?)))');
      args.push(JSON.stringify(f.areaIds));
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM broadcast_items ${w}`).get(...args) as { n: number }).n;
    const rows = this.db.prepare(`SELECT * FROM broadcast_items ${w} ORDER BY first_at, id LIMIT ? OFFSET ?`).all(...args, f.limit ?? 200, f.offset ?? 0) as Row[];
    return { total, items: rows.map(toItem) };
  }

  /** Insert or replace an item with the area ids of its targets. */
  save(item: ScheduledItem, bounds: { firstAt: number; lastAt: number | null }, areaIds: readonly number[]): void {
    const s = item.start;
    const rec = 'at' in s ? undefined : s;
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO broadcast_items (id, title, media_id, duration_ms, target_areas, target_sites, start_at, dtstart, rrule, exdates, zone,
             priority, valid_from, valid_until, queue, note, status, first_at, last_at, created_by, created_by_id, created_at,
             updated_by, updated_by_id, updated_at, approved_by, approved_by_id, approved_at, cancelled_by, cancelled_by_id, cancelled_at, cancel_reason)
           VALUES (@id, @title, @media_id, @duration_ms, @target_areas, @target_sites, @start_at, @dtstart, @rrule, @exdates, @zone,
             @priority, @valid_from, @valid_until, @queue, @note, @status, @first_at, @last_at, @created_by, @created_by_id, @created_at,
             @updated_by, @updated_by_id, @updated_at, @approved_by, @approved_by_id, @approved_at, @cancelled_by, @cancelled_by_id, @cancelled_at, @cancel_reason)
           ON CONFLICT(id) DO UPDATE SET title = excluded.title, media_id = excluded.media_id, duration_ms = excluded.duration_ms,
             target_areas = excluded.target_areas, target_sites = excluded.target_sites, start_at = excluded.start_at, dtstart = excluded.dtstart,
             rrule = excluded.rrule, exdates = excluded.exdates, zone = excluded.zone, priority = excluded.priority, valid_from = excluded.valid_from,
             valid_until = excluded.valid_until, queue = excluded.queue, note = excluded.note, status = excluded.status, first_at = excluded.first_at,
             last_at = excluded.last_at, updated_by = excluded.updated_by, updated_by_id = excluded.updated_by_id, updated_at = excluded.updated_at,
             approved_by = excluded.approved_by, approved_by_id = excluded.approved_by_id, approved_at = excluded.approved_at,
             cancelled_by = excluded.cancelled_by, cancelled_by_id = excluded.cancelled_by_id, cancelled_at = excluded.cancelled_at,
             cancel_reason = excluded.cancel_reason`,
        )
        .run({
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
        });
      this.db.prepare('DELETE FROM broadcast_item_areas WHERE item_id = ?').run(item.id);
      const ins = this.db.prepare('INSERT OR IGNORE INTO broadcast_item_areas (item_id, area_id) VALUES (?, ?)');
      for (const a of new Set(areaIds)) ins.run(item.id, a);
    })();
  }

  /** Non-cancelled items playing `mediaId` that may still start after `now` (the media library's retire guard). */
  usingMedia(mediaId: string, now: number): ScheduledItem[] {
    return (
      this.db.prepare("SELECT * FROM broadcast_items WHERE media_id = ? AND status != 'cancelled' AND (last_at IS NULL OR last_at + duration_ms > ?)").all(mediaId, now) as Row[]
    ).map(toItem);
  }
}
