/** Fleet-wide health of the message path: what the broker and the ingest boundary have seen. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { FleetMessages } from '../../api/fleet.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'broker' | 'coverage' | 'fleet' | 'ingest'>;

export const fleetRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/fleet/messages',
      {
        schema: {
          tags: ['fleet'],
          operationId: 'getFleetMessages',
          summary: 'Accepted and rejected site messages, by reason and by site; broker refusals',
          response: { 200: FleetMessages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const ingest = ctx.ingest.stats(p.user.areaId === null ? 20 : 10_000);
        if (p.user.areaId !== null) {
          // A user scoped to an area sees only its own sites' rejections (totals stay fleet-wide counts).
          const scope = ctx.coverage.subtreeIds(p.user.areaId);
          ingest.rejectedBySite = ingest.rejectedBySite
            .filter((r) => {
              const o = ctx.fleet.observation(r.siteId);
              return o !== undefined && scope.has(o.areaId);
            })
            .slice(0, 20);
        }
        return { ingest, broker: ctx.broker.status() };
      },
    );
  };
