/**
 * The maintenance log at work: work orders made from alarms or sites, a
 * person's actions decided by the pure lifecycle (lifecycle.ts) and written
 * by the store's conditional updates, and the automatic close when a
 * resolved order's site is verified operational again.
 *
 * Verification follows the fleet: a verdict turning operational and a
 * verified sound check (the site event) make the service look at that
 * site's resolved orders; a sweep every SWEEP_MS and one at start look at
 * all of them, for what was heard while the server was down or on another
 * server. Several servers: each may try to close; the store's
 * `UPDATE … WHERE state = 'resolved' AND updated_at = …` lets one win, the
 * others write nothing (no lease needed; see store.ts).
 *
 *     const unsubscribe = maintenance.onChange((c: WorkOrderChange) => { ... });
 *
 * tells every stored change (the console's event stream listens): this
 * server's at once, and every other server's on one database once, read
 * from the store's feed every MIRROR_MS (mirror()), so a console hears a
 * change whichever server the load balancer gave its stream to.
 */
import type { AlarmService } from '../alarms/service.ts';
import type { User, UserRepository } from '../auth/users.ts';
import type { Jobs } from '../feature.ts';
import type { Logger } from '../fleet/broker.ts';
import type { CommandRecord, CommandService } from '../fleet/commands.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { can } from '../http/auth.ts';
import { KeyedSerial } from '../keyed-serial.ts';
import { applyAction, isVerifiedAfter, type SiteVerification } from './lifecycle.ts';
import { VERIFICATION_ACTOR, type WorkOrder, type WorkOrderAction, type WorkOrderChange, type WorkOrderError, type WorkOrderEvent, type WorkOrderResult } from './model.ts';
import type { WorkOrderStore } from './store.ts';

export type { WorkOrderChange } from './model.ts';

/** How often every resolved order is looked at, whatever the fleet said. */
export const SWEEP_MS = 30_000;
/** A requested sound check waits this long for the site (as the scheduler's). */
export const SOUND_CHECK_TTL_S = 600;
/** How far behind another server a console here hears its work order changes. */
export const MIRROR_MS = 2000;
/** Changes read from the feed at once. */
const MIRROR_BATCH = 500;
/** The feed keeps this many newest changes (hours of a province's work at any pace a person keeps); older ones are deleted every FEED_TRIM_MS. */
const FEED_KEEP = 10_000;
const FEED_TRIM_MS = 10 * 60_000;

export interface MaintenanceDeps {
  store: WorkOrderStore;
  alarms: Pick<AlarmService, 'alarm'>;
  fleet: Pick<FleetState, 'listen' | 'observation' | 'verdict'>;
  commands: Pick<CommandService, 'issue'>;
  users: Pick<UserRepository, 'byId'>;
  /** An area and its ancestors, the area first (coverage.areaPath). */
  areaPath: (areaId: number) => readonly number[];
  jobs: Jobs;
  log: Logger;
  now: () => number;
  /** How often other servers' changes are read (MIRROR_MS; tests may look sooner). */
  mirrorMs?: number;
}

const refused = (code: WorkOrderError['code'], orderId: number | null): { ok: false; error: WorkOrderError } => ({ ok: false, error: { code, orderId } });

/** Whether an order of a site on `sitePath` (its area and the area's ancestors) may be given to `u`: enabled, may act on sites, and its area covers the site. */
export function mayBeAssigned(u: Pick<User, 'role' | 'areaId' | 'disabledAt'>, sitePath: readonly number[]): boolean {
  return u.disabledAt === null && can(u.role, 'site.command') && (u.areaId === null || sitePath.includes(u.areaId));
}

export class MaintenanceService {
  private readonly listeners = new Set<(c: WorkOrderChange) => void>();
  private readonly perSite = new KeyedSerial();
  private unlisten: (() => void) | undefined;
  /** The newest feed change this server's listeners were told of (theirs or another server's); unknown until the first mirror. */
  private fedSeq: number | undefined;
  private mirroring: Promise<number> | undefined;

  constructor(private readonly deps: MaintenanceDeps) {}

  /** Follow the fleet and the other servers' changes, look at every resolved order once, and sweep periodically. */
  async start(): Promise<void> {
    // From here on, what another server stores is told here.
    await this.mirror();
    this.unlisten = this.deps.fleet.listen({
      verdictChanged: (c) => {
        if (c.verdict.condition === 'operational') this.verifyLater(c.siteId);
      },
      // The fleet evaluated the check before telling its listeners: the verdict now is the one the check left.
      siteEvent: (siteId, m) => {
        if (m.type === 'sound_check' && m.ok) this.verifyLater(siteId, this.siteNow(siteId, true));
      },
    });
    await this.sweep();
    this.deps.jobs.every('maintenance.verify-sweep', SWEEP_MS, () => this.sweep());
    this.deps.jobs.every('maintenance.mirror', this.deps.mirrorMs ?? MIRROR_MS, () => this.mirror());
    this.deps.jobs.every('maintenance.feed-trim', FEED_TRIM_MS, () => this.deps.store.trimFeed(FEED_KEEP));
  }

  /**
   * The changes other servers stored since the last look, told to this
   * server's listeners in the order they were stored; the first look only
   * notes where the feed stands. Resolves to how many were told.
   */
  mirror(): Promise<number> {
    // One look at a time: two overlapping ones would tell the same changes twice.
    this.mirroring ??= this.mirrorOnce().finally(() => {
      this.mirroring = undefined;
    });
    return this.mirroring;
  }

  private async mirrorOnce(): Promise<number> {
    if (this.fedSeq === undefined) {
      this.fedSeq = await this.deps.store.feedHead();
      return 0;
    }
    let told = 0;
    for (;;) {
      const batch = await this.deps.store.feedAfter(this.fedSeq, MIRROR_BATCH);
      for (const c of batch) {
        this.fedSeq = c.seq;
        // This server's own changes were told as they were stored.
        if (c.mine) continue;
        this.tell(c.order, c.event);
        told += 1;
      }
      if (batch.length < MIRROR_BATCH) return told;
    }
  }

  stop(): void {
    this.deps.jobs.stop();
    this.unlisten?.();
    this.unlisten = undefined;
  }

  onChange(listener: (c: WorkOrderChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get store(): WorkOrderStore {
    return this.deps.store;
  }

  /** A work order from an alarm (refused when the alarm already has an active one). */
  async fromAlarm(alarmId: string, by: string, notes: string | null): Promise<WorkOrderResult<WorkOrder>> {
    const a = await this.deps.alarms.alarm(alarmId);
    if (!a || a.state === 'pending') return refused('WORK_ORDER_NOT_FOUND', null);
    const now = this.deps.now();
    const c = await this.deps.store.createChange(this.blank({ source: 'alarm', alarmId: a.id, faultKind: a.kind, siteId: a.siteId, areaId: a.areaId, notes, at: now, by }), by);
    if (!c) return refused('WORK_ORDER_ALARM_HAS_ORDER', null);
    this.tell(c.order, c.event);
    return { ok: true, value: c.order };
  }

  /** Planned maintenance of a site (the caller found the site and its area). */
  async planned(site: { siteId: string; areaId: number }, by: string, notes: string | null): Promise<WorkOrder> {
    const now = this.deps.now();
    const c = await this.deps.store.createChange(this.blank({ source: 'planned', alarmId: null, faultKind: null, ...site, notes, at: now, by }), by);
    if (!c) throw new Error('maintenance: a planned order was refused as a duplicate');
    this.tell(c.order, c.event);
    return c.order;
  }

  /**
   * A person's action. `assign` names a user by id: refused unless that user
   * may act on sites (site.command) and their area covers the order's site.
   * A concurrent change is decided again on the order as it now stands (once).
   */
  async act(orderId: number, action: WorkOrderAction, by: string): Promise<WorkOrderResult<WorkOrder>> {
    if (action.type === 'close') throw new Error('maintenance: closing is the verification’s, not a person’s');
    if (action.type === 'assign') {
      const u = await this.deps.users.byId(action.assignee.userId);
      const o = await this.deps.store.get(orderId);
      if (!o) return refused('WORK_ORDER_NOT_FOUND', orderId);
      if (!u || !mayBeAssigned(u, this.deps.areaPath(o.areaId))) return refused('WORK_ORDER_ASSIGNEE_OUT_OF_AREA', orderId);
      action = { type: 'assign', assignee: { userId: u.id, username: u.username } };
    }
    for (let attempt = 0; ; attempt++) {
      const prev = await this.deps.store.get(orderId);
      if (!prev) return refused('WORK_ORDER_NOT_FOUND', orderId);
      const r = applyAction(prev, action, by, Math.max(this.deps.now(), prev.updatedAt + 1));
      if (!r.ok) return r;
      if (await this.deps.store.change(prev, r.value.order, r.value.event)) {
        this.tell(r.value.order, r.value.event);
        return { ok: true, value: r.value.order };
      }
      if (attempt >= 1) return { ok: false, error: { code: 'WORK_ORDER_STATE', orderId, state: prev.state, action: action.type } };
    }
  }

  /** Ask the site for a sound check now (the verification that closes a resolved order). */
  requestSoundCheck(order: WorkOrder, by: string): Promise<CommandRecord> {
    return this.deps.commands.issue(order.siteId, 'sound_check', {}, SOUND_CHECK_TTL_S, by);
  }

  /** Look at every resolved order (start, and every SWEEP_MS). Resolves with the number closed here. */
  async sweep(): Promise<number> {
    const sites = new Set((await this.deps.store.resolvedOf()).map((o) => o.siteId));
    let closed = 0;
    for (const s of sites) closed += await this.verify(s);
    return closed;
  }

  /**
   * Close the site's resolved orders that its state verifies (`heard`: the
   * state as a sound check just left it; else as it is when this runs); one
   * site at a time, in order. Resolves with how many this call closed.
   */
  verify(siteId: string, heard?: SiteVerification): Promise<number> {
    return this.perSite.run(siteId, async () => {
      const site = heard ?? this.siteNow(siteId, false);
      let closed = 0;
      for (const o of await this.deps.store.resolvedOf(siteId)) {
        if (o.resolvedAt === null || !isVerifiedAfter(o.resolvedAt, site)) continue;
        const r = applyAction(o, { type: 'close', verifiedAt: site.lastSoundVerifiedAt! }, VERIFICATION_ACTOR, Math.max(this.deps.now(), o.updatedAt + 1));
        if (!r.ok) continue;
        // False: another server (or an earlier call) closed it first; nothing written, nothing told.
        if (await this.deps.store.change(o, r.value.order, r.value.event)) {
          closed += 1;
          this.tell(r.value.order, r.value.event);
        }
      }
      return closed;
    });
  }

  // ---------------------------------------------------------------- inside ----

  /** The site's verification state now; `justHeard`: a sound check was just applied, so the verdict is the one it left. */
  private siteNow(siteId: string, justHeard: boolean): SiteVerification {
    const v = this.deps.fleet.verdict(siteId);
    return {
      lastSoundVerifiedAt: this.deps.fleet.observation(siteId)?.lastSoundVerifiedAt ?? null,
      condition: v?.condition,
      conditionSince: justHeard ? null : (v?.since ?? null),
    };
  }

  private verifyLater(siteId: string, heard?: SiteVerification): void {
    this.verify(siteId, heard).catch((err: unknown) => this.deps.log.error({ err, siteId }, 'maintenance: verifying a site’s resolved orders failed; the sweep retries'));
  }

  private blank(o: {
    source: WorkOrder['source'];
    alarmId: string | null;
    faultKind: WorkOrder['faultKind'];
    siteId: string;
    areaId: number;
    notes: string | null;
    at: number;
    by: string;
  }): Omit<WorkOrder, 'id'> {
    return {
      source: o.source,
      alarmId: o.alarmId,
      faultKind: o.faultKind,
      siteId: o.siteId,
      areaId: o.areaId,
      state: 'open',
      assignee: null,
      visitPlannedFor: null,
      parts: [],
      notes: o.notes,
      resolution: null,
      createdAt: o.at,
      createdBy: o.by,
      updatedAt: o.at,
      resolvedAt: null,
      resolvedBy: null,
      verifiedAt: null,
      closedAt: null,
      cancelledAt: null,
    };
  }

  private tell(order: WorkOrder, event: WorkOrderEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l({ order, event });
      } catch (err) {
        this.deps.log.error({ err }, 'a work order listener failed');
      }
    }
  }
}
