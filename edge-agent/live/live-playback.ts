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
 *
 * Memory: 50 frames a second for as long as a stream lasts, so nothing here
 * is allocated per frame. Decoded slots live in a ring of DECODED_SLOTS
 * fixed buffers (the decoder writes into them when it can), and the frame
 * handed to the engine is a view into a ring of OUTPUT_FRAMES, valid until
 * that many newer frames are asked for (the engine hands each frame to its
 * sink at once, and sinks copy or summarise it). Fresh 1,920-byte arrays,
 * two per frame (the decoder's and the frame's), outlived the young
 * generation's collections often enough to reach the old generation with
 * their malloc'd backing stores, kept until a major GC: the main malloc arena
 * grew by megabytes while a stream played and kept them afterwards
 * (docs/BENCHMARKS.md, agent footprint).
 */
import { JitterBuffer, type JitterBufferOptions, type JitterBufferStats, type PushResult } from '../playout/jitter-buffer.ts';
import type { ProgrammeSource } from '../playout/engine.ts';
import { AudioDecodeError, FRAME_SAMPLES, type OpusPacketDecoder } from '../audio/types.ts';
import type { AudioFrame } from '../../protocol/audio-frame.ts';

const SAMPLES_PER_MS = 48;
/** A jump of more slots than this (a resume, a stalled loop) resets the decoder instead of decoding the gap. */
const MAX_SEQUENTIAL_GAP = 5;
/**
 * Decoded slots held: a frame spans at most two slots, and catching up decodes
 * at most MAX_SEQUENTIAL_GAP before the one asked for, so the two a frame needs
 * are never overwritten while it is cut.
 */
const DECODED_SLOTS = 8;
/** Frames handed out and still valid: the engine writes each to its sink before it asks for the next. */
const OUTPUT_FRAMES = 4;

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
  /** Decoded slots not yet wholly played: ring entry i holds slot `decodedSlot[i]` (-1: none) in `decoded[i]`. */
  private readonly decoded: Int16Array[];
  private readonly decodedSlot = new Float64Array(DECODED_SLOTS).fill(-1);
  /** The frames handed to the engine, in turn. */
  private readonly output: Int16Array[];
  private nextOutput = 0;
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
    const pcm = new Int16Array((DECODED_SLOTS + OUTPUT_FRAMES) * FRAME_SAMPLES);
    const views = Array.from({ length: DECODED_SLOTS + OUTPUT_FRAMES }, (_, i) => pcm.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
    this.decoded = views.slice(0, DECODED_SLOTS);
    this.output = views.slice(DECODED_SLOTS);
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

  /**
   * The engine's request: the frame heard from server time `atServerMs`; null
   * once the stream has ended. The frame is valid until OUTPUT_FRAMES more are asked for.
   */
  frame(_index: number, atServerMs: number): Int16Array | null {
    if (this.closed) return null;
    this.lastPullAt = atServerMs;
    const s0 = Math.round((atServerMs - this.acousticMs - this.startAtMs) * SAMPLES_PER_MS);
    const out = this.output[this.nextOutput]!;
    this.nextOutput = (this.nextOutput + 1) % OUTPUT_FRAMES;
    out.fill(0);
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
    for (let i = 0; i < DECODED_SLOTS; i++) if (this.decodedSlot[i]! < first) this.decodedSlot[i] = -1;
    if (this.pendingMarks.size > 0) for (const k of this.pendingMarks.keys()) if (k < first) this.pendingMarks.delete(k);
    return out;
  }

  close(): void {
    this.closed = true;
    this.decodedSlot.fill(-1);
  }

  /** The decoded samples of a stream slot (decoding those before it in order), or null past the end. */
  private slotPcm(slot: number): Int16Array | null {
    const have = slot % DECODED_SLOTS;
    if (this.decodedSlot[have] === slot) return this.decoded[have]!;
    if (slot >= this.endSlot) return null;
    if (this.lastSlot !== undefined && slot <= this.lastSlot) return SILENCE; // passed over in a jump
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
    const at = slot % DECODED_SLOTS;
    const pcm = this.decoded[at]!;
    this.decodedSlot[at] = -1;
    if (ins.kind === 'silence') {
      if (ins.reason === 'ended') {
        this.ended = true;
        this.endSlot = Math.min(this.endSlot, slot);
        return null;
      }
      pcm.fill(0);
    } else if (ins.kind === 'packet') {
      fit(this.decodePacket(ins.data, pcm), pcm);
      if (ins.marker) this.pendingMarks.set(slot, ins.seq);
    } else {
      fit(this.conceal(ins.useFecFrom, pcm), pcm);
    }
    this.decodedSlot[at] = slot;
    return pcm;
  }

  private decodePacket(data: Uint8Array, into: Int16Array): Int16Array {
    try {
      return this.decoder.decode(data, into);
    } catch (e) {
      if (!(e instanceof AudioDecodeError)) throw e;
      this.badPackets++;
      return this.decoder.conceal(into);
    }
  }

  private conceal(fecFrom: Uint8Array | undefined, into: Int16Array): Int16Array {
    if (fecFrom && this.decoder.decodeFec) {
      try {
        const pcm = this.decoder.decodeFec(fecFrom, into);
        this.fecUsed++;
        return pcm;
      } catch {
        /* fall back to PLC */
      }
    }
    return this.decoder.conceal(into);
  }
}

/** What a slot passed over in a jump plays; never written. */
const SILENCE = new Int16Array(FRAME_SAMPLES);

/**
 * The decoded samples into the slot's buffer, unless the decoder wrote them
 * there already; a packet of another duration than 20 ms (the stream start
 * says 20) is padded or cut to one frame.
 */
function fit(pcm: Int16Array, slot: Int16Array): void {
  if (pcm.buffer === slot.buffer && pcm.byteOffset === slot.byteOffset) {
    if (pcm.length < FRAME_SAMPLES) slot.fill(0, pcm.length);
    return;
  }
  const n = Math.min(pcm.length, FRAME_SAMPLES);
  slot.set(n === pcm.length ? pcm : pcm.subarray(0, n));
  slot.fill(0, n);
}
