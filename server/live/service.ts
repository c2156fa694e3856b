/**
 * Live streams on the server: start one from a source (a browser's voice, a
 * relayed radio URL, a media item), publish its frames to the audio channel
 * of every target area, tell the sites what it is, stop it, and gather what
 * the sites report about playing it.
 *
 * Control. `stream_start` goes QoS 1 on each target area's control channel
 * (never retained there: that channel's one retained slot belongs to alerts,
 * protocol/alert.ts), and RETAINED on the area's audio channel, so a site
 * that connects mid-stream gets it with its subscription, before the next
 * frame, and starts in sync within one message. Frames are published with
 * retain off and do not disturb that slot; a receiver tells the JSON start
 * from a binary frame by the first byte ('{' vs 'L'). With several streams on
 * one area the slot holds the highest priority one (what the sites play);
 * every `announceMs` the start of each live stream is sent again, not
 * retained, so a late joiner also learns of the others. `stream_stop` goes
 * QoS 1 on the control channels, and the audio channel's retained start is
 * cleared (an empty retained payload) or handed to another live stream.
 *
 * Two streams of the same priority on overlapping areas are refused (409):
 * each site would keep the first and refuse the second anyway
 * (edge-agent/playout/timeline.ts: at equal priority the one on air keeps the site), and the second operator is better
 * told at once who is on air. Different priorities may overlap: each site
 * lets the higher pre-empt the lower.
 *
 * Streams live in memory: a server restart ends them (a relay's ffmpeg and a
 * browser's socket die with the process anyway). Ended streams stay visible
 * for `keepEnded` of them, with their statistics.
 */
import { randomInt } from 'node:crypto';
import {
  PROTOCOL_VERSION,
  areaAudioTopic,
  areaControlTopic,
  encodeJson,
  type AudioPriority,
  type AudioSourceKind,
  type AudioStopReason,
  type AudioStreamStart,
  type AudioStreamStop,
  type StreamStatsEvent,
} from '../../protocol/index.ts';
import { AUDIO_PRIORITIES } from '../../protocol/audio-control.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { AuditLog } from '../audit.ts';
import { Errors } from '../errors.ts';
import { LiveStream, type LiveStreamStats, type PcmSource } from './live-stream.ts';
import { SkewTracker, type SkewSummary } from './skew.ts';

export interface LiveArea {
  id: number;
  key: string;
  /** Ids of the area and its ancestors. */
  path: readonly number[];
}

export interface LiveActor {
  id: number;
  username: string;
}

export type LiveSourceSpec =
  | { kind: 'relay'; url: string }
  | { kind: 'media'; mediaId: string; title: string }
  | { kind: 'browser'; format: 'pcm' | 'webm' };

export interface LiveStartInput {
  source: LiveSourceSpec;
  areas: LiveArea[];
  priority: AudioPriority;
  whenPreempted?: 'resume' | 'end';
  label?: string;
  delayMs?: number;
  packetsPerMessage?: number;
  bitrate?: number;
  actor: LiveActor;
}

export interface LiveConfig {
  delayMs: number;
  packetsPerMessage: number;
  bitrate: number;
  expectedLossPct: number;
  /** Re-send each live stream's start this often, not retained (ms; 0 = never). */
  announceMs: number;
  markerEvery: number;
  keepEnded: number;
}

/**
 * Default capture → play-at delay: 500 ms, not the 250 ms first planned. Every
 * site must hold a packet before it writes it, and it writes `sink latency + 40 ms`
 * ahead (240 ms with the agents' default 200 ms output buffer); the message
 * grouping adds 60 ms and the server's pacing ~10 ms. At 250 ms nothing would be
 * left for the network's jitter; at 500 ms about 190 ms is, which covers a 4G
 * link's 0–150 ms. Sites with small output buffers (ALSA 40–60 ms) can run at
 * 250–300 ms: LOANET_LIVE_DELAY_MS, or delayMs per stream.
 */
export const DEFAULT_LIVE_CONFIG: LiveConfig = {
  delayMs: 500,
  packetsPerMessage: 3,
  bitrate: 24_000,
  expectedLossPct: 10,
  announceMs: 5000,
  markerEvery: 50,
  keepEnded: 50,
};

/** Per-site counters as last reported (they are cumulative at the site). */
interface SiteReport {
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fecRecovered: number;
  played: number;
  bufferLevelMs: number;
  final: boolean;
  at: number;
}

export interface LiveSiteTotals {
  /** Sites that reported on this stream. */
  sites: number;
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fecRecovered: number;
  played: number;
  /** Mean of the sites' last reported buffer level. */
  bufferLevelMsMean: number | null;
  /** Packets neither played nor concealed nor rebuilt by FEC, over packets due: the loss a listener hears as a gap. */
  unconcealedLossRatio: number | null;
}

export interface LiveStreamView {
  id: number;
  state: 'live' | 'ended';
  source: { kind: AudioSourceKind; label: string | null; url?: string; mediaId?: string; format?: 'pcm' | 'webm' };
  areas: string[];
  priority: AudioPriority;
  whenPreempted: 'resume' | 'end';
  delayMs: number;
  codec: AudioStreamStart['codec'];
  startedAt: number;
  /** Play-at of the first frame (server clock). */
  startAt: number;
  startedBy: string;
  endedAt: number | null;
  endReason: AudioStopReason | null;
  endDetail: string | null;
  server: LiveStreamStats;
  sites: LiveSiteTotals;
  skew: SkewSummary;
}

interface Entry {
  id: number;
  stream: LiveStream;
  input: LiveStartInput;
  start: AudioStreamStart;
  startedAt: number;
  endedAt: number | null;
  endReason: AudioStopReason | null;
  endDetail: string | null;
  reports: Map<string, SiteReport>;
  skew: SkewTracker;
  finalStats: LiveStreamStats | null;
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
}

const rank = (p: AudioPriority) => AUDIO_PRIORITIES.indexOf(p);

export class LiveService {
  private readonly cfg: LiveConfig;
  private readonly live = new Map<number, Entry>();
  private readonly ended: Entry[] = [];
  /** Area key → the stream whose start the area's audio channel retains. */
  private readonly retained = new Map<string, number>();
  private readonly announceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: LiveServiceDeps) {
    this.cfg = { ...DEFAULT_LIVE_CONFIG, ...deps.config };
    if (this.cfg.announceMs > 0) {
      this.announceTimer = setInterval(() => this.announce(), this.cfg.announceMs);
      this.announceTimer.unref();
    }
  }

  /**
   * Start a stream. `attach` wires the source to the stream (spawn ffmpeg,
   * take a socket) and returns it; it is called after the checks, so a
   * refused stream never spawns anything.
   */
  start(input: LiveStartInput, attach: (stream: LiveStream, end: (reason: AudioStopReason, detail?: string) => void) => PcmSource): LiveStreamView {
    const areas = outermost(input.areas);
    if (areas.length === 0) throw Errors.badRequest('areas: name at least one area', 'areas');
    for (const other of this.live.values()) {
      if (other.input.priority !== input.priority) continue;
      const clash = areas.find((a) => outermost(other.input.areas).some((b) => a.path.includes(b.id) || b.path.includes(a.id)));
      if (clash) {
        throw Errors.conflict(
          `luồng ${other.id} cùng mức ưu tiên (${input.priority}) đang phát cho khu vực này (${other.start.source.label ?? other.input.source.kind}); dừng luồng đó hoặc chọn mức ưu tiên cao hơn / stream ${other.id} of the same priority (${input.priority}) is on air in area ${clash.key}; stop it or use a higher priority`,
        );
      }
    }
    const id = this.allocateId();
    const now = this.deps.now();
    const delayMs = input.delayMs ?? this.cfg.delayMs;
    const packetsPerMessage = input.packetsPerMessage ?? this.cfg.packetsPerMessage;
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
        publish: (m) => this.publishFrame(entry, m),
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
      id, stream, input: { ...input, areas }, start, startedAt: now, endedAt: null, endReason: null, endDetail: null,
      reports: new Map(), skew: new SkewTracker(), finalStats: null,
    };
    this.live.set(id, entry);
    this.sendStart(entry);
    const source = attach(stream, (reason, detail) => this.finish(entry, reason, detail, null));
    if (entry.endedAt === null) stream.start(source);
    else source.close();
    this.deps.audit.record(input.actor, 'live.start', String(id), {
      source: input.source.kind, ...(input.source.kind === 'relay' ? { url: input.source.url } : {}), ...(input.source.kind === 'media' ? { mediaId: input.source.mediaId } : {}),
      areas: start.areas, priority: input.priority, label,
    });
    return this.view(entry);
  }

  /** Stop a live stream by a person. */
  stop(id: number, actor: LiveActor): LiveStreamView {
    const e = this.live.get(id);
    if (!e) {
      if (this.ended.some((x) => x.id === id)) throw Errors.conflict(`luồng ${id} đã kết thúc / stream ${id} has already ended`);
      throw Errors.notFound(`live stream ${id}`);
    }
    this.finish(e, 'operator', `stopped by ${actor.username}`, actor);
    return this.view(e);
  }

  list(state: 'live' | 'all' = 'all'): LiveStreamView[] {
    const live = [...this.live.values()].map((e) => this.view(e));
    return state === 'live' ? live : [...live, ...[...this.ended].reverse().map((e) => this.view(e))];
  }

  get(id: number): LiveStreamView | undefined {
    const e = this.live.get(id) ?? this.ended.find((x) => x.id === id);
    return e ? this.view(e) : undefined;
  }

  /** Can `actor` stop/see this stream: the areas it targets (for the route's scope check). */
  areasOf(id: number): LiveArea[] | undefined {
    const e = this.live.get(id) ?? this.ended.find((x) => x.id === id);
    return e?.input.areas;
  }

  /** A site's stream_stats event (already validated at the ingest boundary). */
  onStats(siteId: string, ev: StreamStatsEvent): void {
    const e = this.live.get(ev.streamId) ?? this.ended.find((x) => x.id === ev.streamId);
    if (!e) return;
    // A site outside the stream's areas never heard it: its report would only distort the figures.
    const path = this.deps.areaPathOfSite?.(siteId);
    if (this.deps.areaPathOfSite && !(path && e.input.areas.some((a) => path.includes(a.id)))) return;
    const prev = e.reports.get(siteId);
    // Counters are cumulative at the site: an older report (delivered late) never replaces a newer one.
    if (prev && prev.at > ev.at) return;
    e.reports.set(siteId, {
      received: ev.received, late: ev.late, lost: ev.lost, concealed: ev.concealed, fecRecovered: ev.fecRecovered,
      played: ev.played, bufferLevelMs: ev.bufferLevelMs, final: ev.final, at: ev.at,
    });
    for (const m of ev.marks) e.skew.add(siteId, m.seq, m.playedAt);
  }

  /** End every live stream (server shutdown). */
  close(): void {
    clearInterval(this.announceTimer);
    for (const e of [...this.live.values()]) this.finish(e, 'error', 'server shutting down', null);
  }

  private finish(e: Entry, reason: AudioStopReason, detail: string | undefined, actor: LiveActor | null): void {
    if (e.endedAt !== null) return;
    e.endedAt = this.deps.now();
    e.endReason = reason;
    e.endDetail = detail ?? null;
    e.stream.finish();
    e.finalStats = e.stream.stats();
    this.live.delete(e.id);
    this.ended.push(e);
    if (this.ended.length > this.cfg.keepEnded) this.ended.shift();
    const stop: AudioStreamStop = { v: PROTOCOL_VERSION, type: 'stream_stop', streamId: e.id, reason, ...(detail ? { detail: detail.slice(0, 300) } : {}), at: e.endedAt };
    const payload = encodeJson(stop);
    for (const a of e.input.areas) {
      this.pub(areaControlTopic(a.key), payload, 1, false);
      if (this.retained.get(a.key) === e.id) this.retainBest(a.key);
    }
    this.deps.audit.record(actor, 'live.stop', String(e.id), { reason, ...(detail ? { detail } : {}) });
    if (reason !== 'operator' && reason !== 'ended') this.deps.log.warn({ streamId: e.id, reason, detail }, 'live stream ended');
  }

  private sendStart(e: Entry): void {
    const payload = encodeJson(e.start);
    for (const a of e.input.areas) {
      this.pub(areaControlTopic(a.key), payload, 1, false);
      const holder = this.live.get(this.retained.get(a.key) ?? -1);
      if (!holder || rank(e.input.priority) >= rank(holder.input.priority)) {
        this.retained.set(a.key, e.id);
        this.pub(areaAudioTopic(a.key), payload, 1, true);
      }
    }
  }

  /** Retain the highest priority live stream on this area (newest first among equals), or clear the slot. */
  private retainBest(key: string): void {
    let best: Entry | undefined;
    for (const o of this.live.values()) {
      if (!o.input.areas.some((a) => a.key === key)) continue;
      if (!best || rank(o.input.priority) >= rank(best.input.priority)) best = o;
    }
    if (best) {
      this.retained.set(key, best.id);
      this.pub(areaAudioTopic(key), encodeJson({ ...best.start, at: this.deps.now() }), 1, true);
    } else {
      this.retained.delete(key);
      this.pub(areaAudioTopic(key), Buffer.alloc(0), 1, true);
    }
  }

  private announce(): void {
    for (const e of this.live.values()) {
      const payload = encodeJson({ ...e.start, at: this.deps.now() });
      for (const a of e.input.areas) this.pub(areaControlTopic(a.key), payload, 0, false);
    }
  }

  private publishFrame(e: Entry, message: Buffer): void {
    for (const a of e.input.areas) this.pub(areaAudioTopic(a.key), message, 0, false);
  }

  private pub(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): void {
    this.deps.broker.publish(topic, payload, { qos, retain }).catch((err: unknown) => {
      // A frame lost on our own link is a frame the sites conceal; control is re-announced.
      if (qos === 1) this.deps.log.warn({ topic, err: (err as Error).message }, 'live publish failed');
    });
  }

  private allocateId(): number {
    const recent = new Set([...this.live.keys(), ...this.ended.map((e) => e.id)]);
    for (;;) {
      const id = randomInt(1, 0xffff_ffff);
      if (!recent.has(id)) return id;
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
        ...(src.kind === 'relay' ? { url: src.url } : {}),
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
      server: e.finalStats ?? e.stream.stats(),
      sites: totals(e.reports),
      skew: e.skew.summary(),
    };
  }
}

function totals(reports: Map<string, SiteReport>): LiveSiteTotals {
  const t = { sites: reports.size, received: 0, late: 0, lost: 0, concealed: 0, fecRecovered: 0, played: 0 };
  let buf = 0;
  for (const r of reports.values()) {
    t.received += r.received;
    t.late += r.late;
    t.lost += r.lost;
    t.concealed += r.concealed;
    t.fecRecovered += r.fecRecovered;
    t.played += r.played;
    buf += r.bufferLevelMs;
  }
  const due = t.played + t.lost;
  const unconcealed = Math.max(0, t.lost - t.concealed - t.fecRecovered);
  return { ...t, bufferLevelMsMean: reports.size ? Math.round(buf / reports.size) : null, unconcealedLossRatio: due > 0 ? unconcealed / due : null };
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

function defaultLabel(s: LiveSourceSpec, actor: LiveActor): string {
  switch (s.kind) {
    case 'browser':
      return actor.username;
    case 'media':
      return s.title;
    case 'relay':
      return safeHost(s.url);
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'relay';
  }
}
