/** GET /api/health: up or not for anyone (load balancers, probes); versions, broker, store and disk for a signed-in caller. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { BROKER_REFUSALS, Health, HealthPublic, type BrokerRefusalKey } from '../../api/health.ts';
import type { ServerContext } from '../context.ts';
import type { BrokerRefusals } from '../fleet/broker.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'broker' | 'store' | 'disk' | 'fleet' | 'now' | 'startedAt' | 'versions'>;

/** How long health stays degraded after the database server refused a write for its full disk (none refused since: ok again). */
const DATABASE_FULL_SHOWN_MS = 5 * 60_000;

type RefusalKey = keyof BrokerRefusals;
// The health answer (api/health.ts) names every refusal the broker counts (this assignment) and only those (the next).
const described: Record<RefusalKey, string> = BROKER_REFUSALS;
const REFUSAL_KEYS: RefusalKey[] = Object.keys(described) as BrokerRefusalKey[];

export const healthRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/health',
      {
        config: { optionalAuth: true },
        schema: {
          tags: ['health'],
          operationId: 'getHealth',
          summary: 'Liveness: ok or degraded for anyone; with a token, versions and broker/store/disk status',
          security: [{}, { bearer: [] }],
          response: {
            200: Type.Union([Health, HealthPublic]),
          },
        },
      },
      async (req) => {
        const broker = ctx.broker.status();
        let storeUp = true;
        let schema = 0;
        try {
          // A query of the store itself (SQLite or PostgreSQL): a database gone away answers degraded.
          schema = await ctx.store.schemaVersion();
        } catch {
          storeUp = false;
        }
        const disk = ctx.disk.status();
        const gone = ctx.disk.storeGone();
        if (gone !== null) storeUp = false;
        // Reads still work on a database whose disk is full, so only its refusals tell: degraded while they are recent.
        const dbFullAt = ctx.disk.lastDatabaseFullAt();
        const dbFull = dbFullAt !== null && ctx.now() - dbFullAt < DATABASE_FULL_SHOWN_MS;
        const status = broker.up && storeUp && !dbFull && disk.state === 'ok' ? ('ok' as const) : ('degraded' as const);
        if (!req.principal) return { status, more: 'sign in (bearer token or the console) for versions, broker, store, sites and disk' as const };
        return {
          status,
          versions: { ...ctx.versions, schema },
          uptimeS: Math.round((ctx.now() - ctx.startedAt) / 1000),
          broker: {
            kind: broker.kind,
            up: broker.up,
            clients: broker.clients,
            port: broker.port,
            refusals: Object.fromEntries(REFUSAL_KEYS.map((k) => [k, broker.refusals?.[k] ?? null])) as Record<RefusalKey, number | null>,
          },
          store: {
            kind: ctx.store.dialect,
            up: storeUp,
            schemaVersion: schema,
            diskFullAt: dbFullAt,
            ...(gone !== null
              ? { problem: `the database file ${gone} was deleted or replaced while the server runs` }
              : dbFull
                ? { problem: `the database server's disk is full: it refused a write at ${new Date(dbFullAt).toISOString()}; free space on the database server` }
                : {}),
          },
          sites: { registered: ctx.fleet.observations().length },
          disk,
        };
      },
    );
  };
