/**
 * The fleet: the broker the sites connect to, what each site last said
 * (FleetState: liveness, condition), the commands waiting for each site, and
 * the broker's hooks and files for an external Mosquitto or EMQX.
 *
 * Started first after the store, stopped last before it: every other feature
 * publishes through this broker, and the last statuses are written once the
 * broker has stopped taking messages.
 */
import type { Feature } from '../feature.ts';
import { Jobs } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import type { ExternalBroker } from './external-broker.ts';
import type { EventAcker } from './event-acks.ts';
import { fleetRoutes } from './routes.ts';
import { brokerRoutes } from './broker-routes.ts';

type FleetDeps = Pick<ServerContext, 'fleet' | 'commands' | 'broker' | 'ingest' | 'disk' | 'config' | 'log' | 'cluster'> &
  Parameters<typeof fleetRoutes>[0] &
  Parameters<typeof brokerRoutes>[0] & {
    /** Set when sites connect to an external broker: its link can drop and come back. */
    external: ExternalBroker | undefined;
  };

export function fleetFeature(deps: FleetDeps): Feature {
  const { fleet, commands, broker, log, config } = deps;
  const jobs = Jobs.of(deps);
  const flushCommands = (siteId: string) => {
    commands.flush(siteId).catch((err: unknown) => log.error({ siteId, err }, 'sending waiting commands failed'));
  };
  // After a gap in the server's own link, re-send what waits for sites that stayed online meanwhile.
  deps.external?.onReconnect(() => {
    for (const o of fleet.observations()) if (fleet.isOnline(o.siteId)) flushCommands(o.siteId);
  });
  const unlisten = fleet.listen({
    siteOnline: flushCommands,
    // Returned, so the result is acknowledged to the site only once committed.
    siteEvent: (id, ev) => (ev.type === 'cmd_result' ? commands.complete(id, ev) : undefined),
    conditionChanged: (c) => {
      if (c.from !== null) log.info({ siteId: c.siteId, from: c.from, to: c.to, reasons: c.verdict.reasons.map((r) => r.message) }, 'site condition changed');
    },
  });
  return {
    name: 'fleet',
    routes: [fleetRoutes(deps), brokerRoutes(deps)],
    async start() {
      await broker.start();
      // Every server sweeps its own picture of the fleet (each answers coverage); one expires commands and writes.
      jobs.every('sweep', config.sweepIntervalMs, () => {
        fleet.sweep();
        return deps.cluster.owns('fleet-sweep') ? commands.expire() : undefined;
      });
      // A failed write is logged, counted and told to the disk by the fleet itself (once per failing spell), and retried next tick.
      jobs.every('flush', 1000, () => fleet.flush().catch(() => undefined));
    },
    async stop() {
      jobs.stop();
      unlisten();
      await broker.stop();
      try {
        await fleet.flush();
      } catch (err) {
        // A full disk must not keep the store open: the last statuses are lost, the sites report again.
        log.error({ err, pendingEvents: fleet.stats().pendingEvents }, 'last site statuses not written on stop');
      }
    },
  };
}

/**
 * Receipts, alert statuses and command results are acknowledged to a site
 * once stored. Opened after every feature that stores site events has
 * started: from then on, applied means stored.
 */
export function siteEventAcksFeature(acks: EventAcker): Feature {
  return { name: 'site-event-acks', start: () => acks.open() };
}
