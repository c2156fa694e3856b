/**
 * The server configures each site (issue 16, item 4), end to end: a real
 * server (HTTP, embedded broker on TCP, SQLite, ffmpeg-made alert audio), the
 * agent as its own process (the built agent) with the
 * simulated amplifier over the device protocol on TCP (in this process, so
 * what it played can be read), and, for the stale board, a plain MQTT client
 * speaking for a site.
 *
 * 1. The agent.json lists no area channel at all: the delivered
 *    configuration gives them, the board applies it, keeps it owner-only and
 *    reports its revision, and plays an alert to its commune.
 * 2. The site is moved to another commune through the HTTP API, nothing on
 *    the board touched: it reports the new revision, plays an alert to the new
 *    commune, and an alert to the old one sent before that is not played.
 * 3. Server down, agent restarted: it starts from the configuration it kept;
 *    the server back, the revision is the same (it survived the server's
 *    restart too) and the board still plays its new commune's alerts.
 * 4. An agent.json naming another commune's channels: the delivered
 *    configuration wins, the board plays its own commune's alert.
 * 5. A board that does not report the newest revision is degraded with the
 *    reason config_stale after the grace period, and not once it does.
 * 6. The server restarted (its embedded broker keeps no retained message):
 *    a site that connects still gets its configuration, published at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfile } from '../../hardware/profiles.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer } from '../../firmware-sim/device-server.ts';
import { readStateFile } from '../../edge-agent/state-file.ts';
import { SITE_CONFIG_FILE } from '../../edge-agent/site-config.ts';
import { ALERT_MEMORY_FILE } from '../../edge-agent/alerts/memory.ts';
import { decodeSiteConfig, PROTOCOL_VERSION, siteTopic, type SiteConfigMessage, type TelemetryMessage } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg, uploadFile, UPLOAD_HOOK_TIMEOUT_MS } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { agentCli, stopAllProcesses, stopProcess, type Proc } from '../helpers/process.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';

const canRun = haveTools('ffmpeg');
/** Xã Bát Xát and Xã A Mú Sung: two communes of Lào Cai, so an alert to one is on a channel the other's sites do not share. */
const OLD_COMMUNE = '02683';
const NEW_COMMUNE = '02680';
const GRACE_S = 3;

let t: TestServer;
let dir: string;
let mediaId: string;
const devices: DeviceServer[] = [];

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-site-config-');
  t = await startTestServer({ LOANET_SITE_CONFIG_GRACE_S: String(GRACE_S) });
  await importLaoCai2025(t);
  const wav = path.join(dir, 'canh-bao.wav');
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=660:duration=1', '-ac', '1', wav);
  const up = await uploadFile(t, wav, { title: 'Cảnh báo thử' });
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  mediaId = up.body.id;
  // A site that stays in the old commune (no board runs for it): an alert there has a target after the move.
  const stays = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn (ở lại xã cũ)', kind: 'cluster', area: OLD_COMMUNE });
  expect(stays.status, JSON.stringify(stays.body)).toBe(201);
}, UPLOAD_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await stopAllProcesses();
  for (const d of devices) await d.close().catch(() => {});
  await t?.stop();
});

interface Board {
  id: string;
  device: SimDevice;
  config: string;
  stateDir: string;
}

/** A registered site and its board's files; agent.json lists `areaChannels` (none by default): only the server says where the board is. */
async function makeBoard(name: string, area: string, areaChannels: string[] = []): Promise<Board> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, profile: 'village-cluster-4g' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const { siteId: id, secret } = r.body.credential as { siteId: string; secret: string };
  const base = await loadProfile('village-cluster-4g');
  const device = new SimDevice({ ...base, amplifier: { ...base.amplifier, warmupMs: 200 } }, { seed: 7 });
  const deviceServer = new DeviceServer(device, { tickIntervalMs: 0 });
  devices.push(deviceServer);
  const devicePort = await deviceServer.listen(0, '127.0.0.1');
  const stateDir = path.join(dir, id);
  const config = path.join(dir, `${id}.json`);
  fs.writeFileSync(
    config,
    JSON.stringify({
      siteId: id,
      server: { mqttUrl: t.mqttUrl, httpUrl: t.baseUrl },
      credential: { secret },
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 100, capMs: 1000 },
      devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
      stateDir,
      areaChannels,
      audio: { sink: 'device', bufferMs: 200 },
    }),
  );
  return { id, device, config, stateDir };
}

/** The revision the server now delivers to the site, if it has made one yet (a wait polls this). */
const delivering = (id: string) => t.server.ctx.fleet.observation(id)?.expectedConfig ?? undefined;
/** The same, where it must exist by now. */
const expected = (id: string) => {
  const e = delivering(id);
  if (!e) throw new Error(`the server delivers no configuration to ${id}`);
  return e;
};

async function siteStatus(
  id: string,
): Promise<{ condition: string; reasons: Array<{ code: string; params: Record<string, unknown> }>; telemetry: TelemetryMessage | null } | null> {
  return (await t.api('GET', `/api/sites/${id}`)).body.status;
}

/**
 * Waits until the board's heartbeat says it holds the revision the server delivers, that revision at least
 * `atLeast`; returns it. A change through the API makes the new revision after its answer (the site's
 * configuration follows the registry's event): until then board and server still agree on the old one.
 */
async function applied(id: string, what: string, atLeast = 1): Promise<number> {
  return waitFor(
    `${id} to report ${what}`,
    async () => {
      const held = (await siteStatus(id))?.telemetry?.config;
      // Under load the server may not have made the site's configuration yet: keep polling, do not fail.
      const want = delivering(id);
      return held && want && want.revision >= atLeast && held.revision === want.revision && held.hash === want.hash ? held.revision : undefined;
    },
    30_000,
    100,
  );
}

async function alert(area: string, title: string): Promise<string> {
  const r = await t.api('POST', '/api/alerts', { areas: [area], message: { mediaId }, attention: null, repeats: 1, validForMinutes: 30, title });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

async function completedAt(alertId: string, b: Board, agent: Proc): Promise<void> {
  try {
    await waitFor(`${b.id} to complete alert ${alertId}`, async () => (await t.api('GET', `/api/alerts/${alertId}/sites/${b.id}`)).body?.status === 'completed', 60_000, 200);
  } catch (e) {
    throw new Error(
      `${(e as Error).message}; the server's row: ${JSON.stringify((await t.api('GET', `/api/alerts/${alertId}/sites/${b.id}`)).body)}; the agent said:\n${agent.text()}`,
    );
  }
}

/** The alerts the board ever decided about (its memory on disk). */
async function remembered(b: Board): Promise<string[]> {
  const v = (await readStateFile(path.join(b.stateDir, ALERT_MEMORY_FILE), 'alerts', () => {})).value as Record<string, unknown> | undefined;
  return Object.keys(v ?? {});
}

const channelsOf = async (area: string) => (await t.api('GET', `/api/areas/${area}`)).body.key as string;

/** Logged in as the site (no agent runs for it), subscribed to its config topic: every configuration it receives. */
async function watchConfig(siteId: string, secret: string): Promise<{ seen: SiteConfigMessage[]; close: () => Promise<void> }> {
  const c = await mqtt.connectAsync(t.mqttUrl, { clientId: siteId, username: siteId, password: secret, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  const seen: SiteConfigMessage[] = [];
  c.on('message', (_topic, payload) => {
    const d = decodeSiteConfig.decode(payload);
    if (d.ok) seen.push(d.value);
  });
  const granted = await c.subscribeAsync(siteTopic(siteId, 'config'), { qos: 1 });
  expect(granted[0]?.qos).toBe(1);
  return { seen, close: () => c.endAsync() };
}

describe.skipIf(!canRun)('the server configures the site', () => {
  let board: Board;
  let agent: Proc;
  let agentJson: string;
  /**
   * Frames the board's amplifier put out so far. Whether an alert played is read from its growth
   * (the run count would not do: a frame late on a busy machine splits one playback into two runs of
   * the simulated amplifier's record); which alerts the board took is read from its memory.
   */
  const heardFrames = () => board.device.playedAudio().runs.reduce((n, r) => n + r.heardFrames, 0);

  it("a board whose agent.json lists no area applies the delivered configuration, keeps it owner-only, reports its revision and plays its commune's alert", async () => {
    board = await makeBoard('Cụm loa thôn (cấu hình từ máy chủ)', OLD_COMMUNE);
    agentJson = fs.readFileSync(board.config, 'utf8');
    agent = agentCli('--config', board.config);
    await agent.waitForLine(/no site configuration from the server yet: area channels of the config file apply \(none\)/);
    const revision = await applied(board.id, 'its first configuration');
    expect(revision).toBe(1);

    const file = path.join(board.stateDir, SITE_CONFIG_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const kept = (await readStateFile(file, 'site configuration', () => {})).value as SiteConfigMessage;
    const oldKey = await channelsOf(OLD_COMMUNE);
    expect(kept).toMatchObject({ v: PROTOCOL_VERSION, siteId: board.id, revision: 1, device: { profile: 'village-cluster-4g', monitorMic: false } });
    expect(kept.areaChannels[0]).toBe(oldKey);
    expect(kept.areaChannels).toEqual((await t.api('GET', `/api/sites/${board.id}`)).body.areaChannels);

    const before = heardFrames();
    const first = await alert(OLD_COMMUNE, 'Lũ quét (thử, xã cũ)');
    await completedAt(first, board, agent);
    expect(heardFrames()).toBeGreaterThan(before);
    expect((await t.api('POST', `/api/alerts/${first}/cancel`)).status).toBe(200);
  }, 120_000);

  it("moved to another commune through the API, with no local change: it follows the new commune's alerts and no longer hears the old one's", async () => {
    const moved = await t.api('PATCH', `/api/sites/${board.id}`, { area: NEW_COMMUNE });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(await applied(board.id, 'the configuration of its new commune', 2)).toBe(2);
    const newKey = await channelsOf(NEW_COMMUNE);
    const kept = (await readStateFile(path.join(board.stateDir, SITE_CONFIG_FILE), 'site configuration', () => {})).value as SiteConfigMessage;
    expect(kept.areaChannels[0]).toBe(newKey);
    expect(agent.text()).toMatch(new RegExp(`site configuration revision 2 applied: area channels ${newKey.replace('.', '\\.')}`));

    // The old commune's alert first, then the new one's: once the second has played, the first had its chance to arrive.
    const before = heardFrames();
    const toOld = await alert(OLD_COMMUNE, 'Lũ quét (xã cũ, không được phát)');
    const toNew = await alert(NEW_COMMUNE, 'Lũ quét (xã mới)');
    await completedAt(toNew, board, agent);
    expect(heardFrames()).toBeGreaterThan(before);
    const known = await remembered(board);
    expect(known).toContain(toNew);
    expect(known).not.toContain(toOld);
    expect((await t.api('GET', `/api/alerts/${toOld}/sites/${board.id}`)).status).toBe(404);
    // Nothing on the board was touched.
    expect(fs.readFileSync(board.config, 'utf8')).toBe(agentJson);
    // Holding the newest revision, it is not stale past the grace period.
    const judged = await waitFor(
      'a heartbeat judged after the grace period of the move',
      async () => {
        const s = await siteStatus(board.id);
        const want = delivering(board.id);
        return s?.telemetry && want && s.telemetry.at > want.dueAt ? s : undefined;
      },
      (GRACE_S + 10) * 1000,
      100,
    );
    expect(judged.reasons.map((r) => r.code)).not.toContain('config_stale');
    for (const id of [toOld, toNew]) await t.api('POST', `/api/alerts/${id}/cancel`);
  }, 120_000);

  it("restarted while the server is down, it starts from the configuration it kept; the server back, the revision is the same and the new commune's alerts play", async () => {
    await stopProcess(agent, 'SIGTERM');
    await t.server.stop();
    agent = agentCli('--config', board.config);
    const newKey = await channelsOf(NEW_COMMUNE).catch(() => undefined);
    expect(newKey).toBeUndefined(); // the server is really down
    await agent.waitForLine(/site configuration revision 2 kept from the server: area channels 2025\.02680/);

    await t.restart();
    // The revision survived the server's restart: same content, same revision, not 1 again.
    expect(expected(board.id).revision).toBe(2);
    await applied(board.id, 'revision 2 after the server restarted', 2);
    const before = heardFrames();
    const again = await alert(NEW_COMMUNE, 'Lũ quét (sau khi khởi động lại)');
    await completedAt(again, board, agent);
    expect(heardFrames()).toBeGreaterThan(before);
    await t.api('POST', `/api/alerts/${again}/cancel`);
    await stopProcess(agent, 'SIGTERM');
  }, 120_000);

  it("an agent.json that names another commune cannot leave a board deaf: it plays its own commune's alert", async () => {
    const wrong = [await channelsOf(OLD_COMMUNE), '2025.15'];
    const other = await makeBoard('Cụm loa thôn (tệp cấu hình sai xã)', NEW_COMMUNE, wrong);
    const proc = agentCli('--config', other.config);
    await proc.waitForLine(/no site configuration from the server yet: area channels of the config file apply \(2025\.02683, 2025\.15\)/);
    await applied(other.id, 'its configuration');
    const id = await alert(NEW_COMMUNE, 'Lũ quét (trạm có tệp cấu hình sai)');
    await completedAt(id, other, proc);
    expect(other.device.playedAudio().runs.reduce((n, r) => n + r.heardFrames, 0)).toBeGreaterThan(0);
    await t.api('POST', `/api/alerts/${id}/cancel`);
    await stopProcess(proc, 'SIGTERM');
  }, 120_000);

  it('a board that does not report the newest revision is degraded with config_stale after the grace period, and is not once it reports it', async () => {
    const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn (phần mềm cũ)', kind: 'cluster', area: NEW_COMMUNE, monitorMic: false });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const { siteId: id, secret } = r.body.credential as { siteId: string; secret: string };
    const client = await mqtt.connectAsync(t.mqttUrl, { clientId: id, username: id, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      let seq = 0;
      const beat = (config?: TelemetryMessage['config']) => {
        const m = healthyTelemetry(id, seq++, { uptimeS: 60, ...(config !== undefined ? { config } : {}) });
        return client.publishAsync(siteTopic(id, 'telemetry'), JSON.stringify(m), { qos: 0 });
      };
      // An agent that predates delivered configurations: it never says which it holds.
      await beat();
      const stale = await waitFor(
        `${id} degraded with config_stale`,
        async () => {
          await beat();
          const s = await siteStatus(id);
          return s?.condition === 'degraded' && s.reasons.find((x) => x.code === 'config_stale') ? s : undefined;
        },
        (GRACE_S + 20) * 1000,
        200,
      );
      expect(stale.reasons).toEqual([expect.objectContaining({ code: 'config_stale', params: { applied: null, expected: 1 } })]);
      // Now it holds the newest: operational.
      const want = expected(id);
      const fresh = await waitFor(
        `${id} operational once it reports revision ${want.revision}`,
        async () => {
          await beat({ revision: want.revision, hash: want.hash });
          const s = await siteStatus(id);
          return s?.condition === 'operational' ? s : undefined;
        },
        20_000,
        200,
      );
      expect(fresh.reasons).toEqual([]);
      // And an older revision than the server's is stale again, at once (its grace period is over).
      await beat({ revision: want.revision, hash: 'f'.repeat(64) });
      await waitFor(`${id} degraded again on other content`, async () => (await siteStatus(id))?.reasons.some((x) => x.code === 'config_stale') || undefined, 20_000, 200);
    } finally {
      await client.endAsync();
    }
  }, 60_000);

  it('published again at server start: the embedded broker kept no retained message, yet a site that connects gets its configuration', async () => {
    const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn (sau khởi động máy chủ)', kind: 'cluster', area: NEW_COMMUNE });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const { siteId: id, secret } = r.body.credential as { siteId: string; secret: string };
    const first = await watchConfig(id, secret);
    const before = await waitFor('its retained configuration', () => first.seen[0], 10_000, 50);
    await first.close();
    await t.restart();
    // Nothing published for this site since the restart but what start-up published: no heartbeat, no registry change.
    const second = await watchConfig(id, secret);
    try {
      expect(await waitFor('its configuration retained again', () => second.seen[0], 10_000, 50)).toEqual(before);
    } finally {
      await second.close();
    }
  }, 60_000);
});
