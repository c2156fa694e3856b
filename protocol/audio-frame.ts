/**
 * The binary audio message of the live-broadcast issue: one MQTT payload on an
 * area channel (`loanet/v1/areas/{areaKey}/audio`) carrying a few Opus packets
 * and the server-clock time at which the first of them is to be played. Pure,
 * no I/O; docs/protocol.md ("Audio frames") is the human-readable spec. The
 * server's live streams (server/live/) publish them; agents (edge-agent/live/)
 * play them.
 *
 * All integers are big-endian (network order), as in protocol/device.ts.
 *
 *   byte  0      1      2        3       4        5       6 .. 9       10 .. 13
 *        ┌──────┬──────┬────────┬───────┬────────┬───────┬────────────┬────────────┐
 *        │ 0x4C │ 0x41 │version │ flags │ codec  │ count │ stream id  │ seq        │
 *        │ 'L'  │ 'A'  │  = 1   │       │        │ N     │ u32        │ u32, wraps │
 *        └──────┴──────┴────────┴───────┴────────┴───────┴────────────┴────────────┘
 *         14 .. 21                                   22 ..
 *        ┌──────────────────────────────────────────┬───────────┬──────────┬─────┬───────────┬──────────┐
 *        │ play-at: µs since the Unix epoch, server │ len₁ u16  │ packet₁  │ ... │ len_N u16 │ packet_N │
 *        │ clock, u64 (high u32, then low u32)      │ (1..)     │ Opus     │     │           │ Opus     │
 *        └──────────────────────────────────────────┴───────────┴──────────┴─────┴───────────┴──────────┘
 *
 *   flags   bit 0  fec          the encoder put in-band FEC (LBRR) in the packets, so
 *                               packet k+1 can rebuild a lost packet k
 *           bit 1  marker       the agent reports the local play time of this message
 *                               (skew measurement between sites)
 *           bit 2  end_of_stream the last message of the stream
 *           bits 3-7 reserved, must be 0 (a frame with any set is refused, as an
 *                               unknown JSON field is: see "Versioning")
 *   codec   high nibble: sample-rate index  0 48 kHz, 1 24 kHz, 2 16 kHz, 3 12 kHz, 4 8 kHz
 *           low nibble:  packet-duration index 0 2.5 ms, 1 5, 2 10, 3 20, 4 40, 5 60 ms
 *           (20 ms at 48 kHz is 0x03). Channels and bitrate are in the stream start message.
 *   count   N Opus packets, 1..10 (default 3 × 20 ms = 60 ms per message)
 *   packet k plays at play-at + (k-1) × packet duration.
 *
 * Decisions:
 * - Magic "LA": rejects a stray payload cheaply, and its first byte can never
 *   start a JSON object (`{`), so a channel could carry JSON control messages
 *   beside binary frames and a receiver tells them apart by the first byte.
 * - Stream id u32, not a 16-byte UUID: the server allocates it and the stream
 *   start message binds it to its meaning; it only has to be unique among the
 *   streams live at once. 12 bytes saved × ~17 messages/s is ~1.6 kbit/s per
 *   site, ~7 % of a 24 kbit/s speech stream, paid on every 4G link.
 * - Play-at in µs as a u64 written as two u32 halves: an integer that C firmware
 *   reads as uint64_t, and JavaScript rebuilds exactly as hi × 2³² + lo without
 *   BigInt while it stays below 2⁵³ µs (year 2255); a larger value is refused
 *   ('bad_time'). µs, because a frame time in ms would cap the sync we can
 *   express at 1 ms, and 2.5 ms packets are not whole ms. A float64 would also
 *   be exact but admits NaN, negatives and fractions that every reader would
 *   have to refuse.
 * - Length-prefixed packets (u16, ≥ 1: RFC 6716 §3.4 [R1], an Opus packet has
 *   at least its TOC byte), no trailing bytes, at most AUDIO_FRAME_MAX_BYTES.
 */

export const AUDIO_FRAME_MAGIC_0 = 0x4c; // 'L'
export const AUDIO_FRAME_MAGIC_1 = 0x41; // 'A'
export const AUDIO_FRAME_VERSION = 1;
export const AUDIO_FRAME_HEADER_BYTES = 22;
/** Largest message: ten 20 ms packets at 256 kbit/s fit; speech at 24 kbit/s is ~200 bytes. */
export const AUDIO_FRAME_MAX_BYTES = 8 * 1024;
export const AUDIO_FRAME_MIN_PACKETS = 1;
export const AUDIO_FRAME_MAX_PACKETS = 10;
export const AUDIO_FRAME_DEFAULT_PACKETS = 3;

export const AUDIO_FLAG_FEC = 0x01;
export const AUDIO_FLAG_MARKER = 0x02;
export const AUDIO_FLAG_END_OF_STREAM = 0x04;
const KNOWN_FLAGS = AUDIO_FLAG_FEC | AUDIO_FLAG_MARKER | AUDIO_FLAG_END_OF_STREAM;

/** Sample rates Opus decodes to, by the codec byte's high nibble. */
export const OPUS_SAMPLE_RATES = [48000, 24000, 16000, 12000, 8000] as const;
export type OpusSampleRate = (typeof OPUS_SAMPLE_RATES)[number];
/** Opus frame sizes (RFC 6716 §2.1.4) in µs, by the codec byte's low nibble. */
export const OPUS_PACKET_DURATIONS_US = [2500, 5000, 10000, 20000, 40000, 60000] as const;
export type OpusPacketDurationUs = (typeof OPUS_PACKET_DURATIONS_US)[number];

const U32 = 0x1_0000_0000;
/** 2⁵³ / 2³²: the high half of play-at must stay below this for an exact number. */
const MAX_TIME_HIGH = 0x20_0000;

export interface AudioFrame {
  /** u32, allocated by the server; the stream start message says what it is. */
  streamId: number;
  /** u32 message counter, +1 per message, wraps from 2³²−1 to 0. */
  seq: number;
  /** When the first packet plays: µs since the Unix epoch on the server clock (a safe integer). */
  playAtUs: number;
  sampleRate: OpusSampleRate;
  /** Duration of each packet, µs. */
  packetDurationUs: OpusPacketDurationUs;
  fec: boolean;
  marker: boolean;
  endOfStream: boolean;
  /** 1..10 Opus packets, each 1..65535 bytes. Decoded packets are views into the input buffer. */
  packets: Uint8Array[];
}

export type AudioFrameErrorCode = 'truncated' | 'oversized' | 'bad_magic' | 'bad_version' | 'bad_flags' | 'bad_codec' | 'bad_count' | 'bad_time' | 'bad_packet' | 'trailing_bytes';

export type AudioFrameDecoded = { ok: true; frame: AudioFrame } | { ok: false; code: AudioFrameErrorCode; reason: string };

/** Signed distance from sequence number `a` to `b` modulo 2³² (−2³¹..2³¹−1): positive when b is after a. */
export function seqDelta(a: number, b: number): number {
  const d = (b - a) >>> 0;
  return d >= 0x8000_0000 ? d - U32 : d;
}

/** The sequence number after `seq`, wrapping at 2³². */
export function nextSeq(seq: number): number {
  return (seq + 1) >>> 0;
}

/** Bytes of the encoded message for these packet sizes. */
export function audioFrameSize(packetLengths: readonly number[]): number {
  let n = AUDIO_FRAME_HEADER_BYTES;
  for (const l of packetLengths) n += 2 + l;
  return n;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < U32;
}

/**
 * Encode one message. Throws RangeError on our own bug (a field out of range,
 * a message over AUDIO_FRAME_MAX_BYTES); a sender checks sizes before it calls.
 */
export function encodeAudioFrame(frame: AudioFrame): Buffer {
  const { streamId, seq, playAtUs, packets } = frame;
  if (!isU32(streamId)) throw new RangeError(`audio stream id ${streamId} is not a u32`);
  if (!isU32(seq)) throw new RangeError(`audio seq ${seq} is not a u32`);
  if (!Number.isSafeInteger(playAtUs) || playAtUs < 0) throw new RangeError(`audio play-at ${playAtUs} µs is not a safe non-negative integer`);
  const rate = OPUS_SAMPLE_RATES.indexOf(frame.sampleRate);
  const dur = OPUS_PACKET_DURATIONS_US.indexOf(frame.packetDurationUs);
  if (rate < 0) throw new RangeError(`audio sample rate ${frame.sampleRate} is not an Opus rate`);
  if (dur < 0) throw new RangeError(`audio packet duration ${frame.packetDurationUs} µs is not an Opus frame size`);
  if (packets.length < AUDIO_FRAME_MIN_PACKETS || packets.length > AUDIO_FRAME_MAX_PACKETS) {
    throw new RangeError(`audio message with ${packets.length} packets; 1..${AUDIO_FRAME_MAX_PACKETS} allowed`);
  }
  for (const p of packets) {
    if (p.length < 1 || p.length > 0xffff) throw new RangeError(`Opus packet of ${p.length} bytes; 1..65535 allowed`);
  }
  const size = audioFrameSize(packets.map((p) => p.length));
  if (size > AUDIO_FRAME_MAX_BYTES) throw new RangeError(`audio message of ${size} bytes exceeds ${AUDIO_FRAME_MAX_BYTES}`);

  const out = Buffer.allocUnsafe(size);
  out[0] = AUDIO_FRAME_MAGIC_0;
  out[1] = AUDIO_FRAME_MAGIC_1;
  out[2] = AUDIO_FRAME_VERSION;
  out[3] = (frame.fec ? AUDIO_FLAG_FEC : 0) | (frame.marker ? AUDIO_FLAG_MARKER : 0) | (frame.endOfStream ? AUDIO_FLAG_END_OF_STREAM : 0);
  out[4] = (rate << 4) | dur;
  out[5] = packets.length;
  out.writeUInt32BE(streamId, 6);
  out.writeUInt32BE(seq, 10);
  out.writeUInt32BE(Math.floor(playAtUs / U32), 14);
  out.writeUInt32BE(playAtUs % U32, 18);
  let pos = AUDIO_FRAME_HEADER_BYTES;
  for (const p of packets) {
    out.writeUInt16BE(p.length, pos);
    out.set(p, pos + 2);
    pos += 2 + p.length;
  }
  return out;
}

const fail = (code: AudioFrameErrorCode, reason: string): AudioFrameDecoded => ({ ok: false, code, reason });

/**
 * Decode one message. Never throws on input: any byte string gives a frame or
 * a stable code with a reason. Checks run in byte order, so every proper
 * prefix of a valid message is 'truncated'.
 */
export function decodeAudioFrame(buf: Uint8Array): AudioFrameDecoded {
  const len = buf.length;
  if (len > AUDIO_FRAME_MAX_BYTES) return fail('oversized', `audio message of ${len} bytes exceeds ${AUDIO_FRAME_MAX_BYTES}`);
  if (len >= 1 && buf[0] !== AUDIO_FRAME_MAGIC_0) return fail('bad_magic', `first byte 0x${hex(buf[0]!)} is not an audio message (0x4c)`);
  if (len >= 2 && buf[1] !== AUDIO_FRAME_MAGIC_1) return fail('bad_magic', `second byte 0x${hex(buf[1]!)} is not an audio message (0x41)`);
  if (len >= 3 && buf[2] !== AUDIO_FRAME_VERSION) {
    return fail('bad_version', `audio frame version ${buf[2]}; this side speaks ${AUDIO_FRAME_VERSION}`);
  }
  if (len < AUDIO_FRAME_HEADER_BYTES) return fail('truncated', `audio message of ${len} bytes is shorter than its ${AUDIO_FRAME_HEADER_BYTES}-byte header`);

  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const flags = buf[3]!;
  if (flags & ~KNOWN_FLAGS) return fail('bad_flags', `reserved flag bits set (flags 0x${hex(flags)})`);
  const codec = buf[4]!;
  const sampleRate = OPUS_SAMPLE_RATES[codec >> 4];
  const packetDurationUs = OPUS_PACKET_DURATIONS_US[codec & 0x0f];
  if (sampleRate === undefined || packetDurationUs === undefined) {
    return fail('bad_codec', `codec byte 0x${hex(codec)}: no such sample-rate or packet-duration index`);
  }
  const count = buf[5]!;
  if (count < AUDIO_FRAME_MIN_PACKETS || count > AUDIO_FRAME_MAX_PACKETS) {
    return fail('bad_count', `${count} packets; 1..${AUDIO_FRAME_MAX_PACKETS} allowed`);
  }
  const streamId = view.getUint32(6);
  const seq = view.getUint32(10);
  const hi = view.getUint32(14);
  if (hi >= MAX_TIME_HIGH) return fail('bad_time', `play-at high word 0x${hi.toString(16)} is beyond 2^53 µs`);
  const playAtUs = hi * U32 + view.getUint32(18);

  const packets: Uint8Array[] = [];
  let pos = AUDIO_FRAME_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > len) return fail('truncated', `message ends in the length of packet ${i + 1} of ${count}`);
    const plen = view.getUint16(pos);
    if (plen === 0) return fail('bad_packet', `packet ${i + 1} of ${count} is empty (an Opus packet has at least its TOC byte)`);
    pos += 2;
    if (pos + plen > len) return fail('truncated', `packet ${i + 1} of ${count} announces ${plen} bytes, ${len - pos} left`);
    packets.push(buf.subarray(pos, pos + plen));
    pos += plen;
  }
  if (pos !== len) return fail('trailing_bytes', `${len - pos} bytes after the last of ${count} packets`);

  return {
    ok: true,
    frame: {
      streamId,
      seq,
      playAtUs,
      sampleRate,
      packetDurationUs,
      fec: (flags & AUDIO_FLAG_FEC) !== 0,
      marker: (flags & AUDIO_FLAG_MARKER) !== 0,
      endOfStream: (flags & AUDIO_FLAG_END_OF_STREAM) !== 0,
      packets,
    },
  };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
