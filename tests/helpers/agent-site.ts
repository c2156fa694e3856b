/**
 * A site whose agent runs as its own process (`edge-agent/main.ts --config
 * FILE`, started with tests/helpers/process.ts): registered on the test
 * server, a simulated amplifier served over the device protocol on TCP in
 * the test's own process (so what it played can be read), and a TCP relay in
 * front of the broker that the test cuts and restores (the site's 4G link).
 * Also the two questions such tests ask the server about a site's schedule.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer } from '../../firmware-sim/device-server.ts';
import { loadProfile } from '../../hardware/profiles.ts';
import { CuttableTcpRelay } from './faulty-proxy.ts';
import type { TestServer } from './server.ts';
import { waitFor } from './wait.ts';

export interface AgentSite {
  id: string;
  device: SimDevice;
  deviceServer: DeviceServer;
  relay: CuttableTcpRelay;
  /** The agent's config file: start it with agentCli('--config', site.config). */
  config: string;
  stateDir: string;
}

export interface AgentSiteOptions {
  name: string;
  area: string;
  /** The simulated device's seed. */
  seed: number;
  /** Give the agent the area channels the server lists for the site (alerts to its areas reach it). */
  areaChannels?: boolean;
}

/**
 * A village cluster (village-cluster-4g, its amplifier warming up in 300 ms) whose agent heartbeats every
 * second, reconnects within a second, and plays on the simulated amplifier with a 200 ms buffer.
 */
export async function makeAgentSite(t: TestServer, dir: string, o: AgentSiteOptions): Promise<AgentSite> {
  const r = await t.api('POST', '/api/sites', { name: o.name, kind: 'cluster', area: o.area, profile: 'village-cluster-4g' });
  if (r.status !== 201) throw new Error(`site '${o.name}' refused: ${r.status} ${JSON.stringify(r.body)}`);
  const { siteId: id, secret } = r.body.credential as { siteId: string; secret: string };
  const areaChannels = o.areaChannels ? ((await t.api('GET', `/api/sites/${id}`)).body.areaChannels as string[]) : undefined;
  const base = await loadProfile('village-cluster-4g');
  const device = new SimDevice({ ...base, amplifier: { ...base.amplifier, warmupMs: 300 } }, { seed: o.seed });
  const deviceServer = new DeviceServer(device, { tickIntervalMs: 0 });
  const devicePort = await deviceServer.listen(0, '127.0.0.1');
  const relay = new CuttableTcpRelay(t.server.mqttPort);
  await relay.up();
  const stateDir = path.join(dir, id);
  const config = path.join(dir, `${id}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      siteId: id,
      server: { mqttUrl: `mqtt://127.0.0.1:${relay.port}`, httpUrl: t.baseUrl },
      credential: { secret },
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 100, capMs: 1000 },
      devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
      stateDir,
      ...(areaChannels ? { areaChannels } : {}),
      audio: { sink: 'device', bufferMs: 200 },
    }),
  );
  return { id, device, deviceServer, relay, config, stateDir };
}

/** A one-off schedule item of `mediaId` at `at` for one site, approved: its id. */
export async function scheduleOnce(t: TestServer, o: { title: string; mediaId: string; at: number; siteId: string }): Promise<string> {
  const created = await t.api('POST', '/api/schedule/items', { title: o.title, mediaId: o.mediaId, targets: { sites: [o.siteId] }, start: { at: o.at } });
  if (created.status !== 201) throw new Error(`schedule item refused: ${created.status} ${JSON.stringify(created.body)}`);
  const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`);
  if (approved.status !== 200) throw new Error(`approval refused: ${approved.status} ${JSON.stringify(approved.body)}`);
  return created.body.id as string;
}

/**
 * The agent reports (telemetry.playlist) holding the server's desired playlist, with nothing missing from
 * its cache, and `entries` entries in it (default: at least one). The version it holds.
 */
export async function holdsPlaylist(t: TestServer, siteId: string, entries?: number): Promise<string> {
  return waitFor(
    `${siteId} to hold its playlist${entries === undefined ? '' : ` of ${entries}`} with the media cached`,
    async () => {
      const r = await t.api('GET', `/api/sites/${siteId}/playlist`);
      const held = r.body.held as { version: string | null; missing: number } | null;
      const n = r.body.desired?.entries.length ?? 0;
      const ok = r.body.desired && held && held.version === r.body.desired.version && held.missing === 0 && (entries === undefined ? n > 0 : n === entries);
      return ok ? (held.version as string) : undefined;
    },
    30_000,
    200,
  );
}
