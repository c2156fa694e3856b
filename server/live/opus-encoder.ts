/**
 * One Opus encoder for one live stream: 48 kHz mono PCM (s16le) in, one
 * 20 ms Opus packet out per call. A thin shell over @discordjs/opus (libopus),
 * whose binding creates the encoder in OPUS_APPLICATION_AUDIO and exposes
 * raw `opus_encoder_ctl` calls, so the settings that matter on lossy 4G are
 * applied by CTL number (values from libopus's opus_defines.h):
 * - in-band FEC (LBRR) on, with the expected loss in percent: the encoder
 *   then spends part of the bitrate on a low-rate copy of packet k inside
 *   packet k+1, and a site that lost k rebuilds it from k+1
 *   (edge-agent/playout/jitter-buffer.ts hands out `useFecFrom`);
 * - signal type voice for speech (the SILK layer, where LBRR lives, is used
 *   at speech bitrates), left to auto-detect for relayed radio with music;
 * - VBR off (CBR): every packet the same size, so the bytes on each 4G link
 *   are predictable and a packet's size says nothing about its content.
 */
import opus from '@discordjs/opus';

// A CommonJS add-on: its named exports are not visible to ESM's static analysis.
const { OpusEncoder } = opus;

export const LIVE_SAMPLE_RATE = 48_000;
export const LIVE_FRAME_MS = 20;
/** Samples of one 20 ms frame at 48 kHz mono. */
export const LIVE_FRAME_SAMPLES = (LIVE_SAMPLE_RATE / 1000) * LIVE_FRAME_MS;
/** Bytes of one 20 ms frame of s16le PCM. */
export const LIVE_FRAME_BYTES = LIVE_FRAME_SAMPLES * 2;

// libopus opus_defines.h
const OPUS_SET_VBR_REQUEST = 4006;
const OPUS_SET_COMPLEXITY_REQUEST = 4010;
const OPUS_SET_INBAND_FEC_REQUEST = 4012;
const OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014;
const OPUS_SET_SIGNAL_REQUEST = 4024;
const OPUS_AUTO = -1000;
const OPUS_SIGNAL_VOICE = 3001;

export interface LiveEncoderOptions {
  /** bit/s (default 24,000: clear speech, and radio at an acceptable quality). */
  bitrate?: number;
  /** Send in-band FEC (default true). */
  fec?: boolean;
  /** Loss the encoder expects, percent (default 10); more spends more on FEC. */
  expectedLossPct?: number;
  /** 'voice' for a microphone, 'auto' for relayed radio with music (default 'auto'). */
  signal?: 'voice' | 'auto';
  /** 0..10 (default 8: well within a server core for a handful of streams). */
  complexity?: number;
}

export class LiveOpusEncoder {
  readonly bitrate: number;
  readonly fec: boolean;
  private readonly encoder: InstanceType<typeof OpusEncoder>;

  constructor(options: LiveEncoderOptions = {}) {
    this.bitrate = options.bitrate ?? 24_000;
    this.fec = options.fec ?? true;
    this.encoder = new OpusEncoder(LIVE_SAMPLE_RATE, 1);
    this.encoder.setBitrate(this.bitrate);
    this.encoder.applyEncoderCTL(OPUS_SET_VBR_REQUEST, 0);
    this.encoder.applyEncoderCTL(OPUS_SET_COMPLEXITY_REQUEST, options.complexity ?? 8);
    this.encoder.applyEncoderCTL(OPUS_SET_INBAND_FEC_REQUEST, this.fec ? 1 : 0);
    this.encoder.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC_REQUEST, this.fec ? (options.expectedLossPct ?? 10) : 0);
    this.encoder.applyEncoderCTL(OPUS_SET_SIGNAL_REQUEST, options.signal === 'voice' ? OPUS_SIGNAL_VOICE : OPUS_AUTO);
  }

  /** One 20 ms frame (exactly LIVE_FRAME_BYTES of s16le) → one Opus packet. */
  encode(pcm: Buffer): Buffer {
    if (pcm.length !== LIVE_FRAME_BYTES) throw new RangeError(`Opus encoder takes ${LIVE_FRAME_BYTES} bytes (20 ms), got ${pcm.length}`);
    return this.encoder.encode(pcm);
  }
}
