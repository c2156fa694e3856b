/** The as-run log (nhật ký phát thanh): each site's receipts of what it played, stored as they arrive. */
import type { Feature } from '../feature.ts';
import { asRunRoutes, type RouteDeps } from './routes.ts';

/**
 * Listens from the moment it is built, not from start(): a receipt the fleet
 * applies is acknowledged to its site once the site-event acks are open, so
 * its store must already listen then, whatever order the features start in.
 */
export function asRunFeature(deps: RouteDeps): Feature {
  const unlisten = deps.fleet.listen({
    siteEvent: (id, ev) => {
      if (ev.type === 'as_run') deps.asRun.record(id, ev);
    },
  });
  return {
    name: 'as-run',
    routes: [asRunRoutes(deps)],
    stop: () => unlisten(),
  };
}
