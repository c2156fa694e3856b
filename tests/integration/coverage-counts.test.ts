/**
 * The coverage answer reads counts the server keeps up to date from registry
 * and fleet events: a site registered, moved to another commune, renamed and
 * retired shows in /api/coverage at once, with no recompute in between.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
});
afterAll(async () => t?.stop());

type Coverage = { sites: number; unverified: number; unverifiedTotal: number; unverifiedSites: Array<{ siteId: string; name: string; areaKey: string }> };
const coverage = async (area: string) => {
  const r = await t.inject<Coverage>('GET', `/api/coverage?area=${area}`);
  expect(r.status).toBe(200);
  return r.body;
};

describe('coverage counts follow the registry', () => {
  it('counts a site where it is registered, follows its move and its new name, and drops it when retired', async () => {
    const province = await coverage('15');
    const created = await t.inject<{ site: { id: string } }>('POST', '/api/sites', { name: 'Cụm loa Bát Xát 1', kind: 'cluster', area: '02683' });
    expect(created.status).toBe(201);
    const id = created.body.site.id;

    const a = await coverage('02683');
    expect([a.sites, a.unverified, a.unverifiedTotal]).toEqual([1, 1, 1]);
    expect(a.unverifiedSites.map((s) => s.siteId)).toEqual([id]);
    expect((await coverage('15')).sites).toBe(province.sites + 1);

    expect((await t.inject('PATCH', `/api/sites/${id}`, { area: '02647', name: 'Cụm loa Lào Cai 1' })).status).toBe(200);
    expect((await coverage('02683')).sites).toBe(0);
    const b = await coverage('02647');
    expect(b.unverifiedSites).toEqual([{ siteId: id, name: 'Cụm loa Lào Cai 1', areaKey: '2025.02647' }]);
    expect((await coverage('15')).sites).toBe(province.sites + 1);

    expect((await t.inject('DELETE', `/api/sites/${id}`)).status).toBe(200);
    expect((await coverage('02647')).sites).toBe(0);
    expect((await coverage('15')).sites).toBe(province.sites);
  });
});
