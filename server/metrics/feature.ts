/**
 * Operations' view of the server: /metrics, /livez, /readyz (routes.ts) and
 * the probes behind them (probes.ts). Started last and stopped first, so
 * /readyz says "starting" until every other feature has started and
 * "shutting_down" from the first moment of a stop, while the HTTP server
 * still answers (it closes only after the features started after it).
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { collect, type CollectDeps } from './collect.ts';
import { RuntimeProbes } from './probes.ts';
import { notReady, type NotReady } from './readiness.ts';
import { opsRoutes } from './routes.ts';

const STORE_PROBE_MS = 10_000;
const LOOP_WINDOW_MS = 60_000;

export function metricsFeature(deps: CollectDeps & Pick<ServerContext, 'config' | 'log'>): Feature {
  const probes = new RuntimeProbes(deps.store, () => deps.disk.storeGone());
  const jobs = new Jobs(deps.log);
  let started = false;
  let stopping = false;
  const missing = async (): Promise<NotReady[]> => {
    // Asked now, not at the last probe: a load balancer must stop sending the moment the store goes (check() looks at the
    // file, as its timer does). While stopping the store is not asked: it closes last, and "shutting_down" says it all.
    const storeUp = stopping || (deps.disk.check(), await probes.probeStore());
    // `stopping` read again: a stop that began while the probe ran is what readiness says.
    return notReady({ started, stopping, storeUp: storeUp || stopping, brokerUp: deps.broker.status().up });
  };
  const ready = { notReady: missing };
  return {
    name: 'metrics',
    routes: [opsRoutes({ metricsToken: deps.config.metricsToken, metrics: () => collect(deps, probes, ready), notReady: missing })],
    async start() {
      probes.start();
      await probes.probeStore();
      jobs.every('store probe', STORE_PROBE_MS, () => probes.probeStore());
      jobs.every('event-loop window', LOOP_WINDOW_MS, () => probes.rotate());
      started = true;
    },
    stop() {
      stopping = true;
      jobs.stop();
      probes.stop();
    },
  };
}
