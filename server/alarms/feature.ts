/**
 * Technicians' alarms as a feature of the server: the service (service.ts)
 * started after the fleet, so every site's verdict is there to feed it and
 * the fleet's listeners reach it; its routes (routes.ts). A write kept after
 * a failure is retried every few seconds even when nothing else happens.
 *
 * With several servers the engine runs on the holder of the 'alarms' lease
 * (service.ts: lead/follow); the others read the store's alarms again every
 * MIRROR_MS and pass people's actions to the holder, which takes them every
 * ACTIONS_MS. A single server holds the lease from its start. The holder
 * looks at the updates store every UPDATES_MS for attempts finished since
 * (service.ts syncUpdates): a failed one raises update_failed.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { alarmRoutes, type RouteDeps } from './routes.ts';
import { AlarmService } from './service.ts';
import { AlarmStore } from './store.ts';
import { RolloutStore } from '../updates/store.ts';

/** A failed write is retried this often when no new effect comes to carry it. */
const RETRY_MS = 5000;
/** A follower's reads are at most this far behind the holder's writes. */
const MIRROR_MS = 2000;
/** A person's action on a follower waits for the holder at most this long, plus a write. */
const ACTIONS_MS = 250;
/** A failed update attempt raises its alarm at most this long after it was stored (by any server). */
const UPDATES_MS = 2000;

/** The service, built by the composition root (the console's stream listens to it). */
export function alarmService(deps: Pick<ServerContext, 'store' | 'fleet' | 'coverage' | 'config' | 'log' | 'disk' | 'now'>): AlarmService {
  return new AlarmService({
    store: new AlarmStore(deps.store.db),
    fleet: deps.fleet,
    areaIndex: () => deps.coverage.areaIndex(),
    settings: deps.config.alarms,
    jobs: Jobs.of(deps),
    log: deps.log,
    now: deps.now,
    updates: new RolloutStore(deps.store.db),
  });
}

export function alarmsFeature(deps: RouteDeps & Pick<ServerContext, 'log' | 'disk' | 'cluster'>): Feature {
  const service = deps.alarms;
  const jobs = Jobs.of(deps);
  const leased = deps.cluster.leased('alarms', { start: () => service.lead(), stop: () => service.follow() });
  return {
    name: 'alarms',
    routes: [alarmRoutes(deps)],
    async start() {
      await service.startFollowing();
      await leased.start();
      jobs.every('alarms.write-retry', RETRY_MS, () => service.flush());
      jobs.every('alarms.mirror', MIRROR_MS, () => service.mirror());
      jobs.every('alarms.actions', ACTIONS_MS, () => service.takeActions());
      jobs.every('alarms.updates', UPDATES_MS, () => service.syncUpdates());
    },
    async stop() {
      jobs.stop();
      // Written out first: the lease's stop (follow) drops what is not written.
      await service.stop();
      await leased.stop();
    },
  };
}
