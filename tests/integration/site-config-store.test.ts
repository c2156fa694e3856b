/**
 * Each site's newest configuration revision (server/site-config/store.ts),
 * the same on SQLite and on PostgreSQL: none before the first, then what was
 * put, a later put replacing it (one row per site), sites apart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SiteConfigStore } from '../../server/site-config/store.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = 1_764_979_200_000;

describe.each(storeDialects())('the site configuration revisions on %s', (dialect) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    const area = await store.db
      .insertInto('areas')
      .values({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', created_at: T0, updated_at: T0 })
      .returning('id')
      .executeTakeFirstOrThrow();
    await store.db
      .insertInto('sites')
      .values(
        ['lc-0001', 'lc-0002'].map((id) => ({
          id,
          name: id,
          kind: 'cluster' as const,
          area_id: area.id,
          lat: null,
          lon: null,
          profile: null,
          created_at: T0,
          updated_at: T0,
          retired_at: null,
        })),
      )
      .execute();
  });
  afterEach(() => store.close());

  it('keeps the newest revision per site', async () => {
    const configs = new SiteConfigStore(store.db);
    expect(await configs.get('lc-0001')).toBeUndefined();
    await configs.put('lc-0001', { revision: 1, hash: 'a'.repeat(64), madeAt: T0 });
    expect(await configs.get('lc-0001')).toEqual({ revision: 1, hash: 'a'.repeat(64), madeAt: T0 });
    await configs.put('lc-0001', { revision: 2, hash: 'b'.repeat(64), madeAt: T0 + 1000 });
    await configs.put('lc-0002', { revision: 7, hash: 'c'.repeat(64), madeAt: T0 + 2000 });
    expect(await configs.get('lc-0001')).toEqual({ revision: 2, hash: 'b'.repeat(64), madeAt: T0 + 1000 });
    expect(await configs.get('lc-0002')).toEqual({ revision: 7, hash: 'c'.repeat(64), madeAt: T0 + 2000 });
    const rows = await store.db.selectFrom('site_configs').select('site_id').execute();
    expect(rows.map((r) => r.site_id).sort()).toEqual(['lc-0001', 'lc-0002']);
  });
});
