/**
 * Live streams over HTTP (server/live/routes.ts): starting a relay or a
 * media item, the streams on air and past with their statistics, one stream
 * with each site's report, the delay a new stream would start with. The
 * server's views (server/live/views.ts) are these types; the console imports
 * them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { AudioCodec, AUDIO_SOURCE_KINDS } from '../protocol/audio-control.ts';
import { STREAM_SITE_END_REASONS } from '../protocol/stream-stats.ts';
import { EpochMs, Nullable, SiteCondition } from './common.ts';
import { Priority } from './schedule.ts';

const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Ms = Type.Number({ description: 'milliseconds' });

export const LIVE_END_REASONS = ['ended', 'operator', 'preempted', 'source_lost', 'error', 'server_shutdown', 'server_restart', 'server_lost'] as const;
export const LiveEndReason = Lit(LIVE_END_REASONS);
export type LiveEndReason = Static<typeof LiveEndReason>;

/** What the server's pacing did with the source (live-stream.ts). */
export const LiveStreamStats = Type.Object({
  slots: Type.Integer({ description: '20 ms slots elapsed' }),
  audioPackets: Type.Integer({ description: 'packets encoded from source audio' }),
  silencePackets: Type.Integer({ description: 'slots with no source audio at their time (silence sent: a relay reconnecting without a fallback)' }),
  lateSkipped: Type.Integer({ description: 'slots the server reached after their play-at (not sent)' }),
  messages: Type.Integer(),
  payloadBytes: Type.Integer(),
  wireBytes: Type.Integer(),
  queueMs: Type.Number(),
  droppedMs: Type.Number(),
  sourceBytes: Type.Integer(),
});
export type LiveStreamStats = Static<typeof LiveStreamStats>;

export const LiveSiteTotals = Type.Object({
  sites: Type.Integer({ description: 'sites that reported on this stream' }),
  received: Type.Integer(),
  late: Type.Integer(),
  lost: Type.Integer(),
  concealed: Type.Integer(),
  fecRecovered: Type.Integer(),
  played: Type.Integer(),
  bufferLevelMsMean: Nullable(Type.Number()),
  unconcealedLossRatio: Nullable(Type.Number({ description: 'packets neither played nor concealed nor rebuilt by FEC, over packets due' })),
});
export type LiveSiteTotals = Static<typeof LiveSiteTotals>;

export const SkewSummary = Type.Object({
  marks: Type.Integer({ description: 'marked messages with reports from at least two sites' }),
  sites: Type.Integer(),
  p50Ms: Nullable(Type.Number()),
  p99Ms: Nullable(Type.Number()),
  maxMs: Nullable(Type.Number()),
});

export const LiveDelayView = Type.Object({
  initialMs: Ms,
  ceilingMs: Ms,
  raises: Type.Array(Type.Object({ at: EpochMs, fromMs: Ms, toMs: Ms })),
  behind: Type.Array(Type.Object({ siteId: Type.String(), neededMs: Nullable(Ms), reason: Lit(['beyond_ceiling', 'late_packets'] as const) })),
});
export type LiveDelayView = Static<typeof LiveDelayView>;

/**
 * A relay's source while the stream is on air: `connected`, or
 * `reconnecting` since `since` (the source was lost; the sites hear silence
 * or the fallback item) until `giveUpAt`, when the stream ends as source_lost.
 */
export const RelayStatus = Type.Object({
  state: Lit(['connected', 'reconnecting'] as const),
  /** Tries to reconnect since the source was last lost. */
  attempts: Type.Integer(),
  /** When the source was lost (reconnecting), else null. */
  since: Nullable(EpochMs),
  giveUpAt: Nullable(EpochMs),
  /** How long a lost source is tried again (LOANET_RELAY_RECONNECT_S), ms. */
  reconnectWindowMs: Type.Integer(),
  /** Times the source was lost and came back. */
  reconnects: Type.Integer(),
  fallback: Nullable(Type.Object({ mediaId: Type.String(), title: Type.String(), playing: Type.Boolean() })),
});
export type RelayStatus = Static<typeof RelayStatus>;

export const LiveStreamView = Type.Object({
  id: Type.Integer(),
  state: Lit(['live', 'ended'] as const),
  source: Type.Object({
    kind: Lit(AUDIO_SOURCE_KINDS),
    label: Nullable(Type.String()),
    url: Type.Optional(Type.String({ description: "a relay's URL without credentials, query or fragment" })),
    mediaId: Type.Optional(Type.String()),
    format: Type.Optional(Lit(['pcm', 'webm'] as const)),
  }),
  areas: Type.Array(Type.String()),
  priority: Priority,
  whenPreempted: Lit(['resume', 'end'] as const),
  delayMs: Ms,
  codec: Type.Object(AudioCodec.properties),
  startedAt: EpochMs,
  startAt: EpochMs,
  startedBy: Type.String(),
  endedAt: Nullable(EpochMs),
  endReason: Nullable(LiveEndReason),
  endDetail: Nullable(Type.String()),
  endedBy: Nullable(Type.String()),
  server: LiveStreamStats,
  sites: LiveSiteTotals,
  skew: SkewSummary,
  adaptive: Nullable(LiveDelayView),
  /** A relay's source, while the stream is in the server's memory. */
  relay: Type.Optional(RelayStatus),
});
export type LiveStreamView = Static<typeof LiveStreamView>;

export const LiveStreamList = Type.Object({
  streams: Type.Array(LiveStreamView),
  next: Nullable(Type.Integer({ description: 'pass as `before` for the next page (epoch ms); null: no more' })),
});
export type LiveStreamList = Static<typeof LiveStreamList>;

export const LiveSiteView = Type.Object({
  siteId: Type.String(),
  received: Type.Integer(),
  late: Type.Integer(),
  lost: Type.Integer(),
  concealed: Type.Integer(),
  fecRecovered: Type.Integer(),
  played: Type.Integer(),
  bufferLevelMs: Ms,
  marks: Type.Integer(),
  clockUncertaintyMs: Nullable(Ms),
  final: Type.Boolean(),
  end: Nullable(Type.Object({ reason: Lit(STREAM_SITE_END_REASONS), detail: Nullable(Type.String()) })),
  at: EpochMs,
  receivedAt: EpochMs,
  link: Type.Optional(Type.Object({ transitP50Ms: Ms, transitP99Ms: Ms, samples: Type.Integer(), behind: Type.Boolean(), neededMs: Ms })),
});
export type LiveSiteView = Static<typeof LiveSiteView>;

/**
 * Why a targeted site sent no report on a live stream (server/live/silent-sites.ts),
 * besides the site condition's own codes (SITE_REASON_CODES): the console words
 * each; a unit test fails on a code it cannot word in both languages.
 */
export const SILENT_REASON_CODES = ['site_unknown', 'never_connected', 'online_no_report'] as const;
export type SilentReasonCode = (typeof SILENT_REASON_CODES)[number];

export const SilentSite = Type.Object({
  siteId: Type.String(),
  name: Type.String(),
  areaName: Nullable(Type.String()),
  conditionNow: Nullable(SiteCondition),
  reasons: Type.Array(
    Type.Object({
      code: Type.String({ description: 'SILENT_REASON_CODES or SITE_REASON_CODES' }),
      params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()])),
      message: Type.String({ description: 'English, for API clients' }),
    }),
  ),
});

/** GET /api/live/streams/{id}: the stream, each reporting site (of the caller's area) with its name, and the targeted sites that said nothing. */
export const LiveStreamDetail = Type.Composite([
  LiveStreamView,
  Type.Object({
    siteReports: Type.Array(
      Type.Composite([LiveSiteView, Type.Object({ siteName: Nullable(Type.String()), areaKey: Nullable(Type.String()), areaName: Nullable(Type.String()) })]),
    ),
    targetedSites: Type.Integer(),
    silent: Type.Object({ total: Type.Integer(), sites: Type.Array(SilentSite) }),
  }),
]);
export type LiveStreamDetail = Static<typeof LiveStreamDetail>;

/** GET /api/live/delay: what a new stream to these areas would start with. */
export const LiveDelayPreview = Type.Object({
  delayMs: Ms,
  ceilingMs: Ms,
  adaptive: Type.Boolean({ description: 'the delay may be raised while the stream plays' }),
  sites: Type.Array(Type.Object({ siteId: Type.String(), transitP99Ms: Ms, neededMs: Ms, withinCeiling: Type.Boolean() })),
  measured: Type.Integer(),
  beyondCeiling: Type.Integer(),
});
export type LiveDelayPreview = Static<typeof LiveDelayPreview>;

/** Why a relay was refused before going on air (422): `error` LOANET_RELAY_REFUSED, LOANET_RELAY_UNREACHABLE or LOANET_RELAY_NOT_AUDIO, and this `reason`. */
export const RELAY_REFUSAL_REASONS = ['destination', 'redirect', 'connection', 'http_status', 'no_answer', 'not_audio', 'no_audio_in_time'] as const;
export type RelayRefusalReason = (typeof RELAY_REFUSAL_REASONS)[number];
