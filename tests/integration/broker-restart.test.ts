/**
 * A crashed external broker loses what was retained on it, and the server
 * puts it back. A real Mosquitto with persistence on (autosave far away, so
 * nothing is on disk yet) carries N sites' retained playlists and an active
 * alert's retained start; it is killed with SIGKILL and started again on the
 * same port:
 * - with an empty persistence: the server reconnects with a new session and
 *   publishes every playlist and the alert again;
 * - with an older snapshot (written by SIGUSR1 before a playlist change): the
 *   session is back, but the server's retained canary is older than the last
 *   one it had acknowledged, so it publishes everything again and the newer
 *   playlists come back, not the snapshot's.
 * A fresh subscriber counts what the broker holds; a site connecting after
 * the restart gets its playlist and the alert from the broker, and the
 * retained start of the live stream still on air on the commune's audio
 * channel.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETAINED_CANARY_TOPIC, siteTopic, type AlertStart, type AudioStreamStart, type PlaylistMessage, type RetainedCanary } from '../../protocol/index.ts';
import { mosquittoPasswordHash } from '../../server/fleet/mosquitto-files.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('mosquitto', 'ffmpeg');
const SERVER_PASSWORD = 'test-mqtt-server-password';
const OBSERVER = { user: 'observer', password: 'observer-password' };
const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 20;

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let t: TestServer;
const sites: Array<{ siteId: string; secret: string }> = [];
const clients: MqttClient[] = [];
let mediaId: string;
/** Long enough to stay on air across a broker crash and the server's reconnect. */
let liveMediaId: string;

/** What a fresh subscriber gets from the broker now: retained playlists by site, retained alert starts by topic, the server's canary. */
async function retainedNow(): Promise<{
  playlists: Map<string, PlaylistMessage>;
  alerts: Map<string, AlertStart>;
  liveStarts: Map<string, AudioStreamStart>;
  canary?: RetainedCanary;
}> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: `obs-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    username: OBSERVER.user,
    password: OBSERVER.password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    clean: true,
  });
  const playlists = new Map<string, PlaylistMessage>();
  const alerts = new Map<string, AlertStart>();
  const liveStarts = new Map<string, AudioStreamStart>();
  let canary: RetainedCanary | undefined;
  c.on('message', (topic, payload, packet) => {
    if (!packet.retain || payload.length === 0) return;
    const m = JSON.parse(payload.toString()) as { type?: string; siteId?: string };
    if (topic === RETAINED_CANARY_TOPIC) canary = m as RetainedCanary;
    if (topic.endsWith('/playlist')) playlists.set(m.siteId!, m as PlaylistMessage);
    else if (topic.endsWith('/control') && m.type === 'alert_start') alerts.set(topic, m as AlertStart);
    // The audio channel also carries frames (binary, never retained): only its retained JSON start counts.
    else if (topic.startsWith('la/') && m.type === 'stream_start') liveStarts.set(topic, m as AudioStreamStart);
  });
  try {
    await new Promise<void>((resolve, reject) => (c.once('connect', () => resolve()), c.once('error', reject), c.once('close', () => reject(new Error('closed')))));
    await c.subscribeAsync(['loanet/v1/sites/+/playlist', 'loanet/v1/areas/+/control', 'la/+', RETAINED_CANARY_TOPIC], { qos: 0 });
    // The broker sends the retained messages of a SUBSCRIBE before it answers the next one.
    await c.subscribeAsync('loanet/v1/test/sync', { qos: 0 });
  } catch {
    /* the broker is not up (yet): nothing retained seen */
  } finally {
    c.end(true);
  }
  return { playlists, alerts, liveStarts, ...(canary ? { canary } : {}) };
}

const versions = (m: Map<string, PlaylistMessage>) => Object.fromEntries([...m].map(([k, v]) => [k, v.version]).sort());

async function scheduleItem(title: string, at: number): Promise<string> {
  const item = await t.api('POST', '/api/schedule/items', { title, mediaId, targets: { sites: sites.map((s) => s.siteId) }, start: { at } });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  const approved = await t.api('POST', `/api/schedule/items/${item.body.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return item.body.id as string;
}

describe.skipIf(!canRun)('an external Mosquitto killed with SIGKILL', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-broker-restart-');
    port = await freePort();
    const conf = writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_server', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
    // Persistence on, as in production, but no autosave during the test: what a crash finds on disk is only what the test put there.
    const text = fs.readFileSync(conf, 'utf8').replace('persistence false', `persistence true\npersistence_location ${dir}/\nautosave_interval 86400`);
    fs.writeFileSync(conf, text);
    mosquitto = await startMosquitto(dir, { port });
    t = await startTestServer({ LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD });
    await importLaoCai2025(t);
    for (let i = 0; i < SITES; i++) {
      const r = await t.api('POST', '/api/sites', { name: `Cụm loa ${i + 1}`, kind: 'cluster', area: COMMUNE });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      sites.push(r.body.credential);
    }
    // The files an operator installs, as loanet serves them, plus a read-only observer for the test; then SIGHUP.
    fs.writeFileSync(
      path.join(dir, 'passwd'),
      `${(await t.api('GET', '/api/broker/mosquitto/passwd')).body as string}${OBSERVER.user}:${mosquittoPasswordHash(OBSERVER.password)}\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'acl'),
      `${(await t.api('GET', '/api/broker/mosquitto/acl')).body as string}\nuser ${OBSERVER.user}\ntopic read loanet/v1/#\ntopic read la/#\n`,
    );
    process.kill(mosquitto.child.pid!, 'SIGHUP');
    await waitForBrokerLogin(port, { id: sites[0]!.siteId, secret: sites[0]!.secret }, { what: 'mosquitto knows the sites', timeoutMs: 10_000 });

    const wav = path.join(dir, 'b.wav');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', '-ac', '1', wav);
    const media = await uploadFile(t, wav, { title: 'Bản tin' });
    expect(media.status).toBe(201);
    mediaId = media.body.id;
    const mp3 = path.join(dir, 'live.mp3');
    // Longer than the test using it may run (180 s), so the stream cannot end by itself while it is on air; no longer,
    // since ingesting it is most of this set-up's time (ten minutes of audio once took minutes under load).
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=300:duration=240', '-ac', '1', '-b:a', '32k', mp3);
    const long = await uploadFile(t, mp3, { title: 'Chương trình dài' });
    expect(long.status, JSON.stringify(long.body)).toBe(201);
    liveMediaId = long.body.id;
    // A bound on a hang only: under the stress run's load the programme's ingest alone took minutes.
  }, 420_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await t?.stop();
    await mosquitto?.stop('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('comes back with empty persistence: every retained playlist and the active alert are published again, and a site connecting after gets them', async () => {
    await scheduleItem('Bản tin sáng', Date.now() + 3_600_000);
    const alert = await t.api('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId },
      attention: 'chime',
      repeats: 1,
      validForMinutes: 30,
      title: 'Lũ quét: sơ tán ngay',
    });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    const stream = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: liveMediaId }, areas: [COMMUNE], label: 'Chương trình trực tiếp' });
    expect(stream.status, JSON.stringify(stream.body)).toBe(201);
    const before = await waitFor(
      'every playlist, the alert and the live start retained',
      async () => {
        const r = await retainedNow();
        return r.playlists.size === SITES && r.alerts.size === 1 && r.liveStarts.size === 1 ? r : undefined;
      },
      30_000,
      200,
    );
    expect([...before.liveStarts.values()][0]!.streamId).toBe(stream.body.id);

    await mosquitto!.stop('SIGKILL');
    // Nothing was flushed: the broker comes back with no retained messages and no sessions.
    expect(fs.existsSync(path.join(dir, 'mosquitto.db'))).toBe(false);
    mosquitto = await startMosquitto(dir, { port });

    // The deadline only bounds a hang: the server's reconnect back-off is at most 30 s, the republish a few seconds.
    const after = await waitFor(
      'every playlist, the alert and the live start retained again',
      async () => {
        const r = await retainedNow();
        return r.playlists.size === SITES && r.alerts.size === 1 && r.liveStarts.size === 1 ? r : undefined;
      },
      90_000,
      250,
    );
    // The stream still on air holds its area's slot again (the periodic announce is not retained).
    expect([...after.liveStarts]).toEqual([[[...before.liveStarts.keys()][0], expect.objectContaining({ streamId: stream.body.id })]]);
    // The same versions and the same alert revision: an agent that already holds them ignores them.
    expect(versions(after.playlists)).toEqual(versions(before.playlists));
    const [topic, start] = [...after.alerts][0]!;
    expect(start).toMatchObject({ alertId: alert.body.id, revision: before.alerts.get(topic)!.revision });
    expect(t.server.ctx.broker.status().up).toBe(true);

    // A site connecting now gets both from the broker with its subscriptions.
    const site = sites[SITES - 1]!;
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: site.siteId,
      username: site.siteId,
      password: site.secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
      clean: true,
    });
    clients.push(c);
    const got: { playlist?: PlaylistMessage; alert?: AlertStart } = {};
    c.on('message', (tp, payload) => {
      if (payload.length === 0) return;
      if (tp === siteTopic(site.siteId, 'playlist')) got.playlist = JSON.parse(payload.toString()) as PlaylistMessage;
      else if (tp === topic) {
        // The control channel also carries live streams' periodic re-announcements: only the alert counts here.
        const m = JSON.parse(payload.toString()) as { type?: string };
        if (m.type === 'alert_start') got.alert = m as AlertStart;
      }
    });
    await new Promise<void>((resolve, reject) => (c.once('connect', () => resolve()), c.once('error', reject)));
    await c.subscribeAsync([siteTopic(site.siteId, 'playlist'), topic], { qos: 1 });
    await waitFor('the site has its playlist and the alert', () => got.playlist && got.alert);
    expect(got.playlist!.version).toBe(before.playlists.get(site.siteId)!.version);
    expect(got.alert!.alertId).toBe(alert.body.id);
    const stopped = await t.api('POST', `/api/live/streams/${stream.body.id}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    await waitFor('the live start cleared', async () => (await retainedNow()).liveStarts.size === 0, 30_000, 200);
  }, 180_000);

  it('comes back with an older snapshot: the canary is older than the last acknowledged one, so the newer playlists are published again', async () => {
    const first = await waitFor(
      'playlists retained',
      async () => {
        const r = await retainedNow();
        return r.playlists.size === SITES ? r : undefined;
      },
      30_000,
      200,
    );
    // The broker saves its state now (SIGUSR1), like an autosave; then the playlists change.
    const db = path.join(dir, 'mosquitto.db');
    fs.rmSync(db, { force: true });
    process.kill(mosquitto!.child.pid!, 'SIGUSR1');
    await waitFor('the snapshot written', () => fs.existsSync(db) && fs.statSync(db).size > 0, 10_000);
    const snapshotCanary = (await retainedNow()).canary;
    expect(snapshotCanary).toBeDefined();
    await scheduleItem('Bản tin chiều', Date.now() + 7_200_000);
    // Killed once the canary after the new playlists is retained too: the snapshot's canary is then older than the last acknowledged one.
    const changed = await waitFor(
      'the new playlists and a newer canary retained',
      async () => {
        const r = await retainedNow();
        const newer = r.playlists.size === SITES && [...r.playlists].every(([id, p]) => p.version !== first.playlists.get(id)!.version);
        return newer && r.canary && r.canary.seq > snapshotCanary!.seq ? r : undefined;
      },
      30_000,
      200,
    );

    await mosquitto!.stop('SIGKILL');
    mosquitto = await startMosquitto(dir, { port });
    await waitFor(
      "the newer playlists retained again, not the snapshot's",
      async () => {
        const r = await retainedNow();
        return r.playlists.size === SITES && JSON.stringify(versions(r.playlists)) === JSON.stringify(versions(changed.playlists)) && r.alerts.size === 1;
      },
      90_000,
      250,
    );
  }, 180_000);
});
