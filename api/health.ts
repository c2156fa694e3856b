/** GET /api/health (server/health/routes.ts): liveness, versions, broker, store and disk. */
import { Type, type Static, type TNull, type TNumber, type TUnion } from '@sinclair/typebox';

/** What the embedded MQTT broker counts as refused (server/fleet/broker.ts BrokerRefusals). */
export const BROKER_REFUSALS = {
  packetTooLargeBeforeAuth: 'connections closed: a packet before login (the CONNECT) over the limit',
  packetTooLargeAfterAuth: "connections closed: a logged-in site's packet over its topic's limit",
  malformedPackets: 'connections closed: a fixed header that is not MQTT',
  connectionsPerAddress: 'connections refused at accept: the address already had LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS open',
  connectRate: 'connections refused at accept: the address connected faster than LOANET_MQTT_CONNECT_BURST / LOANET_MQTT_CONNECT_RATE allow',
  authFailures: 'CONNECTs refused: bad username or credential',
  aclDeniedPublishes: 'PUBLISH refused by the ACL',
  aclDeniedSubscribes: 'SUBSCRIBE refused by the ACL',
} as const;
export type BrokerRefusalKey = keyof typeof BROKER_REFUSALS;
const REFUSAL_KEYS = Object.keys(BROKER_REFUSALS) as BrokerRefusalKey[];

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  versions: Type.Object({ loanet: Type.String(), protocol: Type.Number(), schema: Type.Number(), node: Type.String() }),
  uptimeS: Type.Number(),
  broker: Type.Object({
    kind: Type.String(),
    up: Type.Boolean(),
    clients: Type.Number(),
    port: Type.Union([Type.Number(), Type.Null()]),
    refusals: Type.Object(
      Object.fromEntries(REFUSAL_KEYS.map((k) => [k, Type.Union([Type.Number(), Type.Null()], { description: BROKER_REFUSALS[k] })])) as Record<
        BrokerRefusalKey,
        TUnion<[TNumber, TNull]>
      >,
      { description: "What the embedded MQTT broker refused since start, by reason; null with an external broker (see that broker's log)." },
    ),
  }),
  store: Type.Object({
    kind: Type.String(),
    up: Type.Boolean(),
    schemaVersion: Type.Number(),
    diskFullAt: Type.Union([Type.Number(), Type.Null()], {
      description:
        'when the database server last refused a write because its own disk is full (PostgreSQL only; epoch ms); null since start. Health is degraded for 5 minutes after it',
    }),
    problem: Type.Optional(Type.String({ description: 'why the store is not up, or cannot store now' })),
  }),
  sites: Type.Object({ registered: Type.Number() }),
  disk: Type.Object(
    {
      state: Type.Union([Type.Literal('ok'), Type.Literal('low'), Type.Literal('reserve'), Type.Literal('full')], {
        description:
          'ok; low: under LOANET_DISK_LOW_MB free, uploads and history paused; reserve: the disk filled and the reserve file was given up, only logins, alerts, live and receipts are written; full: no reserve left',
      }),
      freeBytes: Type.Number({ description: "free on the data folder's filesystem for the server's user" }),
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
    { description: 'The data folder\'s disk (docs/operations.md, "A full disk").' },
  ),
});
export type Health = Static<typeof Health>;

/** What anyone may read (a load balancer, an uptime probe): up or not. The rest tells an attacker what runs where. */
export const HealthPublic = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    more: Type.Literal('sign in (bearer token or the console) for versions, broker, store, sites and disk'),
  },
  { additionalProperties: false },
);
export type HealthPublic = Static<typeof HealthPublic>;

const Disk = Health.properties.disk;
export type DiskHealth = Static<typeof Disk>;
