/** The media library (uploads, the Opus store, text to speech) over HTTP; its jobs are ended on stop. */
import type { Feature } from '../feature.ts';
import { mediaRoutes, type RouteDeps } from './routes.ts';

export function mediaFeature(deps: RouteDeps): Feature {
  return {
    name: 'media',
    routes: [mediaRoutes(deps)],
    stop: () => deps.media.library.close(),
  };
}
