/**
 * One live stream on the server: PCM from a source in, binary audio messages
 * out, paced on the server clock. A timer (every 10 ms) encodes every 20 ms
 * slot whose capture time has passed — exactly one frame of PCM per 20 ms of
 * server clock, whatever the source does:
 * - a source ahead of real time (a file, a relay's burst on connect) waits in
 *   the queue and is paused above `highWaterMs`, so nothing is published
 *   faster than real time;
 * - a source behind (a browser's packets delayed on the way) leaves the slot
 *   to silence, and the stream's timeline goes on;
 * - a slot the server itself got to too late (its event loop stalled past the
 *   play-at) is skipped rather than sent late to every site.
 *
 * Play-at of slot k = startAtMs + k × 20 ms, where startAtMs = the stream's
 * capture origin + delayMs (500 ms by default): the delay is the sites'
 * jitter-buffer budget for the network and the server's pacing.
 *
 * Raising the delay while the stream plays (raiseDelay, when a site's link
 * needs more) moves the capture origin back, not the play-at grid: the next
 * n slots fall due at once and are sent now, taken from the queue (a paced
 * source plays on without a gap) or as silence (a live voice gets a pause of
 * the raise, at every site at once); every later slot is sent that much
 * further ahead of its play-at. Sites see no jump in the timeline.
 */
import { encodeAudioFrame } from '../../protocol/audio-frame.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { LiveOpusEncoder, LIVE_FRAME_BYTES, LIVE_FRAME_MS, type LiveEncoderOptions } from './opus-encoder.ts';
import { PcmQueue } from './pcm-queue.ts';
import type { RelayStatus } from '../../api/live.ts';

/** What the stream needs from where its audio comes from. */
export interface PcmSource {
  /** Stop reading (a paced source only). */
  pause(): void;
  resume(): void;
  /** Release everything (kill the child, close the socket). Idempotent. */
  close(): void;
  /** What a relay's source is doing (connected, or reconnecting since when), for the stream's view. */
  relayStatus?(): RelayStatus;
}

export interface LiveStreamOptions {
  streamId: number;
  /** Server time the stream was created (its capture origin), ms. */
  createdAtMs: number;
  delayMs: number;
  packetsPerMessage: number;
  markerEvery?: number;
  encoder: LiveEncoderOptions;
  /**
   * A file or a relay: paced by pausing the source (it may run ahead). A live
   * voice is not: it cannot wait, so above `maxLiveQueueMs` its oldest audio is dropped.
   */
  paced: boolean;
  highWaterMs?: number;
  lowWaterMs?: number;
  maxLiveQueueMs?: number;
  tickMs?: number;
}

export interface LiveStreamDeps {
  now(): number;
  /** One encoded binary message, for every target area. */
  publish(message: Buffer): void;
  /** The stream ended by itself (the media finished, a relay's source went away, all it sent played); the owner sends stream_stop. */
  ended(reason: 'ended' | 'source_lost', detail?: string): void;
}

export interface LiveStreamStats {
  /** Slots of 20 ms elapsed. */
  slots: number;
  /** Packets encoded from source audio. */
  audioPackets: number;
  /** Slots with no source audio at their time (encoded as silence). */
  silencePackets: number;
  /** Slots the server reached after their play-at (not sent). */
  lateSkipped: number;
  messages: number;
  /** Opus payload bytes sent (per target area). */
  payloadBytes: number;
  /** Message bytes sent (per target area), headers included. */
  wireBytes: number;
  queueMs: number;
  droppedMs: number;
  sourceBytes: number;
}

export class LiveStream {
  readonly startAtMs: number;
  private readonly queue: PcmQueue;
  private readonly encoder: LiveOpusEncoder;
  private readonly assembler: FrameAssembler;
  private readonly silence = Buffer.alloc(LIVE_FRAME_BYTES);
  private readonly highWaterMs: number;
  private readonly lowWaterMs: number;
  private source: PcmSource | undefined;
  private paused = false;
  private sourceDone: { reason: 'ended' | 'source_lost'; detail?: string } | undefined;
  private nextSlot = 0;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counts = { slots: 0, audioPackets: 0, silencePackets: 0, lateSkipped: 0, payloadBytes: 0, wireBytes: 0 };

  constructor(
    private readonly o: LiveStreamOptions,
    private readonly deps: LiveStreamDeps,
  ) {
    this.startAtMs = Math.round(o.createdAtMs + o.delayMs);
    this.delayMs = o.delayMs;
    this.queue = new PcmQueue(o.paced ? {} : { maxMs: o.maxLiveQueueMs ?? 200 });
    this.encoder = new LiveOpusEncoder(o.encoder);
    this.assembler = new FrameAssembler({
      streamId: o.streamId,
      startAtMs: this.startAtMs,
      packetsPerMessage: o.packetsPerMessage,
      fec: this.encoder.fec,
      ...(o.markerEvery !== undefined ? { markerEvery: o.markerEvery } : {}),
    });
    this.highWaterMs = o.highWaterMs ?? 2000;
    this.lowWaterMs = o.lowWaterMs ?? 1000;
  }

  get fec(): boolean {
    return this.encoder.fec;
  }

  get bitrate(): number {
    return this.encoder.bitrate;
  }

  /** Capture → play-at now (the start's, or the last raise's). */
  get currentDelayMs(): number {
    return this.delayMs;
  }

  /** Raise capture → play-at to at least `ms` (whole packets); never lowered. Returns the delay now. */
  raiseDelay(ms: number): number {
    const add = Math.ceil((ms - this.delayMs) / LIVE_FRAME_MS) * LIVE_FRAME_MS;
    if (add > 0 && !this.closed) this.delayMs += add;
    return this.delayMs;
  }

  /**
   * Begin pacing. The source may already be pushing: a relay hands over, as
   * it is adopted, what it decoded while the stream was being recorded
   * (seconds on a slow store), which may already be above the high-water
   * mark. That pause is passed on now: dropped, it would leave the stream
   * marked paused with the source reading on, faster than real time and
   * into memory without a bound, since nothing would ask it again.
   */
  start(source: PcmSource): void {
    this.source = source;
    if (this.paused) source.pause();
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 10);
  }

  /** Audio from the source. */
  push(chunk: Buffer): void {
    if (this.closed) return;
    this.queue.push(chunk);
    // Asked again at every chunk above the mark, not only when crossing it: a source that reads on though asked
    // to wait (a child swapped in by a reconnect, a pause that found no source yet) is asked again at once.
    // Pausing a paused source costs nothing.
    if (this.o.paced && this.queue.levelMs > this.highWaterMs) {
      this.paused = true;
      this.source?.pause();
    }
  }

  /** The source has nothing more: play out what is queued, then end with this reason. */
  sourceFinished(reason: 'ended' | 'source_lost' = 'ended', detail?: string): void {
    this.sourceDone ??= { reason, ...(detail !== undefined ? { detail } : {}) };
  }

  /**
   * Forget the audio queued but not yet sent: a fallback item's, when the
   * relay it stood in for is back, so the sites hear the relay at once
   * rather than after the fallback's queued seconds.
   */
  dropQueued(): void {
    this.queue.clear();
    if (this.o.paced && this.paused) {
      this.paused = false;
      this.source?.resume();
    }
  }

  /** Encode and publish what is due now. Public for tests that drive the clock. */
  tick(): void {
    if (this.closed) return;
    const now = this.deps.now();
    const captureOrigin = this.startAtMs - this.delayMs;
    while (!this.closed && captureOrigin + (this.nextSlot + 1) * LIVE_FRAME_MS <= now) {
      const slot = this.nextSlot++;
      this.counts.slots++;
      let pcm = this.queue.take();
      if (!pcm && this.sourceDone) pcm = this.queue.takeRest();
      if (!pcm && this.sourceDone) {
        const why = this.sourceDone;
        this.finish();
        this.deps.ended(why.reason, why.detail);
        return;
      }
      if (this.assembler.playAtMs(slot) <= now) {
        this.counts.lateSkipped++;
        continue;
      }
      if (pcm) this.counts.audioPackets++;
      else this.counts.silencePackets++;
      for (const f of this.assembler.add(slot, this.encoder.encode(pcm ?? this.silence))) this.send(f);
    }
    if (this.o.paced && this.paused && this.queue.levelMs < this.lowWaterMs) {
      this.paused = false;
      this.source?.resume();
    }
  }

  /** Send the end-of-stream message and release the source. Idempotent. */
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.send(this.assembler.finish(this.encoder.encode(this.silence)));
    this.source?.close();
  }

  stats(): LiveStreamStats {
    return {
      ...this.counts,
      messages: this.assembler.messages,
      queueMs: Math.round(this.queue.levelMs),
      droppedMs: this.queue.droppedMs,
      sourceBytes: this.queue.receivedBytes,
    };
  }

  private send(frame: Parameters<typeof encodeAudioFrame>[0]): void {
    const bytes = encodeAudioFrame(frame);
    for (const p of frame.packets) this.counts.payloadBytes += p.length;
    this.counts.wireBytes += bytes.length;
    this.deps.publish(bytes);
  }
}
