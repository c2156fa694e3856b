/**
 * Events the site reports on `event`. Receipts, alert statuses and command
 * results go through the event journal (on disk until the server
 * acknowledges them: a broker's PUBACK does not mean stored); the others are
 * kept in a bounded outbox while the link is down (a fault, a sound check or
 * a stream report is superseded by the next one, so the oldest goes first).
 */
import { isAcknowledgedEvent, type AcknowledgedEvent, type SiteEventMessage } from '../../protocol/index.ts';
import type { ReceiptJournal } from '../playout/receipts.ts';
import { checkUplink } from './uplink.ts';
import type { SiteLink } from './site-link.ts';

/** A journaled event not acknowledged by the broker by then is sent again after the next reconnect (the server dedupes). */
const JOURNALED_ACK_TIMEOUT_MS = 60_000;

export interface SiteEventsOptions {
  link: SiteLink;
  journal: ReceiptJournal;
  note: (message: string) => void;
  /** Events kept while offline (the oldest is dropped first). */
  outboxCapacity: number;
}

export class SiteEvents {
  private outbox: SiteEventMessage[] = [];
  private dropped = 0;

  constructor(private readonly o: SiteEventsOptions) {}

  get stats(): { outboxSize: number; eventsDropped: number } {
    return { outboxSize: this.outbox.length, eventsDropped: this.dropped };
  }

  /**
   * Validated first (an invalid event is neither journaled nor kept), then
   * journaled or published; true once the broker has it, or the journal does.
   */
  async publish(event: SiteEventMessage): Promise<boolean> {
    // The same check the link's publish() makes, before the journal keeps it on disk.
    const checked = checkUplink('event', event);
    if (!checked.ok) {
      this.o.note(checked.problem);
      return false;
    }
    const link = this.o.link;
    if (isAcknowledgedEvent(event)) {
      if (await this.o.journal.recordEvent(event)) return true;
      // Held already (a command redelivered: the server lacks its answer, or the answer crossed it): once
      // more now, directly; the journal goes on sending it until it is acknowledged.
      return link.connected ? link.publish('event', event, { qos: 1, offline: 'queue' }).acked : true;
    }
    if (!link.connected) {
      this.outbox.push(event);
      if (this.outbox.length > this.o.outboxCapacity) {
        this.outbox.shift();
        this.dropped++;
      }
      return false;
    }
    return link.publish('event', event, { qos: 1, offline: 'queue' }).acked;
  }

  /** Link up: what waited in the outbox goes out, oldest first. */
  flushOutbox(): void {
    const pending = this.outbox;
    this.outbox = [];
    for (const event of pending) void this.publish(event);
  }

  /**
   * The journal's sender (attached while the link is up), QoS 1: true once the broker has it (PUBACK).
   * The journal keeps the event until the server's own ack on `ack`.
   */
  readonly sendJournaled = (event: AcknowledgedEvent): Promise<boolean> =>
    this.o.link.publish('event', event, { qos: 1, offline: 'drop', ackTimeoutMs: JOURNALED_ACK_TIMEOUT_MS, logFailure: false }).acked;
}
