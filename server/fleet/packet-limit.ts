/**
 * The largest MQTT packet a client may send, decided from the packet's fixed
 * header before its body is buffered. Pure: bytes in, bytes out, no sockets.
 *
 * Why here and not in aedes: aedes (1.2) has no packet size option, and its
 * parser (mqtt-packet) buffers a packet until the whole declared Remaining
 * Length has arrived — a bare TCP client declaring a 250 MB CONNECT was held
 * in memory until the connect timeout. Every MQTT packet starts with one type
 * byte and a Remaining Length of 1–4 bytes (MQTT 3.1.1 §2.2), so the size is
 * known from its first 2–5 bytes; for a PUBLISH the topic follows at once
 * (2-byte length, then the name), so a per-topic limit costs at most a
 * hundred more bytes of look-ahead.
 *
 * `PacketSizeGuard` frames the client's byte stream: it passes every packet
 * within its limit through unchanged (the same bytes, in order, as they
 * arrive, never waiting for a body) and stops at the first packet over its
 * limit, saying which and why, so the caller closes the connection. Which
 * limit applies depends on whether the connection has logged in yet; the
 * caller flips that with `authenticate()`.
 */
import { parseTopic, SITE_UPLINK_CHANNELS, type SiteChannel } from '../../protocol/index.ts';

export const MQTT_PUBLISH = 3;

export type UplinkChannel = 'state' | 'telemetry' | 'event' | 'clock';

/** Whole-packet sizes in bytes (fixed header included), as Mosquitto's max_packet_size counts them. */
export interface PacketLimits {
  /** Every packet before the CONNECT is authenticated, the CONNECT itself included. */
  beforeAuth: number;
  /** After login, every packet that is not a PUBLISH on a site uplink topic (SUBSCRIBE, PUBACK, PINGREQ, a PUBLISH elsewhere). */
  control: number;
  /** After login, a PUBLISH on loanet/v1/sites/{siteId}/{channel}. */
  publish: Record<UplinkChannel, number>;
}

/**
 * The limits, from the largest legitimate message of each kind (docs/protocol.md,
 * "Packet size limits"; tests/unit/packet-limit.test.ts builds those messages):
 * - CONNECT: client id and username ≤ 64, the 43-character secret, the will
 *   (an offline state message, < 1 KB even with every string at its longest
 *   and fully escaped): ~1.2 KB at worst.
 * - state (retained, one per site): < 1 KB at worst.
 * - telemetry, event: the decoder drops any uplink JSON over 16 KiB
 *   (MAX_JSON_PAYLOAD_BYTES), a heartbeat is ~1 KB; twice that cap so a
 *   message just over it is counted and dropped by the ingest, not a reason to
 *   cut the site's connection.
 * - clock: one request id and a timestamp, ~120 bytes.
 * - SUBSCRIBE (one topic each, as the agent sends them), PUBACK, PINGREQ: tens of bytes.
 */
export const SITE_PACKET_LIMITS: PacketLimits = {
  beforeAuth: 4 * 1024,
  control: 4 * 1024,
  publish: { state: 4 * 1024, telemetry: 32 * 1024, event: 32 * 1024, clock: 1024 },
};

/** Longest topic the guard reads to pick a limit; loanet's longest is 90 bytes. A longer one is not a site uplink topic. */
export const MAX_TOPIC_PEEK = 128;

export type PacketStage = 'before-auth' | 'site';

export interface PacketRefusal {
  reason: 'too_large' | 'malformed';
  stage: PacketStage;
  /** MQTT control packet type (1 CONNECT, 3 PUBLISH, 8 SUBSCRIBE, …). */
  packetType: number;
  /** Whole packet size the fixed header declared (bytes); undefined when the header itself is malformed. */
  bytes?: number;
  limit?: number;
  /** The PUBLISH topic, when it was read (untrusted: log it through logSafe). */
  topic?: string;
  /** What is wrong, in words, naming the size and the limit. */
  message: string;
}

const PACKET_NAMES = [
  'reserved',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'reserved',
];

export function packetName(type: number): string {
  return PACKET_NAMES[type] ?? 'unknown';
}

/** The limit for one packet; `topic` is undefined for anything but a PUBLISH whose topic was read. */
export function packetLimit(limits: PacketLimits, stage: PacketStage, packetType: number, topic: string | undefined): number {
  if (stage === 'before-auth') return limits.beforeAuth;
  if (packetType !== MQTT_PUBLISH || topic === undefined) return limits.control;
  const t = parseTopic(topic);
  if (t && t.kind === 'site' && (SITE_UPLINK_CHANNELS as readonly SiteChannel[]).includes(t.channel)) return limits.publish[t.channel as UplinkChannel];
  return limits.control;
}

/** The largest limit of any packet after login: what a broker with one global limit (Mosquitto) must allow sites. */
export function largestSiteLimit(limits: PacketLimits): number {
  return Math.max(limits.control, ...Object.values(limits.publish));
}

export interface GuardResult {
  /** Bytes to hand to the MQTT parser now (null: none yet). */
  pass: Buffer | null;
  /** Set once: the packet that stopped the stream. Nothing after it is ever passed. */
  refused?: PacketRefusal;
}

export class PacketSizeGuard {
  private stage: PacketStage = 'before-auth';
  /** Bytes of the current packet's header (and topic) read but not yet passed: at most 5 + 2 + MAX_TOPIC_PEEK. */
  private head = Buffer.alloc(0);
  /** Body bytes of the current, allowed packet still to pass through. */
  private remaining = 0;
  private stopped: PacketRefusal | undefined;

  constructor(private readonly limits: PacketLimits = SITE_PACKET_LIMITS) {}

  /** The connection logged in: packets whose header arrives from now on get the site limits. */
  authenticate(): void {
    this.stage = 'site';
  }

  get refusal(): PacketRefusal | undefined {
    return this.stopped;
  }

  push(chunk: Buffer): GuardResult {
    if (this.stopped) return { pass: null };
    const out: Buffer[] = [];
    const heldBefore = this.head.length;
    let i = 0;
    for (;;) {
      if (this.remaining > 0) {
        if (i >= chunk.length) break;
        const n = Math.min(this.remaining, chunk.length - i);
        out.push(chunk.subarray(i, i + n));
        this.remaining -= n;
        i += n;
        continue;
      }
      if (this.head.length === 0) {
        if (i >= chunk.length) break;
        // Fast path: the whole header is in this chunk; decide on it in place, no copy.
        const d = this.examine(chunk, i, chunk.length);
        if (d !== undefined) {
          if (typeof d !== 'number') {
            this.stopped = d;
            break;
          }
          const n = Math.min(d, chunk.length - i);
          out.push(chunk.subarray(i, i + n));
          this.remaining = d - n;
          i += n;
          continue;
        }
      }
      // Slow path, a header split across chunks: collect only the bytes still needed to decide, a step at a time.
      const need = this.headNeed();
      if (typeof need !== 'number') {
        this.stopped = need;
        break;
      }
      if (this.head.length < need) {
        if (i >= chunk.length) break;
        const n = Math.min(need - this.head.length, chunk.length - i);
        this.head = this.head.length === 0 ? Buffer.from(chunk.subarray(i, i + n)) : Buffer.concat([this.head, chunk.subarray(i, i + n)]);
        i += n;
        continue;
      }
      const head = this.head;
      const d = this.examine(head, 0, head.length)!;
      if (typeof d !== 'number') {
        this.stopped = d;
        break;
      }
      // headNeed never asks for more bytes than the packet declares, so the head is all of this packet's.
      out.push(head);
      this.remaining = d - head.length;
      this.head = Buffer.alloc(0);
    }
    const refused = this.stopped;
    if (refused) {
      this.head = Buffer.alloc(0);
      this.remaining = 0;
    }
    // Nothing carried in, nothing held back, nothing refused: every byte of the chunk passed as it was.
    if (!refused && heldBefore === 0 && this.head.length === 0 && chunk.length > 0) return { pass: chunk };
    const pass = out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
    return refused ? { pass, refused } : { pass };
  }

  /**
   * How many header bytes are needed to decide the current (split) packet, or
   * a refusal when the header is already malformed. Needs: the type byte and
   * the Remaining Length (1–4 bytes); for a PUBLISH after login, also the
   * topic length and topic (when the topic is short enough to be a loanet topic).
   */
  private headNeed(): number | PacketRefusal {
    const h = this.head;
    if (h.length < 2) return 2;
    let len = 0;
    let mul = 1;
    let k = 1;
    for (;;) {
      if (k >= h.length) return k + 1;
      const b = h[k]!;
      len += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) break;
      if (k === 4) return this.malformed(h[0]! >> 4);
      mul *= 128;
      k++;
    }
    const fixed = k + 1;
    if (this.stage === 'before-auth' || h[0]! >> 4 !== MQTT_PUBLISH) return fixed;
    if (len < 2) return fixed;
    if (h.length < fixed + 2) return fixed + 2;
    const topicLen = h.readUInt16BE(fixed);
    if (topicLen > MAX_TOPIC_PEEK || 2 + topicLen > len) return fixed + 2;
    return fixed + 2 + topicLen;
  }

  /**
   * Decide the packet whose header starts at buf[off] (bytes up to `end` are
   * available): its whole size when allowed, a refusal, or undefined when the
   * header (with a PUBLISH's topic, after login) is not all there yet.
   */
  private examine(buf: Buffer, off: number, end: number): number | PacketRefusal | undefined {
    if (end - off < 2) return undefined;
    const type = buf[off]! >> 4;
    let len = 0;
    let mul = 1;
    let k = off + 1;
    for (;;) {
      if (k >= end) return undefined;
      const b = buf[k]!;
      len += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) break;
      if (k === off + 4) return this.malformed(type);
      mul *= 128;
      k++;
    }
    const fixed = k + 1 - off;
    const total = fixed + len;
    let topicStart = -1;
    let topicEnd = -1;
    if (type === MQTT_PUBLISH && this.stage === 'site' && len >= 2) {
      if (off + fixed + 2 > end) return undefined;
      const topicLen = buf.readUInt16BE(off + fixed);
      if (topicLen > 0 && topicLen <= MAX_TOPIC_PEEK && 2 + topicLen <= len) {
        topicStart = off + fixed + 2;
        topicEnd = topicStart + topicLen;
        if (topicEnd > end) return undefined;
      }
    }
    let limit: number;
    let topic: string | undefined;
    if (topicStart < 0) limit = packetLimit(this.limits, this.stage, type, undefined);
    else {
      // A connection publishes on the same few topics again and again: remember the last one's limit.
      const last = this.lastTopic;
      if (last && last.length === topicEnd - topicStart && buf.compare(last, 0, last.length, topicStart, topicEnd) === 0) limit = this.lastLimit;
      else {
        topic = buf.toString('utf8', topicStart, topicEnd);
        limit = packetLimit(this.limits, this.stage, type, topic);
        this.lastTopic = Buffer.from(buf.subarray(topicStart, topicEnd));
        this.lastLimit = limit;
      }
    }
    if (total <= limit) return total;
    topic ??= topicStart < 0 ? undefined : buf.toString('utf8', topicStart, topicEnd);
    const where = topic !== undefined ? ` on ${topic.length > 100 ? `${topic.slice(0, 100)}…` : topic}` : '';
    return {
      reason: 'too_large',
      stage: this.stage,
      packetType: type,
      bytes: total,
      limit,
      ...(topic !== undefined ? { topic } : {}),
      message: `${packetName(type)} of ${total} bytes${where} exceeds the limit of ${limit} bytes ${this.stage === 'before-auth' ? 'before login' : 'for a site'}`,
    };
  }

  private malformed(type: number): PacketRefusal {
    return { reason: 'malformed', stage: this.stage, packetType: type, message: 'the Remaining Length of the fixed header is longer than 4 bytes' };
  }

  private lastTopic: Buffer | undefined;
  private lastLimit = 0;
}
