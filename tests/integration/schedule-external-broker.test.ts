/**
 * Playlists and receipts through an external broker (LOANET_MQTT_URL): a real
 * Mosquitto configured with the files loanet serves, the server as its
 * client. The retained playlist is kept by Mosquitto (a site connecting after
 * approval gets it), and a receipt sent through Mosquitto lands in the
 * as-run log once.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteTopic, type AsRunEvent, type PlaylistMessage } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { freePort, type RunningMosquitto, startMosquitto, waitForBrokerLogin, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('mosquitto', 'ffmpeg');
const SERVER_PASSWORD = 'test-mqtt-server-password';

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let t: TestServer;
let site: { siteId: string; secret: string };
let client: MqttClient | undefined;

describe.skipIf(!canRun)('schedule over an external Mosquitto', () => {
  beforeAll(async () => {
    dir = tempDir('loanet-schedule-mosquitto-');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_server', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
    mosquitto = await startMosquitto(dir, { port });
    t = await startTestServer({ LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD });
    await importLaoCai2025(t);
    site = (await t.api('POST', '/api/sites', { name: 'Cụm loa Bát Xát', kind: 'cluster', area: '02683' })).body.credential;
    // The files an operator would install, as loanet serves them; then SIGHUP.
    for (const f of ['passwd', 'acl']) fs.writeFileSync(path.join(dir, f), (await t.api('GET', `/api/broker/mosquitto/${f}`)).body as string);
    process.kill(mosquitto.child.pid!, 'SIGHUP');
    await waitForBrokerLogin(port, { id: site.siteId, secret: site.secret }, { what: 'mosquitto knows the site', timeoutMs: 10_000 });
  }, 60_000);

  afterAll(async () => {
    client?.end(true);
    await t?.stop();
    await mosquitto?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an approved item reaches a site connecting afterwards, retained by Mosquitto; its receipt is stored once', async () => {
    const wav = path.join(dir, 'b.wav');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=500:duration=2', '-ac', '1', wav);
    const media = await uploadFile(t, wav, { title: 'Bản tin' });
    expect(media.status).toBe(201);
    const at = Date.now() + 3_600_000;
    const item = await t.api('POST', '/api/schedule/items', { title: 'Thông báo qua Mosquitto', mediaId: media.body.id, targets: { sites: [site.siteId] }, start: { at } });
    expect(item.status, JSON.stringify(item.body)).toBe(201);
    const approved = await t.api('POST', `/api/schedule/items/${item.body.id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body.distribution.failed).toBe(0);

    client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: site.siteId, username: site.siteId, password: site.secret, protocolVersion: 4, reconnectPeriod: 0 });
    const got: PlaylistMessage[] = [];
    client.on('message', (topic, payload) => topic === siteTopic(site.siteId, 'playlist') && payload.length > 0 && got.push(JSON.parse(payload.toString()) as PlaylistMessage));
    await new Promise<void>((resolve, reject) => (client!.once('connect', () => resolve()), client!.once('error', reject)));
    await client.subscribeAsync(siteTopic(site.siteId, 'playlist'), { qos: 1 });
    const pl = await waitFor('the retained playlist from Mosquitto', () => got.find((p) => p.entries.some((e) => e.itemId === item.body.id)));
    const entry = pl.entries[0]!;
    expect(entry).toMatchObject({ itemId: item.body.id, startAt: at, kind: 'bulletin', title: 'Thông báo qua Mosquitto' });

    const receipt: AsRunEvent = {
      v: 1,
      siteId: site.siteId,
      at: Date.now(),
      type: 'as_run',
      entryId: entry.id,
      kind: 'bulletin',
      itemId: entry.itemId,
      mediaId: entry.mediaId,
      scheduledAt: entry.startAt,
      outcome: 'skipped',
      reason: 'device_off',
    };
    await client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(receipt), { qos: 1 });
    await client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(receipt), { qos: 1 });
    await waitFor('both copies handled', () => t.server.ctx.asRun.stats().stored + t.server.ctx.asRun.stats().duplicates === 2);
    const log = await t.api('GET', `/api/as-run?area=02683&from=${at - 60_000}&to=${at + 60_000}`);
    expect(log.body.lines.map((l: { siteId: string; status: string; reason: string }) => [l.siteId, l.status, l.reason])).toEqual([[site.siteId, 'skipped', 'device_off']]);
  }, 30_000);
});
