/**
 * Live streams in the store (migration 7), on either dialect: the record of
 * every broadcast — who, what, where, when, how it ended — and what each
 * site reported playing it, so "which villages heard it" has an answer after
 * the stream, and after a restart. Site reports come in batches (the service
 * coalesces them and writes one batch at a time: record-writer.ts).
 *
 * The writes two requests (or two servers on one PostgreSQL) could race are
 * decided by the database: a stream's id is taken by its INSERT (the primary
 * key; a taken id answers false and the caller draws another), and a stream
 * ends once (an UPDATE only while ended_at IS NULL; the second is told no).
 *
 * Several servers (migration 31): each stream names the server that runs it
 * (`owner`, the cluster's instance id) and until when that server vouched
 * for it (`owner_until`, the database's clock), renewed while it is on air.
 * A stream whose owner stopped renewing is an orphan the live lease's holder
 * closes; a stop asked through another server is written on the row for the
 * owner to carry out.
 */
import { type Kysely, type Selectable, sql } from 'kysely';
import { databaseNowMs, type StoreDialect } from '../store/database.ts';
import type { AudioPriority, AudioSourceKind, AudioStreamStart, StreamSiteEndReason } from '../../protocol/index.ts';
import type { Database, LiveStreamSitesTable, LiveStreamsTable } from '../store/schema.ts';
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

type StreamRow = Selectable<LiveStreamsTable>;
type SiteRow = Selectable<LiveStreamSitesTable>;

/** Rows per multi-row upsert of site reports: 16 columns each, well under either dialect's limit on bound parameters. */
const SITE_CHUNK = 500;

function toRecord(r: StreamRow, areaIds: number[]): LiveStreamRecord {
  return {
    id: r.id,
    source: { kind: r.source_kind, label: r.source_label, ref: r.source_ref, format: r.source_format as 'pcm' | 'webm' | null },
    priority: r.priority as AudioPriority,
    whenPreempted: r.when_preempted,
    areas: JSON.parse(r.areas) as string[],
    areaIds,
    delayMs: r.delay_ms,
    codec: JSON.parse(r.codec) as AudioStreamStart['codec'],
    startAt: r.start_at,
    createdBy: r.created_by,
    createdByName: r.created_by_name,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    endReason: r.end_reason as LiveEndReason | null,
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
    end: r.end_reason ? { reason: r.end_reason as StreamSiteEndReason, detail: r.end_detail } : null,
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

export type NewLiveStream = Omit<LiveStreamRecord, 'endedAt' | 'endReason' | 'endDetail' | 'endedBy' | 'endedByName' | 'serverStats' | 'skew' | 'adaptive'>;

export interface LiveStreamEnd {
  endedAt: number;
  reason: LiveEndReason;
  detail: string | null;
  by: { id: number | null; name: string } | null;
  serverStats?: LiveStreamStats | null;
  skew?: SkewSummary | null;
  adaptive?: LiveDelayView | null;
}

export interface LiveRecordBatch {
  sites: Array<{ streamId: number; site: LiveSiteRecord }>;
  streams: Array<{ id: number; serverStats: LiveStreamStats | null; skew: SkewSummary | null }>;
}

/** This server as the owner of the streams it starts. Absent (a lone server in a test): streams are recorded without one. */
export interface LiveOwnership {
  dialect: StoreDialect;
  /** The cluster's instance id. */
  owner: string;
  /** How long past the database's now a start or a renewal vouches for a stream. */
  ttlMs: number;
}

/** A stop asked through another server, waiting on the row for the stream's owner. */
export interface LiveStopRequest {
  id: number;
  /** The person who asked (a user: the stop route always has one). */
  by: { id: number; name: string };
}

export class LiveStreamStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    private readonly ownership?: LiveOwnership,
  ) {}

  private ownedUntil() {
    const o = this.ownership!;
    return sqlPlus(databaseNowMs(o.dialect), o.ttlMs);
  }

  /**
   * Record a stream as it goes on air, with its target areas, in one
   * transaction. Answers false when the id is taken (by a stream of the
   * record, or one another server started at the same moment): nothing is
   * written, and the caller draws another id.
   */
  async insert(r: NewLiveStream): Promise<boolean> {
    return this.db.transaction().execute((trx) => this.insertIn(trx, r));
  }

  /**
   * Record a stream as `insert` does, unless `clash` names one of the streams
   * on air in its way that another server runs and still vouches for (a dead
   * server's stream is being closed: it holds nothing). This server's own are
   * not asked: its memory knows them better than the record, whose end of a
   * stream is written a moment after the stream left memory, and a stop
   * followed at once by a new start must not be refused by it. PostgreSQL: under a
   * transaction-scoped advisory lock, so two servers starting over the same
   * area at the same moment are taken one after the other and the second
   * sees the first. SQLite: one server, one connection, one transaction at a
   * time.
   */
  async insertUnlessClash<C>(r: NewLiveStream, clash: (onAir: LiveStreamRecord[]) => C | undefined): Promise<{ inserted: boolean; clash?: C }> {
    return this.db.transaction().execute(async (trx) => {
      const dialect = this.ownership?.dialect ?? 'sqlite';
      if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext('loanet.live.start.' || current_schema()))`.execute(trx);
      const rows = await trx
        .selectFrom('live_streams')
        .selectAll()
        .where('ended_at', 'is', null)
        .where('owner', '!=', this.ownership?.owner ?? '')
        .where('owner_until', '>=', databaseNowMs(dialect))
        .execute();
      const found = clash(await this.withAreas(rows, trx));
      if (found !== undefined) return { inserted: false, clash: found };
      return { inserted: await this.insertIn(trx, r) };
    });
  }

  private async insertIn(trx: Kysely<Database>, r: NewLiveStream): Promise<boolean> {
    const res = await trx
      .insertInto('live_streams')
      .values({
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
        ...(this.ownership ? { owner: this.ownership.owner, owner_until: this.ownedUntil() } : {}),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    if (!res.numInsertedOrUpdatedRows) return false;
    const areaIds = [...new Set(r.areaIds)];
    if (areaIds.length > 0)
      await trx
        .insertInto('live_stream_areas')
        .values(areaIds.map((a) => ({ stream_id: r.id, area_id: a })))
        .execute();
    return true;
  }

  async exists(id: number): Promise<boolean> {
    return (await this.db.selectFrom('live_streams').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
  }

  /** Close a stream; a stream already closed keeps its first end. Answers whether this call closed it. */
  async end(id: number, e: LiveStreamEnd): Promise<boolean> {
    const r = await this.db
      .updateTable('live_streams')
      .set((eb) => ({
        ended_at: e.endedAt,
        end_reason: e.reason,
        end_detail: e.detail,
        ended_by: e.by?.id ?? null,
        ended_by_name: e.by?.name ?? null,
        server_stats: e.serverStats ? JSON.stringify(e.serverStats) : eb.ref('server_stats'),
        skew: e.skew ? JSON.stringify(e.skew) : eb.ref('skew'),
        adaptive: e.adaptive ? JSON.stringify(e.adaptive) : eb.ref('adaptive'),
        updated_at: this.now(),
      }))
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /**
   * One batch, one transaction: the latest report of each site (a report
   * older than the stored one for that site never replaces it) and the
   * streams' running counters and skew.
   */
  async write(batch: LiveRecordBatch): Promise<void> {
    if (batch.sites.length === 0 && batch.streams.length === 0) return;
    // One row per stream and site: PostgreSQL refuses an upsert that touches a row twice.
    const latest = new Map<string, { streamId: number; site: LiveSiteRecord }>();
    for (const s of batch.sites) {
      const key = `${s.streamId}/${s.site.siteId}`;
      const prev = latest.get(key);
      if (!prev || prev.site.at <= s.site.at) latest.set(key, s);
    }
    const rows = [...latest.values()].map(({ streamId, site: s }) => ({
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
    }));
    const now = this.now();
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += SITE_CHUNK) {
        await trx
          .insertInto('live_stream_sites')
          .values(rows.slice(i, i + SITE_CHUNK))
          .onConflict((oc) =>
            oc
              .columns(['stream_id', 'site_id'])
              .doUpdateSet((eb) => ({
                received: eb.ref('excluded.received'),
                late: eb.ref('excluded.late'),
                lost: eb.ref('excluded.lost'),
                concealed: eb.ref('excluded.concealed'),
                fec_recovered: eb.ref('excluded.fec_recovered'),
                played: eb.ref('excluded.played'),
                buffer_level_ms: eb.ref('excluded.buffer_level_ms'),
                marks: eb.ref('excluded.marks'),
                clock_uncertainty_ms: eb.ref('excluded.clock_uncertainty_ms'),
                final: eb.ref('excluded.final'),
                end_reason: eb.ref('excluded.end_reason'),
                end_detail: eb.ref('excluded.end_detail'),
                at: eb.ref('excluded.at'),
                received_at: eb.ref('excluded.received_at'),
              }))
              .where((eb) => eb('excluded.at', '>=', eb.ref('live_stream_sites.at'))),
          )
          .execute();
      }
      for (const s of batch.streams) {
        await trx
          .updateTable('live_streams')
          .set((eb) => ({
            server_stats: s.serverStats ? JSON.stringify(s.serverStats) : eb.ref('server_stats'),
            skew: s.skew ? JSON.stringify(s.skew) : eb.ref('skew'),
            updated_at: now,
          }))
          .where('id', '=', s.id)
          .execute();
      }
    });
  }

  async get(id: number): Promise<LiveStreamRecord | undefined> {
    const r = await this.db.selectFrom('live_streams').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? (await this.withAreas([r]))[0] : undefined;
  }

  async sites(id: number): Promise<LiveSiteRecord[]> {
    return (await this.db.selectFrom('live_stream_sites').selectAll().where('stream_id', '=', id).orderBy('site_id').execute()).map(toSite);
  }

  /** Vouches again for every stream this server runs; answers how many rows it renewed. */
  async renew(): Promise<number> {
    if (!this.ownership) return 0;
    const r = await this.db
      .updateTable('live_streams')
      .set({ owner_until: this.ownedUntil() })
      .where('owner', '=', this.ownership.owner)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Asks the server that runs a stream to stop it; false when it is no longer on air. */
  async requestStop(id: number, by: { id: number; name: string }): Promise<boolean> {
    const r = await this.db
      .updateTable('live_streams')
      .set({ stop_requested_at: this.now(), stop_requested_by: by.id, stop_requested_name: by.name })
      .where('id', '=', id)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  /** The stops asked, through any server, of the streams this server runs. */
  async stopRequests(): Promise<LiveStopRequest[]> {
    if (!this.ownership) return [];
    const rows = await this.db
      .selectFrom('live_streams')
      .select(['id', 'stop_requested_by', 'stop_requested_name'])
      .where('owner', '=', this.ownership.owner)
      .where('ended_at', 'is', null)
      .where('stop_requested_at', 'is not', null)
      .where('stop_requested_by', 'is not', null)
      .execute();
    return rows.map((r) => ({ id: r.id, by: { id: r.stop_requested_by!, name: r.stop_requested_name ?? '' } }));
  }

  /** Streams on air whose server stopped vouching for them (or that never named one): nobody sends their frames. */
  async orphans(): Promise<LiveStreamRecord[]> {
    const dialect = this.ownership?.dialect ?? 'sqlite';
    return this.withAreas(
      await this.db
        .selectFrom('live_streams')
        .selectAll()
        .where('ended_at', 'is', null)
        .where((eb) => eb.or([eb('owner_until', 'is', null), eb('owner_until', '<', databaseNowMs(dialect))]))
        .orderBy('started_at')
        .orderBy('id')
        .execute(),
    );
  }

  /** Whether a stream is on air in the record (started by any server, not ended). */
  async isOpen(id: number): Promise<boolean> {
    return (await this.db.selectFrom('live_streams').select('id').where('id', '=', id).where('ended_at', 'is', null).executeTakeFirst()) !== undefined;
  }

  /** Streams recorded as on air (after a restart: those the server went down under). */
  async open(): Promise<LiveStreamRecord[]> {
    return this.withAreas(await this.db.selectFrom('live_streams').selectAll().where('ended_at', 'is', null).orderBy('started_at').orderBy('id').execute());
  }

  /** Newest first. */
  async list(q: LiveListQuery): Promise<LiveStreamRecord[]> {
    let query = this.db.selectFrom('live_streams as s').selectAll('s');
    if (q.before !== undefined) query = query.where('s.started_at', '<', q.before);
    const areaIds = q.areaIds;
    if (areaIds) {
      if (areaIds.length === 0) return [];
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('live_stream_areas as a')
            .select('a.area_id')
            .whereRef('a.stream_id', '=', 's.id')
            .where('a.area_id', 'in', [...areaIds]),
        ),
      );
    }
    return this.withAreas(await query.orderBy('s.started_at', 'desc').orderBy('s.id', 'desc').limit(q.limit).execute());
  }

  /** The records of these rows, each with its target area ids (one query for them all). */
  private async withAreas(rows: StreamRow[], db: Kysely<Database> = this.db): Promise<LiveStreamRecord[]> {
    if (rows.length === 0) return [];
    const areas = await db
      .selectFrom('live_stream_areas')
      .select(['stream_id', 'area_id'])
      .where(
        'stream_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('stream_id')
      .orderBy('area_id')
      .execute();
    const of = new Map<number, number[]>();
    for (const a of areas) {
      const list = of.get(a.stream_id);
      if (list) list.push(a.area_id);
      else of.set(a.stream_id, [a.area_id]);
    }
    return rows.map((r) => toRecord(r, of.get(r.id) ?? []));
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

/** `expr + ms`, evaluated by the database. */
function sqlPlus(expr: ReturnType<typeof databaseNowMs>, ms: number) {
  return sql<number>`${expr} + ${Math.round(ms)}`;
}
