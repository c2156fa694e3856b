/**
 * Rollouts over HTTP: a dry run, create, list, one rollout's waves and
 * sites, pause, resume, abort; and the fleet's version distribution.
 * Changes need `rollout.write` (technicians and admins); reads need `read`.
 * A person bound to an area targets only sites inside it, sees only the
 * rollouts that reach it (and of them only its own sites), and may stop or
 * resume only a rollout wholly inside it.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission, type Permission } from '../http/auth.ts';
import {
  FleetVersions,
  FleetVersionsQuery,
  RolloutActionRequest,
  RolloutDetail,
  RolloutDryRun,
  RolloutList,
  RolloutListQuery,
  RolloutParams,
  RolloutRequest,
} from '../../api/rollouts.ts';
import type { RolloutActor } from './planner.ts';

export type RouteDeps = Pick<ServerContext, 'rollouts' | 'areas' | 'coverage'>;

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
          body: RolloutRequest,
          response: { 200: RolloutDryRun },
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
          body: RolloutRequest,
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
          querystring: RolloutListQuery,
          response: { 200: RolloutList },
        },
      },
      async (req) => ({ rollouts: await ctx.rollouts.list(actorOf(req, 'read'), req.query.limit ?? 200) }),
    );

    app.get(
      '/api/rollouts/:id',
      {
        schema: {
          tags: ['rollouts'],
          operationId: 'getRollout',
          summary: "One rollout: each wave's size and counts, each site's state, report, bytes, reason and times, and the sites held back and why",
          params: RolloutParams,
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
            params: RolloutParams,
            body: RolloutActionRequest,
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
          querystring: FleetVersionsQuery,
          response: { 200: FleetVersions },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const scoped = req.query.area ?? (p.user.areaId !== null ? (await ctx.areas.byId(p.user.areaId))?.key : undefined);
        const root = scoped ? ctx.coverage.resolveArea(scoped) : ctx.coverage.defaultRoot();
        requirePermission(req, 'read', ctx.coverage.areaPath(root.id));
        return { area: { key: root.key, name: root.name }, ...(await ctx.rollouts.fleetVersions(root.id)) };
      },
    );
  };
