/**
 * Emergency alerts: published retained on the area control channels, their
 * delivery from the sites' alert_status events, CAP ingest, and expiry.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { alertRoutes, type RouteDeps } from './routes.ts';

export function alertsFeature(deps: RouteDeps & Pick<ServerContext, 'log' | 'disk'>): Feature {
  const service = deps.alerts.service;
  const jobs = Jobs.of(deps);
  return {
    name: 'alerts',
    routes: [alertRoutes(deps)],
    async start() {
      // Valid alerts again on their channels: the embedded broker's retained messages did not survive a restart.
      await service.start();
      jobs.every('alerts', 1000, () => service.tick());
    },
    stop() {
      jobs.stop();
      service.stop();
    },
  };
}
