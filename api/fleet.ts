/** GET /api/fleet/messages (server/fleet/routes.ts): the message path's counters. */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs } from './common.ts';
import { BROKER_REFUSALS } from './health.ts';

/** Counts by an open key (channel, rejection code): the keys are the counters that moved. */
const Counts = Type.Record(Type.String(), Type.Integer());

export const FleetMessages = Type.Object({
  ingest: Type.Object({
    accepted: Type.Integer(),
    acceptedByChannel: { ...Counts, description: 'accepted messages per channel (state, telemetry, event, clock)' },
    rejected: Type.Integer(),
    rejectedByCode: { ...Counts, description: 'rejected messages per reason code' },
    rejectedBySite: Type.Array(Type.Object({ siteId: Type.String(), count: Type.Integer(), lastReason: Type.String(), lastAt: EpochMs }), {
      description: 'sites with the most rejected messages',
    }),
  }),
  broker: Type.Object({
    kind: Type.Union([Type.Literal('embedded'), Type.Literal('external')]),
    up: Type.Boolean(),
    clients: Type.Integer(),
    port: Type.Union([Type.Integer(), Type.Null()]),
    refusedConnects: Type.Integer(),
    deniedPublishes: Type.Integer(),
    deniedSubscribes: Type.Integer(),
    refusals: Type.Optional(
      Type.Object(
        Object.fromEntries(Object.entries(BROKER_REFUSALS).map(([k, description]) => [k, Type.Integer({ description })])) as Record<
          keyof typeof BROKER_REFUSALS,
          ReturnType<typeof Type.Integer>
        >,
        {
          description: 'what the embedded broker refused, by reason; absent for an external broker',
        },
      ),
    ),
  }),
});
export type FleetMessages = Static<typeof FleetMessages>;
