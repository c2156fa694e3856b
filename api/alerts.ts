/**
 * Emergency alerts over HTTP (server/alerts/routes.ts): the alert as the
 * server keeps it, its delivery (counts, times, the sites not reached and
 * why), CAP senders. The SSE `alert` event is in api/stream.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ALERT_DELIVERY_STATUSES, ALERT_FAILURE_REASONS, ALERT_PRIORITIES, ATTENTION_SIGNALS, AlertMedia } from '../protocol/alert.ts';
import { EpochMs, Nullable } from './common.ts';

const Lit = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

/** emergency pre-empts everything but another emergency; priority (an advisory) pre-empts normal bulletins and live streams only. */
export const AlertPriority = Type.Union(
  ALERT_PRIORITIES.map((v) => Type.Literal(v)),
  {
    description: 'emergency (default): pre-empts everything but another emergency; priority (an advisory): pre-empts normal bulletins and live streams only',
  },
);

export const AlertState = Type.Union([Type.Literal('active'), Type.Literal('cancelled'), Type.Literal('expired')]);
export const DeliveryStatus = Type.Union([Type.Literal('pending'), ...ALERT_DELIVERY_STATUSES.map((s) => Type.Literal(s))]);
export type DeliveryStatus = Static<typeof DeliveryStatus>;
/** [latitude, longitude], WGS 84. */
export const LatLon = Type.Tuple([Type.Number({ minimum: -90, maximum: 90 }), Type.Number({ minimum: -180, maximum: 180 })], { description: '[latitude, longitude], WGS 84' });

export const AlertMessageSource = Type.Union([
  Type.Object({ kind: Type.Literal('media'), mediaId: Type.String() }),
  Type.Object({ kind: Type.Literal('upload'), mediaId: Type.String(), originalName: Nullable(Type.String()) }),
  Type.Object({ kind: Type.Literal('tts'), mediaId: Type.String(), text: Type.String(), lang: Type.String() }),
  Type.Object({ kind: Type.Literal('cap_audio'), mediaId: Type.String(), mimeType: Type.String() }),
]);

/** Network-wide or over the caller's area's sites (see the route). */
export const DeliveryCounts = Type.Object({
  targeted: Type.Integer(),
  received: Type.Integer({ description: 'reported at least received' }),
  playing: Type.Integer({ description: 'playing now (the signal or the message)' }),
  started: Type.Integer({ description: 'made any sound' }),
  confirmedPlaying: Type.Integer({ description: 'played the message' }),
  attentionOnly: Type.Integer({ description: 'the attention signal without the message' }),
  completed: Type.Integer(),
  failed: Type.Integer(),
  stopped: Type.Integer(),
  unreached: Type.Integer({ description: 'no sound at all' }),
  heard: Type.Integer({ description: 'played, and the monitoring microphone heard it' }),
  notHeard: Type.Integer({ description: 'played, but the microphone stayed below the threshold' }),
});
export type DeliveryCounts = Static<typeof DeliveryCounts>;

export const Alert = Type.Object({
  id: Type.String(),
  revision: Type.Integer(),
  state: AlertState,
  test: Type.Boolean(),
  priority: AlertPriority,
  origin: Type.Union([Type.Literal('api'), Type.Literal('cap')]),
  title: Type.String(),
  targetAreas: Type.Array(Type.String()),
  areas: Type.Array(Type.String()),
  sites: Nullable(Type.Array(Type.String())),
  polygon: Nullable(Type.Array(LatLon)),
  media: Nullable(Type.Object(AlertMedia.properties)),
  message: AlertMessageSource,
  messageState: Type.Union([Type.Literal('preparing'), Type.Literal('ready'), Type.Literal('failed')]),
  messageReason: Nullable(Type.String()),
  versions: Type.Optional(
    Type.Array(
      Type.Object({
        language: Type.String({ description: 'BCP 47 tag' }),
        source: Type.Union([Type.Literal('media'), Type.Literal('upload'), Type.Literal('tts'), Type.Literal('cap_audio')]),
        mediaId: Nullable(Type.String()),
        media: Nullable(Type.Object(AlertMedia.properties)),
        state: Type.Union([Type.Literal('preparing'), Type.Literal('ready'), Type.Literal('failed')]),
        reason: Nullable(Type.String({ description: 'why it has no audio (a CAP info in a language with neither audio nor a voice, an encoding error)' })),
      }),
      { description: 'the message in other languages; only ready ones go to the sites' },
    ),
  ),
  attention: Nullable(Lit(ATTENTION_SIGNALS)),
  repeats: Type.Integer(),
  volume: Nullable(Type.Integer()),
  validUntil: EpochMs,
  createdBy: Nullable(Type.Integer()),
  createdByName: Nullable(Type.String()),
  createdAt: EpochMs,
  revisedAt: EpochMs,
  endedAt: Nullable(EpochMs),
  endedByName: Nullable(Type.String()),
  cap: Nullable(Type.Object({ sender: Type.String(), identifier: Type.String(), sent: Type.String() })),
});
export type Alert = Static<typeof Alert>;

/** An alert with its delivery counts (lists, creation, cancel, update). */
export const AlertSummary = Type.Composite([Alert, Type.Object({ delivery: DeliveryCounts })]);
export type AlertSummary = Static<typeof AlertSummary>;
export const AlertList = Type.Object({ alerts: Type.Array(AlertSummary) });
export const AlertCreated = Type.Object({ id: Type.String(), alert: AlertSummary });
export const AlertRevised = Type.Object({ id: Type.String(), revision: Type.Integer(), alert: AlertSummary });

/**
 * The reason codes of a site's delivery of an alert (server/alerts/delivery-reasons.ts),
 * besides the site condition's own (SITE_REASON_CODES): the console words each
 * from its params; a unit test fails on a code it cannot word in both languages.
 */
export const DELIVERY_REASON_CODES = [
  'played_not_heard',
  'received_no_sound',
  'never_connected',
  'site_unknown',
  'no_confirmation',
  'alert_stopped',
  ...ALERT_FAILURE_REASONS.map((r) => `alert_${r}` as const),
  'attention_only',
  'attention_only_so_far',
  'message_not_made',
  'site_detail',
  'message_preparing',
  'message_fetching',
  'not_verified',
] as const;
export type DeliveryReasonCode = (typeof DELIVERY_REASON_CODES)[number];

/** Why a site is not (yet) counted: a code the console words from its params; `message` is English for API clients. */
const SiteReason = Type.Object({
  code: Type.String({ description: 'DELIVERY_REASON_CODES or SITE_REASON_CODES' }),
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()])),
  message: Type.String({ description: 'English, for API clients and logs' }),
});
export const UnreachedSite = Type.Object({
  siteId: Type.String(),
  name: Type.String(),
  areaKey: Nullable(Type.String()),
  areaName: Nullable(Type.String()),
  status: DeliveryStatus,
  reasons: Type.Array(SiteReason),
});
export type UnreachedSite = Static<typeof UnreachedSite>;
const Times = Type.Object({ firstMs: Type.Number(), p50Ms: Type.Number(), p99Ms: Type.Number(), lastMs: Type.Number() });
const Played = Type.Union([Type.Literal('nothing'), Type.Literal('attention'), Type.Literal('message')]);

export const DeliveryState = Type.Object({
  alertId: Type.String(),
  revision: Type.Integer(),
  state: AlertState,
  test: Type.Boolean(),
  issuedAt: EpochMs,
  validUntil: EpochMs,
  counts: DeliveryCounts,
  timeToFirstSound: Nullable(Times),
  timeToMessage: Nullable(Times),
  confirmedPlayingOverTime: Type.Array(Type.Object({ afterMs: Type.Integer(), sites: Type.Integer(), share: Type.Number() })),
  unreached: Type.Array(UnreachedSite),
  unreachedTruncated: Type.Boolean(),
  attentionOnly: Type.Array(UnreachedSite),
  notHeard: Type.Array(UnreachedSite),
  levels: Type.Array(
    Type.Object({
      siteId: Type.String(),
      levelDb: Type.Number(),
      thresholdDb: Type.Number(),
      played: Type.Union([Type.Literal('attention'), Type.Literal('message')]),
      heard: Type.Boolean(),
    }),
  ),
  levelsTruncated: Type.Boolean(),
  languages: Type.Optional(
    Type.Array(
      Type.Object({
        language: Type.String(),
        state: Type.Union([Type.Literal('preparing'), Type.Literal('ready'), Type.Literal('failed')]),
        reason: Nullable(Type.String()),
        played: Type.Integer({ description: 'sites where this version came out' }),
        missed: Type.Integer({ description: 'sites speaking it whose turn came without the file' }),
        playedSites: Type.Array(Type.String()),
        missedSites: Type.Array(Type.String()),
      }),
      { description: 'per language version: which villages heard the alert in their own language' },
    ),
  ),
});
export type DeliveryState = Static<typeof DeliveryState>;
export const AlertDetail = Type.Object({ alert: Alert, delivery: DeliveryState });
export type AlertDetail = Static<typeof AlertDetail>;

export const SiteDelivery = Type.Object({
  alertId: Type.String(),
  siteId: Type.String(),
  alertRevision: Type.Integer(),
  revision: Type.Integer(),
  status: DeliveryStatus,
  state: AlertState,
  validUntil: EpochMs,
});

export const ReportLine = Type.Object({
  siteId: Type.String(),
  name: Type.String(),
  areaKey: Nullable(Type.String()),
  areaName: Nullable(Type.String()),
  status: DeliveryStatus,
  receivedAt: Nullable(EpochMs),
  firstSoundAt: Nullable(EpochMs),
  firstSoundAfterMs: Nullable(Type.Number()),
  repeat: Nullable(Type.Integer()),
  played: Played,
  messageAt: Nullable(EpochMs),
  messageRepeats: Nullable(Type.Integer()),
  completedAt: Nullable(EpochMs),
  failedAt: Nullable(EpochMs),
  levelDb: Nullable(Type.Number()),
  levelThresholdDb: Nullable(Type.Number()),
  heard: Nullable(Type.Boolean()),
  reasons: Type.Array(SiteReason),
  languagesPlayed: Type.Optional(Nullable(Type.Array(Type.String(), { description: 'language versions that came out at the site, in order heard' }))),
  languagesMissed: Type.Optional(Nullable(Type.Array(Type.String(), { description: 'versions of its languages whose turn came without the file' }))),
});
export const AlertReport = Type.Object({ alert: Alert, delivery: Type.Omit(DeliveryState, ['unreached']), sites: Type.Array(ReportLine) });
export type AlertReport = Static<typeof AlertReport>;

const Warnings = Type.Array(Type.String());
/** Present when the document was an envelope (EDXL-DE, Atom, RSS): what became of each CAP alert in it, in document order. */
export const CapEnvelopeOutcome = Type.Object(
  {
    format: Type.String({ description: 'EDXL-DE 1.0, EDXL-DE 2.0, Atom, RSS or CAP alert list' }),
    alerts: Type.Array(
      Type.Union([
        Type.Object({
          index: Type.Integer({ minimum: 0 }),
          outcome: Type.Union(['started', 'updated', 'cancelled', 'duplicate', 'stored'].map((o) => Type.Literal(o))),
          id: Nullable(Type.String()),
        }),
        Type.Object({
          index: Type.Integer({ minimum: 0 }),
          outcome: Type.Literal('refused'),
          id: Type.Null(),
          status: Type.Integer({ description: 'the HTTP status it would have had alone' }),
          code: Type.String(),
          message: Type.String(),
        }),
      ]),
    ),
  },
  { description: 'every CAP alert of an envelope, each handled as if posted alone' },
);
const envelope = { envelope: Type.Optional(CapEnvelopeOutcome) };
export const CapStarted = Type.Object({ id: Type.String(), outcome: Type.Literal('started'), lifecycle: Type.String(), alert: AlertSummary, warnings: Warnings, ...envelope });
export const CapHandled = Type.Union([
  Type.Object({ id: Type.String(), outcome: Type.Literal('updated'), revision: Type.Integer(), alert: AlertSummary, warnings: Warnings, ...envelope }),
  Type.Object({ outcome: Type.Literal('cancelled'), cancelled: Type.Array(Type.String()), warnings: Warnings, ...envelope }),
  Type.Object({ id: Nullable(Type.String()), outcome: Type.Literal('duplicate'), warnings: Warnings, ...envelope }),
  Type.Object({ id: Type.Null(), outcome: Type.Literal('stored'), reason: Type.String(), warnings: Warnings, ...envelope }),
]);

export const CapSender = Type.Object({
  id: Type.Integer(),
  sender: Type.String(),
  area: Nullable(Type.String()),
  areaName: Nullable(Type.String()),
  note: Nullable(Type.String()),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  accounts: Type.Array(Type.Object({ username: Type.String(), tokenId: Nullable(Type.Integer()) })),
});
export type CapSender = Static<typeof CapSender>;
export const UnregisteredSender = Type.Object({ sender: Type.String(), messages: Type.Integer(), postedBy: Type.Array(Type.String()) });
export type UnregisteredSender = Static<typeof UnregisteredSender>;
export const CapSenderList = Type.Object({ senders: Type.Array(CapSender), unregistered: Type.Array(UnregisteredSender) });

/** Every failure reason a site may report (protocol/alert.ts). */
export const AlertFailureReason = Lit(ALERT_FAILURE_REASONS);
