/**
 * Receipts that say the clock they were played under (issue 13, item 7), with
 * real components: a real server (embedded broker over TCP, SQLite, the
 * schedule and as-run APIs), real ffmpeg media, the fleet runner's real agents
 * (media cache over HTTP, libopus, the playout engine) and simulated devices
 * whose amplifiers record what they played and when.
 *
 * - An agent that boots 20 s fast with no link plays on its own clock, 20 s
 *   early, and its receipt, once it reaches the server, reads "played,
 *   clock not verified", not "played". One that boots 20 s fast with its
 *   link up (slow to answer) holds the bulletin until the server's time comes,
 *   and plays it on time.
 * - The server's clock steps +5 s (this process's wall clock, which the
 *   server's clock follows; the agents' time base is monotonic and does not
 *   move): each receipt's start error is the truth on the new server clock as
 *   the amplifier heard it, and every agent follows within a bound.
 * - A cached file corrupted on disk while the agent runs is fetched again
 *   before its next use, and that bulletin plays.
 *
 * Clocks: server and agents share this process, so the true offset between an
 * agent's time base (the monotonic epoch, + its simulated error) and the
 * server clock is known here and converts the amplifier's play-at times to
 * server time exactly. Bounds are correctness bounds on a loaded machine, not
 * speed figures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import { FileMediaCache } from '../../edge-agent/media-cache/cache.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import type { PlayedRun } from '../../firmware-sim/amplifier-record.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 5;
const BULLETIN_S = 3;
const FRAMES = (BULLETIN_S * 1000) / 20;
/** How fast a board boots: far beyond any clock uncertainty, and short, since the test waits it out before the bulletin. */
const FAST_MS = 20_000;
/** Where a start is judged on time here (issue 3's 100 ms, with room for a loaded machine's timers). */
const ON_TIME_MS = 250;
/** Every agent follows a server clock step within one steady clock interval (30 s) + a quick confirmation; + slack for load. */
const FOLLOW_BOUND_MS = 33_000;

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let mediaId: string;
const caches = new Map<string, FileMediaCache>();
const cacheLog: string[] = [];
/** Sites whose board clock runs FAST_MS fast from their next (re)start. */
const fast = new Set<string>();
const clockErrorOf = (id: string) => (fast.has(id) ? FAST_MS : 0);

interface AsRunLine {
  siteId: string;
  status: string;
  startErrorMs: number | null;
  clockSynced: boolean | null;
  clockErrorMs: number | null;
  explanation: { vi: string; en: string } | null;
}

/** Server clock − the monotonic time base, right now (same process; follows a stepped Date.now). */
const trueOffset = () => Date.now() - monotonicEpochMs();
/** The server time at which a site's amplifier played a frame it was told to play at `playAt` (its own clock). */
const serverTimeOf = (id: string, playAt: number) => playAt - clockErrorOf(id) + trueOffset();

async function schedule(title: string, at: number): Promise<string> {
  const created = await t.api('POST', '/api/schedule/items', { title, mediaId, targets: { areas: [COMMUNE] }, start: { at } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const approved = await t.api('POST', `/api/schedule/items/${created.body.id}/approve`);
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  return created.body.id as string;
}

async function asRun(itemId: string, at: number): Promise<AsRunLine[]> {
  const r = await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 120_000}&to=${at + 120_000}&item=${itemId}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.lines as AsRunLine[];
}

/** Heard runs of a site whose first heard frame was, on the server clock, in [from, to). */
function runsBetween(id: string, from: number, to: number): PlayedRun[] {
  return fleet
    .site(id)
    .device.playedAudio()
    .runs.filter((r) => r.firstHeardAt !== null && serverTimeOf(id, r.firstHeardAt) >= from && serverTimeOf(id, r.firstHeardAt) < to);
}

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

/**
 * A link whose first answers take `ms` to come back (a 4G attach, a congested
 * cell): bytes from the broker are held that long, then flow.
 */
function slowToAnswer(inner: Duplex, ms: number): Duplex {
  const queue: Buffer[] = [];
  let open = false;
  let ended = false;
  const outer = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      inner.write(chunk, cb);
    },
    final(cb) {
      inner.end();
      cb();
    },
    destroy(err, cb) {
      inner.destroy();
      cb(err);
    },
  });
  setTimeout(() => {
    open = true;
    for (const c of queue.splice(0)) outer.push(c);
    if (ended) outer.push(null);
  }, ms).unref();
  inner.on('data', (c: Buffer) => (open ? outer.push(c) : queue.push(c)));
  inner.on('end', () => (open ? outer.push(null) : (ended = true)));
  inner.on('error', (e) => outer.destroy(e));
  inner.on('connect', () => outer.emit('connect'));
  return outer;
}

/** Test 1 after the restarts: what each board played and what its receipt and the log say. */
async function bootedFast(noLink: string, slowLink: string, itemId: string, at: number, restartedAt: number): Promise<void> {
  const entryId = `${itemId}@${at}`;
  // No link: it plays FAST_MS early on its own clock, and the receipt says the clock was not verified.
  const journal = () => fleet.site(noLink).agent.playout!.journal;
  await waitFor('the board with no link to write its receipt', () => journal().has(entryId), 30_000, 100);
  const early = runsBetween(noLink, restartedAt - 5000, at - FAST_MS / 2);
  expect(early, 'the board with no link played on its own clock').toHaveLength(1);
  expect(serverTimeOf(noLink, early[0]!.firstHeardAt!) - at).toBeLessThan(-FAST_MS + 5000);
  expect(early[0]!.heardFrames).toBe(FRAMES);
  const receipt = journal().get(entryId)!;
  expect(receipt.outcome).toMatch(/^(played|late)$/); // by its own clock: it cannot know better
  expect(receipt.clockSynced).toBe(false);
  expect(receipt.clockErrorMs).toBeUndefined();

  // The link comes back: the server's as-run log does not say plain 'played'.
  await fleet.restore(noLink);
  const line = await waitFor(
    'the receipt at the server',
    async () => (await asRun(itemId, at)).find((l) => l.siteId === noLink && l.status !== 'upcoming' && l.status !== 'no_receipt'),
    30_000,
    200,
  );
  expect(line).toMatchObject({ status: 'unverified', clockSynced: false });
  expect(line.explanation!.en).toContain('not known');

  // Link up but slow to answer: the bulletin waits for the server's time (it used to play FAST_MS early).
  expect(runsBetween(slowLink, restartedAt - 5000, at - FAST_MS / 2), 'nothing played on the unverified clock').toHaveLength(0);
  await waitFor('the slow-link board to write its receipt', () => fleet.site(slowLink).agent.playout!.journal.has(entryId), at - Date.now() + BULLETIN_S * 1000 + 20_000, 100);
  const onTime = runsBetween(slowLink, at - 5000, at + 5000);
  expect(onTime, 'the slow-link board played at the server time').toHaveLength(1);
  const err = serverTimeOf(slowLink, onTime[0]!.firstHeardAt!) - at;
  console.log(
    `[clock-truth] no link: played ${((serverTimeOf(noLink, early[0]!.firstHeardAt!) - at) / 1000).toFixed(1)} s off, receipt ${line.status}; slow link: held, then played ${err.toFixed(1)} ms off`,
  );
  // Early by more is a wrong clock on any machine; late is what a stalled event loop does, and the agent's own
  // receipt would then say 'late' (within 5 s of the start either way: the run above).
  expect(err).toBeGreaterThanOrEqual(-ON_TIME_MS);
  expect(fleet.site(slowLink).agent.playout!.journal.get(entryId)).toMatchObject({ outcome: 'played', clockSynced: true });
}

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-clock-truth-');
  t = await startTestServer({ LOANET_SCHEDULE_RECOMPUTE_S: '5' });
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin thử đồng hồ', seconds: BULLETIN_S });
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: SITES,
    // 5 s: a connection attempt is given up after 10 s, longer than the slow link below takes to answer.
    heartbeatS: 5,
    area: COMMUNE,
    credentialsFile: null,
    playout: {
      stateRoot: path.join(dir, 'sites'),
      tailMs: 1000,
      clockErrorMs: clockErrorOf,
      mediaCache: ({ id, secret, stateDir }) => {
        const cache = new FileMediaCache({
          dir: path.join(stateDir ?? path.join(dir, 'caches', id), 'media-cache'),
          limitBytes: 20 * 1024 * 1024,
          httpUrl: t.baseUrl,
          siteId: id,
          secret,
          retry: { baseMs: 200, capMs: 2000 },
          stallTimeoutMs: 120_000,
          log: { warn: (m) => cacheLog.push(`${id}: ${m}`) },
        });
        caches.set(id, cache);
        return cache;
      },
    },
  });
  await fleet.start();
  await waitFor('every agent connected', () => fleet.stats().connected === SITES, 60_000, 100);
}, 120_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('a receipt says the clock it was played under', () => {
  it('a board booted 20 s fast plays on its own clock with no link and says so; with its link up it waits for the server time', async () => {
    const ids = fleet.ids();
    const [noLink, slowLink] = [ids[0]!, ids[1]!];
    // Room before the restart (at − FAST_MS − 4 s) for the schedule to reach every board with its media: 11 s.
    const at = Date.now() + FAST_MS + 15_000;
    const itemId = await schedule('Bản tin khi đồng hồ sai', at);
    await everyoneReady(ids, itemId);

    // Both boards restart FAST_MS fast, when their own clock reads 4 s before the bulletin.
    await waitFor('the restart time', () => Date.now() >= at - FAST_MS - 4000, 60_000, 20);
    fast.add(noLink);
    fast.add(slowLink);
    await Promise.all([fleet.kill(noLink), fleet.kill(slowLink)]);
    const restartedAt = Date.now();
    const link = fleet.site(slowLink).link;
    const open = link.open;
    let first = true;
    link.open = () => {
      const s = open();
      if (!first) return s;
      first = false;
      return slowToAnswer(s, 6000);
    };
    const restoringNoLink = fleet.restore(noLink);
    fleet.cut(noLink, 'down'); // before its agent opens the link: it boots with no carrier
    await Promise.all([restoringNoLink, fleet.restore(slowLink)]);
    try {
      await bootedFast(noLink, slowLink, itemId, at, restartedAt);
    } finally {
      await fleet.restore(noLink); // the next tests need every site linked, whatever failed here
    }
  }, 150_000);

  it('the server clock steps +5 s: every receipt says the start error the amplifier heard on the new clock, and every agent follows within the bound', async () => {
    const ids = fleet.ids();
    const at = Date.now() + 20_000;
    const itemId = await schedule('Bản tin khi máy chủ chỉnh giờ', at);
    await everyoneReady(ids, itemId);
    const entryId = `${itemId}@${at}`;
    // Step after every agent handed the bulletin to its engine (and checked its clock then), just before it starts.
    await waitFor('just before the start', () => Date.now() >= at - 300, 30_000, 5);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 5000);
    const steppedAt = Date.now();

    // Follow: each agent's idea of the server clock comes within 50 ms of the stepped one.
    const followed = new Map<string, number>();
    await waitFor(
      'every agent to follow the step',
      () => {
        for (const id of ids) {
          if (followed.has(id)) continue;
          if (Math.abs(fleet.site(id).agent.playout!.engine.serverNow() - Date.now()) < 50) followed.set(id, Date.now() - steppedAt);
        }
        return followed.size === ids.length;
      },
      FOLLOW_BOUND_MS + 10_000,
      20,
    );
    const follow = [...followed.values()].sort((a, b) => a - b);
    console.log(`[clock-truth] agents followed a +5 s server step in ${follow.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`);
    expect(follow.at(-1)!).toBeLessThanOrEqual(FOLLOW_BOUND_MS);

    await waitFor('every receipt written', () => ids.every((id) => fleet.site(id).agent.playout!.journal.has(entryId)), 30_000, 100);
    const lines = await waitFor(
      'every receipt at the server',
      async () => {
        const l = await asRun(itemId, at);
        return l.filter((x) => x.status !== 'upcoming' && x.status !== 'no_receipt').length === ids.length ? l : undefined;
      },
      30_000,
      200,
    );
    let late = 0;
    for (const id of ids) {
      // The first run: an agent whose steady clock request fell inside the play moved its clock mid-play,
      // which may cut the amplifier's record of it in two (the sound itself goes on without a gap).
      const runs = runsBetween(id, at - 10_000, at + 15_000);
      expect(runs.length, `${id} played it`).toBeGreaterThan(0);
      const heardErr = serverTimeOf(id, runs[0]!.firstHeardAt!) - at;
      const r = fleet.site(id).agent.playout!.journal.get(entryId)!;
      const l = lines.find((x) => x.siteId === id)!;
      console.log(`[clock-truth] ${id}: heard ${heardErr.toFixed(1)} ms off, receipt ${r.outcome} startErrorMs ${r.startErrorMs} clockErrorMs ${r.clockErrorMs}, log ${l.status}`);
      // The receipt's start error is the truth on the server clock, whatever the agent's clock said then.
      expect(Math.abs(r.startErrorMs! - heardErr), id).toBeLessThanOrEqual(ON_TIME_MS);
      if (heardErr > 1000) {
        late++;
        expect(l, id).toMatchObject({ status: 'late' });
        expect(l.clockErrorMs!, id).toBeLessThan(-4000);
        expect(l.explanation!.en, id).toContain('slow when it played');
      } else {
        expect(l.status, id).toBe('played');
      }
    }
    // The step came after the agents' last look at the clock: most played on the old time.
    expect(late).toBeGreaterThan(0);
    // The server clock stays stepped (undone in afterAll): stepping it back here would be a second step.
  }, 150_000);

  it('a cached file corrupted on disk while the agent runs is fetched again before its next use, and the bulletin plays', async () => {
    const ids = fleet.ids();
    const id = ids[2]!;
    const cache = caches.get(id)!;
    const entry = fleet
      .site(id)
      .agent.playout!.executor.heldEntries()
      .find((e) => e.mediaId === mediaId)!;
    const file = path.join(cache.dir, `${entry.sha256}.opus`);
    const size = fs.statSync(file).size;
    fs.writeFileSync(file, randomBytes(size)); // storage rot, or something else wrote over it
    const failuresBefore = cache.report().counters.checksumFailures;
    const downloadsBefore = cache.report().counters.downloads;

    const at = Date.now() + 15_000;
    const itemId = await schedule('Bản tin sau khi tệp hỏng', at);
    const entryId = `${itemId}@${at}`;
    await waitFor(`${id} to write its receipt`, () => fleet.site(id).agent.playout!.journal.has(entryId), at - Date.now() + BULLETIN_S * 1000 + 20_000, 100);
    expect(fleet.site(id).agent.playout!.journal.get(entryId)).toMatchObject({ outcome: 'played', frames: FRAMES });
    const runs = runsBetween(id, at - 5000, at + 5000);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.heardFrames).toBe(FRAMES);
    const counters = cache.report().counters;
    expect(counters.checksumFailures).toBe(failuresBefore + 1);
    expect(counters.downloads).toBe(downloadsBefore + 1);
    expect(cacheLog.some((m) => m.startsWith(`${id}: `) && m.includes('no longer matches its checksum'))).toBe(true);
    console.log(
      `[clock-truth] corrupted cache file: re-fetched (${counters.downloads - downloadsBefore} download) and played ${(serverTimeOf(id, runs[0]!.firstHeardAt!) - at).toFixed(1)} ms off`,
    );
  }, 90_000);
});
