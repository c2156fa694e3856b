/**
 * Rollouts over HTTP: a dry run, create, list, one rollout's waves and
 * sites, pause, resume, abort; and the fleet's version distribution.
 * Changes need `rollout.write` (technicians and admins); reads need `read`.
 * A person bound to an area targets only sites inside it, sees only the
 * rollouts that reach it (and of them only its own sites), and may stop or
 * resume only a rollout wholly inside it.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission, type Permission } from '../http/auth.ts';
import { EpochMs, Nullable } from '../../api/common.ts';
import { UPDATE_ID_PATTERN } from '../../protocol/index.ts';
import type { RolloutActor } from './planner.ts';

export type RouteDeps = Pick<ServerContext, 'rollouts' | 'areas' | 'coverage'>;

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'local time in Vietnam, HH:MM' });
const RolloutId = Type.String({ pattern: UPDATE_ID_PATTERN, maxLength: 63 });

const Wave = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 60 }),
    sites: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 200, description: 'a canary: these sites, if targeted' })),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'else: the share of the targets updated once this wave is in' })),
  },
  { additionalProperties: false },
);

const RolloutBody = Type.Object(
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
    waves: Type.Array(Wave, { minItems: 1, maxItems: 20 }),
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
const Status = Type.Union(['running', 'paused', 'aborted', 'completed'].map((s) => Type.Literal(s)));
const SiteState = Type.Union(['waiting', 'installing', 'updated', 'failed'].map((s) => Type.Literal(s)));

const DryRunAnswer = Type.Object({
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
      why: Type.Union(['retired', 'already_on_version', 'in_other_rollout', 'wrong_profile', 'no_matching_device'].map((s) => Type.Literal(s))),
      detail: Type.String(),
    }),
  ),
  offline: Type.Integer(),
});

const Summary = {
  id: Type.String(),
  releaseId: Type.String(),
  component: Nullable(Type.String()),
  version: Nullable(Type.String()),
  status: Status,
  wave: Type.Integer({ description: 'index of the wave running, or stopped in' }),
  reason: Nullable(Type.String({ description: 'why the status last changed' })),
  createdBy: Nullable(Type.String()),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  sites: Type.Integer(),
  counts: Type.Object(Counts),
};
const RolloutSummary = Type.Object(Summary);

const RolloutDetail = Type.Object({
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
      why: Type.Union(['offline', 'playing', 'broadcast_soon', 'excluded_hours', 'in_flight_limit'].map((s) => Type.Literal(s))),
    }),
    { description: 'waiting sites of the running wave that may not start now, and why' },
  ),
  siteList: Type.Array(
    Type.Object({
      siteId: Type.String(),
      name: Nullable(Type.String()),
      areaKey: Nullable(Type.String()),
      wave: Nullable(Type.Integer()),
      state: SiteState,
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
const FleetVersions = Type.Object({
  area: Type.Object({ key: Type.String(), name: Type.String() }),
  total: Type.Object(Versions),
  areas: Type.Array(Type.Object({ key: Type.String(), name: Type.String(), ...Versions }), { description: "each child area's subtree, and the area's own sites" }),
});

const IdParams = Type.Object({ id: RolloutId });
const ReasonBody = Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }));

function actorOf(req: FastifyRequest, p: Permission): RolloutActor {
  const { user } = requirePermission(req, p);
  return { id: user.id, username: user.username, areaId: user.areaId };
}

export const rolloutRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/rollouts/dry-run',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'dryRunRollout',
          summary: 'Which sites a rollout would update, in which wave, and which it leaves out and why; nothing is stored',
          body: RolloutBody,
          response: { 200: DryRunAnswer },
        },
      },
      async (req) => ctx.rollouts.dryRun(req.body, actorOf(req, 'rollout.write')),
    );

    app.post(
      '/api/rollouts',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'createRollout',
          summary: 'Roll a release out in waves: a canary, then growing shares, each gated by success and error thresholds',
          body: RolloutBody,
          response: { 201: RolloutDetail },
        },
      },
      async (req, reply) => {
        const r = await ctx.rollouts.create(req.body, actorOf(req, 'rollout.write'));
        return reply.code(201).send(r);
      },
    );

    app.get(
      '/api/rollouts',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'listRollouts',
          summary: 'Rollouts, newest first, with their status and counts (a scoped user: those reaching its area, counted over its sites)',
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })) }),
          response: { 200: Type.Object({ rollouts: Type.Array(RolloutSummary) }) },
        },
      },
      async (req) => ({ rollouts: ctx.rollouts.list(actorOf(req, 'read'), req.query.limit ?? 200) }),
    );

    app.get(
      '/api/rollouts/:id',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'getRollout',
          summary: "One rollout: each wave's size and counts, each site's state, report, bytes, reason and times, and the sites held back and why",
          params: IdParams,
          response: { 200: RolloutDetail },
        },
      },
      async (req) => ctx.rollouts.detail(req.params.id, actorOf(req, 'read')),
    );

    for (const action of ['pause', 'resume', 'abort'] as const) {
      app.post(
        `/api/rollouts/:id/${action}`,
        {
          schema: {
            tags: ['rollouts'],
            operationId: `${action}Rollout`,
            summary:
              action === 'pause'
                ? 'Pause a running rollout: no site starts; sites installing finish'
                : action === 'resume'
                  ? 'Resume a paused rollout: the failures that stopped its wave are accepted, the threshold counts from here'
                  : 'Abort a rollout: sites installing are told to cancel (a switch already made is still checked and kept or rolled back)',
            params: IdParams,
            body: ReasonBody,
            response: { 200: RolloutDetail },
          },
        },
        async (req) => ctx.rollouts[action](req.params.id, actorOf(req, 'rollout.write'), req.body?.reason),
      );
    }

    app.get(
      '/api/fleet/versions',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'getFleetVersions',
          summary: "How many sites run each agent version, and each device kind's firmware versions, per area, from the latest heartbeats",
          querystring: Type.Object({ area: Type.Optional(Type.String({ minLength: 2, maxLength: 50, description: 'area code or key; default: your area or the province' })) }),
          response: { 200: FleetVersions },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? ctx.areas.byId(p.user.areaId)?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        return { area: { key: root.key, name: root.name }, ...ctx.rollouts.fleetVersions(root.id) };
      },
    );
  };
