/**
 * The store (SQLite or PostgreSQL, database.ts) and the data folder's disk. First to start,
 * last to stop: every other feature reads and writes through it until its own
 * stop has returned.
 */
import type { Feature } from '../feature.ts';
import type { Store } from './database.ts';
import type { DiskSpace } from './disk-space.ts';

export function storeFeature(store: Store, disk: DiskSpace): Feature {
  return {
    name: 'store',
    // Free space measured from the start: what stops first as the disk fills (store/disk-policy.ts).
    start: () => disk.start(),
    async stop() {
      await disk.stop();
      await store.close();
    },
  };
}
