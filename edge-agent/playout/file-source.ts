/**
 * A programme source over an Ogg Opus file already read into packets
 * (audio/ogg.ts readOggOpus): decodes on demand, one 20 ms frame at a time,
 * so a one-hour bulletin costs a few frames of memory, not 170 MB of PCM.
 *
 * Frame k holds samples [k·960, (k+1)·960) of the playable audio (pre-skip
 * dropped, the last frame padded with silence up to 960). `repeats` plays the
 * file that many times in a row (alerts).
 *
 * The engine may ask again for a frame it had (a pre-emption retracts frames
 * written ahead but not heard); the last `keepFrames` frames are kept, and an
 * older one is reached by decoding again from the start (Opus decoders carry
 * state, so decoding must restart at packet 0 to give the same samples).
 *
 * Memory: the kept frames live in one ring allocated with the source, and a
 * returned frame is a view into it, valid until `keepFrames` newer frames are
 * decoded (the engine hands each frame to its sink at once, and sinks copy or
 * summarise it); the samples between frames are carried in one fixed array,
 * and libopus decodes each packet into one more, kept by the source (copied
 * into the carry at once, so nothing outside ever sees it).
 * Not a fresh array per frame: kept for 2 s, every frame outlived the young
 * generation's collections, so each one's PCM reached the old generation and
 * its malloc'd backing store stayed until a major GC, up to ~5 MiB of them at
 * once, which the main malloc arena grew by and kept (a bulletin on its own:
 * 67.9 → 64.4 MiB resident; docs/BENCHMARKS.md, agent footprint). Nor a
 * fresh array per packet from the decoder: 1,920 bytes of malloc'd backing
 * store 50 times a second, as the live path had before it decoded into its
 * own buffers (live-playback.ts).
 */
import { opusPacketSamples, readOggOpus } from '../audio/ogg.ts';
import { AudioDecodeError, FRAME_SAMPLES, type OggOpusStream, type OpusPacketDecoder } from '../audio/types.ts';
import type { ProgrammeSource } from './engine.ts';

/** The most samples one Opus packet decodes to: 120 ms (RFC 6716 §3.2). */
const MAX_PACKET_SAMPLES = 5760;
/** Samples carried between frames: under a frame left over plus one packet of at most 120 ms. */
const CARRY_SAMPLES = FRAME_SAMPLES + MAX_PACKET_SAMPLES;

export interface FileSourceOptions {
  stream: OggOpusStream;
  decoder: OpusPacketDecoder;
  repeats?: number;
  /** Frames kept for re-asks (default 100 = 2 s, more than any sink buffers). */
  keepFrames?: number;
}

export class FileSource implements ProgrammeSource {
  readonly framesPerPass: number;
  readonly totalFrames: number;
  private readonly stream: OggOpusStream;
  private readonly decoder: OpusPacketDecoder;
  private readonly keep: number;
  /** Ring slot s holds the frame of index `slotFrame[s]` (-1: none); `views[s]` is that slot. */
  private readonly views: Int16Array[];
  private readonly slotFrame: Int32Array;
  private nextPacket = 0;
  /** Decoded samples not yet cut into frames: carry[carryAt, carryEnd) (pre-skip still to drop at the start). */
  private carry = new Int16Array(CARRY_SAMPLES);
  private carryAt = 0;
  private carryEnd = 0;
  /**
   * What the decoder writes each packet into, and views of its start by packet length:
   * handed a view of just the packet's size, a decoder fills it and gives it back, no new array.
   */
  private readonly decoded = new Int16Array(MAX_PACKET_SAMPLES);
  private readonly decodedViews = new Map<number, Int16Array>();
  private skip: number;
  private produced = 0;
  private samplesOut = 0;
  /** Packets libopus refused (concealed instead). */
  badPackets = 0;

  constructor(o: FileSourceOptions) {
    this.stream = o.stream;
    this.decoder = o.decoder;
    this.framesPerPass = Math.ceil(o.stream.totalSamples / FRAME_SAMPLES);
    this.totalFrames = this.framesPerPass * Math.max(1, o.repeats ?? 1);
    // A short file needs no more slots than it has frames.
    this.keep = Math.max(1, Math.min(Math.max(4, o.keepFrames ?? 100), this.framesPerPass));
    const ring = new Int16Array(this.keep * FRAME_SAMPLES);
    this.views = Array.from({ length: this.keep }, (_, s) => ring.subarray(s * FRAME_SAMPLES, (s + 1) * FRAME_SAMPLES));
    this.slotFrame = new Int32Array(this.keep).fill(-1);
    this.skip = o.stream.preSkip;
  }

  frame(index: number): Int16Array | null {
    if (index < 0 || index >= this.totalFrames || this.framesPerPass === 0) return null;
    const k = index % this.framesPerPass;
    const slot = k % this.keep;
    if (this.slotFrame[slot] === k) return this.views[slot]!;
    if (k < this.produced) this.rewind(); // older than what is kept, or a new pass: decode from the start
    while (this.produced <= k) {
      const s = this.produced % this.keep;
      this.decodeNext(this.views[s]!);
      this.slotFrame[s] = this.produced;
      this.produced++;
    }
    return this.views[slot]!;
  }

  close(): void {
    this.slotFrame.fill(-1);
    this.carryAt = this.carryEnd = 0;
  }

  private rewind(): void {
    this.decoder.reset();
    this.slotFrame.fill(-1);
    this.nextPacket = 0;
    this.carryAt = this.carryEnd = 0;
    this.skip = this.stream.preSkip;
    this.produced = 0;
    this.samplesOut = 0;
  }

  /** The next frame into `out`: whole packets decoded until a frame's worth is carried, the rest kept for the next one. */
  private decodeNext(out: Int16Array): void {
    while (this.carryEnd - this.carryAt < FRAME_SAMPLES && this.nextPacket < this.stream.packets.length) {
      // Whether the decoder wrote into `decoded` or gave an array of its own, the samples are copied into the carry below, before the next decode.
      const packet = this.stream.packets.at(this.nextPacket)!;
      let pcm: Int16Array;
      try {
        pcm = this.decoder.decode(packet, this.decodedView(opusPacketSamples(packet) ?? MAX_PACKET_SAMPLES));
      } catch (e) {
        if (!(e instanceof AudioDecodeError)) throw e;
        this.badPackets++;
        pcm = this.decoder.conceal(this.decodedView(FRAME_SAMPLES));
      }
      this.nextPacket++;
      if (this.skip > 0) {
        const drop = Math.min(this.skip, pcm.length);
        this.skip -= drop;
        pcm = pcm.subarray(drop);
      }
      if (pcm.length === 0) continue;
      if (this.carryEnd + pcm.length > this.carry.length) {
        // Under a frame carried: moved to the front, a packet of libopus's largest (120 ms) fits; a decoder giving more gets room.
        const carried = this.carryEnd - this.carryAt;
        if (carried + pcm.length > this.carry.length) {
          const room = new Int16Array(carried + pcm.length);
          room.set(this.carry.subarray(this.carryAt, this.carryEnd));
          this.carry = room;
        } else this.carry.copyWithin(0, this.carryAt, this.carryEnd);
        this.carryEnd = carried;
        this.carryAt = 0;
      }
      this.carry.set(pcm, this.carryEnd);
      this.carryEnd += pcm.length;
    }
    const left = this.stream.totalSamples - this.samplesOut;
    const n = Math.max(0, Math.min(FRAME_SAMPLES, this.carryEnd - this.carryAt, left));
    out.set(this.carry.subarray(this.carryAt, this.carryAt + n));
    out.fill(0, n);
    this.carryAt += n;
    this.samplesOut += n;
  }

  /** The start of `decoded`, `samples` long (a packet's length from its TOC; a few lengths exist, each view is made once). */
  private decodedView(samples: number): Int16Array {
    let view = this.decodedViews.get(samples);
    if (!view) {
      view = this.decoded.subarray(0, samples);
      this.decodedViews.set(samples, view);
    }
    return view;
  }
}

/** Open a cached Ogg Opus file as a programme source (one decoder per programme). */
export async function openOggOpusFile(path: string, repeats = 1): Promise<FileSource> {
  const [{ readFile }, { createOpusDecoder }] = await Promise.all([import('node:fs/promises'), import('../audio/opus.ts')]);
  const stream = readOggOpus(await readFile(path));
  return new FileSource({ stream, decoder: createOpusDecoder(), repeats });
}
