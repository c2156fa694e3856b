/**
 * Test fixture: a real loanet server (embedded broker on an ephemeral TCP
 * port, SQLite in a temp folder, HTTP on an ephemeral port), with the Lào Cai
 * 2025 area list imported and an admin token ready.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type ServerConfig } from '../../server/config.ts';
import { serverDatabaseUrl } from './suite-database.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import { runningUntilStopped, stopped } from './leftovers.ts';
import { removeAfterFile } from './temp-dirs.ts';

export const ADMIN_PASSWORD = 'test-admin-password';
export const LAO_CAI_2025 = path.resolve(import.meta.dirname, '../../server/registry/vn-admin/lao-cai-2025.csv');

export interface TestServer {
  server: RunningServer;
  config: ServerConfig;
  dataDir: string;
  baseUrl: string;
  mqttUrl: string;
  token: string;
  api<T = any>(method: string, url: string, body?: unknown, opts?: { token?: string | null; contentType?: string }): Promise<{ status: number; body: T }>;
  /**
   * The same call as `api`, through Fastify's inject (the whole request lifecycle: hooks, auth, schemas,
   * serialisation; no socket). For tests of routes only: several times cheaper per call. A test of what
   * a socket carries (connection limits, keep-alive, WebSockets, proxies) uses `api` or fetch.
   */
  inject<T = any>(
    method: string,
    url: string,
    body?: unknown,
    opts?: { token?: string | null; contentType?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: T; text: string; headers: Record<string, string | string[] | number | undefined> }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A new folder under the system's temp folder, removed after the test file (temp-dirs.ts). */
export function tempDir(prefix = 'loanet-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  removeAfterFile(dir);
  return dir;
}

/**
 * The environment of a server started as its own process (`npm start`, the built bundle): this
 * process's environment without any LOANET_* variable, since a developer's shell or CI's would
 * otherwise change what is tested, then loopback on ephemeral ports, the data folder, no weekly
 * sound check, and the test's own `env` over all of that.
 */
export function serverProcessEnv(dataDir: string, env: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('LOANET_')) out[k] = v;
  return {
    ...out,
    LOANET_DATA_DIR: dataDir,
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_HTTP_PORT: '0',
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_MQTT_PORT: '0',
    LOANET_SOUND_CHECK_INTERVAL_H: '0',
    ...postgresFor(dataDir),
    ...env,
  };
}

/** LOANET_DATABASE_URL for a server on `dataDir` when the suite runs on PostgreSQL (suite-database.ts); nothing on SQLite. */
function postgresFor(dataDir: string): Record<string, string> {
  const url = serverDatabaseUrl(dataDir);
  return url ? { LOANET_DATABASE_URL: url } : {};
}

export async function startTestServer(env: Record<string, string> = {}, existingDataDir?: string): Promise<TestServer> {
  const dataDir = existingDataDir ?? tempDir();
  const config = loadConfig({
    LOANET_HTTP_PORT: '0',
    LOANET_MQTT_PORT: '0',
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_DATA_DIR: dataDir,
    LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOANET_SWEEP_MS: '200',
    LOANET_SOUND_CHECK_INTERVAL_H: '0',
    // Every simulated site of a test connects from 127.0.0.1, up to thousands at once: the per-address
    // MQTT limits are for a real network (tests of those limits set their own).
    LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: '50000',
    LOANET_MQTT_CONNECT_BURST: '50000',
    LOANET_MQTT_CONNECT_RATE: '50000',
    // No disk reserve: 64 MB of zeros per test server would fill the machine's temp folder (tests/integration/disk-full.test.ts sets its own).
    LOANET_DISK_RESERVE_MB: '0',
    ...postgresFor(dataDir),
    ...env,
  });
  const t: TestServer = {
    server: undefined as unknown as RunningServer,
    config,
    dataDir,
    baseUrl: '',
    mqttUrl: '',
    token: '',
    async api(method, url, body, opts = {}) {
      const token = opts.token === undefined ? t.token : opts.token;
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        headers['content-type'] = opts.contentType ?? 'application/json';
        payload = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await fetch(`${t.baseUrl}${url}`, { method, headers, body: payload });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed as any };
    },
    async inject(method, url, body, opts = {}) {
      const token = opts.token === undefined ? t.token : opts.token;
      const headers: Record<string, string> = { ...opts.headers };
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        headers['content-type'] = opts.contentType ?? 'application/json';
        payload = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const res = await t.server.app.inject({ method: method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) });
      let parsed: unknown = res.body;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        /* not JSON */
      }
      return { status: res.statusCode, body: parsed as any, text: res.body, headers: res.headers };
    },
    async restart() {
      await t.server.stop();
      await boot(t, { ...config, httpPort: 0, mqttPort: t.server.mqttPort });
    },
    async stop() {
      await t.server.stop();
    },
  };
  await boot(t, config);
  return t;
}

async function boot(t: TestServer, config: ServerConfig): Promise<void> {
  const server = await startServer(config);
  // Stopped by the file, through t.stop() or t.server.stop(); else after the file (leftovers.ts).
  const stop = server.stop;
  server.stop = () => {
    stopped(server);
    return stop();
  };
  runningUntilStopped(server, `the test server on ${config.dataDir}`, stop);
  t.server = server;
  t.baseUrl = `http://127.0.0.1:${t.server.httpPort}`;
  t.mqttUrl = `mqtt://127.0.0.1:${t.server.mqttPort}`;
  const login = await t.api<{ token: string }>('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, { token: null });
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  t.token = login.body.token;
}

export async function importLaoCai2025(t: TestServer): Promise<void> {
  const r = await t.api('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'), { contentType: 'text/csv' });
  if (r.status !== 200) throw new Error(`import failed: ${JSON.stringify(r.body)}`);
}

export { waitFor } from './wait.ts';
