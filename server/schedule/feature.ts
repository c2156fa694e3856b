/**
 * The schedule: broadcast items and their approval, and the per-site
 * playlists distributed (retained) to the sites over the horizon.
 */
import type { Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import { scheduleRoutes, type RouteDeps } from './routes.ts';

export function scheduleFeature(deps: RouteDeps & Pick<ServerContext, 'media' | 'log'>): Feature {
  const { service, distribution } = deps.schedule;
  // An item a bulletin still plays in keeps its audio: the library asks before retiring it.
  deps.media.library.addRetireGuard((id) => service.mediaInUse(id));
  return {
    name: 'schedule',
    routes: [scheduleRoutes(deps)],
    async start() {
      // Every site's playlist again: the embedded broker's retained messages did not survive a restart.
      await distribution.start().catch((err: unknown) => deps.log.error({ err }, 'first playlist distribution failed; retried periodically'));
    },
    stop: () => distribution.stop(),
  };
}
