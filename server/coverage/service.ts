/**
 * Coverage as a service: the shell around the pure coverage functions. It
 * keeps the area index (rebuilt when areas change), answers coverage for any
 * subtree at the current time, stores a history snapshot every few minutes,
 * and tells the broker which audio channels a site may hear.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { AreaRepository } from '../registry/areas.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import { AreaIndex, UnknownAreaError } from './coverage.ts';
import { type BoundedCoverageReport, CoverageCounts, type CountedSite, coverageFromCounts, snapshotRowsFromCounts, timeOverrides } from './coverage-counts.ts';
import { classifySite } from './site-condition.ts';
import type { ConditionCounts, CoveragePolicy, SiteCondition } from './model.ts';
import type { AreaNode } from '../registry/model.ts';
import { Errors } from '../errors.ts';

export interface CoverageHistoryPoint extends ConditionCounts {
  at: number;
  villages: number;
  villagesCovered: number;
}

export class CoverageService {
  private index: AreaIndex | undefined;
  /** Per-area counts mirroring the fleet's recorded verdicts; built with the index, kept up to date by the fleet's events. */
  private counts: CoverageCounts | undefined;
  /** Subscribed on the first report; the service lives as long as the fleet. */
  private unlisten: (() => void) | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly areas: Pick<AreaRepository, 'active'>,
    private readonly fleet: FleetState,
    private readonly policy: CoveragePolicy,
    private readonly defaultVersion: string,
    private readonly now: () => number = Date.now,
  ) {}

  private readonly areaListeners = new Set<() => void>();

  /** Call after any change to areas. */
  invalidate(): void {
    this.index = undefined;
    this.counts = undefined;
    for (const fn of this.areaListeners) fn();
  }

  /** Be told after areas changed (what an area speaks, where it hangs); returns the unsubscribe. */
  onAreasChanged(fn: () => void): () => void {
    this.areaListeners.add(fn);
    return () => this.areaListeners.delete(fn);
  }

  /**
   * The counts, built once from the fleet's recorded verdicts and then kept
   * in step with its events: a condition change, a site registered, moved or
   * renamed, a site retired. A rebuild (after areas change) is O(sites).
   */
  private coverageCounts(): CoverageCounts {
    if (this.counts) return this.counts;
    this.unlisten ??= this.fleet.listen({
      conditionChanged: (c) => this.track(c.siteId, c.to),
      siteChanged: (id) => this.track(id, undefined),
      siteRemoved: (id) => this.counts?.remove(id),
    });
    const t = this.now();
    const sites: CountedSite[] = [];
    for (const o of this.fleet.observations()) {
      const condition = this.fleet.verdict(o.siteId)?.condition ?? classifySite(o, t, this.policy).condition;
      sites.push({ siteId: o.siteId, name: o.name, kind: o.kind, areaId: o.areaId, condition, obs: o });
    }
    this.counts = CoverageCounts.build(this.areaIndex(), sites);
    return this.counts;
  }

  private track(siteId: string, condition: SiteCondition | undefined): void {
    const counts = this.counts;
    const o = this.fleet.observation(siteId);
    if (!counts || !o) return;
    const c = condition ?? this.fleet.verdict(siteId)?.condition ?? counts.get(siteId)?.condition ?? classifySite(o, this.now(), this.policy).condition;
    counts.upsert({ siteId, name: o.name, kind: o.kind, areaId: o.areaId, condition: c, obs: o });
  }

  areaIndex(): AreaIndex {
    this.index ??= AreaIndex.build(this.areas.active());
    return this.index;
  }

  resolveArea(keyOrCode: string): AreaNode {
    const key = keyOrCode.includes('.') ? keyOrCode : `${this.defaultVersion}.${keyOrCode}`;
    const node = this.areaIndex().get(key);
    if (!node) throw Errors.notFound('area', keyOrCode);
    return node;
  }

  /** The top areas (provinces) of the default structure version, for a request without ?area=. */
  defaultRoot(): AreaNode {
    const roots = this.areaIndex().roots.filter((r) => r.version === this.defaultVersion);
    const root = roots[0] ?? this.areaIndex().roots[0];
    if (!root) throw Errors.notFound('area_list', '');
    return root;
  }

  /** The area and its ancestors' ids: what a user's scope is checked against. */
  areaPath(areaId: number): number[] {
    const idx = this.areaIndex();
    return [areaId, ...idx.ancestors(areaId).map((a) => a.id)];
  }

  subtreeIds(areaId: number): Set<number> {
    return new Set([...this.areaIndex().subtree(areaId)].map((a) => a.id));
  }

  /** Area keys whose audio channel a site may subscribe to: its area and every ancestor. */
  channelKeysOfArea(areaId: number): string[] {
    const idx = this.areaIndex();
    const self = idx.byId.get(areaId);
    return self ? [self.key, ...idx.ancestors(areaId).map((a) => a.key)] : [];
  }

  /**
   * Coverage of an area now, lists cut to `limit` (worst first). Counts are
   * read from the kept counts; the only per-site work is for sites time alone
   * may have made worse since their verdict was recorded (silent past the
   * deadline, sound proof or configuration come due: a cheap test per site,
   * a classification for the few it flags) and for the listed sites' reasons.
   */
  report(areaKeyOrCode: string | undefined, limit = Number.POSITIVE_INFINITY): BoundedCoverageReport {
    const root = areaKeyOrCode ? this.resolveArea(areaKeyOrCode) : this.defaultRoot();
    const t = this.now();
    const counts = this.coverageCounts();
    const overrides = timeOverrides(counts, t, this.policy);
    try {
      return counts.withConditions(overrides, () => coverageFromCounts(counts, root.key, t, limit, (id) => this.fleet.classify(id, t)!));
    } catch (e) {
      if (e instanceof UnknownAreaError) throw Errors.notFound('area', e.areaKey);
      throw e;
    }
  }

  /**
   * Store one history row per area of commune level or higher, all in one
   * transaction; resolves with the number of rows once committed. The counts
   * are taken before the first await, so the rows are one instant's.
   */
  async snapshot(): Promise<number> {
    const t = this.now();
    const idx = this.areaIndex();
    const counts = this.coverageCounts();
    const rows = counts.withConditions(timeOverrides(counts, t, this.policy), () => snapshotRowsFromCounts(counts, t));
    const values = rows.flatMap((r) => {
      const node = idx.get(r.areaKey);
      return node
        ? [
            {
              at: t,
              area_id: node.id,
              sites: r.sites,
              operational: r.operational,
              degraded: r.degraded,
              faulty: r.faulty,
              offline: r.offline,
              unverified: r.unverified,
              villages: r.villages,
              villages_covered: r.villagesCovered,
            },
          ]
        : [];
    });
    if (values.length === 0) return rows.length;
    await this.db.transaction().execute(async (trx) => {
      // Rows per INSERT well under either dialect's limit on bound parameters (10 columns).
      for (let i = 0; i < values.length; i += 1000) {
        await trx
          .insertInto('coverage_history')
          .values(values.slice(i, i + 1000))
          // Two snapshots in one millisecond (a test's frozen clock, a job and a start together): the later one stands, as before.
          .onConflict((oc) =>
            oc.columns(['area_id', 'at']).doUpdateSet((eb) => ({
              sites: eb.ref('excluded.sites'),
              operational: eb.ref('excluded.operational'),
              degraded: eb.ref('excluded.degraded'),
              faulty: eb.ref('excluded.faulty'),
              offline: eb.ref('excluded.offline'),
              unverified: eb.ref('excluded.unverified'),
              villages: eb.ref('excluded.villages'),
              villages_covered: eb.ref('excluded.villages_covered'),
            })),
          )
          .execute();
      }
    });
    return rows.length;
  }

  async history(areaKeyOrCode: string | undefined, from: number, to: number): Promise<{ area: string; points: CoverageHistoryPoint[] }> {
    const root = areaKeyOrCode ? this.resolveArea(areaKeyOrCode) : this.defaultRoot();
    const points = await this.db
      .selectFrom('coverage_history')
      .select(['at', 'sites', 'operational', 'degraded', 'faulty', 'offline', 'unverified', 'villages', 'villages_covered as villagesCovered'])
      .where('area_id', '=', root.id)
      .where('at', '>=', from)
      .where('at', '<', to)
      .orderBy('at')
      .limit(20000)
      .execute();
    return { area: root.key, points };
  }
}
