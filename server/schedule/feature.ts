/**
 * The schedule: broadcast items and their approval, and the per-site
 * playlists distributed (retained) to the sites over the horizon.
 */
import type { Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { scheduleRoutes, type RouteDeps } from './routes.ts';
import { scheduleLanguageRoutes } from './language-routes.ts';

export function scheduleFeature(deps: RouteDeps & Pick<ServerContext, 'media' | 'log' | 'cluster'>): Feature {
  const { service, distribution } = deps.schedule;
  // The periodic recomputation on one server; a change made through any server distributes at once from it.
  const periodic = deps.cluster.leased('playlists', {
    // Every site's playlist again: the embedded broker's retained messages did not survive a restart.
    start: () => distribution.start().catch((err: unknown) => deps.log.error({ err }, 'first playlist distribution failed; retried periodically')),
    stop: () => distribution.stop(),
  });
  // An item a bulletin still plays in keeps its audio: the library asks before retiring it.
  deps.media.library.addRetireGuard((id) => service.mediaInUse(id));
  return {
    name: 'schedule',
    routes: [scheduleRoutes(deps), scheduleLanguageRoutes(deps)],
    start: () => periodic.start(),
    async stop() {
      await periodic.stop();
      // What a request started is finished too.
      await distribution.stop();
    },
  };
}
