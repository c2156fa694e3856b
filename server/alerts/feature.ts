/**
 * Emergency alerts: published retained on the area control channels, their
 * delivery from the sites' alert_status events, CAP ingest, and expiry.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { alertRoutes, type RouteDeps } from './routes.ts';
import { capSenderRoutes } from './cap-sender-routes.ts';
import { CapSenderStore } from './cap-senders.ts';

export function alertsFeature(deps: RouteDeps & Pick<ServerContext, 'log' | 'disk' | 'store' | 'cluster'>): Feature {
  const service = deps.alerts.service;
  const jobs = Jobs.of(deps);
  const senders = new CapSenderStore(deps.store.db, deps.now);
  return {
    name: 'alerts',
    // Who may post CAP under which <sender>: read by the CAP route, kept by the senders' routes.
    routes: [alertRoutes(deps, senders), capSenderRoutes(deps, senders)],
    async start() {
      // Valid alerts again on their channels: the embedded broker's retained messages did not survive a restart.
      await service.start();
      // Expiry and the end of delivery: on one server (an alert is published by whichever server took the request).
      jobs.every(
        'alerts',
        1000,
        deps.cluster.whileHeld('alerts', () => service.tick()),
      );
    },
    stop() {
      jobs.stop();
      service.stop();
    },
  };
}
