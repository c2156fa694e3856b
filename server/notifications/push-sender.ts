/**
 * Sends the notifications whose Web Push is due to each browser their user
 * subscribed, and writes what came of it (the shell around web-push.ts).
 * A notification's push is pending from the moment it is stored (the same
 * transaction), so a restart resumes what was not sent; it is delivered when
 * one of the user's push services took it, retried with a capped back-off
 * while they are unavailable, and failed once it is older than the message's
 * TTL (a push that arrives a day late wakes nobody usefully). A subscription
 * its push service says is gone (404, 410) is deleted.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../fleet/broker.ts';
import { stopsAlertsBeingHeard } from './model.ts';
import type { Notification, NotificationStore } from './store.ts';
import { type PushRequest, pushOutcome, pushRequest, type VapidKeys } from './web-push.ts';

export type PushTransport = (req: PushRequest, timeoutMs: number) => Promise<{ status: number; body: string }>;

/** POST over node:http(s), no redirects followed, the answer read up to 4 KiB, within a deadline. */
export const httpPushTransport: PushTransport = (req, timeoutMs) =>
  new Promise((resolve, reject) => {
    const url = new URL(req.url);
    const r = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: { ...req.headers, 'content-length': String(req.body.length) },
      agent: false,
      timeout: timeoutMs,
    });
    r.on('timeout', () => r.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    r.on('error', reject);
    r.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.slice(0, 4096) }));
      res.on('error', reject);
    });
    r.end(req.body);
  });

export interface PushSenderOptions {
  store: NotificationStore;
  keys: VapidKeys;
  /** RFC 8292 `sub`: how a push service reaches the operator (mailto: or https:). */
  subject: string;
  log: Logger;
  clock: () => number;
  transport?: PushTransport;
  /** The message's TTL at the push service, and how long a push is retried (default 24 h). */
  ttlMs?: number;
  timeoutMs?: number;
}

/** The back-off after `attempts` unavailable answers: 10 s doubling, at most 10 min. */
export function pushRetryDelayMs(attempts: number): number {
  return Math.min(600_000, 10_000 * 2 ** Math.min(attempts, 10));
}

/** What the service worker receives (codes: the console words them, server/notifications holds no prose). */
export function pushPayload(n: Notification): Buffer {
  return Buffer.from(
    JSON.stringify({ v: 1, type: 'notification', id: n.id, alarmId: n.alarmId, siteId: n.siteId, kind: n.kind, severity: n.severity, cause: n.cause, at: n.createdAt }),
  );
}

export class PushSender {
  private readonly transport: PushTransport;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: PushSenderOptions) {
    this.transport = opts.transport ?? httpPushTransport;
    this.ttlMs = opts.ttlMs ?? 86_400_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** One pass over the due pushes; how many were settled. */
  async deliverDue(limit = 50): Promise<number> {
    const due = await this.opts.store.duePushes(this.opts.clock(), limit);
    for (const n of due) await this.deliver(n);
    return due.length;
  }

  private async deliver(n: Notification): Promise<void> {
    const subs = await this.opts.store.subscriptionsOf(n.userId);
    const now = this.opts.clock();
    if (subs.length === 0) {
      await this.opts.store.settlePush(n.id, { state: 'none', nextAt: null, error: 'no push subscription', at: now });
      return;
    }
    const outcomes: string[] = [];
    let delivered = false;
    let retry = false;
    for (const s of subs) {
      try {
        const ttlS = Math.max(0, Math.floor((n.createdAt + this.ttlMs - now) / 1000));
        const req = pushRequest(s, pushPayload(n), this.opts.keys, {
          subject: this.opts.subject,
          nowMs: now,
          ttlS,
          // RFC 8030 §5.3: high wakes a phone in power saving; what can wait for the morning need not.
          urgency: stopsAlertsBeingHeard(n.kind, n.severity) ? 'high' : 'normal',
        });
        const answer = await this.transport(req, this.timeoutMs);
        const o = pushOutcome(answer.status);
        outcomes.push(`${new URL(s.endpoint).host}: ${answer.status}`);
        if (o === 'delivered') delivered = true;
        else if (o === 'retry') retry = true;
        else if (o === 'gone') await this.opts.store.dropSubscription(s.id);
      } catch (e) {
        retry = true;
        const err = e as NodeJS.ErrnoException;
        outcomes.push(`${new URL(s.endpoint).host}: ${err.code ?? err.message}`);
      }
    }
    const at = this.opts.clock();
    const error = delivered ? null : outcomes.join('; ').slice(0, 500);
    if (delivered) await this.opts.store.settlePush(n.id, { state: 'delivered', nextAt: null, error: null, at });
    else if (retry && at - n.createdAt < this.ttlMs) await this.opts.store.settlePush(n.id, { state: 'pending', nextAt: at + pushRetryDelayMs(n.push.attempts), error, at });
    else {
      await this.opts.store.settlePush(n.id, { state: 'failed', nextAt: null, error, at });
      this.opts.log.warn({ notification: n.id, user: n.userId, error }, 'web push: a notification could not be delivered');
    }
  }
}
