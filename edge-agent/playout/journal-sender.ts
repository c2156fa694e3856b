/**
 * When the event journal sends what the server has not acknowledged: every
 * unacknowledged event on attach; alert statuses and command results at
 * once and without a window, receipts at most `maxInFlight` awaiting their
 * ack; an event whose ack did not come within `ackTimeoutMs` (or that a
 * later event's ack overtook) again, at once and then after a back-off
 * doubling from `retry.baseMs` to `retry.capMs` while no ack comes. What the
 * journal holds and what is acknowledged stays with the journal (receipts.ts).
 */
import type { AcknowledgedEvent } from '../../protocol/index.ts';

/** Publishes one event (QoS 1); resolves true when it reached the broker. Only the server's ack (acknowledge()) clears it. */
export type EventSender = (event: AcknowledgedEvent) => Promise<boolean>;

export interface JournalSenderOptions {
  maxInFlight: number;
  ackTimeoutMs: number;
  retry: { baseMs: number; capMs: number };
  /** The held events by ack key, oldest first. */
  events: () => Iterable<[string, AcknowledgedEvent]>;
  /** The server acknowledged this key (stored or refused). */
  isAcked: (key: string) => boolean;
}

export class JournalSender {
  /** Published, waiting for the server's ack until the deadline (monotonic ms: the server-clock estimate may step). */
  private readonly inFlight = new Map<string, { deadline: number; seq: number }>();
  private sendSeq = 0;
  /** Not published, or not acknowledged in time: sent again after the back-off or the next attach. */
  private readonly waiting = new Set<string>();
  private sender: EventSender | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = 0;
  /** Publishes that did not reach the broker. */
  sendFailures = 0;
  /** Events published whose ack did not come within ackTimeoutMs, or that a later event's ack overtook (sent again). */
  ackTimeouts = 0;

  constructor(private readonly o: JournalSenderOptions) {}

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Start sending (link up): every unacknowledged event goes out, a few at a time. */
  attach(sender: EventSender): void {
    this.sender = sender;
    this.inFlight.clear();
    this.waiting.clear();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pump();
  }

  /** Link down: stop sending; whatever was not acknowledged goes out again after the next attach. */
  detach(): void {
    this.sender = undefined;
    this.inFlight.clear();
    clearTimeout(this.ackTimer);
    clearTimeout(this.retryTimer);
    this.ackTimer = this.retryTimer = undefined;
  }

  /** The latest send among these keys (0: none in flight): what was sent before it and is not acknowledged was overtaken. */
  latestSendOf(keys: Iterable<string>): number {
    let seq = 0;
    for (const key of keys) seq = Math.max(seq, this.inFlight.get(key)?.seq ?? 0);
    return seq;
  }

  /** This key is acknowledged: no longer in flight nor waiting. */
  settled(key: string): void {
    this.inFlight.delete(key);
    this.waiting.delete(key);
  }

  /**
   * The server acknowledged something: it is storing again (back after a crash,
   * say). What was sent before `overtaken` and is still in flight did not reach
   * it (a broker's full queue for a server that was down dropped it) and goes
   * again now, not after its timeout; what waited for the back-off goes now too.
   */
  acknowledged(overtaken: number): void {
    for (const [key, f] of this.inFlight) {
      if (f.seq >= overtaken) continue;
      this.inFlight.delete(key);
      this.ackTimeouts++;
    }
    this.retryDelayMs = 0;
    this.waiting.clear();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pump();
  }

  /**
   * Alert statuses and command results first and without a window (a few per
   * alert or command; an official watches them), then receipts, at most
   * `maxInFlight` awaiting their ack: a backlog of receipts after days
   * offline must not hold an alert's status behind it.
   */
  pump(): void {
    const sender = this.sender;
    if (!sender) return;
    let receiptsInFlight = 0;
    for (const key of this.inFlight.keys()) if (key.startsWith('r/')) receiptsInFlight++;
    for (const urgent of [true, false]) {
      for (const [key, event] of this.o.events()) {
        if ((event.type !== 'as_run') !== urgent) continue;
        if (!urgent && receiptsInFlight >= this.o.maxInFlight) break;
        if (this.o.isAcked(key) || this.inFlight.has(key) || this.waiting.has(key)) continue;
        if (!urgent) receiptsInFlight++;
        this.send(sender, key, event);
      }
    }
    this.armAckTimer();
  }

  private send(sender: EventSender, key: string, event: AcknowledgedEvent): void {
    this.inFlight.set(key, { deadline: performance.now() + this.o.ackTimeoutMs, seq: ++this.sendSeq });
    void sender(event)
      .catch(() => false)
      .then((published) => {
        if (published || this.sender !== sender || !this.inFlight.has(key)) return;
        this.sendFailures++;
        this.inFlight.delete(key);
        this.waiting.add(key);
        this.scheduleRetry();
      });
  }

  /** One timer for all in-flight events: those past their deadline wait for the back-off. */
  private armAckTimer(): void {
    if (this.ackTimer || this.inFlight.size === 0) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const t = performance.now();
      let expired = 0;
      for (const [key, { deadline }] of this.inFlight) {
        if (deadline > t) continue;
        this.inFlight.delete(key);
        this.waiting.add(key);
        expired++;
      }
      if (expired > 0) {
        this.ackTimeouts += expired;
        this.scheduleRetry();
      }
      this.pump();
    }, this.o.ackTimeoutMs);
    this.ackTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.sender) return;
    // The first time at once (the ack timeout was the wait), then base, doubling to the cap, until an ack comes.
    const delay = this.retryDelayMs;
    this.retryDelayMs = delay === 0 ? this.o.retry.baseMs : Math.min(this.o.retry.capMs, delay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.waiting.clear();
      this.pump();
    }, delay);
    this.retryTimer.unref();
  }
}
