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
 */
import { AudioDecodeError, FRAME_SAMPLES, type OggOpusStream, type OpusPacketDecoder } from '../audio/types.ts';
import type { ProgrammeSource } from './engine.ts';

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
  /** Decoded frames by index within a pass, the most recent `keep` of them. */
  private readonly recent = new Map<number, Int16Array>();
  private nextPacket = 0;
  /** Decoded samples not yet cut into frames (pre-skip still to drop at the start). */
  private pending: Int16Array = new Int16Array(0);
  private skip: number;
  private produced = 0;
  private samplesOut = 0;
  /** Packets libopus refused (concealed instead). */
  badPackets = 0;

  constructor(o: FileSourceOptions) {
    this.stream = o.stream;
    this.decoder = o.decoder;
    this.keep = Math.max(4, o.keepFrames ?? 100);
    this.framesPerPass = Math.ceil(o.stream.totalSamples / FRAME_SAMPLES);
    this.totalFrames = this.framesPerPass * Math.max(1, o.repeats ?? 1);
    this.skip = o.stream.preSkip;
  }

  frame(index: number): Int16Array | null {
    if (index < 0 || index >= this.totalFrames || this.framesPerPass === 0) return null;
    const k = index % this.framesPerPass;
    const have = this.recent.get(k);
    if (have) return have;
    if (k < this.produced) this.rewind(); // older than what is kept, or a new pass: decode from the start
    while (this.produced <= k) {
      const f = this.decodeNext();
      this.recent.set(this.produced, f);
      this.recent.delete(this.produced - this.keep);
      this.produced++;
    }
    return this.recent.get(k)!;
  }

  close(): void {
    this.recent.clear();
    this.pending = new Int16Array(0);
  }

  private rewind(): void {
    this.decoder.reset();
    this.recent.clear();
    this.nextPacket = 0;
    this.pending = new Int16Array(0);
    this.skip = this.stream.preSkip;
    this.produced = 0;
    this.samplesOut = 0;
  }

  private decodeNext(): Int16Array {
    while (this.pending.length < FRAME_SAMPLES && this.nextPacket < this.stream.packets.length) {
      let pcm: Int16Array;
      try {
        pcm = this.decoder.decode(this.stream.packets[this.nextPacket]!);
      } catch (e) {
        if (!(e instanceof AudioDecodeError)) throw e;
        this.badPackets++;
        pcm = this.decoder.conceal();
      }
      this.nextPacket++;
      if (this.skip > 0) {
        const drop = Math.min(this.skip, pcm.length);
        this.skip -= drop;
        pcm = pcm.subarray(drop);
      }
      if (pcm.length === 0) continue;
      const joined = new Int16Array(this.pending.length + pcm.length);
      joined.set(this.pending);
      joined.set(pcm, this.pending.length);
      this.pending = joined;
    }
    const out = new Int16Array(FRAME_SAMPLES);
    const left = this.stream.totalSamples - this.samplesOut;
    const n = Math.max(0, Math.min(FRAME_SAMPLES, this.pending.length, left));
    out.set(this.pending.subarray(0, n));
    this.pending = this.pending.slice(n);
    this.samplesOut += n;
    return out;
  }
}

/** Open a cached Ogg Opus file as a programme source (one decoder per programme). */
export async function openOggOpusFile(path: string, repeats = 1): Promise<FileSource> {
  const [{ readFile }, { readOggOpus }, { createOpusDecoder }] = await Promise.all([import('node:fs/promises'), import('../audio/ogg.ts'), import('../audio/opus.ts')]);
  const stream = readOggOpus(await readFile(path));
  return new FileSource({ stream, decoder: createOpusDecoder(), repeats });
}
