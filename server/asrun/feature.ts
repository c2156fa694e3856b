/** The as-run log (nhật ký phát thanh): each site's receipts of what it played, stored as they arrive. */
import type { Feature } from '../feature.ts';
import { asRunRoutes, type RouteDeps } from './routes.ts';

export function asRunFeature(deps: RouteDeps): Feature {
  let unlisten: (() => void) | undefined;
  return {
    name: 'as-run',
    routes: [asRunRoutes(deps)],
    start() {
      unlisten = deps.fleet.listen({
        siteEvent: (id, ev) => {
          if (ev.type === 'as_run') deps.asRun.record(id, ev);
        },
      });
    },
    stop: () => unlisten?.(),
  };
}
