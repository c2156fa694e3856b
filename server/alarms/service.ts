/**
 * The alarms at work: the pure engine (alarm-engine.ts) fed by the fleet,
 * its effects written to the store in order and told to listeners.
 *
 * For a notifier (who is told) and the console's event stream, the one seam:
 *
 *     const unsubscribe = alarms.onAlarmEvent((e: AlarmEvent) => { ... });
 *
 * `AlarmEvent` is every effect of the engine but its history rows: an alarm
 * pending, dropped, raised, updated (acknowledged, count, severity, reasons,
 * incident), cleared; an incident opened, updated, resolved; and
 * `notification_due` (an alarm shown or made worse: the notification rules'
 * delay counts from its `at`). Listeners hear them synchronously, in the
 * engine's order, as soon as the engine decided, which is before the store
 * committed them (the write queue below is at most one transaction behind);
 * a listener that throws is logged and does not stop the others. Pending and
 * dropped alarms were never shown: a notifier ignores them.
 *
 * What it guarantees:
 *  - At start, the open alarms and incidents are read back from the store,
 *    then every site's current verdict is fed once: an alarm open before a
 *    restart is the same alarm after it (same id, count, acknowledgement),
 *    never a second one, and one whose fault went away meanwhile is cleared
 *    after its hold-down as any other.
 *  - Every effect is written through ONE ordered queue: a write starts when
 *    the one before settled and takes everything decided meanwhile in one
 *    transaction. A failed write is logged (once per failing spell), counted
 *    and retried with the next one, up to MAX_ATTEMPTS; never thrown.
 *  - Time (pending delays, hold-downs) is one timer set to the engine's
 *    `nextDueAt()`, its runs guarded by the feature's Jobs.
 *  - People's actions (acknowledge, clear by hand, comment) resolve once
 *    their write committed, so the answer and a read after it agree; while
 *    the store refuses writes they reject with its error (the action stays
 *    decided in memory and is written by the retry).
 *
 * Several servers (issue 18 item 2 for issue 20's alarms): only the holder
 * of the 'alarms' lease leads (lead(): the engine restored from the store,
 * every verdict fed, effects written, listeners told); every other server
 * follows (follow(), mirror()): its memory is the store's open alarms and
 * incidents, read again every few seconds, so its reads agree with the
 * holder's (same ids) and it never writes an alarm. Two engines deriving the
 * same verdicts would not: each sees a change at its own time and numbers
 * its alarms in its own order. A person's acknowledge or clear on a follower
 * is a row in alarm_actions that the holder takes (takeActions), decides
 * through its engine as its own, and answers; the follower waits for that
 * answer. On takeover the new holder restores from the store as after a
 * restart: an open alarm (acknowledged or not) stays the same alarm, and
 * what the dead holder decided but had not written is derived again from
 * the verdicts. A holder that loses the lease drops what it had not written
 * (the new holder derives it again) and follows.
 */
import type { Logger } from '../fleet/broker.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { AreaIndex } from '../coverage/coverage.ts';
import type { Jobs } from '../feature.ts';
import { fail } from '../errors.ts';
import { AlarmEngine, type AlarmEffect, type AlarmEngineContext, type AlarmInput, applyToSummary } from './alarm-engine.ts';
import { AlarmAreaSummary } from './area-summary.ts';
import { type DampingPolicy, DEFAULT_DAMPING_POLICY } from './flap-damping.ts';
import { DEFAULT_INCIDENT_POLICY, type Incident, type IncidentPolicy } from './incidents.ts';
import type { Alarm, AlarmError, AlarmSite, ExternalFault } from './model.ts';
import { type AlarmActionRequest, type AlarmComment, type AlarmStore, restoreAlarmStateFrom } from './store.ts';
import type { AlarmEngineState } from './alarm-engine.ts';
import { faultsIdentity, readUpdateFaults, type UpdateAttempts } from './update-faults.ts';

/** Every effect but the history rows (those are the store's). */
export type AlarmEvent = Exclude<AlarmEffect, { type: 'history' }>;
export type AlarmListener = (e: AlarmEvent) => void;

/** The settings of the alarms (config.ts: LOANET_ALARM_*). */
export interface AlarmSettings {
  holdDownS: number;
  /** The pending delay of speaker line and power faults; amplifier hot waits twice it, weak signal ten times (the defaults' proportions). */
  pendingS: number;
  incidentWindowS: number;
}

/** The policies from the settings: the defaults of flap-damping.ts and incidents.ts with the configured delays. */
export function alarmPolicies(s: AlarmSettings): { damping: DampingPolicy; incidents: IncidentPolicy } {
  const pendingMs = s.pendingS * 1000;
  return {
    damping: {
      ...DEFAULT_DAMPING_POLICY,
      holdDownMs: s.holdDownS * 1000,
      pendingMsByKind: { speaker_line: pendingMs, power: pendingMs, amplifier_hot: 2 * pendingMs, weak_signal: 10 * pendingMs },
    },
    incidents: { ...DEFAULT_INCIDENT_POLICY, windowMs: s.incidentWindowS * 1000 },
  };
}

/** A follower waits this long for the holder's answer to a person's action (a takeover takes at most TTL + a standby try). */
export const ACTION_WAIT_MS = 30_000;
const ACTION_POLL_MS = 100;
/** Actions decided this long ago whose asker never read the answer (it died) are deleted. */
const ACTION_KEEP_MS = 3_600_000;

/** A batch of effects that failed this many times is given up (logged with its alarms): a write the store refuses for good must not block every later one. */
export const MAX_ATTEMPTS = 5;

export interface AlarmWriteStats {
  writes: number;
  effects: number;
  failures: number;
  /** Effects given up after MAX_ATTEMPTS failed writes. */
  dropped: number;
  pending: number;
  lastError: { at: number; message: string } | null;
}

export interface AlarmServiceDeps {
  store: AlarmStore;
  fleet: Pick<FleetState, 'listen' | 'observations' | 'observation' | 'verdict'>;
  /** The area tree as it is now: a new object after the areas changed. */
  areaIndex: () => AreaIndex;
  settings: AlarmSettings;
  jobs: Jobs;
  log: Logger;
  now: () => number;
  /** The updates store's finished attempts: a failed one raises update_failed (update-faults.ts). None: no update alarms. */
  updates?: UpdateAttempts;
  /** How long a follower waits for the holder's answer (ACTION_WAIT_MS; shorter in tests). */
  actionWaitMs?: number;
}

/**
 * A look at the updates store reaches back this far before the last one:
 * an attempt finished by another server, whose clock may be a little behind
 * this one's, or committed while the last look ran, is still seen.
 */
const UPDATES_OVERLAP_MS = 60_000;
/** What a restored update_failed alarm's site was "given": no identity, so whatever it is given next differs. */
const RESTORED = '\u0000restored';

export class AlarmService {
  private engine: AlarmEngine | undefined;
  private summary: AlarmAreaSummary | undefined;
  private ctx: AlarmEngineContext | undefined;
  private readonly listeners: AlarmListener[] = [];
  private unlisten: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | null = null;
  private readonly tickJob: () => void;
  private running = false;
  /** This server runs the engine and writes (the 'alarms' lease's holder, or the only server). */
  private leading = false;
  private stopped = false;
  private taking = false;
  /** The update faults each site was last given (by identity), and when the updates store was last looked at. */
  private readonly fedUpdates = new Map<string, string>();
  private updatesLookedAt: number | null = null;
  private lookingAtUpdates = false;

  /** Effects decided and not yet handed to a write, and the write queue. */
  private queued: AlarmEffect[] = [];
  private attempts = 0;
  private writes: Promise<void> = Promise.resolve();
  /** Effects handed to the queue, and those written or given up, since start: an action waits until `done` passes its own. */
  private enqueued = 0;
  private done = 0;
  private lastWriteError: unknown;
  private writeScheduled = false;
  private failing = false;
  private readonly stats: AlarmWriteStats = { writes: 0, effects: 0, failures: 0, dropped: 0, pending: 0, lastError: null };

  constructor(private readonly deps: AlarmServiceDeps) {
    this.tickJob = deps.jobs.guard('alarms', () => this.tick());
  }

  /** The only server: restore from the store, feed every site's verdict once, then follow the fleet. */
  async start(): Promise<void> {
    this.listenToFleet();
    await this.lead();
  }

  /** One of several servers: start as a follower of the store; the feature calls lead() when this server holds the 'alarms' lease. */
  async startFollowing(): Promise<void> {
    this.listenToFleet();
    await this.mirror();
  }

  /** This server runs the alarms from now: the store's open alarms restored, every site's verdict fed once. */
  async lead(): Promise<void> {
    if (this.stopped) return;
    const state = await restoreAlarmStateFrom(this.deps.store);
    const lookedAt = this.deps.now();
    const updates = await readUpdateFaults(this.deps.updates, 0);
    if (this.stopped) return;
    this.build(state);
    this.leading = true;
    this.running = true;
    const at = this.deps.now();
    // Before the verdicts: a verdict reconciles the site's external faults too, and would take a restored update_failed alarm for one whose fault went away.
    this.fedUpdates.clear();
    for (const a of state.open.values()) {
      if (a.kind !== 'update_failed') continue;
      // Given again whatever it is now: the restored alarm is kept, or ends if its fault went away while no server looked.
      this.fedUpdates.set(a.siteId, RESTORED);
      if (!updates.has(a.siteId)) updates.set(a.siteId, []);
    }
    for (const [siteId, faults] of updates) this.feedUpdateFaults(siteId, faults, at);
    this.updatesLookedAt = lookedAt;
    for (const o of this.deps.fleet.observations()) {
      const v = this.deps.fleet.verdict(o.siteId);
      if (v)
        this.run({ type: 'verdict', at, site: { siteId: o.siteId, kind: o.kind, areaId: o.areaId }, verdict: { siteId: v.siteId, condition: v.condition, reasons: v.reasons } });
    }
    this.armTimer();
  }

  /** Another server runs the alarms now: what was not written is dropped (it derives it again), and this memory follows the store. */
  async follow(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = null;
    if (this.queued.length > 0) this.deps.log.warn({ effects: this.queued.length }, 'alarms: the lease was lost before these were written; the holder derives them again');
    this.done += this.queued.length;
    this.queued = [];
    this.fedUpdates.clear();
    this.updatesLookedAt = null;
    await this.writes;
    await this.mirror();
  }

  /**
   * The holder: the update attempts finished since the last look (by any
   * server: the store is where every server's reports meet), each site whose
   * update faults changed given them (the feature's job calls it every few
   * seconds). A site whose latest attempt failed gets its update_failed
   * alarm, one whose later attempt succeeded has it cleared.
   */
  async syncUpdates(): Promise<number> {
    if (!this.leading || this.lookingAtUpdates || this.updatesLookedAt === null || !this.deps.updates) return 0;
    this.lookingAtUpdates = true;
    try {
      const lookedAt = this.deps.now();
      const updates = await readUpdateFaults(this.deps.updates, this.updatesLookedAt - UPDATES_OVERLAP_MS);
      if (!this.leading) return 0;
      let n = 0;
      const at = this.deps.now();
      for (const [siteId, faults] of updates) if (this.feedUpdateFaults(siteId, faults, at)) n++;
      this.updatesLookedAt = lookedAt;
      return n;
    } finally {
      this.lookingAtUpdates = false;
    }
  }

  /** Gives the engine a site's update faults when they differ from what it was last given; true when it did. */
  private feedUpdateFaults(siteId: string, faults: ExternalFault[], at: number): boolean {
    const identity = faultsIdentity(faults);
    if ((this.fedUpdates.get(siteId) ?? '') === identity) return false;
    const site = this.siteOf(siteId);
    if (!site) return false;
    this.fedUpdates.set(siteId, identity);
    this.run({ type: 'external_faults', at, site, faults });
    return true;
  }

  /**
   * A follower's memory, read again from the store (the feature's job calls
   * it every few seconds). What changed since the last read is told to the
   * listeners as the holder's engine told it (raised, updated, cleared), so
   * this server's consoles follow the alarms too; the notifier ignores it
   * (it tells people on the holder only).
   */
  async mirror(): Promise<void> {
    if (this.leading || this.stopped) return;
    const before = this.engine ? new Map([...this.engine.state.open.values()].map((a) => [a.id, a])) : undefined;
    const state = await restoreAlarmStateFrom(this.deps.store);
    if (this.leading || this.stopped) return;
    this.build(state);
    if (!before || this.listeners.length === 0) return;
    for (const e of mirroredEvents(before, state.open.values())) this.tell(e);
    // Gone from the open ones: cleared by the holder (or dropped, never shown).
    for (const [id, was] of before) {
      if (state.keyOfId.has(id) || was.state === 'pending') continue;
      const now = await this.deps.store.alarm(id);
      if (now?.state === 'cleared') this.tell({ type: 'alarm_cleared', alarm: now });
    }
  }

  /** The open alarms that are shown and nobody owns yet (raised), as this server knows them now. */
  unowned(): Alarm[] {
    return [...(this.engine?.state.open.values() ?? [])].filter((a) => a.state === 'raised');
  }

  /** Whether this server runs the engine now. */
  get isLeading(): boolean {
    return this.leading;
  }

  /**
   * The holder: the people's actions asked on other servers, decided through
   * the engine in the order asked, each answered once its effects are
   * written. A row a dead holder decided but did not answer is decided again:
   * the engine then refuses it as already done, and when it was done by the
   * same person at the same moment it is answered 'ok' (not a refusal of the
   * person's own action).
   */
  async takeActions(): Promise<number> {
    if (!this.leading || this.taking) return 0;
    this.taking = true;
    try {
      const rows = await this.deps.store.pendingActions();
      let n = 0;
      for (const r of rows) {
        if (!this.leading) break;
        const input: AlarmInput =
          r.type === 'acknowledge'
            ? { type: 'acknowledge', at: r.at, alarmId: r.alarmId, by: r.by, note: r.note }
            : { type: 'clear', at: r.at, alarmId: r.alarmId, by: r.by, note: r.note ?? '' };
        const x = this.run(input);
        const result = x.rejected ? await this.refusalOf(r, x.rejected) : (await this.settled(), 'ok');
        await this.deps.store.decideAction(r.id, result, this.deps.now());
        n++;
      }
      return n;
    } finally {
      this.taking = false;
    }
  }

  private listenToFleet(): void {
    this.unlisten = this.deps.fleet.listen({
      verdictChanged: (c) => {
        const site = this.siteOf(c.siteId);
        if (site) this.run({ type: 'verdict', at: c.at, site, verdict: c.verdict });
      },
      // A moved site: its alarms follow it to the new area (the engine's followSite) with its verdict as it stands.
      siteChanged: (id) => {
        const site = this.siteOf(id);
        const v = this.deps.fleet.verdict(id);
        if (site && v) this.run({ type: 'verdict', at: this.deps.now(), site, verdict: { siteId: v.siteId, condition: v.condition, reasons: v.reasons } });
      },
      siteRemoved: (id) => this.run({ type: 'site_removed', at: this.deps.now(), siteId: id }),
    });
  }

  /** Stops following the fleet and the timer, then waits for what was decided to be written. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    this.unlisten?.();
    this.unlisten = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
    await this.writes;
  }

  /** Told of every alarm event (see the top of this file). Returns the unsubscribe. */
  onAlarmEvent(listener: AlarmListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Time alone changes something now (a pending delay or hold-down ended). */
  tick(): void {
    this.timer = undefined;
    this.timerAt = null;
    this.run({ type: 'tick', at: this.deps.now() });
  }

  /** A person owns the alarm. Resolves once stored; a refusal is the engine's code (refusals.ts makes it an answer). */
  async acknowledge(alarmId: string, by: string, note: string | null): Promise<{ ok: true; alarm: Alarm } | { ok: false; error: AlarmError }> {
    if (!this.leading) return this.viaHolder({ type: 'acknowledge', at: this.deps.now(), alarmId, by, note });
    return this.act({ type: 'acknowledge', at: this.deps.now(), alarmId, by, note }, alarmId);
  }

  /** A person says it is over, with a note (refused while the fault is seen: ALARM_CONDITION_ACTIVE). */
  async clear(alarmId: string, by: string, note: string): Promise<{ ok: true; alarm: Alarm } | { ok: false; error: AlarmError }> {
    if (!this.leading) return this.viaHolder({ type: 'clear', at: this.deps.now(), alarmId, by, note });
    return this.act({ type: 'clear', at: this.deps.now(), alarmId, by, note }, alarmId);
  }

  /** A person's words on an alarm, open or cleared: after every write before it, so the alarm's row is there. */
  async comment(alarmId: string, by: string, note: string): Promise<AlarmComment> {
    const c: AlarmComment = { alarmId, at: this.deps.now(), by, note };
    this.flush();
    await this.writes;
    await this.deps.store.comment(c);
    return c;
  }

  /** An alarm as it is now: the engine's when open (the store may be one write behind), else the store's. */
  async alarm(id: string): Promise<Alarm | undefined> {
    const key = this.engine?.state.keyOfId.get(id);
    const open = key === undefined ? undefined : this.engine!.state.open.get(key);
    if (open) return open;
    await this.settled();
    return this.deps.store.alarm(id);
  }

  async incident(id: string): Promise<Incident | undefined> {
    return this.engine?.state.incidents.get(id) ?? (await this.settled(), this.deps.store.incident(id));
  }

  /** Waits until everything decided so far is written (or given up): reads of the store after it see it. */
  async settled(): Promise<void> {
    this.flush();
    await this.writes;
  }

  /** The live area summary (open alarms by severity and state, per area, up the tree). */
  areaSummary(): AlarmAreaSummary {
    this.refreshContext();
    return this.summary!;
  }

  writeStats(): AlarmWriteStats {
    return { ...this.stats, pending: this.queued.length };
  }

  get store(): AlarmStore {
    return this.deps.store;
  }

  // ---------------------------------------------------------------- inside ----

  private build(state: AlarmEngineState): void {
    this.ctx = { index: this.deps.areaIndex(), ...alarmPolicies(this.deps.settings) };
    this.engine = new AlarmEngine(this.ctx, state);
    this.summary = AlarmAreaSummary.build(this.ctx.index, this.engine.state.open.values());
  }

  /**
   * A person's action on a follower: asked of the holder through the store,
   * answered when it decided (this server may become the holder meanwhile and
   * answer it itself). No holder within ACTION_WAIT_MS: LOANET_ALARM_ACTION_PENDING
   * (503, the person is told it is kept), and the action stays asked: the
   * next holder decides it.
   */
  private async viaHolder(req: AlarmActionRequest): Promise<{ ok: true; alarm: Alarm } | { ok: false; error: AlarmError }> {
    const id = await this.deps.store.requestAction(req);
    const waitMs = this.deps.actionWaitMs ?? ACTION_WAIT_MS;
    const until = performance.now() + waitMs;
    let result: string | undefined;
    for (;;) {
      result = await this.deps.store.actionResult(id);
      if (result !== undefined || performance.now() >= until) break;
      await new Promise((r) => setTimeout(r, ACTION_POLL_MS));
    }
    if (result === undefined) throw fail('LOANET_ALARM_ACTION_PENDING', { id: req.alarmId, action: req.type, waitedS: Math.round(waitMs / 1000) });
    await this.deps.store.forgetActions([id], this.deps.now() - ACTION_KEEP_MS);
    await this.mirror();
    if (result !== 'ok') return { ok: false, error: { code: result as AlarmError['code'], alarmId: req.alarmId } };
    const a = await this.alarm(req.alarmId);
    return a ? { ok: true, alarm: a } : { ok: false, error: { code: 'ALARM_NOT_FOUND', alarmId: req.alarmId } };
  }

  /** A refusal as the asker is answered: its own action already done (by a holder that died before answering) is 'ok'. */
  private async refusalOf(r: AlarmActionRequest, e: AlarmError): Promise<string> {
    if (e.code === 'ALARM_ALREADY_ACKNOWLEDGED') {
      const a = await this.alarm(r.alarmId);
      return a?.acknowledged?.by === r.by && a.acknowledged.at === r.at ? 'ok' : e.code;
    }
    if (e.code === 'ALARM_NOT_FOUND') {
      const a = await this.alarm(r.alarmId);
      if (a?.state !== 'cleared') return e.code;
      return r.type === 'clear' && a.cleared?.by === r.by && a.cleared.at === r.at ? 'ok' : 'ALARM_ALREADY_CLEARED';
    }
    return e.code;
  }

  private siteOf(siteId: string): AlarmSite | undefined {
    const o = this.deps.fleet.observation(siteId);
    return o ? { siteId, kind: o.kind, areaId: o.areaId } : undefined;
  }

  /** The area tree changed (an import, an area created): the engine's indexes and the summary are rebuilt on it. */
  private refreshContext(): void {
    const index = this.deps.areaIndex();
    if (!this.ctx || !this.engine || index === this.ctx.index) return;
    this.ctx = { ...this.ctx, index };
    this.engine.setContext(this.ctx);
    this.summary = AlarmAreaSummary.build(index, this.engine.state.open.values());
  }

  private async act(input: AlarmInput, alarmId: string): Promise<{ ok: true; alarm: Alarm } | { ok: false; error: AlarmError }> {
    const r = this.run(input);
    if (r.rejected) {
      // The engine knows open alarms only: a cleared one is refused as such, not as unknown.
      if (r.rejected.code === 'ALARM_NOT_FOUND') {
        const stored = await this.alarm(alarmId);
        if (stored?.state === 'cleared') return { ok: false, error: { code: 'ALARM_ALREADY_CLEARED', alarmId } };
      }
      return { ok: false, error: r.rejected };
    }
    const mine = this.enqueued;
    await this.settled();
    // Not stored yet (the write failed and waits for its retry): the person is told it failed, not that it is done.
    if (this.done < mine) throw this.lastWriteError;
    const a = await this.alarm(alarmId);
    return { ok: true, alarm: a! };
  }

  private run(input: AlarmInput): { rejected: AlarmError | null } {
    if (!this.engine || !this.leading) return { rejected: { code: 'ALARM_NOT_FOUND', alarmId: 'alarmId' in input ? input.alarmId : '' } };
    this.refreshContext();
    const r = this.engine.step(input);
    if (r.effects.length > 0) {
      applyToSummary(this.summary!, r.effects);
      this.queued.push(...r.effects);
      this.enqueued += r.effects.length;
      this.scheduleWrite();
      for (const e of r.effects) if (e.type !== 'history') this.tell(e);
    }
    this.armTimer();
    return { rejected: r.rejected };
  }

  private tell(e: AlarmEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.deps.log.error({ err, event: e.type }, 'an alarm listener failed');
      }
    }
  }

  /** One timer, at the engine's next due time; re-armed only when that time moved. */
  private armTimer(): void {
    if (!this.engine || !this.running) return;
    const due = this.engine.nextDueAt();
    if (due === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = due;
    if (due === null) return;
    // At least 1 ms: a due time already past runs on the next turn, never inside the step that set it.
    this.timer = setTimeout(this.tickJob, Math.max(1, due - this.deps.now()));
    this.timer.unref();
  }

  private scheduleWrite(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    this.writes = this.writes.then(() => this.write());
  }

  /** Queue a write of what is decided now, or of what a failed write kept (the feature's job calls it every few seconds). */
  flush(): void {
    if (this.queued.length > 0) this.scheduleWrite();
  }

  private async write(): Promise<void> {
    this.writeScheduled = false;
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    try {
      await this.deps.store.apply(batch);
      this.stats.writes += 1;
      this.stats.effects += batch.length;
      this.done += batch.length;
      this.attempts = 0;
      if (this.failing) this.deps.log.info({ effects: batch.length }, 'alarms: writing to the store works again');
      this.failing = false;
    } catch (err) {
      this.stats.failures += 1;
      this.stats.lastError = { at: this.deps.now(), message: (err as Error).message };
      this.lastWriteError = err;
      this.attempts += 1;
      if (this.attempts >= MAX_ATTEMPTS) {
        // Given up: kept in memory (the engine has them), lost to the store until they change again.
        this.stats.dropped += batch.length;
        this.done += batch.length;
        this.attempts = 0;
        const ids = [...new Set(batch.flatMap((e) => ('alarm' in e ? [e.alarm.id] : [])))].slice(0, 20);
        this.deps.log.error({ err, effects: batch.length, alarms: ids }, `alarms: a write failed ${MAX_ATTEMPTS} times; given up`);
      } else {
        // Kept, in order, before what was decided meanwhile: retried with the next write.
        this.queued = [...batch, ...this.queued];
        if (!this.failing) this.deps.log.error({ err, effects: batch.length }, 'alarms: writing to the store failed; retried with the next write');
        this.failing = true;
      }
    }
  }
}

/** The open alarms' changes between two reads of the store, as the engine's events: a shown alarm new or just shown is raised, one changed is updated. */
export function mirroredEvents(before: ReadonlyMap<string, Alarm>, after: Iterable<Alarm>): AlarmEvent[] {
  const out: AlarmEvent[] = [];
  for (const a of after) {
    if (a.state === 'pending') continue;
    const was = before.get(a.id);
    if (!was || was.state === 'pending') out.push({ type: 'alarm_raised', alarm: a });
    else if (was.updatedAt !== a.updatedAt || was.state !== a.state || was.count !== a.count || was.severity !== a.severity || was.incidentId !== a.incidentId)
      out.push({ type: 'alarm_updated', alarm: a });
  }
  return out;
}
