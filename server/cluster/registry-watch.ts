/**
 * What another server changed in the registry, applied here. Each server keeps
 * the registry partly in memory: the active areas (the coverage index), every
 * site's name and place (SiteRepository.entry), the fleet's list of sites
 * (whose messages it takes, which the broker authority lets in) and verified
 * credentials for a minute. A site registered, moved, retired or given a new
 * credential through server A must reach those copies on server B.
 *
 * Every registry write notes what it changed in its own transaction
 * (server/registry/changes.ts); this watcher looks every `intervalMs` with one
 * indexed query that finds nothing most of the time, coalesces what it finds
 * (an import of 5,000 sites is one re-read, not 5,000), re-reads only the
 * changed sites (all of them in one query past `maxSites`) and the areas once,
 * and applies them: the fleet gains, updates or drops each site (so coverage
 * counts follow through its events), the coverage index is rebuilt, the
 * cached credential checks of the changed sites dropped. Polling is the
 * correctness path: a missed look is made good by the next, whatever happened
 * meanwhile. On PostgreSQL a write also notifies on commit, and a watcher
 * listening (`listenForRegistryChanges`) looks at once; a notification lost
 * while its connection is down costs only the wait for the next poll.
 *
 * A change this server made itself comes back too and changes nothing: a site
 * the fleet already holds as stored is left alone. Sites are not kicked off
 * the broker here: the server that made the change did it (an external
 * broker, which several servers need, keeps the connection anyway; see
 * ExternalBroker.disconnectSite).
 *
 * Started only on PostgreSQL: on SQLite one server holds the store, and every
 * write is its own (the notes cost one row update each).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Logger } from '../fleet/broker.ts';
import type { Feature } from '../feature.ts';
import type { Site } from '../registry/sites.ts';
import type { SiteObservation } from '../coverage/model.ts';
import pg from 'pg';
import { coalesceRegistryChanges, currentRegistryGeneration, REGISTRY_CHANNEL, readRegistryChanges } from '../registry/changes.ts';

export interface RegistryWatchDeps {
  db: Kysely<Database>;
  areas: { load(): Promise<void> };
  sites: { reread(ids: readonly string[] | 'all'): Promise<Site[]> };
  fleet: {
    upsertSite(s: Site): void;
    removeSite(id: string): void;
    observation(id: string): Pick<SiteObservation, 'name' | 'kind' | 'areaId' | 'expectsMonitorMic'> | undefined;
  };
  coverage: { invalidate(): void };
  log: Logger;
  /** The generation the registry in memory was read at (read before the areas and sites were loaded). */
  since: number;
  intervalMs?: number;
  /** Rows read per look; a fuller batch re-reads everything. */
  limit?: number;
  /** Above this many changed sites in one look, every site is re-read in one query. */
  maxSites?: number;
  now?: () => number;
}

export interface RegistryWatchStats {
  looks: number;
  /** Looks that found changes and applied them. */
  applied: number;
  sitesReread: number;
  areaReloads: number;
  failures: number;
  generation: number;
  /** When the newest applied batch was applied (ms), null before any. */
  lastAppliedAt: number | null;
}

export class RegistryWatch {
  private after: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private failing = false;
  /** A wake-up came while a look ran: that look may have read before the change committed, so one more follows. */
  private again = false;
  readonly stats: RegistryWatchStats;

  constructor(private readonly d: RegistryWatchDeps) {
    this.after = d.since;
    this.stats = { looks: 0, applied: 0, sitesReread: 0, areaReloads: 0, failures: 0, generation: d.since, lastAppliedAt: null };
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One look now (tests, and the timer): resolves once what it found is applied. Looks never overlap. */
  look(): Promise<void> {
    this.running ??= this.lookOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Another server's write committed (a notification): look now, or once more after the look under way. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.look().then(() => {
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.look().finally(() => this.schedule());
    }, this.d.intervalMs ?? 1000);
    this.timer.unref();
  }

  private async lookOnce(): Promise<void> {
    this.stats.looks++;
    try {
      const limit = this.d.limit ?? 10_000;
      const rows = await readRegistryChanges(this.d.db, this.after, limit);
      if (rows.length > 0) {
        const plan = coalesceRegistryChanges(rows, this.after, { limit, maxSites: this.d.maxSites ?? 2_000 });
        // Read before re-reading everything: whatever commits after is seen by the next look.
        const through = plan.through === 'counter' ? await currentRegistryGeneration(this.d.db) : plan.through;
        if (plan.areas) {
          await this.d.areas.load();
          this.d.coverage.invalidate();
          this.stats.areaReloads++;
        }
        const sites = plan.sites === 'all' || plan.sites.length > 0 ? await this.d.sites.reread(plan.sites) : [];
        for (const s of sites) this.apply(s);
        this.stats.sitesReread += sites.length;
        this.after = Math.max(this.after, through);
        this.stats.generation = this.after;
        this.stats.applied++;
        this.stats.lastAppliedAt = (this.d.now ?? Date.now)();
      }
      if (this.failing) this.d.log.info({ generation: this.after }, 'registry watch: reading changes again');
      this.failing = false;
    } catch (err) {
      this.stats.failures++;
      // Once per outage, not once a second: the next look retries from the same generation.
      if (!this.failing) this.d.log.warn({ err }, "registry watch: could not read other servers' registry changes; retrying");
      this.failing = true;
    }
  }

  /** The site as stored now, into the fleet: gained, updated, or dropped once retired; left alone when the fleet holds it as it is. */
  private apply(s: Site): void {
    const o = this.d.fleet.observation(s.id);
    if (s.retiredAt !== null) {
      if (o) this.d.fleet.removeSite(s.id);
      return;
    }
    if (o && o.name === s.name && o.kind === s.kind && o.areaId === s.areaId && o.expectsMonitorMic === s.monitorMic) return;
    this.d.fleet.upsertSite(s);
  }
}

/**
 * Listens on its own connection for the registry's notifications and wakes
 * `watch` on each; reconnects every `retryMs` after losing the connection
 * (the database restarted), polling meanwhile. Resolves to the stopper.
 */
export function listenForRegistryChanges(url: string, watch: Pick<RegistryWatch, 'wake'>, log: Logger, retryMs = 5000): () => Promise<void> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  // Bound to its client: an old connection's late 'end' must not take down the new one.
  const lost = (c: pg.Client) => (err: unknown) => {
    if (stopped || client !== c) return;
    log.warn({ err }, 'registry watch: lost the notification connection; polling only until it is back');
    client = undefined;
    c.removeAllListeners('notification');
    void c.end().catch(() => undefined);
    retry = setTimeout(connect, retryMs);
    retry.unref();
  };
  const connect = () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client = c;
    c.on('error', lost(c));
    c.on('end', () => lost(c)(new Error('connection ended')));
    c.on('notification', () => watch.wake());
    c.connect()
      .then(() => c.query(`LISTEN ${REGISTRY_CHANNEL}`))
      // Changes may have committed while it was away: one look now.
      .then(() => watch.wake())
      .catch(lost(c));
  };
  connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const c = client;
    client = undefined;
    await c?.end().catch(() => undefined);
  };
}

/** Watches from right after the store's features start; stopped before the store closes. With `listenUrl` (PostgreSQL), woken by notifications too. */
export function registryWatchFeature(watch: RegistryWatch | undefined, log: Logger, listenUrl: string | null): Feature {
  let unlisten: (() => Promise<void>) | undefined;
  return {
    name: 'registry-watch',
    start() {
      watch?.start();
      if (watch && listenUrl) unlisten = listenForRegistryChanges(listenUrl, watch, log);
    },
    stop: async () => {
      await unlisten?.();
      await watch?.stop();
    },
  };
}
