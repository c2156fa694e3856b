/**
 * The registry's contract, the same on SQLite and on PostgreSQL: the area
 * tree (nesting, cycles, retirement only when empty, an all-or-nothing
 * import) and sites (ids, filters in code-unit order, moves, retirement,
 * the broker's credential list), with the copies kept in memory (active
 * areas, every site's name and place) following each committed write. Races
 * that a single SQLite connection never runs side by side are run here on
 * both: the same outcome is required.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository, VERIFIED_TTL_MS } from '../../server/registry/sites.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

describe.each(storeDialects())('the registry on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  let areas: AreaRepository;
  let sites: SiteRepository;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1_764_979_200_000;
    const now = () => clock;
    areas = new AreaRepository(store.db, now);
    sites = new SiteRepository(
      store.db,
      areas,
      () => '2025',
      now,
      (secret) => `$7$test$${secret.length}`,
    );
    await areas.load();
    await sites.load();
    await areas.create({ version: '2025', code: '15', name: 'Tỉnh Lào Cai', level: 'province' });
    await areas.create({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', parentKey: '2025.15', lat: 22.53, lon: 103.89 });
  });
  afterEach(() => store.close());

  describe('areas', () => {
    it('read back as written, with the parent key, by key, bare code or id, in version and code order', async () => {
      await areas.create({ version: '2025', code: 'a-02683-1', name: 'Thôn Phìn Hồ', level: 'village', kind: 'thôn', parentKey: '2025.02683' });
      await areas.create({ version: '2025', code: 'A-02683-2', name: 'Thôn Tả Phìn', level: 'village', parentKey: '02683' });
      await areas.create({ version: '2020', code: '080', name: 'Tỉnh Lào Cai (2020)', level: 'province' });
      const v = (await areas.get('a-02683-1', '2025'))!;
      expect(v).toMatchObject({ key: '2025.a-02683-1', version: '2025', level: 'village', kind: 'thôn', parentKey: '2025.02683', lat: null, retiredAt: null });
      expect(v.createdAt).toBe(clock);
      expect((await areas.byId(v.id))!.key).toBe(v.key);
      expect(await areas.get('2025.99999', '2025')).toBeUndefined();
      await expect(areas.require('2025.99999', '2025')).rejects.toMatchObject({ statusCode: 404 });
      // Code-unit order (as SQLite's BINARY), whatever collation the database has: uppercase before lowercase.
      expect((await areas.list({})).map((a) => a.key)).toEqual(['2020.080', '2025.02683', '2025.15', '2025.A-02683-2', '2025.a-02683-1']);
      expect((await areas.list({ version: '2025', level: 'village' })).map((a) => a.code)).toEqual(['A-02683-2', 'a-02683-1']);
      const commune = (await areas.get('2025.02683', '2025'))!;
      expect((await areas.list({ parentId: commune.id })).map((a) => a.code)).toEqual(['A-02683-2', 'a-02683-1']);
      expect(areas.active().map((a) => a.key)).toEqual((await areas.list({})).map((a) => a.key));
    });

    it('refuse a taken key, a missing, retired, lower or other-version parent', async () => {
      const code = (p: Promise<unknown>) =>
        p.then(
          () => 'made',
          (e: { code?: string }) => e.code,
        );
      expect(await code(areas.create({ version: '2025', code: '02683', name: 'Again', level: 'commune', parentKey: '2025.15' }))).toBe('LOANET_NAME_TAKEN');
      expect(await code(areas.create({ version: '2025', code: '1', name: 'Orphan', level: 'commune' }))).toBe('LOANET_AREA_NEEDS_PARENT');
      expect(await code(areas.create({ version: '2025', code: '2', name: 'X', level: 'commune', parentKey: '2025.404' }))).toBe('LOANET_REFERENCE_NOT_FOUND');
      expect(await code(areas.create({ version: '2025', code: '3', name: 'X', level: 'district', parentKey: '2025.02683' }))).toBe('LOANET_AREA_NESTING');
      await areas.create({ version: '2020', code: '080', name: 'Old', level: 'province' });
      expect(await code(areas.create({ version: '2025', code: '4', name: 'X', level: 'commune', parentKey: '2020.080' }))).toBe('LOANET_AREA_VERSION_MISMATCH');
      await areas.create({ version: '2025', code: 'd1', name: 'District', level: 'district', parentKey: '2025.15' });
      await areas.create({ version: '2025', code: 'c1', name: 'Commune', level: 'commune', parentKey: '2025.d1' });
      expect(await code(areas.update('2025.d1', '2025', { parentKey: '2025.c1' }))).toBe('LOANET_AREA_NESTING');
      await areas.create({ version: '2025', code: 'v1', name: 'Village', level: 'village', parentKey: '2025.c1' });
      await areas.create({ version: '2025', code: 'v2', name: 'Village 2', level: 'village', parentKey: '2025.c1' });
      await areas.retire('2025.v2', '2025');
      expect(await code(areas.create({ version: '2025', code: 'v3', name: 'X', level: 'village', parentKey: '2025.v2' }))).toBe('LOANET_REFERS_TO_RETIRED');
      expect(await code(areas.update('2025.v2', '2025', { name: 'Back' }))).toBe('LOANET_RETIRED');
    });

    it('move, rename and retire; retiring is refused while active children or sites remain, and the copy in memory follows', async () => {
      await areas.create({ version: '2025', code: '02686', name: 'Xã Mường Hum', level: 'commune', parentKey: '2025.15' });
      await areas.create({ version: '2025', code: 'v1', name: 'Thôn 1', level: 'village', parentKey: '2025.02683' });
      clock += 1000;
      const moved = await areas.update('2025.v1', '2025', { parentKey: '2025.02686', name: 'Thôn Một', lat: 22.5 });
      expect(moved).toMatchObject({ parentKey: '2025.02686', name: 'Thôn Một', lat: 22.5, lon: null, updatedAt: clock });
      expect(areas.active().find((a) => a.code === 'v1')!.name).toBe('Thôn Một');
      await expect(areas.retire('2025.02686', '2025')).rejects.toMatchObject({ code: 'LOANET_AREA_NOT_EMPTY', params: { children: 1, sites: 0 } });
      const { site } = await sites.create({ name: 'Cụm loa Thôn Một', kind: 'cluster', areaKey: '2025.v1' });
      await expect(areas.retire('2025.v1', '2025')).rejects.toMatchObject({ code: 'LOANET_AREA_NOT_EMPTY', params: { children: 0, sites: 1 } });
      expect((await areas.get('2025.v1', '2025'))!.retiredAt).toBeNull();
      await sites.retire(site.id);
      const retired = await areas.retire('2025.v1', '2025');
      expect(retired.retiredAt).toBe(clock);
      expect(areas.active().some((a) => a.code === 'v1')).toBe(false);
      expect((await areas.list({ includeRetired: true })).some((a) => a.code === 'v1')).toBe(true);
      // Retiring again answers the area as it is.
      expect((await areas.retire('2025.v1', '2025')).retiredAt).toBe(retired.retiredAt);
    });

    it('import all or nothing: created, updated (a retired one revived), unchanged; a bad row leaves nothing', async () => {
      await areas.create({ version: '2025', code: 'v1', name: 'Thôn 1', level: 'village', parentKey: '2025.02683' });
      await areas.retire('2025.v1', '2025');
      const drafts = [
        { code: '15', name: 'Tỉnh Lào Cai', level: 'province' as const, kind: null, parentCode: null, lat: null, lon: null },
        { code: '02683', name: 'Xã Bát Xát', level: 'commune' as const, kind: null, parentCode: '15', lat: 22.53, lon: 103.89 },
        { code: 'v1', name: 'Thôn 1', level: 'village' as const, kind: null, parentCode: '02683', lat: null, lon: null },
        { code: 'v2', name: 'Thôn 2', level: 'village' as const, kind: 'thôn', parentCode: '02683', lat: 22.6, lon: 103.9 },
      ];
      expect(await areas.import('2025', drafts, 'csv-import')).toEqual({ version: '2025', created: 1, updated: 1, unchanged: 2 });
      expect((await areas.get('2025.v1', '2025'))!.retiredAt).toBeNull();
      expect((await areas.get('2025.v2', '2025'))!).toMatchObject({ source: 'csv-import', kind: 'thôn', parentKey: '2025.02683' });
      expect(areas.active().map((a) => a.code)).toEqual(['02683', '15', 'v1', 'v2']);
      const before = await areas.list({ includeRetired: true });
      const bad = [
        { code: 'v3', name: 'Thôn 3', level: 'village' as const, kind: null, parentCode: '02683', lat: null, lon: null },
        { code: '02683', name: 'Xã Bát Xát', level: 'district' as const, kind: null, parentCode: '15', lat: null, lon: null },
      ];
      await expect(areas.import('2025', bad, 'csv-import')).rejects.toMatchObject({ code: 'LOANET_AREA_LEVEL_MISMATCH' });
      expect(await areas.list({ includeRetired: true })).toEqual(before);
      expect(areas.active().map((a) => a.code)).toEqual(['02683', '15', 'v1', 'v2']);
    });

    it('active() before load() is an error, not an empty tree', async () => {
      expect(() => new AreaRepository(store.db).active()).toThrow(/load/);
      const fresh = new AreaRepository(store.db);
      await fresh.load();
      expect(fresh.active().map((a) => a.key)).toEqual(['2025.02683', '2025.15']);
    });
  });

  describe('sites', () => {
    it('are registered with generated or given ids, read back as written, and listed in id order with filters', async () => {
      const a = await sites.create({ name: 'Đài xã Bát Xát', kind: 'station', areaKey: '2025.02683', expectedDevices: [{ id: 'amp1', kind: 'amplifier' }] });
      const b = await sites.create({ name: 'Cụm loa Thôn Phìn Hồ', kind: 'cluster', areaKey: '02683', monitorMic: true, lat: 22.6 });
      const c = await sites.create({ id: 'bx-a', name: 'Cụm loa CHỢ', kind: 'cluster', areaKey: '2025.02683', profile: 'kit-2' });
      expect([a.site.id, b.site.id]).toEqual(['02683-st1', '02683-cl1']);
      expect(a.site).toMatchObject({ areaKey: '2025.02683', lat: 22.53, lon: 103.89, monitorMic: false, expectedDevices: [{ id: 'amp1', kind: 'amplifier' }], retiredAt: null });
      expect(b.site).toMatchObject({ monitorMic: true, lat: 22.6, lon: 103.89 });
      expect(await sites.get(c.site.id)).toEqual(c.site);
      await expect(sites.require('nope')).rejects.toMatchObject({ statusCode: 404 });
      const ids = async (f: Parameters<SiteRepository['list']>[0]) => (await sites.list(f)).map((s) => s.id);
      expect(await ids({})).toEqual(['02683-cl1', '02683-st1', 'bx-a']);
      expect(await ids({ kind: 'cluster' })).toEqual(['02683-cl1', 'bx-a']);
      // The search is case-blind in both dialects, and takes % and _ as themselves.
      expect(await ids({ q: 'chợ' })).toEqual(['bx-a']);
      expect(await ids({ q: 'PHÌN' })).toEqual(['02683-cl1']);
      expect(await ids({ q: 'ST1' })).toEqual(['02683-st1']);
      expect(await ids({ q: '%' })).toEqual([]);
      const province = (await areas.get('2025.15', '2025'))!;
      expect(await ids({ areaIds: new Set([province.id]) })).toEqual([]);
      await sites.retire('bx-a');
      expect(await ids({})).toEqual(['02683-cl1', '02683-st1']);
      expect(await ids({ includeRetired: true })).toEqual(['02683-cl1', '02683-st1', 'bx-a']);
      // Where each site is, for the playlist distributor: the same sites as the full list, retired ones marked.
      const full = await sites.list({ includeRetired: true });
      const placed = (await sites.placements()).sort((x, y) => (x.id < y.id ? -1 : 1));
      expect(placed).toEqual(full.map((s) => ({ id: s.id, areaId: s.areaId, retired: s.retiredAt !== null })));
      expect(placed.find((p) => p.id === 'bx-a')?.retired).toBe(true);
    });

    it('refuse a retired area, a bad or taken id; an update moves a site, and a retired site stays retired', async () => {
      await areas.create({ version: '2025', code: 'v1', name: 'Thôn 1', level: 'village', parentKey: '2025.02683' });
      await areas.create({ version: '2025', code: 'v2', name: 'Thôn 2', level: 'village', parentKey: '2025.02683' });
      await areas.retire('2025.v2', '2025');
      await expect(sites.create({ name: 'X', kind: 'cluster', areaKey: '2025.v2' })).rejects.toMatchObject({ code: 'LOANET_REFERS_TO_RETIRED' });
      await expect(sites.create({ id: 'Bad Id', name: 'X', kind: 'cluster', areaKey: '2025.v1' })).rejects.toMatchObject({ code: 'LOANET_SITE_ID_FORMAT' });
      const { site } = await sites.create({ id: 'bx-1', name: 'Cụm 1', kind: 'cluster', areaKey: '2025.v1' });
      await expect(sites.create({ id: 'bx-1', name: 'X', kind: 'cluster', areaKey: '2025.v1' })).rejects.toMatchObject({ code: 'LOANET_NAME_TAKEN' });
      clock += 1000;
      const moved = await sites.update(site.id, { areaKey: '2025.02683', name: 'Cụm Một', lat: null, expectedDevices: [{ id: 'spk', kind: 'speaker' }] });
      expect(moved).toMatchObject({ areaKey: '2025.02683', name: 'Cụm Một', lat: null, expectedDevices: [{ id: 'spk', kind: 'speaker' }], updatedAt: clock });
      expect(sites.entry(site.id)).toMatchObject({ name: 'Cụm Một', areaKey: '2025.02683', retired: false });
      await expect(sites.update(site.id, { areaKey: '2025.v2' })).rejects.toMatchObject({ code: 'LOANET_REFERS_TO_RETIRED' });
      await sites.retire(site.id);
      await expect(sites.update(site.id, { name: 'Back' })).rejects.toMatchObject({ code: 'LOANET_RETIRED' });
      await expect(sites.rotateCredential(site.id)).rejects.toMatchObject({ code: 'LOANET_RETIRED' });
      expect(sites.entry(site.id)).toMatchObject({ retired: true });
    });

    it('give the broker the current credential of each active site, with its own hash', async () => {
      const a = await sites.create({ id: 'bx-b', name: 'B', kind: 'cluster', areaKey: '2025.02683' });
      await sites.create({ id: 'bx-a', name: 'A', kind: 'cluster', areaKey: '2025.02683' });
      await sites.create({ id: 'bx-gone', name: 'Gone', kind: 'cluster', areaKey: '2025.02683' });
      await sites.retire('bx-gone');
      const rotated = await sites.rotateCredential('bx-b');
      expect(rotated.secret).not.toBe(a.credential.secret);
      const commune = (await areas.get('2025.02683', '2025'))!;
      expect(await sites.brokerCredentials()).toEqual([
        { siteId: 'bx-a', areaId: commune.id, mosquittoHash: expect.stringMatching(/^\$7\$test\$/) },
        { siteId: 'bx-b', areaId: commune.id, mosquittoHash: `$7$test$${rotated.secret.length}` },
      ]);
    });

    it('a rotation whose own step fails changes nothing: the old secret still works', async () => {
      const { site, credential } = await sites.create({ name: 'C', kind: 'cluster', areaKey: '2025.02683' });
      await expect(
        sites.rotateCredential(site.id, () => {
          throw new Error('code already spent');
        }),
      ).rejects.toThrow('code already spent');
      expect(await sites.verifyCredential(site.id, credential.secret)).toBe(true);
      // The step runs on the rotation's transaction: what it writes commits or rolls back with the credential.
      const rotated = await sites.rotateCredential(site.id, async (trx) => {
        await trx.updateTable('sites').set({ profile: 'enrolled' }).where('id', '=', site.id).execute();
      });
      expect((await sites.get(site.id))!.profile).toBe('enrolled');
      expect(await sites.verifyCredential(site.id, credential.secret)).toBe(false);
      expect(await sites.verifyCredential(site.id, rotated.secret)).toBe(true);
    });

    it('a credential revoked through another server stops working here within VERIFIED_TTL_MS', async () => {
      const { site, credential } = await sites.create({ name: 'D', kind: 'cluster', areaKey: '2025.02683' });
      expect(await sites.verifyCredential(site.id, credential.secret)).toBe(true);
      // Another server sharing the store rotates it: this repository is not told.
      await store.db.updateTable('site_credentials').set({ revoked_at: clock }).where('site_id', '=', site.id).execute();
      clock += VERIFIED_TTL_MS - 1;
      expect(await sites.verifyCredential(site.id, credential.secret)).toBe(true);
      clock += 1;
      expect(await sites.verifyCredential(site.id, credential.secret)).toBe(false);
    });

    it('entry() knows every site after load(), retired ones too, and refuses before it', async () => {
      await sites.create({ id: 'bx-1', name: 'Một', kind: 'cluster', areaKey: '2025.02683' });
      await sites.create({ id: 'bx-2', name: 'Hai', kind: 'cluster', areaKey: '2025.02683' });
      await sites.retire('bx-2');
      const fresh = new SiteRepository(store.db, areas, () => '2025');
      expect(() => fresh.entry('bx-1')).toThrow(/load/);
      await fresh.load();
      expect(fresh.entry('bx-1')).toMatchObject({ name: 'Một', areaKey: '2025.02683', retired: false });
      expect(fresh.entry('bx-2')).toMatchObject({ retired: true });
      expect([...fresh.allEntries()].map((e) => e.id).sort()).toEqual(['bx-1', 'bx-2']);
      expect(fresh.entry('bx-3')).toBeUndefined();
    });
  });

  describe('races (side by side on PostgreSQL, one after the other on SQLite; the same outcome either way)', () => {
    it('an area retired while sites are registered under it never ends retired with an active site', async () => {
      for (let round = 0; round < 5; round++) {
        const code = `r${round}`;
        await areas.create({ version: '2025', code, name: `Thôn ${round}`, level: 'village', parentKey: '2025.02683' });
        const [made, retired] = await Promise.allSettled([
          sites.create({ id: `bx-r${round}`, name: 'Cụm', kind: 'cluster', areaKey: `2025.${code}` }),
          areas.retire(`2025.${code}`, '2025'),
        ]);
        const area = (await areas.get(`2025.${code}`, '2025'))!;
        const active = await sites.list({ areaIds: new Set([area.id]) });
        // Exactly one wins: the site (and the area stays, refusing to retire) or the retirement (and no site).
        if (made.status === 'fulfilled') {
          expect(retired.status).toBe('rejected');
          expect(area.retiredAt).toBeNull();
          expect(active.map((s) => s.id)).toEqual([`bx-r${round}`]);
        } else {
          expect(retired.status).toBe('fulfilled');
          expect(area.retiredAt).not.toBeNull();
          expect(active).toEqual([]);
        }
      }
    });

    it('a site retired while its credential is rotated ends retired, with no credential left working', async () => {
      for (let round = 0; round < 5; round++) {
        const { site, credential } = await sites.create({ name: 'Cụm', kind: 'cluster', areaKey: '2025.02683' });
        const [rotated] = await Promise.allSettled([sites.rotateCredential(site.id), sites.retire(site.id)]);
        expect((await sites.get(site.id))!.retiredAt).not.toBeNull();
        expect(await sites.verifyCredential(site.id, credential.secret)).toBe(false);
        if (rotated.status === 'fulfilled') expect(await sites.verifyCredential(site.id, rotated.value.secret)).toBe(false);
        const live = await store.db.selectFrom('site_credentials').select('id').where('site_id', '=', site.id).where('revoked_at', 'is', null).execute();
        expect(live).toEqual([]);
      }
    });

    it('sites registered at once in one area get distinct generated ids', async () => {
      const made = await Promise.all([1, 2, 3, 4, 5].map((n) => sites.create({ name: `Cụm ${n}`, kind: 'cluster', areaKey: '2025.02683' })));
      expect(made.map((m) => m.site.id).sort()).toEqual(['02683-cl1', '02683-cl2', '02683-cl3', '02683-cl4', '02683-cl5']);
    });
  });
});
