/**
 * What the server asked each site to play (table playlist_entries, migration
 * 4): every occurrence put in a site's published playlist, and every one the
 * priority arbitration skipped there. Distribution writes it when it
 * publishes; the as-run log reads it to account for every (entry, site),
 * receipt or not. An entry that leaves a site's playlist before it was due
 * (its item cancelled, or pre-empted later) is marked withdrawn, not deleted.
 * For an item with language versions, each row also says what the site was
 * planned to hear (its languages, those played, those with no version, and
 * why the default version plays if it does: migration 32).
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, PlaylistEntriesTable } from '../store/schema.ts';
import type { SitePlan } from './conflicts.ts';
import type { Priority } from './model.ts';
import type { PlannedLanguages, SitePlaylist } from './playlist.ts';
import { LANGUAGE_FALLBACKS, type LanguageFallback } from './language-plan.ts';
import { inBatches } from '../store/batches.ts';

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
  /** For an item with language versions: what the site was planned to hear; null otherwise. */
  languages?: PlannedLanguages | null;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The stored plan (JSON written by recordSent), or null for none or anything unreadable. */
export function parsePlannedLanguages(text: string | null): PlannedLanguages | null {
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const fallback = LANGUAGE_FALLBACKS.includes(o.fallback as LanguageFallback) ? (o.fallback as LanguageFallback) : null;
    return { site: strings(o.site), played: strings(o.played), missing: strings(o.missing), fallback };
  } catch {
    return null;
  }
}

type Row = Selectable<PlaylistEntriesTable>;

const toEntry = (r: Row): SentEntry => ({
  siteId: r.site_id,
  entryId: r.entry_id,
  itemId: r.item_id,
  mediaId: r.media_id,
  scheduledAt: r.scheduled_at,
  startAt: r.start_at,
  durationMs: r.duration_ms,
  // Written only by recordSent, from a playlist's or a plan's priority.
  priority: r.priority as Priority,
  plan: r.plan,
  skipReason: r.skip_reason,
  blockedBy: r.blocked_by,
  firstSentAt: r.first_sent_at,
  sentAt: r.sent_at,
  version: r.version,
  withdrawnAt: r.withdrawn_at,
  languages: parsePlannedLanguages(r.languages),
});

/**
 * Rows per INSERT: each row is 16 parameters, and one statement per site
 * (or fewer) is what keeps recording a province's playlists cheap; well
 * under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
 */
const ROWS_PER_INSERT = 500;
/** Ids per `IN (…)` list: far under both dialects' parameter limits, so a province's sites are read in a few queries. */
const IDS_PER_QUERY = 5000;

/** What one site was just sent: its playlist and its plan's skipped occurrences. */
export interface SiteSent {
  playlist: SitePlaylist;
  plan: SitePlan | undefined;
}

export class SentEntryStore {
  /** `db` may be a transaction: distribution records a slice of sites in one (distribution.ts). */
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Record what these sites were just sent: each playlist's entries and the
   * plan's skipped occurrences inside the horizon; future entries no longer
   * there are withdrawn. `mediaOf` gives an item's media id for skipped ones.
   * A few statements for all the sites (one multi-row upsert per
   * ROWS_PER_INSERT rows, one read of their future entries), then one
   * UPDATE per site that lost entries: a statement per entry per site was
   * the largest cost of distributing a province's playlists.
   */
  async recordSent(sites: readonly SiteSent[], horizon: { from: number; to: number }, at: number, mediaOf: (itemId: string) => string | undefined): Promise<void> {
    if (sites.length === 0) return;
    // Keyed by (site, entry): one statement must not upsert a row twice (PostgreSQL refuses), and the last one sent wins as before.
    const rows = new Map<string, PlaylistEntriesInsert>();
    const keep = new Map<string, Set<string>>();
    for (const { playlist, plan } of sites) {
      const kept = new Set<string>();
      keep.set(playlist.siteId, kept);
      const row = (r: Omit<PlaylistEntriesInsert, 'site_id' | 'first_sent_at' | 'sent_at' | 'version' | 'withdrawn_at'>) =>
        rows.set(`${playlist.siteId}\n${r.entry_id}`, { site_id: playlist.siteId, ...r, first_sent_at: at, sent_at: at, version: playlist.version, withdrawn_at: null });
      for (const e of playlist.entries) {
        kept.add(e.id);
        row({
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
          languages: e.languages ? JSON.stringify(e.languages) : null,
        });
      }
      for (const s of plan?.skipped ?? []) {
        if (s.startAt >= horizon.to || s.endAt <= horizon.from || kept.has(s.id)) continue;
        const mediaId = mediaOf(s.itemId);
        if (!mediaId) continue;
        kept.add(s.id);
        row({
          entry_id: s.id,
          item_id: s.itemId,
          media_id: mediaId,
          scheduled_at: s.startAt,
          start_at: s.startAt,
          duration_ms: s.endAt - s.startAt,
          priority: s.priority,
          plan: 'skipped',
          languages: null,
          skip_reason: s.reason,
          blocked_by: s.blockedBy,
        });
      }
    }
    // Entries still to come that are no longer planned: withdrawn (an entry already started stays owed).
    const siteIds = [...keep.keys()];
    const gone = new Map<string, string[]>();
    for (let i = 0; i < siteIds.length; i += IDS_PER_QUERY) {
      const future = await this.db
        .selectFrom('playlist_entries')
        .select(['site_id', 'entry_id'])
        .where('site_id', 'in', siteIds.slice(i, i + IDS_PER_QUERY))
        .where('start_at', '>', at)
        .where('withdrawn_at', 'is', null)
        .execute();
      for (const r of future) {
        if (keep.get(r.site_id)?.has(r.entry_id)) continue;
        const list = gone.get(r.site_id) ?? [];
        list.push(r.entry_id);
        gone.set(r.site_id, list);
      }
    }
    const all = [...rows.values()];
    for (const batch of inBatches(all, ROWS_PER_INSERT)) {
      await this.db
        .insertInto('playlist_entries')
        .values(batch)
        .onConflict((oc) =>
          oc.columns(['site_id', 'entry_id']).doUpdateSet((eb) => ({
            start_at: eb.ref('excluded.start_at'),
            duration_ms: eb.ref('excluded.duration_ms'),
            media_id: eb.ref('excluded.media_id'),
            priority: eb.ref('excluded.priority'),
            plan: eb.ref('excluded.plan'),
            skip_reason: eb.ref('excluded.skip_reason'),
            blocked_by: eb.ref('excluded.blocked_by'),
            sent_at: eb.ref('excluded.sent_at'),
            version: eb.ref('excluded.version'),
            languages: eb.ref('excluded.languages'),
            withdrawn_at: null,
          })),
        )
        .execute();
    }
    for (const [siteId, entryIds] of gone) {
      for (let i = 0; i < entryIds.length; i += IDS_PER_QUERY) {
        await this.db
          .updateTable('playlist_entries')
          .set({ withdrawn_at: at })
          .where('site_id', '=', siteId)
          .where('entry_id', 'in', entryIds.slice(i, i + IDS_PER_QUERY))
          .execute();
      }
    }
  }

  /** Withdraw every future entry of a site (retired, or no longer targeted by anything). */
  async withdrawAll(siteId: string, at: number): Promise<void> {
    await this.db.updateTable('playlist_entries').set({ withdrawn_at: at }).where('site_id', '=', siteId).where('start_at', '>', at).where('withdrawn_at', 'is', null).execute();
  }

  /** Entries of these sites scheduled in [from, to), withdrawn ones left out unless asked; by time, then site and entry. */
  async list(f: { siteIds: readonly string[]; from: number; to: number; itemId?: string; includeWithdrawn?: boolean }): Promise<SentEntry[]> {
    const ids = [...new Set(f.siteIds)];
    const out: SentEntry[] = [];
    // A province's sites are more ids than one statement may carry in SQLite: read them in parts, and order the whole here.
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      let q = this.db
        .selectFrom('playlist_entries')
        .selectAll()
        .where('site_id', 'in', ids.slice(i, i + IDS_PER_QUERY))
        .where('scheduled_at', '>=', f.from)
        .where('scheduled_at', '<', f.to);
      if (!f.includeWithdrawn) q = q.where('withdrawn_at', 'is', null);
      if (f.itemId) q = q.where('item_id', '=', f.itemId);
      for (const r of await q.execute()) out.push(toEntry(r));
    }
    // Ordered by code unit, as SQLite's BINARY collation ordered them, whatever PostgreSQL's collation is.
    return out.sort((a, b) => a.scheduledAt - b.scheduledAt || cmp(a.siteId, b.siteId) || cmp(a.entryId, b.entryId));
  }
}

type PlaylistEntriesInsert = Row;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The scheduled start is part of the occurrence id (`item@ms`); a queue shift moves startAt, not it. */
export function scheduledAtOf(entryId: string, fallback: number): number {
  const at = Number(entryId.slice(entryId.lastIndexOf('@') + 1));
  return Number.isInteger(at) && at > 0 ? at : fallback;
}
