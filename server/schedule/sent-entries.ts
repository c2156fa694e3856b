/**
 * What the server asked each site to play (table playlist_entries, migration
 * 4): every occurrence put in a site's published playlist, and every one the
 * priority arbitration skipped there. Distribution writes it when it
 * publishes; the as-run log reads it to account for every (entry, site),
 * receipt or not. An entry that leaves a site's playlist before it was due
 * (its item cancelled, or pre-empted later) is marked withdrawn, not deleted.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { SitePlan } from './conflicts.ts';
import type { Priority } from './model.ts';
import type { SitePlaylist } from './playlist.ts';

export interface SentEntry {
  siteId: string;
  entryId: string;
  itemId: string;
  mediaId: string;
  scheduledAt: number;
  startAt: number;
  durationMs: number;
  priority: Priority;
  plan: 'play' | 'skipped';
  skipReason: string | null;
  blockedBy: string | null;
  firstSentAt: number;
  sentAt: number;
  version: string | null;
  withdrawnAt: number | null;
}

interface Row {
  site_id: string;
  entry_id: string;
  item_id: string;
  media_id: string;
  scheduled_at: number;
  start_at: number;
  duration_ms: number;
  priority: Priority;
  plan: 'play' | 'skipped';
  skip_reason: string | null;
  blocked_by: string | null;
  first_sent_at: number;
  sent_at: number;
  version: string | null;
  withdrawn_at: number | null;
}

const toEntry = (r: Row): SentEntry => ({
  siteId: r.site_id,
  entryId: r.entry_id,
  itemId: r.item_id,
  mediaId: r.media_id,
  scheduledAt: r.scheduled_at,
  startAt: r.start_at,
  durationMs: r.duration_ms,
  priority: r.priority,
  plan: r.plan,
  skipReason: r.skip_reason,
  blockedBy: r.blocked_by,
  firstSentAt: r.first_sent_at,
  sentAt: r.sent_at,
  version: r.version,
  withdrawnAt: r.withdrawn_at,
});

export class SentEntryStore {
  /**
   * Prepared once, on first use: recordSent runs for every site a refresh
   * publishes to, and preparing its three statements per call was the largest
   * cost of distributing a province's playlists (a third of the event-loop
   * time at 30,000 sites).
   */
  private st?: { upsert: Statement; future: Statement; withdraw: Statement };

  constructor(private readonly db: Db) {}

  private statements(): NonNullable<SentEntryStore['st']> {
    this.st ??= {
      upsert: this.db.prepare(
        `INSERT INTO playlist_entries (site_id, entry_id, item_id, media_id, scheduled_at, start_at, duration_ms, priority, plan, skip_reason, blocked_by, first_sent_at, sent_at, version, withdrawn_at)
         VALUES (@site_id, @entry_id, @item_id, @media_id, @scheduled_at, @start_at, @duration_ms, @priority, @plan, @skip_reason, @blocked_by, @at, @at, @version, NULL)
         ON CONFLICT(site_id, entry_id) DO UPDATE SET start_at = excluded.start_at, duration_ms = excluded.duration_ms, media_id = excluded.media_id,
           priority = excluded.priority, plan = excluded.plan, skip_reason = excluded.skip_reason, blocked_by = excluded.blocked_by,
           sent_at = excluded.sent_at, version = excluded.version, withdrawn_at = NULL`,
      ),
      future: this.db.prepare('SELECT entry_id FROM playlist_entries WHERE site_id = ? AND start_at > ? AND withdrawn_at IS NULL'),
      withdraw: this.db.prepare('UPDATE playlist_entries SET withdrawn_at = ? WHERE site_id = ? AND entry_id = ?'),
    };
    return this.st;
  }

  /**
   * Record what one site was just sent: its playlist's entries and the
   * plan's skipped occurrences inside the horizon; future entries no longer
   * there are withdrawn. `mediaOf` gives an item's media id for skipped ones.
   */
  recordSent(playlist: SitePlaylist, plan: SitePlan | undefined, horizon: { from: number; to: number }, at: number, mediaOf: (itemId: string) => string | undefined): void {
    const { upsert, future: futureOf, withdraw } = this.statements();
    const keep = new Set<string>();
    for (const e of playlist.entries) {
      keep.add(e.id);
      upsert.run({
        site_id: playlist.siteId,
        entry_id: e.id,
        item_id: e.itemId,
        media_id: e.mediaId,
        scheduled_at: scheduledAtOf(e.id, e.startAt),
        start_at: e.startAt,
        duration_ms: e.durationMs,
        priority: e.priority,
        plan: 'play',
        skip_reason: null,
        blocked_by: null,
        at,
        version: playlist.version,
      });
    }
    for (const s of plan?.skipped ?? []) {
      if (s.startAt >= horizon.to || s.endAt <= horizon.from || keep.has(s.id)) continue;
      const mediaId = mediaOf(s.itemId);
      if (!mediaId) continue;
      keep.add(s.id);
      upsert.run({
        site_id: playlist.siteId,
        entry_id: s.id,
        item_id: s.itemId,
        media_id: mediaId,
        scheduled_at: s.startAt,
        start_at: s.startAt,
        duration_ms: s.endAt - s.startAt,
        priority: s.priority,
        plan: 'skipped',
        skip_reason: s.reason,
        blocked_by: s.blockedBy,
        at,
        version: playlist.version,
      });
    }
    // Entries still to come that are no longer planned: withdrawn (an entry already started stays owed).
    const future = futureOf.all(playlist.siteId, at) as Array<{ entry_id: string }>;
    for (const r of future) if (!keep.has(r.entry_id)) withdraw.run(at, playlist.siteId, r.entry_id);
  }

  /** Withdraw every future entry of a site (retired, or no longer targeted by anything). */
  withdrawAll(siteId: string, at: number): void {
    this.db.prepare('UPDATE playlist_entries SET withdrawn_at = ? WHERE site_id = ? AND start_at > ? AND withdrawn_at IS NULL').run(at, siteId, at);
  }

  /** Entries of these sites scheduled in [from, to), withdrawn ones left out unless asked. */
  list(f: { siteIds: readonly string[]; from: number; to: number; itemId?: string; includeWithdrawn?: boolean }): SentEntry[] {
    const where = ['site_id IN (SELECT value FROM json_each(?))', 'scheduled_at >= ?', 'scheduled_at < ?'];
    const args: Array<string | number> = [JSON.stringify(f.siteIds), f.from, f.to];
    if (!f.includeWithdrawn) where.push('withdrawn_at IS NULL');
    if (f.itemId) where.push('item_id = ?'), args.push(f.itemId);
    return (this.db.prepare(`SELECT * FROM playlist_entries WHERE ${where.join(' AND ')} ORDER BY scheduled_at, site_id, entry_id`).all(...args) as Row[]).map(toEntry);
  }
}

/** The scheduled start is part of the occurrence id (`item@ms`); a queue shift moves startAt, not it. */
export function scheduledAtOf(entryId: string, fallback: number): number {
  const at = Number(entryId.slice(entryId.lastIndexOf('@') + 1));
  return Number.isInteger(at) && at > 0 ? at : fallback;
}
