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
 * tells every stored change (the console's event stream listens).
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
import { VERIFICATION_ACTOR, type WorkOrder, type WorkOrderAction, type WorkOrderError, type WorkOrderEvent, type WorkOrderResult } from './model.ts';
import type { WorkOrderStore } from './store.ts';

/** How often every resolved order is looked at, whatever the fleet said. */
export const SWEEP_MS = 30_000;
/** A requested sound check waits this long for the site (as the scheduler's). */
export const SOUND_CHECK_TTL_S = 600;

export interface WorkOrderChange {
  order: WorkOrder;
  event: WorkOrderEvent;
}

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

  constructor(private readonly deps: MaintenanceDeps) {}

  /** Follow the fleet, look at every resolved order once, and sweep periodically. */
  async start(): Promise<void> {
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
    const o = await this.deps.store.create(this.blank({ source: 'alarm', alarmId: a.id, faultKind: a.kind, siteId: a.siteId, areaId: a.areaId, notes, at: now, by }), by);
    if (!o) return refused('WORK_ORDER_ALARM_HAS_ORDER', null);
    this.tell(o, { orderId: o.id, at: now, by, action: 'create', from: null, to: o.state, detail: { source: 'alarm', alarmId } });
    return { ok: true, value: o };
  }

  /** Planned maintenance of a site (the caller found the site and its area). */
  async planned(site: { siteId: string; areaId: number }, by: string, notes: string | null): Promise<WorkOrder> {
    const now = this.deps.now();
    const o = await this.deps.store.create(this.blank({ source: 'planned', alarmId: null, faultKind: null, ...site, notes, at: now, by }), by);
    if (!o) throw new Error('maintenance: a planned order was refused as a duplicate');
    this.tell(o, { orderId: o.id, at: now, by, action: 'create', from: null, to: o.state, detail: { source: 'planned' } });
    return o;
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
