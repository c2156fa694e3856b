/**
 * What an agent takes (its "online" state's features) is learned again after
 * the server restarts, before that site is sent a playlist: a village that
 * speaks [hmn, vi] never gets the Vietnamese-only playlist an agent without
 * PLAYLIST_PARTS_FEATURE would get, not even for the seconds until its agent
 * says again what it takes (a playlist swapped under a bulletin about to
 * start would play the wrong version).
 *
 * Two brokers, real agents (the fleet runner's, playing on simulated
 * amplifiers) and a real server restarted in place:
 * - the embedded broker: its retained store dies with the server, so the
 *   features come back only with each agent's reconnect;
 * - an external Mosquitto: the agents stay connected through the restart, so
 *   the features come back only from the broker's retained state.
 * Every playlist the village's agent accepts after the restart is recorded
 * (the executor's accept, spied on) and must carry the bulletin's parts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { FleetRunner as Runner } from '../../firmware-sim/fleet-runner.ts';
import type { PlaylistMessage } from '../../protocol/index.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { BAT_XAT, communeSites, scheduleBulletin, setVillageLanguages, uploadLanguageTone } from '../helpers/language-villages.ts';
import { freePort, type RunningMosquitto, startMosquitto, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const COMMUNE = BAT_XAT; // Xã Bát Xát
const SERVER_PASSWORD = 'test-mqtt-server-password';

interface Setup {
  t: TestServer;
  fleet: FleetRunner;
  /** The village cluster speaking [hmn, vi]. */
  siteId: string;
  itemId: string;
}

/** Media in vi and hmn, the village's languages, and a bulletin an hour ahead with both versions; the village's site holds it with its parts. */
async function villageWithBulletin(t: TestServer, dir: string, fleet: FleetRunner): Promise<Setup> {
  const siteId = communeSites('feat').site(1);
  const vi = await uploadLanguageTone(t, dir, { lang: 'vi', title: 'Bản tin (vi)', seconds: 1, hz: 440 });
  const hmn = await uploadLanguageTone(t, dir, { lang: 'hmn', title: 'Bản tin (hmn)', seconds: 1, hz: 550 });
  await setVillageLanguages(t, { 1: ['hmn', 'vi'] });
  const { itemId } = await scheduleBulletin(t, { mediaId: vi.id, versions: { hmn: hmn.id }, at: Date.now() + 3_600_000 });
  await waitFor('the village holds the bulletin with its parts', () => languagesHeld(fleet, siteId, itemId)?.join(',') === 'hmn,vi', 30_000, 100);
  return { t, fleet, siteId, itemId };
}

/** The languages of the item's entry in the playlist the site holds, or undefined without it. */
function languagesHeld(fleet: FleetRunner, siteId: string, itemId: string): string[] | undefined {
  const e = fleet
    .site(siteId)
    .agent.playout?.executor.heldEntries()
    .find((x) => x.itemId === itemId);
  return e ? (e.parts?.map((p) => p.language) ?? ['(no parts)']) : undefined;
}

/** Records every playlist the site's executor is handed from now on (what it accepts is its own business). */
function spyPlaylists(fleet: FleetRunner, siteId: string): PlaylistMessage[] {
  const seen: PlaylistMessage[] = [];
  const executor = fleet.site(siteId).agent.playout!.executor;
  const accept = executor.accept.bind(executor);
  executor.accept = (msg) => {
    seen.push(msg);
    return accept(msg);
  };
  return seen;
}

/**
 * Restarts the server and waits until its distribution has run and the site's agent was handed its playlist (or
 * one more), then checks each playlist handed over since the restart: the bulletin's entry with both versions.
 */
async function restartAndCheck(s: Setup, reconnects: boolean): Promise<void> {
  const seen = spyPlaylists(s.fleet, s.siteId);
  const acceptedBefore = s.fleet.site(s.siteId).agent.playout!.executor.stats.playlistsAccepted;
  await s.t.restart();
  if (reconnects) await waitFor('the agents reconnected', () => s.fleet.stats().connected === 2, 60_000, 100);
  // The server's desired playlist for the village carries the parts, and the agent holds it.
  await waitFor(
    'the restarted server wants the village to hold the bulletin with its parts',
    async () => {
      const r = await s.t.inject('GET', `/api/sites/${s.siteId}/playlist`);
      const entry = (r.body?.desired?.entries as PlaylistMessage['entries'] | undefined)?.find((e) => e.itemId === s.itemId);
      return entry?.parts?.map((p) => p.language).join(',') === 'hmn,vi' && r.body.converged === true;
    },
    60_000,
    200,
  );
  // Converged can be true before the new publish arrives: the agent still holds the same version from before the
  // restart. With the embedded broker the restarted server must publish again (its retained store is gone), so wait
  // for the agent to be handed it; Mosquitto kept the old one.
  if (reconnects) await waitFor('the agent handed its playlist again', () => seen.length > 0, 60_000, 100);
  expect(languagesHeld(s.fleet, s.siteId, s.itemId)).toEqual(['hmn', 'vi']);
  const handed = seen.map((m) => m.entries.find((e) => e.itemId === s.itemId)?.parts?.map((p) => p.language) ?? ['(no parts)']);
  for (const languages of handed) expect(languages, `playlists handed to ${s.siteId} after the restart: ${JSON.stringify(handed)}`).toEqual(['hmn', 'vi']);
  const executor = s.fleet.site(s.siteId).agent.playout!.executor;
  expect(executor.stats.playlistsAccepted - acceptedBefore, 'a Vietnamese-only playlist accepted and replaced').toBeLessThanOrEqual(1);
}

describe.skipIf(!haveTools('ffmpeg'))('features learned again after a restart: embedded broker', () => {
  let s: Setup;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('loanet-features-embedded-');
    const t = await startTestServer({ LOANET_SCHEDULE_RECOMPUTE_S: '5' });
    await importLaoCai2025(t);
    const fleet = await startPlayoutFleet(t, { sites: 2, area: COMMUNE, dir, idPrefix: 'feat', connectTimeoutMs: 30_000 });
    s = await villageWithBulletin(t, dir, fleet);
  }, 180_000);
  afterAll(async () => {
    await s?.fleet.stop();
    await s?.t.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the agents reconnect and say what they take before the village is sent its playlist again', async () => {
    await restartAndCheck(s, true);
  }, 180_000);
});

describe.skipIf(!haveTools('ffmpeg', 'mosquitto'))('features learned again after a restart: external Mosquitto', () => {
  let s: Setup;
  let dir: string;
  let mosquitto: RunningMosquitto | undefined;
  beforeAll(async () => {
    dir = tempDir('loanet-features-mosquitto-');
    const port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: 'loanet_server', serverPassword: SERVER_PASSWORD, maxQueuedMessages: 1000 });
    mosquitto = await startMosquitto(dir, { port });
    const t = await startTestServer({ LOANET_MQTT_URL: `mqtt://127.0.0.1:${port}`, LOANET_MQTT_PASSWORD: SERVER_PASSWORD, LOANET_SCHEDULE_RECOMPUTE_S: '5' });
    await importLaoCai2025(t);
    // Sites registered first, then the broker's files as loanet serves them (SIGHUP), then the agents connect.
    const prepared = await new Runner({
      api: new LoanetClient(t.baseUrl, t.token),
      mqtt: { host: '127.0.0.1', port },
      sites: 2,
      heartbeatS: 2,
      area: COMMUNE,
      idPrefix: 'feat',
      credentialsFile: null,
    }).prepare();
    fs.writeFileSync(path.join(dir, 'passwd'), (await t.api('GET', '/api/broker/mosquitto/passwd')).body as string);
    fs.writeFileSync(path.join(dir, 'acl'), (await t.api('GET', '/api/broker/mosquitto/acl')).body as string);
    process.kill(mosquitto.child.pid!, 'SIGHUP');
    const fleet = await waitFor(
      'the agents connected to mosquitto',
      () => startPlayoutFleet(t, { sites: 2, area: COMMUNE, dir, idPrefix: 'feat', mqtt: { host: '127.0.0.1', port }, prepared, connectTimeoutMs: 10_000 }).catch(() => undefined),
      60_000,
      500,
    );
    s = await villageWithBulletin(t, dir, fleet);
  }, 180_000);
  afterAll(async () => {
    await s?.fleet.stop();
    await s?.t.stop();
    await mosquitto?.stop('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the retained states tell the restarted server what each agent takes before it publishes the playlists', async () => {
    // The agents stay connected to Mosquitto throughout: nothing but the retained state can tell the server.
    await restartAndCheck(s, false);
    expect(s.fleet.stats().connected).toBe(2);
  }, 180_000);
});
