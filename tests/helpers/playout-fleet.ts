/**
 * A fleet of real agents that PLAY (playout engine, media cache over HTTP
 * with each site's own credential, the simulated amplifier recording what it
 * heard), for the tests that follow audio from the server to the speakers:
 * bulletins, alerts and the console's browser tests. Started, and every
 * agent connected, before it is returned.
 */
import path from 'node:path';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import type { PlannedSite } from '../../firmware-sim/fleet-plan.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { waitFor, type TestServer } from './server.ts';

export interface PlayoutFleetOptions {
  sites: number;
  /** Area code the sites are registered in. */
  area: string;
  /** Folder for the sites' state and caches. */
  dir: string;
  /** Site id prefix, so several fleets can share a server. */
  idPrefix?: string;
  /** Default 2 s. */
  heartbeatS?: number;
  cacheLimitBytes?: number;
  connectTimeoutMs?: number;
  /** Where a site's media cache downloads from (default the server): a faulty proxy for the sites a test wants cut off. */
  httpUrlFor?: (siteId: string) => string;
  /** When the agents send again what the server did not acknowledge (default an agent's: 30 s, then a back-off from 30 s). */
  journalResend?: { ackTimeoutMs: number; retry: { baseMs: number; capMs: number } };
  /** The broker the agents connect to (default the server's embedded one): an external broker of a several-server test. */
  mqtt?: { host: string; port: number };
  /** Sites already registered (FleetRunner.prepare), e.g. through another server before this one started. */
  prepared?: Array<{ plan: PlannedSite; secret: string }>;
  /** Test only: features a site's agent does not declare, standing in for an older agent (FleetRunnerOptions.withoutFeatures). */
  withoutFeatures?: (siteId: string) => readonly string[] | undefined;
  /** The agents' warnings and errors, one line each (default: not kept). */
  log?: (line: string) => void;
}

export async function startPlayoutFleet(t: TestServer, o: PlayoutFleetOptions): Promise<FleetRunner> {
  const fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: o.mqtt ?? { host: '127.0.0.1', port: t.server.mqttPort },
    sites: o.sites,
    heartbeatS: o.heartbeatS ?? 2,
    area: o.area,
    ...(o.idPrefix ? { idPrefix: o.idPrefix } : {}),
    credentialsFile: null,
    ...(o.withoutFeatures ? { withoutFeatures: o.withoutFeatures } : {}),
    ...(o.log ? { log: o.log } : {}),
    playout: {
      stateRoot: path.join(o.dir, 'sites'),
      tailMs: 1000,
      ...(o.journalResend ? { journalResend: o.journalResend } : {}),
      mediaCache: ({ id, secret, stateDir }) =>
        new FileMediaCache({
          dir: path.join(stateDir ?? path.join(o.dir, 'caches', id), 'media-cache'),
          limitBytes: o.cacheLimitBytes ?? 20 * 1024 * 1024,
          httpUrl: o.httpUrlFor?.(id) ?? t.baseUrl,
          siteId: id,
          secret,
          retry: { baseMs: 200, capMs: 2000 },
          // Hundreds of simulated sites play in this one process beside the server: a download's
          // stall clock here measures the whole process's load, not a link, and cutting a transfer
          // that is merely queued behind the others' audio only starts it again behind them.
          stallTimeoutMs: 120_000,
        }),
    },
  });
  try {
    await fleet.start(o.prepared);
    await waitFor('every agent connected', () => fleet.stats().connected === o.sites, o.connectTimeoutMs ?? 60_000, 100);
  } catch (err) {
    // The caller never receives a fleet that failed to start, so it could not stop it.
    await fleet.stop();
    throw err;
  }
  return fleet;
}
