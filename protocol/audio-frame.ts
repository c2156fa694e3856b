/**
 * The binary audio message: one MQTT payload on an area's audio channel
 * (`la/{areaKey}`, protocol/topics.ts) carrying a few Opus packets and the
 * server-clock time at which the first of them is to be played. Pure, no
 * I/O; docs/protocol.md ("Audio frames") is the human-readable spec. The
 * server's live streams (server/live/) publish them; agents (edge-agent/live/)
 * play them.
 *
 * Compact by design: village sites pay for 4G by the byte, and at 24 kbit/s
 * a 100 ms message holds 300 bytes of speech, so every header byte is a
 * third of a percent of a site's live data. All integers big-endian.
 *
 *   byte  0        1                   2       3 .. 4      5 .. 6     7 .. 10
 *        ┌────────┬───────────────────┬───────┬───────────┬──────────┬──────────────────────────┐
 *        │ 0x6C   │ count−1 │ flags   │ codec │ stream    │ seq      │ play-at, 10 µs units,    │
 *        │ 'l'    │ bits 7-4│ bits 3-0│       │ u16       │ u16,wraps│ u32 modulo 2³² (11.9 h)  │
 *        └────────┴───────────────────┴───────┴───────────┴──────────┴──────────────────────────┘
 *         11 ..
 *        ┌───────────────────────────────────────────┬──────────┬─────┬──────────┐
 *        │ lengths: one u16 when flag `uniform` is    │ packet₁  │ ... │ packet_N │
 *        │ set (every packet that long: CBR), else    │ Opus     │     │ Opus     │
 *        │ per packet 1 byte (< 128) or 2 (0x8000|len)│          │     │          │
 *        └───────────────────────────────────────────┴──────────┴─────┴──────────┘
 *
 *   flags   bit 0  fec          the encoder put in-band FEC (LBRR) in the packets, so
 *                               packet k+1 can rebuild a lost packet k
 *           bit 1  marker       the agent reports the local play time of this message
 *                               (skew measurement between sites)
 *           bit 2  end_of_stream the last message of the stream
 *           bit 3  uniform      one length for all packets
 *   count   N Opus packets, 1..10 (stored as N−1; 10..15 refused)
 *   codec   high nibble: sample-rate index  0 48 kHz, 1 24 kHz, 2 16 kHz, 3 12 kHz, 4 8 kHz
 *           low nibble:  packet-duration index 0 2.5 ms, 1 5, 2 10, 3 20, 4 40, 5 60 ms
 *           (20 ms at 48 kHz is 0x03). Channels and bitrate are in the stream start message.
 *   packet k plays at play-at + (k-1) × packet duration.
 *
 * Decisions:
 * - Magic 'l' (0x6C): rejects a stray payload cheaply, can never start a JSON
 *   object (`{`), so the channel carries the retained JSON stream start beside
 *   binary frames; and it names the format: the first, 22-byte format began
 *   0x4C 0x41 ("LA") and is refused as 'bad_version' by name. A later format
 *   takes another first byte.
 * - Stream u16: the low half of the stream's id (the stream start message
 *   carries the whole id); the server never has two streams on air whose low
 *   halves are equal, and a receiver matches a frame to a stream it was told
 *   of. Seq u16: a message counter that wraps after 65,536 messages (1.8 h at
 *   100 ms); receivers compare nearby values only (seqDelta).
 * - Play-at in 10 µs units modulo 2³², like an RTP timestamp: the receiver
 *   takes the instant nearest its own server-clock estimate, unambiguous
 *   while that estimate is within ±5.9 h (a board that far off cannot play
 *   anything on time anyway). 10 µs is far below the skew we measure (ms)
 *   and divides every Opus packet duration (2.5 ms); four bytes instead of
 *   eight.
 * - Lengths once for CBR (the live encoder's mode: every packet the same
 *   size), else one byte each for speech-sized packets.
 */

export const AUDIO_FRAME_MAGIC = 0x6c; // 'l'
/** The first byte of the old 22-byte format ("LA"), refused by name. */
export const AUDIO_FRAME_V1_MAGIC = 0x4c;
/** Fixed part before the lengths. */
export const AUDIO_FRAME_HEADER_BYTES = 11;
/** Largest message: ten 20 ms packets at 256 kbit/s fit; speech at 24 kbit/s is ~300 bytes. */
export const AUDIO_FRAME_MAX_BYTES = 8 * 1024;
export const AUDIO_FRAME_MIN_PACKETS = 1;
export const AUDIO_FRAME_MAX_PACKETS = 10;
/** 5 × 20 ms: the grouping the live delay budget carries (server/live/delay-budget.ts). */
export const AUDIO_FRAME_DEFAULT_PACKETS = 5;
/** Largest packet a per-packet length can say (2 bytes, high bit set); an Opus packet is at most 1275 bytes per 20 ms frame. */
export const AUDIO_PACKET_MAX_BYTES = 0x7fff;
/** Play-at resolution, µs. */
export const AUDIO_PLAY_AT_UNIT_US = 10;

export const AUDIO_FLAG_FEC = 0x01;
export const AUDIO_FLAG_MARKER = 0x02;
export const AUDIO_FLAG_END_OF_STREAM = 0x04;
export const AUDIO_FLAG_UNIFORM = 0x08;

/** Sample rates Opus decodes to, by the codec byte's high nibble. */
export const OPUS_SAMPLE_RATES = [48000, 24000, 16000, 12000, 8000] as const;
export type OpusSampleRate = (typeof OPUS_SAMPLE_RATES)[number];
/** Opus frame sizes (RFC 6716 §2.1.4) in µs, by the codec byte's low nibble. */
export const OPUS_PACKET_DURATIONS_US = [2500, 5000, 10000, 20000, 40000, 60000] as const;
export type OpusPacketDurationUs = (typeof OPUS_PACKET_DURATIONS_US)[number];

const U16 = 0x1_0000;
const U32 = 0x1_0000_0000;
/** One turn of the play-at counter, µs. */
const PLAY_AT_WRAP_US = U32 * AUDIO_PLAY_AT_UNIT_US;

export interface AudioFrame {
  /**
   * The stream, by the low 16 bits of its id (the stream start message carries the whole id).
   * A receiver that knows the stream puts the whole id back (`streamMatches`).
   */
  streamId: number;
  /** u16 message counter, +1 per message, wraps from 65535 to 0. */
  seq: number;
  /** When the first packet plays: µs since the Unix epoch on the server clock (a safe integer, a multiple of 10). */
  playAtUs: number;
  sampleRate: OpusSampleRate;
  /** Duration of each packet, µs. */
  packetDurationUs: OpusPacketDurationUs;
  fec: boolean;
  marker: boolean;
  endOfStream: boolean;
  /** 1..10 Opus packets, each 1..32767 bytes. Decoded packets are views into the input buffer. */
  packets: Uint8Array[];
}

export type AudioFrameErrorCode = 'truncated' | 'oversized' | 'bad_magic' | 'bad_version' | 'bad_codec' | 'bad_count' | 'bad_packet' | 'trailing_bytes';

export type AudioFrameDecoded = { ok: true; frame: AudioFrame } | { ok: false; code: AudioFrameErrorCode; reason: string };

/** Signed distance from sequence number `a` to `b` modulo 2¹⁶ (−2¹⁵..2¹⁵−1): positive when b is after a. */
export function seqDelta(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= 0x8000 ? d - U16 : d;
}

/** The sequence number after `seq`, wrapping at 2¹⁶. */
export function nextSeq(seq: number): number {
  return (seq + 1) & 0xffff;
}

/** The 16 bits of a stream's id that its frames carry. */
export function frameStreamId(streamId: number): number {
  return streamId & 0xffff;
}

/** Whether a frame's stream field names the stream with this (whole) id. */
export function streamMatches(frameStream: number, streamId: number): boolean {
  return frameStream === frameStreamId(streamId);
}

function uniform(packets: readonly Uint8Array[]): boolean {
  return packets.every((p) => p.length === packets[0]!.length);
}

/** Bytes of the encoded message for these packet sizes. */
export function audioFrameSize(packetLengths: readonly number[]): number {
  let n = AUDIO_FRAME_HEADER_BYTES;
  if (packetLengths.every((l) => l === packetLengths[0])) n += 2;
  else for (const l of packetLengths) n += l < 0x80 ? 1 : 2;
  for (const l of packetLengths) n += l;
  return n;
}

/**
 * The whole play-at instant (µs) that a 32-bit counter value names: of the
 * instants it may stand for (one per 11.9 h), the nearest to `nearUs`, the
 * receiver's estimate of the server clock now.
 */
export function unwrapPlayAt(units: number, nearUs: number): number {
  const at = units * AUDIO_PLAY_AT_UNIT_US;
  const turns = Math.round((nearUs - at) / PLAY_AT_WRAP_US);
  return at + Math.max(0, turns) * PLAY_AT_WRAP_US;
}

/**
 * Encode one message. Throws RangeError on our own bug (a field out of range,
 * a message over AUDIO_FRAME_MAX_BYTES); a sender checks sizes before it calls.
 */
export function encodeAudioFrame(frame: AudioFrame): Buffer {
  const { streamId, seq, playAtUs, packets } = frame;
  if (!Number.isInteger(streamId) || streamId < 0 || streamId >= U32) throw new RangeError(`audio stream id ${streamId} is not a u32`);
  if (!Number.isInteger(seq) || seq < 0 || seq >= U16) throw new RangeError(`audio seq ${seq} is not a u16`);
  if (!Number.isSafeInteger(playAtUs) || playAtUs < 0 || playAtUs % AUDIO_PLAY_AT_UNIT_US !== 0) {
    throw new RangeError(`audio play-at ${playAtUs} µs is not a safe non-negative multiple of ${AUDIO_PLAY_AT_UNIT_US} µs`);
  }
  const rate = OPUS_SAMPLE_RATES.indexOf(frame.sampleRate);
  const dur = OPUS_PACKET_DURATIONS_US.indexOf(frame.packetDurationUs);
  if (rate < 0) throw new RangeError(`audio sample rate ${frame.sampleRate} is not an Opus rate`);
  if (dur < 0) throw new RangeError(`audio packet duration ${frame.packetDurationUs} µs is not an Opus frame size`);
  if (packets.length < AUDIO_FRAME_MIN_PACKETS || packets.length > AUDIO_FRAME_MAX_PACKETS) {
    throw new RangeError(`audio message with ${packets.length} packets; 1..${AUDIO_FRAME_MAX_PACKETS} allowed`);
  }
  for (const p of packets) {
    if (p.length < 1 || p.length > AUDIO_PACKET_MAX_BYTES) throw new RangeError(`Opus packet of ${p.length} bytes; 1..${AUDIO_PACKET_MAX_BYTES} allowed`);
  }
  const size = audioFrameSize(packets.map((p) => p.length));
  if (size > AUDIO_FRAME_MAX_BYTES) throw new RangeError(`audio message of ${size} bytes exceeds ${AUDIO_FRAME_MAX_BYTES}`);

  const same = uniform(packets);
  const out = Buffer.allocUnsafe(size);
  out[0] = AUDIO_FRAME_MAGIC;
  const flags = (frame.fec ? AUDIO_FLAG_FEC : 0) | (frame.marker ? AUDIO_FLAG_MARKER : 0) | (frame.endOfStream ? AUDIO_FLAG_END_OF_STREAM : 0) | (same ? AUDIO_FLAG_UNIFORM : 0);
  out[1] = ((packets.length - 1) << 4) | flags;
  out[2] = (rate << 4) | dur;
  out.writeUInt16BE(frameStreamId(streamId), 3);
  out.writeUInt16BE(seq, 5);
  out.writeUInt32BE((playAtUs / AUDIO_PLAY_AT_UNIT_US) % U32, 7);
  let pos = AUDIO_FRAME_HEADER_BYTES;
  if (same) {
    out.writeUInt16BE(packets[0]!.length, pos);
    pos += 2;
  } else {
    for (const p of packets) {
      if (p.length < 0x80) out[pos++] = p.length;
      else {
        out.writeUInt16BE(0x8000 | p.length, pos);
        pos += 2;
      }
    }
  }
  for (const p of packets) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

const fail = (code: AudioFrameErrorCode, reason: string): AudioFrameDecoded => ({ ok: false, code, reason });

/**
 * Decode one message; `nearUs` is the receiver's estimate of the server
 * clock now (µs), which picks the play-at instant (unwrapPlayAt). Never
 * throws on input: any byte string gives a frame or a stable code with a
 * reason. Checks run in byte order, so every proper prefix of a valid
 * message is 'truncated'.
 */
export function decodeAudioFrame(buf: Uint8Array, nearUs: number): AudioFrameDecoded {
  const len = buf.length;
  if (len > AUDIO_FRAME_MAX_BYTES) return fail('oversized', `audio message of ${len} bytes exceeds ${AUDIO_FRAME_MAX_BYTES}`);
  if (len >= 1 && buf[0] === AUDIO_FRAME_V1_MAGIC) {
    return fail('bad_version', 'an audio message of the first format (0x4C "LA", 22-byte header); this side speaks the compact format (0x6C)');
  }
  if (len >= 1 && buf[0] !== AUDIO_FRAME_MAGIC) return fail('bad_magic', `first byte 0x${hex(buf[0]!)} is not an audio message (0x6c)`);
  if (len >= 2 && buf[1]! >> 4 >= AUDIO_FRAME_MAX_PACKETS) return fail('bad_count', `${(buf[1]! >> 4) + 1} packets; 1..${AUDIO_FRAME_MAX_PACKETS} allowed`);
  if (len >= 3) {
    const codec = buf[2]!;
    if (OPUS_SAMPLE_RATES[codec >> 4] === undefined || OPUS_PACKET_DURATIONS_US[codec & 0x0f] === undefined) {
      return fail('bad_codec', `codec byte 0x${hex(codec)}: no such sample-rate or packet-duration index`);
    }
  }
  if (len < AUDIO_FRAME_HEADER_BYTES) return fail('truncated', `audio message of ${len} bytes is shorter than its ${AUDIO_FRAME_HEADER_BYTES}-byte header`);

  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = (buf[1]! >> 4) + 1;
  const flags = buf[1]! & 0x0f;
  const codec = buf[2]!;
  const sampleRate = OPUS_SAMPLE_RATES[codec >> 4]!;
  const packetDurationUs = OPUS_PACKET_DURATIONS_US[codec & 0x0f]!;
  const streamId = view.getUint16(3);
  const seq = view.getUint16(5);
  const playAtUs = unwrapPlayAt(view.getUint32(7), nearUs);

  const lengths: number[] = [];
  let pos = AUDIO_FRAME_HEADER_BYTES;
  if (flags & AUDIO_FLAG_UNIFORM) {
    if (pos + 2 > len) return fail('truncated', 'message ends in its packet length');
    const l = view.getUint16(pos);
    pos += 2;
    if (l === 0 || l > AUDIO_PACKET_MAX_BYTES) return fail('bad_packet', `packet length ${l}; 1..${AUDIO_PACKET_MAX_BYTES} (an Opus packet has at least its TOC byte)`);
    for (let i = 0; i < count; i++) lengths.push(l);
  } else {
    for (let i = 0; i < count; i++) {
      if (pos + 1 > len) return fail('truncated', `message ends in the length of packet ${i + 1} of ${count}`);
      let l = buf[pos]!;
      if (l & 0x80) {
        if (pos + 2 > len) return fail('truncated', `message ends in the length of packet ${i + 1} of ${count}`);
        l = view.getUint16(pos) & 0x7fff;
        pos += 2;
      } else pos += 1;
      if (l === 0) return fail('bad_packet', `packet ${i + 1} of ${count} is empty (an Opus packet has at least its TOC byte)`);
      lengths.push(l);
    }
  }
  const packets: Uint8Array[] = [];
  for (const [i, l] of lengths.entries()) {
    if (pos + l > len) return fail('truncated', `packet ${i + 1} of ${count} announces ${l} bytes, ${len - pos} left`);
    packets.push(buf.subarray(pos, pos + l));
    pos += l;
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
