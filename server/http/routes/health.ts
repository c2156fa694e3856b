/** GET /api/health: the one public endpoint, for load balancers and monitoring. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TNull, type TNumber, type TUnion } from '@sinclair/typebox';
import type { ServerContext } from '../../context.ts';
import { schemaVersion } from '../../store/db.ts';
import type { BrokerRefusals } from '../../fleet/broker.ts';

type RefusalKey = keyof BrokerRefusals;
const REFUSAL_DESCRIPTIONS: Record<RefusalKey, string> = {
  packetTooLargeBeforeAuth: 'connections closed: a packet before login (the CONNECT) over the limit',
  packetTooLargeAfterAuth: "connections closed: a logged-in site's packet over its topic's limit",
  malformedPackets: 'connections closed: a fixed header that is not MQTT',
  connectionsPerAddress: 'connections refused at accept: the address already had LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS open',
  connectRate: 'connections refused at accept: the address connected faster than LOANET_MQTT_CONNECT_BURST / LOANET_MQTT_CONNECT_RATE allow',
  authFailures: 'CONNECTs refused: bad username or credential',
  aclDeniedPublishes: 'PUBLISH refused by the ACL',
  aclDeniedSubscribes: 'SUBSCRIBE refused by the ACL',
};
const REFUSAL_KEYS = Object.keys(REFUSAL_DESCRIPTIONS) as RefusalKey[];

export const healthRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/health',
      {
        config: { public: true },
        schema: {
          tags: ['health'],
          operationId: 'getHealth',
          summary: 'Liveness with versions and broker/store/disk status (no authentication)',
          security: [],
          response: {
            200: Type.Object({
              status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
              versions: Type.Object({ loanet: Type.String(), protocol: Type.Number(), schema: Type.Number(), node: Type.String() }),
              uptimeS: Type.Number(),
              broker: Type.Object({
                kind: Type.String(),
                up: Type.Boolean(),
                clients: Type.Number(),
                port: Type.Union([Type.Number(), Type.Null()]),
                refusals: Type.Object(
                  Object.fromEntries(REFUSAL_KEYS.map((k) => [k, Type.Union([Type.Number(), Type.Null()], { description: REFUSAL_DESCRIPTIONS[k] })])) as Record<RefusalKey, TUnion<[TNumber, TNull]>>,
                  { description: "What the embedded MQTT broker refused since start, by reason; null with an external broker (see that broker's log)." },
                ),
              }),
              store: Type.Object({ kind: Type.String(), up: Type.Boolean(), schemaVersion: Type.Number() }),
              sites: Type.Object({ registered: Type.Number() }),
              disk: Type.Object(
                {
                  state: Type.Union([Type.Literal('ok'), Type.Literal('low'), Type.Literal('reserve'), Type.Literal('full')], {
                    description: 'ok; low: under LOANET_DISK_LOW_MB free, uploads and history paused; reserve: the disk filled and the reserve file was given up, only logins, alerts, live and receipts are written; full: no reserve left',
                  }),
                  freeBytes: Type.Number({ description: 'free on the data folder\'s filesystem for the server\'s user' }),
                  totalBytes: Type.Number(),
                  lowBytes: Type.Number(),
                  criticalBytes: Type.Number(),
                  reserve: Type.Object({
                    bytes: Type.Number({ description: 'its configured size (LOANET_DISK_RESERVE_MB)' }),
                    heldBytes: Type.Number({ description: 'its size on disk now' }),
                    inUse: Type.Boolean({ description: 'given up (or not yet written): the server is running on it' }),
                  }),
                  refusing: Type.Array(Type.Union([Type.Literal('media'), Type.Literal('history'), Type.Literal('change')]), {
                    description: 'answered 507 until space is freed: media = uploads and text to speech, history = coverage history, change = every change but logins, alerts and live',
                  }),
                  lastFullAt: Type.Union([Type.Number(), Type.Null()], { description: 'when a write last failed on a full disk (epoch ms)' }),
                },
                { description: "The data folder's disk (docs/operations.md, \"A full disk\")." },
              ),
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
        const disk = ctx.disk.status();
        return {
          status: broker.up && storeUp && disk.state === 'ok' ? ('ok' as const) : ('degraded' as const),
          versions: { ...ctx.versions, schema },
          uptimeS: Math.round((ctx.now() - ctx.startedAt) / 1000),
          broker: {
            kind: broker.kind,
            up: broker.up,
            clients: broker.clients,
            port: broker.port,
            refusals: Object.fromEntries(REFUSAL_KEYS.map((k) => [k, broker.refusals?.[k] ?? null])) as Record<RefusalKey, number | null>,
          },
          store: { kind: 'sqlite', up: storeUp, schemaVersion: schema },
          sites: { registered: ctx.fleet.observations().length },
          disk,
        };
      },
    );
  };
