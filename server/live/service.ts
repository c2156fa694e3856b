/**
 * Live streams on the server: start one from a source (a browser's voice, a
 * relayed radio URL, a media item), publish its frames to the audio channel
 * of every target area, tell the sites what it is, stop it, and gather what
 * the sites report about playing it.
 *
 * This module owns a stream's life from start to end. What goes on the wire,
 * and each area's retained slot, is publisher.ts's; what a stream looks like
 * to readers (live or from the record) is views.ts's; how long its delay is
 * and how it is raised, adaptive-delay.ts's (over delay-budget.ts); what the
 * sites report, site-reports.ts's; the order of the writes to the record,
 * record-writer.ts's; other servers' streams, across-servers.ts's. A receiver tells the JSON start on an audio channel
 * from a binary frame by the first byte ('{' vs 'L').
 *
 * Two streams of the same priority on overlapping areas are refused (409):
 * each site would keep the first and refuse the second anyway
 * (edge-agent/playout/timeline.ts: at equal priority the one on air keeps the site), and the second operator is better
 * told at once who is on air. Different priorities may overlap: each site
 * lets the higher pre-empt the lower. A stream being started (its record
 * being written) counts as on air for this check, so two starts at once
 * cannot both pass it.
 *
 * The record (server/live/store.ts, migration 7), on SQLite or PostgreSQL.
 * Every stream is written when it starts (its INSERT takes its id: a taken
 * one, by the record or another server at the same moment, draws another)
 * and when it ends (who, what, where, how it ended; once: a stop racing the
 * source's end, or another server's recover(), ends it in the record once,
 * and only the end that did is audited), and the latest stream_stats of
 * each site with it, coalesced: reports are kept in memory and upserted in
 * one transaction every `flushMs`, never per message, one write at a time.
 * A restart cannot carry a stream on (a relay's ffmpeg and a browser's
 * socket die with the process): a graceful stop ends them as
 * `server_shutdown`; after a crash, `recover()` at the next start closes
 * every stream still recorded on air as `server_restart`, sends its
 * stream_stop and clears its retained start (an external broker keeps
 * retained messages across the restart, and its sites would wait on a
 * stream nobody sends). On the wire both are reason `error` with the cause
 * in `detail`. Ended streams stay in memory for `keepEnded` of them (late
 * final reports still count); older ones are read from the store.
 */
import { randomInt } from 'node:crypto';
import {
  frameStreamId,
  PROTOCOL_VERSION,
  type AudioPriority,
  type AudioStopReason,
  type AudioStreamStart,
  type AudioStreamStop,
  type StreamStatsEvent,
} from '../../protocol/index.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { AuditLog } from '../audit.ts';
import { Errors, fail } from '../errors.ts';
import { LiveStream, type PcmSource } from './live-stream.ts';
import { SkewTracker } from './skew.ts';
export type { LiveDelayView } from './delay-budget.ts';
import { publicUrl, type LiveEndReason, type LiveStreamStore } from './store.ts';
import { logSafe } from '../log-safe.ts';
import { firstClash, liveBusy, outermost, type StreamAreas } from './area-overlap.ts';
export { outermost } from './area-overlap.ts';
import { LivePublisher } from './publisher.ts';
import { LiveSiteReports, type RecordStats } from './site-reports.ts';
import { LiveRecordWriter } from './record-writer.ts';
import { LiveAcrossServers } from './across-servers.ts';
import { AdaptiveDelay } from './adaptive-delay.ts';
import { liveView, newRecord, onAir, type Entry } from './entry.ts';
import { defaultLabel, recordView, redactUrl, siteView, type LiveDelayPreview, type LiveSiteView, type LiveStreamDetail, type LiveStreamView } from './views.ts';
import { siteNeededDelayMs } from './delay-budget.ts';

export type { LiveEndReason } from './store.ts';
export type { LiveDelayPreview, LiveSiteTotals, LiveSiteView, LiveStreamDetail, LiveStreamView } from './views.ts';
export { redactUrl } from './views.ts';
import { DEFAULT_LIVE_CONFIG, type LiveActor, type LiveArea, type LiveConfig, type LiveStartInput } from './model.ts';

/** A stream started, ended or slowed, with the areas it targets (for who may hear of it). */
export interface LiveChange {
  kind: 'started' | 'ended' | 'delay_raised';
  streamId: number;
  at: number;
  areaIds: number[];
}

/** Ids drawn for one stream before giving up: each draw collides with a stored id with odds of a few in 4 billion. */
const MAX_ID_DRAWS = 20;

export interface LiveServiceDeps {
  broker: BrokerLink;
  audit: AuditLog;
  log: Logger;
  /** The server clock (never a frozen test clock: frames are paced on it). */
  now(): number;
  config?: Partial<LiveConfig>;
  /** Ids of a site's area and its ancestors: only sites a stream targets may report on it. */
  areaPathOfSite?: (siteId: string) => readonly number[] | undefined;
  /** The record of streams and site reports; absent (unit tests), streams live in memory only. */
  store?: LiveStreamStore;
  /** Draws a candidate stream id (u32, not 0); tests give a fixed sequence to make two servers collide. */
  drawId?: () => number;
  /**
   * No other server shares the store (SQLite; the default): at start every
   * stream still recorded on air is this server's, left by its last run, and
   * is closed at once. False (PostgreSQL): only orphans are (their owner
   * stopped vouching for them), and streams other servers run are listed.
   */
  soleServer?: boolean;
  /** Ids of an area and its ancestors: to see whether another server's stream (known by its area ids) overlaps a new one. */
  areaPath?: (areaId: number) => readonly number[];
  /** How often this server vouches for its streams and reads the stops asked through other servers (ms; the store's ownership TTL / 3). */
  ownerTickMs?: number;
}

/** A stream between its checks and its record: it holds its areas against another start of its priority. */
type Starting = StreamAreas;

export class LiveService {
  private readonly cfg: LiveConfig;
  private readonly live = new Map<number, Entry>();
  private readonly ended: Entry[] = [];
  private readonly starting = new Set<Starting>();
  /** The wire: starts, stops, frames, re-announcements and each area's retained slot. */
  private readonly wire: LivePublisher;
  private announceTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private ownerTimer: NodeJS.Timeout | undefined;
  /** The sites' reports, for the record (streams closed by recover() included). */
  private readonly reports: LiveSiteReports;
  /** The record's writes, one at a time, in order. */
  private readonly writer: LiveRecordWriter;
  /** A flush asked for and not begun: another ask joins it. */
  private queuedFlush: Promise<boolean> | undefined;
  private readonly delays: AdaptiveDelay;
  /** This server's streams among other servers': vouching, stops asked elsewhere, orphans. */
  private readonly across: LiveAcrossServers;
  /** Who hears of streams starting, ending and being slowed (the console's event stream). */
  private readonly listeners = new Set<(ch: LiveChange) => void>();

  constructor(private readonly deps: LiveServiceDeps) {
    this.cfg = { ...DEFAULT_LIVE_CONFIG, ...deps.config };
    this.wire = new LivePublisher({ broker: deps.broker, log: deps.log, now: deps.now, onAir: () => [...this.live.values()].map(onAir) });
    this.reports = new LiveSiteReports({ store: deps.store, now: deps.now, areaPathOfSite: deps.areaPathOfSite, keep: this.cfg.keepEnded });
    this.writer = new LiveRecordWriter(deps.log);
    this.across = new LiveAcrossServers({
      store: deps.store,
      now: deps.now,
      log: deps.log,
      audit: deps.audit,
      reports: this.reports,
      wire: this.wire,
      ownerTickMs: deps.ownerTickMs,
      areaPath: deps.areaPath,
      running: (id) => this.live.get(id),
      finish: (e, by) => this.finish(e, 'operator', `stopped by ${by.username}`, by),
    });
    this.delays = new AdaptiveDelay({
      cfg: this.cfg,
      log: deps.log,
      now: deps.now,
      areaPathOfSite: deps.areaPathOfSite,
      announce: (e) => this.wire.sendStart(onAir(e)),
    });
  }

  /**
   * At server start, before any stream: close every stream the store still
   * has on air (the server went down under it) as `server_restart`, tell its
   * areas `stream_stop`, and clear the start their audio channels retain.
   * Resolves when the broker took every message; a refused publish (the
   * broker link not up yet) is tried again a few times.
   */
  async recover(opts: { retries?: number; retryMs?: number } = {}): Promise<number[]> {
    const store = this.deps.store;
    if (!store) return [];
    if (this.deps.soleServer === false) return this.across.closeOrphans(opts);
    return this.across.closeLeftOver(await store.open(), 'server_restart', opts);
  }

  /**
   * Several servers: close every stream on air whose server stopped vouching
   * for it (it died, or lost the database): nobody sends its frames any more.
   * Run by the live lease's holder, and at start.
   */
  closeOrphans(opts: { retries?: number; retryMs?: number } = {}): Promise<number[]> {
    return this.across.closeOrphans(opts);
  }

  /**
   * The periodic work, once recover() has run: each area's live streams
   * announced again (a site that connects late learns what is on air), and
   * the sites' reports written in batches.
   */
  startTimers(): void {
    if (this.announceTimer || this.flushTimer) return;
    if (this.cfg.announceMs > 0) {
      this.announceTimer = setInterval(() => this.wire.announce(), this.cfg.announceMs);
      this.announceTimer.unref();
    }
    if (this.deps.store) {
      // A failed write is logged and counted by the writer; its reports stay marked for the next.
      this.flushTimer = setInterval(() => void this.flush(), this.cfg.flushMs);
      this.flushTimer.unref();
    }
    if (this.deps.store && this.deps.ownerTickMs) {
      this.ownerTimer = setInterval(() => {
        if (this.live.size === 0) return;
        this.across.ownerTick().catch((err: unknown) => this.deps.log.error({ err }, 'live streams: vouching for this server’s streams failed; retried next tick'));
      }, this.deps.ownerTickMs);
      this.ownerTimer.unref();
    }
  }

  /**
   * The areas a stream would go to (the outermost), or the refusal it would
   * get: no area, or a stream of the same priority on air over them (or
   * being started). Called by start(), and before a relay's source is tried
   * (which takes seconds).
   */
  refuseOverlap(targets: readonly LiveArea[], priority: AudioPriority): LiveArea[] {
    const areas = outermost(targets);
    if (areas.length === 0) throw fail('LOANET_TARGET_REQUIRED', { field: 'areas' });
    const others: Starting[] = [
      ...[...this.live.values()].map((o) => ({ id: o.id, priority: o.input.priority, areas: o.input.areas, label: o.start.source.label ?? o.input.source.kind })),
      ...this.starting,
    ];
    const clash = firstClash(areas, priority, others);
    if (clash) throw liveBusy(clash, priority);
    return areas;
  }

  /**
   * Start a stream. `attach` wires the source to the stream (spawn ffmpeg,
   * take a socket) and returns it; it is called after the checks and once
   * the stream is recorded, so a refused stream never spawns anything.
   */
  async start(input: LiveStartInput, attach: (stream: LiveStream, end: (reason: AudioStopReason, detail?: string) => void) => PcmSource): Promise<LiveStreamView> {
    const areas = this.refuseOverlap(input.areas, input.priority);
    const label = input.label ?? defaultLabel(input.source, input.actor);
    const held: Starting = { id: null, priority: input.priority, areas, label };
    this.starting.add(held);
    let entry: Entry;
    try {
      entry = await this.record(input, areas, label, held);
    } finally {
      this.starting.delete(held);
    }
    const e = entry;
    this.live.set(e.id, e);
    this.wire.sendStart(onAir(e));
    const source = attach(e.stream, (reason, detail) => void this.finish(e, reason, detail, null));
    e.source = source;
    if (e.endedAt === null) e.stream.start(source);
    else source.close();
    this.deps.audit.recordDetached(input.actor, 'live.start', String(e.id), {
      source: input.source.kind,
      ...(input.source.kind === 'relay' ? { url: publicUrl(input.source.url) } : {}),
      ...(input.source.kind === 'media' ? { mediaId: input.source.mediaId } : {}),
      areas: e.start.areas,
      priority: input.priority,
      label,
    });
    if (e.endedAt === null) this.emit(e, 'started', e.startedAt);
    return this.view(e);
  }

  /**
   * The stream, made and recorded under an id of its own: drawn apart from
   * the streams in memory (their late frames must stay apart at the sites),
   * and taken by the record's INSERT, so a stored stream's statistics never
   * mix with a new one's and two servers never start the same id.
   */
  private async record(input: LiveStartInput, areas: LiveArea[], label: string, held: Starting): Promise<Entry> {
    const store = this.deps.store;
    for (let draw = 0; draw < MAX_ID_DRAWS; draw++) {
      const id = this.drawId();
      held.id = id;
      const e = this.prepare(id, input, areas, label);
      // Recorded before anything goes out: a crash from here on leaves a row that recover() closes.
      if (!store) return e;
      // On a shared store other servers' streams are not in memory here: the record is asked as the stream is inserted.
      if (await (this.deps.soleServer === false ? this.across.insertUnlessBusy(newRecord(e), areas, input.priority) : store.insert(newRecord(e)))) return e;
    }
    throw new Error(`no free live stream id after ${MAX_ID_DRAWS} draws`);
  }

  private prepare(id: number, input: LiveStartInput, areas: LiveArea[], label: string): Entry {
    const now = this.deps.now();
    const packetsPerMessage = input.packetsPerMessage ?? this.cfg.packetsPerMessage;
    const choice = this.delays.choose(areas, input, packetsPerMessage);
    const delayMs = choice.delayMs;
    const bitrate = input.bitrate ?? this.cfg.bitrate;
    const areaKeys = areas.map((a) => a.key);
    const ref: { e?: Entry } = {};
    const stream = new LiveStream(
      {
        streamId: id,
        createdAtMs: now,
        delayMs,
        packetsPerMessage,
        markerEvery: this.cfg.markerEvery,
        encoder: { bitrate, fec: true, expectedLossPct: this.cfg.expectedLossPct, signal: input.source.kind === 'browser' ? 'voice' : 'auto' },
        paced: input.source.kind !== 'browser',
      },
      {
        now: this.deps.now,
        publish: (m) => this.wire.publishFrame(areaKeys, m),
        ended: (reason, detail) => void this.finish(ref.e!, reason, detail, null),
      },
    );
    const start: AudioStreamStart = {
      v: PROTOCOL_VERSION,
      type: 'stream_start',
      streamId: id,
      codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage, bitrate, fec: stream.fec },
      priority: input.priority,
      areas: areaKeys,
      source: { kind: input.source.kind, label: label.slice(0, 120) },
      delayMs,
      whenPreempted: input.whenPreempted ?? (input.source.kind === 'browser' ? 'end' : 'resume'),
      startAt: stream.startAtMs,
      at: now,
    };
    ref.e = {
      id,
      stream,
      input: { ...input, areas },
      areaKeys,
      start,
      startedAt: now,
      endedAt: null,
      endReason: null,
      endDetail: null,
      endedBy: null,
      reports: new Map(),
      skew: new SkewTracker(),
      finalStats: null,
      dirty: new Set(),
      ceilingMs: choice.ceilingMs,
      initialDelayMs: delayMs,
      raises: [],
      lastRaiseAt: -Infinity,
      links: new Map(),
    };
    return ref.e;
  }

  /**
   * What a stream to these areas would start with: its delay from the
   * targeted sites' last measured links, the ceiling it may be raised to
   * while it plays, and the sites whose link needs more than that ceiling.
   */
  previewDelay(areas: readonly LiveArea[], o: { delayMs?: number; maxDelayMs?: number; packetsPerMessage?: number } = {}): LiveDelayPreview {
    return this.delays.preview(outermost(areas), o);
  }

  /** Hear of every stream started, ended or slowed; returns the unsubscribe. */
  listen(fn: (ch: LiveChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: Entry, kind: LiveChange['kind'], at: number): void {
    const ch: LiveChange = { kind, streamId: e.id, at, areaIds: e.input.areas.map((a) => a.id) };
    for (const fn of this.listeners) {
      try {
        fn(ch);
      } catch (err) {
        // A reader's failure (a console's socket) must not stop a stream or another reader.
        this.deps.log.error({ err, streamId: e.id }, 'a live stream listener failed');
      }
    }
  }

  /**
   * Stop a live stream by a person; resolves once its end is recorded (or
   * failed to be, logged). A stream another server runs is asked to stop
   * through the record and waited for (its owner reads the ask every
   * `ownerTickMs`); one whose owner died is closed by the live lease's holder.
   */
  async stop(id: number, actor: LiveActor): Promise<LiveStreamView> {
    const e = this.live.get(id);
    if (!e) {
      const store = this.deps.store;
      if (store && !this.ended.some((x) => x.id === id) && (await store.requestStop(id, { id: actor.id, name: actor.username }))) return this.across.awaitStop(id);
      if (this.ended.some((x) => x.id === id) || (await this.deps.store?.exists(id))) throw fail('LOANET_STREAM_ENDED', { id: String(id) });
      throw Errors.notFound('live_stream', id);
    }
    await this.finish(e, 'operator', `stopped by ${actor.username}`, actor);
    return this.view(e);
  }

  /** The streams on air now, newest first (memory only: what this server plays). */
  onAir(q: { limit?: number; areaIds?: ReadonlySet<number> } = {}): LiveStreamView[] {
    return this.fromMemory([...this.live.values()], { limit: q.limit ?? 100, ...(q.areaIds ? { areaIds: q.areaIds } : {}) });
  }

  private fromMemory(entries: Entry[], q: { limit: number; before?: number; areaIds?: ReadonlySet<number> }): LiveStreamView[] {
    const seen = (ids: readonly number[]) => !q.areaIds || ids.some((id) => q.areaIds!.has(id));
    return entries
      .filter((e) => seen(e.input.areas.map((a) => a.id)) && (q.before === undefined || e.startedAt < q.before))
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, q.limit)
      .map((e) => this.view(e));
  }

  /**
   * Streams newest first: on air and past. With a store, past streams come
   * from it (paged by `before`, a start time); without one, from memory.
   * `areaIds`: only streams with a target among these areas (the caller's scope).
   */
  async list(q: { state?: 'live' | 'all'; limit?: number; before?: number; areaIds?: ReadonlySet<number> } = {}): Promise<{ streams: LiveStreamView[]; next: number | null }> {
    const limit = q.limit ?? 100;
    const store = this.deps.store;
    if (q.state === 'live' || !store) {
      const mem = q.state === 'live' ? [...this.live.values()] : [...this.live.values(), ...[...this.ended].reverse()];
      let streams = this.fromMemory(mem, { limit, ...(q.before !== undefined ? { before: q.before } : {}), ...(q.areaIds ? { areaIds: q.areaIds } : {}) });
      if (q.state === 'live' && this.deps.soleServer === false) {
        streams = [...streams, ...(await this.across.othersOnAir(q))].sort((a, b) => b.startedAt - a.startedAt).slice(0, limit);
      }
      return { streams, next: streams.length === limit ? streams[streams.length - 1]!.startedAt : null };
    }
    const rows = await store.list({ limit, ...(q.before !== undefined ? { before: q.before } : {}), ...(q.areaIds ? { areaIds: [...q.areaIds] } : {}) });
    const streams: LiveStreamView[] = [];
    for (const r of rows) {
      const e = this.entry(r.id);
      streams.push(e ? this.view(e) : recordView(r, await store.sites(r.id)));
    }
    return { streams, next: rows.length === limit ? rows[rows.length - 1]!.startedAt : null };
  }

  /** One stream with each site's latest report: from memory while on air or recently ended, else from the store. */
  async get(id: number): Promise<LiveStreamDetail | undefined> {
    const e = this.entry(id);
    if (e) {
      const budget = this.delays.budget(e.start.codec.packetsPerMessage);
      const siteReports = [...e.reports].map(([siteId, r]): LiveSiteView => {
        const l = e.links.get(siteId);
        return { ...siteView(siteId, r), ...(l ? { link: { ...l, neededMs: siteNeededDelayMs(l.transitP99Ms, budget) } } : {}) };
      });
      return { ...this.view(e), siteReports: siteReports.sort((a, b) => a.siteId.localeCompare(b.siteId)) };
    }
    const store = this.deps.store;
    const r = await store?.get(id);
    if (!store || !r) return undefined;
    const sites = await store.sites(id);
    return { ...recordView(r, sites), siteReports: sites.map(({ siteId, ...rest }) => ({ siteId, ...rest })) };
  }

  /** A stream this server holds in memory (on air, or among the last ended), without reading the store: for a synchronous lookup. */
  recent(id: number): LiveStreamView | undefined {
    const e = this.entry(id);
    return e ? this.view(e) : undefined;
  }

  /** Can `actor` stop/see this stream: the areas it targets (for the route's scope check). */
  areasOf(id: number): LiveArea[] | undefined {
    return this.entry(id)?.input.areas;
  }

  /** Ids of the areas of a stream on air that this server does not run (another server does, or did until it died). */
  async areaIdsElsewhere(id: number): Promise<number[] | undefined> {
    const store = this.deps.store;
    if (!store || this.entry(id) || !(await store.isOpen(id))) return undefined;
    return (await store.get(id))?.areaIds;
  }

  /** Ids of the areas a stream (live or past) targets. */
  async areaIdsOf(id: number): Promise<number[] | undefined> {
    return this.entry(id)?.input.areas.map((a) => a.id) ?? (await this.deps.store?.get(id))?.areaIds;
  }

  /** A site's stream_stats event (already validated at the ingest boundary). */
  onStats(siteId: string, ev: StreamStatsEvent): void {
    const e = this.entry(ev.streamId);
    if (!this.reports.accept(siteId, ev, e) || !e) return;
    if (ev.transit && this.delays.measured(e, siteId, ev.transit, ev.behind ?? false)) this.emit(e, 'delay_raised', e.lastRaiseAt);
  }

  /**
   * Write the sites' reports and the streams' counters to the store
   * (site-reports.ts: LiveSiteReports.flush), after every write asked for
   * before. Resolves true when written (or nothing to write), false when
   * the write failed (logged and counted; the reports go with the next).
   */
  flush(): Promise<boolean> {
    if (this.queuedFlush) return this.queuedFlush;
    const queued = this.writer.run('writing live stream statistics failed', {}, async () => {
      // Begun: a flush asked for from now on must take what arrives from now on.
      this.queuedFlush = undefined;
      await this.reports.flush([...this.live.values(), ...this.ended]);
    });
    this.queuedFlush = queued;
    return queued;
  }

  /**
   * How the record keeps up: site reports accepted, transactions written,
   * site rows upserted, failed writes; reports of streams gone from memory
   * (or closed by the restart) still waiting for a write; writes queued.
   */
  recordStats(): RecordStats & { waiting: number; queued: number } {
    return { ...this.reports.stats(), waiting: this.reports.waiting(), queued: this.writer.stats().pending };
  }

  /** End every live stream (server shutdown), and write what is left; resolves once the record has it. */
  async close(): Promise<void> {
    clearInterval(this.announceTimer);
    clearInterval(this.flushTimer);
    clearInterval(this.ownerTimer);
    this.announceTimer = this.flushTimer = this.ownerTimer = undefined;
    await Promise.all([...this.live.values()].map((e) => this.finish(e, 'server_shutdown', 'server shutting down', null)));
    await this.flush();
    await this.writer.idle();
  }

  private entry(id: number): Entry | undefined {
    return this.live.get(id) ?? this.ended.find((x) => x.id === id);
  }

  /**
   * End a stream: at once in memory and on the wire (the first end wins;
   * a later one is a no-op), then in the record, after the writes before
   * it. Resolves once the record has it (or the write failed, logged).
   */
  private finish(e: Entry, reason: LiveEndReason, detail: string | undefined, actor: LiveActor | null): Promise<void> {
    if (e.endedAt !== null) return Promise.resolve();
    const endedAt = this.deps.now();
    e.endedAt = endedAt;
    // ffmpeg's error names the URL it read: a relay's credentials must not reach the record, the log or the sites.
    if (detail !== undefined && e.input.source.kind === 'relay') detail = redactUrl(detail, e.input.source.url);
    e.endReason = reason;
    e.endDetail = detail ?? null;
    e.endedBy = actor?.username ?? null;
    e.stream.finish();
    e.finalStats = e.stream.stats();
    this.live.delete(e.id);
    this.ended.push(e);
    // Its last reports go to the store before it leaves memory: held by the reports until a flush writes them.
    if (this.ended.length > this.cfg.keepEnded) this.reports.leaving(this.ended.shift()!);
    // The wire knows the causes a site acts on; the server going away is an error there, named in the detail.
    const wireReason: AudioStopReason = reason === 'server_shutdown' || reason === 'server_restart' || reason === 'server_lost' ? 'error' : reason;
    const wireDetail = wireReason === reason ? detail : `${reason}${detail ? `: ${detail}` : ''}`;
    const stop: AudioStreamStop = {
      v: PROTOCOL_VERSION,
      type: 'stream_stop',
      streamId: e.id,
      reason: wireReason,
      ...(wireDetail ? { detail: wireDetail.slice(0, 300) } : {}),
      at: endedAt,
    };
    this.wire.sendStop(onAir(e), stop);
    this.emit(e, 'ended', endedAt);
    // The detail can be a relay's ffmpeg error, quoting what a remote server sent: cut and escaped for the log.
    if (reason !== 'operator' && reason !== 'ended')
      this.deps.log.warn({ streamId: e.id, reason, detail: detail === undefined ? undefined : logSafe(detail, 500) }, 'live stream ended');
    const store = this.deps.store;
    if (!store) {
      this.deps.audit.recordDetached(actor, 'live.stop', String(e.id), { reason, ...(detail ? { detail } : {}) });
      return Promise.resolve();
    }
    const end = {
      endedAt,
      reason,
      detail: e.endDetail,
      by: actor ? { id: actor.id, name: actor.username } : null,
      serverStats: e.finalStats,
      skew: e.skew.summary(),
      adaptive: this.delays.view(e),
    };
    const recorded = this.writer.run('recording the end of a live stream failed', { streamId: e.id }, async () => {
      // Another server's recover() may have closed it first: its end stands, and is the one audited.
      if (!(await store.end(e.id, end))) return;
      // Awaited, so a stop answers once its audit entry is there too (a failure is the audit log's to report).
      await this.deps.audit.record(actor, 'live.stop', String(e.id), { reason, ...(detail ? { detail } : {}) }).catch((err: unknown) => {
        this.deps.log.error({ streamId: e.id, err: err instanceof Error ? err.message : String(err) }, 'auditing the end of a live stream failed');
      });
    });
    return Promise.all([recorded, this.flush()]).then(() => undefined);
  }

  /** See LivePublisher.republishRetained. */
  republishRetained(): Promise<void> {
    return this.wire.republishRetained();
  }

  /**
   * A candidate id. Frames carry the low 16 bits of the id (protocol/audio-frame.ts): distinct from every stream on air,
   * being started and recently ended, whose late frames a site must still tell apart (and drop).
   */
  private drawId(): number {
    const recent = new Set([...this.live.keys(), ...this.ended.map((e) => e.id), ...[...this.starting].map((s) => s.id ?? 0)].map(frameStreamId));
    for (;;) {
      const id = this.deps.drawId ? this.deps.drawId() : randomInt(1, 0xffff_ffff);
      if (!recent.has(frameStreamId(id)) && !this.reports.isRecovered(id)) return id;
    }
  }

  private view(e: Entry): LiveStreamView {
    return liveView(e, this.delays.view(e));
  }
}
