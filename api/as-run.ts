/**
 * The as-run log (nhật ký phát thanh) over HTTP (GET /api/as-run,
 * server/asrun/routes.ts; the lines are worked out by
 * server/asrun/accounting.ts): one line per (entry, site) the server asked
 * to play, with the site's receipt or why there is none. Times are epoch ms
 * plus `…Local` ISO 8601 with +07:00.
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';

/**
 * Why a line is what it is (server/asrun/accounting.ts): a receipt's or the
 * plan's reason, how early or late, the site's clock. The console words each
 * from its params (api/words/reasons.ts); a unit test fails on a code it
 * cannot word in both languages.
 */
export const AS_RUN_WHY_CODES = [
  'early',
  'late',
  'clock_unverified',
  'no_receipt',
  'site_retired',
  'clock_fast',
  'clock_slow',
  'no_media',
  'preempted',
  'amp_fault',
  'device_off',
  'expired',
  'cancelled',
  'error',
  'state_lost',
  'higher_priority',
  'same_priority',
  'queue_no_room',
  'other',
] as const;
export type AsRunWhyCode = (typeof AS_RUN_WHY_CODES)[number];
const ParamValues = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]));
const AsRunWhy = Type.Object({ code: Type.Union(AS_RUN_WHY_CODES.map((c) => Type.Literal(c))), params: ParamValues });

/** A line's status (the route checks at compile time that these are the accounting's own, in its order). */
export const AS_RUN_STATUS_VALUES = ['played', 'late', 'early', 'unverified', 'partial', 'skipped', 'unknown', 'no_receipt', 'upcoming'] as const;
export const AsRunStatus = Type.Union(AS_RUN_STATUS_VALUES.map((s) => Type.Literal(s)));
export type AsRunStatus = Static<typeof AsRunStatus>;

const Local = Type.String({ description: 'ISO 8601 local time with +07:00' });
const Words = Type.Object({ vi: Type.String(), en: Type.String() });
const PerStatus = Type.Object(Object.fromEntries(AS_RUN_STATUS_VALUES.map((s) => [s, Type.Integer()])) as Record<AsRunStatus, ReturnType<typeof Type.Integer>>);

/** An instant in the query: a number, or text the server parses. */
const TimeIn = Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Integer({ minimum: 0 })], {
  description: 'epoch ms, ISO 8601 with an offset, or local Asia/Ho_Chi_Minh time (2026-11-27T06:00); entries are selected by scheduled start',
});
export const AsRunQuery = Type.Object({
  area: Type.Optional(Type.String({ maxLength: 100, description: 'area code or key; default: your own area, else the province' })),
  from: Type.Optional(TimeIn),
  to: Type.Optional(TimeIn),
  site: Type.Optional(Type.String({ maxLength: 64 })),
  item: Type.Optional(Type.String({ maxLength: 80 })),
  status: Type.Optional(AsRunStatus),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  graceS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: "seconds after an entry's end before a missing receipt counts as no_receipt (default 120)" })),
});
export type AsRunQuery = Static<typeof AsRunQuery>;

/** Why a village did not hear a bulletin in its own language (server/asrun/languages.ts). */
export const NOT_HEARD_REASON_VALUES = ['no_version', 'agent_without_parts', 'not_played', 'skipped', 'no_receipt'] as const;
const Outcome = Type.Union(['played', 'late', 'partial', 'skipped', 'unknown'].map((o) => Type.Literal(o)));

/** One language version planned for a site, and what became of it. */
export const AsRunVersionOutcome = Type.Object({
  language: Type.String({ description: 'BCP 47 tag' }),
  mediaId: Nullable(Type.String()),
  outcome: Nullable({ ...Outcome, description: "what the site's receipt says of this version; null: no receipt (yet)" }),
  reason: Nullable(Type.String({ description: 'the receipt’s reason for it (no_media, preempted …)' })),
  startedAt: Nullable(EpochMs),
  endedAt: Nullable(EpochMs),
});
export type AsRunVersionOutcome = Static<typeof AsRunVersionOutcome>;

/** A line's languages, for a bulletin with language versions (server/asrun/languages.ts). */
export const AsRunLineLanguages = Type.Object({
  site: Type.Array(Type.String(), { description: "the site's languages, in order; the first is its own" }),
  versions: Type.Array(AsRunVersionOutcome, { description: 'the versions planned for it, in the order they play' }),
  played: Type.Array(Type.String(), { description: 'languages whose version played to its end' }),
  missing: Type.Array(Type.String(), { description: "the site's languages with no version: the default version (Vietnamese) was planned instead" }),
  fallback: Nullable(Type.Union([Type.Literal('no_version'), Type.Literal('agent_without_parts')], { description: 'why the default version plays instead of its own' })),
  heardOwnLanguage: Nullable(Type.Boolean({ description: 'heard in its own language (the first of its languages); null: not known yet' })),
  notHeard: Nullable(
    Type.Object({
      reason: Type.Union(NOT_HEARD_REASON_VALUES.map((r) => Type.Literal(r))),
      language: Type.String({ description: 'its own language' }),
      detail: Nullable(Type.String({ description: 'for not_played: the version’s reason or outcome' })),
    }),
  ),
});
export type AsRunLineLanguages = Static<typeof AsRunLineLanguages>;

export const AsRunLine = Type.Object({
  entryId: Type.String(),
  itemId: Type.String(),
  title: Type.String({ description: "the broadcast item's title (its id if it is gone)" }),
  siteId: Type.String(),
  siteName: Type.String(),
  areaKey: Type.String(),
  areaName: Type.String(),
  scheduledAt: EpochMs,
  scheduledLocal: Local,
  startAt: EpochMs,
  startLocal: { ...Local, description: 'planned start (after any queue shift), local' },
  durationMs: Type.Integer(),
  priority: Type.String({ description: "normal, priority or emergency; '' for a receipt of an entry the server has no record of sending" }),
  status: AsRunStatus,
  source: Type.Union([Type.Literal('agent'), Type.Literal('server')], { description: "who says so: the site's receipt, or the server (its own plan, or no receipt)" }),
  reason: Nullable(Type.String({ description: 'the code of why: no_media, preempted, higher_priority …' })),
  why: Type.Array(AsRunWhy, { description: 'why, as codes with params: what the console words' }),
  explanation: Nullable({ ...Words, description: 'why, in words, for the CSV and API clients (the console words `why`)' }),
  startedAt: Nullable(EpochMs),
  startedLocal: Nullable(Local),
  endedAt: Nullable(EpochMs),
  endedLocal: Nullable(Local),
  startErrorMs: Nullable(Type.Number({ description: 'start minus scheduled start, on the server clock (negative: early)' })),
  clockSynced: Nullable(Type.Boolean({ description: "the site's clock was verified when it played; null: not said" })),
  clockErrorMs: Nullable(Type.Number({ description: "how far the site's clock was off when it played (positive: fast)" })),
  frames: Nullable(Type.Integer({ description: '20 ms audio frames written' })),
  detail: Nullable(Type.String()),
  receivedAt: Nullable(EpochMs),
  receivedLocal: Nullable(Local),
  siteNow: Nullable(
    Type.Object(
      {
        condition: Type.String({ description: "the site's condition now, or retired" }),
        reason: Nullable(
          Type.Object({
            code: Type.String({ description: 'SITE_REASON_CODES, or never_connected' }),
            params: ParamValues,
            message: Type.String({ description: 'English, for API clients' }),
          }),
        ),
      },
      { description: 'for no_receipt: what the server knows of the site now' },
    ),
  ),
  languages: Type.Optional({ ...AsRunLineLanguages, description: 'for a bulletin with language versions: which played, which were missing, heard in its own language' }),
});
export type AsRunLine = Static<typeof AsRunLine>;

/** One occurrence across all its sites. */
export const AsRunEntry = Type.Object({
  entryId: Type.String(),
  itemId: Type.String(),
  title: Type.String(),
  scheduledAt: EpochMs,
  scheduledLocal: Local,
  sites: Type.Integer(),
  byStatus: PerStatus,
});
export type AsRunEntry = Static<typeof AsRunEntry>;

export const AsRunLog = Type.Object({
  area: Type.Object({ key: Type.String(), code: Type.String(), name: Type.String() }),
  from: EpochMs,
  fromLocal: Local,
  to: EpochMs,
  toLocal: Local,
  summary: Type.Object({ lines: Type.Integer(), sites: Type.Integer(), entries: Type.Integer(), byStatus: PerStatus }),
  entries: Type.Array(AsRunEntry),
  statusLabels: Type.Object(Object.fromEntries(AS_RUN_STATUS_VALUES.map((s) => [s, Words])) as Record<AsRunStatus, typeof Words>, { description: 'each status in words' }),
  lines: Type.Array(AsRunLine),
});
export type AsRunLog = Static<typeof AsRunLog>;

const LocalTime = Type.String({ description: 'ISO 8601 local time with +07:00' });

export const AsRunLanguagesQuery = Type.Object({
  item: Type.String({ minLength: 1, maxLength: 80, description: 'the broadcast item' }),
  entry: Type.Optional(Type.String({ maxLength: 120, description: 'one occurrence (item@scheduled start, as in the as-run log); default: every occurrence in the period' })),
  area: Type.Optional(Type.String({ maxLength: 100, description: 'area code or key; default: your own area, else the province' })),
  from: Type.Optional(TimeIn),
  to: Type.Optional(TimeIn),
  graceS: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
});
export type AsRunLanguagesQuery = Static<typeof AsRunLanguagesQuery>;

/** One (occurrence, site): the village's languages, the versions played and their outcome, heard in its own language or why not. */
export const AsRunLanguagesSite = Type.Object({
  entryId: Type.String(),
  scheduledAt: EpochMs,
  scheduledLocal: LocalTime,
  siteId: Type.String(),
  siteName: Type.String(),
  areaKey: Type.String(),
  areaName: Type.String(),
  status: AsRunStatus,
  languages: Type.Array(Type.String(), { description: "the village's languages, in order" }),
  versions: Type.Array(AsRunVersionOutcome),
  played: Type.Array(Type.String()),
  missing: Type.Array(Type.String()),
  fallback: AsRunLineLanguages.properties.fallback,
  heardOwnLanguage: Nullable(Type.Boolean()),
  notHeard: AsRunLineLanguages.properties.notHeard,
  explanation: Nullable({ ...Words, description: 'why not, in words' }),
});
export type AsRunLanguagesSite = Static<typeof AsRunLanguagesSite>;

export const AsRunLanguages = Type.Object({
  item: Type.Object({
    id: Type.String(),
    title: Type.String(),
    language: Nullable(Type.String({ description: "the default version's language" })),
    versions: Type.Array(Type.Object({ language: Type.String(), mediaId: Type.String() })),
  }),
  area: Type.Object({ key: Type.String(), code: Type.String(), name: Type.String() }),
  from: EpochMs,
  fromLocal: LocalTime,
  to: EpochMs,
  toLocal: LocalTime,
  summary: Type.Object({
    sites: Type.Integer(),
    heardOwnLanguage: Type.Integer(),
    notHeard: Type.Integer(),
    unknown: Type.Integer({ description: 'not due yet' }),
  }),
  sites: Type.Array(AsRunLanguagesSite),
});
export type AsRunLanguages = Static<typeof AsRunLanguages>;
