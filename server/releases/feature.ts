/**
 * Signed releases (docs/updates.md): the store in the data folder, the
 * server's trust list of public keys, and the routes to upload, list,
 * retire and fetch them. The rollouts read the store through
 * ServerContext.releases (model.ts's ReleaseLookup).
 */
import path from 'node:path';
import type { ServerConfig } from '../config.ts';
import type { Feature } from '../feature.ts';
import type { Logger } from '../fleet/broker.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { releaseRoutes, type RouteDeps } from './routes.ts';
import { ReleaseStore } from './store.ts';
import { ReleaseTrustList } from './trust.ts';

/**
 * The store, ready before the routes listen: its folders made and what a
 * crash left half-written removed (an upload arriving after that is never
 * cleaned away under its writer). The default trust folder is made so an
 * admin sees where the public keys go.
 */
export function openReleaseStore(config: Pick<ServerConfig, 'sharedDir' | 'releaseKeysDir'>, db: Kysely<Database>, log: Logger, now: () => number): ReleaseStore {
  const trust = new ReleaseTrustList(config.releaseKeysDir, log);
  if (path.resolve(config.releaseKeysDir) === path.resolve(config.sharedDir, 'release-keys')) trust.ensureDir();
  const store = new ReleaseStore(db, config.sharedDir, () => trust.keys(), now);
  store.open();
  return store;
}

export function releasesFeature(ctx: RouteDeps): Feature {
  return { name: 'releases', routes: [releaseRoutes(ctx)] };
}
