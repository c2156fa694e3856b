/**
 * Two servers, one registry: what one server changes in the registry reaches
 * the other without a restart (server/cluster/registry-watch.ts). Server A in
 * its own process, server B in this one, on one PostgreSQL database and one
 * Mosquitto, as in cluster-servers.test.ts; B starts before anything is
 * registered. An area import on A is in B's coverage index; sites registered
 * on A connect and are heard and counted by B; a credential rotated on A lets
 * the agent in through B's broker hook (and the old one no longer); a site
 * retired on A leaves B's fleet and is refused by B's hook; a session made on
 * A works on B, and a password change or a disabled user on A ends it on B.
 * How long each change took to reach B is printed (no timing is asserted).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { LAO_CAI_2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { testDatabaseUrl } from '../helpers/store.ts';
import { createTestDatabase } from '../helpers/suite-database.ts';
import { type ServerProcess, startServerProcess, stopServerProcesses } from '../helpers/server-process.ts';
import { waitFor } from '../helpers/wait.ts';

const canRun =
  haveTools('mosquitto') &&
  haveTools({
    name: 'PostgreSQL for two servers on one database',
    install: 'apt-get install postgresql, then set LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
    present: () => testDatabaseUrl() !== undefined || 'LOANET_TEST_DATABASE_URL is not set',
  });

const SERVER_PASSWORD = 'test-mqtt-server-password';
const HOOK_SECRET = 'test-broker-hook-secret-0123456789';
const COMMUNE = '2025.02683';

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let dbUrl: string;
let shared: string;
let a: ServerProcess;
let b: TestServer;
let fleet: FleetRunner | undefined;
const reached: string[] = [];

function env(user: 'loanet_a' | 'loanet_b'): Record<string, string> {
  return {
    LOANET_DATABASE_URL: dbUrl,
    LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`,
    LOANET_MQTT_USERNAME: user,
    LOANET_MQTT_SERVER_USERS: 'loanet_a,loanet_b',
    LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
    LOANET_HEARTBEAT_S: '2',
    LOANET_LEASE_TTL_MS: '3000',
    LOANET_SHARED_DIR: shared,
    LOANET_BROKER_HOOK_SECRET: HOOK_SECRET,
  };
}

async function login(base: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(r.status).toBe(200);
  return ((await r.json()) as { token: string }).token;
}

async function call<T>(base: string, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${base}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** What B's EMQX authentication hook answers for a site's credential. */
async function bHook(siteId: string, secret: string): Promise<string> {
  const r = await fetch(`${b.baseUrl}/api/broker/emqx/authn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-loanet-hook-secret': HOOK_SECRET },
    body: JSON.stringify({ clientid: siteId, username: siteId, password: secret }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { result: string }).result;
}

/** Waits for `cond` on B after a change made on A at `since` (performance.now()), and notes how long it took. */
async function reachesB(what: string, since: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  await waitFor(what, cond, 30_000, 10);
  reached.push(`${what}: ${(performance.now() - since).toFixed(0)} ms`);
}

/** Mosquitto given the files A serves now (every active site, both servers' users), re-read on SIGHUP. */
async function brokerFilesFromA(): Promise<void> {
  for (const f of ['passwd', 'acl']) {
    const r = await fetch(`${a.base}/api/broker/mosquitto/${f}`, { headers: { authorization: `Bearer ${a.token}` } });
    fs.writeFileSync(path.join(dir, f), await r.text());
  }
  process.kill(mosquitto!.child.pid!, 'SIGHUP');
}

describe.skipIf(!canRun)('two servers, one registry', () => {
  beforeAll(async () => {
    const base = testDatabaseUrl()!;
    database = await createTestDatabase(base, 'registry');
    dbUrl = database.url;
    dir = tempDir('loanet-registry-');
    shared = tempDir('loanet-registry-shared-');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_a', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 10_000 });
    mosquitto = await startMosquitto(dir, { port });
    a = await startServerProcess(tempDir('loanet-registry-a-'), env('loanet_a'));
    await brokerFilesFromA();
    await waitForBrokerLogin(port, { id: 'loanet_b', secret: SERVER_PASSWORD }, { what: 'mosquitto knows the second server' });
    // B before anything is registered: all it knows of the registry must come from A's changes.
    b = await startTestServer(env('loanet_b'));
  }, 180_000);

  afterAll(async () => {
    if (reached.length > 0) console.log(`cluster-registry: a change on A reached B in\n  ${reached.join('\n  ')}`);
    await fleet?.stop();
    await stopServerProcesses();
    await b?.stop();
    await mosquitto?.stop('SIGKILL');
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(shared, { recursive: true, force: true });
  }, 60_000);

  it("an area import on A is in B's coverage index", async () => {
    expect(() => b.server.ctx.coverage.resolveArea(COMMUNE)).toThrow();
    const t = performance.now();
    const imported = await fetch(`${a.base}/api/areas/import?version=2025`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${a.token}` },
      body: fs.readFileSync(LAO_CAI_2025, 'utf8'),
    });
    expect(imported.status).toBe(200);
    await reachesB('an area import', t, () => {
      try {
        return b.server.ctx.coverage.resolveArea(COMMUNE).key === COMMUNE;
      } catch {
        return false;
      }
    });
    expect((await b.api('GET', `/api/coverage?area=${COMMUNE}`)).body.area.name).toBe('Xã Bát Xát');
  });

  it('sites registered on A connect and are heard and counted by B; a rotated credential gets in through B, a retired site is refused and dropped', async () => {
    fleet = new FleetRunner({ api: new LoanetClient(a.base, a.token), mqtt: { host: '127.0.0.1', port }, sites: 2, heartbeatS: 2, credentialsFile: null });
    const t = performance.now();
    const prepared = await fleet.prepare();
    const [first, second] = prepared.map((p) => p.plan.id) as [string, string];
    await reachesB('a site registration', t, () => b.server.ctx.fleet.isKnownSite(first) && b.server.ctx.fleet.isKnownSite(second));
    expect(b.server.ctx.sites.entry(first)).toMatchObject({ retired: false });
    // Mosquitto's files as A serves them now; then the agents connect.
    await brokerFilesFromA();
    await waitForBrokerLogin(port, { id: first, secret: prepared[0]!.secret }, { what: 'mosquitto knows the sites' });
    await fleet.start(prepared);
    await waitFor('B hears both sites', () => b.server.ctx.fleet.isOnline(first) && b.server.ctx.fleet.isOnline(second), 60_000);
    await waitFor(
      'B counts both sites',
      async () => {
        const c = (await b.api('GET', `/api/coverage?area=${prepared[0]!.plan.area}`)).body as { sites: number; offline: number };
        return c.sites >= 1 && c.offline === 0;
      },
      60_000,
    );
    expect(b.server.ctx.coverage.report('2025.15').sites).toBe(2);

    // B's hook lets the first site in (and keeps that check for a minute), then A rotates its credential.
    const old = prepared[0]!.secret;
    expect(await bHook(first, old)).toBe('allow');
    const t2 = performance.now();
    const rotated = await call<{ credential: { siteId: string; secret: string } }>(a.base, a.token, 'POST', `/api/sites/${first}/credential`);
    expect(rotated.status).toBe(200);
    await reachesB('a credential rotation (old one refused)', t2, async () => (await bHook(first, old)) === 'deny');
    expect(await bHook(first, rotated.body.credential.secret)).toBe('allow');

    // The second site retired on A: B drops it from its fleet and coverage, and its hook refuses it.
    expect(await bHook(second, prepared[1]!.secret)).toBe('allow');
    const t3 = performance.now();
    expect((await call(a.base, a.token, 'DELETE', `/api/sites/${second}`)).status).toBe(200);
    await reachesB('a retirement', t3, () => !b.server.ctx.fleet.isKnownSite(second));
    expect(await bHook(second, prepared[1]!.secret)).toBe('deny');
    expect(b.server.ctx.sites.entry(second)).toMatchObject({ retired: true });
    expect(b.server.ctx.coverage.report('2025.15').sites).toBe(1);
  });

  it('a session made on A works on B; a password change or a disabled user on A ends it on B', async () => {
    // Scoped to a commune that A imported: B resolves the scope from the areas it re-read.
    const created = await call(a.base, a.token, 'POST', '/api/users', { username: 'canbo.batxat', password: 'mật khẩu đủ dài 2025', role: 'operator', area: COMMUNE });
    expect(created.status).toBe(201);
    const users = await call<{ users: Array<{ id: number; username: string }> }>(a.base, a.token, 'GET', '/api/users');
    const id = users.body.users.find((u) => u.username === 'canbo.batxat')!.id;
    const kept = await login(a.base, 'canbo.batxat', 'mật khẩu đủ dài 2025');
    const other = await login(a.base, 'canbo.batxat', 'mật khẩu đủ dài 2025');
    expect((await call(b.baseUrl, other, 'GET', '/api/auth/me')).status).toBe(200);
    expect((await call<{ sites: number }>(b.baseUrl, other, 'GET', '/api/coverage')).body).toMatchObject({ area: { key: COMMUNE } });
    const changed = await call(a.base, kept, 'POST', '/api/auth/password', { currentPassword: 'mật khẩu đủ dài 2025', newPassword: 'một mật khẩu mới hẳn 2026' });
    expect(changed.status).toBe(200);
    // Sessions are checked in the store on every request: no waiting.
    expect((await call(b.baseUrl, other, 'GET', '/api/auth/me')).status).toBe(401);
    expect((await call(b.baseUrl, kept, 'GET', '/api/auth/me')).status).toBe(200);
    expect((await call(a.base, a.token, 'PATCH', `/api/users/${id}`, { disabled: true })).status).toBe(200);
    expect((await call(b.baseUrl, kept, 'GET', '/api/auth/me')).status).toBe(401);
  });
});
