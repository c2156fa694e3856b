/**
 * The agent's live-stream receiver: what arrives on the area audio
 * and control channels of the site's area and its ancestors becomes
 * programmes of kind 'live' in the playout engine, and statistics go back to
 * the server as stream_stats events.
 *
 * - stream_start (retained on the audio channel, QoS 1 on the control
 *   channel, re-announced every few seconds): a LivePlayback for the stream,
 *   added to the engine with the stream's priority and whenPreempted, so
 *   pre-emption between a live voice, a relayed programme, a bulletin and an
 *   alert is the engine's one decision. A repeated start changes nothing.
 * - binary frames: into that stream's jitter buffer, stamped with their
 *   arrival on the server clock (the agent's estimate). Frames of a stream
 *   whose start has not arrived yet wait (a few seconds' worth at most).
 * - the end: the stream plays out to its end-of-stream message (the last
 *   audio the server sent), then the engine ends the programme, silences the
 *   output and switches the amplifier off after the profile's tail. A
 *   stream_stop whose end-of-stream message never comes (lost: frames are
 *   QoS 0) cancels it after the stream's delay and a margin. A stream that
 *   sends nothing for `silentEndMs` (the stop was missed while the link was
 *   down, and the server has long ended it) is ended here too.
 * - stream_stats: every `statsIntervalMs` while a stream plays, and once at
 *   its end (`final`), with this link's transit (edge-agent/live/transit.ts);
 *   at once (at most once a second) while the site is behind — more of its
 *   packets arrive late than concealment hides — so the server can raise the
 *   stream's delay within seconds, not at the next periodic report.
 * - a repeated stream_start with a larger delayMs: the server raised the
 *   stream's delay (its sites' links needed more); later messages arrive
 *   further ahead of their play-at, and transit is measured against it.
 */
import {
  decodeAudioControl,
  decodeAudioFrame,
  frameStreamId,
  PROTOCOL_VERSION,
  streamMatches,
  type AudioFrame,
  type AudioStreamStart,
  type StreamStatsEvent,
} from '../../protocol/index.ts';
import type { EngineEvent, PlayoutEngineApi } from '../playout/engine.ts';
import type { OpusPacketDecoder } from '../audio/types.ts';
import { LivePlayback } from './live-playback.ts';
import { messageSendTimeMs, TransitWindow } from './transit.ts';

export interface LiveReceiverOptions {
  siteId: string;
  engine: PlayoutEngineApi;
  /** The server clock as this agent estimates it. */
  serverNow(): number;
  /** The agent's own clock, for `at` fields. */
  now(): number;
  clockUncertaintyMs(): number | null;
  /** Server clock − the agent's time base, as the engine converts with (0 before the first exchange). */
  clockOffsetMs(): number;
  publish(event: StreamStatsEvent): void;
  createDecoder(): OpusPacketDecoder;
  /** This site's acoustic offset, metres (config audio.acousticDelayM); setAcousticDelayM changes it. */
  acousticDelayM?: number;
  /** Statistics period while a stream plays (default LIVE_STATS_INTERVAL_MS). */
  statsIntervalMs?: number;
  /** A stream with no message for this long is over (default 15 000 ms). */
  silentEndMs?: number;
  log: { info(m: string): void; warn(m: string): void };
}

export interface LiveReceiverStats {
  starts: number;
  frames: number;
  invalid: number;
  /** Frames for a stream this site does not know (and never learnt of). */
  orphanFrames: number;
  statsSent: number;
}

interface Live {
  start: AudioStreamStart;
  playback: LivePlayback;
  /** Server time of the last message (or of the start). */
  lastHeardAt: number;
  stopTimer?: NodeJS.Timeout;
  done: boolean;
  /** Why it ended here, set by whoever ends it first (reported with the final stats). */
  end?: NonNullable<StreamStatsEvent['end']>;
  /** The link's transit for this stream. */
  transit: TransitWindow;
  /** Server time of the last report sent (periodic or early). */
  lastReportAt: number;
  /** Server time the delay was last raised (the raised start's `at`): nothing after it was sent before it. */
  raisedAt: number;
}

/** An early report (the site is behind) at most this often. */
const BEHIND_REPORT_MS = 1000;

const PROGRAMME_PREFIX = 'live:';
/** Messages held for streams whose start has not arrived: at most this many per stream (20 s of 5-packet messages)… */
const MAX_PENDING_FRAMES = 100;
/** …and this many bytes in all (a few seconds of 8 streams at 24 kbit/s; a message may be 8 KiB, AUDIO_FRAME_MAX_BYTES). */
const MAX_PENDING_BYTES = 256 * 1024;
/** …for at most this many streams. */
const MAX_PENDING_STREAMS = 8;
/**
 * stream_stats every 15 s while a stream plays (and once at its end): what the console's live view needs, at
 * ~450 bytes a report on the site's 4G link (every 5 s it was 3 % of a live minute's data).
 */
export const LIVE_STATS_INTERVAL_MS = 15_000;
/** How often the streams held are looked at: a silent one is ended, a report that is due is sent. */
const LIVE_CHECK_MS = 5000;
const ENDED_MEMORY = 64;
/** After the end-of-stream message's play time, how long to wait for it before stopping anyway. */
const STOP_MARGIN_MS = 100;

/** stream_stats.transit holds −10 s..600 s (a clock not yet synced can say anything). */
function clampTransit(ms: number): number {
  return Math.min(600_000, Math.max(-10_000, ms));
}

/** stream_stats.end.detail holds at most 200 characters. */
function clipDetail(s: string): string {
  return s.length <= 200 ? s : `${s.slice(0, 199)}…`;
}

export class LiveReceiver {
  private readonly streams = new Map<number, Live>();
  /** Checks of the streams held (every LIVE_CHECK_MS); every few of them is a report. */
  private checks = 0;
  /** Frames that came before their stream's start, by the 16-bit stream field they carry, oldest first. */
  private readonly pending = new Map<number, Array<{ frame: AudioFrame; bytes: number }>>();
  private pendingBytes = 0;
  private readonly endedIds: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  readonly stats: LiveReceiverStats = { starts: 0, frames: 0, invalid: 0, orphanFrames: 0, statsSent: 0 };
  /**
   * The latest marked messages played (at most 200): server-clock estimate and the local
   * instant the engine scheduled them for. Simulations compare the local instants
   * against each site's known clock error to measure the true skew.
   */
  readonly marksPlayed: Array<{ streamId: number; seq: number; playedAt: number; localAt: number }> = [];
  /** The latest statistics sent per stream (the last 16 streams). */
  readonly lastReports = new Map<number, StreamStatsEvent>();
  private acousticDelayM: number;

  constructor(private readonly o: LiveReceiverOptions) {
    this.acousticDelayM = o.acousticDelayM ?? 0;
    this.timer = setInterval(() => this.reportAll(), Math.min(LIVE_CHECK_MS, o.statsIntervalMs ?? LIVE_STATS_INTERVAL_MS));
    this.timer.unref();
    this.unsubscribe = o.engine.on((e) => this.onEngine(e));
  }

  /** A message on an area audio channel: a binary frame, or JSON (the retained stream start). */
  onAudio(payload: Uint8Array): void {
    if (payload.length === 0) return; // a cleared retained slot
    if (payload[0] === 0x7b) return this.onControl(payload);
    const d = decodeAudioFrame(payload, this.o.serverNow() * 1000);
    if (!d.ok) {
      this.stats.invalid++;
      return;
    }
    this.stats.frames++;
    const f = d.frame;
    // A frame names its stream by the low 16 bits of the id its start message gave (the server keeps those distinct on air).
    const live = this.streamOf(f.streamId);
    if (live) {
      if (!live.done) {
        live.lastHeardAt = this.o.serverNow();
        // The decoded frame is this call's own: it takes the stream's full id in place (50 messages a second at most, no copy).
        f.streamId = live.start.streamId;
        this.take(live, f, live.lastHeardAt);
      }
      return;
    }
    if (this.endedIds.some((id) => streamMatches(f.streamId, id))) return;
    this.hold(f, payload);
  }

  /**
   * A frame whose stream's start may come just after it (another topic): kept
   * a few seconds, bounded by count per stream, by streams and by bytes, the
   * oldest dropped first. Its packets are views into the MQTT payload, which
   * is copied once (the client may reuse its bytes), not packet by packet.
   */
  private hold(f: AudioFrame, payload: Uint8Array): void {
    const copy = Uint8Array.from(payload);
    for (let i = 0; i < f.packets.length; i++) {
      const p = f.packets[i]!;
      const at = p.byteOffset - payload.byteOffset;
      f.packets[i] = p.buffer === payload.buffer && at >= 0 && at + p.length <= payload.length ? copy.subarray(at, at + p.length) : Uint8Array.from(p);
    }
    let q = this.pending.get(f.streamId);
    if (!q) {
      if (this.pending.size >= MAX_PENDING_STREAMS) this.dropPending(this.pending.keys().next().value!);
      q = [];
      this.pending.set(f.streamId, q);
    }
    q.push({ frame: f, bytes: copy.length });
    this.pendingBytes += copy.length;
    if (q.length > MAX_PENDING_FRAMES) {
      this.pendingBytes -= q.shift()!.bytes;
      this.stats.orphanFrames++;
    }
    // Over the byte bound: the oldest messages of the stream heard of longest ago go first.
    while (this.pendingBytes > MAX_PENDING_BYTES) {
      const [id, oldest] = this.pending.entries().next().value!;
      this.pendingBytes -= oldest.shift()!.bytes;
      this.stats.orphanFrames++;
      if (oldest.length === 0) this.pending.delete(id);
    }
  }

  /** Forget the frames held for a stream (its start came, it was stopped, or others pushed it out). */
  private dropPending(frameStream: number): Array<{ frame: AudioFrame; bytes: number }> {
    const q = this.pending.get(frameStream) ?? [];
    this.pending.delete(frameStream);
    for (const e of q) this.pendingBytes -= e.bytes;
    return q;
  }

  /** The stream held here that a frame's 16-bit stream field names. */
  private streamOf(frameStream: number): Live | undefined {
    for (const l of this.streams.values()) if (streamMatches(frameStream, l.start.streamId)) return l;
    return undefined;
  }

  /** A message on an area control channel (alerts share it: anything else is ignored). */
  onControl(payload: Uint8Array): void {
    if (payload.length === 0) return;
    const d = decodeAudioControl.decode(payload);
    if (!d.ok) {
      if (/"type"\s*:\s*"stream_/.test(Buffer.from(payload).toString('utf8', 0, 400))) {
        this.stats.invalid++;
        this.o.log.warn(`dropped an invalid stream control message: ${d.error.reason}`);
      }
      return;
    }
    const m = d.value;
    if (m.type === 'stream_start') this.onStart(m);
    else this.onStop(m.streamId, m.reason, m.at);
  }

  /**
   * The acoustic offset (metres) for streams that start from now on. A stream
   * already playing keeps the delay it started with: its jitter buffer fixes it.
   */
  setAcousticDelayM(metres: number): void {
    this.acousticDelayM = metres;
  }

  /** Streams known here, for tests and the footprint. */
  streamsHeld(): Array<{ streamId: number; priority: string; done: boolean }> {
    return [...this.streams.values()].map((l) => ({ streamId: l.start.streamId, priority: l.start.priority, done: l.done }));
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    for (const l of this.streams.values()) clearTimeout(l.stopTimer);
  }

  /** A message into the stream's jitter buffer, its transit measured; an early report when this site falls behind. */
  private take(live: Live, f: AudioFrame, arrivalServerMs: number): void {
    const r = live.playback.push(f, arrivalServerMs);
    if (r.status !== 'accepted' && r.status !== 'late') return;
    const latePackets = r.status === 'late' ? f.packets.length : r.latePackets;
    // A raise sends the slots it makes due at once: those left at the raise, not at play-at − the new delay.
    const sentAt = Math.max(live.raisedAt, messageSendTimeMs({ playAtUs: f.playAtUs, packets: f.packets.length, packetDurationUs: f.packetDurationUs }, live.start.delayMs));
    live.transit.add(arrivalServerMs - sentAt, f.packets.length, latePackets);
    if (latePackets > 0 && arrivalServerMs - live.lastReportAt >= BEHIND_REPORT_MS && live.transit.behind() && live.playback.lastPullAt !== undefined) this.report(live, false);
  }

  private onStart(m: AudioStreamStart): void {
    const known = this.streams.get(m.streamId);
    if (known && !known.done && m.delayMs > known.start.delayMs) {
      // The server raised the stream's delay: what came late under the old one says nothing now.
      this.o.log.info(`live stream ${m.streamId}: delay raised from ${known.start.delayMs} to ${m.delayMs} ms`);
      known.start = { ...known.start, delayMs: m.delayMs };
      known.raisedAt = m.at;
      known.playback.raiseDelayMs(m.delayMs);
      known.transit.clearLate();
      return;
    }
    if (known || this.endedIds.includes(m.streamId)) return;
    this.stats.starts++;
    const playback = new LivePlayback({
      streamId: m.streamId,
      startAtMs: m.startAt,
      delayMs: m.delayMs,
      ...(this.acousticDelayM ? { acousticDelayM: this.acousticDelayM } : {}),
      decoder: this.o.createDecoder(),
      toLocal: (t) => t - this.o.clockOffsetMs(),
    });
    const live: Live = { start: m, playback, lastHeardAt: this.o.serverNow(), done: false, transit: new TransitWindow(), lastReportAt: -Infinity, raisedAt: -Infinity };
    this.streams.set(m.streamId, live);
    // Their arrival was before now: not measured (it would overstate the transit).
    for (const { frame } of this.dropPending(frameStreamId(m.streamId))) playback.push({ ...frame, streamId: m.streamId }, this.o.serverNow());
    const added = this.o.engine.add({
      id: `${PROGRAMME_PREFIX}${m.streamId}`,
      kind: 'live',
      priority: m.priority,
      startAt: m.startAt,
      whenPreempted: m.whenPreempted ?? 'resume',
      source: playback,
    });
    if (!added.ok) {
      this.o.log.warn(`live stream ${m.streamId} not played: ${added.detail}`);
      this.finish(live, { reason: 'not_played', detail: clipDetail(added.detail) });
      return;
    }
    this.o.log.info(`live stream ${m.streamId} (${m.priority}, ${m.source.label ?? m.source.kind}) from ${new Date(m.startAt).toISOString()}`);
  }

  private onStop(streamId: number, reason: string, stoppedAt: number): void {
    const live = this.streams.get(streamId);
    if (!live) {
      this.dropPending(frameStreamId(streamId));
      this.remember(streamId);
      return;
    }
    if (live.done || live.stopTimer) return;
    // Normally the end-of-stream message ends it (its play-at is about stop + delay); if that
    // message was lost, stop just after it would have played.
    const dueIn = stoppedAt + live.start.delayMs + STOP_MARGIN_MS - this.o.serverNow();
    live.stopTimer = setTimeout(
      () => {
        if (!live.done) {
          live.end = { reason: 'stopped', detail: clipDetail(`stream stopped (${reason})`) };
          this.o.engine.cancel(`${PROGRAMME_PREFIX}${streamId}`, 'cancelled', `stream stopped (${reason})`);
        }
      },
      Math.max(0, Math.min(dueIn, live.start.delayMs + 2000)),
    );
    live.stopTimer.unref();
  }

  private onEngine(e: EngineEvent): void {
    if (e.type !== 'ended' && e.type !== 'failed') return;
    if (!e.id.startsWith(PROGRAMME_PREFIX)) return;
    const live = this.streams.get(Number(e.id.slice(PROGRAMME_PREFIX.length)));
    if (!live) return;
    // Our own cancel (a stop, silence) set the reason before the engine's event; otherwise the engine's says it.
    if (e.type === 'ended') this.finish(live, live.end ?? { reason: 'ended' });
    else this.finish(live, live.end ?? { reason: e.reason, detail: clipDetail(e.detail) });
  }

  private finish(live: Live, end: NonNullable<StreamStatsEvent['end']>): void {
    if (live.done) return;
    live.done = true;
    live.end = end;
    clearTimeout(live.stopTimer);
    this.report(live, true);
    this.streams.delete(live.start.streamId);
    this.remember(live.start.streamId);
  }

  private remember(streamId: number): void {
    this.endedIds.push(streamId);
    if (this.endedIds.length > ENDED_MEMORY) this.endedIds.shift();
  }

  private reportAll(): void {
    const now = this.o.serverNow();
    const interval = this.o.statsIntervalMs ?? LIVE_STATS_INTERVAL_MS;
    const due = ++this.checks % Math.max(1, Math.round(interval / Math.min(LIVE_CHECK_MS, interval))) === 0;
    for (const l of [...this.streams.values()]) {
      if (l.done) continue;
      if (now - l.lastHeardAt > (this.o.silentEndMs ?? 15_000)) {
        // Its stop was missed (the link was down then): nothing has come for long, it is over.
        this.o.log.warn(`live stream ${l.start.streamId}: nothing heard for ${Math.round((now - l.lastHeardAt) / 1000)} s; ending it`);
        l.end = { reason: 'silent', detail: `nothing heard for ${Math.round((now - l.lastHeardAt) / 1000)} s` };
        if (!this.o.engine.cancel(`${PROGRAMME_PREFIX}${l.start.streamId}`, 'cancelled', 'stream silent')) this.finish(l, l.end);
        continue;
      }
      if (l.playback.lastPullAt !== undefined && due) this.report(l, false);
    }
  }

  private report(live: Live, final: boolean): void {
    const s = live.playback.stats;
    const taken = live.playback.takeMarks();
    for (const m of taken) this.marksPlayed.push({ streamId: live.start.streamId, seq: m.seq, playedAt: m.playedAt, localAt: m.localAt });
    if (this.marksPlayed.length > 200) this.marksPlayed.splice(0, this.marksPlayed.length - 200);
    const marks = taken.slice(-64).map((m) => ({ seq: m.seq, playedAt: Math.round(m.playedAt * 1000) / 1000 }));
    const transit = live.transit.summary();
    live.lastReportAt = this.o.serverNow();
    const ev: StreamStatsEvent = {
      v: PROTOCOL_VERSION,
      siteId: this.o.siteId,
      at: Math.round(this.o.now()),
      type: 'stream_stats',
      streamId: live.start.streamId,
      received: s.received,
      late: s.late,
      lost: s.lost,
      concealed: s.concealed,
      fecRecovered: s.fecRecovered,
      played: s.played,
      bufferLevelMs: Math.max(0, Math.round(s.bufferLevelMs)),
      marks,
      clockUncertaintyMs: this.o.clockUncertaintyMs(),
      ...(transit
        ? {
            transit: { p50Ms: clampTransit(transit.p50Ms), p99Ms: clampTransit(transit.p99Ms), maxMs: clampTransit(transit.maxMs), samples: transit.samples },
            behind: live.transit.behind(),
          }
        : {}),
      final,
      ...(final && live.end ? { end: live.end } : {}),
    };
    this.stats.statsSent++;
    this.lastReports.set(ev.streamId, ev);
    if (this.lastReports.size > 16) this.lastReports.delete(this.lastReports.keys().next().value!);
    this.o.publish(ev);
  }
}
