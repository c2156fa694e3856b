/**
 * Live broadcast: streams from the console's microphone, a file or a relay,
 * framed onto the area audio channels, and what the sites report of them.
 *
 * Started before the HTTP server listens, so the streams the last run went
 * down under are closed (and their sites told to stop) before anyone can
 * start a new one.
 */
import type { FastifyInstance } from 'fastify';
import type { Feature } from '../feature.ts';
import { liveRoutes, type RouteDeps } from './routes.ts';

export function liveFeature(deps: RouteDeps): Feature {
  const { live, fleet } = deps;
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
    },
    async stop() {
      unlisten?.();
      await live.close();
    },
  };
}
