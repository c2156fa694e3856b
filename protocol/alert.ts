/**
 * Emergency alerts on the wire: what the server publishes on an
 * area's control channel to start and stop an alert, and the delivery status
 * a site reports back on its event channel. TypeBox schemas and boundary
 * decoders; pure, no I/O.
 *
 * `alert_start` travels on `areas/{areaKey}/control`, QoS 1, RETAINED while
 * the alert is valid: a site that connects (or reconnects) while it is valid
 * gets it from the broker at once, without asking. Every site subscribes to
 * its own area's channel and its ancestors', so one publish on a commune's
 * channel reaches every cluster in it. A drawn area (polygon) that covers only
 * part of an area is published on the areas of the sites inside it, with
 * `sites` naming them: a site not listed ignores the message.
 *
 * `alert_cancel` travels on the same channels, QoS 1, not retained; then the
 * server clears the retained `alert_start` (an empty retained payload, which
 * receivers ignore). An alert past `validUntil` is never started by a site,
 * whatever the broker delivers late.
 *
 * One retained slot per channel: when two alerts are valid on the same area
 * channel, the channel retains the newest; when it ends, the server retains
 * the other again. Live streams (stream_start/stream_stop) share the channel
 * but are never retained, so they do not disturb the slot.
 *
 * An Update of an alert is a new `alert_start` with the same alertId and a
 * higher `revision`: a site playing an older revision stops it and plays the
 * new one; a site that already played this revision does nothing.
 *
 * The message audio follows the start. The server publishes `alert_start` as
 * soon as the alert is stored, before its speech is made: then `media` is
 * absent and `messageState` is `preparing`, and a site sounds its attention
 * signal at once and waits. When the audio is ready the server publishes the
 * SAME revision again, now with `media` (retained in place of the first):
 * a site already playing this revision plays the message `repeats` times
 * after the signal; a site that connects later gets the complete start. If
 * the audio cannot be made, the same revision comes again with
 * `messageState` `failed` and no `media`: the attention signal is the alert.
 * An agent that does not know `messageState` drops the first copy as invalid
 * and plays the complete one as it always did.
 *
 * Language versions (Decree 49/2024/NĐ-CP): `media` is the Vietnamese
 * message; `versions` may add the same message in other languages. A site
 * plays, in each repeat, the Vietnamese message and then the versions of its
 * own languages (its site configuration's `languages`) in that order. A
 * version whose file is not in the site's cache when its turn comes is
 * skipped for that repeat: the signal and the Vietnamese message never wait
 * for a version. A version added while the alert plays comes as the SAME
 * revision again with a longer `versions` (like `media` above): a site
 * playing it takes the new version for the repeats still to come; within a
 * revision versions only accumulate, so a copy without some version takes
 * nothing away. Only agents that declare ALERT_VERSIONS_FEATURE take
 * `versions` (closed objects): the server sends them on a channel only while
 * every site on it that is online declared it, and the copy without them to
 * the others.
 *
 * Times are ms since the Unix epoch on the server clock, except in
 * `alert_status`, where they are the server clock as the agent estimates it
 * (own clock + measured offset).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LANGUAGE_TAG_PATTERN, MAX_PLAYLIST_PARTS } from './playlist.ts';
import { PROTOCOL_VERSION } from './version.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const AreaKey = Type.String({ pattern: '^[0-9a-z]{1,16}\\.[0-9A-Za-z-]{1,32}$', description: 'area key' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const LanguageTag = Type.String({ minLength: 2, maxLength: 35, pattern: LANGUAGE_TAG_PATTERN, description: 'BCP 47 language tag, canonical case' });
const Obj = <P extends Record<string, TSchema>>(p: P, $id?: string) => Type.Object(p, { additionalProperties: false, ...($id ? { $id } : {}) });

/** `alr-` and 16 hex digits, made by the server. */
export const ALERT_ID_PATTERN = /^alr-[0-9a-f]{16}$/;
export const AlertId = Type.String({ pattern: ALERT_ID_PATTERN.source, description: 'alert id' });
export const AlertRevision = Type.Integer({ minimum: 1, maximum: 1000, description: 'content revision; an Update raises it' });

/** The attention signal a site synthesises itself before the message, so the first sound never waits for a download. */
export const ATTENTION_SIGNALS = ['siren', 'chime'] as const;
export type AttentionSignal = (typeof ATTENTION_SIGNALS)[number];

export const DEFAULT_ALERT_REPEATS = 3;

/**
 * How an alert ranks against what else plays at a site (the playout priorities
 * of Circular 39/2020/TT-BTTTT): `emergency` pre-empts everything but another
 * emergency; `priority` (an advisory: CAP Moderate, a Decision 18/2021 risk
 * level 1–2) pre-empts normal bulletins and live streams but never an
 * emergency broadcast or a priority live stream. Absent on the wire: emergency.
 */
export const ALERT_PRIORITIES = ['emergency', 'priority'] as const;
export type AlertPriority = (typeof ALERT_PRIORITIES)[number];

/** What an `alert_start` without `media` says about its message. */
export const ALERT_MESSAGE_STATES = ['preparing', 'failed'] as const;

/** The alert's audio in the media library: fetched over HTTP into the site's cache and checked by SHA-256. */
export const AlertMedia = Obj({
  mediaId: Type.String({ minLength: 1, maxLength: 80 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the Ogg Opus file, lower-case hex' }),
  bytes: Type.Integer({ minimum: 1 }),
  durationMs: Type.Integer({ minimum: 1 }),
});
export type AlertMedia = Static<typeof AlertMedia>;

/** Most language versions beside the Vietnamese message: one alert plays in at most as many languages as a programme (MAX_PLAYLIST_PARTS). */
export const MAX_ALERT_VERSIONS = MAX_PLAYLIST_PARTS - 1;

/** The feature an agent declares in `state.features` when it takes `versions` in alert_start and reports `languagesPlayed`. */
export const ALERT_VERSIONS_FEATURE = 'alert_versions';

/** The language the main message (`media`) is in: a version in it would be the message twice. */
export const ALERT_MAIN_LANGUAGE = 'vi';

/** The alert's message in another language: a library item like `media`. */
export const AlertVersion = Obj({
  language: LanguageTag,
  media: AlertMedia,
});
export type AlertVersion = Static<typeof AlertVersion>;

/** areas/{areaKey}/control, server → sites, QoS 1, retained while valid. */
export const AlertStart = Obj(
  {
    v: Version,
    type: Type.Literal('alert_start'),
    alertId: AlertId,
    revision: AlertRevision,
    /**
     * A test or exercise (CAP status Test/Exercise): plays, and is reported,
     * but at test priority: it never pre-empts a live broadcast or a real alert.
     */
    test: Type.Boolean(),
    /** A real alert's rank (absent: emergency); a test always plays at `priority`. Sent only when not emergency, so an emergency alert reads the same to agents older than this field. */
    priority: Type.Optional(Lit(ALERT_PRIORITIES)),
    /** Area subtrees the alert is for (what the server published on). */
    areas: Type.Array(AreaKey, { minItems: 1, maxItems: 256 }),
    /** Only these sites play (a drawn area); absent: every site in `areas`. */
    sites: Type.Optional(Type.Array(SiteId, { maxItems: 5000 })),
    /** The message; absent while it is being made (`messageState` preparing) or when it could not be (failed). */
    media: Type.Optional(AlertMedia),
    /**
     * Only without `media`: `preparing`, the same revision comes again with
     * `media` when the audio is ready; `failed`, it will not come (the
     * attention signal alone is the alert).
     */
    messageState: Type.Optional(Lit(ALERT_MESSAGE_STATES)),
    /**
     * The message in other languages, in no particular order (each site plays
     * those of its own languages in its order, after `media`); no language
     * twice, none in ALERT_MAIN_LANGUAGE. Only to agents that declared
     * ALERT_VERSIONS_FEATURE.
     */
    versions: Type.Optional(Type.Array(AlertVersion, { minItems: 1, maxItems: MAX_ALERT_VERSIONS })),
    /** Played once before the first repeat of the message; null: none. */
    attention: Type.Union([Lit(ATTENTION_SIGNALS), Type.Null()]),
    /** The message is played this many times in a row (default 3). */
    repeats: Type.Integer({ minimum: 1, maximum: 20 }),
    /** Amplifier volume while the alert plays (0–100); absent: the site's own volume. */
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** Do not start after this (server clock). */
    validUntil: EpochMs,
    /** Human label for logs and consoles (the headline). */
    title: Type.Optional(Type.String({ maxLength: 200 })),
    /** Server clock, when the alert (this revision) was issued. */
    at: EpochMs,
  },
  'AlertStart',
);
export type AlertStart = Static<typeof AlertStart>;

export const ALERT_CANCEL_REASONS = ['cancelled', 'expired', 'superseded'] as const;
export type AlertCancelReason = (typeof ALERT_CANCEL_REASONS)[number];

/** areas/{areaKey}/control, server → sites, QoS 1, not retained: stop at once. */
export const AlertCancel = Obj(
  {
    v: Version,
    type: Type.Literal('alert_cancel'),
    alertId: AlertId,
    /** `cancelled` by an official (or a CAP Cancel), `expired` past validUntil. */
    reason: Lit(ALERT_CANCEL_REASONS),
    at: EpochMs,
  },
  'AlertCancel',
);
export type AlertCancel = Static<typeof AlertCancel>;

export const AlertControlMessage = Type.Union([AlertStart, AlertCancel], { $id: 'AlertControlMessage' });
export type AlertControlMessage = Static<typeof AlertControlMessage>;

/** What is wrong with an alert control message beyond its schema, or undefined: a version's language twice, or the main message's. */
export function alertControlProblem(m: AlertControlMessage): string | undefined {
  if (m.type !== 'alert_start' || !m.versions) return undefined;
  const seen = new Set<string>();
  for (const v of m.versions) {
    if (isMainLanguage(v.language)) return `alert ${m.alertId}: a version in ${v.language}, the language of the message itself`;
    if (seen.has(v.language)) return `alert ${m.alertId}: language ${v.language} comes twice in versions`;
    seen.add(v.language);
  }
  return undefined;
}

/** Vietnamese as a language tag may write it (vi, vie, vi-VN): the main message's language. */
export function isMainLanguage(tag: string): boolean {
  return /^vie?(?:-|$)/i.test(tag);
}

// --------------------------------------------------------------- status ----

/**
 * received   the site has the alert_start and will play it;
 * playing    sound is coming out: the attention signal (repeat 0) or repeat N of the message;
 * completed  every repeat played to the end;
 * failed     it could not play (reason says why);
 * stopped    it was playing or about to, and a cancel (or a newer revision) stopped it.
 */
export const ALERT_DELIVERY_STATUSES = ['received', 'playing', 'completed', 'failed', 'stopped'] as const;
export type AlertDeliveryStatus = (typeof ALERT_DELIVERY_STATUSES)[number];

/**
 * no_media    the message audio could not be had (fetch refused or cut, HTTP
 *             status, timeout, bad SHA-256: detail says which) or the server
 *             could not make it; the site played its attention signal only;
 * amp_fault   the amplifier refused to switch on or faulted while playing;
 * device_off  the audio device was unreachable;
 * expired     the site got it after validUntil;
 * preempted   something of higher priority played instead (a test alert under a real one);
 * error       anything else (detail says what).
 */
export const ALERT_FAILURE_REASONS = ['no_media', 'amp_fault', 'device_off', 'expired', 'preempted', 'error'] as const;
export type AlertFailureReason = (typeof ALERT_FAILURE_REASONS)[number];

/** sites/{siteId}/event, site → server, QoS 1: one per step of one alert revision at one site. */
export const AlertStatusEvent = Obj({
  v: Version,
  siteId: SiteId,
  /** When this step happened (server clock as the agent estimates it). */
  at: EpochMs,
  type: Type.Literal('alert_status'),
  alertId: AlertId,
  revision: AlertRevision,
  status: Lit(ALERT_DELIVERY_STATUSES),
  /** playing: 0 for the attention signal, 1…repeats for the message; completed/stopped: the last one played. */
  repeat: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
  /** When the first sound of this alert came out at this site (server clock, agent's estimate): the attention signal, or the message when there is no signal. */
  firstSoundAt: Type.Optional(EpochMs),
  /**
   * When the message itself (repeat 1) first came out here. Absent: the
   * message has not played at this site — with `firstSoundAt`, the site
   * sounded the attention signal only. A site says it is playing the message
   * only with this field; the attention signal alone never counts as the
   * alert heard.
   */
  messageAt: Type.Optional(EpochMs),
  /** Repeats of the message played to their end here so far (0…repeats); sent with every status after the first sound. */
  messageRepeats: Type.Optional(Type.Integer({ minimum: 0, maximum: 20 })),
  /**
   * The level the monitoring microphone heard while the alert played (dBFS,
   * the loudest second since the message began — since the first sound when
   * only the attention signal played; device protocol `mic_level`);
   * null: the site has no microphone. Sent with `completed` (and `stopped` or
   * `failed` after sound) and once mid-alert with the second repeat's `playing`.
   */
  levelDb: Type.Optional(Type.Union([Type.Number({ minimum: -200, maximum: 20 }), Type.Null()])),
  /**
   * The site's sound-check threshold (dBFS): a level below it means the alert
   * played but was not heard (speaker line open, amplifier silent). Sent with `levelDb`.
   */
  thresholdDb: Type.Optional(Type.Number({ minimum: -200, maximum: 20 })),
  reason: Type.Optional(Lit(ALERT_FAILURE_REASONS)),
  detail: Type.Optional(Type.String({ maxLength: 300 })),
  /**
   * The language versions that came out here so far, in the order first
   * heard (the Vietnamese message is `messageAt`). Sent by agents that
   * declared ALERT_VERSIONS_FEATURE with every status after a version of the
   * site's languages was due.
   */
  languagesPlayed: Type.Optional(Type.Array(LanguageTag, { maxItems: MAX_ALERT_VERSIONS })),
  /** Versions in the site's languages whose turn came and that never played here: their file was not in the cache in time. */
  languagesMissed: Type.Optional(Type.Array(LanguageTag, { maxItems: MAX_ALERT_VERSIONS })),
  /** Error bound of the agent's server-clock estimate (ms). */
  clockUncertaintyMs: Type.Optional(Type.Number({ minimum: 0 })),
});
export type AlertStatusEvent = Static<typeof AlertStatusEvent>;
