/**
 * The one adapter interface: how a loanet event becomes the HTTP request a
 * given receiver's real API expects, and how that receiver's answer reads
 * (pure: no sockets; outbox.ts sends what it is given).
 *
 * An adapter is two functions over plain data:
 *
 *   request(envelope, destination, sentAtMs) → { method, url, headers, body }
 *   interpret(answer) → accepted | refused (never retry) | unavailable (retry, maybe after)
 *
 * One message is one request: a receiver that needs several (two chats, two
 * systems) is several destinations, each with its own queue, order and
 * failures. The generic signed JSON webhook (below) is the default and
 * speaks for every event; Telegram's Bot API is telegram.ts. An official
 * format for the national source information system, once published, is
 * one more destination kind in destination.ts, one more adapter, one more
 * line in `adapterFor`: the outbox, its store and its retries stay as they
 * are. docs/webhooks.md describes it for receivers.
 */
import type { Destination, WebhookDestination } from './destination.ts';
import { excerpt, type OutboxEnvelope, USER_AGENT } from './model.ts';
import { parseRetryAfter, resultOfStatus, type AttemptResult } from './retry-policy.ts';
import { signatureHeaders } from './signature.ts';
import { telegramAdapter } from './telegram.ts';

export interface OutboundRequest {
  method: 'POST';
  url: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

/** A receiver's answer as the outbox read it: the body only up to its bound. */
export interface ReceiverAnswer {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
  /** At most the outbox's bound of bytes, as UTF-8. */
  body: string;
  /** The body was longer than the bound and was cut. */
  truncated: boolean;
  /** The outbox's clock when it came (Retry-After as a date is relative to it). */
  receivedAt: number;
}

export interface OutboxAdapter<D extends Destination = Destination> {
  readonly kind: D['adapter'];
  /** The request for one attempt; `sentAtMs` is when it leaves (a signature's time). */
  request(envelope: OutboxEnvelope, destination: D, sentAtMs: number): OutboundRequest;
  interpret(answer: ReceiverAnswer): AttemptResult;
}

/**
 * The generic webhook: the envelope as JSON, signed (Standard Webhooks),
 * with `loanet-event` for receivers that route on a header before parsing.
 */
export const webhookAdapter: OutboxAdapter<WebhookDestination> = {
  kind: 'webhook',
  request(envelope, destination, sentAtMs) {
    const body = JSON.stringify(envelope);
    return {
      method: 'POST',
      url: destination.url,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'loanet-event': envelope.type,
        ...signatureHeaders(destination.secret, envelope.id, Math.floor(sentAtMs / 1000), body),
      },
      body,
    };
  },
  interpret(answer) {
    return resultOfStatus(answer.status, parseRetryAfter(answer.headers['retry-after'], answer.receivedAt), excerpt(answer.body));
  },
};

/** Requests and answers for `d`, by its kind. */
export function requestFor(d: Destination, envelope: OutboxEnvelope, sentAtMs: number): OutboundRequest {
  switch (d.adapter) {
    case 'webhook':
      return webhookAdapter.request(envelope, d, sentAtMs);
    case 'telegram':
      return telegramAdapter.request(envelope, d, sentAtMs);
    default: {
      const never: never = d;
      throw new Error(`no adapter for ${(never as { adapter: string }).adapter}`);
    }
  }
}

export function interpretFor(d: Destination, answer: ReceiverAnswer): AttemptResult {
  switch (d.adapter) {
    case 'webhook':
      return webhookAdapter.interpret(answer);
    case 'telegram':
      return telegramAdapter.interpret(answer);
    default: {
      const never: never = d;
      throw new Error(`no adapter for ${(never as { adapter: string }).adapter}`);
    }
  }
}
