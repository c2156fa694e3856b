/**
 * The registry watch on one store shared by two "servers" (two sets of
 * repositories, each with its own fleet and coverage, as two processes would
 * have): what one changes, the other's watcher applies at its next look —
 * a site registered, moved, given a new credential, retired; an area import —
 * and a burst of registrations is one re-read. On SQLite and PostgreSQL (the
 * watcher only runs on PostgreSQL; its logic is the same).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository } from '../../server/registry/sites.ts';
import { FleetState } from '../../server/fleet/fleet-state.ts';
import { CoverageService } from '../../server/coverage/service.ts';
import { DEFAULT_COVERAGE_POLICY } from '../../server/coverage/model.ts';
import { listenForRegistryChanges, RegistryWatch } from '../../server/cluster/registry-watch.ts';
import { currentRegistryGeneration } from '../../server/registry/changes.ts';
import { openTestStore, storeDialects, testDatabaseUrl, type TestStore } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const SILENT = { info() {}, warn() {}, error() {} };

async function server(store: TestStore, now: () => number, intervalMs?: number) {
  const areas = new AreaRepository(store.db, now);
  const sites = new SiteRepository(store.db, areas, () => '2025', now);
  const since = await currentRegistryGeneration(store.db);
  await areas.load();
  await sites.load();
  const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, now, { writer: { mayWrite: () => false, keepMs: 60_000 } });
  await fleet.load(await sites.list());
  const coverage = new CoverageService(store.db, areas, fleet, DEFAULT_COVERAGE_POLICY, '2025', now);
  const watch = new RegistryWatch({ db: store.db, areas, sites, fleet, coverage, log: SILENT, since, maxSites: 50, intervalMs });
  return { areas, sites, fleet, coverage, watch };
}

describe.each(storeDialects())('the registry watch on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  let a: Awaited<ReturnType<typeof server>>;
  let b: Awaited<ReturnType<typeof server>>;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1_764_979_200_000;
    const now = () => clock;
    a = await server(store, now);
    await a.areas.import(
      '2025',
      [
        { code: '15', name: 'Tỉnh Lào Cai', level: 'province', kind: null, parentCode: null, lat: null, lon: null },
        { code: '02683', name: 'Xã Bát Xát', level: 'commune', kind: null, parentCode: '15', lat: null, lon: null },
        { code: '02686', name: 'Xã Mường Hum', level: 'commune', kind: null, parentCode: '15', lat: null, lon: null },
      ],
      'test',
    );
    b = await server(store, now);
  });
  afterEach(() => store.close());

  it('a site registered, moved, rotated and retired on one server reaches the other at its next look', async () => {
    const { site, credential } = await a.sites.create({ name: 'Đài xã Bát Xát', kind: 'station', areaKey: '2025.02683' });
    expect(b.fleet.isKnownSite(site.id)).toBe(false);
    await b.watch.look();
    expect(b.fleet.observation(site.id)).toMatchObject({ name: 'Đài xã Bát Xát', areaId: site.areaId });
    expect(b.sites.entry(site.id)).toMatchObject({ areaKey: '2025.02683', retired: false });
    expect(b.coverage.report('2025.02683', 10).sites).toBe(1);

    // Checked on B (and kept there for VERIFIED_TTL_MS), then rotated on A: B refuses the old one at its next look.
    expect(await b.sites.verifyCredential(site.id, credential.secret)).toBe(true);
    const rotated = await a.sites.rotateCredential(site.id);
    await b.watch.look();
    expect(await b.sites.verifyCredential(site.id, credential.secret)).toBe(false);
    expect(await b.sites.verifyCredential(site.id, rotated.secret)).toBe(true);

    await a.sites.update(site.id, { areaKey: '2025.02686', name: 'Đài Mường Hum' });
    await b.watch.look();
    expect(b.fleet.observation(site.id)).toMatchObject({ name: 'Đài Mường Hum' });
    expect(b.coverage.report('2025.02683', 10).sites).toBe(0);
    expect(b.coverage.report('2025.02686', 10).sites).toBe(1);

    await a.sites.retire(site.id);
    await b.watch.look();
    expect(b.fleet.isKnownSite(site.id)).toBe(false);
    expect(b.sites.entry(site.id)).toMatchObject({ retired: true });
    expect(await b.sites.verifyCredential(site.id, rotated.secret)).toBe(false);
    expect(b.coverage.report('2025.15', 10).sites).toBe(0);
  });

  it("an area import on one server is in the other's coverage index at its next look", async () => {
    expect(() => b.coverage.resolveArea('2025.02689')).toThrow();
    await a.areas.import('2025', [{ code: '02689', name: 'Xã Y Tý', level: 'commune', kind: null, parentCode: '15', lat: null, lon: null }], 'test');
    await b.watch.look();
    expect(b.coverage.resolveArea('2025.02689').name).toBe('Xã Y Tý');
    expect(b.watch.stats.areaReloads).toBe(1);
  });

  it('a burst of registrations is one look and one re-read; a look that finds nothing reads nothing else', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push((await a.sites.create({ name: `Cụm ${i}`, kind: 'cluster', areaKey: '2025.02683' })).site.id);
    await b.watch.look();
    expect(ids.every((id) => b.fleet.isKnownSite(id))).toBe(true);
    expect(b.watch.stats).toMatchObject({ applied: 1, sitesReread: 60, areaReloads: 0 });
    expect(b.coverage.report('2025.02683', 10).sites).toBe(60);
    await b.watch.look();
    expect(b.watch.stats).toMatchObject({ looks: 2, applied: 1, sitesReread: 60 });
    // A's own changes come back to it and change nothing in its fleet.
    const changed: string[] = [];
    a.fleet.listen({ siteChanged: (id) => changed.push(id) });
    for (const id of ids) a.fleet.upsertSite((await a.sites.get(id))!);
    changed.length = 0;
    await a.watch.look();
    expect(changed).toEqual([]);
  });

  it.runIf(dialect === 'postgres')('on PostgreSQL a committed write wakes a listening watcher before its next poll', async () => {
    const c = await server(store, () => clock, 600_000);
    c.watch.start();
    const unlisten = listenForRegistryChanges(testDatabaseUrl()!, c.watch, SILENT);
    try {
      // Its first look (on listening) has run once the notification connection is up.
      await waitFor('the listener up', () => c.watch.stats.looks > 0, 30_000, 10);
      const { site } = await a.sites.create({ name: 'Đài xã Bát Xát', kind: 'station', areaKey: '2025.02683' });
      await waitFor('woken by the notification', () => c.fleet.isKnownSite(site.id), 30_000, 5);
    } finally {
      await unlisten();
      await c.watch.stop();
    }
  });
});
