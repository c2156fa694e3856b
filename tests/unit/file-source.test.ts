/**
 * The Ogg Opus file source (edge-agent/playout/file-source.ts) with a fake
 * decoder whose "PCM" counts samples, so every frame's content says exactly
 * which samples of the stream it holds: pre-skip dropped, 960 per frame, the
 * last one padded with silence, repeats, and the same frame again when the
 * engine asks for an index it had (recent, or older than what is kept).
 */
import { describe, expect, it } from 'vitest';
import { FileSource } from '../../edge-agent/playout/file-source.ts';
import { AudioDecodeError, FRAME_SAMPLES, type OggOpusStream, type OpusPacketDecoder } from '../../edge-agent/audio/types.ts';

/** Packet k decodes to samples numbered k·960 + 1 … (k+1)·960 (never 0, so padding shows as 0). */
class CountingDecoder implements OpusPacketDecoder {
  next = 0;
  resets = 0;
  decoded = 0;
  decode(packet: Uint8Array): Int16Array {
    if (packet[0] === 0xff) throw new AudioDecodeError('bad_packet', 'refused');
    this.decoded++;
    const out = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < out.length; i++) out[i] = ((this.next + i) % 30000) + 1;
    this.next += FRAME_SAMPLES;
    return out;
  }
  conceal(): Int16Array {
    this.next += FRAME_SAMPLES;
    return new Int16Array(FRAME_SAMPLES).fill(-1);
  }
  reset(): void {
    this.next = 0;
    this.resets++;
  }
}

function stream(packets: number, preSkip: number, totalSamples: number, bad: number[] = []): OggOpusStream {
  return {
    channels: 1,
    preSkip,
    inputSampleRate: 48000,
    outputGainQ8: 0,
    totalSamples,
    durationMs: totalSamples / 48,
    packets: Array.from({ length: packets }, (_, k) => new Uint8Array([bad.includes(k) ? 0xff : 1])),
  };
}

/** The sample number a frame's first sample should carry (1-based, after pre-skip). */
const firstSampleOf = (frame: number, preSkip: number) => ((frame * FRAME_SAMPLES + preSkip) % 30000) + 1;

describe('FileSource', () => {
  it('cuts the decoded stream into 20 ms frames after the pre-skip, and pads the last one with silence', () => {
    const total = 10 * FRAME_SAMPLES + 100; // 10 frames and a bit
    const src = new FileSource({ stream: stream(12, 312, total), decoder: new CountingDecoder() });
    expect(src.totalFrames).toBe(11);
    for (let k = 0; k < 11; k++) expect(src.frame(k)![0], `frame ${k}`).toBe(firstSampleOf(k, 312));
    const last = src.frame(10)!;
    expect(last[99]).toBe(((10 * FRAME_SAMPLES + 99 + 312) % 30000) + 1);
    expect(last[100]).toBe(0);
    expect(last.subarray(100).every((x) => x === 0)).toBe(true);
    expect(src.frame(11)).toBeNull();
  });

  it('plays the file `repeats` times, each pass from its own start', () => {
    const src = new FileSource({ stream: stream(6, 0, 5 * FRAME_SAMPLES), decoder: new CountingDecoder(), repeats: 3 });
    expect(src.totalFrames).toBe(15);
    const firsts = Array.from({ length: 15 }, (_, k) => src.frame(k)![0]);
    expect(firsts).toEqual([0, 1, 2].flatMap(() => [0, 1, 2, 3, 4].map((k) => firstSampleOf(k, 0))));
    expect(src.frame(15)).toBeNull();
  });

  it('gives the same frame again for an index it had, from memory when recent and by decoding again when older', () => {
    const decoder = new CountingDecoder();
    const src = new FileSource({ stream: stream(40, 0, 40 * FRAME_SAMPLES), decoder, keepFrames: 8 });
    for (let k = 0; k < 30; k++) src.frame(k);
    const decodedBefore = decoder.decoded;
    // A pre-emption retracted the last 5 frames: asked again, they come from memory.
    for (let k = 25; k < 30; k++) expect(src.frame(k)![0]).toBe(firstSampleOf(k, 0));
    expect(decoder.decoded).toBe(decodedBefore);
    // Older than what is kept: decoded again from the start, same samples.
    expect(src.frame(3)![0]).toBe(firstSampleOf(3, 0));
    expect(decoder.resets).toBe(1);
    expect(src.frame(4)![0]).toBe(firstSampleOf(4, 0));
  });

  it('cuts packets of any length (2.5 to 120 ms, and longer from a decoder that gives more) into the same frames', () => {
    // Packet k's length in samples is sizes[k % sizes.length]; the samples count on across packets.
    const sizes = [120, 5760, 480, 960, 2880, 240, 1920, 7000];
    class VaryingDecoder implements OpusPacketDecoder {
      next = 0;
      k = 0;
      decode(): Int16Array {
        const out = new Int16Array(sizes[this.k++ % sizes.length]!);
        for (let i = 0; i < out.length; i++) out[i] = ((this.next + i) % 30000) + 1;
        this.next += out.length;
        return out;
      }
      conceal(): Int16Array {
        return new Int16Array(FRAME_SAMPLES);
      }
      reset(): void {
        this.next = 0;
        this.k = 0;
      }
    }
    const total = 3 * sizes.reduce((a, b) => a + b, 0) - 312 - 500;
    const src = new FileSource({ stream: stream(3 * sizes.length, 312, total), decoder: new VaryingDecoder(), keepFrames: 4 });
    expect(src.totalFrames).toBe(Math.ceil(total / FRAME_SAMPLES));
    for (let k = 0; k < src.totalFrames; k++) {
      const f = src.frame(k)!;
      const real = Math.min(FRAME_SAMPLES, total - k * FRAME_SAMPLES);
      const want = Array.from({ length: FRAME_SAMPLES }, (_, i) => (i < real ? ((k * FRAME_SAMPLES + i + 312) % 30000) + 1 : 0));
      expect(Array.from(f), `frame ${k}`).toEqual(want);
    }
    // Asked again from the start (older than the 4 kept): decoded again, the same samples.
    expect(src.frame(1)![0]).toBe(firstSampleOf(1, 312));
  });

  it('decodes every packet into one array it keeps, and a frame it handed out stays as it was while newer packets are decoded', () => {
    // TOC bytes (RFC 6716 §3.1) of packets of 2.5, 5, 10, 20, 40, 60 and 120 ms: the source sizes what it hands the decoder by them.
    const tocs = [[0x80], [0x88], [0x90], [0x98], [0x10], [0x18], [0x1b, 0x02]];
    const sizes = [120, 240, 480, 960, 1920, 2880, 5760];
    /** Writes into `into` as loanet's libopus binding does, and counts the calls that gave it none or one of another size. */
    class WritingDecoder implements OpusPacketDecoder {
      next = 0;
      k = 0;
      buffers = new Set<ArrayBufferLike>();
      unfit = 0;
      decode(_packet: Uint8Array, into?: Int16Array): Int16Array {
        const n = sizes[this.k++ % sizes.length]!;
        if (into?.length !== n) this.unfit++;
        const out = into && into.length >= n ? into.subarray(0, n) : new Int16Array(n);
        if (into) this.buffers.add(into.buffer);
        for (let i = 0; i < n; i++) out[i] = ((this.next + i) % 30000) + 1;
        this.next += n;
        return out;
      }
      conceal(into?: Int16Array): Int16Array {
        return (into ?? new Int16Array(FRAME_SAMPLES)).fill(0);
      }
      reset(): void {
        this.next = 0;
        this.k = 0;
      }
    }
    const decoder = new WritingDecoder();
    const total = 2 * sizes.reduce((a, b) => a + b, 0) - 312;
    const packets = Array.from({ length: 2 * sizes.length }, (_, k) => new Uint8Array(tocs[k % tocs.length]!));
    const src = new FileSource({ stream: { ...stream(0, 312, total), packets }, decoder, keepFrames: 8 });
    const first = src.frame(0)!;
    const heard = Array.from(first);
    for (let k = 1; k < 8; k++) {
      const f = src.frame(k)!;
      expect(Array.from(f.subarray(0, 3)), `frame ${k}`).toEqual([0, 1, 2].map((i) => ((k * FRAME_SAMPLES + i + 312) % 30000) + 1));
      expect(Array.from(first), `frame 0 after frame ${k}`).toEqual(heard);
    }
    expect(heard[0]).toBe(firstSampleOf(0, 312));
    for (let k = 8; k < src.totalFrames; k++) expect(src.frame(k)![0], `frame ${k}`).toBe(firstSampleOf(k, 312));
    expect(decoder.buffers.size, 'arrays the decoder was handed').toBe(1);
    expect(decoder.unfit, 'packets handed no array, or one not of their size').toBe(0);
  });

  it('conceals a packet libopus refuses instead of failing the bulletin', () => {
    const src = new FileSource({ stream: stream(5, 0, 5 * FRAME_SAMPLES, [2]), decoder: new CountingDecoder() });
    expect(src.frame(2)![0]).toBe(-1);
    expect(src.frame(3)![0]).toBe(firstSampleOf(3, 0));
    expect(src.badPackets).toBe(1);
  });
});
