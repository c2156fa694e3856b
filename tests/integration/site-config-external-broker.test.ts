/**
 * The site configuration on an external broker (issue 16, item 4): a real
 * Mosquitto (no persistence), the server in external-broker mode, and a plain
 * MQTT client logged in as the site. Mosquitto restarted loses every retained
 * message; the server notices (retained canary) and publishes every site's
 * configuration again, so a board that connects afterwards still gets it.
 * Only the lost-retained path republishes an unchanged configuration (the
 * periodic pass publishes only what changed), so this is that path's proof.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSiteConfig, siteTopic, type SiteConfigMessage } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { freePort, type RunningMosquitto, startMosquitto, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { ROOT } from '../helpers/process.ts';
import { haveTools } from '../helpers/require-tool.ts';

const haveMosquitto = haveTools('mosquitto');
const SERVER_USER = 'loanet_server';
const SERVER_PASSWORD = 'site-config-mqtt-server-password';

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let t: TestServer;

/** Logged in as the site, subscribed to its config topic: every configuration it receives (retained at subscribe, or published later). */
async function watchConfig(siteId: string, secret: string): Promise<{ seen: SiteConfigMessage[]; close: () => Promise<void> }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    clientId: siteId,
    username: siteId,
    password: secret,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const seen: SiteConfigMessage[] = [];
  c.on('message', (_topic, payload) => {
    const d = decodeSiteConfig.decode(payload);
    if (d.ok) seen.push(d.value);
  });
  const granted = await c.subscribeAsync(siteTopic(siteId, 'config'), { qos: 1 });
  expect(granted[0]?.qos, 'the site may read its own config topic').toBe(1);
  return { seen, close: () => c.endAsync() };
}

describe.skipIf(!haveMosquitto)('site configuration on an external Mosquitto', () => {
  let site: { id: string; secret: string };

  beforeAll(async () => {
    dir = tempDir('loanet-site-config-mosquitto-');
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: SERVER_USER, serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
    mosquitto = await startMosquitto(dir, { port });
    t = await startTestServer({ LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD });
    await importLaoCai2025(t);
    const r = await t.api('POST', '/api/sites', { id: 'lc-cfg-ext-01', name: 'Cụm loa thôn (broker ngoài)', kind: 'cluster', area: '02683' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    site = { id: 'lc-cfg-ext-01', secret: r.body.credential.secret };
    // The site's user and ACL in Mosquitto's files (the real CLI), read again on SIGHUP.
    await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tools/broker-files.ts'), '--out', dir], {
      cwd: ROOT,
      env: { ...process.env, LOANET_URL: t.baseUrl, LOANET_TOKEN: t.token },
    });
    process.kill(mosquitto!.child.pid!, 'SIGHUP');
  }, 90_000);

  afterAll(async () => {
    await t?.stop();
    await mosquitto?.stop();
  });

  it('a restarted Mosquitto lost the retained configuration; the server publishes it again, the same revision', async () => {
    const first = await waitFor('the site logged in to Mosquitto', () => watchConfig(site.id, site.secret).catch(() => undefined), 30_000, 200);
    const before = await waitFor('its retained configuration', () => first.seen[0], 10_000, 50);
    await first.close();
    expect(before).toMatchObject({ siteId: site.id, revision: 1 });
    expect(before.areaChannels).toContain('2025.02683');

    await mosquitto?.stop();
    await waitFor('the server sees its link down', () => !t.server.ctx.broker.status().up, 10_000, 50);
    mosquitto = await startMosquitto(dir, { port });
    // Retained at once if the server already published it again, else published to us when it does.
    const second = await waitFor('the site logged in again', () => watchConfig(site.id, site.secret).catch(() => undefined), 30_000, 200);
    try {
      const after = await waitFor('the configuration published again', () => second.seen[0], 40_000, 50);
      expect(after).toEqual(before);
    } finally {
      await second.close();
    }
  }, 120_000);
});
