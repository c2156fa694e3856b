/**
 * The playout parts a simulated fleet runs with by default (`npm run sim`,
 * `npm run demo`, and a FleetRunner given no playout options, in a folder of
 * its own): a simulated site is a whole site, as a board is. Per site a
 * receipt journal and saved playlist under
 * `<dir>/<siteId>/`, and a media cache there that downloads from the server's
 * HTTP API with the site's own credential, as a board would. The simulated
 * amplifier records what each site played (FleetRunner `playout.sink`
 * 'device', the default).
 */
import path from 'node:path';
import { FileMediaCache } from '../edge-agent/media-cache/cache.ts';
import type { FleetPlayoutOptions } from './fleet-runner.ts';

export function simulatedPlayout(o: { dir: string; httpUrl: string; cacheLimitBytes?: number }): FleetPlayoutOptions {
  return {
    stateRoot: o.dir,
    mediaCache: ({ id, secret, stateDir }) =>
      new FileMediaCache({
        dir: path.join(stateDir ?? path.join(o.dir, id), 'media-cache'),
        // A simulated site holds a day of bulletins, not a Pi's gigabyte: hundreds share one disk.
        limitBytes: o.cacheLimitBytes ?? 64 * 1024 * 1024,
        httpUrl: o.httpUrl,
        siteId: id,
        secret,
      }),
  };
}
