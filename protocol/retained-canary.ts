/**
 * The retained canary on `loanet/v1/server/retained-canary` (topics.ts): the
 * server publishes it retained after its other retained messages and reads
 * it back, to tell whether an external broker still holds what the server
 * retained there (server/fleet/retained-recovery.ts). Only the server's own
 * user reads or writes it; sites never see it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';
import { payloadDecoder } from './decode.ts';

export const RetainedCanary = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    /** A random id of the server process that published it. */
    epoch: Type.String({ minLength: 1, maxLength: 64 }),
    /** Counts up with each canary that process publishes. */
    seq: Type.Integer({ minimum: 1 }),
    /** When it was published (server clock, ms). */
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type RetainedCanary = Static<typeof RetainedCanary>;

export const decodeRetainedCanary = payloadDecoder('retained-canary', RetainedCanary);
