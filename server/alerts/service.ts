/**
 * The alert service, the shell around the pure alert modules: starts,
 * revises (Update) and cancels alerts, publishes them on the area control
 * channels (retained while valid), takes the sites' alert_status reports into
 * the delivery rows, ends alerts at the end of their validity, and after a
 * restart publishes the valid ones again (aedes keeps retained messages in
 * memory only), so sites not yet confirmed still get them.
 *
 * Delivery rows of the alerts in memory are kept in memory too and written
 * through on every change: a status report costs one row write, never a read.
 */
import { randomBytes } from 'node:crypto';
import { areaControlTopic, encodeJson, type AlertCancel, type AlertCancelReason, type AlertStart, type AlertStatusEvent, type AttentionSignal } from '../../protocol/index.ts';
import type { AuditLog } from '../audit.ts';
import type { CoverageService } from '../coverage/service.ts';
import { Errors } from '../errors.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { SiteRepository } from '../registry/sites.ts';
import type { LatLon } from './cap/model.ts';
import { capAck } from './cap-ack.ts';
import { applyStatus } from './delivery-status.ts';
import { deliveryState, type DeliveryState, type SiteInfo } from './delivery.ts';
import type { MessageOutcome, PreparedMessage } from './message.ts';
import type { Alert, CapOrigin, Delivery } from './model.ts';
import { reportLines, type ReportLine } from './report.ts';
import { retainedPlan, slotChanges, type RetainedPlan } from './retained.ts';
import type { AlertStore } from './store.ts';
import { outsideScope, resolveTargets, type ResolvedTargets, type TargetSite } from './targets.ts';

function messageFields(m: PreparedMessage): Pick<Alert, 'media' | 'message' | 'messageState' | 'messageReason'> {
  return { media: m.media, message: m.source, messageState: m.state, messageReason: m.reason };
}

export interface AlertActor {
  id: number;
  username: string;
  /** Root of the actor's area scope; null: the whole network. */
  areaId: number | null;
}

export interface AlertSpec {
  title: string;
  test: boolean;
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

/** What changed about an alert, for live consoles (GET /api/stream). */
export type AlertChangeKind = 'started' | 'delivery' | 'updated' | 'cancelled' | 'expired';

export interface AlertChange {
  kind: AlertChangeKind;
  alertId: string;
  revision: number;
  state: Alert['state'];
  test: boolean;
  title: string;
  counts: DeliveryState['counts'];
  /** Areas the alert reaches (its channels' areas and its target sites' areas): who may see the change. */
  areaIds: number[];
}

export type AlertChangeListener = (c: AlertChange) => void;

/** Status reports arrive in storms (thousands of sites within seconds): one delivery event per alert per this window. */
const DELIVERY_COALESCE_MS = 300;

/** Alerts kept in memory after they end, so late stop/complete reports still land cheaply. */
const ENDED_KEPT_MS = 3600_000;

export class AlertService {
  private readonly live = new Map<string, Live>();
  private plan: RetainedPlan = new Map();
  /** Alerts to re-announce on a channel, for sites that came online while another alert held its retained slot. */
  private readonly nudges = new Map<string, Set<string>>();
  private nudgeTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<AlertChangeListener>();
  /** Alerts with delivery changes not yet told to listeners, and the timer that will tell them. */
  private readonly pendingDelivery = new Set<string>();
  private deliveryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: AlertServiceDeps) {}

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
    this.expire();
    this.d.fleet.listen({
      siteEvent: (siteId, ev) => {
        if (ev.type === 'alert_status') this.onStatus(siteId, ev);
      },
      siteOnline: (siteId) => this.onSiteOnline(siteId),
    });
    this.plan = new Map();
    await this.applyPlan();
  }

  stop(): void {
    clearTimeout(this.nudgeTimer);
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = undefined;
    this.pendingDelivery.clear();
  }

  /** Be told of alert changes (start, delivery, update, cancel, expiry); returns the unsubscribe. */
  listen(fn: AlertChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private notify(id: string, kind: AlertChangeKind): void {
    if (this.listeners.size === 0) return;
    const alert = this.get(id);
    if (!alert) return;
    const change: AlertChange = { kind, alertId: id, revision: alert.revision, state: alert.state, test: alert.test, title: alert.title, counts: this.state(id, 0).counts, areaIds: this.areaIdsOf(alert) };
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch (e) {
        this.d.log.error({ err: e, alertId: id }, 'alert change listener failed');
      }
    }
  }

  /** Areas an alert revision reaches, kept per revision: a site lookup per target on every change cost ~0.2 ms × sites. */
  private readonly reach = new Map<string, { revision: number; areaIds: number[] }>();

  private areaIdsOf(alert: Alert): number[] {
    const known = this.reach.get(alert.id);
    if (known?.revision === alert.revision) return known.areaIds;
    const index = this.d.coverage.areaIndex();
    const areaIds = new Set<number>();
    for (const k of alert.areas) {
      const n = index.get(k);
      if (n) areaIds.add(n.id);
    }
    const rows = this.rowsOf(alert.id);
    if (rows.size > 0) for (const s of this.d.sites.list({ includeRetired: true })) if (rows.has(s.id)) areaIds.add(s.areaId);
    const out = [...areaIds];
    if (this.reach.size > 1000) this.reach.clear();
    this.reach.set(alert.id, { revision: alert.revision, areaIds: out });
    return out;
  }

  /** Delivery changes are coalesced: at most one event per alert per DELIVERY_COALESCE_MS. */
  private deliveryChanged(id: string): void {
    if (this.listeners.size === 0) return;
    this.pendingDelivery.add(id);
    if (this.deliveryTimer) return;
    this.deliveryTimer = setTimeout(() => {
      this.deliveryTimer = undefined;
      const ids = [...this.pendingDelivery];
      this.pendingDelivery.clear();
      for (const a of ids) this.notify(a, 'delivery');
    }, DELIVERY_COALESCE_MS);
    this.deliveryTimer.unref();
  }

  // ------------------------------------------------------------ targets ----

  areaIndex() {
    return this.d.coverage.areaIndex();
  }

  targetSites(): TargetSite[] {
    return this.d.sites.list().map((s) => ({ siteId: s.id, areaId: s.areaId, lat: s.lat, lon: s.lon }));
  }

  /** Resolve and scope-check a target; throws 400 (naming the field) or 403 (naming what lies outside). */
  resolve(req: { areaKeys: readonly string[]; siteIds: readonly string[] }, actor: AlertActor, sites = this.targetSites()): ResolvedTargets {
    const index = this.d.coverage.areaIndex();
    const r = resolveTargets(req, index, sites);
    if (!r.ok) throw Errors.badRequest(`${r.problem.field}: ${r.problem.message}`, r.problem.field);
    const out = outsideScope(r.targets, actor.areaId, index, sites);
    if (out) {
      this.d.audit.record(actor, 'alert.denied', null, { why: out, areas: req.areaKeys });
      throw Errors.forbidden(`${actor.username} may start alerts only inside their own area: ${out}`);
    }
    return r.targets;
  }

  /** Throws 403 unless the actor's scope holds every site and area of the alert. */
  mayChange(alert: Alert, actor: AlertActor, action: string): void {
    if (actor.areaId === null) return;
    const index = this.d.coverage.areaIndex();
    const rows = this.rowsOf(alert.id);
    const sites = this.targetSites();
    const byId = new Map(sites.map((s) => [s.siteId, s]));
    const areasOut = alert.areas.filter((k) => {
      const n = index.get(k);
      return !n || !index.isInSubtree(n.id, actor.areaId!);
    });
    const sitesOut = [...rows.keys()].filter((id) => {
      const s = byId.get(id);
      return s !== undefined && !index.isInSubtree(s.areaId, actor.areaId!);
    });
    if (areasOut.length > 0 || sitesOut.length > 0) {
      this.d.audit.record(actor, 'alert.denied', alert.id, { action, areasOutside: areasOut, sitesOutside: sitesOut.length });
      // Areas are public geography; sites of other communes are only counted.
      throw Errors.forbidden(`${actor.username} may ${action} only alerts inside their own area; ${alert.id} reaches ${areasOut[0] !== undefined ? `area ${areasOut[0]}` : `${sitesOut.length} site(s)`} outside it`);
    }
  }

  // ---------------------------------------------------------- lifecycle ----

  async create(spec: AlertSpec, targets: ResolvedTargets, message: PreparedMessage, actor: AlertActor, cap: CapOrigin | null, targetAreas: readonly string[]): Promise<Alert> {
    const t = this.d.now();
    if (spec.validUntil <= t) throw Errors.badRequest('validity: the alert would already be expired', 'validUntil');
    const alert: Alert = {
      id: `alr-${randomBytes(8).toString('hex')}`,
      revision: 1,
      state: 'active',
      test: spec.test,
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
    this.d.audit.record(actor, 'alert.start', alert.id, {
      title: alert.title, test: alert.test, channels: alert.areas, sites: targets.siteIds.length, mediaId: alert.message.mediaId, messageState: alert.messageState,
      attention: alert.attention, repeats: alert.repeats, volume: alert.volume, validUntil: alert.validUntil, cap,
    });
    await this.announce(alert, alert.areas);
    this.notify(alert.id, 'started');
    this.follow(alert.id, message);
    return alert;
  }

  /** An Update in flight: new content and/or targets, revision + 1; every site is pending again for it. */
  async revise(id: string, spec: AlertSpec, targets: ResolvedTargets, message: PreparedMessage, actor: AlertActor, cap: CapOrigin | null, targetAreas: readonly string[]): Promise<Alert> {
    const cur = this.require(id);
    if (cur.state !== 'active') throw Errors.conflict(`alert ${id} is ${cur.state}: start a new alert instead`);
    this.mayChange(cur, actor, 'update');
    const t = this.d.now();
    const next: Alert = {
      ...cur,
      revision: cur.revision + 1,
      test: spec.test,
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
    this.d.audit.record(actor, 'alert.update', id, { revision: next.revision, title: next.title, channels: next.areas, sites: targets.siteIds.length, mediaId: next.message.mediaId, messageState: next.messageState, cap });
    const dropped = cur.areas.filter((k) => !next.areas.includes(k));
    if (dropped.length > 0) await this.publishCancel(id, dropped, 'superseded');
    await this.announce(next, next.areas);
    this.notify(id, 'updated');
    this.follow(id, message);
    return next;
  }

  /** Alerts whose message audio is still being made, and when it settles (tests and shutdown wait on these). */
  private readonly preparing = new Map<string, Promise<void>>();
  /** How to stop making an alert's message, by alert id: called when the alert ends or an Update replaces the message. */
  private readonly abandons = new Map<string, { mediaId: string; abandon: () => void }>();

  /** The alert no longer needs the message being made for it (unless it is `keep`): stop the job, free the lane. */
  private abandonMessage(alertId: string, keep?: string): void {
    const a = this.abandons.get(alertId);
    if (!a || a.mediaId === keep) return;
    this.abandons.delete(alertId);
    a.abandon();
  }

  /** When the message of a preparing alert is made (or fails), publish it: the same revision again, now complete. */
  private follow(alertId: string, message: PreparedMessage): void {
    this.abandonMessage(alertId, message.source.mediaId);
    if (message.state !== 'preparing' || !message.done) return;
    const mediaId = message.source.mediaId;
    if (message.abandon) this.abandons.set(alertId, { mediaId, abandon: message.abandon });
    const p = message.done
      .then((r) => this.messageSettled(alertId, mediaId, r))
      .catch((err: unknown) => this.d.log.error({ err, alertId }, 'publishing the alert message failed'))
      .finally(() => {
        if (this.preparing.get(mediaId) === p) this.preparing.delete(mediaId);
        if (this.abandons.get(alertId)?.mediaId === mediaId) this.abandons.delete(alertId);
      });
    this.preparing.set(mediaId, p);
  }

  /** Resolves once no alert message is being made (messages already published). */
  async messagesSettled(): Promise<void> {
    while (this.preparing.size > 0) await Promise.allSettled([...this.preparing.values()]);
  }

  private async messageSettled(alertId: string, mediaId: string, r: MessageOutcome): Promise<void> {
    const l = this.live.get(alertId);
    // Cancelled, expired, or given another message by an Update meanwhile: this audio is no longer the alert's.
    if (!l || l.alert.state !== 'active' || l.alert.messageState !== 'preparing' || l.alert.message.mediaId !== mediaId) return;
    const next: Alert = r.ok
      ? { ...l.alert, media: r.media, messageState: 'ready', messageReason: null }
      : { ...l.alert, media: null, messageState: 'failed', messageReason: r.reason.slice(0, 500) };
    this.d.store.saveAlert(next);
    l.alert = next;
    this.d.audit.record(null, 'alert.message', alertId, r.ok ? { revision: next.revision, messageState: 'ready', mediaId } : { revision: next.revision, messageState: 'failed', mediaId, reason: next.messageReason });
    if (!r.ok) this.d.log.warn({ alertId, mediaId, reason: r.reason }, 'alert message audio could not be made: the alert stands with its attention signal');
    await this.announce(next, next.areas);
    this.notify(alertId, 'updated');
  }

  async cancel(id: string, actor: AlertActor, via: 'api' | 'cap' = 'api'): Promise<Alert> {
    const cur = this.require(id);
    this.mayChange(cur, actor, 'cancel');
    if (cur.state !== 'active') return cur;
    const ended: Alert = { ...cur, state: 'cancelled', endedAt: this.d.now(), endedByName: actor.username };
    this.d.store.saveAlert(ended);
    this.d.store.setCapStateOfAlert(id, 'cancelled');
    this.live.get(id)!.alert = ended;
    this.d.audit.record(actor, 'alert.cancel', id, { via, revision: cur.revision });
    this.abandonMessage(id);
    await this.publishCancel(id, cur.areas, 'cancelled');
    await this.applyPlan();
    this.notify(id, 'cancelled');
    return ended;
  }

  /** End alerts past their validity: no site may start them any more, so the retained slots are cleared (nothing is stopped). */
  expire(): string[] {
    const t = this.d.now();
    const ended: string[] = [];
    for (const l of this.live.values()) {
      if (l.alert.state === 'active' && l.alert.validUntil <= t) {
        l.alert = { ...l.alert, state: 'expired', endedAt: t };
        this.d.store.saveAlert(l.alert);
        this.d.store.setCapStateOfAlert(l.alert.id, 'expired');
        this.d.audit.record(null, 'alert.expire', l.alert.id, { revision: l.alert.revision });
        this.abandonMessage(l.alert.id);
        ended.push(l.alert.id);
        this.notify(l.alert.id, 'expired');
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
    this.expire();
    this.plan = new Map();
    await this.applyPlan();
  }

  /** The periodic job: expire, then fix the retained slots. */
  async tick(): Promise<void> {
    if (this.expire().length > 0) await this.applyPlan();
  }

  // ------------------------------------------------------------ reading ----

  get(id: string): Alert | undefined {
    return this.live.get(id)?.alert ?? this.d.store.get(id);
  }

  require(id: string): Alert {
    const a = this.get(id);
    if (!a) throw Errors.notFound(`alert ${id}`);
    return a;
  }

  list(f: { state?: Alert['state']; limit?: number } = {}): Alert[] {
    return this.d.store.list(f).map((a) => this.live.get(a.id)?.alert ?? a);
  }

  /** Delivery of an alert; with `siteVisible` (a scoped reader), over only the sites it may see. */
  state(id: string, unreachedLimit?: number, siteVisible?: (siteId: string) => boolean): DeliveryState {
    const alert = this.require(id);
    return deliveryState(alert, this.visibleRows(id, siteVisible), (s) => this.siteInfo(s), (s) => this.d.fleet.classify(s), this.d.now(), this.d.timeZone, unreachedLimit);
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
    return { alert, state, lines: reportLines(alert, rows, (s) => this.siteInfo(s), (s) => this.d.fleet.classify(s), this.d.now(), this.d.timeZone) };
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
    const s = this.d.sites.get(siteId);
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
    this.deliveryChanged(ev.alertId);
  }

  // --------------------------------------------------------- publishing ----

  private startMessage(a: Alert): AlertStart {
    return {
      v: 1,
      type: 'alert_start',
      alertId: a.id,
      revision: a.revision,
      test: a.test,
      areas: a.areas,
      ...(a.sites ? { sites: a.sites } : {}),
      ...(a.media ? { media: a.media } : { messageState: a.messageState === 'failed' ? 'failed' : 'preparing' }),
      attention: a.attention,
      repeats: a.repeats,
      ...(a.volume !== null ? { volume: a.volume } : {}),
      validUntil: a.validUntil,
      title: a.title.slice(0, 200),
      at: a.revisedAt,
    };
  }

  /** Publish an alert on its channels at once (retained where it holds the slot), then settle the other slots. */
  private async announce(a: Alert, channels: readonly string[]): Promise<void> {
    const next = retainedPlan(this.slotCandidates());
    const payload = encodeJson(this.startMessage(a));
    await Promise.all(
      channels.map((ch) => {
        const h = next.get(ch);
        const retain = h?.id === a.id && h.revision === a.revision;
        return this.publish(areaControlTopic(ch), payload, retain);
      }),
    );
    // The slots this alert took are already published; the rest of the change is applied as usual.
    for (const ch of channels) {
      const h = next.get(ch);
      if (h?.id === a.id && h.revision === a.revision) this.plan.set(ch, h);
    }
    await this.applyPlan(next);
  }

  private async publishCancel(alertId: string, channels: readonly string[], reason: AlertCancelReason): Promise<void> {
    const m: AlertCancel = { v: 1, type: 'alert_cancel', alertId, reason, at: this.d.now() };
    const payload = encodeJson(m);
    await Promise.all(channels.map((ch) => this.publish(areaControlTopic(ch), payload, false)));
  }

  private slotCandidates() {
    return [...this.live.values()]
      .filter((l) => l.alert.state === 'active')
      .map((l) => ({ id: l.alert.id, revision: l.alert.revision, revisedAt: l.alert.revisedAt, channels: l.alert.areas }));
  }

  private async applyPlan(next = retainedPlan(this.slotCandidates())): Promise<void> {
    const changes = slotChanges(this.plan, next);
    this.plan = next;
    await Promise.all(
      changes.map((c) => {
        const holder = c.holder ? this.live.get(c.holder.id)?.alert : undefined;
        // An empty retained payload clears the slot [MQTT-3.3.1-10]; receivers ignore empty payloads.
        return this.publish(areaControlTopic(c.channel), holder ? encodeJson(this.startMessage(holder)) : Buffer.alloc(0), true);
      }),
    );
  }

  private async publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    try {
      await this.d.broker.publish(topic, payload, { qos: 1, retain });
    } catch (err) {
      this.d.log.error({ topic, err }, 'alert publish failed');
    }
  }

  /**
   * A site came online. The retained slots of its channels give it the
   * newest valid alert; an older one still valid and not confirmed there is
   * announced again (not retained) on its channel — batched, since a flood of
   * reconnecting sites must not cost one publish each.
   */
  private onSiteOnline(siteId: string): void {
    const site = this.d.fleet.observation(siteId);
    if (!site) return;
    let keys: string[] | undefined;
    for (const l of this.live.values()) {
      if (l.alert.state !== 'active') continue;
      const row = l.rows.get(siteId);
      if (!row || row.status !== 'pending' && row.status !== 'received') continue;
      keys ??= this.d.coverage.channelKeysOfArea(site.areaId);
      const ch = keys.find((k) => l.alert.areas.includes(k));
      if (!ch) continue;
      const h = this.plan.get(ch);
      if (h?.id === l.alert.id && h.revision === l.alert.revision) continue;
      let set = this.nudges.get(l.alert.id);
      if (!set) this.nudges.set(l.alert.id, (set = new Set()));
      set.add(ch);
    }
    if (this.nudges.size > 0 && !this.nudgeTimer) {
      this.nudgeTimer = setTimeout(() => {
        this.nudgeTimer = undefined;
        const batch = [...this.nudges];
        this.nudges.clear();
        for (const [id, chs] of batch) {
          const a = this.live.get(id)?.alert;
          if (!a || a.state !== 'active') continue;
          const payload = encodeJson(this.startMessage(a));
          for (const ch of chs) void this.publish(areaControlTopic(ch), payload, false);
        }
      }, 500);
      this.nudgeTimer.unref();
    }
  }
}
