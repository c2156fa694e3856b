/**
 * The as-run receipts in SQLite (table as_run, migration 4): one row per
 * (site, entry). An agent sends each receipt again until the server has
 * acknowledged storing it (server/fleet/event-acks.ts, sent after record()
 * returns), so the same receipt may arrive twice or more; the first one
 * received is kept and the others are counted as duplicates (and
 * acknowledged again).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { AsRunEvent, AsRunOutcome, AsRunReason, PlaylistEntryKind } from '../../protocol/index.ts';

export interface AsRunReceipt {
  siteId: string;
  entryId: string;
  kind: PlaylistEntryKind;
  itemId: string;
  mediaId: string;
  scheduledAt: number;
  outcome: AsRunOutcome;
  startedAt: number | null;
  endedAt: number | null;
  startErrorMs: number | null;
  frames: number | null;
  reason: AsRunReason | null;
  detail: string | null;
  playlistVersion: string | null;
  clockUncertaintyMs: number | null;
  /** The agent's clock was verified when the entry started; null: an agent that does not say. */
  clockSynced: boolean | null;
  /** The play's clock minus the best clock the agent knew when it wrote the receipt (positive: early); the times are on the best. */
  clockErrorMs: number | null;
  at: number;
  receivedAt: number;
}

interface Row {
  site_id: string;
  entry_id: string;
  kind: PlaylistEntryKind;
  item_id: string;
  media_id: string;
  scheduled_at: number;
  outcome: AsRunOutcome;
  started_at: number | null;
  ended_at: number | null;
  start_error_ms: number | null;
  frames: number | null;
  reason: AsRunReason | null;
  detail: string | null;
  playlist_version: string | null;
  clock_uncertainty_ms: number | null;
  clock_synced: number | null;
  clock_error_ms: number | null;
  at: number;
  received_at: number;
}

const toReceipt = (r: Row): AsRunReceipt => ({
  siteId: r.site_id,
  entryId: r.entry_id,
  kind: r.kind,
  itemId: r.item_id,
  mediaId: r.media_id,
  scheduledAt: r.scheduled_at,
  outcome: r.outcome,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  startErrorMs: r.start_error_ms,
  frames: r.frames,
  reason: r.reason,
  detail: r.detail,
  playlistVersion: r.playlist_version,
  clockUncertaintyMs: r.clock_uncertainty_ms,
  clockSynced: r.clock_synced === null || r.clock_synced === undefined ? null : r.clock_synced === 1,
  clockErrorMs: r.clock_error_ms ?? null,
  at: r.at,
  receivedAt: r.received_at,
});

export class AsRunLog {
  private readonly insert: Statement;
  private counts = { stored: 0, duplicates: 0 };

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.insert = db.prepare(
      `INSERT INTO as_run (site_id, entry_id, kind, item_id, media_id, scheduled_at, outcome, started_at, ended_at, start_error_ms, frames,
         reason, detail, playlist_version, clock_uncertainty_ms, clock_synced, clock_error_ms, at, received_at)
       VALUES (@site_id, @entry_id, @kind, @item_id, @media_id, @scheduled_at, @outcome, @started_at, @ended_at, @start_error_ms, @frames,
         @reason, @detail, @playlist_version, @clock_uncertainty_ms, @clock_synced, @clock_error_ms, @at, @received_at)
       ON CONFLICT(site_id, entry_id) DO NOTHING`,
    );
  }

  /** Store a receipt; false when this (site, entry) already had one. */
  record(siteId: string, e: AsRunEvent): boolean {
    const info = this.insert.run({
      site_id: siteId,
      entry_id: e.entryId,
      kind: e.kind,
      item_id: e.itemId,
      media_id: e.mediaId,
      scheduled_at: e.scheduledAt,
      outcome: e.outcome,
      started_at: e.startedAt ?? null,
      ended_at: e.endedAt ?? null,
      start_error_ms: e.startErrorMs ?? null,
      frames: e.frames ?? null,
      reason: e.reason ?? null,
      detail: e.detail ?? null,
      playlist_version: e.playlistVersion ?? null,
      clock_uncertainty_ms: e.clockUncertaintyMs ?? null,
      clock_synced: e.clockSynced === undefined ? null : e.clockSynced ? 1 : 0,
      clock_error_ms: e.clockErrorMs ?? null,
      at: e.at,
      received_at: this.now(),
    });
    if (info.changes === 1) this.counts.stored++;
    else this.counts.duplicates++;
    return info.changes === 1;
  }

  /** Receipts of these sites for entries scheduled in [from, to). */
  list(f: { siteIds: readonly string[]; from: number; to: number; itemId?: string }): AsRunReceipt[] {
    const where = ['site_id IN (SELECT value FROM json_each(?))', 'scheduled_at >= ?', 'scheduled_at < ?'];
    const args: Array<string | number> = [JSON.stringify(f.siteIds), f.from, f.to];
    if (f.itemId) where.push('item_id = ?'), args.push(f.itemId);
    return (this.db.prepare(`SELECT * FROM as_run WHERE ${where.join(' AND ')} ORDER BY scheduled_at, site_id`).all(...args) as Row[]).map(toReceipt);
  }

  /** Receipts stored and duplicates ignored since start. */
  stats(): { stored: number; duplicates: number } {
    return { ...this.counts };
  }
}
