/**
 * What the sites report of the live streams they play (stream_stats), kept
 * for the record: each site's latest report per stream (cumulative counters,
 * so a late older one never replaces a newer one), the play marks that give
 * the skew between sites, and the batched writes to the store, one
 * transaction every flushMs, never one per message, one at a time
 * (record-writer.ts).
 *
 * Streams closed by the restart (LiveService.recover) are known here by id
 * alone: the sites' final reports on them still belong in their record.
 */
import type { StreamStatsEvent } from '../../protocol/index.ts';
import type { LiveStreamStats } from './live-stream.ts';
import type { SkewSummary, SkewTracker } from './skew.ts';
import type { LiveSiteRecord, LiveStreamStore } from './store.ts';
import { reportOf, siteView, type SiteReport } from './views.ts';

/** A stream as this ledger sees it (LiveService's entry). */
export interface ReportedStream {
  id: number;
  endedAt: number | null;
  input: { areas: ReadonlyArray<{ id: number }> };
  reports: Map<string, SiteReport>;
  skew: SkewTracker;
  /** Sites whose report changed since the last write to the store. */
  dirty: Set<string>;
  stream: { stats(): LiveStreamStats };
}

export interface RecordStats {
  /** Site reports accepted. */
  reports: number;
  /** Transactions written. */
  writes: number;
  /** Site rows upserted. */
  siteRows: number;
  /** Writes that failed (what they held is written with the next). */
  failures: number;
}

export class LiveSiteReports {
  /** Streams closed by recover(): id → target area ids. */
  private readonly recovered = new Map<number, readonly number[]>();
  private readonly recoveredDirty = new Map<string, { streamId: number; site: LiveSiteRecord }>();
  private readonly counts: RecordStats = { reports: 0, writes: 0, siteRows: 0, failures: 0 };
  /** Ended streams gone from memory whose last reports are not written yet. */
  private readonly left: ReportedStream[] = [];

  constructor(
    private readonly deps: {
      store?: LiveStreamStore;
      now(): number;
      /** Ids of a site's area and its ancestors: only sites a stream targets may report on it. */
      areaPathOfSite?: (siteId: string) => readonly number[] | undefined;
      /** How many recovered streams are remembered. */
      keep: number;
    },
  ) {}

  /** A stream the restart closed: its sites' last reports are still taken. */
  noteRecovered(id: number, areaIds: readonly number[]): void {
    this.recovered.set(id, areaIds);
    if (this.recovered.size > this.deps.keep) this.recovered.delete(this.recovered.keys().next().value!);
  }

  isRecovered(id: number): boolean {
    return this.recovered.has(id);
  }

  /**
   * Takes a site's report on stream `e` (undefined: not in memory, perhaps
   * closed by the restart). Answers true when it was taken for a stream in
   * memory, so the caller goes on with what it measures of the site's link.
   */
  accept(siteId: string, ev: StreamStatsEvent, e: ReportedStream | undefined): boolean {
    const path = this.deps.areaPathOfSite?.(siteId);
    // A site outside the stream's areas never heard it: its report would only distort the figures.
    const outside = (areaIds: readonly number[]) => this.deps.areaPathOfSite !== undefined && !(path && areaIds.some((a) => path.includes(a)));
    if (!e) {
      const areaIds = this.recovered.get(ev.streamId);
      if (!areaIds || outside(areaIds)) return false;
      const key = `${ev.streamId}/${siteId}`;
      const prev = this.recoveredDirty.get(key);
      if (prev && prev.site.at > ev.at) return false;
      this.recoveredDirty.set(key, { streamId: ev.streamId, site: siteView(siteId, reportOf(ev, (prev?.site.marks ?? 0) + ev.marks.length, this.deps.now())) });
      this.counts.reports++;
      return false;
    }
    if (outside(e.input.areas.map((a) => a.id))) return false;
    const prev = e.reports.get(siteId);
    // Counters are cumulative at the site: an older report (delivered late) never replaces a newer one.
    if (prev && prev.at > ev.at) return false;
    e.reports.set(siteId, reportOf(ev, (prev?.marks ?? 0) + ev.marks.length, this.deps.now()));
    this.counts.reports++;
    e.dirty.add(siteId);
    for (const m of ev.marks) e.skew.add(siteId, m.seq, m.playedAt);
    return true;
  }

  /**
   * A stream leaves memory (more than `keep` ended since) with reports not
   * yet written: they are held here until a flush writes them, never
   * dropped with it.
   */
  leaving(e: ReportedStream): void {
    if (e.dirty.size > 0) this.left.push(e);
  }

  /**
   * Write what changed since the last write, in one transaction: the sites'
   * latest reports, the running counters of the live streams among
   * `streams`, the skew of streams with new reports. What changed is taken
   * when the write starts (reports arriving meanwhile wait for the next);
   * what fails to be written is marked again and goes with the next, and the
   * error is counted and thrown. Called by one write at a time
   * (record-writer.ts).
   */
  async flush(streams: Iterable<ReportedStream>): Promise<void> {
    const store = this.deps.store;
    if (!store) return;
    const sites: Array<{ streamId: number; site: LiveSiteRecord }> = [];
    const rows: Array<{ id: number; serverStats: LiveStreamStats | null; skew: SkewSummary | null }> = [];
    const taken: Array<{ e: ReportedStream; siteIds: string[] }> = [];
    const left = this.left.splice(0);
    for (const e of [...left, ...streams]) {
      const live = e.endedAt === null;
      if (e.dirty.size === 0 && !live) continue;
      const siteIds = [...e.dirty];
      e.dirty.clear();
      for (const siteId of siteIds) sites.push({ streamId: e.id, site: siteView(siteId, e.reports.get(siteId)!) });
      rows.push({ id: e.id, serverStats: live ? e.stream.stats() : null, skew: siteIds.length ? e.skew.summary() : null });
      taken.push({ e, siteIds });
    }
    const recovered = [...this.recoveredDirty.values()];
    sites.push(...recovered);
    if (sites.length === 0 && rows.length === 0) return;
    try {
      await store.write({ sites, streams: rows });
    } catch (err) {
      this.counts.failures++;
      for (const { e, siteIds } of taken) for (const id of siteIds) e.dirty.add(id);
      for (const e of left) if (e.dirty.size > 0 && !this.left.includes(e)) this.left.push(e);
      throw err;
    }
    this.counts.writes++;
    this.counts.siteRows += sites.length;
    for (const r of recovered) if (this.recoveredDirty.get(`${r.streamId}/${r.site.siteId}`) === r) this.recoveredDirty.delete(`${r.streamId}/${r.site.siteId}`);
  }

  /** Reports waiting for a write: of streams that left memory, and of streams the restart closed. */
  waiting(): number {
    return this.left.reduce((n, e) => n + e.dirty.size, 0) + this.recoveredDirty.size;
  }

  stats(): RecordStats {
    return { ...this.counts };
  }
}
