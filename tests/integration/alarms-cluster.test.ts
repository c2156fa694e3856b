/**
 * Alarms and who is told of them on two servers: one PostgreSQL database, one
 * external Mosquitto, each server hearing every site. Only the holder of the
 * 'alarms' lease runs the alarm engine and the notifier (server/alarms/
 * service.ts, server/notifications/feature.ts); the other mirrors the store.
 *
 * - a site's fault raises ONE alarm, stored once, read the same on both;
 * - acknowledged through the standby, it is acknowledged on the holder too
 *   (its engine), in the store, and in the standby's reads;
 * - a notification rule tells the technician once (the standby tells nobody);
 * - the holder killed with SIGKILL while a rule's delay runs: the standby takes
 *   over and tells the technician once, after the delay, never twice;
 * - the first fault clears after the takeover: its alarm (the same one, not a
 *   second) is cleared once.
 *
 * Real parts, as tests/integration/cluster-servers.test.ts: Mosquitto on a
 * free port, a PostgreSQL database of this test's own, server A as its own
 * process (the one killed), server B in this process, sites as raw MQTT
 * clients publishing telemetry as their agent does.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, siteTopic } from '../../protocol/index.ts';
import { freePort, type RunningMosquitto, startMosquitto, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { LAO_CAI_2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';
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

const LEASE_TTL_MS = 3000;
const SERVER_PASSWORD = 'test-mqtt-server-password';
const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường
const PASSWORD = 'mat-khau-du-dai-123';
/** The rule's delay while the holder is killed: long enough to kill it and take over inside it. */
const DELAY_S = 12;

let dir: string;
let shared: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let dbUrl: string;
let db: pg.Client;
let a: ServerProcess;
let b: TestServer;

interface SimSite {
  id: string;
  secret: string;
  client?: MqttClient;
  seq: number;
  faulty: boolean;
}
const sites: SimSite[] = [];
let beat: NodeJS.Timeout | undefined;

function env(user: 'loanet_a' | 'loanet_b'): Record<string, string> {
  return {
    LOANET_DATABASE_URL: dbUrl,
    LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`,
    LOANET_MQTT_USERNAME: user,
    LOANET_MQTT_SERVER_USERS: 'loanet_a,loanet_b',
    LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
    LOANET_LEASE_TTL_MS: String(LEASE_TTL_MS),
    LOANET_SHARED_DIR: shared,
    LOANET_ALARM_HOLD_DOWN_S: '2',
    LOANET_ALARM_PENDING_S: '0',
  };
}

async function call(base: string, token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${base}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: parsed };
}

function publishTelemetry(s: SimSite): void {
  s.seq += 1;
  const amplifier = { on: true, volume: 70, fault: s.faulty ? ('overload' as const) : ('none' as const), temperatureC: 40 };
  s.client?.publish(siteTopic(s.id, 'telemetry'), JSON.stringify(healthyTelemetry(s.id, s.seq, { amplifier })), { qos: 1 });
}

async function connectSite(s: SimSite): Promise<void> {
  const state = (x: 'online' | 'offline') => JSON.stringify({ v: PROTOCOL_VERSION, siteId: s.id, state: x, at: Date.now() });
  s.client = await waitFor(
    `site ${s.id} connected to mosquitto`,
    () =>
      mqtt
        .connectAsync(`mqtt://127.0.0.1:${port}`, {
          clientId: s.id,
          username: s.id,
          password: s.secret,
          protocolVersion: 4,
          reconnectPeriod: 1000,
          connectTimeout: 2000,
          will: { topic: siteTopic(s.id, 'state'), payload: Buffer.from(state('offline')), qos: 1, retain: true },
        })
        .catch(() => undefined),
    15_000,
    200,
  );
  await s.client.publishAsync(siteTopic(s.id, 'state'), state('online'), { qos: 1, retain: true });
  publishTelemetry(s);
}

/** An alarm of `siteId` as stored: every row of its kind (one expected), and its history. */
async function storedAlarms(siteId: string): Promise<Array<{ id: string; state: string; ack_by: string | null; clear_cause: string | null }>> {
  return (await db.query("SELECT id, state, ack_by, clear_cause FROM alarms WHERE site_id = $1 AND kind = 'amplifier_fault' ORDER BY n", [siteId])).rows;
}

async function historyTypes(alarmId: string): Promise<string[]> {
  return (await db.query('SELECT type FROM alarm_history WHERE alarm_id = $1 ORDER BY id', [alarmId])).rows.map((r: { type: string }) => r.type);
}

async function told(alarmId: string): Promise<Array<{ user_id: number; cause: string }>> {
  const rows = (await db.query('SELECT user_id, cause FROM notifications WHERE alarm_id = $1 ORDER BY id', [alarmId])).rows as Array<{ user_id: string; cause: string }>;
  return rows.map((r) => ({ user_id: Number(r.user_id), cause: r.cause }));
}

async function tracked(alarmId: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM notification_tracks WHERE alarm_id = $1', [alarmId])).rowCount === 1;
}

describe.skipIf(!canRun)('alarms and notifications on two servers', () => {
  let techA: number;
  let techB: number;
  let ruleId: number;
  let rule: Record<string, unknown>;

  beforeAll(async () => {
    const base = testDatabaseUrl()!;
    database = await createTestDatabase(base, 'alarms');
    dbUrl = database.url;
    db = new pg.Client({ connectionString: dbUrl });
    await db.connect();

    dir = tempDir('loanet-alarms-cluster-');
    shared = tempDir('loanet-alarms-cluster-shared-');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_a', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 10_000 });
    mosquitto = await startMosquitto(dir, { port });

    a = await startServerProcess(tempDir('loanet-alarms-cluster-a-'), env('loanet_a'));
    const imported = await fetch(`${a.base}/api/areas/import?version=2025`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${a.token}` },
      body: fs.readFileSync(LAO_CAI_2025, 'utf8'),
    });
    expect(imported.status).toBe(200);
    for (const [username, area] of [
      ['ky-thuat-xa-a', COMMUNE_A],
      ['ky-thuat-xa-b', COMMUNE_B],
    ] as const) {
      const r = await call(a.base, a.token, 'POST', '/api/users', { username, password: PASSWORD, role: 'technician', area });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const users = (await db.query("SELECT id, username FROM users WHERE username LIKE 'ky-thuat-%'")).rows as Array<{ id: number; username: string }>;
    techA = Number(users.find((x) => x.username === 'ky-thuat-xa-a')!.id);
    techB = Number(users.find((x) => x.username === 'ky-thuat-xa-b')!.id);
    rule = {
      area: null,
      minSeverity: 'major',
      kinds: ['amplifier_fault'],
      delayS: 0,
      escalateAfterS: 3600,
      steps: [
        { roles: ['technician'], userIds: [] },
        { roles: ['admin'], userIds: [] },
      ],
      enabled: true,
    };
    const created = await call(a.base, a.token, 'POST', '/api/notification-rules', rule);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    ruleId = created.body.id as number;

    // Sites registered before the second server starts (it reads the registry at its start).
    for (const [name, area] of [
      ['Cụm loa thôn Bản Vền', COMMUNE_A],
      ['Cụm loa tổ 5', COMMUNE_B],
    ] as const) {
      const r = await call(a.base, a.token, 'POST', '/api/sites', { name, kind: 'cluster', area, monitorMic: false });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const { siteId, secret } = r.body.credential as { siteId: string; secret: string };
      sites.push({ id: siteId, secret, seq: 0, faulty: false });
    }
    for (const f of ['passwd', 'acl']) {
      const r = await fetch(`${a.base}/api/broker/mosquitto/${f}`, { headers: { authorization: `Bearer ${a.token}` } });
      fs.writeFileSync(path.join(dir, f), await r.text());
    }
    process.kill(mosquitto.child.pid!, 'SIGHUP');

    b = await startTestServer(env('loanet_b'));
    for (const s of sites) await connectSite(s);
    // Each site's telemetry every second, as its agent would: neither server ever finds it offline.
    beat = setInterval(() => {
      for (const s of sites) publishTelemetry(s);
    }, 1000);
    await waitFor('both servers hear both sites', () => sites.every((s) => b.server.ctx.fleet.verdict(s.id)?.condition === 'operational'), 30_000);
  }, 300_000);

  afterAll(async () => {
    if (beat) clearInterval(beat);
    for (const s of sites) await s.client?.endAsync().catch(() => undefined);
    await stopServerProcesses();
    await b?.stop();
    await db?.end();
    await mosquitto?.stop('SIGKILL');
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(shared, { recursive: true, force: true });
  }, 60_000);

  it('a fault raises one alarm, stored once; acknowledged through the standby it is acknowledged everywhere; the technician is told once', async () => {
    expect(b.server.ctx.cluster.owns('alarms')).toBe(false);
    // What the standby's consoles hear (its event stream listens here): the holder's notifications, read from the store.
    const heardOnB: Array<{ alarmId: string; userId: number; cause: string }> = [];
    const unlisten = b.server.ctx.notifications.service.listen((n) => heardOnB.push({ alarmId: n.alarmId, userId: n.userId, cause: n.cause }));
    const site = sites[0]!;
    site.faulty = true;
    publishTelemetry(site);
    const [alarm] = await waitFor('the alarm stored', async () => ((await storedAlarms(site.id)).some((r) => r.state === 'raised') ? storedAlarms(site.id) : undefined), 30_000);
    const id = alarm!.id;
    // The technician of commune A is told by the holder; the rule's one step, once.
    await waitFor('the technician told', async () => ((await told(id)).length > 0 ? true : undefined), 30_000);
    // A technician whose console's stream the standby answers hears the bell too.
    await waitFor('the standby tells its consoles', () => heardOnB.some((n) => n.alarmId === id) || undefined, 15_000);
    // The standby reads it as the holder stored it (its memory mirrors the store).
    await waitFor('the standby reads the alarm', async () => ((await call(b.baseUrl, b.token, 'GET', `/api/alarms/${id}`)).status === 200 ? true : undefined), 15_000);

    const asked = performance.now();
    const ack = await call(b.baseUrl, b.token, 'POST', `/api/alarms/${id}/acknowledge`, { note: 'đang đến' });
    console.log(`alarms-cluster: acknowledged through the standby in ${Math.round(performance.now() - asked)} ms (the holder takes actions every 250 ms)`);
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect(ack.body).toMatchObject({ id, state: 'acknowledged' });
    // The holder's engine has it (its reads of an open alarm come from memory), the store has it, the standby reads it.
    expect((await call(a.base, a.token, 'GET', `/api/alarms/${id}`)).body.alarm).toMatchObject({ id, state: 'acknowledged' });
    expect((await call(b.baseUrl, b.token, 'GET', `/api/alarms/${id}`)).body.alarm).toMatchObject({ id, state: 'acknowledged' });
    expect(await storedAlarms(site.id)).toEqual([{ id, state: 'acknowledged', ack_by: 'admin', clear_cause: null }]);
    expect(await historyTypes(id)).toEqual(['raised', 'acknowledged']);
    // A second acknowledgement through either server is refused as such.
    expect((await call(b.baseUrl, b.token, 'POST', `/api/alarms/${id}/acknowledge`, { note: 'lần hai' })).body).toMatchObject({ error: 'LOANET_ALARM_ALREADY_ACKNOWLEDGED' });
    // The notifier heard the acknowledgement (after the telling, in order): told once, by one server.
    await waitFor(
      'the escalation stopped',
      () => b.server.ctx.notifications.store.tracks().then((ts) => ts.find((t) => t.alarm.alarmId === id)?.acknowledged || undefined),
      15_000,
    );
    expect(await told(id)).toEqual([{ user_id: techA, cause: 'raised' }]);
    // Once: the standby's later looks do not tell it again.
    await b.server.ctx.notifications.service.mirror();
    unlisten();
    expect(heardOnB.filter((n) => n.alarmId === id)).toEqual([{ alarmId: id, userId: techA, cause: 'raised' }]);
    // The standby derived nothing of its own and wrote no alarm.
    expect(b.server.ctx.alarms.writeStats().writes).toBe(0);
    expect(b.server.ctx.alarms.isLeading).toBe(false);
  });

  it('killed mid-delay, the holder hands the alarms to the standby, which tells the technician once after the delay and clears the first alarm once', async () => {
    const updated = await call(a.base, a.token, 'PUT', `/api/notification-rules/${ruleId}`, { ...rule, delayS: DELAY_S });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    const site = sites[1]!;
    site.faulty = true;
    publishTelemetry(site);
    const [alarm] = await waitFor('the second alarm stored', async () => ((await storedAlarms(site.id)).length > 0 ? storedAlarms(site.id) : undefined), 30_000);
    const id = alarm!.id;
    await waitFor('its delay kept in the store', () => tracked(id) || undefined, 15_000);
    expect(await told(id)).toEqual([]);

    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    await waitFor('the standby runs the alarms', () => b.server.ctx.alarms.isLeading || undefined, 60_000, 20);
    console.log(
      `alarms-cluster: the standby ran the alarms ${((performance.now() - killedAt) / 1000).toFixed(2)} s after the holder was killed (lease TTL ${LEASE_TTL_MS / 1000} s)`,
    );

    await waitFor('the technician of commune B told after the delay', async () => ((await told(id)).length > 0 ? true : undefined), 60_000);
    // Still the same alarm: restored, not raised again.
    expect(await storedAlarms(site.id)).toMatchObject([{ id, state: 'raised' }]);

    // The first fault clears after the takeover: its alarm, the same one, is cleared once.
    const first = sites[0]!;
    first.faulty = false;
    publishTelemetry(first);
    const firstId = (await storedAlarms(first.id))[0]!.id;
    await waitFor('the first alarm cleared', async () => ((await storedAlarms(first.id))[0]?.state === 'cleared' ? true : undefined), 30_000);
    expect(await storedAlarms(first.id)).toEqual([{ id: firstId, state: 'cleared', ack_by: 'admin', clear_cause: 'condition_cleared' }]);
    expect(await historyTypes(firstId)).toEqual(['raised', 'acknowledged', 'cleared']);

    // The second clears too: its track closes after any telling (one queue), so a second telling would be stored by now.
    site.faulty = false;
    publishTelemetry(site);
    await waitFor(
      'the second alarm cleared and no longer followed',
      async () => ((await storedAlarms(site.id))[0]?.state === 'cleared' && !(await tracked(id)) ? true : undefined),
      30_000,
    );
    expect(await told(id)).toEqual([{ user_id: techB, cause: 'raised' }]);
    expect(await told(firstId)).toEqual([{ user_id: techA, cause: 'raised' }]);
    expect(await historyTypes(id)).toEqual(['raised', 'cleared']);
  });
});
