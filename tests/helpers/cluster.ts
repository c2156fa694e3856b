/**
 * Two loanet servers on one PostgreSQL database and one Mosquitto, with a
 * fleet of PLAYING simulated sites, for the failover test and benchmark:
 * server A in its own process (the lease holder, the one killed with
 * SIGKILL), server B in this process (the standby that takes over). Both
 * share one data folder, as a deployment shares the media folder (issue 18
 * item 2), so a site fetches the media from B whichever server stored it.
 *
 * The order matters: the sites are registered through A before B starts (B
 * reads the registry at start), Mosquitto is given their credentials (the
 * files A serves, re-read on SIGHUP), and the agents connect to Mosquitto.
 * Mosquitto can be restarted (same port, same files) and the database may be
 * any PostgreSQL URL (the test's private instance, so it can be stopped).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LEASE_NAMES } from '../../server/cluster/lease-policy.ts';
import { freePort, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap, type RunningMosquitto } from './mosquitto.ts';
import { startPlayoutFleet } from './playout-fleet.ts';
import { LAO_CAI_2025, startTestServer, tempDir, type TestServer } from './server.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';
import { createTestDatabase } from './suite-database.ts';
import { waitFor } from './wait.ts';

const SERVER_PASSWORD = 'test-mqtt-server-password';

export interface ClusterOptions {
  /** A PostgreSQL server URL (its database is the admin one); a database of the cluster's own is made on it (suite-database.ts createTestDatabase). */
  postgresUrl: string;
  sites: number;
  /** The commune the sites are in. */
  area: string;
  leaseTtlMs: number;
  heartbeatS?: number;
  /** More environment for both servers. */
  env?: Record<string, string>;
  /** Before the fleet connects, with A up and B up: e.g. upload media. */
  beforeFleet?: (c: Cluster) => Promise<void>;
  /** When the agents send again what no server acknowledged (playout-fleet.ts). */
  journalResend?: { ackTimeoutMs: number; retry: { baseMs: number; capMs: number } };
  log?: (line: string) => void;
}

export interface Cluster {
  dir: string;
  dbUrl: string;
  mqttPort: number;
  /** The server process (replaced by handBack()). */
  a: ServerProcess;
  /** The server in this process (replaced by handBack(); its HTTP port stays). */
  b: TestServer;
  fleet: FleetRunner;
  /** Kill -9 A; resolves once it exited. */
  killA(): Promise<void>;
  /**
   * After A was killed and B took over: a new A process, B stopped cleanly (it
   * releases its leases), A holding every lease, then B started again as the
   * standby. The next test kills a holder again.
   */
  handBack(): Promise<void>;
  /** A new A process (after a kill) as the standby; resolves once it answers. */
  respawnA(): Promise<void>;
  /** Stop Mosquitto (SIGKILL) and start it again on the same port with the same files; resolves once it listens. */
  restartBroker(): Promise<void>;
  stopBroker(): Promise<void>;
  startBroker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const log = o.log ?? (() => {});
  const dir = tempDir('loanet-failover-');
  const shared = path.join(dir, 'data');
  fs.mkdirSync(shared);
  const database = await createTestDatabase(o.postgresUrl, 'failover');
  const dbUrl = database.url;
  const mqttPort = await freePort();
  const heartbeatS = o.heartbeatS ?? 2;
  writeMosquittoBootstrap(dir, { port: mqttPort, serverUser: 'loanet_a', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 10_000 });
  let mosquitto: RunningMosquitto | undefined;
  const startBroker = async () => {
    mosquitto = await startMosquitto(dir, { port: mqttPort });
  };
  const stopBroker = () => mosquitto?.stop('SIGKILL') ?? Promise.resolve();
  await startBroker();

  const env = (user: 'loanet_a' | 'loanet_b'): Record<string, string> => ({
    LOANET_DATABASE_URL: dbUrl,
    LOANET_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`,
    LOANET_MQTT_USERNAME: user,
    LOANET_MQTT_SERVER_USERS: 'loanet_a,loanet_b',
    LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
    LOANET_HEARTBEAT_S: String(heartbeatS),
    LOANET_LEASE_TTL_MS: String(o.leaseTtlMs),
    LOANET_DISK_RESERVE_MB: '0',
    ...o.env,
  });

  let a: ServerProcess | undefined;
  /** Server A as its own process, answering and logged in (the one killed). */
  const spawnA = (): Promise<ServerProcess> =>
    startServerProcess(shared, env('loanet_a'), {
      name: 'server A',
      onSpawn: (p) => {
        a = p;
      },
    });
  const killA = async () => {
    const child = a?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  const aHoldsAll = async (p: ServerProcess) => (await (await fetch(`${p.base}/metrics`)).text()).match(/^loanet_lease_held\{lease="[^"]+"\} 1$/gm)?.length === LEASE_NAMES.length;
  const bHttpPort = await freePort();
  let b: TestServer | undefined;
  let fleet: FleetRunner | undefined;
  const stop = async () => {
    await fleet?.stop().catch(() => undefined);
    await killA();
    await b?.stop().catch(() => undefined);
    await stopBroker();
    await database.drop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const first = await spawnA();
    const { base, token } = first;
    const imported = await fetch(`${base}/api/areas/import?version=2025`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${token}` },
      body: fs.readFileSync(LAO_CAI_2025, 'utf8'),
    });
    if (imported.status !== 200) throw new Error(`area import: ${imported.status}`);
    const prepared = await new FleetRunner({
      api: first.api,
      mqtt: { host: '127.0.0.1', port: mqttPort },
      sites: o.sites,
      area: o.area,
      heartbeatS,
      credentialsFile: null,
    }).prepare();
    for (const f of ['passwd', 'acl']) {
      const r = await fetch(`${base}/api/broker/mosquitto/${f}`, { headers: { authorization: `Bearer ${token}` } });
      fs.writeFileSync(path.join(dir, f), await r.text());
    }
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
    const site = prepared[0]!;
    await waitForBrokerLogin(mqttPort, { id: site.plan.id, secret: site.secret }, { what: 'mosquitto knows the sites' });
    // B on the same data folder (the shared media), started once the sites exist.
    const startB = () => startTestServer({ ...env('loanet_b'), LOANET_HTTP_PORT: String(bHttpPort) }, shared);
    b = await startB();
    const cluster: Cluster = {
      dir,
      dbUrl,
      mqttPort,
      a: first,
      b,
      fleet: undefined as unknown as FleetRunner,
      killA,
      async handBack() {
        await killA();
        cluster.a = await spawnA();
        await b!.stop();
        b = undefined;
        await waitFor('the new A holding every lease', () => aHoldsAll(cluster.a), 60_000, 100);
        b = await startB();
        cluster.b = b;
      },
      async respawnA() {
        await killA();
        cluster.a = await spawnA();
      },
      async restartBroker() {
        await stopBroker();
        await startBroker();
      },
      stopBroker,
      startBroker,
      stop,
    };
    await o.beforeFleet?.(cluster);
    const started = Date.now();
    fleet = await startPlayoutFleet(b, {
      sites: o.sites,
      area: o.area,
      dir: fs.mkdirSync(path.join(dir, 'fleet'), { recursive: true }) ?? path.join(dir, 'fleet'),
      heartbeatS,
      mqtt: { host: '127.0.0.1', port: mqttPort },
      prepared,
      ...(o.journalResend ? { journalResend: o.journalResend } : {}),
      connectTimeoutMs: Math.max(60_000, o.sites * 1000),
    });
    log(`${o.sites} playing sites connected to Mosquitto in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    cluster.fleet = fleet;
    return cluster;
  } catch (e) {
    await stop();
    throw e;
  }
}
