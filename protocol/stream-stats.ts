/**
 * The `stream_stats` event: how one live stream plays at one site, the raw
 * material of the server's per-stream statistics and play-time skew
 * (server/live). Its own module, because the event union (messages.ts) must
 * not import audio-control.ts, which imports the decoders built on that union.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const Obj = <P extends Record<string, TSchema>>(p: P, $id?: string) => Type.Object(p, { additionalProperties: false, ...($id ? { $id } : {}) });
const U32 = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });

const StatCount = Type.Integer({ minimum: 0 });

/** Why a live stream ended at one site (`stream_stats.end.reason`). */
export const STREAM_SITE_END_REASONS = ['ended', 'stopped', 'preempted', 'silent', 'not_played', 'amp_fault', 'device_off', 'expired', 'cancelled', 'error'] as const;
export type StreamSiteEndReason = (typeof STREAM_SITE_END_REASONS)[number];
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });

/**
 * How one live stream plays at one site (sites/{siteId}/event, QoS 1): sent
 * every few seconds while the stream plays and once more at its end
 * (`final`). Counters are cumulative since the site started the stream, so a
 * lost report costs nothing but freshness. `marks` are the marked messages
 * (flag bit 1) played since the last report: when the first sample of each
 * left the speaker, on the server clock as this site estimates it; the
 * server compares them across sites (play-time skew).
 */
export const StreamStatsEvent = Obj(
  {
    v: Version,
    siteId: SiteId,
    /** Agent clock. */
    at: EpochMs,
    type: Type.Literal('stream_stats'),
    streamId: U32,
    /** Messages received for the stream (duplicates included). */
    received: StatCount,
    /** Messages that arrived after every packet in them was due. */
    late: StatCount,
    /** Packets missing when due (concealed + fecRecovered + those past the concealment limit). */
    lost: StatCount,
    /** Packets filled by Opus packet-loss concealment. */
    concealed: StatCount,
    /** Packets rebuilt from the next packet's in-band FEC. */
    fecRecovered: StatCount,
    /** Packets played as received. */
    played: StatCount,
    /** Audio held in the jitter buffer, ms. */
    bufferLevelMs: Type.Number({ minimum: 0 }),
    marks: Type.Array(
      Obj({
        seq: U32,
        /** Server clock (this site's estimate), ms, fractions allowed. */
        playedAt: Type.Number({ minimum: 0 }),
      }),
      { maxItems: 64 },
    ),
    /** Worst-case error of this site's server-clock estimate, ms; null before the first clock exchange. */
    clockUncertaintyMs: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    /**
     * How long this stream's messages took to get here (optional, added in
     * v1): each message's arrival (server clock, this site's estimate) minus
     * the moment the server could send it (its play-at − the stream's delay +
     * its packets' duration), over the last messages received (at most 500).
     * What the server sizes the stream's delay by (server/live/delay-budget.ts).
     */
    transit: Type.Optional(
      Obj({
        p50Ms: Type.Number({ minimum: -10000, maximum: 600000 }),
        p99Ms: Type.Number({ minimum: -10000, maximum: 600000 }),
        maxMs: Type.Number({ minimum: -10000, maximum: 600000 }),
        samples: StatCount,
      }),
    ),
    /**
     * This site cannot keep up at the stream's delay (optional, added in v1):
     * more than 2 % of the packets of its last messages arrived after they
     * were due, so they were concealed or silent.
     */
    behind: Type.Optional(Type.Boolean()),
    /** The last report for this stream at this site. */
    final: Type.Boolean(),
    /**
     * On the final report: why the stream ended at this site (optional, added
     * in v1: a server that predates it refuses final reports carrying it, so
     * upgrade servers first). `ended` = its end-of-stream message played;
     * `stopped` = its stop arrived; `preempted` = a higher priority took the
     * horns and the stream says end; `silent` = nothing heard for too long;
     * `not_played` = the engine refused it (e.g. it was over before it could
     * start); the rest as in as-run receipts.
     */
    end: Type.Optional(
      Obj({
        reason: Type.Union(STREAM_SITE_END_REASONS.map((r) => Type.Literal(r))),
        detail: Type.Optional(Type.String({ maxLength: 200 })),
      }),
    ),
  },
  'StreamStatsEvent',
);
export type StreamStatsEvent = Static<typeof StreamStatsEvent>;
