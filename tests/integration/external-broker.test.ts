/**
 * External broker mode end to end: a real Mosquitto (Debian `mosquitto`) on
 * a free loopback port, configured only with the password and ACL files
 * loanet generates, a loanet server connected to it as a client
 * (LOANET_MQTT_URL), and a simulated fleet whose agents connect to Mosquitto.
 *
 * Order matters, as in production: sites are registered first, then the
 * files are regenerated (with the real CLI) and Mosquitto is sent SIGHUP,
 * and only then do the agents connect.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import { StartupError } from '../../server/errors.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { PROTOCOL_VERSION, siteTopic } from '../../protocol/index.ts';
import type { CoverageReport } from '../../server/coverage/model.ts';
import { haveTools } from '../helpers/require-tool.ts';

const haveMosquitto = haveTools('mosquitto');

const HEARTBEAT_S = 2;
const SITES = 20;
const SERVER_USER = 'loanet_server';
const SERVER_PASSWORD = 'test-mqtt-server-password';
const ROOT = path.resolve(import.meta.dirname, '../..');

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let t: TestServer;
let fleet: FleetRunner;
let forger: { id: string; secret: string };
let victim: string;

function connectRaw(username: string, password: string): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: username, username, password, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => (c.end(true), reject(err)));
  });
}

/** Runs the real `npm run broker-files` CLI into the test's folder; answers what it printed. */
async function regenerate(): Promise<string> {
  const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools/broker-files.ts'), '--out', dir], {
    cwd: ROOT,
    env: { ...process.env, LOANET_URL: t.baseUrl, LOANET_TOKEN: t.token },
  });
  return cli.stdout;
}

const coverage = async () => (await t.api<CoverageReport>('GET', '/api/coverage?area=15')).body;

describe.skipIf(!haveMosquitto)('loanet on an external Mosquitto broker', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-mosquitto-');
    port = await freePort();
    // Bootstrap, as an operator would with mosquitto_passwd: only the server's own user.
    writeMosquittoBootstrap(dir, { port, serverUser: SERVER_USER, serverPassword: SERVER_PASSWORD, maxQueuedMessages: 10_000, logNotice: true });
    mosquitto = await startMosquitto(dir, { port });

    t = await startTestServer({
      LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
      LOANET_HEARTBEAT_S: String(HEARTBEAT_S),
      // Scheduled sound checks verify every mic-equipped site soon after it comes online.
      LOANET_SOUND_CHECK_INTERVAL_H: '24',
      LOANET_SOUND_CHECK_PERIOD_S: '1',
      LOANET_SOUND_CHECK_BATCH: '200',
    });
    await importLaoCai2025(t);
    fleet = new FleetRunner({ api: new LoanetClient(t.baseUrl, t.token), mqtt: { host: '127.0.0.1', port }, sites: SITES, heartbeatS: HEARTBEAT_S, credentialsFile: null });
    const prepared = await fleet.prepare();
    // Two sites no agent runs: one whose credential a test uses to forge, one it forges for.
    const reg = async (id: string) => (await t.api('POST', '/api/sites', { id, name: id, kind: 'cluster', area: '02683' })).body.credential.secret as string;
    forger = { id: 'forger-1', secret: await reg('forger-1') };
    victim = 'victim-1';
    await reg(victim);

    // The real CLI writes both files; then mosquitto re-reads them on SIGHUP.
    const out = await regenerate();
    expect(out).toMatch(new RegExp(`wrote .*passwd \\(${SITES + 2} site users \\+ the server user\\)`));
    expect(out).toMatch(/kill -HUP/);
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
    await waitForBrokerLogin(port, forger, { what: 'mosquitto knows the sites', timeoutMs: 10_000 });
    await fleet.start(prepared);
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    await t?.stop();
    await mosquitto?.stop();
  });

  it('says it runs on an external broker, connected', async () => {
    const h = await t.api('GET', '/api/health');
    expect(h.body.broker).toMatchObject({ kind: 'external', up: true, port });
  });

  it('brings every site to operational, sound verified, through Mosquitto', async () => {
    const c = await waitFor(
      `${SITES} sites operational`,
      async () => {
        const c = await coverage();
        return c.operational === SITES ? c : undefined;
      },
      30_000,
      250,
    );
    // The two extra registered sites never connect.
    expect(c).toMatchObject({ sites: SITES + 2, offline: 0, faulty: 0, unverified: 2 });
    expect(fleet.stats().connected).toBe(SITES);
  }, 40_000);

  it('runs a command round trip (QoS 1 through Mosquitto and back)', async () => {
    const id = fleet.ids()[0]!;
    const r = await t.api('POST', `/api/sites/${id}/commands`, { type: 'set_volume', params: { level: 42 }, waitMs: 5000 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'succeeded', type: 'set_volume' });
  });

  it('turns a killed agent offline through its last will, published by Mosquitto', async () => {
    const id = fleet.ids()[3]!;
    await fleet.kill(id);
    await waitFor(`${id} offline`, () => t.server.ctx.fleet.observation(id)!.connected === false, 10_000, 50);
    // The event is stored by the fleet's batched writer a moment after the observation changes (on PostgreSQL, an await later).
    const events = await waitFor('the disconnection stored', async () => {
      const e = (await t.api('GET', `/api/sites/${id}/events?type=disconnected`)).body.events as Array<{ detail: { reason: string | null } }>;
      return e.length > 0 ? e : undefined;
    });
    expect(events[0]!.detail.reason).toBe('last-will');
    const c = await waitFor('coverage shows it offline', async () => {
      const c = await coverage();
      return c.offline === 1 ? c : undefined;
    });
    expect(c.failing.find((f) => f.condition === 'offline')!.siteId).toBe(id);
    await fleet.restore(id);
    await waitFor('back to all operational', async () => (await coverage()).operational === SITES, 20_000, 250);
  }, 40_000);

  it("refuses, by Mosquitto's ACL, a site publishing on another site's topics: the server never hears it", async () => {
    const before = structuredClone(t.server.ctx.fleet.observation(victim));
    expect(before?.lastSeenAt ?? null).toBeNull();
    const c = await connectRaw(forger.id, forger.secret);
    const at = Date.now();
    await c.publishAsync(siteTopic(victim, 'state'), JSON.stringify({ v: PROTOCOL_VERSION, siteId: victim, state: 'online', at }), { qos: 1, retain: true });
    // Its own topic is allowed: once that arrives, the forged one (sent first on the same connection) would have too.
    await c.publishAsync(siteTopic(forger.id, 'state'), JSON.stringify({ v: PROTOCOL_VERSION, siteId: forger.id, state: 'online', at }), { qos: 1, retain: true });
    await waitFor("the forger's own state", () => t.server.ctx.fleet.observation(forger.id)!.connected);
    expect(t.server.ctx.fleet.observation(victim)).toEqual(before);
    // Listening to another site's commands: Mosquitto 2.0 grants the SUBSCRIBE to an MQTT 3.1.1
    // client but never delivers what the read ACL denies. The server publishes to the victim, then
    // to the forger: when the forger's own command arrives, the victim's would have arrived before.
    const heard: string[] = [];
    c.on('message', (topic) => heard.push(topic));
    await c.subscribeAsync([siteTopic(victim, 'cmd'), siteTopic(forger.id, 'cmd')], { qos: 1 });
    await t.server.ctx.broker.publish(siteTopic(victim, 'cmd'), Buffer.from('{}'), { qos: 1 });
    await t.server.ctx.broker.publish(siteTopic(forger.id, 'cmd'), Buffer.from('{}'), { qos: 1 });
    await waitFor("the forger's own command", () => heard.length > 0);
    expect(heard).toEqual([siteTopic(forger.id, 'cmd')]);
    await c.endAsync();
  });

  it('refuses a wrong password at Mosquitto', async () => {
    const err = await connectRaw(forger.id, 'not-the-secret').then(
      (c) => (c.end(true), undefined),
      (e: unknown) => e as { code?: number },
    );
    expect(err?.code).toBeOneOf([4, 5]);
  });

  it('applies a rotation when Mosquitto re-reads the regenerated files: it drops the live connection then, and refuses the old secret', async () => {
    const id = fleet.ids()[5]!;
    const agent = () => fleet.site(id).agent.stats;
    const rotated = await t.api('POST', `/api/sites/${id}/credential`);
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.credential.secret as string;
    // loanet cannot kick a client off a foreign broker: the rotation alone leaves the site connected.
    expect(t.server.ctx.broker.status().kind).toBe('external');
    const connectsBefore = agent().connects;
    expect(agent().connected).toBe(true);

    expect(await regenerate()).toMatch(/kill -HUP/);
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
    // Mosquitto (2.0) re-checks connected clients on reload: the agent is dropped, and its old secret refused.
    await waitFor('the agent refused with its old secret', () => agent().refusedConnects > 0, 10_000, 50);
    expect(agent().connects).toBe(connectsBefore);
    const old = await connectRaw(id, fleet.site(id).secret).then(
      (c) => (c.end(true), undefined),
      (e: unknown) => e as { code?: number },
    );
    expect(old?.code).toBeOneOf([4, 5]);

    // The technician puts the new secret in the agent's config and restarts it.
    await fleet.kill(id);
    fleet.site(id).secret = newSecret;
    await fleet.restore(id);
    await waitFor('back with the new secret', () => agent().connected, 10_000, 50);
    await waitFor('all operational again', async () => (await coverage()).operational === SITES, 20_000, 250);
  }, 40_000);

  it('rides out a Mosquitto restart: the server reconnects, subscribes again (the broker kept no session) and commands flow', async () => {
    await mosquitto?.stop();
    await waitFor('the server sees its link down', () => !t.server.ctx.broker.status().up, 10_000, 50);
    mosquitto = await startMosquitto(dir, { port });
    await waitFor('the server reconnected', () => t.server.ctx.broker.status().up, 40_000, 100);
    await waitFor('every agent back', () => fleet.stats().connected === SITES, 20_000, 100);
    const id = fleet.ids()[1]!;
    await waitFor(`${id} online again`, () => t.server.ctx.fleet.isOnline(id), 10_000, 50);
    const r = await t.api('POST', `/api/sites/${id}/commands`, { type: 'set_volume', params: { level: 33 }, waitMs: 5000 });
    expect(r.body).toMatchObject({ status: 'succeeded' });
  }, 90_000);

  it('stops start-up with one line naming LOANET_MQTT_USERNAME when the broker refuses the server', async () => {
    const config = loadConfig({
      LOANET_HTTP_PORT: '0',
      LOANET_HTTP_HOST: '127.0.0.1',
      LOANET_DATA_DIR: tempDir(),
      LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      LOANET_MQTT_PASSWORD: 'a-wrong-server-password',
    });
    const e = await startServer(config).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(StartupError);
    expect((e as Error).message).toMatch(/LOANET_MQTT_USERNAME=loanet_server/);
    expect((e as Error).message).not.toMatch(/\n/);
  });
});

describe('external broker start-up', () => {
  it('stops with one line naming LOANET_MQTT_URL when nothing listens there', async () => {
    const nobody = await freePort();
    const config = loadConfig({
      LOANET_HTTP_PORT: '0',
      LOANET_HTTP_HOST: '127.0.0.1',
      LOANET_DATA_DIR: tempDir(),
      LOANET_MQTT_URL: `mqtt://127.0.0.1:${nobody}`,
      LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
    });
    const e = await startServer(config).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(StartupError);
    expect((e as Error).message).toMatch(new RegExp(`^cannot reach the MQTT broker at LOANET_MQTT_URL=mqtt://127.0.0.1:${nobody} \\(ECONNREFUSED\\)`));
  });
});
