/**
 * The alert service, the shell around the pure alert modules: starts,
 * revises (Update) and cancels alerts, takes the sites' alert_status reports
 * into the delivery rows, ends alerts at the end of their validity, and after
 * a restart publishes the valid ones again (aedes keeps retained messages in
 * memory only), so sites not yet confirmed still get them. What goes on the
 * wire is publisher.ts, who may aim an alert where is scope.ts, what live
 * consoles are told is changes.ts, the message audio still being made is
 * message-jobs.ts, and the language versions' life is versions.ts.
 *
 * Delivery rows of the alerts in memory are kept in memory too and written
 * through on every change: a status report costs one row write, never a read.
 */
import { randomBytes } from 'node:crypto';
import type { AlertPriority, AlertStatusEvent, AttentionSignal } from '../../protocol/index.ts';
import type { AuditLog } from '../audit.ts';
import type { CoverageService } from '../coverage/service.ts';
import { Errors, fail } from '../errors.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { KeyedSerial } from '../keyed-serial.ts';
import type { SiteRepository } from '../registry/sites.ts';
import type { LatLon } from './cap/model.ts';
import { capAck } from './cap-ack.ts';
import { AlertChangeFeed, type AlertChangeListener } from './changes.ts';
import { applyStatus } from './delivery-status.ts';
import { deliveryState, type DeliveryState, type SiteInfo } from './delivery.ts';
import { versionRecord, type MessageOutcome, type PreparedMessage, type PreparedVersion } from './message.ts';
import { AlertMessageJobs } from './message-jobs.ts';
import type { Alert, CapOrigin, Delivery } from './model.ts';
import { AlertPublisher } from './publisher.ts';
import { reportLines, type ReportLine } from './report.ts';
import { AlertScope, type AlertActor } from './scope.ts';
import type { AlertStore } from './store.ts';
import type { ResolvedTargets, TargetSite } from './targets.ts';
import { AlertVersions, revisedVersions, versionsAudit } from './versions.ts';

export type { AlertChange, AlertChangeKind, AlertChangeListener } from './changes.ts';
export type { AlertActor } from './scope.ts';

function messageFields(m: PreparedMessage): Pick<Alert, 'media' | 'message' | 'messageState' | 'messageReason'> {
  return { media: m.media, message: m.source, messageState: m.state, messageReason: m.reason };
}

export interface AlertSpec {
  title: string;
  test: boolean;
  priority: AlertPriority;
  attention: AttentionSignal | null;
  repeats: number;
  volume: number | null;
  validUntil: number;
  polygon: LatLon[] | null;
}

export interface AlertServiceDeps {
  store: AlertStore;
  broker: BrokerLink;
  fleet: FleetState;
  coverage: CoverageService;
  sites: SiteRepository;
  audit: AuditLog;
  log: Logger;
  now: () => number;
  timeZone: string;
  /** CAP sender loanet signs its Acks with. */
  capSender: string;
}

interface Live {
  alert: Alert;
  rows: Map<string, Delivery>;
}

/** Alerts kept in memory after they end, so late stop/complete reports still land cheaply. */
const ENDED_KEPT_MS = 3600_000;

export class AlertService {
  private readonly live = new Map<string, Live>();
  /** Alerts being read into memory (loaded()). */
  private readonly loading = new Map<string, Promise<Live | undefined>>();
  /** Each alert's changes (serial()), and each site's reports of an alert (onStatus()), one at a time. */
  private readonly changing = new KeyedSerial();
  private readonly reporting = new KeyedSerial();
  private readonly changes: AlertChangeFeed;
  private readonly publisher: AlertPublisher;
  private readonly scope: AlertScope;
  private readonly jobs: AlertMessageJobs;
  private readonly versions: AlertVersions;

  constructor(private readonly d: AlertServiceDeps) {
    this.changes = new AlertChangeFeed({
      log: d.log,
      // The feed tells of alerts that just changed, all of them in memory.
      alertOf: (id) => this.live.get(id)?.alert,
      // Asked only after alertOf found the alert in memory.
      countsOf: (id) => this.stateOf(this.live.get(id)!, 0).counts,
      rowsOf: (id) => this.live.get(id)?.rows ?? new Map<string, Delivery>(),
      areaIndex: () => d.coverage.areaIndex(),
      siteAreas: () => d.sites.allEntries(),
    });
    this.publisher = new AlertPublisher({
      broker: d.broker,
      log: d.log,
      now: d.now,
      coverage: d.coverage,
      fleet: d.fleet,
      alerts: () => this.live.values(),
      liveAlert: (id) => this.live.get(id)?.alert,
      versionsOn: (a, ch) => this.versions.takenOn(a, ch),
      takesVersions: (siteId) => this.versions.takenBy(siteId),
    });
    // mayChange() loads the alert into memory before the scope reads its rows.
    this.scope = new AlertScope({ coverage: d.coverage, sites: d.sites, audit: d.audit, rowsOf: (id) => this.live.get(id)?.rows ?? new Map<string, Delivery>() });
    this.jobs = new AlertMessageJobs({ log: d.log, settled: (alertId, mediaId, r) => this.messageSettled(alertId, mediaId, r) });
    // The versions change the alerts in memory one change at a time with the rest (serial()).
    this.versions = new AlertVersions({ ...d, publisher: this.publisher, changes: this.changes, live: (id) => this.live.get(id), serial: (id, fn) => this.serial(id, fn) });
  }

  get timeZone(): string {
    return this.d.timeZone;
  }

  /** After (re)start: load the valid alerts and publish them again. */
  async start(): Promise<void> {
    for (let a of await this.d.store.active()) {
      if (a.messageState === 'preparing') {
        // Its audio job died with the previous process: the alert stands with its attention signal.
        const failed: Alert = { ...a, messageState: 'failed', messageReason: 'the server stopped while the message audio was being made' };
        if (await this.d.store.setMessage(failed)) a = failed;
        else {
          // Revised or ended since it was read: what is stored now stands.
          const now = await this.d.store.get(a.id);
          if (!now) continue;
          a = now;
        }
      }
      // Its versions' audio jobs died with the previous process too.
      a = await this.versions.recover(a);
      this.live.set(a.id, { alert: a, rows: new Map((await this.d.store.deliveries(a.id)).map((r) => [r.siteId, r])) });
    }
    await this.expire();
    this.d.fleet.listen({
      // The promise is the store's commit: the site is told its status is stored only after it (fleet/event-acks.ts).
      siteEvent: (siteId, ev) => (ev.type === 'alert_status' ? this.onStatus(siteId, ev) : undefined),
      siteOnline: (siteId) => this.publisher.siteOnline(siteId),
    });
    await this.publisher.republishSlots();
  }

  stop(): void {
    this.publisher.stop();
    this.changes.stop();
  }

  /** Be told of alert changes (start, delivery, update, cancel, expiry); returns the unsubscribe. */
  listen(fn: AlertChangeListener): () => void {
    return this.changes.listen(fn);
  }

  // ------------------------------------------------------------ targets ----

  areaIndex() {
    return this.d.coverage.areaIndex();
  }

  targetSites(): Promise<TargetSite[]> {
    return this.scope.targetSites();
  }

  /** Resolve and scope-check a target; throws 400 (naming the field) or 403 (naming what lies outside). */
  resolve(req: { areaKeys: readonly string[]; siteIds: readonly string[] }, actor: AlertActor, sites?: readonly TargetSite[]): Promise<ResolvedTargets> {
    return this.scope.resolve(req, actor, sites);
  }

  /** Throws 403 unless the actor's scope holds every site and area of the alert. */
  async mayChange(alert: Alert, actor: AlertActor, action: string): Promise<void> {
    // Its delivery rows in memory: the scope reads which sites it reached from there.
    await this.loaded(alert.id);
    return this.scope.mayChange(alert, actor, action);
  }

  // ---------------------------------------------------------- lifecycle ----

  async create(
    spec: AlertSpec,
    targets: ResolvedTargets,
    message: PreparedMessage,
    actor: AlertActor,
    cap: CapOrigin | null,
    targetAreas: readonly string[],
    versions: readonly PreparedVersion[] = [],
  ): Promise<Alert> {
    const t = this.d.now();
    if (spec.validUntil <= t) throw fail('LOANET_IN_THE_PAST', { field: 'validUntil' });
    const alert: Alert = {
      id: `alr-${randomBytes(8).toString('hex')}`,
      revision: 1,
      state: 'active',
      test: spec.test,
      priority: spec.priority,
      origin: cap ? 'cap' : 'api',
      title: spec.title,
      targetAreas: [...targetAreas],
      areas: targets.channels,
      sites: targets.siteFilter,
      polygon: spec.polygon,
      ...messageFields(message),
      versions: versions.map(versionRecord),
      attention: spec.attention,
      repeats: spec.repeats,
      volume: spec.volume,
      validUntil: spec.validUntil,
      createdBy: actor.id,
      createdByName: actor.username,
      createdAt: t,
      revisedAt: t,
      endedAt: null,
      endedByName: null,
      cap,
    };
    // Committed before anything is published, as it was when this write was synchronous: a site's first
    // status report finds its row, and a restart publishes the alert again. One transaction of a few
    // multi-row inserts (store.ts), not one statement per site, so a province-wide alert does not wait long.
    const rows = await this.d.store.insertAlertWithTargets(alert, targets.siteIds);
    this.live.set(alert.id, { alert, rows: new Map(rows.map((r) => [r.siteId, r])) });
    await this.d.audit.record(actor, 'alert.start', alert.id, {
      title: alert.title,
      test: alert.test,
      priority: alert.priority,
      channels: alert.areas,
      sites: targets.siteIds.length,
      mediaId: alert.message.mediaId,
      messageState: alert.messageState,
      ...versionsAudit(alert),
      attention: alert.attention,
      repeats: alert.repeats,
      volume: alert.volume,
      validUntil: alert.validUntil,
      cap,
    });
    await this.publisher.announce(alert, alert.areas);
    this.changes.notify(alert.id, 'started');
    this.jobs.follow(alert.id, message);
    this.versions.follow(alert.id, versions);
    return alert;
  }

  /** An Update in flight: new content and/or targets, revision + 1; every site is pending again for it. */
  revise(
    id: string,
    spec: AlertSpec,
    targets: ResolvedTargets,
    message: PreparedMessage,
    actor: AlertActor,
    cap: CapOrigin | null,
    targetAreas: readonly string[],
    versions?: readonly PreparedVersion[],
  ): Promise<Alert> {
    return this.serial(id, () => this.reviseNow(id, spec, targets, message, actor, cap, targetAreas, versions));
  }

  private async reviseNow(
    id: string,
    spec: AlertSpec,
    targets: ResolvedTargets,
    message: PreparedMessage,
    actor: AlertActor,
    cap: CapOrigin | null,
    targetAreas: readonly string[],
    versions: readonly PreparedVersion[] | undefined,
  ): Promise<Alert> {
    const cur = await this.require(id);
    if (cur.state !== 'active') throw fail('LOANET_ALERT_NOT_ACTIVE', { id, state: cur.state });
    await this.mayChange(cur, actor, 'update');
    const t = this.d.now();
    const next: Alert = {
      ...cur,
      revision: cur.revision + 1,
      test: spec.test,
      priority: spec.priority,
      title: spec.title,
      targetAreas: [...targetAreas],
      areas: targets.channels,
      sites: targets.siteFilter,
      polygon: spec.polygon,
      ...messageFields(message),
      // Versions left out of an Update stay as they are (those not finished are abandoned below and marked failed).
      versions: revisedVersions(cur, versions),
      attention: spec.attention,
      repeats: spec.repeats,
      volume: spec.volume,
      validUntil: spec.validUntil,
      revisedAt: t,
      cap: cap ?? cur.cap,
    };
    // Over the revision it was made from only: another server's Update or end in between refuses this one.
    const rows = await this.d.store.reviseAlertWithTargets(next, cur.revision, targets.siteIds);
    if (!rows) throw fail('LOANET_ALERT_NOT_ACTIVE', { id, state: (await this.d.store.get(id))?.state ?? cur.state });
    this.live.set(id, { alert: next, rows: new Map(rows.map((r) => [r.siteId, r])) });
    await this.d.audit.record(actor, 'alert.update', id, {
      revision: next.revision,
      title: next.title,
      priority: next.priority,
      channels: next.areas,
      sites: targets.siteIds.length,
      mediaId: next.message.mediaId,
      messageState: next.messageState,
      ...versionsAudit(next),
      cap,
    });
    const dropped = cur.areas.filter((k) => !next.areas.includes(k));
    if (dropped.length > 0) await this.publisher.cancel(id, dropped, 'superseded');
    await this.publisher.announce(next, next.areas);
    this.changes.notify(id, 'updated');
    this.jobs.follow(id, message);
    this.versions.revised(id, cur, versions);
    return next;
  }

  /**
   * Versions added to an alert while it plays (the same revision): stored,
   * published as soon as each one's audio is ready, and taken by the sites
   * for the repeats still to come. A language the alert already has (ready
   * or being made) is refused; a failed one may be given again.
   */
  addVersions(id: string, versions: readonly PreparedVersion[], actor: AlertActor): Promise<Alert> {
    return this.serial(id, async () => {
      const cur = await this.require(id);
      if (cur.state !== 'active') throw fail('LOANET_ALERT_NOT_ACTIVE', { id, state: cur.state });
      await this.mayChange(cur, actor, 'update');
      return this.versions.add(cur, versions, actor);
    });
  }

  /** Resolves once no alert message is being made (messages already published). */
  messagesSettled(): Promise<void> {
    return Promise.all([this.jobs.settledAll(), this.versions.settledAll()]).then(() => {});
  }

  private messageSettled(alertId: string, mediaId: string, r: MessageOutcome): Promise<void> {
    return this.serial(alertId, () => this.messageSettledNow(alertId, mediaId, r));
  }

  private async messageSettledNow(alertId: string, mediaId: string, r: MessageOutcome): Promise<void> {
    const l = this.live.get(alertId);
    // Cancelled, expired, or given another message by an Update meanwhile: this audio is no longer the alert's.
    if (l?.alert.state !== 'active' || l.alert.messageState !== 'preparing' || l.alert.message.mediaId !== mediaId) return;
    const next: Alert = r.ok
      ? { ...l.alert, media: r.media, messageState: 'ready', messageReason: null }
      : { ...l.alert, media: null, messageState: 'failed', messageReason: r.reason.slice(0, 500) };
    // Only over the revision it was made for, while active (store.ts setMessage).
    if (!(await this.d.store.setMessage(next))) return;
    l.alert = next;
    await this.d.audit.record(
      null,
      'alert.message',
      alertId,
      r.ok ? { revision: next.revision, messageState: 'ready', mediaId } : { revision: next.revision, messageState: 'failed', mediaId, reason: next.messageReason },
    );
    if (!r.ok) this.d.log.warn({ alertId, mediaId, reason: r.reason }, 'alert message audio could not be made: the alert stands with its attention signal');
    await this.publisher.announce(next, next.areas);
    this.changes.notify(alertId, 'updated');
  }

  cancel(id: string, actor: AlertActor, via: 'api' | 'cap' = 'api'): Promise<Alert> {
    return this.serial(id, () => this.cancelNow(id, actor, via));
  }

  private async cancelNow(id: string, actor: AlertActor, via: 'api' | 'cap'): Promise<Alert> {
    const cur = await this.require(id);
    await this.mayChange(cur, actor, 'cancel');
    if (cur.state !== 'active') return cur;
    const ended: Alert = { ...cur, state: 'cancelled', endedAt: this.d.now(), endedByName: actor.username };
    // The alert and its CAP messages end in one transaction, and only if still active: of two cancels (or a
    // cancel and the expiry, or two servers), one ends it and the other answers the alert as it stands.
    if (!(await this.d.store.end(id, 'cancelled', ended.endedAt!, actor.username))) {
      const stored = (await this.d.store.get(id)) ?? cur;
      const l = this.live.get(id);
      if (l) l.alert = stored;
      return stored;
    }
    const l = this.live.get(id);
    if (l) l.alert = ended;
    else this.live.set(id, { alert: ended, rows: new Map((await this.d.store.deliveries(id)).map((r) => [r.siteId, r])) });
    await this.d.audit.record(actor, 'alert.cancel', id, { via, revision: cur.revision });
    this.jobs.abandon(id);
    this.versions.abandon(cur);
    await this.publisher.cancel(id, cur.areas, 'cancelled');
    await this.publisher.settleSlots();
    this.changes.notify(id, 'cancelled');
    return ended;
  }

  /** End alerts past their validity: no site may start them any more, so the retained slots are cleared (nothing is stopped). */
  async expire(): Promise<string[]> {
    const t = this.d.now();
    const ended: string[] = [];
    for (const l of [...this.live.values()]) {
      if (l.alert.state === 'active' && l.alert.validUntil <= t) {
        const id = l.alert.id;
        // One alert's change at a time (serial), and ended in the store only if still active there.
        const expired = await this.serial(id, async () => {
          const cur = this.live.get(id);
          if (cur?.alert.state !== 'active' || cur.alert.validUntil > t) return false;
          if (!(await this.d.store.end(id, 'expired', t, null))) {
            cur.alert = (await this.d.store.get(id)) ?? cur.alert;
            return false;
          }
          cur.alert = { ...cur.alert, state: 'expired', endedAt: t };
          await this.d.audit.record(null, 'alert.expire', id, { revision: cur.alert.revision });
          this.jobs.abandon(id);
          this.versions.abandon(cur.alert);
          return true;
        });
        if (!expired) continue;
        ended.push(id);
        this.changes.notify(id, 'expired');
      } else if (l.alert.state !== 'active' && (l.alert.endedAt ?? t) < t - ENDED_KEPT_MS) {
        this.live.delete(l.alert.id);
      }
    }
    return ended;
  }

  /**
   * The broker lost its retained messages (an external broker that crashed):
   * publish every slot's holder again, same revision, which a site that
   * already handled it ignores (edge-agent/alerts/decide.ts).
   */
  async republishRetained(): Promise<void> {
    await this.expire();
    await this.publisher.republishSlots();
  }

  /** The periodic job: expire, then fix the retained slots. */
  async tick(): Promise<void> {
    if ((await this.expire()).length > 0) await this.publisher.settleSlots();
  }

  // ------------------------------------------------------------ reading ----

  /** An alert in memory (every active one, and those ended within the hour): for a path that cannot wait, such as naming what a site plays. */
  get(id: string): Alert | undefined {
    return this.live.get(id)?.alert;
  }

  /** Any alert: from memory, else from the store. */
  async find(id: string): Promise<Alert | undefined> {
    return this.live.get(id)?.alert ?? (await this.d.store.get(id));
  }

  async require(id: string): Promise<Alert> {
    const a = await this.find(id);
    if (!a) throw Errors.notFound('alert', id);
    return a;
  }

  async list(f: { state?: Alert['state']; limit?: number } = {}): Promise<Alert[]> {
    return (await this.d.store.list(f)).map((a) => this.live.get(a.id)?.alert ?? a);
  }

  /** Delivery of an alert; with `siteVisible` (a scoped reader), over only the sites it may see. */
  async state(id: string, unreachedLimit?: number, siteVisible?: (siteId: string) => boolean): Promise<DeliveryState> {
    return this.stateOf(await this.requireLoaded(id), unreachedLimit, siteVisible);
  }

  private stateOf(l: Live, unreachedLimit?: number, siteVisible?: (siteId: string) => boolean): DeliveryState {
    return deliveryState(
      l.alert,
      this.visibleRows(l, siteVisible),
      (s) => this.siteInfo(s),
      (s) => this.d.fleet.classify(s),
      this.d.now(),
      this.d.timeZone,
      unreachedLimit,
    );
  }

  /** One site's delivery row of an alert (undefined: no such alert, or the site is not one of its targets). */
  async siteDelivery(id: string, siteId: string): Promise<Delivery | undefined> {
    return (await this.loaded(id))?.rows.get(siteId);
  }

  async report(id: string, siteVisible?: (siteId: string) => boolean): Promise<{ alert: Alert; state: DeliveryState; lines: ReportLine[] }> {
    const l = await this.requireLoaded(id);
    const alert = l.alert;
    const rows = this.visibleRows(l, siteVisible);
    const state = this.stateOf(l, 0, siteVisible);
    return {
      alert,
      state,
      lines: reportLines(
        alert,
        rows,
        (s) => this.siteInfo(s),
        (s) => this.d.fleet.classify(s),
        this.d.now(),
        this.d.timeZone,
      ),
    };
  }

  async capAck(id: string, siteVisible?: (siteId: string) => boolean): Promise<string> {
    const l = await this.requireLoaded(id);
    return capAck(l.alert, this.stateOf(l, 0, siteVisible).counts, { sender: this.d.capSender, now: this.d.now(), timeZone: this.d.timeZone });
  }

  private visibleRows(l: Live, siteVisible?: (siteId: string) => boolean): Delivery[] {
    const rows = [...l.rows.values()];
    return siteVisible ? rows.filter((r) => siteVisible(r.siteId)) : rows;
  }

  /**
   * The alert and its rows in memory, loaded from the store when it is not
   * (an alert ended over an hour ago: expire() lets it go again). Loads of
   * the same alert at once share one read, so no report lands in a copy
   * that another load then replaces.
   */
  private loaded(id: string): Promise<Live | undefined> {
    const l = this.live.get(id);
    if (l) return Promise.resolve(l);
    let p = this.loading.get(id);
    if (!p) {
      p = (async () => {
        const a = await this.d.store.get(id);
        if (!a) return undefined;
        const rows = await this.d.store.deliveries(id);
        const known = this.live.get(id);
        if (known) return known;
        const fresh: Live = { alert: a, rows: new Map(rows.map((r) => [r.siteId, r])) };
        this.live.set(id, fresh);
        return fresh;
      })().finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  private async requireLoaded(id: string): Promise<Live> {
    const l = await this.loaded(id);
    if (!l) throw Errors.notFound('alert', id);
    return l;
  }

  /**
   * One change of an alert at a time (start of a revision, cancel, expiry,
   * its message settling): each reads the alert in memory, writes the store
   * and then memory, and awaits in between; none may see another's half.
   */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.changing.run(id, fn);
  }

  private siteInfo(siteId: string): SiteInfo | undefined {
    const s = this.d.sites.entry(siteId);
    if (!s) return undefined;
    const area = this.d.coverage.areaIndex().byId.get(s.areaId);
    return { name: s.name, areaKey: area?.key ?? s.areaKey, areaName: area?.name ?? null };
  }

  // ----------------------------------------------------------- delivery ----

  /**
   * A site's status report, folded into its row and stored; resolves once
   * committed (the site is acknowledged after). Reports of one site for one
   * alert are applied one after another, each to the row the one before it
   * stored: two that arrive together cannot both start from the same row and
   * the later write lose what the earlier one added.
   */
  onStatus(siteId: string, ev: AlertStatusEvent): Promise<void> {
    return this.reporting.run(`${ev.alertId}\n${siteId}`, () => this.applyReport(siteId, ev));
  }

  private async applyReport(siteId: string, ev: AlertStatusEvent): Promise<void> {
    const l = await this.loaded(ev.alertId);
    if (!l) throw new Error(`alert ${ev.alertId} is not known`);
    const row = l.rows.get(siteId);
    // A site outside the target (e.g. moved to another area since) is not counted: the proof is about the targeted sites.
    if (!row) throw new Error(`site ${siteId} is not a target of alert ${ev.alertId}`);
    const next = applyStatus(row, ev, l.alert.revision, this.d.now());
    if (next === row) return;
    // Stored first: if the store throws (a full disk), memory keeps the old row, so the status the site
    // sends again is applied again instead of looking like a repeat of something stored.
    const written = await this.d.store.saveDelivery(next);
    // An Update replaced the alert's rows meanwhile: this report was for the rows it replaced.
    if (this.live.get(ev.alertId) !== l || l.rows.get(siteId) !== row) return;
    if (written) l.rows.set(siteId, next);
    else {
      // The stored row had moved past this one (another server, or a row reset): memory takes what is stored.
      const stored = await this.d.store.delivery(ev.alertId, siteId);
      if (stored && this.live.get(ev.alertId) === l && l.rows.get(siteId) === row) l.rows.set(siteId, stored);
    }
    this.changes.deliveryChanged(ev.alertId);
  }
}
