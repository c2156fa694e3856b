/** Each site's newest configuration revision (table site_configs, migration 19): the revision survives a restart and only counts up. */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { SiteConfigRevision } from './revision.ts';

export class SiteConfigStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get(siteId: string): Promise<SiteConfigRevision | undefined> {
    return this.db.selectFrom('site_configs').select(['revision', 'hash', 'made_at as madeAt']).where('site_id', '=', siteId).executeTakeFirst();
  }

  async put(siteId: string, r: SiteConfigRevision): Promise<void> {
    await this.db
      .insertInto('site_configs')
      .values({ site_id: siteId, revision: r.revision, hash: r.hash, made_at: r.madeAt })
      .onConflict((oc) => oc.column('site_id').doUpdateSet((eb) => ({ revision: eb.ref('excluded.revision'), hash: eb.ref('excluded.hash'), made_at: eb.ref('excluded.made_at') })))
      .execute();
  }
}
