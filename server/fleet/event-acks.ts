/**
 * The server's side of "acknowledged means stored" (protocol/event-ack.ts):
 * after a receipt, alert status or command result has been committed to the
 * store, its key is queued here and sent back to its site on
 * `sites/{siteId}/ack`, batched per site.
 *
 * Why batched on setImmediate: a key is queued here only once its store's
 * commit has resolved (ingest.ts waits for the promise FleetState.applyEvent
 * returns, which waits for every listener that stores the event), so it is
 * already committed; the events of a burst commit close together, and their
 * acks leave together — one publish per site per turn instead of one per
 * event. A publish that fails (the broker down, the link to an external
 * broker lost) is only logged: the site sends the event again after its
 * back-off, and the store keeps one per key.
 *
 * Committed is not yet durable on SQLite: it runs `synchronous = NORMAL` in WAL
 * mode, where a commit survives the process dying but a power cut of the
 * machine can take the last ones (their WAL frames are written, not synced).
 * Syncing on every commit (`FULL`) would put one fsync per receipt on the
 * event loop — 3,000 sites ending one bulletin at once would stall it for
 * seconds. So `durable` (Store.durable(): on SQLite store/db.ts walSync, one
 * fsync of the WAL file on libuv's thread pool; on PostgreSQL nothing, a
 * commit is durable when it returns) runs once per batch before its acks
 * leave, and the batches stored while it runs wait for the next one: a group
 * commit, off the event loop. A sync that fails acknowledges nothing stored
 * in its batch.
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
  /** Batches made durable before their acks left, and syncs that failed (their stored keys not acknowledged). */
  syncs: number;
  syncFailures: number;
}

export class EventAcker {
  private pending = new Map<string, Batch>();
  private scheduled = false;
  private readonly counters: EventAckStats = { stored: 0, beforeOpen: 0, refused: 0, messages: 0, publishFailures: 0, syncs: 0, syncFailures: 0 };
  private opened = false;
  /** The batch whose sync is running: later batches wait for it (one fsync at a time, each covering all commits before it). */
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly broker: Pick<BrokerLink, 'publish'>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Makes every commit so far survive a power cut (absent: a commit is taken as durable). */
    private readonly durable?: () => Promise<void>,
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
    this.entry(siteId).stored.push(key);
    this.schedule();
  }

  /** `key` will never be stored: the site may forget it. */
  refused(siteId: string, refusal: EventAckRefusal): void {
    if (!this.opened) return void this.counters.beforeOpen++;
    this.counters.refused++;
    this.entry(siteId).refused.push({ ...refusal, reason: refusal.reason.slice(0, 200) });
    this.schedule();
  }

  /** Send everything queued now, made durable first (tests, shutdown); resolves once it is handed to the broker. */
  flush(): Promise<void> {
    if (this.syncing) return this.syncing.then(() => this.flush());
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0) return Promise.resolve();
    const anyStored = [...batch.values()].some((p) => p.stored.length > 0);
    if (!this.durable || !anyStored) {
      this.sendAll(batch, true);
      return Promise.resolve();
    }
    const sync = this.durable().then(
      () => {
        this.counters.syncs++;
        this.sendAll(batch, true);
      },
      (err: unknown) => {
        this.counters.syncFailures++;
        // Committed but perhaps not on the disk: not acknowledged, the sites send these again (the store keeps one per key).
        this.log.error({ err: (err as Error).message, sites: batch.size }, 'making stored site events durable failed; not acknowledging them');
        this.sendAll(batch, false);
      },
    );
    this.syncing = sync.finally(() => {
      this.syncing = undefined;
      if (this.pending.size > 0) this.schedule();
    });
    return this.syncing;
  }

  stats(): EventAckStats {
    return { ...this.counters };
  }

  private entry(siteId: string): Batch {
    let p = this.pending.get(siteId);
    if (!p) this.pending.set(siteId, (p = { stored: [], refused: [] }));
    return p;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** One message per site, split at the message limit; `withStored` false sends the refusals only. */
  private sendAll(batch: Map<string, Batch>, withStored: boolean): void {
    for (const [siteId, p] of batch) {
      const stored = withStored ? p.stored : [];
      for (let i = 0, j = 0; i < stored.length || j < p.refused.length; ) {
        const s = stored.slice(i, i + MAX_ACK_KEYS);
        const r = p.refused.slice(j, j + MAX_ACK_KEYS - s.length);
        i += s.length;
        j += r.length;
        this.send(siteId, { stored: s, refused: r });
      }
    }
  }

  private send(siteId: string, p: Batch): void {
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

interface Batch {
  stored: string[];
  refused: EventAckRefusal[];
}
