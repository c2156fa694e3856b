/**
 * The alert service, the shell around the pure alert modules: starts,
 * revises (Update) and cancels alerts, takes the sites' alert_status reports
 * into the delivery rows, ends alerts at the end of their validity, and after
 * a restart publishes the valid ones again (aedes keeps retained messages in
 * memory only), so sites not yet confirmed still get them. What goes on the
 * wire is publisher.ts, who may aim an alert where is scope.ts, what live
 * consoles are told is changes.ts, and the message audio still being made is
 * message-jobs.ts.
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
import type { SiteRepository } from '../registry/sites.ts';
import type { LatLon } from './cap/model.ts';
import { capAck } from './cap-ack.ts';
import { AlertChangeFeed, type AlertChangeListener } from './changes.ts';
import { applyStatus } from './delivery-status.ts';
import { deliveryState, type DeliveryState, type SiteInfo } from './delivery.ts';
import type { MessageOutcome, PreparedMessage } from './message.ts';
import { AlertMessageJobs } from './message-jobs.ts';
import type { Alert, CapOrigin, Delivery } from './model.ts';
import { AlertPublisher } from './publisher.ts';
import { reportLines, type ReportLine } from './report.ts';
import { AlertScope, type AlertActor } from './scope.ts';
import type { AlertStore } from './store.ts';
import type { ResolvedTargets, TargetSite } from './targets.ts';

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
  private readonly changes: AlertChangeFeed;
  private readonly publisher: AlertPublisher;
  private readonly scope: AlertScope;
  private readonly jobs: AlertMessageJobs;

  constructor(private readonly d: AlertServiceDeps) {
    this.changes = new AlertChangeFeed({
      log: d.log,
      alertOf: (id) => this.get(id),
      countsOf: (id) => this.state(id, 0).counts,
      rowsOf: (id) => this.rowsOf(id),
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
    });
    this.scope = new AlertScope({ coverage: d.coverage, sites: d.sites, audit: d.audit, rowsOf: (id) => this.rowsOf(id) });
    this.jobs = new AlertMessageJobs({ log: d.log, settled: (alertId, mediaId, r) => this.messageSettled(alertId, mediaId, r) });
  }

  get timeZone(): string {
    return this.d.timeZone;
  }

  /** After (re)start: load the valid alerts and publish them again. */
  async start(): Promise<void> {
    for (let a of this.d.store.active()) {
      if (a.messageState === 'preparing') {
        // Its audio job died with the previous process: the alert stands with its attention signal.
        a = { ...a, messageState: 'failed', messageReason: 'the server stopped while the message audio was being made' };
        this.d.store.saveAlert(a);
      }
      this.live.set(a.id, { alert: a, rows: new Map(this.d.store.deliveries(a.id).map((r) => [r.siteId, r])) });
    }
    await this.expire();
    this.d.fleet.listen({
      siteEvent: (siteId, ev) => {
        if (ev.type === 'alert_status') this.onStatus(siteId, ev);
      },
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
  mayChange(alert: Alert, actor: AlertActor, action: string): Promise<void> {
    return this.scope.mayChange(alert, actor, action);
  }

  // ---------------------------------------------------------- lifecycle ----

  async create(spec: AlertSpec, targets: ResolvedTargets, message: PreparedMessage, actor: AlertActor, cap: CapOrigin | null, targetAreas: readonly string[]): Promise<Alert> {
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
    const rows = this.d.store.saveAlertWithTargets(alert, targets.siteIds);
    this.live.set(alert.id, { alert, rows: new Map(rows.map((r) => [r.siteId, r])) });
    await this.d.audit.record(actor, 'alert.start', alert.id, {
      title: alert.title,
      test: alert.test,
      priority: alert.priority,
      channels: alert.areas,
      sites: targets.siteIds.length,
      mediaId: alert.message.mediaId,
      messageState: alert.messageState,
      attention: alert.attention,
      repeats: alert.repeats,
      volume: alert.volume,
      validUntil: alert.validUntil,
      cap,
    });
    await this.publisher.announce(alert, alert.areas);
    this.changes.notify(alert.id, 'started');
    this.jobs.follow(alert.id, message);
    return alert;
  }

  /** An Update in flight: new content and/or targets, revision + 1; every site is pending again for it. */
  async revise(
    id: string,
    spec: AlertSpec,
    targets: ResolvedTargets,
    message: PreparedMessage,
    actor: AlertActor,
    cap: CapOrigin | null,
    targetAreas: readonly string[],
  ): Promise<Alert> {
    const cur = this.require(id);
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
      attention: spec.attention,
      repeats: spec.repeats,
      volume: spec.volume,
      validUntil: spec.validUntil,
      revisedAt: t,
      cap: cap ?? cur.cap,
    };
    const rows = this.d.store.saveAlertWithTargets(next, targets.siteIds);
    this.live.set(id, { alert: next, rows: new Map(rows.map((r) => [r.siteId, r])) });
    await this.d.audit.record(actor, 'alert.update', id, {
      revision: next.revision,
      title: next.title,
      priority: next.priority,
      channels: next.areas,
      sites: targets.siteIds.length,
      mediaId: next.message.mediaId,
      messageState: next.messageState,
      cap,
    });
    const dropped = cur.areas.filter((k) => !next.areas.includes(k));
    if (dropped.length > 0) await this.publisher.cancel(id, dropped, 'superseded');
    await this.publisher.announce(next, next.areas);
    this.changes.notify(id, 'updated');
    this.jobs.follow(id, message);
    return next;
  }

  /** Resolves once no alert message is being made (messages already published). */
  messagesSettled(): Promise<void> {
    return this.jobs.settledAll();
  }

  private async messageSettled(alertId: string, mediaId: string, r: MessageOutcome): Promise<void> {
    const l = this.live.get(alertId);
    // Cancelled, expired, or given another message by an Update meanwhile: this audio is no longer the alert's.
    if (l?.alert.state !== 'active' || l.alert.messageState !== 'preparing' || l.alert.message.mediaId !== mediaId) return;
    const next: Alert = r.ok
      ? { ...l.alert, media: r.media, messageState: 'ready', messageReason: null }
      : { ...l.alert, media: null, messageState: 'failed', messageReason: r.reason.slice(0, 500) };
    this.d.store.saveAlert(next);
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

  async cancel(id: string, actor: AlertActor, via: 'api' | 'cap' = 'api'): Promise<Alert> {
    const cur = this.require(id);
    await this.mayChange(cur, actor, 'cancel');
    if (cur.state !== 'active') return cur;
    const ended: Alert = { ...cur, state: 'cancelled', endedAt: this.d.now(), endedByName: actor.username };
    this.d.store.saveAlert(ended);
    this.d.store.setCapStateOfAlert(id, 'cancelled');
    this.live.get(id)!.alert = ended;
    await this.d.audit.record(actor, 'alert.cancel', id, { via, revision: cur.revision });
    this.jobs.abandon(id);
    await this.publisher.cancel(id, cur.areas, 'cancelled');
    await this.publisher.settleSlots();
    this.changes.notify(id, 'cancelled');
    return ended;
  }

  /** End alerts past their validity: no site may start them any more, so the retained slots are cleared (nothing is stopped). */
  async expire(): Promise<string[]> {
    const t = this.d.now();
    const ended: string[] = [];
    for (const l of this.live.values()) {
      if (l.alert.state === 'active' && l.alert.validUntil <= t) {
        l.alert = { ...l.alert, state: 'expired', endedAt: t };
        this.d.store.saveAlert(l.alert);
        this.d.store.setCapStateOfAlert(l.alert.id, 'expired');
        await this.d.audit.record(null, 'alert.expire', l.alert.id, { revision: l.alert.revision });
        this.jobs.abandon(l.alert.id);
        ended.push(l.alert.id);
        this.changes.notify(l.alert.id, 'expired');
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

  get(id: string): Alert | undefined {
    return this.live.get(id)?.alert ?? this.d.store.get(id);
  }

  require(id: string): Alert {
    const a = this.get(id);
    if (!a) throw Errors.notFound('alert', id);
    return a;
  }

  list(f: { state?: Alert['state']; limit?: number } = {}): Alert[] {
    return this.d.store.list(f).map((a) => this.live.get(a.id)?.alert ?? a);
  }

  /** Delivery of an alert; with `siteVisible` (a scoped reader), over only the sites it may see. */
  state(id: string, unreachedLimit?: number, siteVisible?: (siteId: string) => boolean): DeliveryState {
    const alert = this.require(id);
    return deliveryState(
      alert,
      this.visibleRows(id, siteVisible),
      (s) => this.siteInfo(s),
      (s) => this.d.fleet.classify(s),
      this.d.now(),
      this.d.timeZone,
      unreachedLimit,
    );
  }

  /** One site's delivery row of an alert (undefined: no such alert, or the site is not one of its targets). */
  siteDelivery(id: string, siteId: string): Delivery | undefined {
    if (!this.get(id)) return undefined;
    return this.rowsOf(id).get(siteId);
  }

  report(id: string, siteVisible?: (siteId: string) => boolean): { alert: Alert; state: DeliveryState; lines: ReportLine[] } {
    const alert = this.require(id);
    const rows = this.visibleRows(id, siteVisible);
    const state = this.state(id, 0, siteVisible);
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

  capAck(id: string, siteVisible?: (siteId: string) => boolean): string {
    const alert = this.require(id);
    return capAck(alert, this.state(id, 0, siteVisible).counts, { sender: this.d.capSender, now: this.d.now(), timeZone: this.d.timeZone });
  }

  private visibleRows(id: string, siteVisible?: (siteId: string) => boolean): Delivery[] {
    const rows = [...this.rowsOf(id).values()];
    return siteVisible ? rows.filter((r) => siteVisible(r.siteId)) : rows;
  }

  private rowsOf(id: string): Map<string, Delivery> {
    const l = this.live.get(id);
    if (l) return l.rows;
    return new Map(this.d.store.deliveries(id).map((r) => [r.siteId, r]));
  }

  private siteInfo(siteId: string): SiteInfo | undefined {
    const s = this.d.sites.entry(siteId);
    if (!s) return undefined;
    const area = this.d.coverage.areaIndex().byId.get(s.areaId);
    return { name: s.name, areaKey: area?.key ?? s.areaKey, areaName: area?.name ?? null };
  }

  // ----------------------------------------------------------- delivery ----

  onStatus(siteId: string, ev: AlertStatusEvent): void {
    let l = this.live.get(ev.alertId);
    if (!l) {
      const a = this.d.store.get(ev.alertId);
      if (!a) throw new Error(`alert ${ev.alertId} is not known`);
      l = { alert: a, rows: new Map(this.d.store.deliveries(a.id).map((r) => [r.siteId, r])) };
      this.live.set(a.id, l);
    }
    const row = l.rows.get(siteId);
    // A site outside the target (e.g. moved to another area since) is not counted: the proof is about the targeted sites.
    if (!row) throw new Error(`site ${siteId} is not a target of alert ${ev.alertId}`);
    const next = applyStatus(row, ev, l.alert.revision, this.d.now());
    if (next === row) return;
    // Stored first: if the store throws (a full disk), memory keeps the old row, so the status the site
    // sends again is applied again instead of looking like a repeat of something stored.
    this.d.store.saveDelivery(next);
    l.rows.set(siteId, next);
    this.changes.deliveryChanged(ev.alertId);
  }
}
