/**
 * The agent's Opus decoder (OpusPacketDecoder in types.ts) over
 * @discordjs/opus, the maintained binding of libopus.
 *
 * What the binding offers (read from its src/node-opus.cc, v0.10): one class,
 * OpusEncoder(rate, channels), whose `decode(buf)` calls
 * `opus_decode(dec, data, len, pcm, 5760, decode_fec = 0)` and returns s16le
 * PCM; `applyDecoderCTL(ctl, int)` for setter CTLs. So:
 *
 * - Decode: yes. One binding object per stream (its decoder keeps state).
 * - Packet-loss concealment: yes, indirectly. An EMPTY buffer reaches
 *   opus_decode with len 0, which libopus treats as a lost packet — but the
 *   binding passes frame_size 5760, so one call conceals 120 ms (six 20 ms
 *   frames of the last packet's duration). conceal() therefore runs PLC once
 *   per six losses and hands the frames out one per call, which is exactly
 *   what consecutive calls would have produced. The cost: if real packets come
 *   back after fewer than six losses, the decoder's state has run ahead by the
 *   unused concealment. The next real packet decodes normally (SILK/CELT state
 *   resynchronises within a frame); the only effect is a smoother-or-rougher
 *   join than libopus would give, never a timing shift (we count our frames).
 * - In-band FEC (decode_fec = 1): NOT exposed — the flag is hard-coded 0 and
 *   no CTL selects it. `decodeFec` is therefore left undefined, and the live
 *   jitter buffer's "use FEC from the next packet" falls back to conceal().
 *   Exposing it needs a patched binding (one extra argument to Decode).
 */
import opus from '@discordjs/opus';
import { AudioDecodeError, FRAME_SAMPLES, SAMPLE_RATE, type OpusPacketDecoder } from './types.ts';

// A CommonJS add-on: its named exports are not visible to ESM's static analysis.
const { OpusEncoder } = opus;
type Binding = InstanceType<typeof OpusEncoder>;

/** libopus's OPUS_RESET_STATE takes no argument; the binding's CTL call always passes one, which libopus ignores. */
const OPUS_RESET_STATE = 4028;

/** View s16le bytes as samples (copy when unaligned, which Buffer.Copy from the add-on never is in practice). */
function samplesOf(pcm: Buffer): Int16Array {
  if (pcm.byteOffset % 2 === 0) return new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
  const out = new Int16Array(pcm.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2);
  return out;
}

export class LibopusDecoder implements OpusPacketDecoder {
  private binding: Binding;
  /** Concealment frames already computed by one 120 ms PLC call, handed out one per conceal(). */
  private concealed: Int16Array[] = [];
  /** Counters for statistics: how often the stream needed help. */
  packetsDecoded = 0;
  framesConcealed = 0;
  badPackets = 0;

  constructor() {
    try {
      this.binding = new OpusEncoder(SAMPLE_RATE, 1);
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
      this.binding = new OpusEncoder(SAMPLE_RATE, 1);
    }
  }
}

/** A decoder for one stream (bulletin, alert, live stream). */
export function createOpusDecoder(): OpusPacketDecoder & { packetsDecoded: number; framesConcealed: number; badPackets: number } {
  return new LibopusDecoder();
}

/**
 * Decode a whole Ogg Opus stream (see ogg.ts) to PCM, pre-skip removed and
 * trimmed to its granule length: what a file sink test or a tone cache needs.
 * Packets libopus refuses are concealed, not fatal (counted on the decoder).
 */
export function decodeStream(stream: { packets: Uint8Array[]; preSkip: number; totalSamples: number }, decoder: OpusPacketDecoder = createOpusDecoder()): Int16Array {
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
