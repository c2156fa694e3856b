/**
 * The server's acknowledgement of stored events: `sites/{siteId}/ack`,
 * server → site, QoS 1, not retained.
 *
 * Why not the broker's PUBACK: a broker acknowledges a QoS 1 publish when IT
 * has the message — aedes even before the server's handler has run, Mosquitto
 * while the server may be down and its queue full — so a PUBACK proves
 * nothing about the as-run log. An event whose loss would falsify the proof
 * (a receipt, an alert status, a command result) is kept by the agent until
 * the server says, here, that it is committed to its store (or refused for
 * good); whatever the broker in between.
 *
 * Each such event has a key derived from its own fields (`eventAckKey`), so
 * the event payloads are unchanged and the server needs no state to answer:
 * it acks the key of what it stored, and acks it again when the same event
 * comes twice (it keeps one per key).
 */
import { Type, type Static } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';
import { payloadDecoder } from './decode.ts';
import type { SiteEventMessage } from './messages.ts';

/** Keys per ack message: the server splits a larger batch (a key is at most ~160 bytes, so this stays under 16 KiB). */
export const MAX_ACK_KEYS = 80;

export const EVENT_ACK_KEY_PATTERN = '^[rac]/[A-Za-z0-9_.:@/-]{1,200}$';

const AckKey = Type.String({ pattern: EVENT_ACK_KEY_PATTERN, maxLength: 202, description: 'eventAckKey() of the event' });

export const EVENT_ACK_REFUSALS = ['not_accepted', 'unknown_site', 'schema'] as const;

export const EventAck = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' }),
    siteId: Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' }),
    /** Server clock when the ack was sent. */
    at: Type.Integer({ minimum: 0 }),
    /** Committed to the server's store (now, or already before: a repeat). The site may forget them. */
    stored: Type.Array(AckKey, { maxItems: MAX_ACK_KEYS }),
    /**
     * Refused for good: the server will never store these however often they
     * come (an alert status for an alert it does not know, a site it does not
     * target). The site forgets them too, and logs why.
     */
    refused: Type.Optional(
      Type.Array(
        Type.Object({ key: AckKey, code: Type.Union(EVENT_ACK_REFUSALS.map((c) => Type.Literal(c))), reason: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
        { maxItems: MAX_ACK_KEYS },
      ),
    ),
  },
  { additionalProperties: false, $id: 'EventAck' },
);
export type EventAck = Static<typeof EventAck>;
export type EventAckRefusal = NonNullable<EventAck['refused']>[number];

export const decodeEventAck = payloadDecoder('ack', EventAck);

/** The event types the agent journals and the server acknowledges. */
export type AcknowledgedEvent = Extract<SiteEventMessage, { type: 'as_run' | 'alert_status' | 'cmd_result' }>;

export function isAcknowledgedEvent(ev: SiteEventMessage): ev is AcknowledgedEvent {
  return ev.type === 'as_run' || ev.type === 'alert_status' || ev.type === 'cmd_result';
}

/**
 * The key both sides derive from an event: one receipt per entry, one result
 * per command, and one alert status per step (status, repeat and time: two
 * `playing` reports of different repeats are two facts). Undefined for events
 * that are not acknowledged (faults, sound checks, stream statistics: the
 * next heartbeat or report supersedes them).
 */
export function eventAckKey(ev: SiteEventMessage): string | undefined {
  switch (ev.type) {
    case 'as_run':
      return `r/${ev.entryId}`;
    case 'cmd_result':
      return `c/${ev.cmdId}`;
    case 'alert_status':
      return `a/${ev.alertId}/${ev.revision}/${ev.status}/${ev.repeat ?? '-'}/${ev.at}`;
    default:
      return undefined;
  }
}
