/**
 * Technicians' alarms as a feature of the server: the service (service.ts)
 * started after the fleet, so every site's verdict is there to feed it and
 * the fleet's listeners reach it; its routes (routes.ts). A write kept after
 * a failure is retried every few seconds even when nothing else happens.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { alarmRoutes, type RouteDeps } from './routes.ts';
import { AlarmService } from './service.ts';
import { AlarmStore } from './store.ts';

/** A failed write is retried this often when no new effect comes to carry it. */
const RETRY_MS = 5000;

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
  });
}

export function alarmsFeature(deps: RouteDeps & Pick<ServerContext, 'log' | 'disk'>): Feature {
  const service = deps.alarms;
  const jobs = Jobs.of(deps);
  return {
    name: 'alarms',
    routes: [alarmRoutes(deps)],
    async start() {
      await service.start();
      jobs.every('alarms.write-retry', RETRY_MS, () => service.flush());
    },
    async stop() {
      jobs.stop();
      await service.stop();
    },
  };
}
