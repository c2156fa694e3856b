/**
 * The as-run receipts (table as_run, migration 4): one row per (site, entry).
 * An agent sends each receipt again until the server has acknowledged
 * storing it (server/fleet/event-acks.ts, sent after record() resolves), so
 * the same receipt may arrive twice or more; the first one received is kept
 * and the others are counted as duplicates (and acknowledged again). A
 * receipt of an entry with language versions keeps its parts (migration 32).
 *
 * On the store's Kysely layer (store/database.ts): the same queries on SQLite
 * and PostgreSQL (tests/integration/fleet-stores.test.ts runs them on both).
 */
import type { Kysely, Selectable } from 'kysely';
import { AS_RUN_OUTCOMES, AS_RUN_REASONS, type AsRunEvent, type AsRunOutcome, type AsRunPart, type AsRunReason, type PlaylistEntryKind } from '../../protocol/index.ts';
import type { AsRunTable, Database } from '../store/schema.ts';

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
  /** What became of each language version of an entry with parts, in its order; null: an entry of one version. */
  parts?: AsRunPart[] | null;
}

const isOutcome = (v: unknown): v is AsRunOutcome => AS_RUN_OUTCOMES.includes(v as AsRunOutcome);
const isReason = (v: unknown): v is AsRunReason => AS_RUN_REASONS.includes(v as AsRunReason);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The stored parts (JSON the protocol's schema let through), read defensively: null for none or anything unreadable. */
export function parseStoredParts(text: string | null): AsRunPart[] | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v)) return null;
    const out: AsRunPart[] = [];
    for (const p of v as Array<Record<string, unknown>>) {
      if (typeof p?.language !== 'string' || typeof p.mediaId !== 'string' || !isOutcome(p.outcome)) return null;
      const startedAt = num(p.startedAt);
      const endedAt = num(p.endedAt);
      const frames = num(p.frames);
      out.push({
        language: p.language,
        mediaId: p.mediaId,
        outcome: p.outcome,
        ...(startedAt !== undefined ? { startedAt } : {}),
        ...(endedAt !== undefined ? { endedAt } : {}),
        ...(frames !== undefined ? { frames } : {}),
        ...(isReason(p.reason) ? { reason: p.reason } : {}),
      });
    }
    return out;
  } catch {
    return null;
  }
}

/** Sites per query of list(): well under either dialect's limit on bound parameters. */
const SITES_PER_QUERY = 5000;

const toReceipt = (r: Selectable<AsRunTable>): AsRunReceipt => ({
  siteId: r.site_id,
  entryId: r.entry_id,
  // The columns hold what the protocol's schema let through when the receipt was stored.
  kind: r.kind as PlaylistEntryKind,
  itemId: r.item_id,
  mediaId: r.media_id,
  scheduledAt: r.scheduled_at,
  outcome: r.outcome,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  startErrorMs: r.start_error_ms,
  frames: r.frames,
  reason: r.reason as AsRunReason | null,
  detail: r.detail,
  playlistVersion: r.playlist_version,
  clockUncertaintyMs: r.clock_uncertainty_ms,
  clockSynced: r.clock_synced === null || r.clock_synced === undefined ? null : r.clock_synced === 1,
  clockErrorMs: r.clock_error_ms ?? null,
  at: r.at,
  receivedAt: r.received_at,
  parts: parseStoredParts(r.parts ?? null),
});

/** By scheduled time, then site id compared by code unit: the same order in both dialects (PostgreSQL's collation may not be bytewise). */
const byScheduleThenSite = (a: AsRunReceipt, b: AsRunReceipt): number => a.scheduledAt - b.scheduledAt || (a.siteId < b.siteId ? -1 : a.siteId > b.siteId ? 1 : 0);

export class AsRunLog {
  private counts = { stored: 0, duplicates: 0 };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Store a receipt; resolves true once it is committed, false when this (site, entry) already had one. */
  async record(siteId: string, e: AsRunEvent): Promise<boolean> {
    // One statement decides: two copies arriving together (or at two servers) both try the insert and
    // exactly one gets its row back; the other's conflict inserts nothing and returns nothing.
    const inserted = await this.db
      .insertInto('as_run')
      .values({
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
        parts: e.parts ? JSON.stringify(e.parts) : null,
        at: e.at,
        received_at: this.now(),
      })
      .onConflict((oc) => oc.columns(['site_id', 'entry_id']).doNothing())
      .returning('entry_id')
      .executeTakeFirst();
    if (inserted) this.counts.stored++;
    else this.counts.duplicates++;
    return inserted !== undefined;
  }

  /** Receipts of these sites for entries scheduled in [from, to), by scheduled time then site. */
  async list(f: { siteIds: readonly string[]; from: number; to: number; itemId?: string }): Promise<AsRunReceipt[]> {
    const out: AsRunReceipt[] = [];
    for (let i = 0; i < f.siteIds.length; i += SITES_PER_QUERY) {
      let q = this.db
        .selectFrom('as_run')
        .selectAll()
        .where('site_id', 'in', f.siteIds.slice(i, i + SITES_PER_QUERY))
        .where('scheduled_at', '>=', f.from)
        .where('scheduled_at', '<', f.to);
      if (f.itemId) q = q.where('item_id', '=', f.itemId);
      for (const r of await q.execute()) out.push(toReceipt(r));
    }
    return out.sort(byScheduleThenSite);
  }

  /** Receipts stored and duplicates ignored since start. */
  stats(): { stored: number; duplicates: number } {
    return { ...this.counts };
  }
}
