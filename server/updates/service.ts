/**
 * Rollouts of a release to the fleet: the shell around the pure decisions of
 * rollout.ts. It stores what the planner (planner.ts) made of a request
 * (the targets inside the caller's area, the sites left out and why, the
 * waves), and on each tick asks stepRollout which sites start now: each gets its order
 * retained on `sites/{id}/update` (protocol/update.ts). The sites' reports
 * (update_status events, telemetry.update in heartbeats) move them; a site
 * silent too long is failed (`no_report`); a finished site's order is
 * cleared. Pause, resume and abort are a person's, the stops at the error
 * threshold the rollout's own: every transition is in the audit log.
 *
 * Everything lives in SQLite (store.ts); the embedded broker forgets its
 * retained messages on a restart, so `republish()` at start sends every
 * installing site its order again. Operations run one at a time, in the
 * order asked: a report cannot interleave with a tick and be overwritten.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { encodeJson, PROTOCOL_VERSION, siteTopic, UpdateOrder, type UpdateReport } from '../../protocol/index.ts';
import type { AuditLog } from '../audit.ts';
import { fail } from '../errors.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { Site } from '../registry/sites.ts';
import type { SiteActivity } from './activity.ts';
import { silentTooLong, siteAfterReport, stepRollout, type RolloutReason, type RolloutStatus, type RolloutStep, type SiteNow, type SiteRolloutState } from './rollout.ts';
import type { RolloutPlan, RolloutRow, RolloutSiteRow, RolloutStore } from './store.ts';
import { RolloutPlanner, type DryRun, type RolloutActor, type RolloutInput, type RolloutPlannerDeps } from './planner.ts';

export { ROLLOUT_DEFAULTS, type DryRun, type DryRunSite, type RolloutActor, type RolloutInput } from './planner.ts';

export interface RolloutSiteView {
  siteId: string;
  name: string | null;
  areaKey: string | null;
  wave: number | null;
  state: SiteRolloutState;
  /** The site's own latest report state (downloading, testing, rolled_back …), null before any. */
  reportState: string | null;
  bytes: number | null;
  total: number | null;
  reason: string | null;
  detail: string | null;
  fromVersion: string | null;
  toVersion: string;
  startedAt: number | null;
  finishedAt: number | null;
  heardAt: number | null;
  devices: Array<{ id: string; state: string; bytes: number | null; reason: string | null }>;
}

export interface RolloutSummary {
  id: string;
  releaseId: string;
  component: string | null;
  version: string | null;
  status: RolloutStatus;
  wave: number;
  /** Why the status last changed: a code and its params (rollout.ts RolloutReason), worded by the console. */
  reason: RolloutReason | null;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
  sites: number;
  counts: { waiting: number; installing: number; updated: number; failed: number };
}

/** A rollout's spec as answered (its order seed left out). */
export interface RolloutSpecView {
  waves: Array<{ name: string; sites?: string[]; percent?: number }>;
  successThreshold: number;
  errorThreshold: number;
  minFinished: number;
  onError: 'pause' | 'abort';
  maxInFlight: number;
  excludedHours?: Array<{ from: string; to: string }>;
  broadcastMarginMs: number;
}

export interface RolloutDetail extends RolloutSummary {
  spec: RolloutSpecView;
  targets: RolloutPlan['targets'];
  budgetBytes: number;
  healthTimeoutS: number;
  noReportS: number;
  waves: Array<{ name: string; size: number; waiting: number; installing: number; updated: number; failed: number }>;
  held: RolloutStep['held'];
  siteList: RolloutSiteView[];
}

export interface RolloutServiceDeps extends Omit<RolloutPlannerDeps, 'store'> {
  store: RolloutStore;
  /** What the targeted sites play now and when they next must (activity.ts, fed by alerts, live streams and the schedule). */
  activity: (sites: readonly Site[], now: number) => Promise<Map<string, SiteActivity>>;
  broker: Pick<BrokerLink, 'publish'>;
  audit: Pick<AuditLog, 'record'>;
  now: () => number;
  log: Logger;
}

const checkOrder = TypeCompiler.Compile(UpdateOrder);
/** Events within this long make one tick. */
const KICK_MS = 250;
const NO_COUNTS = () => ({ waiting: 0, installing: 0, updated: 0, failed: 0 });
/** A wave as the audit log names it: by its name (a reader counts waves from 1, the index from 0). */
const waveName = (r: RolloutRow, wave: number) => r.plan.spec.waves[wave]?.name ?? String(wave + 1);

export class RolloutService {
  private chain: Promise<unknown> = Promise.resolve();
  private kickTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly stats = { orders: 0, cancels: 0, cleared: 0, reports: 0, silent: 0 };

  private readonly planner: RolloutPlanner;

  constructor(private readonly d: RolloutServiceDeps) {
    this.planner = new RolloutPlanner(d);
  }

  // ------------------------------------------------------------ reads ----

  /** Which sites a request would update (with their wave) and which it leaves out, and why. Nothing is stored. */
  async dryRun(input: RolloutInput, actor: RolloutActor): Promise<DryRun> {
    return (await this.planner.plan(input, actor, 'dry-run')).dry;
  }

  async list(actor: Pick<RolloutActor, 'areaId'>, limit = 200): Promise<RolloutSummary[]> {
    const out: RolloutSummary[] = [];
    for (const r of await this.d.store.list(limit)) {
      const rows = await this.visibleRows(r, actor);
      if (rows) out.push(await this.summary(r, rows));
    }
    return out;
  }

  /** One rollout, each wave's counts and each site, as the caller's scope shows it; 404 when none of its sites is visible. */
  async detail(id: string, actor: Pick<RolloutActor, 'areaId'>): Promise<RolloutDetail> {
    const r = await this.d.store.get(id);
    const rows = r ? await this.visibleRows(r, actor) : undefined;
    if (!r || !rows) throw fail('LOANET_ROLLOUT_NOT_FOUND', { id });
    const release = await this.d.releases.get(r.releaseId);
    const waves = r.plan.spec.waves.map((w) => ({ name: w.name, size: 0, ...NO_COUNTS() }));
    for (const s of rows) {
      const w = s.wave === null ? undefined : waves[s.wave];
      if (!w) continue;
      w.size++;
      w[s.state]++;
    }
    // Why waiting sites of the running wave do not start now: a step computed, not applied.
    const held = r.status === 'running' ? (await this.step(r, await this.d.store.sites(r.id))).held : [];
    const visible = new Set(rows.map((s) => s.siteId));
    const { id: _seed, ...spec } = r.plan.spec;
    return {
      ...(await this.summary(r, rows)),
      spec: structuredClone(spec) as RolloutSpecView,
      targets: r.plan.targets,
      budgetBytes: r.plan.budgetBytes,
      healthTimeoutS: r.plan.healthTimeoutS,
      noReportS: r.plan.noReportS,
      waves,
      held: held.filter((h) => visible.has(h.siteId)),
      siteList: rows.map((s) => this.siteView(s, release?.version ?? '')),
    };
  }

  /** Versions per area under `rootAreaId` (each child's subtree, and the root's own sites), from the latest heartbeats. */
  fleetVersions(rootAreaId: number): ReturnType<RolloutPlanner['fleetVersions']> {
    return this.planner.fleetVersions(rootAreaId);
  }

  // ---------------------------------------------------------- changes ----

  create(input: RolloutInput, actor: RolloutActor): Promise<RolloutDetail> {
    return this.serial(async () => {
      const { dry, plan } = await this.planner.plan(input, actor, 'create');
      const at = this.d.now();
      const id = plan.spec.id;
      await this.d.store.create(
        { id, releaseId: plan.releaseId, plan, status: 'running', wave: 0, reason: null, createdBy: actor.id, createdAt: at },
        dry.included.map((s) => ({ siteId: s.siteId, wave: s.wave, fromVersion: s.fromVersion, ...(s.devices ? { devices: s.devices } : {}) })),
      );
      await this.d.audit.record(actor, 'rollout.create', id, {
        releaseId: plan.releaseId,
        version: dry.release.version,
        sites: dry.included.length,
        excluded: dry.excluded.length,
        waves: dry.waves,
        targets: plan.targets,
      });
      await this.advance(id);
      return this.detail(id, actor);
    });
  }

  pause(id: string, actor: RolloutActor, reason?: string): Promise<RolloutDetail> {
    return this.transition(id, actor, 'pause', reason);
  }

  resume(id: string, actor: RolloutActor, reason?: string): Promise<RolloutDetail> {
    return this.transition(id, actor, 'resume', reason);
  }

  abort(id: string, actor: RolloutActor, reason?: string): Promise<RolloutDetail> {
    return this.transition(id, actor, 'abort', reason);
  }

  /** A site's report (an update_status event, or a heartbeat's telemetry.update), already validated at the ingest boundary. */
  onReport(siteId: string, report: UpdateReport): Promise<void> {
    return this.serial(async () => {
      const r = await this.d.store.get(report.rolloutId);
      const row = r && (await this.d.store.site(r.id, siteId));
      if (!r || !row) return;
      // Only a site that moved can change what the rollout does next; progress reports cost no step.
      if ((await this.applyReport(r, row, report)) && r.status === 'running') await this.advance(r.id);
    });
  }

  /** Every open rollout: heartbeat reports read, silent sites failed, the next sites started. */
  tick(): Promise<void> {
    return this.serial(async () => {
      for (const row of await this.d.store.installing()) {
        const r = (await this.d.store.get(row.rolloutId))!;
        const obs = this.d.fleet.observation(row.siteId);
        const update = obs?.telemetry?.update;
        // Heard when its last message came, not now: the observation keeps the last heartbeat of a site that went quiet.
        if (update && update.rolloutId === r.id) await this.applyReport(r, row, update, obs.lastSeenAt ?? undefined);
      }
      const now = this.d.now();
      for (const row of await this.d.store.installing()) {
        const r = (await this.d.store.get(row.rolloutId))!;
        const facts = { state: row.state, changedAt: row.note.changedAt, startedAt: row.startedAt, reportState: row.note.last?.state ?? null, heardAt: row.note.heardAt };
        if (row.state !== 'installing' || !silentTooLong(facts, now, r.plan.noReportS * 1000)) continue;
        const detail = `no report that moved for ${r.plan.noReportS} s`;
        await this.d.store.putSite({ ...row, state: 'failed', reason: 'no_report', finishedAt: now, note: { ...row.note, detail } });
        this.stats.silent++;
        this.d.log.warn({ rolloutId: r.id, siteId: row.siteId }, `rollout: site failed, ${detail}`);
        // A board that comes back must not go on with an order the rollout has given up on.
        await this.publish(r, row.siteId, 'cancel', row.note.devices);
      }
      for (const r of await this.d.store.open()) if (r.status === 'running') await this.advance(r.id);
    });
  }

  /**
   * A tick soon (after an event that may let a site start: a report, a site
   * online, an alert or a stream ended). Kicks within KICK_MS make one tick: a
   * thousand sites reconnecting after a restart must not make a thousand.
   */
  kick(): void {
    if (this.kickTimer || this.stopped) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      if (!this.stopped) this.tick().catch((err: unknown) => this.d.log.error({ err }, 'rollout tick failed; the next one retries'));
    }, KICK_MS);
    this.kickTimer.unref();
  }

  /** Every installing site's order again (the embedded broker forgot them in a restart): `install`, or `cancel` for an aborted rollout's. */
  republish(why: string): Promise<void> {
    return this.serial(async () => {
      let n = 0;
      for (const row of await this.d.store.installing()) {
        const r = (await this.d.store.get(row.rolloutId))!;
        await this.publish(r, row.siteId, r.status === 'aborted' || row.state === 'failed' ? 'cancel' : 'install', row.note.devices);
        n++;
      }
      if (n > 0) this.d.log.info({ orders: n, why }, 'rollout: orders of installing sites published again');
    });
  }

  /** Resolves once everything asked so far has run. */
  idle(): Promise<void> {
    return this.serial(async () => {});
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.kickTimer);
  }

  // --------------------------------------------------------- internals ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private transition(id: string, actor: RolloutActor, action: 'pause' | 'resume' | 'abort', reason?: string): Promise<RolloutDetail> {
    return this.serial(async () => {
      const r = await this.d.store.get(id);
      const rows = r ? await this.visibleRows(r, actor) : undefined;
      if (!r || !rows) throw fail('LOANET_ROLLOUT_NOT_FOUND', { id });
      // Stopping or restarting updates at sites outside one's area is not a scoped person's to do.
      if (rows.length !== (await this.d.store.sites(id)).length) {
        throw fail('LOANET_FORBIDDEN', { rule: 'scope', field: 'id', text: 'this rollout also updates sites outside your area' });
      }
      const allowed = action === 'pause' ? r.status === 'running' : action === 'resume' ? r.status === 'paused' : r.status === 'running' || r.status === 'paused';
      if (!allowed) throw fail('LOANET_ROLLOUT_STATE', { id, status: r.status, action });
      const at = this.d.now();
      const why = reason?.trim() || null;
      const next: RolloutStatus = action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'aborted';
      let plan: RolloutPlan | undefined;
      if (action === 'resume') {
        // The failures that stopped the wave are accepted by resuming it: the threshold counts from here.
        const members = rows.filter((s) => s.wave === r.wave);
        const failed = members.filter((s) => s.state === 'failed').length;
        const finished = failed + members.filter((s) => s.state === 'updated').length;
        plan = { ...r.plan, acknowledged: { wave: r.wave, failed, finished } };
      }
      const code = action === 'pause' ? 'paused_by' : action === 'resume' ? 'resumed_by' : 'aborted_by';
      // The person's words stay theirs (`text`); the console words the sentence around them.
      await this.d.store.setStatus(id, next, r.wave, { code, params: { by: actor.username, text: why } }, at, plan);
      await this.d.audit.record(actor, `rollout.${action}`, id, { from: r.status, to: next, wave: waveName(r, r.wave), reason: why });
      if (next === 'aborted') await this.cancelInstalling((await this.d.store.get(id))!);
      if (next === 'running') await this.advance(id);
      return this.detail(id, actor);
    });
  }

  private async cancelInstalling(r: RolloutRow): Promise<void> {
    for (const s of await this.d.store.sites(r.id)) if (s.state === 'installing') await this.publish(r, s.siteId, 'cancel', s.note.devices);
  }

  /** One step of a running rollout, applied: its status, its wave, the sites it starts. */
  private async advance(id: string): Promise<void> {
    const r = await this.d.store.get(id);
    if (r?.status !== 'running') return;
    const rows = await this.d.store.sites(id);
    const step = await this.step(r, rows);
    const at = this.d.now();
    if (step.status !== r.status || step.wave !== r.wave) {
      await this.d.store.setStatus(id, step.status, step.wave, step.reason ?? r.reason, at);
      const action = step.status === 'running' ? 'rollout.wave' : step.status === 'completed' ? 'rollout.complete' : `rollout.${step.status === 'paused' ? 'pause' : 'abort'}`;
      // The rollout's own decisions are audited without a person: who is null, why is the threshold's code and numbers.
      await this.d.audit.record(null, action, id, { from: r.status, to: step.status, wave: waveName(r, step.wave), reason: step.reason ?? null });
      this.d.log.info({ rolloutId: id, status: step.status, wave: step.wave, reason: step.reason }, 'rollout: status changed');
      if (step.status === 'aborted') await this.cancelInstalling({ ...r, status: 'aborted' });
    }
    if (step.status !== 'running') return;
    const byId = new Map(rows.map((s) => [s.siteId, s]));
    for (const siteId of step.start) {
      const row = byId.get(siteId)!;
      const ok = await this.publish(r, siteId, 'install', row.note.devices);
      if (!ok) continue;
      await this.d.store.putSite({ ...row, state: 'installing', reason: null, startedAt: at, finishedAt: null, note: { ...row.note, changedAt: at, detail: null } });
    }
  }

  private async step(r: RolloutRow, rows: readonly RolloutSiteRow[]): Promise<RolloutStep> {
    const waves: string[][] = r.plan.spec.waves.map(() => []);
    for (const s of rows) if (s.wave !== null) waves[s.wave]?.push(s.siteId);
    const sites = (await Promise.all(rows.map((s) => this.d.sites.get(s.siteId)))).filter((s): s is Site => s !== undefined);
    const now = this.d.now();
    const activity = await this.d.activity(sites, now);
    const map = new Map<string, SiteNow>();
    for (const s of rows) {
      const a = activity.get(s.siteId);
      map.set(s.siteId, { siteId: s.siteId, state: s.state, online: this.d.fleet.isOnline(s.siteId), playing: a?.playing ?? false, nextBroadcastAt: a?.nextBroadcastAt ?? null });
    }
    return stepRollout(r.plan.spec, waves, { status: r.status, wave: r.wave, ...(r.plan.acknowledged ? { acknowledged: r.plan.acknowledged } : {}) }, map, now);
  }

  /** Stores the report; true when the site's state changed. */
  private async applyReport(r: RolloutRow, row: RolloutSiteRow, report: UpdateReport, heardAt?: number): Promise<boolean> {
    const last = row.note.last;
    const moved = !last || last.state !== report.state || last.bytes !== report.bytes || last.since !== report.since;
    const now = this.d.now();
    this.stats.reports++;
    const next = siteAfterReport({ state: row.state, reason: row.reason }, report, r.status);
    if (!moved && !next) {
      // The same report again (each heartbeat): only that the site was heard.
      await this.d.store.putSite({ ...row, note: { ...row.note, heardAt: heardAt ?? now } });
      return false;
    }
    const note = { ...row.note, last: report, heardAt: heardAt ?? now, changedAt: moved ? now : row.note.changedAt, detail: report.detail ?? (next ? null : row.note.detail) };
    const updated: RolloutSiteRow = {
      ...row,
      note,
      fromVersion: row.fromVersion ?? report.fromVersion ?? null,
      ...(next ? { state: next.state, reason: next.reason, finishedAt: next.state === 'updated' || next.state === 'failed' ? now : null } : {}),
    };
    await this.d.store.putSite(updated);
    if (next && next.state !== row.state) this.d.log.info({ rolloutId: r.id, siteId: row.siteId, state: next.state, reason: next.reason }, 'rollout: site moved');
    // Done with its order: the retained message goes, so a board that reconnects is not told it again.
    if (next?.final) await this.clear(row.siteId);
    return next !== null && next.state !== row.state;
  }

  private async publish(r: RolloutRow, siteId: string, action: 'install' | 'cancel', devices?: string[]): Promise<boolean> {
    const release = await this.d.releases.get(r.releaseId);
    if (!release) {
      this.d.log.error({ rolloutId: r.id, releaseId: r.releaseId }, 'rollout: its release is gone; no order sent');
      return false;
    }
    const order: UpdateOrder = {
      v: PROTOCOL_VERSION,
      siteId,
      at: this.d.now(),
      rolloutId: r.id,
      action,
      component: release.component,
      releaseId: release.id,
      version: release.version,
      manifestSha256: release.manifestSha256,
      ...(release.component === 'device-firmware' && devices && devices.length > 0 ? { devices } : {}),
      budgetBytes: r.plan.budgetBytes,
      healthTimeoutS: r.plan.healthTimeoutS,
    };
    if (!checkOrder.Check(order)) {
      const e = checkOrder.Errors(order).First();
      this.d.log.error({ rolloutId: r.id, siteId, path: e?.path, message: e?.message }, 'rollout: the order does not satisfy the contract; not sent');
      return false;
    }
    await this.d.broker.publish(siteTopic(siteId, 'update'), encodeJson(order), { qos: 1, retain: true });
    if (action === 'install') this.stats.orders++;
    else this.stats.cancels++;
    return true;
  }

  private async clear(siteId: string): Promise<void> {
    await this.d.broker.publish(siteTopic(siteId, 'update'), Buffer.alloc(0), { qos: 1, retain: true });
    this.stats.cleared++;
  }

  /** The rollout's sites the caller may see; undefined when none (the rollout is not theirs to know). */
  private async visibleRows(r: RolloutRow, actor: Pick<RolloutActor, 'areaId'>): Promise<RolloutSiteRow[] | undefined> {
    const rows = await this.d.store.sites(r.id);
    if (actor.areaId === null) return rows;
    const scope = this.d.coverage.subtreeIds(actor.areaId);
    const mine = rows.filter((s) => {
      const site = this.d.sites.entry(s.siteId);
      return site !== undefined && scope.has(site.areaId);
    });
    return mine.length > 0 ? mine : undefined;
  }

  private async summary(r: RolloutRow, rows: readonly RolloutSiteRow[]): Promise<RolloutSummary> {
    const release = await this.d.releases.get(r.releaseId);
    const counts = NO_COUNTS();
    for (const s of rows) counts[s.state]++;
    return {
      id: r.id,
      releaseId: r.releaseId,
      component: release?.component ?? null,
      version: release?.version ?? null,
      status: r.status,
      wave: r.wave,
      reason: r.reason,
      createdBy: r.plan.createdByName ?? null,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      sites: rows.length,
      counts,
    };
  }

  private siteView(s: RolloutSiteRow, toVersion: string): RolloutSiteView {
    const site = this.d.sites.entry(s.siteId);
    const last = s.note.last;
    return {
      siteId: s.siteId,
      name: site?.name ?? null,
      areaKey: site?.areaKey ?? null,
      wave: s.wave,
      state: s.state,
      reportState: last?.state ?? null,
      bytes: last?.bytes ?? null,
      total: last?.total ?? null,
      reason: s.reason,
      detail: s.note.detail,
      fromVersion: s.fromVersion,
      toVersion,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
      heardAt: s.note.heardAt,
      devices: (last?.devices ?? []).map((d) => ({ id: d.id, state: d.state, bytes: d.bytes ?? null, reason: d.reason ?? null })),
    };
  }
}
