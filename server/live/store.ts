/**
 * Live streams in SQLite (migration 7): the record of every broadcast — who,
 * what, where, when, how it ended — and what each site reported playing it,
 * so "which villages heard it" has an answer after the stream, and after a
 * restart. Statements are prepared once; site reports come in batches (the
 * service coalesces them, one transaction at most every second or so).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { AudioPriority, AudioSourceKind, AudioStreamStart, StreamSiteEndReason } from '../../protocol/index.ts';
import type { LiveStreamStats } from './live-stream.ts';
import type { SkewSummary } from './skew.ts';
import type { LiveDelayView } from './delay-budget.ts';
import type { LiveEndReason } from '../../api/live.ts';

/** Why a stream ended: the wire's stop reasons, and the server going away under it (one list, in api/live.ts). */
export type { LiveEndReason };

export interface LiveStreamRecord {
  id: number;
  source: { kind: AudioSourceKind; label: string | null; ref: string | null; format: 'pcm' | 'webm' | null };
  priority: AudioPriority;
  whenPreempted: 'resume' | 'end';
  areas: string[];
  areaIds: number[];
  delayMs: number;
  codec: AudioStreamStart['codec'];
  startAt: number;
  createdBy: number | null;
  createdByName: string;
  startedAt: number;
  endedAt: number | null;
  endReason: LiveEndReason | null;
  endDetail: string | null;
  endedBy: number | null;
  endedByName: string | null;
  serverStats: LiveStreamStats | null;
  skew: SkewSummary | null;
  /** The adaptive delay as the stream ended (start, ceiling, raises, sites beyond the ceiling); null before it ended. */
  adaptive: LiveDelayView | null;
}

export interface LiveSiteRecord {
  siteId: string;
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fecRecovered: number;
  played: number;
  bufferLevelMs: number;
  marks: number;
  clockUncertaintyMs: number | null;
  final: boolean;
  /** Why the stream ended at this site (from its final report). */
  end: { reason: StreamSiteEndReason; detail: string | null } | null;
  at: number;
  receivedAt: number;
}

interface StreamRow {
  id: number;
  source_kind: AudioSourceKind;
  source_label: string | null;
  source_ref: string | null;
  source_format: 'pcm' | 'webm' | null;
  priority: AudioPriority;
  when_preempted: 'resume' | 'end';
  areas: string;
  delay_ms: number;
  codec: string;
  start_at: number;
  created_by: number | null;
  created_by_name: string;
  started_at: number;
  ended_at: number | null;
  end_reason: LiveEndReason | null;
  end_detail: string | null;
  ended_by: number | null;
  ended_by_name: string | null;
  server_stats: string | null;
  skew: string | null;
  adaptive: string | null;
  area_ids: string | null;
}

interface SiteRow {
  site_id: string;
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fec_recovered: number;
  played: number;
  buffer_level_ms: number;
  marks: number;
  clock_uncertainty_ms: number | null;
  final: number;
  end_reason: StreamSiteEndReason | null;
  end_detail: string | null;
  at: number;
  received_at: number;
}

const SELECT_STREAM = `SELECT s.*, (SELECT json_group_array(area_id) FROM live_stream_areas a WHERE a.stream_id = s.id) AS area_ids FROM live_streams s`;

function toRecord(r: StreamRow): LiveStreamRecord {
  return {
    id: r.id,
    source: { kind: r.source_kind, label: r.source_label, ref: r.source_ref, format: r.source_format },
    priority: r.priority,
    whenPreempted: r.when_preempted,
    areas: JSON.parse(r.areas) as string[],
    areaIds: r.area_ids ? (JSON.parse(r.area_ids) as number[]) : [],
    delayMs: r.delay_ms,
    codec: JSON.parse(r.codec) as AudioStreamStart['codec'],
    startAt: r.start_at,
    createdBy: r.created_by,
    createdByName: r.created_by_name,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
    endDetail: r.end_detail,
    endedBy: r.ended_by,
    endedByName: r.ended_by_name,
    serverStats: r.server_stats ? (JSON.parse(r.server_stats) as LiveStreamStats) : null,
    skew: r.skew ? (JSON.parse(r.skew) as SkewSummary) : null,
    adaptive: r.adaptive ? (JSON.parse(r.adaptive) as LiveDelayView) : null,
  };
}

function toSite(r: SiteRow): LiveSiteRecord {
  return {
    siteId: r.site_id,
    received: r.received,
    late: r.late,
    lost: r.lost,
    concealed: r.concealed,
    fecRecovered: r.fec_recovered,
    played: r.played,
    bufferLevelMs: r.buffer_level_ms,
    marks: r.marks,
    clockUncertaintyMs: r.clock_uncertainty_ms,
    final: r.final === 1,
    end: r.end_reason ? { reason: r.end_reason, detail: r.end_detail } : null,
    at: r.at,
    receivedAt: r.received_at,
  };
}

export interface LiveListQuery {
  limit: number;
  /** Only streams started before this time (epoch ms): the next page. */
  before?: number;
  /** Only streams with a target among these area ids; absent: every stream. */
  areaIds?: readonly number[];
}

export class LiveStreamStore {
  private readonly st: {
    insert: Statement;
    insertArea: Statement;
    exists: Statement;
    end: Statement;
    progress: Statement;
    upsertSite: Statement;
    get: Statement;
    sites: Statement;
    open: Statement;
  };

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.st = {
      insert: db.prepare(`INSERT INTO live_streams (id, source_kind, source_label, source_ref, source_format, priority, when_preempted, areas, delay_ms, codec, start_at,
        created_by, created_by_name, started_at, updated_at) VALUES (@id, @source_kind, @source_label, @source_ref, @source_format, @priority, @when_preempted, @areas,
        @delay_ms, @codec, @start_at, @created_by, @created_by_name, @started_at, @updated_at)`),
      insertArea: db.prepare('INSERT OR IGNORE INTO live_stream_areas (stream_id, area_id) VALUES (?, ?)'),
      exists: db.prepare('SELECT 1 FROM live_streams WHERE id = ?').pluck(),
      end: db.prepare(`UPDATE live_streams SET ended_at = @ended_at, end_reason = @end_reason, end_detail = @end_detail, ended_by = @ended_by, ended_by_name = @ended_by_name,
        server_stats = COALESCE(@server_stats, server_stats), skew = COALESCE(@skew, skew), adaptive = COALESCE(@adaptive, adaptive), updated_at = @updated_at WHERE id = @id AND ended_at IS NULL`),
      progress: db.prepare('UPDATE live_streams SET server_stats = COALESCE(@server_stats, server_stats), skew = COALESCE(@skew, skew), updated_at = @updated_at WHERE id = @id'),
      upsertSite: db.prepare(`INSERT INTO live_stream_sites (stream_id, site_id, received, late, lost, concealed, fec_recovered, played, buffer_level_ms, marks,
        clock_uncertainty_ms, final, end_reason, end_detail, at, received_at) VALUES (@stream_id, @site_id, @received, @late, @lost, @concealed, @fec_recovered, @played, @buffer_level_ms, @marks,
        @clock_uncertainty_ms, @final, @end_reason, @end_detail, @at, @received_at)
        ON CONFLICT (stream_id, site_id) DO UPDATE SET received = excluded.received, late = excluded.late, lost = excluded.lost, concealed = excluded.concealed,
        fec_recovered = excluded.fec_recovered, played = excluded.played, buffer_level_ms = excluded.buffer_level_ms, marks = excluded.marks,
        clock_uncertainty_ms = excluded.clock_uncertainty_ms, final = excluded.final, end_reason = excluded.end_reason, end_detail = excluded.end_detail,
        at = excluded.at, received_at = excluded.received_at
        WHERE excluded.at >= live_stream_sites.at`),
      get: db.prepare(`${SELECT_STREAM} WHERE s.id = ?`),
      sites: db.prepare('SELECT * FROM live_stream_sites WHERE stream_id = ? ORDER BY site_id'),
      open: db.prepare(`${SELECT_STREAM} WHERE s.ended_at IS NULL ORDER BY s.started_at`),
    };
  }

  /** Record a stream as it goes on air. */
  insert(r: Omit<LiveStreamRecord, 'endedAt' | 'endReason' | 'endDetail' | 'endedBy' | 'endedByName' | 'serverStats' | 'skew' | 'adaptive'>): void {
    this.db.transaction(() => {
      this.st.insert.run({
        id: r.id,
        source_kind: r.source.kind,
        source_label: r.source.label,
        source_ref: r.source.ref,
        source_format: r.source.format,
        priority: r.priority,
        when_preempted: r.whenPreempted,
        areas: JSON.stringify(r.areas),
        delay_ms: r.delayMs,
        codec: JSON.stringify(r.codec),
        start_at: r.startAt,
        created_by: r.createdBy,
        created_by_name: r.createdByName,
        started_at: r.startedAt,
        updated_at: this.now(),
      });
      for (const a of r.areaIds) this.st.insertArea.run(r.id, a);
    })();
  }

  exists(id: number): boolean {
    return this.st.exists.get(id) !== undefined;
  }

  /** Close a stream; a stream already closed keeps its first end. Answers whether this call closed it. */
  end(
    id: number,
    e: {
      endedAt: number;
      reason: LiveEndReason;
      detail: string | null;
      by: { id: number | null; name: string } | null;
      serverStats?: LiveStreamStats | null;
      skew?: SkewSummary | null;
      adaptive?: LiveDelayView | null;
    },
  ): boolean {
    const r = this.st.end.run({
      id,
      ended_at: e.endedAt,
      end_reason: e.reason,
      end_detail: e.detail,
      ended_by: e.by?.id ?? null,
      ended_by_name: e.by?.name ?? null,
      server_stats: e.serverStats ? JSON.stringify(e.serverStats) : null,
      skew: e.skew ? JSON.stringify(e.skew) : null,
      adaptive: e.adaptive ? JSON.stringify(e.adaptive) : null,
      updated_at: this.now(),
    });
    return r.changes > 0;
  }

  /**
   * One batch, one transaction: the latest report of each site (a report
   * older than the stored one for that site never replaces it) and the
   * streams' running counters and skew.
   */
  write(batch: { sites: Array<{ streamId: number; site: LiveSiteRecord }>; streams: Array<{ id: number; serverStats: LiveStreamStats | null; skew: SkewSummary | null }> }): void {
    if (batch.sites.length === 0 && batch.streams.length === 0) return;
    const now = this.now();
    this.db.transaction(() => {
      for (const { streamId, site: s } of batch.sites) {
        this.st.upsertSite.run({
          stream_id: streamId,
          site_id: s.siteId,
          received: s.received,
          late: s.late,
          lost: s.lost,
          concealed: s.concealed,
          fec_recovered: s.fecRecovered,
          played: s.played,
          buffer_level_ms: s.bufferLevelMs,
          marks: s.marks,
          clock_uncertainty_ms: s.clockUncertaintyMs,
          final: s.final ? 1 : 0,
          end_reason: s.end?.reason ?? null,
          end_detail: s.end?.detail ?? null,
          at: s.at,
          received_at: s.receivedAt,
        });
      }
      for (const s of batch.streams) {
        this.st.progress.run({ id: s.id, server_stats: s.serverStats ? JSON.stringify(s.serverStats) : null, skew: s.skew ? JSON.stringify(s.skew) : null, updated_at: now });
      }
    })();
  }

  get(id: number): LiveStreamRecord | undefined {
    const r = this.st.get.get(id) as StreamRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  sites(id: number): LiveSiteRecord[] {
    return (this.st.sites.all(id) as SiteRow[]).map(toSite);
  }

  /** Streams recorded as on air (after a restart: those the server went down under). */
  open(): LiveStreamRecord[] {
    return (this.st.open.all() as StreamRow[]).map(toRecord);
  }

  /** Newest first. */
  list(q: LiveListQuery): LiveStreamRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.before !== undefined) {
      where.push('s.started_at < ?');
      params.push(q.before);
    }
    if (q.areaIds) {
      where.push('EXISTS (SELECT 1 FROM live_stream_areas a WHERE a.stream_id = s.id AND a.area_id IN (SELECT value FROM json_each(?)))');
      params.push(JSON.stringify(q.areaIds));
    }
    const sql = `${SELECT_STREAM}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY s.started_at DESC, s.id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit) as StreamRow[]).map(toRecord);
  }
}

/**
 * A relay URL fit to keep and show: scheme, host and path only. Credentials
 * (user:password@), a query (often ?token=…) and a fragment are dropped.
 */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'relay';
  }
}
