/**
 * The schedule over HTTP (server/schedule/routes.ts): broadcast items,
 * the dry-run check, the calendar, playlist distribution. Times out are epoch
 * ms plus `…Local` ISO 8601 with +07:00.
 */
import { Type, type Static } from '@sinclair/typebox';
import { PlaylistEntryMessage, PlaylistMessage, PlaylistReport } from '../protocol/playlist.ts';
import { EpochMs, Nullable } from './common.ts';

export const Priority = Type.Union([Type.Literal('normal'), Type.Literal('priority'), Type.Literal('emergency')], {
  description: 'Circular 39/2020/TT-BTTTT class; a higher one pre-empts a lower one at a site',
});
export const ItemStatus = Type.Union([Type.Literal('draft'), Type.Literal('approved'), Type.Literal('cancelled')]);
const Local = Type.String({ description: 'ISO 8601 local time with +07:00' });
const NextOccurrence = Type.Object({ at: EpochMs, local: Local });

/** Sites named by the largest areas whose every active site is among them, and the rest one by one. */
export const SitePlaces = Type.Object({
  areas: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), sites: Type.Integer() })),
  siteIds: Type.Array(Type.String()),
});
export type SitePlaces = Static<typeof SitePlaces>;

export const Conflict = Type.Object({
  itemId: Type.String(),
  title: Type.String(),
  siteIds: Type.Array(Type.String()),
  places: SitePlaces,
  firstOverlapAt: EpochMs,
  firstOverlapLocal: Local,
});
export type Conflict = Static<typeof Conflict>;

export const ScheduleProblem = Type.Object({
  itemId: Type.String(),
  code: Type.String({ description: 'unknown_area, unknown_site, retired_site, invalid_recurrence, truncated, unknown_media, too_many_entries' }),
  message: Type.String(),
});

/** One language version of a bulletin (server/schedule/language-plan.ts). */
export const ItemVersionView = Type.Object({
  language: Type.String({ description: 'BCP 47 tag, e.g. hmn, ium' }),
  mediaId: Type.String(),
  durationMs: Type.Integer(),
});
export type ItemVersionView = Static<typeof ItemVersionView>;

/** A version asked for: a ready media item in that language. */
export const ItemVersionIn = Type.Object(
  {
    language: Type.String({ minLength: 2, maxLength: 35, description: "BCP 47 tag (normalised: HMN → hmn); the media item's language must be this one" }),
    mediaId: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type ItemVersionIn = Static<typeof ItemVersionIn>;

export const ItemView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  status: ItemStatus,
  priority: Priority,
  queue: Type.Boolean(),
  mediaId: Type.String({ description: 'the default version: what a site hears when none of its languages has a version' }),
  durationMs: Type.Integer({ description: "the default version's; a site hearing several versions plays longer" }),
  language: Type.Optional(Nullable(Type.String({ description: "the default version's language, when the item has other versions" }))),
  versions: Type.Optional(Type.Array(ItemVersionView, { description: 'the bulletin in other languages' })),
  targets: Type.Object({ areas: Type.Array(Type.Object({ key: Type.String(), code: Type.String(), name: Nullable(Type.String()) })), sites: Type.Array(Type.String()) }),
  sites: Type.Integer({ description: 'sites targeted now' }),
  start: Type.Union([
    Type.Object({ at: EpochMs, atLocal: Local }),
    Type.Object({ dtstart: Type.String(), rrule: Type.String(), exdates: Type.Optional(Type.Array(Type.String())), zone: Type.String() }),
  ]),
  validFrom: Nullable(EpochMs),
  validFromLocal: Nullable(Local),
  validUntil: Nullable(EpochMs),
  validUntilLocal: Nullable(Local),
  note: Nullable(Type.String()),
  nextOccurrences: Type.Array(NextOccurrence),
  createdBy: Nullable(Type.String()),
  createdAt: EpochMs,
  createdAtLocal: Local,
  updatedBy: Nullable(Type.String()),
  updatedAt: EpochMs,
  updatedAtLocal: Local,
  approvedBy: Nullable(Type.String()),
  approvedAt: Nullable(EpochMs),
  approvedAtLocal: Nullable(Local),
  cancelledBy: Nullable(Type.String()),
  cancelledAt: Nullable(EpochMs),
  cancelledAtLocal: Nullable(Local),
  cancelReason: Nullable(Type.String()),
});
export type ItemView = Static<typeof ItemView>;

export const ItemList = Type.Object({ area: Type.Object({ key: Type.String(), name: Type.String() }), total: Type.Integer(), items: Type.Array(ItemView) });
export type ItemList = Static<typeof ItemList>;

export const ApprovedItem = Type.Composite([
  ItemView,
  Type.Object({ distribution: Nullable(Type.Object({ at: EpochMs, sites: Type.Integer(), published: Type.Integer(), failed: Type.Integer() })) }),
]);

export const CheckResult = Type.Object({
  ok: Type.Boolean(),
  code: Type.Optional(Type.String({ description: 'same_priority_overlap' })),
  message: Type.Optional(Type.String({ description: 'English, for API clients; the console words the code and the conflicts' })),
  conflicts: Type.Array(Conflict),
  queuedBehind: Type.Array(Conflict),
  problems: Type.Array(ScheduleProblem),
  sites: Type.Integer(),
  nextOccurrences: Type.Array(NextOccurrence),
});
export type CheckResult = Static<typeof CheckResult>;

export const CalendarOccurrence = Type.Object({
  itemId: Type.String(),
  title: Type.String(),
  status: Type.String({ description: 'draft, approved or cancelled' }),
  priority: Priority,
  queue: Type.Boolean(),
  startAt: EpochMs,
  startLocal: Local,
  endAt: EpochMs,
  endLocal: Local,
  sites: Type.Integer(),
});
export type CalendarOccurrence = Static<typeof CalendarOccurrence>;
export const Calendar = Type.Object({
  area: Type.Object({ key: Type.String(), code: Type.String(), name: Type.String() }),
  from: EpochMs,
  fromLocal: Local,
  to: EpochMs,
  toLocal: Local,
  occurrences: Type.Array(CalendarOccurrence),
  problems: Type.Array(ScheduleProblem),
});
export type Calendar = Static<typeof Calendar>;

export const Distribution = Type.Object({
  area: Type.Object({ key: Type.String(), name: Type.String() }),
  lastRefresh: Nullable(
    Type.Object({
      at: EpochMs,
      atLocal: Local,
      reason: Type.String(),
      sites: Type.Integer(),
      published: Type.Integer(),
      failed: Type.Integer(),
      cleared: Type.Integer(),
      problems: Type.Array(ScheduleProblem),
    }),
  ),
  sites: Type.Integer(),
  converged: Type.Integer(),
  notConverged: Type.Integer(),
  notConvergedSites: Type.Array(Type.Object({ siteId: Type.String(), desired: Type.String(), held: Nullable(Type.String()), online: Type.Boolean() })),
});
export type Distribution = Static<typeof Distribution>;

const DesiredEntry = Type.Object({ ...PlaylistEntryMessage.properties, startLocal: Local, endLocal: Local });
export const SitePlaylist = Type.Object({
  siteId: Type.String(),
  online: Type.Boolean(),
  converged: Type.Boolean(),
  desired: Nullable(Type.Object({ ...PlaylistMessage.properties, atLocal: Local, horizonEndLocal: Local, entries: Type.Array(DesiredEntry) })),
  published: Nullable(Type.Object({ version: Type.String(), at: EpochMs, atLocal: Local })),
  held: Nullable(Type.Object(PlaylistReport.properties)),
});

/** The languages of a commune's villages, and the versions its upcoming bulletins still lack (server/schedule/language-routes.ts). */
export const ScheduleLanguages = Type.Object({
  area: Type.Object({ key: Type.String(), code: Type.String(), name: Type.String() }),
  villages: Type.Array(
    Type.Object({
      key: Type.String(),
      name: Type.String(),
      level: Type.String(),
      languages: Type.Array(Type.String(), { description: 'what it hears bulletins in, in order' }),
      source: Type.Union([Type.Literal('own'), Type.Literal('inherited'), Type.Literal('default')]),
      sites: Type.Integer({ description: 'active sites in it (not below it)' }),
    }),
    { description: 'the area itself, then every area below it, in tree order' },
  ),
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      title: Type.String(),
      priority: Priority,
      nextAt: EpochMs,
      nextLocal: Local,
      language: Type.String({ description: "the default version's language" }),
      versions: Type.Array(Type.String(), { description: 'languages it has a version in, the default first' }),
      sites: Type.Integer({ description: 'sites of the area it targets' }),
      missing: Type.Array(
        Type.Object({
          language: Type.String(),
          sites: Type.Integer(),
          villages: Type.Array(Type.Object({ key: Type.String(), name: Type.String() })),
        }),
        { description: 'languages spoken where it plays with no version yet: what an operator must still record' },
      ),
    }),
    { description: 'approved items with an occurrence in the next 31 days at some site of the area, soonest first' },
  ),
});
export type ScheduleLanguages = Static<typeof ScheduleLanguages>;
