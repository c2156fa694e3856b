/**
 * How another feature tells the world (the stable API; reach it as
 * `ctx.outbox`):
 *
 *   await ctx.outbox.enqueue('alarm.raised', data)        // stored now, sent when a slot is free
 *   await ctx.outbox.enqueue('alarm.raised', data, trx)   // in your transaction: stored with what
 *   ctx.outbox.notify()                                   //   it tells, or not at all; notify once committed
 *
 * - `type` is one of OUTBOX_EVENT_TYPES (model.ts); a new type is added
 *   there and to the adapters' wording (telegram.ts), never invented here.
 * - `data` is plain JSON (codes, ids, numbers; words are the adapters'), at
 *   most MAX_PAYLOAD_BYTES; alarm events carry AlarmEventData (model.ts).
 * - One message per destination that wants the type (its `events`); none
 *   configured: nothing is stored, the call resolves to []. It resolves
 *   once stored (committed, or written in `trx`), never waiting for a
 *   receiver; it rejects only when the store does.
 * - Each receiver gets each message once per idempotency key, in enqueue
 *   order per destination, retried for up to 72 h (docs/webhooks.md).
 *
 * The outbox's delivery loop (the shell): claims due messages from the
 * store, has each destination's adapter make the request, sends it within
 * bounds (http-send.ts), decides with the retry policy and writes the
 * outcome. Feature-shaped (start()/stop()); the composition root wires it.
 *
 * - One message in flight per destination, in seq order (the store claims
 *   only a destination's head): a receiver that is down gets one attempt
 *   per back-off step, not one per waiting message, and "cleared" never
 *   overtakes "raised". The price: a message a receiver keeps answering 5xx
 *   holds the messages behind it until it is delivered or reaches the
 *   policy's maximum age; a 4xx fails it at once and the queue moves on.
 * - At most `concurrency` destinations at once, so a province with many
 *   receivers cannot open unbounded sockets.
 * - Polls every `pollMs` (another server may have enqueued), and at once
 *   after a local enqueue (notify) or a finished attempt (the next in line).
 * - stop() claims nothing more and waits for the attempts in flight (each
 *   bounded by the request timeout), so a restart neither loses nor repeats
 *   a message; a server that dies mid-attempt leaves a claim that lapses
 *   after the lease, and the message is sent again with the same id.
 *
 * Time: every decision reads the injected clock (tests drive the back-off
 * and Retry-After by moving it); the poll timer and the request deadline are
 * real time, as they wait for sockets.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Transaction } from 'kysely';
import type { Logger } from '../fleet/broker.ts';
import type { Database } from '../store/schema.ts';
import { interpretFor, requestFor } from './adapter.ts';
import { type Destination, wants } from './destination.ts';
import { httpTransport, type Transport } from './http-send.ts';
import { envelopeOf, type JsonValue, type OutboxEventType, type OutboxMessage } from './model.ts';
import { type AttemptResult, DEFAULT_RETRY_POLICY, type Decision, decide, type RetryPolicy } from './retry-policy.ts';
import type { ClaimedMessage, OutboxCounts, OutboxStore } from './store.ts';

export interface OutboxOptions {
  store: OutboxStore;
  destinations: readonly Destination[];
  log: Logger;
  clock?: () => number;
  random?: () => number;
  policy?: Partial<RetryPolicy>;
  /** Destinations in flight at once (default 4). */
  concurrency?: number;
  /** One attempt's whole exchange (default 10 s). */
  requestTimeoutMs?: number;
  /** The most of an answer's body read (default 16 KiB). */
  maxAnswerBytes?: number;
  /** How often the store is asked for due messages (default 1 s). */
  pollMs?: number;
  /** Delivered and failed messages are deleted this long after (default 7 days). */
  retentionMs?: number;
  transport?: Transport;
}

/** What /metrics shows (describe as loanet_outbox_*; see docs/webhooks.md). */
export interface OutboxMetrics extends OutboxCounts {
  /** Attempts since start, by what they came to. */
  attempts: { accepted: number; refused: number; unavailable: number };
  /** Outcomes not written because this server's claim had been lost. */
  lostClaims: number;
}

export class Outbox {
  readonly name = 'outbox';
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly policy: RetryPolicy;
  private readonly concurrency: number;
  private readonly requestTimeoutMs: number;
  private readonly maxAnswerBytes: number;
  private readonly pollMs: number;
  private readonly retentionMs: number;
  private readonly transport: Transport;
  private readonly byName: Map<string, Destination>;
  private readonly claimer = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly attempts = { accepted: 0, refused: 0, unavailable: 0 };
  private lostClaims = 0;
  private running = false;
  private ticking: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPurge = 0;
  private storeFailures = 0;

  constructor(private readonly opts: OutboxOptions) {
    this.clock = opts.clock ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...opts.policy };
    this.concurrency = opts.concurrency ?? 4;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.maxAnswerBytes = opts.maxAnswerBytes ?? 16 * 1024;
    this.pollMs = opts.pollMs ?? 1_000;
    this.retentionMs = opts.retentionMs ?? 7 * 86_400_000;
    this.transport = opts.transport ?? httpTransport;
    this.byName = new Map(opts.destinations.map((d) => [d.name, d]));
  }

  start(): void {
    this.running = true;
    this.kick();
  }

  /** Claims nothing more, then waits for the attempts in flight. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.all(this.inFlight.values());
  }

  /** The configured destinations (secrets included: never log them whole). */
  destinations(): Destination[] {
    return [...this.byName.values()];
  }

  /** Look for due messages now (after enqueuing in a transaction, once it committed). */
  notify(): void {
    this.kick();
  }

  /**
   * Enqueues `type` to every destination that wants it. In `trx`, call
   * notify() once it commits; without, it is sent as soon as a slot is free.
   */
  async enqueue(type: OutboxEventType, payload: JsonValue, trx?: Transaction<Database>): Promise<OutboxMessage[]> {
    const inputs = [...this.byName.values()].filter((d) => wants(d, type)).map((d) => ({ destination: d.name, type, payload }));
    const out = await this.opts.store.enqueueAll(inputs, this.clock(), trx);
    if (!trx && out.length > 0) this.notify();
    return out;
  }

  /** One pass without the loop: claim what is due now and wait for those attempts. Returns how many were made (tests, tools). */
  async drain(): Promise<number> {
    const n = await this.tick();
    await Promise.all(this.inFlight.values());
    return n;
  }

  async metrics(): Promise<OutboxMetrics> {
    return { ...(await this.opts.store.counts()), attempts: { ...this.attempts }, lostClaims: this.lostClaims };
  }

  private kick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.ticking = this.tick()
      .then(() => {
        if (this.storeFailures > 0) this.opts.log.info({ failures: this.storeFailures }, 'outbox: the store answers again');
        this.storeFailures = 0;
      })
      .catch((err: unknown) => {
        // Logged once, then every tenth time: a database down for an hour must not write 3,600 identical lines.
        if (this.storeFailures % 10 === 0) this.opts.log.error({ err, failures: this.storeFailures + 1 }, 'outbox: looking for due messages failed');
        this.storeFailures++;
      })
      .finally(() => {
        this.ticking = undefined;
        if (!this.running) return;
        if (this.again) {
          this.again = false;
          this.kick();
          return;
        }
        // Polls slower while the store fails (up to 30 s), as often as asked once it answers.
        const delay = this.storeFailures === 0 ? this.pollMs : Math.min(30_000, this.pollMs * 2 ** Math.min(this.storeFailures, 10));
        this.timer = setTimeout(() => this.kick(), delay);
        this.timer.unref();
      });
  }

  private async tick(): Promise<number> {
    const now = this.clock();
    if (now - this.lastPurge > 3_600_000) {
      this.lastPurge = now;
      const n = await this.opts.store.purgeFinished(now - this.retentionMs);
      if (n > 0) this.opts.log.info({ purged: n }, 'outbox: delivered and failed messages past retention deleted');
    }
    const claimed = await this.opts.store.claim({
      now,
      limit: this.concurrency - this.inFlight.size,
      // Past the request deadline with room for the outcome's write: a claim that lapses means the server is gone.
      leaseMs: this.requestTimeoutMs + 60_000,
      claimer: this.claimer,
      only: [...this.byName.keys()],
      busy: new Set(this.inFlight.keys()),
    });
    for (const m of claimed) {
      const p = this.deliver(m)
        .catch((err: unknown) => this.opts.log.error({ err, destination: m.destination, id: m.id }, 'outbox: writing an attempt failed'))
        .finally(() => {
          this.inFlight.delete(m.destination);
          this.kick();
        });
      this.inFlight.set(m.destination, p);
    }
    return claimed.length;
  }

  private async deliver(m: ClaimedMessage): Promise<void> {
    const d = this.byName.get(m.destination);
    if (!d) throw new Error(`outbox: claimed a message for ${m.destination}, which is not configured`);
    let result: AttemptResult;
    try {
      const req = requestFor(d, envelopeOf(m), this.clock());
      const answer = await this.transport(req, { timeoutMs: this.requestTimeoutMs, maxBytes: this.maxAnswerBytes });
      result = interpretFor(d, { ...answer, receivedAt: this.clock() });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      result = { kind: 'unavailable', status: null, error: err.code ? `${err.code}: ${err.message}` : err.message };
    }
    this.attempts[result.kind]++;
    const now = this.clock();
    const decision: Decision = decide(result, { createdAt: m.createdAt, attempts: m.attempts + 1 }, now, this.policy, this.random);
    if (!(await this.opts.store.settle(m, decision, now))) {
      this.lostClaims++;
      this.opts.log.warn({ destination: m.destination, id: m.id }, 'outbox: the claim lapsed before the outcome was written; another server owns the message');
      return;
    }
    const fields = { destination: m.destination, id: m.id, seq: m.seq, attempt: m.attempts + 1, status: decision.status };
    if (decision.outcome === 'failed') this.opts.log.warn({ ...fields, error: decision.error }, 'outbox: message failed for good');
    else if (decision.outcome === 'retry')
      this.opts.log.info({ ...fields, error: decision.error, retryAt: new Date(decision.at).toISOString() }, 'outbox: receiver unavailable, will retry');
  }
}
