/**
 * A server that dies under a live stream, with an external Mosquitto: the
 * broker outlives the server and keeps the stream's retained stream_start on
 * the area's audio channel, and its sites stay connected, waiting on a stream
 * nobody sends. The next server on the same data folder finds the stream
 * still recorded on air, closes it as server_restart, publishes its
 * stream_stop and clears the retained start: the agent stops and switches
 * its amplifier off, and a site connecting afterwards gets no stale start.
 *
 * Real parts: Mosquitto configured with the files loanet serves; the first
 * server a child process (the built server) killed with
 * SIGKILL, so nothing of its clean stop runs; the second in this process on
 * the same data folder; a real agent (the fleet runner's, playout engine on
 * a simulated amplifier) connected to Mosquitto throughout; a WebSocket voice.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import type { EngineEvent } from '../../edge-agent/playout/engine.ts';
import { LAO_CAI_2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { defaultTestDialect } from '../helpers/store.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { listenAsSite, sinePcm, type Heard } from '../helpers/live.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { type ServerProcess, startServerProcess, stopServerProcesses } from '../helpers/server-process.ts';

const haveMosquitto = haveTools('mosquitto');

const SERVER_PASSWORD = 'test-mqtt-server-password';
const BAT_XAT = '2025.02683';
const AUDIO_TOPIC = `la/${BAT_XAT}`;

let dir: string;
let dataDir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let child: ChildProcess | undefined;
let t: TestServer | undefined;
let fleet: FleetRunner | undefined;
let voice: WebSocket | undefined;
const heard: Heard[] = [];

/** The first server, as `npm start` runs it, on the external broker: answering, its admin logged in (server-process.ts). */
async function startChildServer(): Promise<ServerProcess> {
  return startServerProcess(
    dataDir,
    { LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD },
    { name: 'the first server', onSpawn: (sp) => (child = sp.child) },
  );
}

const mqttUrl = () => `mqtt://127.0.0.1:${port}`;

describe.skipIf(!haveMosquitto)('a live stream across a server crash, with an external Mosquitto', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-live-restart-');
    dataDir = path.join(dir, 'data');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_server', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
    mosquitto = await startMosquitto(dir, { port });
  }, 30_000);

  afterAll(async () => {
    voice?.terminate();
    for (const h of heard) await h.close().catch(() => {});
    await fleet?.stop().catch(() => {});
    await t?.stop().catch(() => {});
    await stopServerProcesses();
    await mosquitto?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the next server ends the stream (server_restart; on PostgreSQL server_lost), clears its retained start, and the agent goes silent', async () => {
    const first = await startChildServer();
    await first.api.request('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'), 'text/csv');
    const listener = (await first.api.post<{ credential: { siteId: string; secret: string } }>('/api/sites', { name: 'Cụm loa thôn Nghe', kind: 'cluster', area: '02683' }))
      .credential;
    fleet = new FleetRunner({
      api: first.api,
      mqtt: { host: '127.0.0.1', port },
      sites: 1,
      heartbeatS: 2,
      area: '02683',
      credentialsFile: null,
      playout: { tailMs: 1000 },
    });
    const prepared = await fleet.prepare();
    // The files an operator installs, as loanet serves them; then SIGHUP.
    for (const f of ['passwd', 'acl']) fs.writeFileSync(path.join(dir, f), await first.api.get<string>(`/api/broker/mosquitto/${f}`));
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
    await waitForBrokerLogin(port, { id: listener.siteId, secret: listener.secret }, { what: 'mosquitto knows the sites', timeoutMs: 10_000 });
    await fleet.start(prepared);
    const siteId = fleet.ids()[0]!;
    await waitFor('the agent connected', () => fleet!.stats().connected === 1, 30_000, 100);
    const events: EngineEvent[] = [];
    fleet.site(siteId).agent.playout!.engine.on((e) => events.push(e));

    // On air: a voice from the console, which the agent plays.
    voice = new WebSocket(`${first.base.replace('http', 'ws')}/api/live/voice?areas=02683`, { headers: { authorization: `Bearer ${first.token}` } });
    voice.on('error', () => {});
    const msgs: Array<{ type: string; stream?: { id: number } }> = [];
    voice.on('message', (d, binary) => !binary && msgs.push(JSON.parse(d.toString())));
    const id = (await waitFor('started', () => msgs.find((m) => m.type === 'started'))).stream!.id;
    let n = 0;
    const speaking = setInterval(() => voice!.readyState === voice!.OPEN && voice!.send(sinePcm(440, 20, n++ * 960)), 20);
    try {
      await waitFor('the agent plays the stream', () => fleet!.site(siteId).agent.playout!.engine.onAir === `live:${id}`, 20_000, 50);
      await waitFor('its amplifier on', () => fleet!.site(siteId).device.status().amp?.on, 20_000, 50);
    } finally {
      clearInterval(speaking);
    }

    // The server dies: nothing of its clean stop runs. Mosquitto still holds the start for sites that connect.
    const exited = new Promise((r) => child!.once('exit', r));
    child!.kill('SIGKILL');
    await exited;
    const watcher = await listenAsSite(mqttUrl(), listener, [BAT_XAT]);
    heard.push(watcher);
    const stale = await waitFor('the retained start, still there', () => watcher.control.find((c) => c.retained && c.channel === 'audio'));
    expect(stale.msg).toMatchObject({ type: 'stream_start', streamId: id });
    expect(events.some((e) => (e.type === 'ended' || e.type === 'failed') && e.id === `live:${id}`)).toBe(false);

    // The next server, same data folder, same broker. On SQLite it is the only server and closes at start what the store
    // still has on air (server_restart); on PostgreSQL another server may be running the stream, so it is closed once
    // its server stopped vouching for it (server_lost, server/live/across-servers.ts).
    t = await startTestServer({ LOANET_MQTT_URL: mqttUrl(), LOANET_MQTT_PASSWORD: SERVER_PASSWORD }, dataDir);
    const reason = defaultTestDialect() === 'postgres' ? 'server_lost' : 'server_restart';
    const view = await waitFor(`the stream ended as ${reason}`, async () => {
      const v = await t!.api('GET', `/api/live/streams/${id}`);
      return v.status === 200 && v.body.state === 'ended' ? v : undefined;
    });
    expect(view.body).toMatchObject({ id, state: 'ended', endReason: reason, startedBy: 'admin', areas: [BAT_XAT], source: { kind: 'browser' } });
    expect(view.body.endedAt).toBeGreaterThan(view.body.startedAt);
    expect((await t.api('GET', '/api/live/streams?state=live')).body.streams).toEqual([]);

    // The sites that stayed connected are told, and the retained slot is emptied.
    const stop = await waitFor('stream_stop on the control channel', () => watcher.control.find((c) => c.msg.type === 'stream_stop' && c.msg.streamId === id));
    expect(stop.msg).toMatchObject({ reason: 'error' });
    expect((stop.msg as { detail?: string }).detail).toMatch(new RegExp(`^${reason}`));
    await waitFor('the retained start cleared', () => watcher.cleared.includes(AUDIO_TOPIC));

    // The agent stops the stream because it was told to (not by waiting out its silence limit), and its amplifier goes off.
    const ended = await waitFor('the agent ended the stream', () => events.find((e) => e.type === 'failed' && e.id === `live:${id}`), 20_000, 50);
    expect(ended).toMatchObject({ reason: 'cancelled' });
    expect((ended as { detail: string }).detail).toMatch(/stream stopped/);
    await waitFor('the amplifier off', () => !fleet!.site(siteId).device.status().amp?.on, 20_000, 50);
    expect(fleet.site(siteId).agent.playout!.engine.onAir).not.toBe(`live:${id}`);

    // Its last report on the stream reaches the new server and joins the stream's record.
    const withReport = await waitFor(
      "the agent's final report recorded",
      async () => {
        const v = (await t!.api('GET', `/api/live/streams/${id}`)).body;
        return v.siteReports.find((r: { siteId: string; final: boolean }) => r.siteId === siteId && r.final) ? v : null;
      },
      20_000,
      200,
    );
    expect(withReport.sites.sites).toBeGreaterThanOrEqual(1);

    // A site connecting now gets no stale start.
    // It returns once everything retained for it has arrived (a fence the server retains on its time topic, subscribed last).
    const fresh = await listenAsSite(mqttUrl(), listener, [BAT_XAT], (topic, payload) => t!.server.ctx.broker.publish(topic, payload, { qos: 1, retain: true }));
    heard.push(fresh);
    expect(fresh.control.filter((c) => c.retained)).toEqual([]);

    const audit = await t.api('GET', '/api/audit?action=live.');
    expect(
      audit.body.entries
        .filter((e: { target: string }) => e.target === String(id))
        .map((e: { action: string }) => e.action)
        .sort(),
    ).toEqual(['live.start', 'live.stop']);
  }, 180_000);
});
