/** Fleet-wide health of the message path: what the broker and the ingest boundary have seen. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerContext } from '../../context.ts';
import { requirePermission } from '../auth.ts';

export const fleetRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/api/fleet/messages', { schema: { tags: ['fleet'], summary: 'Accepted and rejected site messages, by reason and by site; broker refusals' } }, async (req) => {
      requirePermission(req, 'read');
      return { ingest: ctx.ingest.stats(), broker: ctx.broker.status() };
    });
  };
