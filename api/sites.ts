/** Sites and their commands over HTTP (server/registry/site-routes.ts). */
import { Type, type Static } from '@sinclair/typebox';
import { COMMAND_TYPES } from '../protocol/messages.ts';
import { EpochMs, Nullable, OpenMap, Reason, SiteCondition, SiteKind, Telemetry, SITE_CONDITION_VALUES } from './common.ts';

export const CommandType = Type.Union(COMMAND_TYPES.map((t) => Type.Literal(t)));
export const CommandRecord = Type.Object({
  id: Type.String(),
  siteId: Type.String(),
  type: CommandType,
  params: OpenMap,
  createdBy: Nullable(Type.String()),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('expired')]),
  sentAt: Nullable(EpochMs),
  completedAt: Nullable(EpochMs),
  result: Nullable(OpenMap),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});
export type CommandRecord = Static<typeof CommandRecord>;

export const ExpectedDevice = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }), kind: Type.String({ minLength: 1, maxLength: 32 }) },
  { additionalProperties: false },
);

export const SiteStatus = Type.Object({
  condition: SiteCondition,
  since: Nullable(EpochMs),
  reasons: Type.Array(Reason),
  connected: Type.Boolean(),
  firstSeenAt: Nullable(EpochMs),
  lastSeenAt: Nullable(EpochMs),
  lastSoundVerifiedAt: Nullable(EpochMs),
  lastSoundCheck: Nullable(Type.Object({ at: EpochMs, ok: Type.Boolean(), levelDb: Nullable(Type.Number()) })),
  telemetry: Nullable(Telemetry),
});

export const SiteView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: SiteKind,
  area: Type.String({ description: 'area key (2025.02683)' }),
  lat: Nullable(Type.Number()),
  lon: Nullable(Type.Number()),
  profile: Nullable(Type.String()),
  expectedDevices: Type.Array(ExpectedDevice),
  monitorMic: Type.Boolean(),
  retiredAt: Nullable(EpochMs),
  status: Nullable(SiteStatus),
});
export type SiteView = Static<typeof SiteView>;

/** GET /api/sites/:id: the site, the area channels the server delivers to its board, its commands still to deliver. */
export const SiteDetail = Type.Composite([
  SiteView,
  Type.Object({
    areaChannels: Type.Array(Type.String(), {
      description: 'the area channels the board hears alerts and live streams on (its area and every ancestor), delivered to it in its site configuration (sites/{id}/config)',
    }),
    pendingCommands: Type.Array(CommandRecord),
    /** What the site plays now (its latest heartbeat's word, named by the server); null when silent, offline or an agent that does not say. */
    playing: Type.Optional(
      Nullable(
        Type.Object({
          kind: Type.Union([Type.Literal('bulletin'), Type.Literal('alert'), Type.Literal('live')]),
          id: Type.String({ description: 'the playlist entry (bulletin), the alert id, or the live stream id' }),
          itemId: Nullable(Type.String({ description: "a bulletin's broadcast item" })),
          since: EpochMs,
          title: Nullable(Type.String()),
          source: Nullable(Type.String({ description: "a live stream's source kind (browser, relay, media)" })),
        }),
      ),
    ),
  }),
]);
export type SiteDetail = Static<typeof SiteDetail>;

/** GET /api/sites?brief=true: what a map needs. */
export const SiteBrief = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: SiteKind,
  area: Type.String(),
  lat: Nullable(Type.Number()),
  lon: Nullable(Type.Number()),
  condition: SiteCondition,
});
export type SiteBrief = Static<typeof SiteBrief>;

export const SiteList = Type.Object({ total: Type.Integer(), sites: Type.Array(Type.Union([SiteView, SiteBrief])) });
export type SiteList = Static<typeof SiteList>;

/** A site's MQTT and HTTP credential: answered ONCE (only a hash is kept). */
export const IssuedCredential = Type.Object({ siteId: Type.String(), secret: Type.String() });
export const SiteCreated = Type.Object({ site: SiteView, credential: IssuedCredential });
export const SiteRetired = Type.Object({ id: Type.String(), retiredAt: Nullable(EpochMs) });
export const SiteCredential = Type.Object({ credential: IssuedCredential });

export const SiteEvent = Type.Object({
  at: EpochMs,
  type: Type.String(),
  condition: Nullable(Type.String()),
  detail: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'what the event carried (by type)' })),
});
export type SiteEvent = Static<typeof SiteEvent>;
export const SiteEvents = Type.Object({ events: Type.Array(SiteEvent) });

const PerCondition = Type.Object(
  Object.fromEntries(SITE_CONDITION_VALUES.map((c) => [c, Type.Number()])) as Record<(typeof SITE_CONDITION_VALUES)[number], ReturnType<typeof Type.Number>>,
);
export const SiteUptime = Type.Object({
  siteId: Type.String(),
  from: EpochMs,
  to: EpochMs,
  totalMs: Type.Number(),
  ms: PerCondition,
  share: Nullable(PerCondition),
  audibleShare: Nullable(Type.Number({ description: 'operational + degraded share' })),
});
export type SiteUptime = Static<typeof SiteUptime>;

export const CommandList = Type.Object({ commands: Type.Array(CommandRecord) });
