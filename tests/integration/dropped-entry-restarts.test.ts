/**
 * An occurrence a station missed while it was dead still gets its receipt
 * when the station is killed twice: once before the bulletin, and again
 * during its start-up clock hold, after the newer playlist (which no longer
 * names the missed occurrence: the server drops an entry 10 minutes after
 * its window) had replaced the saved one. The agent keeps the dropped
 * entry on disk (edge-agent/playout/dropped-entries.ts); before it did, the
 * third run reloaded the newer playlist, knew nothing of the occurrence, and
 * the server's line for it stayed without a receipt for ever.
 *
 * Real parts: a real Mosquitto (it keeps the retained playlist while the
 * server is down), the server in this process on it (LOANET_MQTT_URL), its
 * clock `now` pushed 11 minutes ahead so that it drops the ended entry
 * without the test waiting 10 minutes (clock requests are still answered on
 * the real clock), the agent as its own process (`edge-agent/main.ts`)
 * SIGKILLed twice, its media cache over HTTP, and the simulated amplifier
 * over the device protocol on TCP. The clock hold is the real one: with the
 * server down nothing answers the agent's clock requests, while Mosquitto
 * hands it the retained playlist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStateFile } from '../../edge-agent/state-file.ts';
import { siteTopic } from '../../protocol/index.ts';
import { startServer } from '../../server/server.ts';
import { holdsPlaylist, makeAgentSite, scheduleOnce, type AgentSite } from '../helpers/agent-site.ts';
import { uploadTone } from '../helpers/media.ts';
import { freePort, retainedFor, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { agentCli, stopAllProcesses, stopProcess } from '../helpers/process.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const canRun = haveTools('ffmpeg', 'mosquitto');
const COMMUNE = '02683';
const BULLETIN_S = 2;
const SERVER_USER = 'loanet_server';
const SERVER_PASSWORD = 'test-mqtt-server-password';
/** Past KEEP_ENDED_MS (server/schedule/distribution.ts): the server no longer lists an entry that ended this long ago. */
const SKEW_MS = 11 * 60_000;

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let t: TestServer;
let serverUp = false;
let mediaId: string;
/** Added to the real clock for the server's `now`. */
let skewMs = 0;

/** The server (again) on the test server's config, its `now` skewed by `skewMs`. */
async function bootServer(): Promise<void> {
  t.server = await startServer(t.config, { now: () => Date.now() + skewMs });
  serverUp = true;
  t.baseUrl = `http://127.0.0.1:${t.server.httpPort}`;
  const login = await t.api<{ token: string }>('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, { token: null });
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  t.token = login.body.token;
}

async function stopServer(): Promise<void> {
  serverUp = false;
  await t.server.stop();
}

/** The playlist retained for the site, as its agent is handed it on connecting. */
async function retainedPlaylist(site: { id: string; secret: string }): Promise<{ version: string; entries: Array<{ id: string }> } | undefined> {
  const payload = await retainedFor(port, site, siteTopic(site.id, 'playlist'));
  return payload && (JSON.parse(payload.toString('utf8')) as { version: string; entries: Array<{ id: string }> });
}

const journalHasReceipt = (s: AgentSite, entryId: string) => {
  try {
    return fs
      .readFileSync(path.join(s.stateDir, 'asrun.journal'), 'utf8')
      .split('\n')
      .some((l) => l.includes('"r":') && l.includes(entryId));
  } catch {
    return false;
  }
};

const savedVersion = async (s: AgentSite) =>
  ((await readStateFile(path.join(s.stateDir, 'playlist.json'), 'playlist', () => {})).value as { version?: string } | undefined)?.version;

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-dropped-restarts-');
  port = await freePort();
  writeMosquittoBootstrap(dir, { port, serverUser: SERVER_USER, serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
  mosquitto = await startMosquitto(dir, { port });
  t = await startTestServer({ LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD });
  // The same server again, with a clock the test can move.
  await t.server.stop();
  await bootServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin thử', seconds: BULLETIN_S });
}, 120_000);

afterAll(async () => {
  await stopAllProcesses();
  if (serverUp) await t?.server.stop();
  await mosquitto?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('an occurrence missed while the agent was dead, the agent killed twice', () => {
  it('killed before the bulletin, and again in its start-up clock hold after the newer playlist dropped it: the server still gets its receipt, skipped expired', async () => {
    const s = await makeAgentSite(t, dir, { name: 'Đài xã (chết hai lần)', area: COMMUNE, seed: 21 });
    await s.relay.down(); // the agent talks to Mosquitto, not to the server's port
    const config = JSON.parse(fs.readFileSync(s.config, 'utf8')) as { server: { mqttUrl: string }; credential: { secret: string } };
    config.server.mqttUrl = `mqtt://127.0.0.1:${port}`;
    fs.writeFileSync(s.config, JSON.stringify(config));
    const site = { id: s.id, secret: config.credential.secret };
    // The files an operator installs, as loanet serves them; then SIGHUP, and wait until the site may log in.
    for (const f of ['passwd', 'acl']) {
      const r = await fetch(`${t.baseUrl}/api/broker/mosquitto/${f}`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(r.status).toBe(200);
      fs.writeFileSync(path.join(dir, f), await r.text());
    }
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
    await waitForBrokerLogin(port, site, { what: 'mosquitto knows the site', timeoutMs: 20_000, everyMs: 200 });

    // First run: it holds the bulletin and is killed before it.
    let agent = agentCli('--config', s.config);
    await waitFor('agent online', async () => (await t.api('GET', `/api/sites/${s.id}`)).body.status?.connected === true, 30_000, 100);
    const at = Date.now() + 30_000;
    const itemId = await scheduleOnce(t, { title: 'Bản tin lỡ khi đài chết', mediaId, at, siteId: s.id });
    const entryId = `${itemId}@${at}`;
    const laterAt = Date.now() + 3600_000;
    await scheduleOnce(t, { title: 'Bản tin buổi sau', mediaId, at: laterAt, siteId: s.id });
    await holdsPlaylist(t, s.id, 2);
    expect(Date.now(), 'killed before the bulletin').toBeLessThan(at - 2000);
    await stopProcess(agent);

    // Its window passes while it is dead; the server drops the ended entry (its clock 11 minutes on).
    await waitFor('the bulletin window over', () => Date.now() > at + BULLETIN_S * 1000 + 1000, 60_000, 100);
    skewMs = SKEW_MS;
    await scheduleOnce(t, { title: 'Bản tin ngày mai', mediaId, at: laterAt + 3600_000, siteId: s.id }); // a change: the playlists are made again
    const newer = await waitFor(
      'the newer playlist, without the missed entry, retained on the broker',
      async () => {
        const p = await retainedPlaylist(site);
        return p && p.entries.length === 2 && !p.entries.some((e) => e.id === entryId) ? p : undefined;
      },
      30_000,
      200,
    );

    // Second run: the server is down, so nothing answers its clock requests (the hold), while Mosquitto hands it the newer playlist.
    await stopServer();
    agent = agentCli('--config', s.config);
    await waitFor('the newer playlist saved by the agent', async () => (await savedVersion(s)) === newer.version, 15_000, 20);
    await stopProcess(agent);
    expect(journalHasReceipt(s, entryId), 'killed within the clock hold, before deciding anything').toBe(false);

    // Third run, the server back: once its clock is verified the agent settles the occurrence it missed.
    await bootServer();
    agent = agentCli('--config', s.config);
    const receipts = await waitFor(
      'the receipt of the missed occurrence at the server',
      async () => {
        const l = (await t.server.ctx.asRun.list({ siteIds: [s.id], from: at - 60_000, to: at + 60_000 })).filter((r) => r.entryId === entryId);
        return l.length ? l : undefined;
      },
      45_000,
      200,
    );
    expect(receipts).toHaveLength(1);
    expect(receipts[0]).toMatchObject({ entryId, outcome: 'skipped', reason: 'expired' });
    const lines = (await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${s.id}`)).body.lines as Array<{ entryId: string }>;
    expect(lines.filter((l) => l.entryId === entryId)).toEqual([expect.objectContaining({ entryId, status: 'skipped', source: 'agent' })]);
    await waitFor(
      'the entry off the agent’s disk once its receipt is journaled',
      () => !fs.readFileSync(path.join(s.stateDir, 'playlist-dropped.json'), 'utf8').includes(entryId),
      10_000,
      100,
    );
    await stopProcess(agent);
  }, 240_000);
});
