/**
 * What the fleet derives (each site's status, its connects, faults, sound
 * checks and condition changes), written behind the fleet's memory
 * (fleet-state.ts) through one queue of writes that run one at a time, in
 * order: events as soon as the write before them is done (all that gathered
 * meanwhile in one transaction), site_status on each flush() tick (every
 * changed site in one transaction), so a restart loses nothing but the last
 * second and a burst of heartbeats costs one transaction, never one write in
 * flight per message. A write that fails keeps what it held for the next one
 * (a status is rewritten from memory; events are put back, up to a bound
 * past which the oldest are dropped), and is logged and counted.
 *
 * With several servers only the writer (the fleet lease's holder) writes; a
 * standby keeps what it would write and, once it becomes the writer, writes
 * what the last one had not (see `writer` below).
 */
import type { Insertable, Kysely } from 'kysely';
import type { Database, SiteEventsTable, SiteStatusTable } from '../store/schema.ts';
import type { SiteCondition } from '../coverage/model.ts';
import type { Logger } from './broker.ts';
import { inBatches } from '../store/batches.ts';

/** How the writes behind the memory are doing (the metrics and the fleet's page show it). */
export interface FleetWriteStats {
  /** Transactions committed, and the rows they wrote. */
  statusWrites: number;
  statusRows: number;
  eventWrites: number;
  eventRows: number;
  /** Writes that failed (each retried with the next one). */
  failures: number;
  /** Events waiting to be written, and events dropped past MAX_PENDING_EVENTS while the store kept failing. */
  pendingEvents: number;
  eventsDropped: number;
  lastError: { at: number; message: string } | null;
}

export interface FleetWriterOptions {
  log?: Logger;
  /** Told of every failed write (a full disk gives up its reserve at once: store/disk-space.ts). */
  onWriteFailure?: (err: unknown) => void;
  /**
   * With several servers, each hears every site and keeps the whole fleet in
   * memory, but only one writes what it derives (statuses and site events),
   * or every connect and fault would be stored once per server: the holder of
   * the fleet lease (cluster/cluster.ts). A standby keeps statuses dirty and
   * the events of the last `keepMs`; when it becomes the writer it writes
   * every status from memory and those events the last writer had not stored
   * (matched change by change: notYetStored). Unset: this server always writes.
   */
  writer?: { mayWrite(): boolean; keepMs: number };
}

/**
 * Events kept in memory while the store refuses them (a full disk): about ten
 * minutes of a province's connects, faults and changes. Past it the oldest
 * are dropped and counted: the memory must not grow without end, and the
 * newest say most about the sites now.
 */
export const MAX_PENDING_EVENTS = 50_000;
/** Rows per INSERT at most: well under either dialect's limit on bound parameters (13 columns × 500); smaller in sizes that repeat (inBatches). */
const STATUS_ROWS_PER_INSERT = 500;
const EVENT_ROWS_PER_INSERT = 1000;

export class FleetWriter {
  /** Sites whose status changed since it was last written. */
  private readonly dirty = new Set<string>();
  /** Events recorded and not yet written, oldest first. */
  private pendingEvents: Array<Insertable<SiteEventsTable>> = [];
  /** The queue of writes: each runs after the one before has settled, so rows reach the store in the order they were made. */
  private writes: Promise<void> = Promise.resolve();
  /** An events write (or a status write) is queued and has not started yet: whatever is recorded meanwhile joins it. */
  private eventsQueued = false;
  private statusQueued: Promise<void> | undefined;
  private failing = false;
  private droppingLogged = false;
  /** Events were held back as a standby: the first write as the writer leaves out what the last writer stored. */
  private heldBack = false;
  private readonly writeStats: FleetWriteStats = {
    statusWrites: 0,
    statusRows: 0,
    eventWrites: 0,
    eventRows: 0,
    failures: 0,
    pendingEvents: 0,
    eventsDropped: 0,
    lastError: null,
  };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number,
    /** The rows of these sites' statuses as the memory holds them now (a site no longer known gives none). */
    private readonly statusRows: (ids: string[], at: number) => Array<Insertable<SiteStatusTable>>,
    private readonly opts: FleetWriterOptions = {},
  ) {}

  /** The site's status is to be written with the next flush. */
  changed(siteId: string): void {
    this.dirty.add(siteId);
  }

  /** The site is gone from the fleet: nothing of its status is written any more. */
  forget(siteId: string): void {
    this.dirty.delete(siteId);
  }

  /** Queues an event of a site; written with the next events write. */
  record(siteId: string, at: number, type: string, condition: SiteCondition | null, detail: object): void {
    this.pendingEvents.push({ site_id: siteId, at, type, condition, detail: JSON.stringify(detail) });
    this.dropOverflow();
    this.queueEvents();
  }

  /**
   * Write every changed site's status, and the events still waiting, in one
   * transaction each, after the writes already queued. Resolves with the
   * number of sites written once committed; rejects when the write failed
   * (what it held waits for the next). Calls while one is queued share it.
   */
  flush(): Promise<number> {
    if (this.pendingEvents.length > 0) this.queueEvents();
    if (this.statusQueued) return this.statusQueued.then(() => 0);
    let written = 0;
    const p = this.enqueue(async () => {
      this.statusQueued = undefined;
      written = await this.writeStatus();
      return written > 0;
    });
    this.statusQueued = p;
    return p.then(() => written);
  }

  /** Resolves once every write queued so far has settled (failed or not): a test or a stop waits here. */
  async settled(): Promise<void> {
    await this.writes;
  }

  stats(): FleetWriteStats {
    return { ...this.writeStats, pendingEvents: this.pendingEvents.length };
  }

  /** `work` resolves true when it wrote something: only a write that reached the store says the store works again. */
  private enqueue(work: () => Promise<boolean>): Promise<void> {
    const p = this.writes.then(work);
    this.writes = p.then(
      (wrote) => (wrote ? this.recovered() : undefined),
      (err: unknown) => this.failed(err),
    );
    return p.then(() => undefined);
  }

  private mayWrite(): boolean {
    return this.opts.writer?.mayWrite() ?? true;
  }

  private async writeStatus(): Promise<number> {
    // A standby leaves them dirty: when it takes over it writes them all from memory.
    if (this.dirty.size === 0 || !this.mayWrite()) return 0;
    const ids = [...this.dirty];
    this.dirty.clear();
    const t = this.now();
    // Rows from memory as it is now, not as it was when the tick queued the write: a later change of a
    // site is written with it or by the next write, never overtaken by an older one (one write at a time).
    const rows = this.statusRows(ids, t);
    if (rows.length === 0) return 0;
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const batch of inBatches(rows, STATUS_ROWS_PER_INSERT)) {
          await trx
            .insertInto('site_status')
            .values(batch)
            .onConflict((oc) =>
              oc.column('site_id').doUpdateSet((eb) => ({
                first_seen_at: eb.ref('excluded.first_seen_at'),
                last_seen_at: eb.ref('excluded.last_seen_at'),
                connected: eb.ref('excluded.connected'),
                disconnected_at: eb.ref('excluded.disconnected_at'),
                interval_s: eb.ref('excluded.interval_s'),
                telemetry: eb.ref('excluded.telemetry'),
                last_sound_verified_at: eb.ref('excluded.last_sound_verified_at'),
                last_sound_check: eb.ref('excluded.last_sound_check'),
                condition: eb.ref('excluded.condition'),
                reasons: eb.ref('excluded.reasons'),
                condition_since: eb.ref('excluded.condition_since'),
                updated_at: eb.ref('excluded.updated_at'),
              })),
            )
            .execute();
        }
      });
    } catch (err) {
      // Rewritten from memory by the next tick (a site still known): nothing of it is lost but the wait.
      for (const r of rows) this.dirty.add(r.site_id);
      throw err;
    }
    this.writeStats.statusWrites++;
    this.writeStats.statusRows += rows.length;
    return rows.length;
  }

  private queueEvents(): void {
    if (this.eventsQueued) return;
    this.eventsQueued = true;
    // Its failure is counted and logged by the queue (failed()); the next event or tick writes again.
    this.enqueue(() => this.writeEvents()).catch(() => undefined);
  }

  private async writeEvents(): Promise<boolean> {
    this.eventsQueued = false;
    if (this.pendingEvents.length === 0) return false;
    if (!this.mayWrite()) {
      const keepFrom = this.now() - this.opts.writer!.keepMs;
      this.pendingEvents = this.pendingEvents.filter((e) => e.at >= keepFrom);
      this.heldBack = this.pendingEvents.length > 0 || this.heldBack;
      return false;
    }
    let rows = this.pendingEvents;
    this.pendingEvents = [];
    if (this.heldBack) {
      try {
        rows = await this.notYetStored(rows);
      } catch (err) {
        this.pendingEvents = rows.concat(this.pendingEvents);
        throw err;
      }
      this.heldBack = false;
      if (rows.length === 0) return false;
    }
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const batch of inBatches(rows, EVENT_ROWS_PER_INSERT)) await trx.insertInto('site_events').values(batch).execute();
      });
    } catch (err) {
      // Rolled back as a whole: put back in front of what came meanwhile, so the order stays, within the bound.
      this.pendingEvents = rows.concat(this.pendingEvents);
      this.dropOverflow();
      throw err;
    }
    this.writeStats.eventWrites++;
    this.writeStats.eventRows += rows.length;
    return true;
  }

  /**
   * Events a standby held back, less those the last writer stored. Both
   * servers heard the same messages, so they derived the same changes in the
   * same order, each dated by its own clock a moment apart: a held-back event
   * is the writer's when it matches the next stored event of its site (same
   * type and condition; a fault or sound check also the same detail), taken
   * in order. What is left happened after the writer stopped writing.
   */
  private async notYetStored(rows: Array<Insertable<SiteEventsTable>>): Promise<Array<Insertable<SiteEventsTable>>> {
    if (rows.length === 0) return rows;
    const since = rows.reduce((m, r) => Math.min(m, r.at), Number.POSITIVE_INFINITY) - (this.opts.writer?.keepMs ?? 0);
    const stored = await this.db.selectFrom('site_events').select(['site_id', 'type', 'condition', 'detail']).where('at', '>=', since).orderBy('id').execute();
    const bySite = new Map<string, typeof stored>();
    for (const e of stored) {
      const list = bySite.get(e.site_id);
      if (list) list.push(e);
      else bySite.set(e.site_id, [e]);
    }
    const next = new Map<string, number>();
    const same = (a: { type: string; condition: string | null; detail: string | null }, b: { type: string; condition?: string | null; detail?: string | null }) =>
      a.type === b.type && a.condition === (b.condition ?? null) && (a.type === 'condition' || a.detail === (b.detail ?? null));
    return rows.filter((r) => {
      const list = bySite.get(r.site_id) ?? [];
      const from = next.get(r.site_id) ?? 0;
      for (let k = from; k < list.length; k++) {
        if (same(list[k]!, r)) {
          next.set(r.site_id, k + 1);
          return false;
        }
      }
      return true;
    });
  }

  private dropOverflow(): void {
    const over = this.pendingEvents.length - MAX_PENDING_EVENTS;
    if (over <= 0) return;
    this.pendingEvents.splice(0, over);
    this.writeStats.eventsDropped += over;
    // Once per failing spell (recovered() says how many in all), not once per event dropped.
    if (this.droppingLogged) return;
    this.droppingLogged = true;
    this.opts.log?.error(
      { dropped: over, droppedSinceStart: this.writeStats.eventsDropped, kept: MAX_PENDING_EVENTS },
      'site events: the store keeps failing; the oldest events waiting to be written were dropped',
    );
  }

  private failed(err: unknown): void {
    this.writeStats.failures++;
    const message = (err as Error)?.message ?? String(err);
    this.writeStats.lastError = { at: this.now(), message };
    this.opts.onWriteFailure?.(err);
    // Once when it starts failing, not on every retry; the counts say how many.
    if (!this.failing) {
      this.failing = true;
      this.opts.log?.error(
        { err: message, pendingEvents: this.pendingEvents.length, dirtySites: this.dirty.size },
        'site statuses and events: writing to the store failed; kept in memory and written again with the next write',
      );
    }
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.droppingLogged = false;
    this.opts.log?.info({ failures: this.writeStats.failures, eventsDropped: this.writeStats.eventsDropped }, 'site statuses and events: writing to the store works again');
  }
}
