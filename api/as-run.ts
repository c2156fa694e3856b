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
