/**
 * One live stream at one site, as the playout engine sees it: a
 * ProgrammeSource that answers "the 20 ms of sound due at server time T".
 * Messages from the area audio channel go into the stream's JitterBuffer
 * (edge-agent/playout/jitter-buffer.ts: duplicates, late and early messages,
 * the slot timeline, loss and concealment decisions, statistics); this class
 * decodes the slots in order with one Opus decoder and cuts out exactly the
 * samples that belong at T.
 *
 * Time, not position. The engine's slots start wherever its run started
 * (max(start, now + latency)), not on the stream's 20 ms grid; so the sample
 * wanted at T is found by time — (T − acoustic delay − startAt) × 48 per ms —
 * and may span two stream slots. Every site computes the same index for the
 * same server time: that is the sync. It is also the drift correction: the
 * engine asks by server time (its clock follows the server's through the
 * clock exchange), so a sound card or board clock that runs fast or slow
 * never accumulates an error here; a changed offset estimate moves the cut
 * by the change (a few samples), nothing builds up.
 *
 * A site that joins mid-stream (its first request is after startAt) starts
 * at the slot due then, not at the first message it holds; a pre-empted
 * stream that resumes rejoins the live point the same way (the decoder is
 * reset when the timeline jumps, as continuity is gone).
 *
 * Concealment: a lost packet is concealed by Opus PLC (the decoder's
 * conceal()); when the next packet is held and carries in-band FEC and the
 * decoder can read it (decodeFec), the lost one is rebuilt from it instead.
 * Beyond the jitter buffer's concealment limit (200 ms), silence.
 */
import { JitterBuffer, type JitterBufferOptions, type JitterBufferStats, type PushResult } from '../playout/jitter-buffer.ts';
import type { ProgrammeSource } from '../playout/engine.ts';
import { AudioDecodeError, FRAME_SAMPLES, type OpusPacketDecoder } from '../audio/types.ts';
import type { AudioFrame } from '../../protocol/audio-frame.ts';

const SAMPLES_PER_MS = 48;
/** A jump of more slots than this (a resume, a stalled loop) resets the decoder instead of decoding the gap. */
const MAX_SEQUENTIAL_GAP = 5;

export interface LivePlaybackOptions {
  streamId: number;
  /** Play-at of the stream's slot 0 (stream_start.startAt), server clock ms. */
  startAtMs: number;
  /** stream_start.delayMs: the jitter buffer's target. */
  delayMs: number;
  /** This site's acoustic offset, metres (÷ 343 m/s). */
  acousticDelayM?: number;
  decoder: OpusPacketDecoder;
  /** Server clock → this agent's clock as the engine converts it when it writes a frame (default: identity). */
  toLocal?: (serverMs: number) => number;
  jitter?: Omit<JitterBufferOptions, 'targetDelayMs' | 'acousticDelayM' | 'start'>;
}

export interface PlayedMark {
  seq: number;
  /** When the marked message's first sample is played, server clock (this site's estimate). */
  playedAt: number;
  /** The same instant on this agent's own clock, converted when the frame was handed to the engine. */
  localAt: number;
}

export class LivePlayback implements ProgrammeSource {
  readonly streamId: number;
  private readonly jb: JitterBuffer;
  private readonly decoder: OpusPacketDecoder;
  private readonly startAtMs: number;
  private readonly acousticMs: number;
  private readonly toLocal: (serverMs: number) => number;
  /** Decoded slots not yet wholly played: slot → samples. */
  private readonly decoded = new Map<number, Int16Array>();
  /** Marked slots decoded but not yet played: slot → seq. */
  private readonly pendingMarks = new Map<number, number>();
  private lastSlot: number | undefined;
  private ended = false;
  /** The first slot after the stream's end. */
  private endSlot = Infinity;
  private closed = false;
  private readonly marks: PlayedMark[] = [];
  /** Decode failures (a packet libopus refused: concealed instead). */
  badPackets = 0;
  /** Lost packets rebuilt from the next packet's in-band FEC. */
  private fecUsed = 0;
  /** Server time of the last frame asked for (undefined before the first). */
  lastPullAt: number | undefined;

  constructor(o: LivePlaybackOptions) {
    this.streamId = o.streamId;
    this.decoder = o.decoder;
    this.startAtMs = o.startAtMs;
    this.toLocal = o.toLocal ?? ((t) => t);
    this.jb = new JitterBuffer({
      ...o.jitter,
      targetDelayMs: o.delayMs,
      acousticDelayM: o.acousticDelayM ?? 0,
      start: { atMs: o.startAtMs, frameMs: 20 },
    });
    this.acousticMs = this.jb.acousticDelayMs;
  }

  /** The stream's delay was raised while it plays (a repeated stream_start with a larger delayMs). */
  raiseDelayMs(ms: number): void {
    this.jb.raiseTargetDelayMs(ms);
  }

  /** A message of this stream arrived at server time `arrivalServerMs`. */
  push(frame: AudioFrame, arrivalServerMs: number): PushResult {
    return this.jb.push(frame, arrivalServerMs);
  }

  /**
   * The jitter buffer's counters, with concealment as it was done: the buffer
   * counts a slot as FEC-recoverable when the next packet carries FEC, but
   * only a decoder with decodeFec can use it; otherwise that slot was
   * concealed by PLC like any other.
   */
  get stats(): JitterBufferStats {
    const s = this.jb.stats;
    return { ...s, concealed: s.concealed + s.fecRecovered - this.fecUsed, fecRecovered: this.fecUsed };
  }

  /** True once the end-of-stream message has been played out. */
  get finished(): boolean {
    return this.ended;
  }

  /** Marked messages played since the last call. */
  takeMarks(): PlayedMark[] {
    return this.marks.splice(0);
  }

  /** The engine's request: the frame heard from server time `atServerMs`; null once the stream has ended. */
  frame(_index: number, atServerMs: number): Int16Array | null {
    if (this.closed) return null;
    this.lastPullAt = atServerMs;
    const s0 = Math.round((atServerMs - this.acousticMs - this.startAtMs) * SAMPLES_PER_MS);
    const out = new Int16Array(FRAME_SAMPLES);
    if (s0 + FRAME_SAMPLES <= 0) return out; // before the stream's first sample
    const first = Math.floor(s0 / FRAME_SAMPLES);
    const last = Math.floor((s0 + FRAME_SAMPLES - 1) / FRAME_SAMPLES);
    for (let slot = Math.max(0, first); slot <= last; slot++) {
      const pcm = this.slotPcm(slot);
      if (pcm === null) {
        // Ended: a frame with nothing of the stream in it ends the programme; a partial one plays its part.
        if (slot === Math.max(0, first)) return null;
        break;
      }
      const slotStart = slot * FRAME_SAMPLES;
      const from = Math.max(s0, slotStart);
      const to = Math.min(s0 + FRAME_SAMPLES, slotStart + pcm.length);
      if (to > from) out.set(pcm.subarray(from - slotStart, to - slotStart), from - s0);
      const seq = this.pendingMarks.get(slot);
      if (seq !== undefined && slotStart >= s0 && slotStart < s0 + FRAME_SAMPLES) {
        this.pendingMarks.delete(slot);
        const playedAt = atServerMs + (slotStart - s0) / SAMPLES_PER_MS;
        this.marks.push({ seq, playedAt, localAt: this.toLocal(playedAt) });
      }
    }
    // Slots wholly before this frame are done with.
    for (const k of this.decoded.keys()) if (k < first) this.decoded.delete(k);
    for (const k of this.pendingMarks.keys()) if (k < first) this.pendingMarks.delete(k);
    return out;
  }

  close(): void {
    this.closed = true;
    this.decoded.clear();
  }

  /** The decoded samples of a stream slot (decoding those before it in order), or null past the end. */
  private slotPcm(slot: number): Int16Array | null {
    const have = this.decoded.get(slot);
    if (have) return have;
    if (slot >= this.endSlot) return null;
    if (this.lastSlot !== undefined && slot <= this.lastSlot) return new Int16Array(FRAME_SAMPLES); // passed over in a jump
    if (this.lastSlot !== undefined && slot - this.lastSlot > MAX_SEQUENTIAL_GAP) {
      // A jump (resume after pre-emption, a stalled loop): the buffer skips to this slot; decoder continuity is gone.
      this.decoder.reset();
      return this.decodeAt(slot);
    }
    let pcm: Int16Array | null = null;
    for (let k = this.lastSlot === undefined ? slot : this.lastSlot + 1; k <= slot; k++) {
      pcm = this.decodeAt(k);
      if (pcm === null) return null;
    }
    return pcm;
  }

  /**
   * Pull the jitter buffer at the middle of slot `slot` (server time, acoustic
   * delay included): its timeline has the same origin (the stream start), so
   * the instruction is for exactly this slot — at the first pull it starts
   * there (a late joiner), after a jump it skips to it.
   */
  private decodeAt(slot: number): Int16Array | null {
    const ins = this.jb.pull(this.startAtMs + slot * 20 + this.acousticMs + 10);
    this.lastSlot = slot;
    let pcm: Int16Array;
    if (ins.kind === 'silence') {
      if (ins.reason === 'ended') {
        this.ended = true;
        this.endSlot = Math.min(this.endSlot, slot);
        return null;
      }
      pcm = new Int16Array(FRAME_SAMPLES);
    } else if (ins.kind === 'packet') {
      pcm = fit(this.decodePacket(ins.data));
      if (ins.marker) this.pendingMarks.set(slot, ins.seq);
    } else {
      pcm = fit(this.conceal(ins.useFecFrom));
    }
    this.decoded.set(slot, pcm);
    return pcm;
  }

  private decodePacket(data: Uint8Array): Int16Array {
    try {
      return this.decoder.decode(data);
    } catch (e) {
      if (!(e instanceof AudioDecodeError)) throw e;
      this.badPackets++;
      return this.decoder.conceal();
    }
  }

  private conceal(fecFrom: Uint8Array | undefined): Int16Array {
    if (fecFrom && this.decoder.decodeFec) {
      try {
        const pcm = this.decoder.decodeFec(fecFrom);
        this.fecUsed++;
        return pcm;
      } catch {
        /* fall back to PLC */
      }
    }
    return this.decoder.conceal();
  }
}

/** A packet of another duration than 20 ms (the stream start says 20): pad or cut to one frame. */
function fit(pcm: Int16Array): Int16Array {
  if (pcm.length === FRAME_SAMPLES) return pcm;
  const out = new Int16Array(FRAME_SAMPLES);
  out.set(pcm.subarray(0, FRAME_SAMPLES));
  return out;
}
