/** The as-run log (nhật ký phát thanh): each site's receipts of what it played, stored as they arrive. */
import type { Feature } from '../feature.ts';
import { asRunRoutes, type RouteDeps } from './routes.ts';
import { asRunLanguageRoutes } from './language-routes.ts';

/**
 * Listens from the moment it is built, not from start(): a receipt the fleet
 * applies is acknowledged to its site once the site-event acks are open, so
 * its store must already listen then, whatever order the features start in.
 */
export function asRunFeature(deps: RouteDeps): Feature {
  const unlisten = deps.fleet.listen({
    // Returned, so the fleet acknowledges the receipt only once it is committed.
    siteEvent: (id, ev) => (ev.type === 'as_run' ? deps.asRun.record(id, ev) : undefined),
  });
  return {
    name: 'as-run',
    routes: [asRunRoutes(deps), asRunLanguageRoutes(deps)],
    stop: () => unlisten(),
  };
}
