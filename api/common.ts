/**
 * Pieces every HTTP shape uses: nullable, epoch times, the coverage nouns
 * (conditions, reasons) and what a site reports (from protocol/, the MQTT
 * contract, so a report is described once).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TelemetryMessage } from '../protocol/messages.ts';

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
export const EpochMs = Type.Integer({ description: 'milliseconds since the Unix epoch' });
/** An open bag whose keys are the sender's own (parameters, details): the one place a shape stays open. */
export const OpenMap = Type.Record(Type.String(), Type.Unknown());

export const SITE_CONDITION_VALUES = ['operational', 'degraded', 'faulty', 'offline', 'unverified'] as const;
export const SiteCondition = Type.Union(SITE_CONDITION_VALUES.map((c) => Type.Literal(c)));
export type SiteCondition = Static<typeof SiteCondition>;
export const SiteKind = Type.Union([Type.Literal('station'), Type.Literal('cluster')]);

export const Reason = Type.Object({
  code: Type.String({ description: "stable code, e.g. 'offline', 'line_open', 'on_battery', 'sound_not_verified'" }),
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]), { description: 'what the console words the reason with' }),
  message: Type.String({ description: 'English sentence for API clients, times in Asia/Ho_Chi_Minh; the console words code and params instead' }),
  severity: Type.Union([Type.Literal('degraded'), Type.Literal('faulty'), Type.Literal('offline')]),
});
export type Reason = Static<typeof Reason>;

/** What a site last reported (protocol/messages.ts), without the MQTT schema's $id: here it is a part, not a document. */
export const Telemetry = Type.Object(TelemetryMessage.properties, { additionalProperties: false });
export type Telemetry = Static<typeof Telemetry>;

export const Ok = Type.Object({ ok: Type.Literal(true) });
