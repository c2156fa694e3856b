/**
 * Live streams on the server: start one from a source (a browser's voice, a
 * relayed radio URL, a media item), publish its frames to the audio channel
 * of every target area, tell the sites what it is, stop it, and gather what
 * the sites report about playing it.
 *
 * What goes on the wire, and each area's retained slot, is publisher.ts's;
 * what a stream looks like to readers (live or from the record) is
 * views.ts's; how long its delay is, delay-budget.ts's. A receiver tells the
 * JSON start on an audio channel from a binary frame by the first byte ('{'
 * vs 'L').
 *
 * Two streams of the same priority on overlapping areas are refused (409):
 * each site would keep the first and refuse the second anyway
 * (edge-agent/playout/timeline.ts: at equal priority the one on air keeps the site), and the second operator is better
 * told at once who is on air. Different priorities may overlap: each site
 * lets the higher pre-empt the lower.
 *
 * The record (server/live/store.ts, migration 7). Every stream is written
 * when it starts and when it ends (who, what, where, how it ended), and the
 * latest stream_stats of each site with it, coalesced: reports are kept in
 * memory and upserted in one transaction every `flushMs`, never per message.
 * A restart cannot carry a stream on (a relay's ffmpeg and a browser's socket
 * die with the process): a graceful stop ends them as `server_shutdown`;
 * after a crash, `recover()` at the next start closes every stream still
 * recorded on air as `server_restart`, sends its stream_stop and clears its
 * retained start (an external broker keeps retained messages across the
 * restart, and its sites would wait on a stream nobody sends). On the wire
 * both are reason `error` with the cause in `detail`. Ended streams stay in
 * memory for `keepEnded` of them (late final reports still count); older
 * ones are read from the store.
 *
 * Over 600 lines only since the formatter spread its calls over more lines
 * (551 before): one concept, a stream's life from start to end; what the
 * sites report, the wire, the views, the delay budget and the nouns are
 * already their own modules.
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
import { LiveStream, type LiveStreamStats, type PcmSource } from './live-stream.ts';
import { SkewTracker } from './skew.ts';
import { chooseLiveDelay, siteNeededDelayMs, type DelayChoice, type LiveDelayView } from './delay-budget.ts';
export type { LiveDelayView } from './delay-budget.ts';
import { publicUrl, type LiveEndReason, type LiveStreamStore } from './store.ts';
import { logSafe } from '../log-safe.ts';
import { LivePublisher, type OnAir } from './publisher.ts';
import { LiveSiteReports, type RecordStats } from './site-reports.ts';
import {
  defaultLabel,
  recordView,
  redactUrl,
  siteView,
  totals,
  type LiveDelayPreview,
  type LiveSiteView,
  type LiveStreamDetail,
  type LiveStreamView,
  type SiteReport,
} from './views.ts';

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

/** A raise smaller than this is not worth the pause it cuts into a live voice. */
const RAISE_MIN_MS = 100;
/** At most one raise per stream this often: each waits for the sites' next measures. */
const RAISE_EVERY_MS = 3000;
/** A site's measured link counts for the next stream's delay this long. */
const LINK_MEMORY_MS = 7 * 24 * 3600_000;

interface Entry {
  id: number;
  stream: LiveStream;
  input: LiveStartInput;
  /** The keys of input.areas, computed once: every frame goes to each. */
  areaKeys: string[];
  start: AudioStreamStart;
  startedAt: number;
  endedAt: number | null;
  endReason: LiveEndReason | null;
  endDetail: string | null;
  endedBy: string | null;
  reports: Map<string, SiteReport>;
  skew: SkewTracker;
  finalStats: LiveStreamStats | null;
  /** Sites whose report changed since the last write to the store. */
  dirty: Set<string>;
  ceilingMs: number;
  initialDelayMs: number;
  raises: LiveDelayView['raises'];
  lastRaiseAt: number;
  /** Where its audio comes from, once attached (a relay's tells whether it is reconnecting). */
  source?: PcmSource;
  /** Each reporting site's latest transit on this stream. */
  links: Map<string, { transitP50Ms: number; transitP99Ms: number; samples: number; behind: boolean }>;
}

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
}

const onAir = (e: Entry): OnAir => ({ id: e.id, start: e.start, priority: e.input.priority, areaKeys: e.areaKeys });

export class LiveService {
  private readonly cfg: LiveConfig;
  private readonly live = new Map<number, Entry>();
  private readonly ended: Entry[] = [];
  /** The wire: starts, stops, frames, re-announcements and each area's retained slot. */
  private readonly wire: LivePublisher;
  private announceTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** The sites' reports, for the record (streams closed by recover() included). */
  private readonly reports: LiveSiteReports;
  /** Who hears of streams starting, ending and being slowed (the console's event stream). */
  private readonly listeners = new Set<(ch: LiveChange) => void>();
  /** Each site's latest measured link (any stream): what the next stream to it starts with. */
  private readonly siteLinks = new Map<string, { transitP99Ms: number; at: number }>();

  constructor(private readonly deps: LiveServiceDeps) {
    this.cfg = { ...DEFAULT_LIVE_CONFIG, ...deps.config };
    this.wire = new LivePublisher({ broker: deps.broker, log: deps.log, now: deps.now, onAir: () => [...this.live.values()].map(onAir) });
    this.reports = new LiveSiteReports({ store: deps.store, now: deps.now, areaPathOfSite: deps.areaPathOfSite, keep: this.cfg.keepEnded });
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
    const open = store.open();
    const now = this.deps.now();
    const detail = 'server_restart: the server restarted while the stream was on air / máy chủ khởi động lại khi luồng đang phát';
    const sends: Array<Promise<void>> = [];
    for (const r of open) {
      if (!store.end(r.id, { endedAt: now, reason: 'server_restart', detail, by: null })) continue;
      this.reports.noteRecovered(r.id, r.areaIds);
      await this.deps.audit.record(null, 'live.stop', String(r.id), { reason: 'server_restart' });
      this.deps.log.warn({ streamId: r.id, areas: r.areas }, 'live stream ended by the server restart');
      sends.push(this.wire.stopLeftOver(r.areas, { v: PROTOCOL_VERSION, type: 'stream_stop', streamId: r.id, reason: 'error', detail, at: now }, opts));
    }
    await Promise.all(sends);
    return open.map((r) => r.id);
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
      this.flushTimer = setInterval(() => {
        try {
          this.flush();
        } catch (err) {
          // Kept in memory and tried again at the next flush.
          this.deps.log.error({ err: (err as Error).message }, 'writing live stream statistics failed');
        }
      }, this.cfg.flushMs);
      this.flushTimer.unref();
    }
  }

  /**
   * The areas a stream would go to (the outermost), or the refusal it would
   * get: no area, or a stream of the same priority on air over them. Called
   * by start(), and before a relay's source is tried (which takes seconds).
   */
  refuseOverlap(targets: readonly LiveArea[], priority: AudioPriority): LiveArea[] {
    const areas = outermost(targets);
    if (areas.length === 0) throw fail('LOANET_TARGET_REQUIRED', { field: 'areas' });
    for (const other of this.live.values()) {
      if (other.input.priority !== priority) continue;
      const clash = areas.find((a) => outermost(other.input.areas).some((b) => a.path.includes(b.id) || b.path.includes(a.id)));
      if (clash) {
        throw fail('LOANET_LIVE_BUSY', { id: String(other.id), priority, areaKey: clash.key, source: other.start.source.label ?? other.input.source.kind });
      }
    }
    return areas;
  }

  /**
   * Start a stream. `attach` wires the source to the stream (spawn ffmpeg,
   * take a socket) and returns it; it is called after the checks, so a
   * refused stream never spawns anything.
   */
  start(input: LiveStartInput, attach: (stream: LiveStream, end: (reason: AudioStopReason, detail?: string) => void) => PcmSource): LiveStreamView {
    const areas = this.refuseOverlap(input.areas, input.priority);
    const id = this.allocateId();
    const now = this.deps.now();
    const packetsPerMessage = input.packetsPerMessage ?? this.cfg.packetsPerMessage;
    const choice = this.chooseDelay(areas, input, packetsPerMessage);
    const delayMs = choice.delayMs;
    const bitrate = input.bitrate ?? this.cfg.bitrate;
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
        publish: (m) => this.wire.publishFrame(entry.areaKeys, m),
        ended: (reason, detail) => this.finish(entry, reason, detail, null),
      },
    );
    const label = input.label ?? defaultLabel(input.source, input.actor);
    const start: AudioStreamStart = {
      v: PROTOCOL_VERSION,
      type: 'stream_start',
      streamId: id,
      codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage, bitrate, fec: stream.fec },
      priority: input.priority,
      areas: areas.map((a) => a.key),
      source: { kind: input.source.kind, label: label.slice(0, 120) },
      delayMs,
      whenPreempted: input.whenPreempted ?? (input.source.kind === 'browser' ? 'end' : 'resume'),
      startAt: stream.startAtMs,
      at: now,
    };
    const entry: Entry = {
      id,
      stream,
      input: { ...input, areas },
      areaKeys: areas.map((a) => a.key),
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
    // Recorded before anything goes out: a crash from here on leaves a row that recover() closes.
    this.deps.store?.insert({
      id,
      source: {
        kind: input.source.kind,
        label: start.source.label ?? null,
        ref: input.source.kind === 'relay' ? publicUrl(input.source.url) : input.source.kind === 'media' ? input.source.mediaId : null,
        format: input.source.kind === 'browser' ? input.source.format : null,
      },
      priority: start.priority,
      whenPreempted: start.whenPreempted ?? 'resume',
      areas: start.areas,
      areaIds: areas.map((a) => a.id),
      delayMs,
      codec: start.codec,
      startAt: start.startAt,
      createdBy: input.actor.id,
      createdByName: input.actor.username,
      startedAt: now,
    });
    this.live.set(id, entry);
    this.wire.sendStart(onAir(entry));
    const source = attach(stream, (reason, detail) => this.finish(entry, reason, detail, null));
    entry.source = source;
    if (entry.endedAt === null) stream.start(source);
    else source.close();
    this.deps.audit.recordDetached(input.actor, 'live.start', String(id), {
      source: input.source.kind,
      ...(input.source.kind === 'relay' ? { url: publicUrl(input.source.url) } : {}),
      ...(input.source.kind === 'media' ? { mediaId: input.source.mediaId } : {}),
      areas: start.areas,
      priority: input.priority,
      label,
    });
    if (entry.endedAt === null) this.emit(entry, 'started', entry.startedAt);
    return this.view(entry);
  }

  /**
   * What a stream to these areas would start with: its delay from the
   * targeted sites' last measured links, the ceiling it may be raised to
   * while it plays, and the sites whose link needs more than that ceiling.
   */
  previewDelay(areas: readonly LiveArea[], o: { delayMs?: number; maxDelayMs?: number; packetsPerMessage?: number } = {}): LiveDelayPreview {
    const c = this.chooseDelay(outermost(areas), o, o.packetsPerMessage ?? this.cfg.packetsPerMessage);
    return {
      delayMs: c.delayMs,
      ceilingMs: c.ceilingMs,
      adaptive: c.ceilingMs > c.delayMs,
      sites: c.sites.slice(0, 50),
      measured: c.sites.length,
      beyondCeiling: c.sites.filter((s) => !s.withinCeiling).length,
    };
  }

  private budget(packetsPerMessage: number): { packetsPerMessage: number; frameMs: number; outputMs: number } {
    return { packetsPerMessage, frameMs: 20, outputMs: this.cfg.outputMs };
  }

  /** A new stream's delay: the requested or configured one, raised for the targeted sites' measured links, within the ceiling. */
  private chooseDelay(areas: readonly LiveArea[], o: { delayMs?: number; maxDelayMs?: number }, packetsPerMessage: number): DelayChoice {
    const floorMs = o.delayMs ?? this.cfg.delayMs;
    // A delay asked for without a ceiling is that delay: whoever names one (a test, a wired fleet) means it.
    const ceilingMs = o.maxDelayMs ?? (o.delayMs !== undefined ? o.delayMs : this.cfg.maxDelayMs);
    const ids = areas.map((a) => a.id);
    const now = this.deps.now();
    const links: Array<{ siteId: string; transitP99Ms: number }> = [];
    for (const [siteId, l] of this.siteLinks) {
      if (now - l.at > LINK_MEMORY_MS) continue;
      const path = this.deps.areaPathOfSite?.(siteId);
      if (this.deps.areaPathOfSite && !(path && ids.some((id) => path.includes(id)))) continue;
      links.push({ siteId, transitP99Ms: l.transitP99Ms });
    }
    // Beyond the protocol's 10 s, a stream cannot be announced.
    return chooseLiveDelay({ floorMs, ceilingMs: Math.min(10_000, ceilingMs), links, budget: this.budget(packetsPerMessage) });
  }

  /**
   * A site's measure asks for more delay than the stream has: raise it (to
   * what the slowest site within the ceiling needs), tell the sites first
   * (the start, again, with the new delayMs: on the audio channel it comes
   * before the frames sent further ahead), then move the stream's capture
   * origin back (live-stream.ts raiseDelay).
   */
  private adapt(e: Entry, siteId: string): void {
    const current = e.stream.currentDelayMs;
    if (e.endedAt !== null || e.ceilingMs <= current) return;
    const now = this.deps.now();
    if (now - e.lastRaiseAt < RAISE_EVERY_MS) return;
    // Only a site that needs more can raise it: the others' needs are weighed only then (3,000 sites report every 5 s).
    const mine = e.links.get(siteId);
    if (!mine || siteNeededDelayMs(mine.transitP99Ms, this.budget(e.start.codec.packetsPerMessage)) <= current) return;
    const links = [...e.links].map(([siteId, l]) => ({ siteId, transitP99Ms: l.transitP99Ms }));
    const c = chooseLiveDelay({ floorMs: current, ceilingMs: e.ceilingMs, links, budget: this.budget(e.start.codec.packetsPerMessage) });
    if (c.delayMs - current < RAISE_MIN_MS && !(c.delayMs > current && c.delayMs === e.ceilingMs)) return;
    e.lastRaiseAt = now;
    e.start = { ...e.start, delayMs: c.delayMs, at: now };
    this.wire.sendStart(onAir(e));
    const to = e.stream.raiseDelay(c.delayMs);
    e.raises.push({ at: now, fromMs: current, toMs: to });
    if (e.raises.length > 20) e.raises.shift();
    this.deps.log.warn({ streamId: e.id, fromMs: current, toMs: to, slowest: c.sites[0]?.siteId }, 'live stream delay raised for a slow link');
    this.emit(e, 'delay_raised', now);
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

  /** Stop a live stream by a person. */
  stop(id: number, actor: LiveActor): LiveStreamView {
    const e = this.live.get(id);
    if (!e) {
      if (this.ended.some((x) => x.id === id) || this.deps.store?.exists(id)) throw fail('LOANET_STREAM_ENDED', { id: String(id) });
      throw Errors.notFound('live_stream', id);
    }
    this.finish(e, 'operator', `stopped by ${actor.username}`, actor);
    return this.view(e);
  }

  /**
   * Streams newest first: on air and past. With a store, past streams come
   * from it (paged by `before`, a start time); without one, from memory.
   * `areaIds`: only streams with a target among these areas (the caller's scope).
   */
  list(q: { state?: 'live' | 'all'; limit?: number; before?: number; areaIds?: ReadonlySet<number> } = {}): { streams: LiveStreamView[]; next: number | null } {
    const limit = q.limit ?? 100;
    const seen = (ids: readonly number[]) => !q.areaIds || ids.some((id) => q.areaIds!.has(id));
    const store = this.deps.store;
    if (q.state === 'live' || !store) {
      const mem = q.state === 'live' ? [...this.live.values()] : [...this.live.values(), ...[...this.ended].reverse()];
      const streams = mem
        .filter((e) => seen(e.input.areas.map((a) => a.id)) && (q.before === undefined || e.startedAt < q.before))
        .sort((a, b) => b.startedAt - a.startedAt)
        .slice(0, limit)
        .map((e) => this.view(e));
      return { streams, next: streams.length === limit ? streams[streams.length - 1]!.startedAt : null };
    }
    const rows = store.list({ limit, ...(q.before !== undefined ? { before: q.before } : {}), ...(q.areaIds ? { areaIds: [...q.areaIds] } : {}) });
    const streams = rows.map((r) => {
      const e = this.entry(r.id);
      return e ? this.view(e) : recordView(r, store.sites(r.id));
    });
    return { streams, next: rows.length === limit ? rows[rows.length - 1]!.startedAt : null };
  }

  /** One stream with each site's latest report: from memory while on air or recently ended, else from the store. */
  get(id: number): LiveStreamDetail | undefined {
    const e = this.entry(id);
    if (e) {
      const budget = this.budget(e.start.codec.packetsPerMessage);
      const siteReports = [...e.reports].map(([siteId, r]): LiveSiteView => {
        const l = e.links.get(siteId);
        return { ...siteView(siteId, r), ...(l ? { link: { ...l, neededMs: siteNeededDelayMs(l.transitP99Ms, budget) } } : {}) };
      });
      return { ...this.view(e), siteReports: siteReports.sort((a, b) => a.siteId.localeCompare(b.siteId)) };
    }
    const store = this.deps.store;
    const r = store?.get(id);
    if (!store || !r) return undefined;
    const sites = store.sites(id);
    return { ...recordView(r, sites), siteReports: sites.map(({ siteId, ...rest }) => ({ siteId, ...rest })) };
  }

  /** Can `actor` stop/see this stream: the areas it targets (for the route's scope check). */
  areasOf(id: number): LiveArea[] | undefined {
    return this.entry(id)?.input.areas;
  }

  /** Ids of the areas a stream (live or past) targets. */
  areaIdsOf(id: number): number[] | undefined {
    return this.entry(id)?.input.areas.map((a) => a.id) ?? this.deps.store?.get(id)?.areaIds;
  }

  /** A site's stream_stats event (already validated at the ingest boundary). */
  onStats(siteId: string, ev: StreamStatsEvent): void {
    const e = this.entry(ev.streamId);
    if (!this.reports.accept(siteId, ev, e) || !e) return;
    if (ev.transit) {
      e.links.set(siteId, { transitP50Ms: ev.transit.p50Ms, transitP99Ms: ev.transit.p99Ms, samples: ev.transit.samples, behind: ev.behind ?? false });
      this.siteLinks.set(siteId, { transitP99Ms: ev.transit.p99Ms, at: this.deps.now() });
      this.adapt(e, siteId);
    }
  }

  /** Write the sites' reports and the streams' counters to the store now (reports.ts: LiveSiteReports.flush). */
  flush(): void {
    this.reports.flush([...this.live.values(), ...this.ended]);
  }

  /** How the record keeps up: site reports accepted, transactions written, site rows upserted, failed writes. */
  recordStats(): RecordStats {
    return this.reports.stats();
  }

  /** End every live stream (server shutdown), and write what is left. */
  close(): void {
    clearInterval(this.announceTimer);
    for (const e of [...this.live.values()]) this.finish(e, 'server_shutdown', 'server shutting down', null);
    clearInterval(this.flushTimer);
    this.announceTimer = this.flushTimer = undefined;
    this.flushQuietly();
  }

  private entry(id: number): Entry | undefined {
    return this.live.get(id) ?? this.ended.find((x) => x.id === id);
  }

  private flushQuietly(): void {
    try {
      this.flush();
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'writing live stream statistics failed');
    }
  }

  private finish(e: Entry, reason: LiveEndReason, detail: string | undefined, actor: LiveActor | null): void {
    if (e.endedAt !== null) return;
    e.endedAt = this.deps.now();
    // ffmpeg's error names the URL it read: a relay's credentials must not reach the record, the log or the sites.
    if (detail !== undefined && e.input.source.kind === 'relay') detail = redactUrl(detail, e.input.source.url);
    e.endReason = reason;
    e.endDetail = detail ?? null;
    e.endedBy = actor?.username ?? null;
    e.stream.finish();
    e.finalStats = e.stream.stats();
    this.live.delete(e.id);
    this.ended.push(e);
    if (this.ended.length > this.cfg.keepEnded) {
      const old = this.ended.shift()!;
      // Its last reports go to the store before it leaves memory.
      if (old.dirty.size) this.flushQuietly();
    }
    // The wire knows the causes a site acts on; the server going away is an error there, named in the detail.
    const wireReason: AudioStopReason = reason === 'server_shutdown' || reason === 'server_restart' ? 'error' : reason;
    const wireDetail = wireReason === reason ? detail : `${reason}${detail ? `: ${detail}` : ''}`;
    const stop: AudioStreamStop = {
      v: PROTOCOL_VERSION,
      type: 'stream_stop',
      streamId: e.id,
      reason: wireReason,
      ...(wireDetail ? { detail: wireDetail.slice(0, 300) } : {}),
      at: e.endedAt,
    };
    this.wire.sendStop(onAir(e), stop);
    try {
      this.deps.store?.end(e.id, {
        endedAt: e.endedAt,
        reason,
        detail: e.endDetail,
        by: actor ? { id: actor.id, name: actor.username } : null,
        serverStats: e.finalStats,
        skew: e.skew.summary(),
        adaptive: this.delayView(e),
      });
    } catch (err) {
      this.deps.log.error({ streamId: e.id, err: (err as Error).message }, 'recording the end of a live stream failed');
    }
    this.flushQuietly();
    this.deps.audit.recordDetached(actor, 'live.stop', String(e.id), { reason, ...(detail ? { detail } : {}) });
    this.emit(e, 'ended', e.endedAt);
    // The detail can be a relay's ffmpeg error, quoting what a remote server sent: cut and escaped for the log.
    if (reason !== 'operator' && reason !== 'ended')
      this.deps.log.warn({ streamId: e.id, reason, detail: detail === undefined ? undefined : logSafe(detail, 500) }, 'live stream ended');
  }

  /** See LivePublisher.republishRetained. */
  republishRetained(): Promise<void> {
    return this.wire.republishRetained();
  }

  private allocateId(): number {
    // Frames carry the low 16 bits of the id (protocol/audio-frame.ts): distinct from every stream on air and every
    // recent one, whose late frames a site must still tell apart (and drop).
    const recent = new Set([...this.live.keys(), ...this.ended.map((e) => e.id)].map(frameStreamId));
    for (;;) {
      const id = randomInt(1, 0xffff_ffff);
      // Never an id of the record: a past stream's statistics must not mix with a new one's.
      if (!recent.has(frameStreamId(id)) && !this.reports.isRecovered(id) && !this.deps.store?.exists(id)) return id;
    }
  }

  private view(e: Entry): LiveStreamView {
    const src = e.input.source;
    return {
      id: e.id,
      state: e.endedAt === null ? 'live' : 'ended',
      source: {
        kind: src.kind,
        label: e.start.source.label ?? null,
        ...(src.kind === 'relay' ? { url: publicUrl(src.url) } : {}),
        ...(src.kind === 'media' ? { mediaId: src.mediaId } : {}),
        ...(src.kind === 'browser' ? { format: src.format } : {}),
      },
      areas: e.start.areas,
      priority: e.start.priority,
      whenPreempted: e.start.whenPreempted ?? 'resume',
      delayMs: e.start.delayMs,
      codec: e.start.codec,
      startedAt: e.startedAt,
      startAt: e.start.startAt,
      startedBy: e.input.actor.username,
      endedAt: e.endedAt,
      endReason: e.endReason,
      endDetail: e.endDetail,
      endedBy: e.endedBy,
      server: e.finalStats ?? e.stream.stats(),
      sites: totals(e.reports.values()),
      skew: e.skew.summary(),
      adaptive: this.delayView(e),
      ...(e.source?.relayStatus ? { relay: e.source.relayStatus() } : {}),
    };
  }

  private delayView(e: Entry): LiveDelayView {
    const budget = this.budget(e.start.codec.packetsPerMessage);
    const behind: LiveDelayView['behind'] = [];
    for (const [siteId, l] of e.links) {
      const neededMs = siteNeededDelayMs(l.transitP99Ms, budget);
      if (neededMs > e.ceilingMs) behind.push({ siteId, neededMs, reason: 'beyond_ceiling' });
      else if (l.behind && e.endedAt === null) behind.push({ siteId, neededMs, reason: 'late_packets' });
    }
    return { initialMs: e.initialDelayMs, ceilingMs: e.ceilingMs, raises: [...e.raises], behind: behind.sort((a, b) => (b.neededMs ?? 0) - (a.neededMs ?? 0)).slice(0, 100) };
  }
}

/** Drop areas that lie inside another target: a site under both would get every frame twice. */
export function outermost(areas: readonly LiveArea[]): LiveArea[] {
  const out: LiveArea[] = [];
  for (const a of areas) {
    if (out.some((b) => b.id === a.id)) continue;
    if (areas.some((b) => b.id !== a.id && a.path.includes(b.id))) continue;
    out.push(a);
  }
  return out;
}
