/**
 * Groups the Opus packets of one stream into the binary audio messages of
 * protocol/audio-frame.ts. Pure. Packets are placed on the stream's grid of
 * 20 ms **slots**: slot k plays at `startAtMs + k × 20 ms` on the server
 * clock at every site, whatever the network did, which is what keeps
 * neighbouring clusters in step. A message carries consecutive slots only:
 * a slot the server skipped (it fell too far behind to publish it in time)
 * closes the message being filled, and the sites conceal the gap.
 *
 * Every `markerEvery`-th message is marked: each site reports when it played
 * it, and the server compares those times across sites (server/live/skew.ts).
 */
import { AUDIO_FRAME_DEFAULT_PACKETS, nextSeq, type AudioFrame } from '../../protocol/audio-frame.ts';

export interface FrameAssemblerOptions {
  streamId: number;
  /** Play-at of slot 0, ms on the server clock (integer). */
  startAtMs: number;
  frameMs?: 20;
  /** Packets per message, 1..10 (default 5). */
  packetsPerMessage?: number;
  /** Mark one message in this many (default 30: one every 3 s with 5 × 20 ms). */
  markerEvery?: number;
  fec: boolean;
}

export class FrameAssembler {
  private readonly perMessage: number;
  private readonly markerEvery: number;
  private readonly frameUs: number;
  private seq = 0;
  private firstSlot = 0;
  private group: Uint8Array[] = [];
  private lastSlot = -1;
  private ended = false;

  constructor(private readonly o: FrameAssemblerOptions) {
    this.perMessage = o.packetsPerMessage ?? AUDIO_FRAME_DEFAULT_PACKETS;
    this.markerEvery = Math.max(1, o.markerEvery ?? 30);
    this.frameUs = (o.frameMs ?? 20) * 1000;
    if (!Number.isInteger(this.perMessage) || this.perMessage < 1 || this.perMessage > 10) throw new RangeError(`packetsPerMessage ${this.perMessage}: 1..10`);
  }

  /** Play-at of a slot, ms on the server clock. */
  playAtMs(slot: number): number {
    return this.o.startAtMs + (slot * this.frameUs) / 1000;
  }

  /** Messages sent so far. */
  get messages(): number {
    return this.seq;
  }

  /** The packet of `slot` (strictly increasing); returns the messages it completes (0, 1, or 2 when a gap closed one). */
  add(slot: number, packet: Uint8Array): AudioFrame[] {
    if (this.ended) throw new Error('stream already ended');
    if (slot <= this.lastSlot) throw new RangeError(`slot ${slot} after slot ${this.lastSlot}`);
    const out: AudioFrame[] = [];
    if (this.group.length > 0 && slot !== this.lastSlot + 1) out.push(this.emit(false));
    if (this.group.length === 0) this.firstSlot = slot;
    this.group.push(packet);
    this.lastSlot = slot;
    if (this.group.length === this.perMessage) out.push(this.emit(false));
    return out;
  }

  /**
   * The last message, flagged end of stream. With nothing pending, `filler`
   * (one packet of silence) goes in the slot after the last, since a message
   * carries at least one packet.
   */
  finish(filler: Uint8Array): AudioFrame {
    if (this.ended) throw new Error('stream already ended');
    if (this.group.length === 0) {
      this.firstSlot = this.lastSlot + 1;
      this.lastSlot = this.firstSlot;
      this.group.push(filler);
    }
    this.ended = true;
    return this.emit(true);
  }

  private emit(endOfStream: boolean): AudioFrame {
    const seq = this.seq;
    this.seq = nextSeq(seq);
    const frame: AudioFrame = {
      streamId: this.o.streamId,
      seq,
      playAtUs: this.o.startAtMs * 1000 + this.firstSlot * this.frameUs,
      sampleRate: 48000,
      packetDurationUs: 20000,
      fec: this.o.fec,
      marker: seq % this.markerEvery === 0,
      endOfStream,
      packets: this.group,
    };
    this.group = [];
    return frame;
  }
}
