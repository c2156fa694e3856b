/**
 * JSON control messages of the live-broadcast issue: a stream starts and
 * stops (what an agent needs to know about the binary frames of
 * protocol/audio-frame.ts), and the clock exchange by which an agent measures
 * its offset to the server clock. TypeBox schemas and boundary decoders; pure,
 * no I/O. The clock exchange is wired (sites/{siteId}/clock up,
 * sites/{siteId}/time down; docs/protocol.md, "Clocks"); the stream
 * control messages are wired by server/live and edge-agent/live; what sites
 * report about a stream is protocol/stream-stats.ts.
 *
 * Common rules as for every payload: `v` is the protocol version, objects
 * are closed, times are ms since the Unix epoch on the sender's clock unless
 * the field says "server clock".
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';
import { payloadDecoder } from './decode.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Obj = <P extends Record<string, TSchema>>(p: P, $id?: string) => Type.Object(p, { additionalProperties: false, ...($id ? { $id } : {}) });

/** The u32 stream id carried in every binary audio frame. */
export const AudioStreamId = Type.Integer({ minimum: 0, maximum: 0xffff_ffff, description: 'stream id, as in the binary frames' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const AreaKey = Type.String({ pattern: '^[0-9a-z]{1,16}\\.[0-9A-Za-z-]{1,32}$', description: 'area key' });

/**
 * Priority of a broadcast, as bulletins follow Circular 39/2020/TT-BTTTT:
 * normal (the operator decides when), priority (ahead of other items),
 * emergency (plays immediately). A higher priority pre-empts a lower one at a
 * site (edge-agent/playout/timeline.ts).
 */
export const AUDIO_PRIORITIES = ['normal', 'priority', 'emergency'] as const;
export type AudioPriority = (typeof AUDIO_PRIORITIES)[number];
export const AudioPriority = Lit(AUDIO_PRIORITIES);

/** Where the audio comes from: a live voice in a browser or phone, a relayed radio stream, a stored media item. */
export const AUDIO_SOURCE_KINDS = ['browser', 'relay', 'media'] as const;
export type AudioSourceKind = (typeof AUDIO_SOURCE_KINDS)[number];

/** Packet durations in ms the codec block may name; the frame's codec byte carries the same. */
export const AUDIO_FRAME_MS = [2.5, 5, 10, 20, 40, 60] as const;

export const AudioCodec = Obj({
  name: Type.Literal('opus'),
  sampleRate: Type.Literal(48000),
  channels: Type.Literal(1),
  /** Duration of one Opus packet. */
  frameMs: Type.Union(AUDIO_FRAME_MS.map((ms) => Type.Literal(ms))),
  /** Opus packets per binary message (default 3). */
  packetsPerMessage: Type.Integer({ minimum: 1, maximum: 10 }),
  /** Nominal encoder bitrate, bit/s. */
  bitrate: Type.Optional(Type.Integer({ minimum: 6000, maximum: 510000 })),
  /** The encoder sends in-band FEC (LBRR), so a lost packet can be rebuilt from the next one. */
  fec: Type.Optional(Type.Boolean()),
});
export type AudioCodec = Static<typeof AudioCodec>;

export const AudioStreamStart = Obj(
  {
    v: Version,
    type: Type.Literal('stream_start'),
    streamId: AudioStreamId,
    codec: AudioCodec,
    priority: AudioPriority,
    /** Area subtrees the stream is for; a site plays it when its area is one of these or lies below one. */
    areas: Type.Array(AreaKey, { minItems: 1, maxItems: 64 }),
    source: Obj({
      kind: Lit(AUDIO_SOURCE_KINDS),
      /** Human label for consoles and logs: an operator's name, a radio station, a media title. */
      label: Type.Optional(Type.String({ maxLength: 120 })),
    }),
    /**
     * The delay the server puts between capture and play-at (default 250 ms).
     * The frames' play-at times are authoritative; agents size their jitter
     * buffer by this.
     */
    delayMs: Type.Integer({ minimum: 20, maximum: 10000 }),
    /** What a site does with this stream when a higher priority pre-empts it: resume after, or end it. */
    whenPreempted: Type.Optional(Lit(['resume', 'end'] as const)),
    /** Play-at of the first frame, server clock. */
    startAt: EpochMs,
    /** Server clock, when this message was sent. */
    at: EpochMs,
  },
  'AudioStreamStart',
);
export type AudioStreamStart = Static<typeof AudioStreamStart>;

export const AUDIO_STOP_REASONS = ['ended', 'operator', 'preempted', 'source_lost', 'error'] as const;
export type AudioStopReason = (typeof AUDIO_STOP_REASONS)[number];

export const AudioStreamStop = Obj(
  {
    v: Version,
    type: Type.Literal('stream_stop'),
    streamId: AudioStreamId,
    /** `ended` the source finished, `operator` stopped by a person, `preempted` replaced at the source, `source_lost` (a relay or browser went away), `error`. */
    reason: Lit(AUDIO_STOP_REASONS),
    detail: Type.Optional(Type.String({ maxLength: 300 })),
    /** Server clock. */
    at: EpochMs,
  },
  'AudioStreamStop',
);
export type AudioStreamStop = Static<typeof AudioStreamStop>;

export const AudioControlMessage = Type.Union([AudioStreamStart, AudioStreamStop], { $id: 'AudioControlMessage' });
export type AudioControlMessage = Static<typeof AudioControlMessage>;

// ----------------------------------------------------------------- clock ----
// NTP-style (RFC 5905 §8): the agent sends t0 on its clock; the server stamps
// t1 on receipt and t2 when it answers; the agent stamps t3 on receipt.
// Times are ms, fractions allowed (sub-ms precision from a monotonic clock).
// Both travel on site topics, so both carry `siteId`, checked against the topic.

const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const ClockId = Type.Integer({ minimum: 0, maximum: 0xffff_ffff, description: 'request id, echoed in the response' });
const ClockMs = Type.Number({ minimum: 0, description: 'ms since the Unix epoch, fractions allowed' });

/** sites/{siteId}/clock, site → server, QoS 0. */
export const ClockRequest = Obj({ v: Version, siteId: SiteId, id: ClockId, t0: ClockMs }, 'ClockRequest');
export type ClockRequest = Static<typeof ClockRequest>;

/** sites/{siteId}/time, server → site, QoS 0. */
export const ClockResponse = Obj(
  {
    v: Version,
    siteId: SiteId,
    id: ClockId,
    /** The request's t0, echoed (agent clock). */
    t0: ClockMs,
    /** Server clock, request received. */
    t1: ClockMs,
    /** Server clock, response sent. */
    t2: ClockMs,
  },
  'ClockResponse',
);
export type ClockResponse = Static<typeof ClockResponse>;

export const decodeAudioControl = payloadDecoder('audio-control', AudioControlMessage);
export const decodeClockRequest = payloadDecoder('clock-request', ClockRequest);
export const decodeClockResponse = payloadDecoder('clock-response', ClockResponse);
