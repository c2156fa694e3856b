/** GET /api/health: the one public endpoint, for load balancers and monitoring. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../../context.ts';
import { schemaVersion } from '../../store/db.ts';

export const healthRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/health',
      {
        config: { public: true },
        schema: {
          tags: ['health'],
          summary: 'Liveness with versions and broker/store status (no authentication)',
          security: [],
          response: {
            200: Type.Object({
              status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
              versions: Type.Object({ loanet: Type.String(), protocol: Type.Number(), schema: Type.Number(), node: Type.String() }),
              uptimeS: Type.Number(),
              broker: Type.Object({ kind: Type.String(), up: Type.Boolean(), clients: Type.Number(), port: Type.Union([Type.Number(), Type.Null()]) }),
              store: Type.Object({ kind: Type.String(), up: Type.Boolean(), schemaVersion: Type.Number() }),
              sites: Type.Object({ registered: Type.Number() }),
            }),
          },
        },
      },
      async () => {
        const broker = ctx.broker.status();
        let storeUp = true;
        let schema = 0;
        try {
          schema = schemaVersion(ctx.db);
        } catch {
          storeUp = false;
        }
        return {
          status: broker.up && storeUp ? ('ok' as const) : ('degraded' as const),
          versions: { ...ctx.versions, schema },
          uptimeS: Math.round((ctx.now() - ctx.startedAt) / 1000),
          broker: { kind: broker.kind, up: broker.up, clients: broker.clients, port: broker.port },
          store: { kind: 'sqlite', up: storeUp, schemaVersion: schema },
          sites: { registered: ctx.fleet.observations().length },
        };
      },
    );
  };
