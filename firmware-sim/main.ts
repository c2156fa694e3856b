/**
 * `npm run sim -- --sites N`: registers N simulated sites with a running
 * loanet server (or reuses them) and runs them in this process, each a real
 * MQTT connection from a real edge agent to its simulated devices.
 *
 * Every site is a whole site by default, as a board is: it plays bulletins,
 * alerts and live streams on its simulated amplifier, with receipts, a saved
 * playlist and a media cache under $LOANET_DATA_DIR/sim-sites/<site>.
 * `--heartbeat-only` runs lighter sites for scale tests of the heartbeat path:
 * they play nothing, say so in their telemetry, and the server counts them
 * faulty (cannot_play), never as sites an alert reaches.
 *
 * The server comes from LOANET_URL (default http://localhost:8080) and a
 * token from LOANET_TOKEN (or LOANET_ADMIN_PASSWORD to log in as admin).
 * The broker is the server's embedded one unless LOANET_MQTT_URL says otherwise.
 */
import path from 'node:path';
import { connectApi, type LoanetClient } from '../tools/api-client.ts';
import { FleetRunner } from './fleet-runner.ts';
import { simulatedPlayout } from './fleet-playout.ts';
import { ArgError, parseArgs } from '../tools/cli-args.ts';
import type { FaultSpec } from './device.ts';

/** The device faults `--fault-kind` may name (a line fault goes on the profile's last line). */
const FAULT_KINDS: readonly FaultSpec['kind'][] = ['line_open', 'line_short', 'amp_overheat', 'mains_lost', 'modem_link_lost'];

const USAGE = `usage: npm run sim -- --sites N [--heartbeat 30] [--faults 0.03] [--fault-kind KIND,…] [--area CODE[,CODE…]] [--prefix sim] [--credentials FILE] [--rate 500] [--heartbeat-only]
  --faults: that share of the sites gets a device fault at start, drawn in turn from --fault-kind (default all: ${FAULT_KINDS.join(', ')})
  sites play bulletins and alerts like boards; --heartbeat-only: they only send heartbeats and answer commands
  (scale tests; the server counts them faulty, reason cannot_play). --playout is accepted and changes nothing: sites play by default.`;

export interface SimFleetOptions {
  api: LoanetClient;
  mqtt: { host: string; port: number };
  sites: number;
  heartbeatS: number;
  faults?: number;
  faultKinds?: readonly FaultSpec['kind'][];
  area?: string;
  prefix?: string;
  credentialsFile: string | null;
  rate?: number;
  heartbeatOnly?: boolean;
  /** Where whole sites keep their state and media caches (`<dataDir>/sim-sites/<site>`). */
  dataDir: string;
  log?: (line: string) => void;
}

/** The fleet `npm run sim` runs: whole sites (playout, alerts, receipts, media cache) unless heartbeat-only is asked for. */
export function simFleet(o: SimFleetOptions): FleetRunner {
  return new FleetRunner({
    api: o.api,
    mqtt: o.mqtt,
    sites: o.sites,
    heartbeatS: o.heartbeatS,
    faultShare: o.faults ?? 0,
    ...(o.faultKinds ? { faultKinds: o.faultKinds } : {}),
    ...(o.area ? { area: o.area } : {}),
    idPrefix: o.prefix ?? 'sim',
    credentialsFile: o.credentialsFile,
    startRate: o.rate ?? 500,
    ...(o.log ? { log: o.log } : {}),
    ...(o.heartbeatOnly ? { heartbeatOnly: true } : { playout: simulatedPlayout({ dir: path.join(o.dataDir, 'sim-sites'), httpUrl: o.api.baseUrl }) }),
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    sites: 'number',
    heartbeat: 'number',
    faults: 'number',
    'fault-kind': 'string',
    area: 'string',
    prefix: 'string',
    credentials: 'string',
    rate: 'number',
    'heartbeat-only': 'boolean',
    playout: 'boolean',
    help: 'boolean',
  });
  if (args.help) return void console.log(USAGE);
  const sites = (args.sites as number | undefined) ?? 100;
  if (!Number.isInteger(sites) || sites < 1 || sites > 100_000) throw new ArgError(`--sites ${sites} must be a whole number from 1 to 100000`);
  const heartbeatS = (args.heartbeat as number | undefined) ?? 30;
  if (!Number.isInteger(heartbeatS) || heartbeatS < 1 || heartbeatS > 3600) throw new ArgError(`--heartbeat ${heartbeatS} must be whole seconds from 1 to 3600`);
  const faults = (args.faults as number | undefined) ?? 0;
  if (faults < 0 || faults > 1) throw new ArgError(`--faults ${faults} must be a share from 0 to 1, e.g. 0.03`);
  const faultKinds = (args['fault-kind'] as string | undefined)?.split(',').map((k) => k.trim());
  for (const k of faultKinds ?? []) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new ArgError(`--fault-kind ${k} is not one of ${FAULT_KINDS.join(', ')}`);
  const heartbeatOnly = args['heartbeat-only'] === true;
  if (heartbeatOnly && args.playout === true) throw new ArgError('--heartbeat-only sites do not play: drop --playout (sites play by default)');
  const dataDir = process.env.LOANET_DATA_DIR ?? './data';

  const api = await connectApi();
  const mqtt = await brokerAddress(api);
  const fleet = simFleet({
    api,
    mqtt,
    sites,
    heartbeatS,
    faults,
    ...(faultKinds ? { faultKinds: faultKinds as FaultSpec['kind'][] } : {}),
    ...(args.area ? { area: args.area as string } : {}),
    ...(args.prefix ? { prefix: args.prefix as string } : {}),
    credentialsFile: (args.credentials as string | undefined) ?? path.join(dataDir, 'sim-credentials.json'),
    ...(args.rate !== undefined ? { rate: args.rate as number } : {}),
    heartbeatOnly,
    dataDir,
    log: (line) => console.log(line),
  });
  console.log(
    `fleet: starting ${sites} ${heartbeatOnly ? 'heartbeat-only sites (they play nothing: the server counts them faulty, cannot_play)' : 'sites'} against ${api.baseUrl} (MQTT ${mqtt.host}:${mqtt.port}), heartbeat ${heartbeatS} s`,
  );
  await fleet.start();
  const report = () => {
    const s = fleet.stats();
    const mem = process.memoryUsage();
    console.log(
      `fleet: ${s.connected}/${s.sites} connected, ${s.heartbeatsSent} heartbeats, ${s.commandsRun} commands; rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`,
    );
  };
  const timer = setInterval(report, 10_000);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    console.log('fleet: stopping (agents say goodbye)…');
    await fleet.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

export async function brokerAddress(api: LoanetClient): Promise<{ host: string; port: number }> {
  const url = process.env.LOANET_MQTT_URL;
  if (url) {
    const u = new URL(url);
    if (u.protocol !== 'mqtt:') throw new ArgError(`LOANET_MQTT_URL="${url}" must be mqtt://host:port`);
    return { host: u.hostname, port: Number(u.port || 1883) };
  }
  const health = await api.get<{ broker: { port: number | null } }>('/api/health');
  if (!health.broker.port) throw new ArgError('the server did not say its MQTT port; set LOANET_MQTT_URL');
  return { host: new URL(api.baseUrl).hostname, port: health.broker.port };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(`loanet sim: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof ArgError) console.error(USAGE);
    process.exit(2);
  });
}
