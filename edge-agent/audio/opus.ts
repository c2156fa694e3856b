/**
 * The agent's Opus decoder (OpusPacketDecoder in types.ts).
 *
 * Preferred: loanet's own libopus binding (native/opus-decoder/opus_decoder.c, built by
 * `prepare` from the libopus 1.3.1 sources @discordjs/opus vendors). It gives
 * libopus's three decode modes exactly: decode a packet, conceal exactly one
 * 20 ms frame (PLC), and rebuild a lost frame from the next packet's in-band
 * FEC (decode_fec = 1) — what live playout needs on lossy 4G links.
 *
 * Fallback, when the binding could not be built (no C compiler on a board):
 * @discordjs/opus, whose src/node-opus.cc (v0.10) offers one class,
 * OpusEncoder(rate, channels), with `decode(buf)` calling
 * `opus_decode(dec, data, len, pcm, 5760, decode_fec = 0)`:
 *
 * - Decode: yes.
 * - Packet-loss concealment: indirectly. An EMPTY buffer reaches opus_decode
 *   with len 0, which libopus treats as a lost packet — but with frame_size
 *   5760, so one call conceals 120 ms (six 20 ms frames). conceal() runs PLC
 *   once per six losses and hands the frames out one per call; if real
 *   packets come back sooner the decoder state has run ahead by the unused
 *   concealment (a rougher join, never a timing shift: we count our frames).
 * - In-band FEC: NOT exposed (decode_fec hard-coded 0), so `decodeFec` is
 *   undefined and the live jitter buffer's "use FEC from the next packet"
 *   falls back to conceal(). The agent logs this at start (fecAvailable).
 */
import { createRequire } from 'node:module';
import { AudioDecodeError, FRAME_SAMPLES, SAMPLE_RATE, type OpusPacketDecoder } from './types.ts';

/** The binding's API (native/opus-decoder/opus_decoder.c). */
interface NativeOpus {
  create(sampleRate: number, channels: number): object;
  /**
   * packet null → PLC of frameSamples; fec → rebuild frameSamples before `packet`; frameSamples 0 → the packet's own length.
   * With `out` large enough: the samples are written there and their count returned (a binding built before
   * `out` existed ignores it and returns a new array).
   */
  decode(handle: object, packet: Uint8Array | null, frameSamples: number, fec: boolean, out?: Int16Array): Int16Array | number;
  reset(handle: object): void;
  destroy(handle: object): void;
  libopusVersion: string;
}

/**
 * Where the binding is: beside the built agent (scripts/build.ts copies it
 * into the bundle's folder, as a package installs it), else where `npm run
 * prepare` builds it, relative to this source file.
 */
const NATIVE_PATHS = ['./loanet_opus.node', '../../native/opus-decoder/build/Release/loanet_opus.node'];

function loadNative(): { binding: NativeOpus | null; error?: string } {
  const req = createRequire(import.meta.url);
  let error = '';
  for (const p of NATIVE_PATHS) {
    try {
      return { binding: req(p) as NativeOpus };
    } catch (e) {
      error ||= (e as Error).message.split('\n')[0]!;
      // Found but unloadable (built for another architecture or Node): that is the reason to report.
      if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') {
        error = (e as Error).message.split('\n')[0]!;
        break;
      }
    }
  }
  return { binding: null, error };
}

const native = loadNative();

/**
 * Whether lost live packets can be rebuilt from in-band FEC here; when not,
 * why (the agent logs it at start: a site that only conceals sounds worse
 * under loss, and a technician should know).
 */
export const opusFec: { available: boolean; libopus?: string; why?: string } = native.binding
  ? { available: true, libopus: native.binding.libopusVersion }
  : { available: false, why: `loanet's libopus binding is not built (npm run prepare builds it): ${native.error}` };

interface DecoderCounters {
  packetsDecoded: number;
  framesConcealed: number;
  badPackets: number;
}

/** The binding's answer as samples: a count of those written into `into`, or a new array. */
function samplesIn(answer: Int16Array | number, into: Int16Array | undefined): Int16Array {
  if (typeof answer !== 'number') return answer;
  return answer === into!.length ? into! : into!.subarray(0, answer);
}

/** loanet's libopus binding: decode, exact 20 ms PLC, in-band FEC. */
export class NativeOpusDecoder implements OpusPacketDecoder, DecoderCounters {
  private readonly lib: NativeOpus;
  private handle: object;
  packetsDecoded = 0;
  framesConcealed = 0;
  badPackets = 0;
  /** Frames rebuilt from the next packet's FEC data. */
  framesFromFec = 0;

  constructor(lib: NativeOpus) {
    this.lib = lib;
    try {
      this.handle = lib.create(SAMPLE_RATE, 1);
    } catch (e) {
      throw new AudioDecodeError('decoder_unavailable', `cannot create an Opus decoder (libopus): ${(e as Error).message}`);
    }
  }

  decode(packet: Uint8Array, into?: Int16Array): Int16Array {
    if (packet.length === 0) throw new AudioDecodeError('bad_packet', 'an empty Opus packet (use conceal() for a lost one)');
    let pcm: Int16Array;
    try {
      pcm = samplesIn(this.lib.decode(this.handle, packet, 0, false, into), into);
    } catch (e) {
      this.badPackets++;
      throw new AudioDecodeError('bad_packet', `libopus refused the packet (${packet.length} bytes): ${(e as Error).message}`);
    }
    this.packetsDecoded++;
    return pcm;
  }

  conceal(into?: Int16Array): Int16Array {
    this.framesConcealed++;
    try {
      return samplesIn(this.lib.decode(this.handle, null, FRAME_SAMPLES, false, into), into);
    } catch {
      return into && into.length >= FRAME_SAMPLES ? into.fill(0, 0, FRAME_SAMPLES).subarray(0, FRAME_SAMPLES) : new Int16Array(FRAME_SAMPLES);
    }
  }

  decodeFec(nextPacket: Uint8Array, into?: Int16Array): Int16Array {
    // libopus reads the LBRR copy of the previous frame out of `nextPacket`
    // (or conceals when it carries none); the next call decodes nextPacket itself.
    try {
      const pcm = samplesIn(this.lib.decode(this.handle, nextPacket, FRAME_SAMPLES, true, into), into);
      this.framesFromFec++;
      return pcm;
    } catch (e) {
      throw new AudioDecodeError('bad_packet', `libopus could not read FEC from the next packet (${nextPacket.length} bytes): ${(e as Error).message}`);
    }
  }

  reset(): void {
    this.lib.reset(this.handle);
  }
}

type DiscordOpus = typeof import('@discordjs/opus');
type Binding = InstanceType<DiscordOpus['OpusEncoder']>;
let discordOpus: DiscordOpus | undefined;

/**
 * @discordjs/opus, loaded on first use: a board with loanet's binding never
 * decodes with it, and loading it costs ~13 MiB of resident memory (its own
 * libopus and its loader) of the ~60 a board's agent may use.
 */
function newFallbackBinding(): Binding {
  discordOpus ??= createRequire(import.meta.url)('@discordjs/opus') as DiscordOpus;
  return new discordOpus.OpusEncoder(SAMPLE_RATE, 1);
}

/** libopus's OPUS_RESET_STATE takes no argument; the binding's CTL call always passes one, which libopus ignores. */
const OPUS_RESET_STATE = 4028;

/** View s16le bytes as samples (copy when unaligned, which Buffer.Copy from the add-on never is in practice). */
function samplesOf(pcm: Buffer): Int16Array {
  if (pcm.byteOffset % 2 === 0) return new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
  const out = new Int16Array(pcm.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2);
  return out;
}

/** The fallback over @discordjs/opus: decode and PLC, no FEC (see the top of this file). */
export class LibopusDecoder implements OpusPacketDecoder, DecoderCounters {
  private binding: Binding;
  /** Concealment frames already computed by one 120 ms PLC call, handed out one per conceal(). */
  private concealed: Int16Array[] = [];
  /** Counters for statistics: how often the stream needed help. */
  packetsDecoded = 0;
  framesConcealed = 0;
  badPackets = 0;

  constructor() {
    try {
      this.binding = newFallbackBinding();
    } catch (e) {
      throw new AudioDecodeError('decoder_unavailable', `cannot create an Opus decoder (@discordjs/opus): ${(e as Error).message}`);
    }
  }

  decode(packet: Uint8Array): Int16Array {
    if (packet.length === 0) throw new AudioDecodeError('bad_packet', 'an empty Opus packet (use conceal() for a lost one)');
    this.concealed = [];
    let pcm: Buffer;
    try {
      pcm = this.binding.decode(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
    } catch (e) {
      this.badPackets++;
      throw new AudioDecodeError('bad_packet', `libopus refused the packet (${packet.length} bytes): ${(e as Error).message}`);
    }
    this.packetsDecoded++;
    return samplesOf(pcm);
  }

  conceal(): Int16Array {
    if (this.concealed.length === 0) {
      let all: Int16Array;
      try {
        all = samplesOf(this.binding.decode(Buffer.alloc(0)));
      } catch {
        // No packet decoded yet (or libopus refused): silence is the only honest answer.
        all = new Int16Array(FRAME_SAMPLES);
      }
      for (let at = 0; at + FRAME_SAMPLES <= all.length; at += FRAME_SAMPLES) this.concealed.push(all.subarray(at, at + FRAME_SAMPLES));
      if (this.concealed.length === 0) this.concealed.push(new Int16Array(FRAME_SAMPLES));
    }
    this.framesConcealed++;
    return this.concealed.shift()!;
  }

  reset(): void {
    this.concealed = [];
    try {
      this.binding.applyDecoderCTL(OPUS_RESET_STATE, 0);
    } catch {
      // Some libopus builds refuse the extra argument: start over with a fresh decoder instead.
      this.binding = newFallbackBinding();
    }
  }
}

/**
 * A decoder for one stream (bulletin, alert, live stream): loanet's binding
 * when it is built, else @discordjs/opus (no FEC). `prefer: 'fallback'` forces
 * the latter (tests compare the two; a technician can rule the binding out).
 */
export function createOpusDecoder(prefer: 'native' | 'fallback' = 'native'): OpusPacketDecoder & DecoderCounters {
  if (prefer === 'native' && native.binding) return new NativeOpusDecoder(native.binding);
  return new LibopusDecoder();
}

/**
 * Decode a whole Ogg Opus stream (see ogg.ts) to PCM, pre-skip removed and
 * trimmed to its granule length: what a file sink test or a tone cache needs.
 * Packets libopus refuses are concealed, not fatal (counted on the decoder).
 */
export function decodeStream(stream: { packets: Iterable<Uint8Array>; preSkip: number; totalSamples: number }, decoder: OpusPacketDecoder = createOpusDecoder()): Int16Array {
  const out = new Int16Array(stream.preSkip + stream.totalSamples + FRAME_SAMPLES * 6);
  let at = 0;
  for (const p of stream.packets) {
    let pcm: Int16Array;
    try {
      pcm = decoder.decode(p);
    } catch (e) {
      if (!(e instanceof AudioDecodeError)) throw e;
      pcm = decoder.conceal();
    }
    const n = Math.min(pcm.length, out.length - at);
    out.set(pcm.subarray(0, n), at);
    at += n;
    if (at >= out.length) break;
  }
  const end = Math.min(at, stream.preSkip + stream.totalSamples);
  return out.slice(Math.min(stream.preSkip, end), end);
}
