/**
 * The agent's audio contract: the one PCM format every part of the agent's
 * audio path speaks, and the two ports the playout engine (edge-agent/playout/)
 * and the live source depend on — a decoder of Opus packets and a sink that
 * plays PCM. Adapters live beside this file: opus.ts (@discordjs/opus),
 * ogg.ts (reads the media library's files into packets), sinks/* (ALSA via
 * aplay, the simulated amplifier of firmware-sim, WAV file, null).
 *
 * Why one fixed format: the media library transcodes everything to Opus mono
 * 48 kHz (server/media/ingest.ts), live streams are encoded the same way, and
 * Opus always decodes natively at 48 kHz. Keeping PCM mono/48 kHz/s16 in
 * 20 ms frames everywhere means no resampling or channel mixing in the agent,
 * the engine can switch programmes (pre-emption) on any frame boundary, and
 * one frame is the unit of both timing and counting (receipts count frames).
 */

/** Opus decodes natively at 48 kHz; the library and live streams are encoded at it. */
export const SAMPLE_RATE = 48_000;
/** Mono: a public-address horn has one channel; the library downmixes at ingest. */
export const CHANNELS = 1;
/** One frame = 20 ms, Opus's default packet duration and the engine's scheduling slot. */
export const FRAME_MS = 20;
/** Samples per channel in one frame: 48 000 × 0.020. */
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000; // 960
/** Bytes of one frame as signed 16-bit little-endian PCM (what aplay -f S16_LE reads). */
export const FRAME_BYTES = FRAME_SAMPLES * CHANNELS * 2; // 1920

/**
 * Default output buffer of every sink, ms: how far ahead of its play time a
 * frame is written (the ALSA buffer; the simulated amplifier's batch). 100 ms
 * rides out an 80 ms stall on a Pi; a live frame must be in hand this plus the
 * engine's 40 ms batch before it is heard, so a bigger buffer eats the live
 * stream's jitter margin (server/live/delay-budget.ts).
 */
export const DEFAULT_OUTPUT_BUFFER_MS = 100;

/**
 * Decodes one Opus stream (one decoder per stream: Opus decoders carry state
 * between packets, which is what makes concealment and FEC possible, so a
 * decoder must not be shared between programmes playing in turn — create one
 * per programme or call reset() between them).
 *
 * Every method returns PCM in the agent format (mono, 48 kHz, s16).
 *
 * `into`, where a method takes it: a buffer the caller keeps (a live stream
 * decodes 50 packets a second into a few reused ones). A decoder that can
 * writes the samples there and returns `into` itself (or a view of its
 * start, for fewer samples); one that cannot, or when they do not fit,
 * returns a new array as without it. Callers check which.
 */
export interface OpusPacketDecoder {
  /**
   * Decode one packet into 960·k samples (k = packet duration / 20 ms; a
   * 2.5–10 ms packet gives fewer than 960). Throws AudioDecodeError for a
   * packet libopus refuses; the caller conceals that slot instead.
   */
  decode(packet: Uint8Array, into?: Int16Array): Int16Array;
  /**
   * Packet-loss concealment for one missing 20 ms frame: libopus extrapolates
   * from its state (and fades to silence after ~100 ms of consecutive losses),
   * which sounds far better than a gap of silence. Costs no input.
   */
  conceal(into?: Int16Array): Int16Array;
  /**
   * Rebuild the frame *before* `nextPacket` from the forward-error-correction
   * data (LBRR) the encoder put in it. Present only when the binding can do it;
   * callers check `decodeFec !== undefined` and fall back to conceal().
   */
  decodeFec?(nextPacket: Uint8Array, into?: Int16Array): Int16Array;
  /** Forget the stream state (a new stream starts; the next packet decodes without the past). */
  reset(): void;
}

/** A packet libopus refused, or a decoder that could not be created. */
export class AudioDecodeError extends Error {
  constructor(
    readonly code: 'bad_packet' | 'decoder_unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'AudioDecodeError';
  }
}

/** The sinks the agent can play to; `AudioSinkConfig.kind` in edge-agent/config.ts. */
export type AudioSinkKind = 'alsa' | 'device' | 'file' | 'null';

/**
 * Counters every sink keeps: the engine's statistics and the as-run receipts
 * read them. Cumulative over the sink object's life: the engine closes the
 * sink when the amplifier goes off and reopens it, and counts must not reset.
 */
export interface AudioSinkStats {
  /** Frames accepted by write(). */
  framesWritten: number;
  /**
   * Times the output ran dry while open: frames were due at the output and none
   * had been written (ALSA: a gap longer than the buffer between writes;
   * simulated amplifier: a frame's play-at already past when it arrived).
   */
  underruns: number;
  /** Frames dropped by flush() before they were heard (pre-emption). */
  framesFlushed: number;
  /** Local-clock play-at of the first and of the last frame written; null before the first. */
  firstPlayAtLocalMs: number | null;
  lastPlayAtLocalMs: number | null;
}

/**
 * Where decoded audio goes. One sink per agent; the playout engine is its only
 * writer (programmes pre-empt each other in the engine, not in the sink).
 *
 * Timing model: frames are written in play-at order; `latencyMs` is how far
 * ahead of its play-at a frame must be written (the output buffer ahead of
 * the speaker), so the engine writes the frame due at local time T by
 * T − latencyMs. `playAtLocalMs` is that T, on the engine's local clock (the
 * sink is given the same clock, `now`). Recording sinks (simulated amplifier,
 * WAV file) use it to say *when* a frame was heard without simulating an
 * audio clock; the ALSA sink uses it to hand each frame to the sound card on
 * schedule. A frame written after its play-at is heard late and counted as an
 * underrun; one written earlier than latencyMs waits in the sink.
 */
export interface AudioSink {
  readonly kind: AudioSinkKind;
  /** Output latency, ms: write a frame this long before its play-at. Constant while open. */
  readonly latencyMs: number;
  /** Acquire the output (spawn aplay, open the file...). Idempotent; write() before open() throws. */
  open(): Promise<void>;
  /**
   * Queue one frame (FRAME_SAMPLES samples of mono s16) due at `playAtLocalMs`
   * (local monotonic-or-wall clock the engine uses, ms). Frames must be written
   * in play-at order. Resolves when the sink can take more (backpressure: ALSA
   * pipe full); the engine must not write the next frame before that.
   */
  write(frame: Int16Array, playAtLocalMs: number): Promise<void>;
  /**
   * Drop whatever is buffered and not yet heard, so the next write is heard
   * within about one frame (pre-emption by an alert). Counted in framesFlushed.
   */
  flush(): Promise<void>;
  /** Let buffered audio finish (file sinks: finalise the file), then release the output. Idempotent. */
  close(): Promise<void>;
  stats(): AudioSinkStats;
}

/** A sink failed (aplay exited, the file cannot be written, the device link is down). */
export class AudioSinkError extends Error {
  constructor(
    readonly sink: AudioSinkKind,
    readonly code: 'not_open' | 'output_failed' | 'bad_frame',
    message: string,
  ) {
    super(message);
    this.name = 'AudioSinkError';
  }
}

/**
 * Opus packets in order, each asked for by index: readOggOpus gives an index
 * over the file's bytes (a view made per ask, not kept); a plain array of
 * packets is one too.
 */
export interface OpusPacketList extends Iterable<Uint8Array> {
  readonly length: number;
  at(index: number): Uint8Array | undefined;
}

/**
 * An Ogg Opus file read into its packets (edge-agent/audio/ogg.ts,
 * `readOggOpus(bytes)`): what a bulletin from the media library becomes before
 * decoding. Decode every packet in order with one decoder, then drop the first
 * `preSkip` samples (encoder delay, RFC 7845 §4.2) and keep `totalSamples`.
 */
export interface OggOpusStream {
  /** Channels in the stream (OpusHead); the library writes 1. */
  channels: number;
  /** Samples at 48 kHz to discard from the decoded start (OpusHead pre-skip). */
  preSkip: number;
  /** Rate the source had before encoding (informational; Opus always decodes at 48 kHz). */
  inputSampleRate: number;
  /** OpusHead output gain, Q7.8 dB; the library writes 0 (loudness is normalised at ingest). */
  outputGainQ8: number;
  /** The audio packets in order (OpusHead and OpusTags excluded). */
  packets: OpusPacketList;
  /** Playable samples at 48 kHz: last granule position − pre-skip (RFC 7845 §4). */
  totalSamples: number;
  /** totalSamples in ms. */
  durationMs: number;
}
