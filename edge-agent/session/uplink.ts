/**
 * What a site may send, one schema per uplink channel (protocol/topics.ts
 * SITE_UPLINK_CHANNELS): every message the agent publishes is checked here
 * against protocol/ before it is encoded, so a bug in the agent shows up as
 * a logged refusal on the board, not as a message the server counts and drops.
 * Pure: no client, no I/O.
 */
import {
  decodeClockRequest,
  decodeEvent,
  decodeState,
  decodeTelemetry,
  encodeJson,
  type ClockRequest,
  type PayloadDecoder,
  type SiteChannel,
  type SiteEventMessage,
  type SiteStateMessage,
  type TelemetryMessage,
} from '../../protocol/index.ts';

/** Uplink channel → the message it carries. */
export interface UplinkMessages {
  state: SiteStateMessage;
  telemetry: TelemetryMessage;
  event: SiteEventMessage;
  clock: ClockRequest;
}
export type UplinkChannel = keyof UplinkMessages & SiteChannel;

const SCHEMAS: { readonly [C in UplinkChannel]: PayloadDecoder<UplinkMessages[C]> } = {
  state: decodeState,
  telemetry: decodeTelemetry,
  event: decodeEvent,
  clock: decodeClockRequest,
};

/** How log lines name a message: events by their type. */
function describe<C extends UplinkChannel>(channel: C, message: UplinkMessages[C]): string {
  if (channel === 'event') return `${(message as SiteEventMessage).type} event`;
  if (channel === 'clock') return 'clock request';
  return channel;
}

export type CheckedUplink = { ok: true; payload: Buffer } | { ok: false; problem: string };

/** Validates a message for its channel and encodes it; a refusal says which message and what is wrong. */
export function checkUplink<C extends UplinkChannel>(channel: C, message: UplinkMessages[C]): CheckedUplink {
  const checked = SCHEMAS[channel].check(message);
  if (!checked.ok) return { ok: false, problem: `bug: not publishing invalid ${describe(channel, message)}: ${checked.error.reason}` };
  return { ok: true, payload: encodeJson(message) };
}
