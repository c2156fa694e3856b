/**
 * Two servers, one province: two loanet servers on one PostgreSQL database
 * and one external Mosquitto, each hearing every site. The work that must
 * happen once runs on exactly one of them (the lease holder); the fleet's
 * connects, faults and condition changes are stored once, not once per
 * server; and when the holder is killed with SIGKILL the other takes every
 * lease over and goes on storing what the sites do, the dead holder's events
 * not written twice. The takeover time is printed (the failover benchmark
 * measures it; a test asserts no timing).
 *
 * Real parts: Mosquitto (Debian) on a free loopback port, PostgreSQL (a
 * database of this test's own, dropped at the end), one server as its own
 * process (the built server, the one killed), one in this
 * process (its leases read directly), and simulated agents over MQTT.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LEASE_NAMES } from '../../server/cluster/lease-policy.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { download, uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { LAO_CAI_2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { testDatabaseUrl } from '../helpers/store.ts';
import { createTestDatabase } from '../helpers/suite-database.ts';
import { type ServerProcess, startServerProcess, stopServerProcesses } from '../helpers/server-process.ts';
import { waitFor } from '../helpers/wait.ts';

const canRun =
  haveTools('mosquitto', 'ffmpeg') &&
  haveTools({
    name: 'PostgreSQL for two servers on one database',
    install: 'apt-get install postgresql, then set LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres',
    present: () => testDatabaseUrl() !== undefined || 'LOANET_TEST_DATABASE_URL is not set',
  });

const SITES = 6;
const HEARTBEAT_S = 2;
const LEASE_TTL_MS = 3000;
const SERVER_PASSWORD = 'test-mqtt-server-password';

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let dbUrl: string;
let db: pg.Client;
/** The server in its own process: the lease holder, killed with SIGKILL. */
let a: ServerProcess;
/** The server in this process: the standby that takes over. */
let b: TestServer;
let fleet: FleetRunner;
/** LOANET_SHARED_DIR of both servers: one folder, as an NFS mount would be. */
let shared: string;
/** A two-minute item in the shared library: a live stream of it stays on air through a test. */
let longItem: string;
/** The commune the simulated sites are in. */
let commune: string;

/** Each server under its own broker user (Mosquitto takes a client id from it); both listed, one password. */
function env(user: 'loanet_a' | 'loanet_b'): Record<string, string> {
  return {
    LOANET_DATABASE_URL: dbUrl,
    LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`,
    LOANET_MQTT_USERNAME: user,
    LOANET_MQTT_SERVER_USERS: 'loanet_a,loanet_b',
    LOANET_MQTT_PASSWORD: SERVER_PASSWORD,
    LOANET_HEARTBEAT_S: String(HEARTBEAT_S),
    LOANET_LEASE_TTL_MS: String(LEASE_TTL_MS),
    LOANET_HISTORY_S: '1',
    LOANET_SHARED_DIR: shared,
  };
}

/** The leases a server's /metrics says it holds. */
async function leasesHeldBy(base: string): Promise<string[]> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return [...text.matchAll(/^loanet_lease_held\{lease="([^"]+)"\} 1$/gm)].map((m) => m[1]!).sort();
}

/** A live stream of the long item on the first server (a child process), to the sites' commune. */
async function startLiveOnA(label: string): Promise<number> {
  const r = await fetch(`${a.base}/api/live/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}` },
    body: JSON.stringify({ source: { kind: 'media', mediaId: longItem }, areas: [commune], label }),
  });
  const body = (await r.json()) as { id: number };
  expect(r.status, JSON.stringify(body)).toBe(201);
  return body.id;
}

async function events(siteId: string): Promise<Array<{ type: string; condition: string | null }>> {
  return (await db.query('SELECT type, condition FROM site_events WHERE site_id = $1 ORDER BY id', [siteId])).rows;
}

/** A site's stored condition changes, oldest first. */
async function conditions(siteId: string): Promise<string[]> {
  return (await events(siteId)).filter((e) => e.type === 'condition').map((e) => e.condition!);
}

/**
 * Changes stored twice: a change is recorded only when the condition differs
 * from the last, so one writer never stores the same condition twice in a
 * row, and two writers would store each change twice.
 */
function repeated(changes: string[]): string[] {
  return changes.filter((c, i) => i > 0 && changes[i - 1] === c);
}

describe.skipIf(!canRun)('two servers on one PostgreSQL and one Mosquitto', () => {
  beforeAll(async () => {
    const base = testDatabaseUrl()!;
    database = await createTestDatabase(base, 'cluster');
    dbUrl = database.url;
    db = new pg.Client({ connectionString: dbUrl });
    await db.connect();

    dir = tempDir('loanet-cluster-');
    shared = tempDir('loanet-cluster-shared-');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_a', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 10_000 });
    mosquitto = await startMosquitto(dir, { port });

    a = await startServerProcess(tempDir('loanet-cluster-a-'), env('loanet_a'));
    const api = new LoanetClient(a.base, a.token);
    const imported = await fetch(`${a.base}/api/areas/import?version=2025`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${a.token}` },
      body: fs.readFileSync(LAO_CAI_2025, 'utf8'),
    });
    expect(imported.status).toBe(200);
    fleet = new FleetRunner({ api, mqtt: { host: '127.0.0.1', port }, sites: SITES, heartbeatS: HEARTBEAT_S, credentialsFile: null });
    const prepared = await fleet.prepare();
    commune = prepared.find((p) => p.plan.kind === 'station')!.plan.area;
    // The broker's files as the first server serves them (both servers' users); Mosquitto re-reads them on SIGHUP.
    for (const f of ['passwd', 'acl']) {
      const r = await fetch(`${a.base}/api/broker/mosquitto/${f}`, { headers: { authorization: `Bearer ${a.token}` } });
      fs.writeFileSync(path.join(dir, f), await r.text());
    }
    process.kill(mosquitto.child.pid!, 'SIGHUP');
    const first = prepared[0]!;
    await waitForBrokerLogin(port, { id: first.plan.id, secret: first.secret }, { what: 'mosquitto knows the sites' });

    // The second server, started once the sites exist (it reads the registry at start).
    b = await startTestServer(env('loanet_b'));
    await fleet.start(prepared);
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
    await stopServerProcesses();
    await b?.stop();
    await db?.end();
    await mosquitto?.stop('SIGKILL');
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(shared, { recursive: true, force: true });
  }, 60_000);

  it('the first server does the work that must happen once; the second stands by, hearing every site without storing what it derives', async () => {
    expect(await leasesHeldBy(a.base)).toEqual([...LEASE_NAMES].sort());
    expect(b.server.ctx.cluster.keeper.owned()).toEqual([]);
    expect(await leasesHeldBy(b.baseUrl)).toEqual([]);
    const ids = fleet.ids();
    // Both servers hear every site come up and judge it; the first stores each change once.
    await waitFor('the standby hears every site', () => ids.every((id) => b.server.ctx.fleet.isOnline(id)), 60_000);
    // One site at a time: a pg client runs one query at a time, and queueing several on it is deprecated (pg 9 refuses it).
    await waitFor(
      'every site stored as the standby judges it',
      async () => {
        for (const id of ids) if ((await conditions(id)).at(-1) !== b.server.ctx.fleet.verdict(id)?.condition) return false;
        return true;
      },
      60_000,
    );
    for (const id of ids) expect(repeated(await conditions(id)), id).toEqual([]);
    // The standby derived the same changes and wrote none of them.
    expect(b.server.ctx.fleet.stats()).toMatchObject({ eventRows: 0, statusRows: 0 });
  });

  it('an item uploaded through one server is served by the other, from the shared folder', async () => {
    const id = await uploadTone(b, dir, { title: 'Bản tin chung', seconds: 1 });
    const fromB = await download(b, `/api/media/${id}/audio`);
    expect(fromB.status).toBe(200);
    const fromA = await fetch(`${a.base}/api/media/${id}/audio`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(fromA.status).toBe(200);
    expect(Buffer.from(await fromA.arrayBuffer()).equals(fromB.data)).toBe(true);
    // The Web Push key too: a phone subscribed through one server is pushed to by either.
    const keyOf = async (base: string, token: string) =>
      (await (await fetch(`${base}/api/notifications/push/key`, { headers: { authorization: `Bearer ${token}` } })).json()) as unknown;
    expect(await keyOf(a.base, a.token)).toEqual(await keyOf(b.baseUrl, b.token));
  });

  it('a live stream run by one server is listed by the other as on air, and stopped through it', async () => {
    longItem = await uploadTone(b, dir, { title: 'Chương trình dài', seconds: 120 });
    const id = await startLiveOnA('Trực tiếp từ máy chủ A');
    const onB = await b.api('GET', '/api/live/streams?state=live');
    expect(onB.status).toBe(200);
    expect(onB.body.streams.map((x: { id: number }) => x.id)).toContain(id);
    const stopped = await b.api('POST', `/api/live/streams/${id}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    expect(stopped.body).toMatchObject({ id, state: 'ended', endReason: 'operator', endedBy: 'admin' });
    const row = (await db.query('SELECT end_reason, ended_by_name, owner FROM live_streams WHERE id = $1', [id])).rows[0];
    // Ended by the server that ran it (the owner), as asked through the other.
    expect(row).toMatchObject({ end_reason: 'operator', ended_by_name: 'admin' });
    expect(row.owner).not.toBe(b.server.ctx.cluster.instance);
  });

  it('killed with SIGKILL, the holder hands every lease to the other, which stores what happens next once', async () => {
    // A live stream on the server about to die: nobody sends its frames after, so the other closes it.
    const orphan = await startLiveOnA('Trực tiếp mồ côi');
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    await waitFor('the second server holds every lease', () => b.server.ctx.cluster.keeper.owned().length === LEASE_NAMES.length, 60_000, 20);
    const takeoverS = (performance.now() - killedAt) / 1000;
    console.log(`cluster-servers: the standby held every lease ${takeoverS.toFixed(2)} s after the holder was killed (lease TTL ${LEASE_TTL_MS / 1000} s)`);
    expect(await leasesHeldBy(b.baseUrl)).toEqual([...LEASE_NAMES].sort());

    // A site dies after the takeover: its disconnection and offline condition are stored, once.
    const victim = fleet.ids()[0]!;
    const before = await events(victim);
    await fleet.kill(victim);
    await waitFor('the offline condition stored', async () => (await events(victim)).some((e) => e.type === 'condition' && e.condition === 'offline'), 60_000);
    // And one more event after it, so a second copy of the offline one would have been written by now.
    await b.server.ctx.fleet.flush();
    await b.server.ctx.fleet.settled();
    const after = await events(victim);
    expect(after.slice(0, before.length)).toEqual(before);
    const added = after.slice(before.length);
    expect(added.filter((e) => e.type === 'condition' && e.condition === 'offline')).toHaveLength(1);
    expect(added.filter((e) => e.type === 'disconnected')).toHaveLength(1);
    // No change the dead writer had stored was stored again by the new one, for any site.
    for (const id of fleet.ids()) expect(repeated(await conditions(id)), id).toEqual([]);
    // The dead server's live stream is closed by the survivor, its sites told to stop.
    await waitFor(
      'the orphaned stream closed',
      async () => (await db.query('SELECT end_reason FROM live_streams WHERE id = $1', [orphan])).rows[0]?.end_reason === 'server_lost',
      30_000,
    );
    // Its coverage history snapshots go on.
    const since = Date.now();
    await waitFor('a coverage snapshot by the new holder', async () => (await db.query('SELECT 1 FROM coverage_history WHERE at > $1 LIMIT 1', [since])).rowCount === 1, 30_000);
  });
});
