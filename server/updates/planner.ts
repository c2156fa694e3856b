/**
 * What a rollout request means: its targets resolved inside the caller's
 * area (areas as subtrees, sites, a profile), the sites the release leaves
 * out and why (rollout.ts eligibility, fed with the latest heartbeats), the
 * spec with its defaults, and the waves. A dry run answers this as it is;
 * creating a rollout stores it. Also the fleet's version counts, from the
 * same heartbeat facts. Reads only: nothing is stored or sent here.
 */
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.ts';
import type { CoverageService } from '../coverage/service.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { ReleaseLookup, StoredRelease } from '../releases/model.ts';
import type { AreaNode } from '../registry/model.ts';
import type { Site, SiteRepository } from '../registry/sites.ts';
import { eligibility, planWaves, rolloutSpecProblem, type ExclusionReason, type RolloutSpec, type TargetFacts, type WaveSpec } from './rollout.ts';
import type { RolloutPlan, RolloutStore } from './store.ts';
import { versionDistribution, type SiteVersions, type VersionCounts } from './versions.ts';

/** Defaults of a request that leaves them out. */
export const ROLLOUT_DEFAULTS = {
  successThreshold: 0.9,
  errorThreshold: 0.1,
  minFinished: 3,
  onError: 'pause' as const,
  maxInFlight: 50,
  broadcastMarginMin: 15,
  healthTimeoutS: 300,
  /** Generous: a 20 MB agent over a weak 4G link with cuts takes a while, and each heartbeat with progress resets it. */
  noReportS: 7200,
  /** A download may take this many times the release's size, resumes and retries included. */
  budgetFactor: 3,
};

export interface RolloutActor {
  id: number;
  username: string;
  /** The root of the person's area scope; null: the whole network. */
  areaId: number | null;
}

export interface RolloutInput {
  releaseId: string;
  targets: { areas?: string[]; sites?: string[]; profile?: string };
  waves: WaveSpec[];
  successThreshold?: number;
  errorThreshold?: number;
  minFinished?: number;
  onError?: 'pause' | 'abort';
  maxInFlight?: number;
  excludedHours?: Array<{ from: string; to: string }>;
  broadcastMarginMin?: number;
  budgetBytes?: number;
  healthTimeoutS?: number;
  noReportS?: number;
}

export interface DryRunSite {
  siteId: string;
  name: string;
  areaKey: string;
  /** Index of its wave; null when the last wave's share leaves it out. */
  wave: number | null;
  online: boolean;
  fromVersion: string | null;
  devices?: string[];
}

export interface DryRun {
  release: { id: string; component: string; version: string; totalBytes: number };
  waves: Array<{ name: string; size: number }>;
  included: DryRunSite[];
  excluded: Array<{ siteId: string; name: string; areaKey: string; why: ExclusionReason; detail: string }>;
  /** Included sites offline now: they take part, and start when they are back. */
  offline: number;
}

export interface RolloutPlannerDeps {
  store: Pick<RolloutStore, 'heldSites'>;
  releases: ReleaseLookup;
  sites: Pick<SiteRepository, 'get' | 'list' | 'entry'>;
  coverage: Pick<CoverageService, 'areaIndex' | 'resolveArea' | 'subtreeIds'>;
  fleet: Pick<FleetState, 'isOnline' | 'observation'>;
  now: () => number;
}

export class RolloutPlanner {
  constructor(private readonly d: RolloutPlannerDeps) {}

  /** Versions per area under `rootAreaId` (each child's subtree, and the root's own sites), from the latest heartbeats. */
  async fleetVersions(rootAreaId: number): Promise<{ total: VersionCounts; areas: Array<{ key: string; name: string } & VersionCounts> }> {
    const index = this.d.coverage.areaIndex();
    const root = index.byId.get(rootAreaId)!;
    const children = index.children(rootAreaId);
    const childIds = new Set(children.map((c) => c.id));
    const groupOf = (areaId: number): string => {
      if (areaId === rootAreaId) return root.key;
      for (const a of [index.byId.get(areaId), ...index.ancestors(areaId)]) if (a && childIds.has(a.id)) return a.key;
      return root.key;
    };
    const facts: SiteVersions[] = (await this.d.sites.list({ areaIds: this.d.coverage.subtreeIds(rootAreaId) })).map((s) => {
      const f = this.versionFacts(s);
      return { group: groupOf(s.areaId), agent: f.agentVersion, devices: f.devices };
    });
    const dist = versionDistribution(facts, [root.key, ...children.map((c) => c.key)]);
    return {
      total: dist.total,
      areas: dist.groups.filter((g) => g.sites > 0 || g.group !== root.key).map(({ group, ...c }) => ({ key: group, name: index.get(group)?.name ?? group, ...c })),
    };
  }

  /** What the latest heartbeat says of a site's versions; devices from the registry (firmware unknown) before any. */
  versionFacts(s: Site): Pick<TargetFacts, 'agentVersion' | 'devices'> {
    const t = this.d.fleet.observation(s.id)?.telemetry;
    if (!t) return { agentVersion: null, devices: s.expectedDevices.map((d) => ({ id: d.id, kind: d.kind, firmware: null })) };
    return { agentVersion: t.versions.agent, devices: t.devices.map((d) => ({ id: d.id, kind: d.kind, hardware: d.hardware ?? null, firmware: d.firmware ?? null })) };
  }

  private async usableRelease(id: string): Promise<StoredRelease> {
    const release = await this.d.releases.get(id);
    if (!release) throw fail('LOANET_ROLLOUT_RELEASE_UNUSABLE', { field: 'releaseId', id, why: 'unknown' });
    if (release.retiredAt !== null) throw fail('LOANET_ROLLOUT_RELEASE_UNUSABLE', { field: 'releaseId', id, why: 'retired' });
    if (release.completeAt === null) throw fail('LOANET_ROLLOUT_RELEASE_UNUSABLE', { field: 'releaseId', id, why: 'incomplete' });
    return release;
  }

  /** The sites a request names, inside the caller's scope: areas (their subtrees) and sites, narrowed to a profile. */
  private async targetSites(t: RolloutInput['targets'], actor: RolloutActor): Promise<Site[]> {
    const index = this.d.coverage.areaIndex();
    const scope = actor.areaId;
    const inScope = (areaId: number) => scope === null || index.isInSubtree(areaId, scope);
    const found = new Map<string, Site>();
    for (const [i, key] of (t.areas ?? []).entries()) {
      let node: AreaNode;
      try {
        node = this.d.coverage.resolveArea(key);
      } catch {
        throw fail('LOANET_REFERENCE_NOT_FOUND', { field: `targets.areas.${i}`, thing: 'area', id: key });
      }
      if (!inScope(node.id)) throw fail('LOANET_FORBIDDEN', { rule: 'scope', field: `targets.areas.${i}`, text: `area ${node.name} lies outside your area` });
      for (const s of await this.d.sites.list({ areaIds: this.d.coverage.subtreeIds(node.id) })) found.set(s.id, s);
    }
    for (const [i, id] of (t.sites ?? []).entries()) {
      const s = await this.d.sites.get(id);
      // A site outside the scope is not found, as on every site route: ids cannot be probed.
      if (!s || !inScope(s.areaId)) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: `targets.sites.${i}`, thing: 'site', id });
      found.set(s.id, s);
    }
    if (!t.areas?.length && !t.sites?.length) {
      if (!t.profile) throw fail('LOANET_TARGET_REQUIRED', { field: 'targets' });
      for (const s of await this.d.sites.list(scope === null ? {} : { areaIds: this.d.coverage.subtreeIds(scope) })) found.set(s.id, s);
    }
    const all = [...found.values()];
    return t.profile ? all.filter((s) => s.profile === t.profile) : all;
  }

  async plan(input: RolloutInput, actor: RolloutActor, purpose: 'dry-run' | 'create'): Promise<{ dry: DryRun; plan: RolloutPlan }> {
    // The targets first: a request reaching outside the caller's area is refused as such, whatever else is wrong with it.
    const targeted = await this.targetSites(input.targets, actor);
    const release = await this.usableRelease(input.releaseId);
    const id = `ro-${this.d.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const spec: RolloutSpec = {
      id,
      waves: input.waves,
      successThreshold: input.successThreshold ?? ROLLOUT_DEFAULTS.successThreshold,
      errorThreshold: input.errorThreshold ?? ROLLOUT_DEFAULTS.errorThreshold,
      minFinished: input.minFinished ?? ROLLOUT_DEFAULTS.minFinished,
      onError: input.onError ?? ROLLOUT_DEFAULTS.onError,
      maxInFlight: input.maxInFlight ?? ROLLOUT_DEFAULTS.maxInFlight,
      ...(input.excludedHours ? { excludedHours: input.excludedHours } : {}),
      broadcastMarginMs: (input.broadcastMarginMin ?? ROLLOUT_DEFAULTS.broadcastMarginMin) * 60_000,
    };
    const problem = rolloutSpecProblem(spec);
    if (problem) throw fail('LOANET_ROLLOUT_SPEC', { field: problem.slice(0, problem.indexOf(':')), text: problem });
    const held = await this.d.store.heldSites();
    const target = { component: release.component, version: release.version, ...release.manifest.target };
    const included: Array<Site & { fromVersion: string | null; devices?: string[] }> = [];
    const excluded: DryRun['excluded'] = [];
    for (const s of targeted.sort((a, b) => a.id.localeCompare(b.id))) {
      const facts: TargetFacts = { siteId: s.id, retired: s.retiredAt !== null, profile: s.profile, otherRollout: held.get(s.id) ?? null, ...this.versionFacts(s) };
      const e = eligibility(target, facts);
      if (e.included) included.push({ ...s, fromVersion: e.fromVersion, ...(e.devices ? { devices: e.devices } : {}) });
      else excluded.push({ siteId: s.id, name: s.name, areaKey: s.areaKey, why: e.why, detail: e.detail });
    }
    const waves = planWaves(
      spec,
      included.map((s) => s.id),
    );
    const waveOf = new Map<string, number>();
    waves.forEach((members, i) => members.forEach((m) => waveOf.set(m, i)));
    const sites: DryRunSite[] = included.map((s) => ({
      siteId: s.id,
      name: s.name,
      areaKey: s.areaKey,
      wave: waveOf.get(s.id) ?? null,
      online: this.d.fleet.isOnline(s.id),
      fromVersion: s.fromVersion,
      ...(s.devices ? { devices: s.devices } : {}),
    }));
    if (purpose === 'create' && waveOf.size === 0) {
      throw fail('LOANET_ROLLOUT_NO_SITES', { field: 'targets', targeted: included.length + excluded.length, excluded: excluded.length });
    }
    const totalBytes = release.totalBytes;
    const plan: RolloutPlan = {
      spec,
      releaseId: release.id,
      targets: { areas: input.targets.areas ?? [], sites: input.targets.sites ?? [], profile: input.targets.profile ?? null },
      budgetBytes: input.budgetBytes ?? Math.max(1024 * 1024, Math.ceil(totalBytes * ROLLOUT_DEFAULTS.budgetFactor)),
      healthTimeoutS: input.healthTimeoutS ?? ROLLOUT_DEFAULTS.healthTimeoutS,
      noReportS: input.noReportS ?? ROLLOUT_DEFAULTS.noReportS,
      createdByName: actor.username,
    };
    return {
      plan,
      dry: {
        release: { id: release.id, component: release.component, version: release.version, totalBytes },
        waves: waves.map((m, i) => ({ name: spec.waves[i]!.name, size: m.length })),
        included: sites,
        excluded,
        offline: sites.filter((s) => !s.online).length,
      },
    };
  }
}
