/**
 * Rollouts over HTTP (server/updates/routes.ts): a rollout's request (a
 * release, its targets, waves and thresholds), the dry run's answer (who is
 * updated in which wave, who is left out and why), a rollout's summary and
 * detail (each wave, each site's state and reason, the sites held back), and
 * the fleet's versions per area. The console's update pages import these.
 */
import { Type, type Static } from '@sinclair/typebox';
import { UPDATE_ID_PATTERN } from '../protocol/update.ts';
import { EpochMs, Nullable } from './common.ts';

const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

/** Why a dry run leaves a targeted site out (server/updates/planner.ts). */
export const ROLLOUT_EXCLUSIONS = ['retired', 'already_on_version', 'in_other_rollout', 'wrong_profile', 'no_matching_device'] as const;
export type RolloutExclusion = (typeof ROLLOUT_EXCLUSIONS)[number];
/** Why a waiting site of the running wave may not start now (server/updates/rollout.ts). */
export const ROLLOUT_HOLDS = ['offline', 'playing', 'broadcast_soon', 'excluded_hours', 'in_flight_limit'] as const;
export type RolloutHold = (typeof ROLLOUT_HOLDS)[number];
/**
 * Why a rollout's status last changed (server/updates/rollout.ts RolloutReason):
 * its own decisions (a wave over the error threshold, a wave at its success
 * threshold, every wave done) and a person's pause, resume or abort. The
 * console words each code from its params in both languages.
 */
export const ROLLOUT_REASON_CODES = ['error_threshold', 'success_threshold', 'completed', 'paused_by', 'resumed_by', 'aborted_by'] as const;
export type RolloutReasonCode = (typeof ROLLOUT_REASON_CODES)[number];
export const ROLLOUT_STATUSES = ['running', 'paused', 'aborted', 'completed'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/** A site's place in a rollout, as the server counts it. */
export const ROLLOUT_SITE_STATES = ['waiting', 'installing', 'updated', 'failed'] as const;
export type RolloutSiteState = (typeof ROLLOUT_SITE_STATES)[number];

export const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'local time in Vietnam, HH:MM' });
export const RolloutId = Type.String({ pattern: UPDATE_ID_PATTERN, maxLength: 63 });

export const RolloutWave = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 60 }),
    sites: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 200, description: 'a canary: these sites, if targeted' })),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'else: the share of the targets updated once this wave is in' })),
  },
  { additionalProperties: false },
);

export const RolloutRequest = Type.Object(
  {
    releaseId: Type.String({ pattern: UPDATE_ID_PATTERN, maxLength: 63, description: 'a complete, unretired release' }),
    targets: Type.Object(
      {
        areas: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 50, description: 'area code (02683) or key (2025.02683): its whole subtree' }), { maxItems: 256 })),
        sites: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 5000 })),
        profile: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only sites of this device profile (alone: every such site in your area)' })),
      },
      { additionalProperties: false },
    ),
    waves: Type.Array(RolloutWave, { minItems: 1, maxItems: 20 }),
    successThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "share of a wave's sites updated before the next starts (default 0.9)" })),
    errorThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "share of a wave's finished sites failed above which the rollout stops (default 0.1)" })),
    minFinished: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'the error threshold counts once this many of the wave finished (default 3)' })),
    onError: Type.Optional(Type.Union([Type.Literal('pause'), Type.Literal('abort')], { description: 'what the error threshold does (default pause)' })),
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, description: 'sites installing at once (default 50)' })),
    excludedHours: Type.Optional(Type.Array(Type.Object({ from: HHMM, to: HHMM }, { additionalProperties: false }), { maxItems: 12 })),
    broadcastMarginMin: Type.Optional(Type.Integer({ minimum: 0, maximum: 720, description: "no start this close before a site's next scheduled broadcast (default 15)" })),
    budgetBytes: Type.Optional(Type.Integer({ minimum: 1, description: "most bytes a site may download for the order (default 3 × the release's size)" })),
    healthTimeoutS: Type.Optional(Type.Integer({ minimum: 30, maximum: 3600, description: 'the new version must pass its health check within this (default 300)' })),
    noReportS: Type.Optional(
      Type.Integer({ minimum: 5, maximum: 7 * 86_400, description: "an installing site whose report has not moved this long fails with 'no_report' (default 7200)" }),
    ),
  },
  { additionalProperties: false },
);

const Counts = { waiting: Type.Integer(), installing: Type.Integer(), updated: Type.Integer(), failed: Type.Integer() };
export const RolloutStatus = Lit(ROLLOUT_STATUSES);
export const RolloutSiteState = Lit(ROLLOUT_SITE_STATES);

export const RolloutDryRun = Type.Object({
  release: Type.Object({ id: Type.String(), component: Type.String(), version: Type.String(), totalBytes: Type.Integer() }),
  waves: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer() })),
  included: Type.Array(
    Type.Object({
      siteId: Type.String(),
      name: Type.String(),
      areaKey: Type.String(),
      wave: Nullable(Type.Integer({ description: "index of its wave; null: the last wave's share leaves it out" })),
      online: Type.Boolean({ description: 'offline sites take part and start when back' }),
      fromVersion: Nullable(Type.String()),
      devices: Type.Optional(Type.Array(Type.String())),
    }),
  ),
  excluded: Type.Array(
    Type.Object({
      siteId: Type.String(),
      name: Type.String(),
      areaKey: Type.String(),
      why: Lit(ROLLOUT_EXCLUSIONS),
      detail: Type.String(),
    }),
  ),
  offline: Type.Integer(),
});

export const RolloutReason = Type.Object(
  {
    code: Lit(ROLLOUT_REASON_CODES),
    params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]), {
      description:
        "what the console words the reason with: error_threshold {wave, failed, finished, thresholdPct}; success_threshold {wave, next}; completed {}; paused_by, resumed_by, aborted_by {by, text: the person's own words or null}",
    }),
  },
  { description: 'why the status last changed: a code and its params, never a sentence' },
);
export type RolloutReason = Static<typeof RolloutReason>;

const Summary = {
  id: Type.String(),
  releaseId: Type.String(),
  component: Nullable(Type.String()),
  version: Nullable(Type.String()),
  status: RolloutStatus,
  wave: Type.Integer({ description: 'index of the wave running, or stopped in' }),
  reason: Nullable(RolloutReason),
  createdBy: Nullable(Type.String()),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  sites: Type.Integer(),
  counts: Type.Object(Counts),
};
export const RolloutSummary = Type.Object(Summary);

export const RolloutDetail = Type.Object({
  ...Summary,
  spec: Type.Object({
    waves: Type.Array(Type.Object({ name: Type.String(), sites: Type.Optional(Type.Array(Type.String())), percent: Type.Optional(Type.Number()) })),
    successThreshold: Type.Number(),
    errorThreshold: Type.Number(),
    minFinished: Type.Integer(),
    onError: Type.String(),
    maxInFlight: Type.Integer(),
    excludedHours: Type.Optional(Type.Array(Type.Object({ from: Type.String(), to: Type.String() }))),
    broadcastMarginMs: Type.Integer(),
  }),
  targets: Type.Object({ areas: Type.Array(Type.String()), sites: Type.Array(Type.String()), profile: Nullable(Type.String()) }),
  budgetBytes: Type.Integer(),
  healthTimeoutS: Type.Integer(),
  noReportS: Type.Integer(),
  waves: Type.Array(Type.Object({ name: Type.String(), size: Type.Integer(), ...Counts })),
  held: Type.Array(
    Type.Object({
      siteId: Type.String(),
      why: Lit(ROLLOUT_HOLDS),
    }),
    { description: 'waiting sites of the running wave that may not start now, and why' },
  ),
  siteList: Type.Array(
    Type.Object({
      siteId: Type.String(),
      name: Nullable(Type.String()),
      areaKey: Nullable(Type.String()),
      wave: Nullable(Type.Integer()),
      state: RolloutSiteState,
      reportState: Nullable(Type.String({ description: "the site's own latest report: downloading, testing, rolled_back, …" })),
      bytes: Nullable(Type.Integer()),
      total: Nullable(Type.Integer()),
      reason: Nullable(Type.String({ description: "the report's stable reason (UPDATE_FAILURE_REASONS), or the server's: no_report, cancelled" })),
      detail: Nullable(Type.String()),
      fromVersion: Nullable(Type.String()),
      toVersion: Type.String(),
      startedAt: Nullable(EpochMs),
      finishedAt: Nullable(EpochMs),
      heardAt: Nullable(EpochMs),
      devices: Type.Array(Type.Object({ id: Type.String(), state: Type.String(), bytes: Nullable(Type.Integer()), reason: Nullable(Type.String()) })),
    }),
  ),
});

const Versions = {
  sites: Type.Integer(),
  agent: Type.Record(Type.String(), Type.Integer(), { description: "agent version → sites ('unknown': never heard)" }),
  firmware: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer()), { description: 'device kind → firmware version → devices' }),
};
export const FleetVersions = Type.Object({
  area: Type.Object({ key: Type.String(), name: Type.String() }),
  total: Type.Object(Versions),
  areas: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), ...Versions }), { description: "each child area's subtree, and the area's own sites" }),
});

export const RolloutParams = Type.Object({ id: RolloutId });
export const RolloutActionRequest = Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }));

export type RolloutRequest = Static<typeof RolloutRequest>;
export type RolloutActionRequest = Static<typeof RolloutActionRequest>;
export type RolloutDryRun = Static<typeof RolloutDryRun>;
export type RolloutSummary = Static<typeof RolloutSummary>;
export type RolloutDetail = Static<typeof RolloutDetail>;
export type FleetVersions = Static<typeof FleetVersions>;
export const RolloutListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })) });
export const RolloutList = Type.Object({ rollouts: Type.Array(RolloutSummary) });
export type RolloutList = Static<typeof RolloutList>;
export const FleetVersionsQuery = Type.Object({
  area: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'area code or key; default: your area or the province' })),
});
