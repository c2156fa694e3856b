/**
 * The server's side of "acknowledged means stored" (protocol/event-ack.ts):
 * after a receipt, alert status or command result has been committed to the
 * store, its key is queued here and sent back to its site on
 * `sites/{siteId}/ack`, batched per site.
 *
 * Why batched on setImmediate: the stores commit synchronously (better-sqlite3,
 * autocommit), so a key queued here is already committed; a burst of events
 * read from one socket is handled in one turn of the event loop, and its
 * acks leave together — one publish per site per turn instead of one per
 * event. A publish that fails (the broker down, the link to an external
 * broker lost) is only logged: the site sends the event again after its
 * back-off, and the store keeps one per key.
 */
import { encodeJson, MAX_ACK_KEYS, PROTOCOL_VERSION, siteTopic, decodeEventAck, type EventAck, type EventAckRefusal } from '../../protocol/index.ts';
import type { BrokerLink, Logger } from './broker.ts';

export interface EventAckStats {
  /** Keys acknowledged as stored (new or repeated). */
  stored: number;
  /** Events applied before open(): not acknowledged, the site sends them again. */
  beforeOpen: number;
  refused: number;
  /** Ack messages published, and those the broker did not take. */
  messages: number;
  publishFailures: number;
}

/**
 * An error from the store itself (a full disk, an I/O error, a locked or
 * read-only database): the event was not stored and must not be
 * acknowledged, so the site keeps it and sends it again. Anything else thrown
 * while applying an event is a refusal of that event (it breaks an invariant:
 * an unknown alert, a site not targeted), which sending again cannot change.
 */
export function isStoreFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code.startsWith('SQLITE_') || ['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'EMFILE', 'ENFILE'].includes(code);
}

export class EventAcker {
  private readonly pending = new Map<string, { stored: string[]; refused: EventAckRefusal[] }>();
  private scheduled = false;
  private readonly counters: EventAckStats = { stored: 0, beforeOpen: 0, refused: 0, messages: 0, publishFailures: 0 };
  private opened = false;

  constructor(
    private readonly broker: Pick<BrokerLink, 'publish'>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * From now on every store of site events listens. Before (the broker is up,
   * an external one already delivering what it queued, but the alert service
   * not started), an alert status could be applied with nobody to store it:
   * nothing is acknowledged then, and the sites send it all again.
   */
  open(): void {
    this.opened = true;
  }

  /** `key` is committed to the store (call only after the commit). */
  stored(siteId: string, key: string): void {
    if (!this.opened) return void this.counters.beforeOpen++;
    this.counters.stored++;
    const p = this.entry(siteId);
    p.stored.push(key);
    if (p.stored.length + p.refused.length >= MAX_ACK_KEYS) this.send(siteId);
    else this.schedule();
  }

  /** `key` will never be stored: the site may forget it. */
  refused(siteId: string, refusal: EventAckRefusal): void {
    if (!this.opened) return void this.counters.beforeOpen++;
    this.counters.refused++;
    const p = this.entry(siteId);
    p.refused.push({ ...refusal, reason: refusal.reason.slice(0, 200) });
    if (p.stored.length + p.refused.length >= MAX_ACK_KEYS) this.send(siteId);
    else this.schedule();
  }

  /** Send everything queued now (tests, shutdown). */
  flush(): void {
    for (const siteId of [...this.pending.keys()]) this.send(siteId);
  }

  stats(): EventAckStats {
    return { ...this.counters };
  }

  private entry(siteId: string): { stored: string[]; refused: EventAckRefusal[] } {
    let p = this.pending.get(siteId);
    if (!p) this.pending.set(siteId, (p = { stored: [], refused: [] }));
    return p;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private send(siteId: string): void {
    const p = this.pending.get(siteId);
    this.pending.delete(siteId);
    if (!p || p.stored.length + p.refused.length === 0) return;
    const message: EventAck = { v: PROTOCOL_VERSION, siteId, at: this.now(), stored: p.stored, ...(p.refused.length ? { refused: p.refused } : {}) };
    const checked = decodeEventAck.check(message);
    if (!checked.ok) {
      this.log.error({ siteId, reason: checked.error.reason }, 'bug: not publishing an invalid event ack');
      return;
    }
    this.counters.messages++;
    this.broker.publish(siteTopic(siteId, 'ack'), encodeJson(message), { qos: 1 }).catch((err: unknown) => {
      this.counters.publishFailures++;
      // The site sends these events again after its back-off; the store keeps one per key.
      this.log.warn({ siteId, keys: p.stored.length + p.refused.length, err: (err as Error).message }, 'event ack not published; the site will send again');
    });
  }
}
