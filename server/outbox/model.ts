/**
 * The outbox's nouns, pure: a message to an external receiver (a webhook, a
 * Telegram chat, a source information system), kept in the store until the
 * receiver takes it or it fails for good, and the envelope a receiver gets.
 *
 * A message belongs to one destination (a configured endpoint, by name) and
 * carries one loanet event. Its id is the idempotency key: every attempt
 * sends the same one (`webhook-id`), so a receiver that saw it already can
 * answer 2xx and do nothing. `seq` counts per destination in enqueue order
 * and is in the envelope, so a receiver can put "raised" before "cleared"
 * whatever the network did, and see a gap where a message failed for good.
 */
import { randomBytes } from 'node:crypto';

/** What loanet tells receivers about. A new event type is added here and to the adapters' wording. */
export const OUTBOX_EVENT_TYPES = ['alarm.raised', 'alarm.acknowledged', 'alarm.cleared', 'report.ready', 'source_system.record'] as const;
export type OutboxEventType = (typeof OUTBOX_EVENT_TYPES)[number];

export function isOutboxEventType(s: string): s is OutboxEventType {
  return (OUTBOX_EVENT_TYPES as readonly string[]).includes(s);
}

/**
 * pending: waiting for its (next) attempt; delivered: a receiver answered
 * 2xx; failed: it never will (the receiver refused it with a 4xx, or it was
 * still undelivered at the policy's maximum age), with the last error.
 */
export type OutboxState = 'pending' | 'delivered' | 'failed';
export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'delivered', 'failed'];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface OutboxMessage {
  /** The idempotency key (msg_…): the same on every attempt. */
  id: string;
  destination: string;
  /** 1, 2, 3 … per destination, in enqueue order. */
  seq: number;
  type: OutboxEventType;
  payload: JsonValue;
  createdAt: number;
  /** Attempts made so far. */
  attempts: number;
  nextAttemptAt: number;
  state: OutboxState;
  /** The HTTP status of the last attempt, null when none answered. */
  lastStatus: number | null;
  lastError: string | null;
  /** When it was delivered or failed for good. */
  finishedAt: number | null;
}

/** What a generic webhook receiver gets as its body (JSON), and what every adapter words. */
export interface OutboxEnvelope {
  /** The idempotency key; also the `webhook-id` header. */
  id: string;
  type: OutboxEventType;
  /** Per destination, from 1: order by it; a gap is a message that failed for good. */
  seq: number;
  /** ISO 8601 UTC: when loanet stored the event, not when this attempt left. */
  timestamp: string;
  data: JsonValue;
}

export function envelopeOf(m: Pick<OutboxMessage, 'id' | 'type' | 'seq' | 'createdAt' | 'payload'>): OutboxEnvelope {
  return { id: m.id, type: m.type, seq: m.seq, timestamp: new Date(m.createdAt).toISOString(), data: m.payload };
}

/** A new message id: 128 random bits, so ids from several servers never meet. */
export function newMessageId(bytes: (n: number) => Buffer = randomBytes): string {
  return `msg_${bytes(16).toString('base64url')}`;
}

/** The largest payload a message may carry, as JSON: receivers (and Telegram) refuse far less; a bigger one is a bug upstream. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

export const USER_AGENT = 'loanet-outbox/1';

/** A receiver's answer as a last error: one line, short (it is stored and logged). */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/**
 * The data of an alarm.* event, as the notification rules enqueue it and
 * adapters word it (a generic webhook receiver gets it as it is). Codes, not
 * words: `kind` and `severity` are server/alarms/model.ts's.
 */
export interface AlarmEventData {
  alarmId: string;
  siteId: string;
  siteName?: string;
  areaName?: string;
  kind: string;
  severity: string;
  /** How many times it came back while open (flapping). */
  count?: number;
  /** Who acknowledged or cleared it by hand, and their note. */
  by?: string;
  note?: string;
}
