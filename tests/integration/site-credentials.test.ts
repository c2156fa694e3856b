/**
 * Site credentials in a real store, SQLite and PostgreSQL: loanet checks a
 * site's secret by its SHA-256 digest (migration 8), so no scrypt runs when
 * 3,000 sites come back after a server start; credentials issued before
 * migration 8 are checked by scrypt once and then carry the digest.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository } from '../../server/registry/sites.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

describe.each(storeDialects())('site credentials on %s', (dialect) => {
  let store: TestStore;
  let sites: SiteRepository;

  beforeEach(async () => {
    store = await openTestStore(dialect);
    const areas = new AreaRepository(store.db);
    await areas.create({ version: '2025', code: '15', name: 'Tỉnh Lào Cai', level: 'province' });
    await areas.create({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', parentKey: '2025.15' });
    sites = new SiteRepository(store.db, areas, () => '2025');
  });
  afterEach(() => store.close());

  const credentialRow = (siteId: string) =>
    store.db.selectFrom('site_credentials').select(['id', 'secret_hash', 'secret_digest']).where('site_id', '=', siteId).where('revoked_at', 'is', null).executeTakeFirstOrThrow();

  it('are checked by digest: a fresh repository (a restarted server) accepts the right secret without the scrypt hash', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 1', kind: 'cluster', areaKey: '2025.02683' });
    expect((await credentialRow(site.id)).secret_digest).toMatch(/^[0-9a-f]{64}$/);
    // Break the scrypt hash: if verification still used it, the right secret would now fail.
    await store.db.updateTable('site_credentials').set({ secret_hash: 'scrypt$broken' }).where('site_id', '=', site.id).execute();
    const restarted = new SiteRepository(store.db, new AreaRepository(store.db), () => '2025');
    expect(await restarted.verifyCredential(site.id, credential.secret)).toBe(true);
    expect(await restarted.verifyCredential(site.id, `${credential.secret}x`)).toBe(false);
    expect(await restarted.verifyCredential(site.id, '')).toBe(false);
  });

  it('a credential issued before migration 8 is checked by scrypt once, then carries its digest', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 2', kind: 'cluster', areaKey: '2025.02683' });
    await store.db.updateTable('site_credentials').set({ secret_digest: null }).where('site_id', '=', site.id).execute();
    const restarted = new SiteRepository(store.db, new AreaRepository(store.db), () => '2025');
    expect(await restarted.verifyCredential(site.id, 'wrong')).toBe(false);
    expect((await credentialRow(site.id)).secret_digest).toBeNull(); // a wrong secret writes nothing
    expect(await restarted.verifyCredential(site.id, credential.secret)).toBe(true);
    expect((await credentialRow(site.id)).secret_digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rotation and retirement end the old secret at once, also for a repository that had verified it', async () => {
    const { site, credential } = await sites.create({ name: 'Cụm loa thôn 3', kind: 'cluster', areaKey: '2025.02683' });
    expect(await sites.verifyCredential(site.id, credential.secret)).toBe(true);
    const rotated = await sites.rotateCredential(site.id);
    expect(await sites.verifyCredential(site.id, credential.secret)).toBe(false);
    expect(await sites.verifyCredential(site.id, rotated.secret)).toBe(true);
    await sites.retire(site.id);
    expect(await sites.verifyCredential(site.id, rotated.secret)).toBe(false);
  });

  it('are hashed off the event loop, and sites registered at the same time still get one id each (a taken id is a conflict, not a store error)', async () => {
    const made = await Promise.all([1, 2, 3].map((n) => sites.create({ name: `Cụm loa song song ${n}`, kind: 'cluster', areaKey: '2025.02683' })));
    expect(new Set(made.map((m) => m.site.id)).size).toBe(3);
    for (const m of made) expect(await sites.verifyCredential(m.site.id, m.credential.secret)).toBe(true);
    const same = await Promise.allSettled([1, 2].map(() => sites.create({ id: 'bx-twin', name: 'Trạm đôi', kind: 'station', areaKey: '2025.02683' })));
    expect(same.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((same.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ statusCode: 409 });
  });
});
