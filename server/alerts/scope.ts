/**
 * Who may aim an alert where: a target resolved and checked against the
 * actor's area scope before an alert starts, and an alert's whole reach
 * checked before it is updated or cancelled. A refusal is audited.
 */
import type { AuditLog } from '../audit.ts';
import type { CoverageService } from '../coverage/service.ts';
import { Errors } from '../errors.ts';
import type { SiteRepository } from '../registry/sites.ts';
import type { Alert, Delivery } from './model.ts';
import { outsideScope, resolveTargets, type ResolvedTargets, type TargetSite } from './targets.ts';

export interface AlertActor {
  id: number;
  username: string;
  /** Root of the actor's area scope; null: the whole network. */
  areaId: number | null;
}

export interface AlertScopeDeps {
  coverage: CoverageService;
  sites: SiteRepository;
  audit: AuditLog;
  /** An alert's delivery rows by site: its target sites. */
  rowsOf: (alertId: string) => ReadonlyMap<string, Delivery>;
}

export class AlertScope {
  constructor(private readonly d: AlertScopeDeps) {}

  async targetSites(): Promise<TargetSite[]> {
    return (await this.d.sites.list()).map((s) => ({ siteId: s.id, areaId: s.areaId, lat: s.lat, lon: s.lon }));
  }

  /** Resolve and scope-check a target; throws 400 (naming the field) or 403 (naming what lies outside). */
  async resolve(req: { areaKeys: readonly string[]; siteIds: readonly string[] }, actor: AlertActor, given?: readonly TargetSite[]): Promise<ResolvedTargets> {
    const sites = given ?? (await this.targetSites());
    const index = this.d.coverage.areaIndex();
    const r = resolveTargets(req, index, sites);
    if (!r.ok) throw Errors.badRequest(`${r.problem.field}: ${r.problem.message}`, r.problem.field);
    const out = outsideScope(r.targets, actor.areaId, index, sites);
    if (out) {
      await this.d.audit.record(actor, 'alert.denied', null, { why: out, areas: req.areaKeys });
      throw Errors.forbidden({ rule: 'alert_scope', username: actor.username, action: 'start', text: out });
    }
    return r.targets;
  }

  /** Throws 403 unless the actor's scope holds every site and area of the alert. */
  async mayChange(alert: Alert, actor: AlertActor, action: string): Promise<void> {
    if (actor.areaId === null) return;
    const index = this.d.coverage.areaIndex();
    const rows = this.d.rowsOf(alert.id);
    const sites = await this.targetSites();
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
      await this.d.audit.record(actor, 'alert.denied', alert.id, { action, areasOutside: areasOut, sitesOutside: sitesOut.length });
      // Areas are public geography; sites of other communes are only counted.
      throw Errors.forbidden({
        rule: 'alert_scope',
        username: actor.username,
        action,
        text: `${alert.id} reaches ${areasOut[0] !== undefined ? `area ${areasOut[0]}` : `${sitesOut.length} site(s)`} outside it`,
      });
    }
  }
}
