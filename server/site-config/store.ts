/** Each site's newest configuration revision (table site_configs, migration 19): the revision survives a restart and only counts up. */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { SiteConfigRevision } from './revision.ts';

export class SiteConfigStore {
  private readonly getStmt: Statement<[string]>;
  private readonly putStmt: Statement<[string, number, string, number]>;

  constructor(db: Db) {
    this.getStmt = db.prepare('SELECT revision, hash, made_at AS madeAt FROM site_configs WHERE site_id = ?');
    this.putStmt = db.prepare(
      `INSERT INTO site_configs (site_id, revision, hash, made_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(site_id) DO UPDATE SET revision = excluded.revision, hash = excluded.hash, made_at = excluded.made_at`,
    );
  }

  get(siteId: string): SiteConfigRevision | undefined {
    return this.getStmt.get(siteId) as SiteConfigRevision | undefined;
  }

  put(siteId: string, r: SiteConfigRevision): void {
    this.putStmt.run(siteId, r.revision, r.hash, r.madeAt);
  }
}
