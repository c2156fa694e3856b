/**
 * Live broadcast: streams from the console's microphone, a file or a relay,
 * framed onto the area audio channels, and what the sites report of them.
 *
 * Started before the HTTP server listens, so the streams the last run went
 * down under are closed (and their sites told to stop) before anyone can
 * start a new one.
 */
import type { FastifyInstance } from 'fastify';
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { liveRoutes, type RouteDeps } from './routes.ts';

export function liveFeature(deps: RouteDeps & Pick<ServerContext, 'cluster' | 'store' | 'disk'>): Feature {
  const { live, fleet } = deps;
  const jobs = Jobs.of(deps);
  let unlisten: (() => void) | undefined;
  return {
    name: 'live',
    routes: [
      // Streams end as server_shutdown before the HTTP server closes the voice sockets under them
      // (a closed socket would otherwise end its stream as a lost source).
      async (app: FastifyInstance) => {
        app.addHook('preClose', () => live.close());
      },
      liveRoutes(deps),
    ],
    async start() {
      unlisten = fleet.listen({ siteEvent: (id, ev) => ev.type === 'stream_stats' && live.onStats(id, ev) });
      await live.recover();
      live.startTimers();
      // Several servers: streams whose server died are closed by one of the others (their sites told to stop).
      if (deps.store.dialect !== 'sqlite') {
        jobs.every(
          'live orphans',
          Math.floor(deps.config.leaseTtlMs / 3),
          deps.cluster.whileHeld('live', () => live.closeOrphans()),
        );
      }
    },
    async stop() {
      jobs.stop();
      unlisten?.();
      await live.close();
    },
  };
}
