/**
 * Store and forward of scheduled audio: the desired playlist the
 * server keeps per site, and the as-run receipt an agent writes for every
 * entry it was asked to play.
 *
 * The playlist travels retained on `sites/{siteId}/playlist` (QoS 1): a site
 * that reconnects after hours offline receives the newest one from the broker
 * without asking, downloads what its cache lacks over HTTP
 * (`GET /api/media/{mediaId}/audio`, Range, site credential) and verifies the
 * SHA-256. The agent then plays from its cache whether or not the link is up,
 * and reports the version it holds in its heartbeat (`telemetry.playlist`).
 *
 * Receipts travel as `as_run` events on `sites/{siteId}/event` (QoS 1). The
 * agent writes each to disk before sending it and sends it again after a
 * reconnect until the broker acknowledged it; the server keeps one per
 * (siteId, entryId), so a receipt sent twice is counted once.
 *
 * Times are ms since the Unix epoch. `startAt` in a playlist is on the server
 * clock; an agent plays at startAt − clockOffset (its own clock). Receipt times
 * are on the server clock as the agent estimates it (own clock + offset).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Obj = <P extends Record<string, TSchema>>(p: P, $id?: string) => Type.Object(p, { additionalProperties: false, ...($id ? { $id } : {}) });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the media file, lower-case hex' });
const EntryId = Type.String({ minLength: 1, maxLength: 120, pattern: '^[A-Za-z0-9_.:@-]+$', description: 'occurrence id: item id @ scheduled start' });
const PlaylistVersion = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const MediaId = Type.String({ minLength: 1, maxLength: 80 });
/** Size of the media file: what the agent's cache must hold. */
const MediaBytes = Type.Integer({ minimum: 1 });
const DurationMs = Type.Integer({ minimum: 1 });

/**
 * A BCP 47 tag in its canonical case (RFC 5646 §2.1.1: lower-case language,
 * Title-case script, upper-case region), as the server's media library stores
 * it: one spelling per language, so two sides compare tags as strings.
 */
export const LANGUAGE_TAG_PATTERN =
  '^[a-z]{2,8}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?$';
const LanguageTag = Type.String({ minLength: 2, maxLength: 35, pattern: LANGUAGE_TAG_PATTERN, description: 'BCP 47 language tag, canonical case' });

/** Most versions (languages) one programme may have. */
export const MAX_PLAYLIST_PARTS = 8;

/** The feature an agent declares in `state.features` when it plays entries with `parts`; the server sends `parts` to no other site. */
export const PLAYLIST_PARTS_FEATURE = 'playlist_parts';

/** Circular 39/2020/TT-BTTTT priority classes; a higher one pre-empts a lower one at a site. */
export const PLAYLIST_PRIORITIES = ['normal', 'priority', 'emergency'] as const;
export type PlaylistPriority = (typeof PLAYLIST_PRIORITIES)[number];

/** What an entry is: a scheduled bulletin, or the file copy of an emergency alert (played from the cache if the live alert is missed). */
export const PLAYLIST_ENTRY_KINDS = ['bulletin', 'alert'] as const;
export type PlaylistEntryKind = (typeof PLAYLIST_ENTRY_KINDS)[number];

/** One language version of a programme: played in its turn, back to back with the others. */
export const PlaylistPartMessage = Obj({
  language: LanguageTag,
  mediaId: MediaId,
  sha256: Sha256,
  bytes: MediaBytes,
  durationMs: DurationMs,
});
export type PlaylistPartMessage = Static<typeof PlaylistPartMessage>;

export const PlaylistEntryMessage = Obj({
  /** Occurrence id, stable across recomputation: the key of the receipt. */
  id: EntryId,
  kind: Lit(PLAYLIST_ENTRY_KINDS),
  /** The broadcast item (or alert) this is an occurrence of. */
  itemId: Type.String({ minLength: 1, maxLength: 80 }),
  /** With parts: parts[0]'s, so a reader that ignores parts still has the first version. */
  mediaId: MediaId,
  sha256: Sha256,
  bytes: MediaBytes,
  /** When to start playing, server clock. */
  startAt: EpochMs,
  /** Of one play; with parts, the sum of the parts' durations. */
  durationMs: DurationMs,
  priority: Lit(PLAYLIST_PRIORITIES),
  /** Do not start after this (server clock): a late start past it is a skip (`expired`). Absent: startAt + durationMs. */
  notAfter: Type.Optional(EpochMs),
  /** Play this many times in a row (alerts: default 3). */
  repeats: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  /** Amplifier volume for this entry (0–100); absent: the site's volume. */
  volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  /** Human label for logs and the console. */
  title: Type.Optional(Type.String({ maxLength: 200 })),
  /**
   * The language versions of one programme, played back to back in this order
   * as one programme (one priority, pre-empted as a whole). Only to a site
   * whose agent declared PLAYLIST_PARTS_FEATURE. Rules beyond the schema:
   * playlistEntryProblem().
   */
  parts: Type.Optional(Type.Array(PlaylistPartMessage, { minItems: 2, maxItems: MAX_PLAYLIST_PARTS })),
});
export type PlaylistEntryMessage = Static<typeof PlaylistEntryMessage>;

/**
 * What is wrong with an entry beyond its schema, or undefined: with `parts`,
 * the entry's media is parts[0]'s, its duration the sum of the parts', and
 * no language comes twice (a receipt names its parts by language).
 */
export function playlistEntryProblem(e: PlaylistEntryMessage): string | undefined {
  const parts = e.parts;
  if (!parts) return undefined;
  const first = parts[0];
  if (!first) return `entry ${e.id}: parts is empty`;
  if (e.mediaId !== first.mediaId || e.sha256 !== first.sha256 || e.bytes !== first.bytes) {
    return `entry ${e.id}: mediaId, sha256 and bytes must be those of parts[0]`;
  }
  const sum = parts.reduce((n, p) => n + p.durationMs, 0);
  if (e.durationMs !== sum) return `entry ${e.id}: durationMs ${e.durationMs} is not the sum of its parts' (${sum})`;
  const seen = new Set<string>();
  for (const p of parts) {
    if (seen.has(p.language)) return `entry ${e.id}: language ${p.language} comes twice in parts`;
    seen.add(p.language);
  }
  return undefined;
}

/** The first problem of any entry of a playlist (decodePlaylist runs it after the schema), or undefined. */
export function playlistProblem(m: PlaylistMessage): string | undefined {
  for (let i = 0; i < m.entries.length; i++) {
    const problem = playlistEntryProblem(m.entries[i]!);
    if (problem) return `/entries/${i}: ${problem}`;
  }
  return undefined;
}

/**
 * The entry as a site without PLAYLIST_PARTS_FEATURE must receive it: its first
 * version alone (an older agent refuses the whole playlist for an unknown field).
 */
export function entryWithoutParts(e: PlaylistEntryMessage): PlaylistEntryMessage {
  const { parts, ...rest } = e;
  const first = parts?.[0];
  return first ? { ...rest, mediaId: first.mediaId, sha256: first.sha256, bytes: first.bytes, durationMs: first.durationMs } : rest;
}

/** sites/{siteId}/playlist, server → site, QoS 1, retained. */
export const PlaylistMessage = Obj(
  {
    v: Version,
    siteId: SiteId,
    /** Content hash of the entries: equal versions mean nothing to do. */
    version: PlaylistVersion,
    /** Server clock, when this playlist was computed. */
    at: EpochMs,
    /** The playlist covers [at, horizonEnd): entries starting later come in a later version. */
    horizonEnd: EpochMs,
    /** By startAt. */
    entries: Type.Array(PlaylistEntryMessage, { maxItems: 500 }),
  },
  'PlaylistMessage',
);
export type PlaylistMessage = Static<typeof PlaylistMessage>;

/** Largest playlist payload (500 entries ≈ 200 KB); larger than the 16 KiB of uplink JSON. */
export const MAX_PLAYLIST_BYTES = 512 * 1024;

/** What the agent says of its playlist and cache in every heartbeat (telemetry.playlist). */
export const PlaylistReport = Obj({
  /** Version of the playlist the agent holds; null before the first. */
  version: Type.Union([PlaylistVersion, Type.Null()]),
  entries: Type.Integer({ minimum: 0 }),
  /** Entries still to play whose media is not (yet) in the cache. */
  missing: Type.Integer({ minimum: 0 }),
  cacheBytes: Type.Integer({ minimum: 0 }),
  cacheLimitBytes: Type.Integer({ minimum: 0 }),
});
export type PlaylistReport = Static<typeof PlaylistReport>;

// ------------------------------------------------------------- receipts ----

/**
 * played   started within tolerance and ran to the end;
 * late     started, but later than the tolerance (lateMs says by how much);
 * partial  started but stopped before the end (reason says why: pre-empted, amplifier fault, …);
 * skipped  never started (reason says why);
 * unknown  the agent lost its record of this entry (reason state_lost: its
 *          receipt journal was wiped or damaged while the entry's window
 *          passed), so it cannot say whether it played: never a guess.
 */
export const AS_RUN_OUTCOMES = ['played', 'late', 'partial', 'skipped', 'unknown'] as const;
export type AsRunOutcome = (typeof AS_RUN_OUTCOMES)[number];

/**
 * no_media      not in the cache at start time (download failed or incomplete);
 * preempted     a higher priority played instead (or interrupted it);
 * amp_fault     the amplifier refused to switch on or faulted while playing;
 * device_off    the audio device was unreachable or powered off;
 * expired       the agent could not start it before notAfter (e.g. it was off);
 * cancelled     the entry left the playlist after it started;
 * error         anything else (detail says what);
 * state_lost    with `unknown`: the agent's record of it was lost (detail says which).
 */
export const AS_RUN_REASONS = ['no_media', 'preempted', 'amp_fault', 'device_off', 'expired', 'cancelled', 'error', 'state_lost'] as const;
export type AsRunReason = (typeof AS_RUN_REASONS)[number];

/**
 * What became of one part (language version) of an entry with parts. A part
 * after the first starts when the one before it ends, so only the first can be
 * `late`; a programme that stops for good during a part (amplifier fault,
 * cancelled, …) makes that part `partial` and the parts after it `skipped`,
 * with the same reason; a part whose media the cache lacks at its turn is
 * `skipped` (no_media) and the next plays at once.
 */
export const AsRunPart = Obj({
  language: LanguageTag,
  mediaId: MediaId,
  outcome: Lit(AS_RUN_OUTCOMES),
  startedAt: Type.Optional(EpochMs),
  endedAt: Type.Optional(EpochMs),
  frames: Type.Optional(Type.Integer({ minimum: 0 })),
  reason: Type.Optional(Lit(AS_RUN_REASONS)),
});
export type AsRunPart = Static<typeof AsRunPart>;

/**
 * The entry's outcome from its parts' (docs/protocol.md, as_run): played only
 * if every part played; late if the first part started late and every part ran
 * to its end; partial if some part started and some part did not run to its end
 * or was skipped; skipped if none started.
 */
export function summariseParts(parts: readonly Pick<AsRunPart, 'outcome'>[]): AsRunOutcome {
  const ran = (o: AsRunOutcome) => o === 'played' || o === 'late';
  if (parts.length === 0) return 'skipped';
  if (parts.every((p) => p.outcome === 'played')) return 'played';
  if (parts[0]!.outcome === 'late' && parts.every((p) => ran(p.outcome))) return 'late';
  if (parts.some((p) => ran(p.outcome) || p.outcome === 'partial')) return 'partial';
  return 'skipped';
}

/** One receipt per playlist entry per site: an `event` of type `as_run`. */
export const AsRunEvent = Obj({
  v: Version,
  siteId: SiteId,
  /** When the receipt was written (server clock as estimated by the agent). */
  at: EpochMs,
  type: Type.Literal('as_run'),
  entryId: EntryId,
  kind: Lit(PLAYLIST_ENTRY_KINDS),
  itemId: Type.String({ minLength: 1, maxLength: 80 }),
  mediaId: MediaId,
  /** The entry's startAt. */
  scheduledAt: EpochMs,
  outcome: Lit(AS_RUN_OUTCOMES),
  startedAt: Type.Optional(EpochMs),
  endedAt: Type.Optional(EpochMs),
  /** startedAt − scheduledAt (ms, may be negative); absent when skipped. */
  startErrorMs: Type.Optional(Type.Number()),
  /** 20 ms audio frames written to the sink. */
  frames: Type.Optional(Type.Integer({ minimum: 0 })),
  reason: Type.Optional(Lit(AS_RUN_REASONS)),
  detail: Type.Optional(Type.String({ maxLength: 300 })),
  /** The playlist version the agent played this from. */
  playlistVersion: Type.Optional(PlaylistVersion),
  /** Estimated error of the agent's server-clock estimate (ms) when it started. */
  clockUncertaintyMs: Type.Optional(Type.Number({ minimum: 0 })),
  /**
   * Whether the agent's clock was verified against the server's when the entry
   * started (or, for a receipt of no play, when the agent decided): false after a
   * restart with no link, or while a disagreeing clock answer was being confirmed.
   * Absent: an agent that predates it.
   */
  clockSynced: Type.Optional(Type.Boolean()),
  /**
   * The clock the entry played under minus the best clock the agent knew when it
   * wrote the receipt (ms, after checking its clock once more): positive, it ran
   * ahead and played early by this much. startedAt, endedAt and startErrorMs are
   * then on that best clock. Absent: no verified clock to compare with (no link).
   */
  clockErrorMs: Type.Optional(Type.Number()),
  /** For an entry with parts: each part's outcome, in the entry's order; `outcome` summarises them (summariseParts). */
  parts: Type.Optional(Type.Array(AsRunPart, { maxItems: MAX_PLAYLIST_PARTS })),
});
export type AsRunEvent = Static<typeof AsRunEvent>;
