/**
 * Alert changes told to live consoles (GET /api/stream): who listens, what
 * one change says (with the areas it reaches, so the stream shows it only to
 * users who may see it), and the coalescing of delivery changes, since status
 * reports arrive in storms.
 */
import type { AreaIndex } from '../coverage/coverage.ts';
import type { Logger } from '../fleet/broker.ts';
import type { DeliveryCounts } from './delivery.ts';
import type { Alert, Delivery } from './model.ts';

/** What changed about an alert, for live consoles (GET /api/stream). */
export type AlertChangeKind = 'started' | 'delivery' | 'updated' | 'cancelled' | 'expired';

export interface AlertChange {
  kind: AlertChangeKind;
  alertId: string;
  revision: number;
  state: Alert['state'];
  test: boolean;
  title: string;
  counts: DeliveryCounts;
  /** Areas the alert reaches (its channels' areas and its target sites' areas): who may see the change. */
  areaIds: number[];
}

export type AlertChangeListener = (c: AlertChange) => void;

/** Status reports arrive in storms (thousands of sites within seconds): one delivery event per alert per this window. */
const DELIVERY_COALESCE_MS = 300;

export interface AlertChangeFeedDeps {
  log: Logger;
  alertOf: (id: string) => Alert | undefined;
  countsOf: (id: string) => DeliveryCounts;
  rowsOf: (id: string) => ReadonlyMap<string, Delivery>;
  areaIndex: () => AreaIndex;
  /** Every site (retired too), for the areas of an alert's target sites. */
  siteAreas: () => Iterable<{ id: string; areaId: number }>;
}

export class AlertChangeFeed {
  private readonly listeners = new Set<AlertChangeListener>();
  /** Alerts with delivery changes not yet told to listeners, and the timer that will tell them. */
  private readonly pendingDelivery = new Set<string>();
  private deliveryTimer: NodeJS.Timeout | undefined;
  /** Areas an alert revision reaches, kept per revision: a site lookup per target on every change cost ~0.2 ms × sites. */
  private readonly reach = new Map<string, { revision: number; areaIds: number[] }>();

  constructor(private readonly d: AlertChangeFeedDeps) {}

  /** Be told of alert changes (start, delivery, update, cancel, expiry); returns the unsubscribe. */
  listen(fn: AlertChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(id: string, kind: AlertChangeKind): void {
    if (this.listeners.size === 0) return;
    const alert = this.d.alertOf(id);
    if (!alert) return;
    const change: AlertChange = {
      kind,
      alertId: id,
      revision: alert.revision,
      state: alert.state,
      test: alert.test,
      title: alert.title,
      counts: this.d.countsOf(id),
      areaIds: this.areaIdsOf(alert),
    };
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch (e) {
        this.d.log.error({ err: e, alertId: id }, 'alert change listener failed');
      }
    }
  }

  /** Delivery changes are coalesced: at most one event per alert per DELIVERY_COALESCE_MS. */
  deliveryChanged(id: string): void {
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

  /** Delivery changes not yet told are dropped. */
  stop(): void {
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = undefined;
    this.pendingDelivery.clear();
  }

  private areaIdsOf(alert: Alert): number[] {
    const known = this.reach.get(alert.id);
    if (known?.revision === alert.revision) return known.areaIds;
    const index = this.d.areaIndex();
    const areaIds = new Set<number>();
    for (const k of alert.areas) {
      const n = index.get(k);
      if (n) areaIds.add(n.id);
    }
    const rows = this.d.rowsOf(alert.id);
    if (rows.size > 0) for (const s of this.d.siteAreas()) if (rows.has(s.id)) areaIds.add(s.areaId);
    const out = [...areaIds];
    if (this.reach.size > 1000) this.reach.clear();
    this.reach.set(alert.id, { revision: alert.revision, areaIds: out });
    return out;
  }
}
