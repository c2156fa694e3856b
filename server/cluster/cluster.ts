/**
 * This server among the others on one database: which of the work that must
 * happen once (lease-policy.ts LEASE_NAMES) runs here now. One LeaseKeeper
 * asks for every lease in one statement, so one server does all of that work
 * and the others stand by, each ready to take it within TTL + a standby try
 * (8 s by default) of the holder's death, and at once after its clean stop.
 *
 * A single server (SQLite, or PostgreSQL with one instance) runs the same
 * code: it holds every lease from its first round. After a kill -9 its own
 * previous leases stand until they expire, so a restarted server resumes the
 * leased work up to a TTL later — never two servers (two by mistake on one
 * data folder included) doing it at once.
 *
 * Features use it three ways: a periodic job whose every run is skipped
 * unless held (`whileHeld`), a task started on acquisition and stopped on
 * loss (`leased`, LeasedWork), and the fleet's write gate (`owns`).
 */
import type { Logger } from '../fleet/broker.ts';
import type { Feature } from '../feature.ts';
import type { Store } from '../store/database.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { DEFAULT_LEASE_TIMINGS, LEASE_NAMES, type LeaseName, type LeaseTimings } from './lease-policy.ts';
import { instanceId, LeaseStore } from './lease-store.ts';
import { type LeasedTask, LeasedWork } from './leased-work.ts';

export class Cluster {
  readonly keeper: LeaseKeeper;
  readonly leases: LeaseStore;

  constructor(
    store: Pick<Store, 'db' | 'dialect'>,
    private readonly log: Logger,
    readonly timings: LeaseTimings = DEFAULT_LEASE_TIMINGS,
    holder: string = instanceId(),
  ) {
    this.leases = new LeaseStore(store.db, store.dialect, holder);
    this.keeper = new LeaseKeeper({ store: this.leases, names: LEASE_NAMES, log, timings });
  }

  get instance(): string {
    return this.leases.holder;
  }

  /** Whether this server does `lease`'s work now. */
  owns(lease: LeaseName): boolean {
    return this.keeper.owns(lease);
  }

  /** `fn` as a job's body that does nothing while another server (or nobody yet) holds `lease`. */
  whileHeld<T>(lease: LeaseName, fn: () => T): () => T | undefined {
    return () => (this.keeper.owns(lease) ? fn() : undefined);
  }

  /** `task` started each time this server acquires `lease` and stopped when it loses it; start() it from the feature's start. */
  leased(lease: LeaseName, task: LeasedTask): LeasedWork {
    return new LeasedWork(this.keeper, lease, task, this.log);
  }
}

/**
 * Started right after the store, so the first round is in flight while the
 * other features start; stopped right before it, after every feature's leased
 * work stopped, releasing the leases so a standby takes them at its next try.
 */
export function clusterFeature(cluster: Cluster): Feature {
  return {
    name: 'cluster',
    async start() {
      cluster.keeper.start();
      await cluster.keeper.roundsAnswered();
    },
    stop: () => cluster.keeper.stop(),
  };
}
