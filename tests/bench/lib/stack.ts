/**
 * A loanet server as a child process (`node --import tsx server/main.ts`,
 * temp LOANET_DATA_DIR, free loopback ports), on its embedded broker or on a
 * real Mosquitto started here with the password and ACL files the server
 * serves at /api/broker/mosquitto/* (as tests/integration/external-broker
 * does), so each process's CPU is measured apart.
 *
 * Sites are registered once per invocation, through the API as the fleet
 * runner does (scrypt per site: the slow part), into a template data folder;
 * every stack starts from a copy of it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { LoanetClient } from '../../../tools/api-client.ts';
import { FleetRunner } from '../../../firmware-sim/fleet-runner.ts';
import { HAVE_MOSQUITTO, MOSQUITTO, writeMosquittoBootstrap } from '../../helpers/mosquitto.ts';
import { freePort, ROOT, startProcess, startTsx, stopProcess, tcpOpen, waitFor, type Tracked } from './proc.ts';

export type BrokerKind = 'embedded' | 'mosquitto';
/** Both, unless LOANET_BENCH_BROKERS names one (e.g. to run one half again). */
export const BROKERS: readonly BrokerKind[] = (['embedded', 'mosquitto'] as const).filter(
  (b) => !process.env.LOANET_BENCH_BROKERS || process.env.LOANET_BENCH_BROKERS.split(',').includes(b),
);
export { HAVE_MOSQUITTO, MOSQUITTO };

const ADMIN_PASSWORD = 'bench-admin-password';
const SERVER_USER = 'loanet_server';
const SERVER_MQTT_PASSWORD = 'bench-mqtt-server-password';
const LAO_CAI_2025 = path.join(ROOT, 'server/registry/vn-admin/lao-cai-2025.csv');

export interface Province {
  /** Template data folder (loanet.db with areas and sites), copied for each stack. */
  dataDir: string;
  /** Site ids in plan order (stations first), with their secrets. */
  sites: Array<{ id: string; secret: string }>;
  /** Seconds the registration of the sites that were new took, and how many were new. */
  registration: { sites: number; seconds: number };
}

export interface Stack {
  broker: BrokerKind;
  baseUrl: string;
  token: string;
  api: LoanetClient;
  /** Where the sites connect (the embedded broker or Mosquitto). */
  mqtt: { host: string; port: number; url: string };
  server: Tracked;
  mosquitto: Tracked | undefined;
  dir: string;
  /** The fleet runner's credentials file, pointing at this server. */
  credentialsFile: string;
  /** On Mosquitto: seconds from the SIGHUP with loanet's files to a site's first accepted login, and the ACL file's size. */
  mosquittoFiles?: { reloadS: number; aclBytes: number };
  /** Stops the server (and Mosquitto) and removes its folder; a shared stack's does nothing (see shareStacks). */
  stop(): Promise<void>;
  stopForReal(): Promise<void>;
}

/** Templates by name: 'province' (what every scenario uses) and any larger one a scenario asks for apart (heartbeat-ingest's ×10). */
const provinces = new Map<string, Province>();
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Remove every temp folder this module made (call once at the very end). */
export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

async function startServerProcess(
  dataDir: string,
  env: Record<string, string>,
): Promise<{ server: Tracked; baseUrl: string; httpPort: number; mqttPort: number; token: string; api: LoanetClient }> {
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const server = startTsx('server', 'server/main.ts', [], {
    LOANET_HTTP_PORT: String(httpPort),
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_MQTT_PORT: String(mqttPort),
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_DATA_DIR: dataDir,
    LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    // The bench's 30,000 simulated sites all connect from 127.0.0.1: lift the per-address MQTT limits meant for a real network.
    LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
    LOANET_MQTT_CONNECT_BURST: '1000000',
    LOANET_MQTT_CONNECT_RATE: '1000000',
    ...env,
  });
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  try {
    await Promise.race([
      waitFor('server health', async () => (await fetch(`${baseUrl}/api/health`)).ok, 60_000, 100),
      server.exited.then((code) => {
        throw new Error(`server exited (${code}) at start-up:\n${server.tail().slice(-2000)}`);
      }),
    ]);
    // The admin is created once start-up has finished, after the port already answers: the start line comes after it.
    const started = /^loanet .*: console http/m;
    if (!started.test(server.tail())) await server.waitForLine(started, 60_000);
    const api = new LoanetClient(baseUrl, undefined);
    await api.login('admin', ADMIN_PASSWORD);
    const token = (await api.post<{ token: string }>('/api/auth/tokens', { name: 'bench' }).catch(() => undefined))?.token;
    const client = token ? new LoanetClient(baseUrl, token) : api;
    return { server, baseUrl, httpPort, mqttPort, token: token ?? '', api: client };
  } catch (e) {
    await stopProcess(server);
    throw e;
  }
}

/**
 * Areas (Lào Cai 2025) and `sites` sites registered through the API, the
 * fleet runner's plan. Memoised: a later call for more sites extends it (the
 * plan for n sites is a prefix of the plan for more). A `template` other
 * than 'province' is kept apart (so a 30,000-site step does not change what
 * the 3,000-site scenarios run on) and starts as a copy of 'province' if
 * that exists, registering only the sites beyond it.
 */
export function prepareProvince(sites: number, log: (s: string) => void, template = 'province'): Promise<Province> {
  // One at a time (--quick lanes ask together): the second call finds the template made.
  const next = preparing.then(() => prepareOnce(sites, log, template));
  preparing = next.catch(() => undefined);
  return next;
}
let preparing: Promise<unknown> = Promise.resolve();

async function prepareOnce(sites: number, log: (s: string) => void, template: string): Promise<Province> {
  // Shared --quick stacks: one size for every scenario, so no scenario's larger fleet restarts them.
  if (sharing) sites = Math.max(sites, QUICK_PROVINCE_SITES);
  let province = provinces.get(template);
  if (province && province.sites.length >= sites) return province;
  const base = provinces.get('province');
  if (!province && template !== 'province' && base && base.sites.length <= sites) {
    const dataDir = path.join(tempDir(`loanet-bench-${template}-`), 'data');
    fs.cpSync(path.dirname(base.dataDir), path.dirname(dataDir), { recursive: true });
    province = { ...base, dataDir };
  }
  const dataDir = province?.dataDir ?? path.join(tempDir('loanet-bench-template-'), 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const s = await startServerProcess(dataDir, { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0' });
  try {
    if (!province) {
      const csv = fs.readFileSync(LAO_CAI_2025, 'utf8');
      await s.api.request('POST', '/api/areas/import?version=2025', csv, 'text/csv');
    }
    const credentialsFile = path.join(dataDir, '..', 'credentials.json');
    const runner = new FleetRunner({ api: s.api, mqtt: { host: '127.0.0.1', port: 1 }, sites, heartbeatS: 30, credentialsFile });
    const t0 = performance.now();
    const before = province?.sites.length ?? 0;
    const prepared = await runner.prepare();
    const seconds = (performance.now() - t0) / 1000;
    province = {
      dataDir,
      sites: prepared.map((p) => ({ id: p.plan.id, secret: p.secret })),
      registration: { sites: prepared.length - before, seconds },
    };
    provinces.set(template, province);
    log(
      `registered ${prepared.length - before} sites through the API in ${seconds.toFixed(1)} s${template === 'province' ? '' : ` (template ${template}: ${prepared.length} sites)`}`,
    );
    return province;
  } finally {
    await stopProcess(s.server, 15_000);
  }
}

/**
 * `--quick` runs its scenarios in lanes side by side (run.ts), and the
 * scenarios of one lane share one stack per broker (a server start is ~2.5 s
 * of the minute `--quick` has): the runner turns sharing on and runs each
 * lane inside `inStackPool(name)`; `startStack` then hands out that lane's
 * stack (its `stop()` does nothing) and `stopSharedStacks()` ends them with
 * the run. Scenarios measure deltas (messages accepted, CPU over a window,
 * sites heard since their fleet started), so what an earlier scenario left
 * on the server does not enter their figures. Outside a pool, and in the
 * full run, every half starts a fresh server, as before.
 */
let sharing = false;
const pool = new AsyncLocalStorage<string>();
/** Runs `fn` with its stacks shared in the pool `name` (when sharing is on). */
export function inStackPool<T>(name: string | undefined, fn: () => Promise<T>): Promise<T> {
  return name ? pool.run(name, fn) : fn();
}
/** Sites registered for a `--quick` run: enough for every scenario's quick fleet (live-broadcast's 40 + its probe). */
export const QUICK_PROVINCE_SITES = 41;
const shared = new Map<string, { sites: number; stack: Promise<Stack> }>();
/** The environment of a shared stack: what the scenarios ask of their own servers, together. */
const SHARED_ENV: Record<string, string> = { LOANET_LOG_LEVEL: 'warn', LOANET_SOUND_CHECK_INTERVAL_H: '0', LOANET_SCHEDULE_RECOMPUTE_S: '10' };

export function shareStacks(on: boolean): void {
  sharing = on;
}

export async function stopSharedStacks(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  for (const s of all) await (await s.stack.catch(() => undefined))?.stopForReal();
}

/**
 * Runs `fn` once per broker: one after the other (full run: each half has
 * the machine to itself), or side by side when `concurrent` (`--quick`: a
 * smoke run, where the wall time matters more than the halves' isolation).
 */
export async function eachBroker<T>(brokers: readonly BrokerKind[], concurrent: boolean, fn: (broker: BrokerKind) => Promise<T>): Promise<T[]> {
  if (concurrent) return Promise.all(brokers.map(fn));
  const out: T[] = [];
  for (const b of brokers) out.push(await fn(b));
  return out;
}

/**
 * A template kept from an earlier run (a folder with `data/` and
 * `credentials.json`, as prepareProvince makes them): registering 30,000
 * sites takes ~9 minutes. Sites in the credentials file's order (the plan's).
 */
export function provinceFromDir(dir: string): Province {
  const creds = JSON.parse(fs.readFileSync(path.join(dir, 'credentials.json'), 'utf8')) as { sites: Record<string, string> };
  return { dataDir: path.join(dir, 'data'), sites: Object.entries(creds.sites).map(([id, secret]) => ({ id, secret })), registration: { sites: 0, seconds: 0 } };
}

/** A server (and Mosquitto) on a copy of the province, ready for sites to connect (with `shareStacks(true)`: the run's shared one). */
export async function startStack(p: Province, broker: BrokerKind, env: Record<string, string> = {}): Promise<Stack> {
  const lane = sharing ? pool.getStore() : undefined;
  if (!lane) return startOwnStack(p, broker, env);
  const key = `${lane}/${broker}`;
  const have = shared.get(key);
  if (have && have.sites >= p.sites.length) return have.stack;
  if (have) await (await have.stack.catch(() => undefined))?.stopForReal();
  const stack = startOwnStack(p, broker, SHARED_ENV).then((s) => ({ ...s, stop: async () => {} }));
  shared.set(key, { sites: p.sites.length, stack });
  stack.catch(() => shared.delete(key));
  return stack;
}

async function startOwnStack(p: Province, broker: BrokerKind, env: Record<string, string>): Promise<Stack> {
  const dir = tempDir(`loanet-bench-${broker}-`);
  const dataDir = path.join(dir, 'data');
  fs.cpSync(p.dataDir, dataDir, { recursive: true });
  let mosquitto: Tracked | undefined;
  let mosquittoPort = 0;
  let started: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  let mosquittoFiles: Stack['mosquittoFiles'];
  try {
    if (broker === 'mosquitto') {
      if (!HAVE_MOSQUITTO) throw new Error(`${MOSQUITTO} is missing (apt-get install mosquitto)`);
      mosquittoPort = await freePort();
      const conf = writeMosquittoBootstrap(dir, { port: mosquittoPort, serverUser: SERVER_USER, serverPassword: SERVER_MQTT_PASSWORD, maxQueuedMessages: 100_000 });
      mosquitto = startProcess('mosquitto', MOSQUITTO, ['-c', conf]);
      await waitFor('mosquitto listening', () => tcpOpen(mosquittoPort), 10_000, 50);
    }
    started = await startServerProcess(dataDir, {
      ...(broker === 'mosquitto' ? { LOANET_MQTT_URL: `mqtt://127.0.0.1:${mosquittoPort}`, LOANET_MQTT_PASSWORD: SERVER_MQTT_PASSWORD } : {}),
      ...env,
    });
    const port = broker === 'mosquitto' ? mosquittoPort : started.mqttPort;
    if (broker === 'mosquitto') {
      const passwd = await started.api.request<string>('GET', '/api/broker/mosquitto/passwd');
      const acl = await started.api.request<string>('GET', '/api/broker/mosquitto/acl');
      fs.writeFileSync(path.join(dir, 'passwd'), passwd);
      fs.writeFileSync(path.join(dir, 'acl'), acl);
      const sighupAt = performance.now();
      process.kill(mosquitto!.pid, 'SIGHUP');
      const probe = p.sites[0]!;
      // Mosquitto reloads both files on SIGHUP, serving nobody meanwhile: seconds for 30,000 sites.
      await waitFor('mosquitto knows the sites', () => canConnect(port, probe.id, probe.secret), Math.max(15_000, p.sites.length * 4), 100);
      mosquittoFiles = { reloadS: (performance.now() - sighupAt) / 1000, aclBytes: Buffer.byteLength(acl) };
    }
    const credentialsFile = path.join(dir, 'credentials.json');
    fs.writeFileSync(credentialsFile, JSON.stringify({ server: started.baseUrl, sites: Object.fromEntries(p.sites.map((s) => [s.id, s.secret])) }), { mode: 0o600 });
    const s = started;
    const stopForReal = async () => {
      await stopProcess(s.server, 15_000);
      await stopProcess(mosquitto);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    return {
      broker,
      baseUrl: s.baseUrl,
      token: s.token,
      api: s.api,
      mqtt: { host: '127.0.0.1', port, url: `mqtt://127.0.0.1:${port}` },
      server: s.server,
      mosquitto,
      dir,
      credentialsFile,
      ...(mosquittoFiles ? { mosquittoFiles } : {}),
      stop: stopForReal,
      stopForReal,
    };
  } catch (e) {
    await stopProcess(started?.server);
    await stopProcess(mosquitto);
    throw e;
  }
}

async function canConnect(port: number, id: string, secret: string): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      clientId: id,
      username: id,
      password: secret,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    await c.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

/** The fleet's condition counts from the server (the whole province). */
export async function coverageCounts(api: LoanetClient): Promise<{ sites: number; unverified: number; offline: number; operational: number; degraded: number; faulty: number }> {
  return api.get('/api/coverage?area=15');
}

/** Messages the ingest boundary has accepted since the server started. */
export async function acceptedCount(api: LoanetClient): Promise<{ accepted: number; heartbeats: number; rejected: number }> {
  const r = await api.get<{ ingest: { accepted: number; acceptedByChannel?: { telemetry?: number }; rejected: number } }>('/api/fleet/messages');
  return { accepted: r.ingest.accepted, heartbeats: r.ingest.acceptedByChannel?.telemetry ?? r.ingest.accepted, rejected: r.ingest.rejected };
}

/**
 * The fleet runner (`npm run sim`) as a child process against a stack, its
 * sites heartbeat-only: these benchmarks measure the heartbeat path, at up to
 * 15,000 sites (the server counts such sites faulty, cannot_play).
 */
export function startFleetRunner(stack: Stack, sites: number, heartbeatS: number): Tracked {
  return startTsx(
    'fleet-runner',
    'firmware-sim/main.ts',
    ['--sites', String(sites), '--heartbeat', String(heartbeatS), '--credentials', stack.credentialsFile, '--rate', '500', '--heartbeat-only'],
    {
      LOANET_URL: stack.baseUrl,
      LOANET_TOKEN: stack.token,
      ...(stack.broker === 'mosquitto' ? { LOANET_MQTT_URL: stack.mqtt.url } : {}),
    },
  );
}

/**
 * Waits until `expectHeard` sites have been heard from (not unverified): the
 * fleet is connected and has sent its first heartbeat (an agent sends one as
 * it connects). With `since` (the heartbeats the server had accepted before
 * the fleet started: a shared `--quick` stack remembers earlier fleets' sites
 * as heard), also until that many new heartbeats came in. Fails early if the
 * fleet runner dies.
 */
export async function waitForHeard(stack: Stack, fleet: Tracked, expectHeard: number, timeoutMs: number, since?: number): Promise<number> {
  const t0 = performance.now();
  await Promise.race([
    waitFor(
      `${expectHeard} sites heard`,
      async () => {
        if (since !== undefined && (await acceptedCount(stack.api)).heartbeats - since < expectHeard) return false;
        const c = await coverageCounts(stack.api);
        return c.sites - c.unverified >= expectHeard;
        // A whole-province coverage costs the server ~70 ms at 30,000 sites: asked less often for big fleets.
      },
      timeoutMs,
      expectHeard > 5000 ? 2000 : expectHeard > 100 ? 500 : 100,
    ),
    fleet.exited.then((code) => {
      throw new Error(`fleet runner exited (${code}):\n${fleet.tail().slice(-2000)}`);
    }),
  ]);
  return (performance.now() - t0) / 1000;
}
