/**
 * The live view of every site: what it last reported, and its verdict
 * (operational, degraded, faulty, offline, unverified, with reasons).
 *
 * Kept in memory for speed (a heartbeat must not cost a disk write): the
 * memory is what every read answers from, and the store only follows it.
 * Every change of verdict is recorded as an event in site_events, which is
 * the history that uptime and coverage over time are computed from.
 *
 * Written behind, through one queue of writes that run one at a time, in
 * order: events as soon as the write before them is done (all that gathered
 * meanwhile in one transaction), site_status on each flush() tick (every
 * changed site in one transaction), so a restart loses nothing but the last
 * second and a burst of heartbeats costs one transaction, never one write in
 * flight per message. A write that fails keeps what it held for the next one
 * (a status is rewritten from memory; events are put back, up to a bound
 * past which the oldest are dropped), and is logged and counted. None of
 * this is acknowledged to a site: what is (receipts, alert statuses,
 * command results) is stored by the listeners of applyEvent, whose promises
 * it returns (ingest.ts acknowledges after them).
 */
import type { Insertable, Kysely } from 'kysely';
import type { Database, SiteEventsTable, SiteStatusTable } from '../store/schema.ts';
import type { Logger } from './broker.ts';
import type { SiteEventMessage, SiteStateMessage, TelemetryMessage } from '../../protocol/index.ts';
import type { CoveragePolicy, ExpectedSiteConfig, SiteCondition, SiteObservation, SiteVerdict, SoundCheckRecord } from '../coverage/model.ts';
import { classifySite } from '../coverage/site-condition.ts';
import type { Site } from '../registry/sites.ts';
import { isStoreFailure } from './event-acks.ts';
import type { IngestSink } from './ingest.ts';

export interface ConditionChange {
  siteId: string;
  at: number;
  from: SiteCondition | null;
  to: SiteCondition;
  verdict: SiteVerdict;
}

/** A site's verdict as classified now, when its condition or any of its reasons (code or parameter) differs from the last one. */
export interface VerdictChange {
  siteId: string;
  at: number;
  /** Null when the site is classified for the first time since it was registered or loaded without a stored verdict. */
  previous: SiteVerdict | null;
  verdict: SiteVerdict;
}

export interface FleetListeners {
  /** A site's condition changed (also fired once per site when it is first classified). */
  conditionChanged?(change: ConditionChange): void;
  /**
   * A site's verdict changed: its condition, or its reasons within the same
   * condition (a degraded site gaining a second reason, a line that went from
   * open to short, a battery percentage). Fired after conditionChanged when
   * both apply. Alarms follow every reason, not only the condition.
   */
  verdictChanged?(change: VerdictChange): void;
  /** A site just came online (connected state or a message after being offline): time to send it what waits. */
  siteOnline?(siteId: string): void;
  /**
   * An event from a site (command results among them). A listener that
   * stores it returns the promise of its commit (anything else it returns is
   * ignored): the event is acknowledged to
   * the site (event-acks.ts) only once every such promise has resolved, and
   * not at all when one rejects.
   */
  siteEvent?(siteId: string, event: SiteEventMessage): unknown;
  /** A site was registered or changed in the registry (moved to another area, its profile, ...). */
  siteChanged?(siteId: string): void;
  /** A site left the fleet (retired). */
  siteRemoved?(siteId: string): void;
}

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

export interface FleetStateOptions {
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
   * (later than its last event of that site). Unset: this server always writes.
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
/** Rows per INSERT: well under either dialect's limit on bound parameters (13 columns × 500). */
const STATUS_ROWS_PER_INSERT = 500;
const EVENT_ROWS_PER_INSERT = 1000;

interface Entry {
  obs: SiteObservation;
  verdict: SiteVerdict | null;
  since: number | null;
  /** Agent-clock time of the last "online" applied, to ignore a stale last will after a reconnect. */
  lastOnlineAt: number;
}

export class FleetState implements IngestSink {
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private readonly listeners: FleetListeners[] = [];

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
    private readonly policy: CoveragePolicy,
    private readonly now: () => number = Date.now,
    private readonly opts: FleetStateOptions = {},
  ) {}

  /** Returns the unsubscribe: a listener that lives shorter than the fleet (a route plugin, a test) takes itself out. */
  listen(l: FleetListeners): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Load registered sites and their last known status from the store. */
  async load(sites: readonly Site[]): Promise<void> {
    const rows = new Map((await this.db.selectFrom('site_status').selectAll().execute()).map((r) => [r.site_id, r]));
    for (const s of sites) {
      const r = rows.get(s.id);
      const obs = this.blank(s);
      let verdict: SiteVerdict | null = null;
      if (r) {
        obs.firstSeenAt = r.first_seen_at;
        obs.lastSeenAt = r.last_seen_at;
        obs.connected = r.connected === 1;
        obs.disconnectedAt = r.disconnected_at;
        obs.intervalS = r.interval_s;
        obs.telemetry = r.telemetry ? (JSON.parse(r.telemetry) as TelemetryMessage) : null;
        obs.lastSoundVerifiedAt = r.last_sound_verified_at;
        obs.lastSoundCheck = r.last_sound_check ? (JSON.parse(r.last_sound_check) as SoundCheckRecord) : null;
        // The column holds what this class wrote: a SiteCondition.
        if (r.condition) verdict = { siteId: s.id, condition: r.condition as SiteCondition, reasons: r.reasons ? JSON.parse(r.reasons) : [] };
      }
      this.entries.set(s.id, { obs, verdict, since: r?.condition_since ?? null, lastOnlineAt: 0 });
    }
  }

  /** A site was registered or changed in the registry. */
  upsertSite(s: Site): void {
    const e = this.entries.get(s.id);
    if (!e) {
      this.entries.set(s.id, { obs: this.blank(s), verdict: null, since: null, lastOnlineAt: 0 });
      this.evaluate(s.id);
      for (const l of this.listeners) l.siteChanged?.(s.id);
      return;
    }
    e.obs.name = s.name;
    e.obs.kind = s.kind;
    e.obs.areaId = s.areaId;
    e.obs.expectsMonitorMic = s.monitorMic;
    this.evaluate(s.id);
    for (const l of this.listeners) l.siteChanged?.(s.id);
  }

  /** The site configuration the server now delivers to the site (server/site-config/): one it does not report holding by `dueAt` counts against it. */
  expectConfig(siteId: string, expected: ExpectedSiteConfig): void {
    const e = this.entries.get(siteId);
    if (!e) return;
    e.obs.expectedConfig = expected;
    this.evaluate(siteId);
  }

  removeSite(siteId: string): void {
    if (!this.entries.delete(siteId)) return;
    this.dirty.delete(siteId);
    for (const l of this.listeners) l.siteRemoved?.(siteId);
  }

  isKnownSite(siteId: string): boolean {
    return this.entries.has(siteId);
  }

  observation(siteId: string): SiteObservation | undefined {
    return this.entries.get(siteId)?.obs;
  }

  observations(): SiteObservation[] {
    return [...this.entries.values()].map((e) => e.obs);
  }

  verdict(siteId: string): (SiteVerdict & { since: number | null }) | undefined {
    const e = this.entries.get(siteId);
    return e?.verdict ? { ...e.verdict, since: e.since } : undefined;
  }

  /** Fresh verdict for a site at `now` (coverage queries use this, not the cached one). */
  classify(siteId: string, at = this.now()): SiteVerdict | undefined {
    const e = this.entries.get(siteId);
    return e ? classifySite(e.obs, at, this.policy) : undefined;
  }

  isOnline(siteId: string): boolean {
    const e = this.entries.get(siteId);
    return !!e && e.verdict !== null && e.verdict.condition !== 'offline' && e.verdict.condition !== 'unverified';
  }

  applyState(siteId: string, m: SiteStateMessage, _retained: boolean): void {
    const e = this.entries.get(siteId)!;
    // A last will of an older connection can arrive after the new connection's
    // "online" (client-id takeover). Both are stamped by the same agent clock at
    // connect time, so an offline older than the last online is stale. Only
    // offline messages are checked: an online always applies, so a board whose
    // clock went backwards after a reboot is never locked out.
    if (m.state === 'offline' && m.at < e.lastOnlineAt) return;
    if (m.state === 'online') e.lastOnlineAt = m.at;
    const t = this.now();
    this.seen(e, t);
    if (m.state === 'online') {
      e.obs.connected = true;
      e.obs.disconnectedAt = null;
    } else {
      e.obs.connected = false;
      e.obs.disconnectedAt = t;
    }
    this.recordEvent(siteId, t, m.state === 'online' ? 'connected' : 'disconnected', null, { reason: m.reason ?? null, agentVersion: m.agentVersion ?? null });
    this.evaluate(siteId);
    // Every new connection may have missed commands (e.g. after a server restart,
    // when the stored verdict still says online), so each "online" flushes.
    if (m.state === 'online') this.emitOnline(siteId);
  }

  applyTelemetry(siteId: string, m: TelemetryMessage): void {
    const e = this.entries.get(siteId)!;
    const t = this.now();
    const wasOnline = this.isOnline(siteId);
    this.seen(e, t);
    // A heartbeat proves the connection is up even if we missed the online state.
    e.obs.connected = true;
    e.obs.disconnectedAt = null;
    e.obs.intervalS = m.intervalS;
    e.obs.telemetry = m;
    if (m.lastSoundCheck) {
      // The agent dates its check on its own clock; move it onto ours by the
      // heartbeat's own skew (arrival minus stamp), never into the future.
      const at = Math.min(t, m.lastSoundCheck.at + (t - m.at));
      this.noteSoundCheck(e, { ...m.lastSoundCheck, at });
    }
    this.evaluate(siteId);
    if (!wasOnline) this.emitOnline(siteId);
  }

  /**
   * Applies the event to memory at once; the promise (when a listener stores
   * the event) resolves once every listener's store committed it, and rejects
   * with the first store failure, else the first error, once all settled.
   */
  applyEvent(siteId: string, m: SiteEventMessage): void | Promise<void> {
    const e = this.entries.get(siteId)!;
    const t = this.now();
    this.seen(e, t);
    switch (m.type) {
      case 'sound_check':
        // The server's clock, not the agent's, dates the verification.
        this.noteSoundCheck(e, { at: t, ok: m.ok, levelDb: m.levelDb });
        this.recordEvent(siteId, t, 'sound_check', null, { ok: m.ok, levelDb: m.levelDb, thresholdDb: m.thresholdDb, trigger: m.trigger });
        break;
      case 'fault':
      case 'fault_cleared':
        this.recordEvent(siteId, t, m.type, null, { device: m.device, fault: m.fault, detail: m.detail ?? null });
        break;
      case 'cmd_result':
      case 'as_run':
      case 'alert_status':
      case 'stream_stats':
      case 'update_status':
        // Listeners own these: the command queue, the as-run log, alert delivery, live statistics, rollouts.
        break;
      default: {
        const never: never = m;
        return never;
      }
    }
    this.evaluate(siteId);
    const stores: Array<Promise<unknown>> = [];
    try {
      for (const l of this.listeners) {
        const r = l.siteEvent?.(siteId, m);
        if (r instanceof Promise) stores.push(r);
      }
    } catch (err) {
      // A listener refused the event outright: the stores already started still finish, their failures logged there.
      for (const p of stores) p.catch(() => undefined);
      throw err;
    }
    if (stores.length === 0) return;
    return allStored(stores);
  }

  /** Re-evaluate every site: catches sites that went silent without closing their connection. */
  sweep(): ConditionChange[] {
    const changes: ConditionChange[] = [];
    for (const id of this.entries.keys()) {
      const c = this.evaluate(id);
      if (c) changes.push(c);
    }
    return changes;
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
    const rows: Array<Insertable<SiteStatusTable>> = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      const o = e.obs;
      rows.push({
        site_id: id,
        first_seen_at: o.firstSeenAt,
        last_seen_at: o.lastSeenAt,
        connected: o.connected ? 1 : 0,
        disconnected_at: o.disconnectedAt,
        interval_s: o.intervalS,
        telemetry: o.telemetry ? JSON.stringify(o.telemetry) : null,
        last_sound_verified_at: o.lastSoundVerifiedAt,
        last_sound_check: o.lastSoundCheck ? JSON.stringify(o.lastSoundCheck) : null,
        condition: e.verdict?.condition ?? null,
        reasons: e.verdict ? JSON.stringify(e.verdict.reasons) : null,
        condition_since: e.since,
        updated_at: t,
      });
    }
    if (rows.length === 0) return 0;
    try {
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += STATUS_ROWS_PER_INSERT) {
          await trx
            .insertInto('site_status')
            .values(rows.slice(i, i + STATUS_ROWS_PER_INSERT))
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
      for (const r of rows) if (this.entries.has(r.site_id)) this.dirty.add(r.site_id);
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
        for (let i = 0; i < rows.length; i += EVENT_ROWS_PER_INSERT) {
          await trx
            .insertInto('site_events')
            .values(rows.slice(i, i + EVENT_ROWS_PER_INSERT))
            .execute();
        }
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

  private blank(s: Site): SiteObservation {
    return {
      siteId: s.id,
      name: s.name,
      kind: s.kind,
      areaId: s.areaId,
      firstSeenAt: null,
      lastSeenAt: null,
      connected: false,
      disconnectedAt: null,
      intervalS: null,
      telemetry: null,
      lastSoundVerifiedAt: null,
      lastSoundCheck: null,
      expectsMonitorMic: s.monitorMic,
    };
  }

  private seen(e: Entry, t: number): void {
    if (e.obs.firstSeenAt === null) e.obs.firstSeenAt = t;
    e.obs.lastSeenAt = t;
    this.dirty.add(e.obs.siteId);
  }

  private noteSoundCheck(e: Entry, c: SoundCheckRecord): void {
    const prev = e.obs.lastSoundCheck;
    if (prev && prev.at >= c.at) return;
    e.obs.lastSoundCheck = c;
    if (c.ok) e.obs.lastSoundVerifiedAt = Math.max(e.obs.lastSoundVerifiedAt ?? 0, c.at);
  }

  private evaluate(siteId: string): ConditionChange | undefined {
    const e = this.entries.get(siteId);
    if (!e) return undefined;
    const t = this.now();
    const v = classifySite(e.obs, t, this.policy);
    const prev = e.verdict;
    const sameReasons =
      prev !== null &&
      prev.reasons.length === v.reasons.length &&
      prev.reasons.every((r, i) => r.code === v.reasons[i]!.code && JSON.stringify(r.params) === JSON.stringify(v.reasons[i]!.params));
    e.verdict = v;
    if (prev && prev.condition === v.condition && sameReasons) return undefined;
    this.dirty.add(siteId);
    if (prev && prev.condition === v.condition) {
      // Reasons changed, condition did not: no transition to record, but the verdict's listeners hear it.
      this.emitVerdict(siteId, t, prev, v);
      return undefined;
    }
    e.since = t;
    const change: ConditionChange = { siteId, at: t, from: prev?.condition ?? null, to: v.condition, verdict: v };
    this.recordEvent(siteId, t, 'condition', v.condition, { from: change.from, reasons: v.reasons.map((r) => ({ code: r.code, message: r.message, params: r.params })) });
    for (const l of this.listeners) l.conditionChanged?.(change);
    this.emitVerdict(siteId, t, prev, v);
    return change;
  }

  private emitVerdict(siteId: string, at: number, previous: SiteVerdict | null, verdict: SiteVerdict): void {
    const change: VerdictChange = { siteId, at, previous, verdict };
    for (const l of this.listeners) l.verdictChanged?.(change);
  }

  private emitOnline(siteId: string): void {
    for (const l of this.listeners) l.siteOnline?.(siteId);
  }

  private recordEvent(siteId: string, at: number, type: string, condition: SiteCondition | null, detail: object): void {
    this.pendingEvents.push({ site_id: siteId, at, type, condition, detail: JSON.stringify(detail) });
    this.dropOverflow();
    this.queueEvents();
  }
}

/** Waits for every store of an event; rejects with the first store failure (so the event is sent again), else the first error. */
async function allStored(stores: Array<Promise<unknown>>): Promise<void> {
  const settled = await Promise.allSettled(stores);
  const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 0) return;
  throw errors.find(isStoreFailure) ?? errors[0];
}
