/**
 * Bulletins from the schedule to the loudspeakers, end to end (issue 3), with
 * real components: a real server (HTTP, embedded broker over TCP, SQLite),
 * real ffmpeg for the media, the schedule API (draft → approval → retained
 * playlists), the fleet runner's real agents (media cache over HTTP with the
 * site credential, libopus, the playout engine) and simulated devices whose
 * amplifiers record what they played and when.
 *
 * - A cluster whose link is cut before the bulletin starts and restored after
 *   it ends plays it whole from its cache, never before its time — measured on
 *   the simulated amplifier's record against the scheduled server time — and
 *   its receipt reaches the server after the reconnect. How late a loaded
 *   machine may make it is not checked here: that holds on no shared machine;
 *   the playout-accuracy bench measures it against issue 3's 100 ms.
 * - One bulletin to a commune reaches every operational cluster in it; the
 *   as-run log (GET /api/as-run) accounts for every targeted site: played,
 *   or why not (an amplifier in thermal shutdown, an agent that was not
 *   running until after the bulletin).
 *
 * Clocks: server and agents share this process, so the true offset between
 * an agent's time base (monotonic epoch) and the server clock is known here
 * and converts the amplifier's play-at times to server time exactly.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import type { PlayedRun } from '../../firmware-sim/amplifier-record.ts';
import { encodeJson, siteTopic } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 6;
const BULLETIN_S = 3;
/**
 * Issue 3: each item plays "within 100 ms of the server clock". Early by more is a wrong schedule on any
 * machine; late by more is what a stalled event loop does, so only the early side is a test's to check.
 */
const ON_TIME_MS = 100;

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let mediaId: string;

/** Server clock − the agents' time base, right now (same process). */
const trueOffset = () => Date.now() - monotonicEpochMs();

interface AsRunLine {
  siteId: string;
  entryId: string;
  status: string;
  reason: string | null;
  source?: string;
  startErrorMs: number | null;
  frames: number | null;
}

async function schedule(title: string, at: number): Promise<string> {
  const created = await t.api('POST', '/api/schedule/items', { title, mediaId, targets: { areas: [COMMUNE] }, start: { at } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return created.body.id as string;
}

async function asRun(itemId: string, at: number): Promise<AsRunLine[]> {
  const r = await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&item=${itemId}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.lines as AsRunLine[];
}

/** The heard run on a site's simulated amplifier that began nearest to `serverAt`. */
function runAt(siteId: string, serverAt: number): PlayedRun | undefined {
  const local = serverAt - trueOffset();
  const runs = fleet
    .site(siteId)
    .device.playedAudio()
    .runs.filter((r) => r.firstHeardAt !== null);
  return runs.sort((a, b) => Math.abs(a.firstHeardAt! - local) - Math.abs(b.firstHeardAt! - local))[0];
}

/** Every site holds the newest playlist with its media in the cache. */
async function everyoneReady(ids: readonly string[], itemId: string) {
  await waitFor(
    'every site to hold the playlist with the media cached',
    () =>
      ids.every((id) => {
        const p = fleet.site(id).agent.playout;
        const r = p?.executor.report();
        return r !== undefined && r.missing === 0 && p!.executor.heldEntries().some((e) => e.itemId === itemId);
      }),
    30_000,
    100,
  );
}

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-bulletin-');
  t = await startTestServer({ LOANET_SCHEDULE_RECOMPUTE_S: '5' });
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin thử phát theo lịch', seconds: BULLETIN_S });
  fleet = await startPlayoutFleet(t, { sites: SITES, area: COMMUNE, dir, cacheLimitBytes: 50 * 1024 * 1024, connectTimeoutMs: 20_000 });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('bulletins play on time at every targeted cluster', () => {
  it('a cluster cut off before the start plays from its cache on time, and its receipt arrives after the reconnect', async () => {
    const ids = fleet.ids();
    const cutSite = ids[1]!;
    const at = Date.now() + 15_000;
    const itemId = await schedule('Bản tin khi mất sóng', at);
    await everyoneReady(ids, itemId);
    fleet.cut(cutSite, 'blackhole'); // the 4G cell drops the session without a FIN
    const entryId = `${itemId}@${at}`;

    // Plays while cut off.
    await waitFor('the cut-off site to write its receipt', () => fleet.site(cutSite).agent.playout!.journal.has(entryId), at - Date.now() + BULLETIN_S * 1000 + 15_000, 100);
    const run = runAt(cutSite, at);
    expect(run, 'the simulated amplifier heard the bulletin').toBeDefined();
    const startErrorMs = run!.firstHeardAt! + trueOffset() - at;
    expect(startErrorMs).toBeGreaterThanOrEqual(-ON_TIME_MS);
    expect(run!.heardFrames).toBe((BULLETIN_S * 1000) / 20);
    expect(fleet.site(cutSite).agent.playout!.journal.get(entryId)).toMatchObject({ outcome: 'played', frames: (BULLETIN_S * 1000) / 20 });
    expect(fleet.site(cutSite).link.state).toBe('blackhole');
    const whileCut = (await asRun(itemId, at)).find((l) => l.siteId === cutSite);
    expect(whileCut?.status).not.toBe('played'); // the server cannot know yet

    fleet.cut(cutSite, 'blackhole');
    await fleet.restore(cutSite);
    const line = await waitFor(
      'the receipt at the server after the reconnect',
      async () => (await asRun(itemId, at)).find((l) => l.siteId === cutSite && l.status === 'played'),
      30_000,
      200,
    );
    expect(line.startErrorMs!).toBeGreaterThanOrEqual(-ON_TIME_MS);
    expect(line.frames).toBe((BULLETIN_S * 1000) / 20);

    // Every other site played it too, on time, as its amplifier recorded.
    for (const id of ids) {
      const r = runAt(id, at);
      expect(r, `${id} heard it`).toBeDefined();
      expect(r!.firstHeardAt! + trueOffset() - at, id).toBeGreaterThanOrEqual(-ON_TIME_MS);
    }
  });

  it('one bulletin to a commune reaches every operational cluster; the as-run log accounts for every targeted site', async () => {
    const ids = fleet.ids();
    const overheated = ids[2]!;
    const off = ids[3]!;
    fleet.injectFault(overheated, { kind: 'amp_overheat' });
    await fleet.kill(off); // its agent is not running when the bulletin airs
    const at = Date.now() + 15_000;
    const itemId = await schedule('Thông báo toàn xã', at);
    const running = ids.filter((id) => id !== off);
    await everyoneReady(running, itemId);
    const entryId = `${itemId}@${at}`;
    await waitFor(
      'every running site to write its receipt',
      () => running.every((id) => fleet.site(id).agent.playout!.journal.has(entryId)),
      at - Date.now() + BULLETIN_S * 1000 + 15_000,
      100,
    );

    for (const id of running.filter((x) => x !== overheated)) {
      const r = runAt(id, at);
      expect(r, `${id} heard it`).toBeDefined();
      expect(r!.firstHeardAt! + trueOffset() - at, id).toBeGreaterThanOrEqual(-ON_TIME_MS);
      expect(r!.heardFrames, id).toBe((BULLETIN_S * 1000) / 20);
    }
    // The overheated amplifier switched on but stayed mute: nothing heard, and the receipt says why.
    expect(fleet.site(overheated).device.heardFramesBetween(at - trueOffset() - 1000, at - trueOffset() + BULLETIN_S * 1000 + 1000)).toBe(0);

    // The agent that was off comes back after the bulletin: it still holds the playlist and says it missed it.
    await fleet.restore(off);
    const lines = await waitFor(
      'a line with a receipt for every targeted site',
      async () => {
        const l = await asRun(itemId, at);
        return l.length === SITES && l.every((x) => x.status !== 'no_receipt' && x.status !== 'upcoming') ? l : undefined;
      },
      30_000,
      250,
    );
    const by = new Map(lines.map((l) => [l.siteId, l]));
    expect([...by.keys()].sort()).toEqual([...ids].sort());
    for (const id of running.filter((x) => x !== overheated)) expect(by.get(id), id).toMatchObject({ status: 'played' });
    expect(by.get(overheated)).toMatchObject({ status: 'skipped', reason: 'amp_fault' });
    expect(by.get(off)).toMatchObject({ status: 'skipped', reason: 'expired' });
    fleet.clearFault(overheated, { kind: 'amp_overheat' });
  });

  it('a malformed playlist, or one for another site, is counted and dropped: the agent keeps the one it holds', async () => {
    const id = fleet.ids()[0]!;
    const agent = fleet.site(id).agent;
    const held = agent.playout!.executor.version;
    expect(held).not.toBeNull();
    const before = agent.stats.invalidPlaylists;
    const topic = siteTopic(id, 'playlist');
    // Not retained: the real playlist stays the retained one.
    await t.server.ctx.broker.publish(topic, Buffer.from('not json at all'), { qos: 1 });
    await t.server.ctx.broker.publish(topic, encodeJson({ v: 1, siteId: id, version: 'bad', at: Date.now(), horizonEnd: Date.now(), entries: [{ id: 'x' }] }), { qos: 1 });
    await t.server.ctx.broker.publish(topic, encodeJson({ v: 1, siteId: fleet.ids()[1]!, version: 'other-site', at: Date.now(), horizonEnd: Date.now() + 1000, entries: [] }), {
      qos: 1,
    });
    await waitFor('three playlists counted as invalid', () => agent.stats.invalidPlaylists === before + 3, 10_000, 50);
    expect(agent.playout!.executor.version).toBe(held);
    expect(agent.stats.connected).toBe(true);
  });
});
