/**
 * A bulletin in several languages (Decree 49/2024/NĐ-CP) at real agents: a
 * real server (HTTP media library with real ffmpeg, embedded broker over TCP,
 * SQLite), the fleet runner's agents (media cache over HTTP with the site's
 * credential, libopus, the playout engine) and simulated amplifiers that
 * record what they played.
 *
 * Each site gets its own retained playlist, published here on the broker as
 * the server would, with one entry whose `parts` are a Vietnamese, a H'Mông
 * and a Dao version of different lengths. The playlists are stamped a day
 * ahead (`at`), so the server's own playlist for these sites (empty: nothing
 * is scheduled here), which it publishes whenever it recomputes, is older and
 * the agents ignore it.
 *
 * - all three versions play back to back, in order, as one programme: one
 *   amplifier switch-on, each part's end is the next one's start;
 * - a version whose file the server does not have is skipped (no_media) and
 *   the next plays from the frame where it would have begun;
 * - a higher priority scheduled inside the H'Mông version suspends the whole
 *   programme, which resumes after it: nothing else between the parts;
 * - the entry withdrawn while the H'Mông version plays: that part partial,
 *   the Dao one skipped, both cancelled.
 *
 * Clocks: server and agents share this process, so the true offset between an
 * agent's time base and the server clock converts the amplifier's record to
 * server time exactly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicEpochMs } from '../../edge-agent/agent.ts';
import type { EngineEvent } from '../../edge-agent/playout/engine.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import {
  encodeJson,
  PLAYLIST_PARTS_FEATURE,
  PROTOCOL_VERSION,
  siteTopic,
  decodePlaylist,
  type AsRunEvent,
  type PlaylistEntryMessage,
  type PlaylistMessage,
  type PlaylistPartMessage,
} from '../../protocol/index.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = '02683'; // Xã Bát Xát
/** Ahead of any playlist the server publishes for these sites. */
const STAMP_AHEAD_MS = 24 * 3600_000;

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
const events = new Map<string, EngineEvent[]>();
const unsubscribe: Array<() => void> = [];

/** `seconds`: the tone's length, which the stored file holds to the frame (the library's durationMs may be a few ms more). */
type Media = { id: string; sha256: string; bytes: number; durationMs: number; seconds: number };
let vi: Media;
let hmn: Media;
let ium: Media;
let urgent: Media;
/** A version the library does not have: the cache can never fetch it. */
const MISSING: Media = { id: 'med-missing-hmn', sha256: 'e'.repeat(64), bytes: 4096, durationMs: 6000, seconds: 6 };

let start: number;
const sites: Record<'whole' | 'missing' | 'preempted' | 'cancelled', string> = { whole: '', missing: '', preempted: '', cancelled: '' };

/** Server clock − the agents' time base, right now (same process). */
const trueOffset = () => Date.now() - monotonicEpochMs();

async function tone(title: string, seconds: number, hz: number): Promise<Media> {
  const id = await uploadTone(t, dir, { title, seconds, hz });
  const r = await t.api('GET', `/api/media/${id}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return { id, sha256: r.body.sha256, bytes: r.body.bytes, durationMs: r.body.durationMs, seconds };
}

const part = (language: string, m: Media): PlaylistPartMessage => ({ language, mediaId: m.id, sha256: m.sha256, bytes: m.bytes, durationMs: m.durationMs });

function programme(id: string, parts: PlaylistPartMessage[]): PlaylistEntryMessage {
  const first = parts[0]!;
  return {
    id: `${id}@${start}`,
    kind: 'bulletin',
    itemId: id,
    mediaId: first.mediaId,
    sha256: first.sha256,
    bytes: first.bytes,
    startAt: start,
    durationMs: parts.reduce((n, p) => n + p.durationMs, 0),
    priority: 'normal',
    title: 'Bản tin ba thứ tiếng',
    parts,
  };
}

async function publishPlaylist(siteId: string, entries: PlaylistEntryMessage[], version: string, stamp = 0): Promise<void> {
  const at = Date.now() + STAMP_AHEAD_MS + stamp;
  const message: PlaylistMessage = { v: PROTOCOL_VERSION, siteId, version, at, horizonEnd: at + 3600_000, entries };
  const checked = decodePlaylist.check(message);
  expect(checked.ok ? 'ok' : checked.error.reason).toBe('ok');
  await t.server.ctx.broker.publish(siteTopic(siteId, 'playlist'), encodeJson(message), { qos: 1, retain: true });
}

const cached = (siteId: string, m: Media) => fs.existsSync(path.join(dir, 'sites', siteId, 'media-cache', `${m.sha256}.opus`));
const journal = (siteId: string) => fleet.site(siteId).agent.playout!.journal;

async function receipt(siteId: string, entryId: string): Promise<AsRunEvent> {
  return waitFor(`the receipt of ${entryId} at ${siteId}`, () => journal(siteId).get(entryId), start - Date.now() + 60_000, 100);
}

/** Frames the site's amplifier made heard between two server times. */
const heard = (siteId: string, from: number, to: number) => fleet.site(siteId).device.heardFramesBetween(from - trueOffset(), to - trueOffset());
const frames = (m: Media) => (m.seconds * 1000) / 20;

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-parts-');
  t = await startTestServer();
  await importLaoCai2025(t);
  vi = await tone('Bản tin tiếng Việt', 2, 440);
  hmn = await tone("Bản tin tiếng H'Mông", 6, 550);
  ium = await tone('Bản tin tiếng Dao', 1.5, 660);
  urgent = await tone('Thông báo khẩn', 1, 880);
  fleet = await startPlayoutFleet(t, { sites: 4, area: COMMUNE, dir, heartbeatS: 1, connectTimeoutMs: 30_000 });
  const ids = fleet.ids();
  sites.whole = ids[0]!;
  sites.missing = ids[1]!;
  sites.preempted = ids[2]!;
  sites.cancelled = ids[3]!;
  for (const id of ids) {
    const list: EngineEvent[] = [];
    events.set(id, list);
    unsubscribe.push(fleet.site(id).agent.playout!.engine.on((e) => list.push(e)));
  }

  start = Date.now() + 20_000;
  const three = [part('vi', vi), part('hmn', hmn), part('ium', ium)];
  await publishPlaylist(sites.whole, [programme('whole', three)], 'whole');
  await publishPlaylist(sites.missing, [programme('missing', [part('vi', vi), part('hmn', MISSING), part('ium', ium)])], 'missing');
  // The urgent one is due 3 s into the 6 s H'Mông version: inside it even if the programme starts up to 3 s late.
  const urgentAt = start + vi.seconds * 1000 + 3000;
  const urgentEntry: PlaylistEntryMessage = {
    id: `urgent@${urgentAt}`,
    kind: 'bulletin',
    itemId: 'urgent',
    mediaId: urgent.id,
    sha256: urgent.sha256,
    bytes: urgent.bytes,
    startAt: urgentAt,
    durationMs: urgent.durationMs,
    priority: 'emergency',
  };
  await publishPlaylist(sites.preempted, [programme('preempted', three), urgentEntry], 'preempted');
  await publishPlaylist(sites.cancelled, [programme('cancelled', three)], 'cancelled');

  const needs = (id: string) => (id === sites.missing ? [vi, ium] : id === sites.preempted ? [vi, hmn, ium, urgent] : [vi, hmn, ium]);
  const ready = () =>
    ids.every(
      (id) =>
        fleet
          .site(id)
          .agent.playout!.executor.heldEntries()
          .some((e) => e.parts) && needs(id).every((m) => cached(id, m)),
    );
  await waitFor('every site to hold its playlist with the files the library has in its cache', ready, start - Date.now() - 6000, 100).catch((e: Error) => {
    const held = ids.map((id) => `${id}: ${fleet.site(id).agent.playout!.executor.heldEntries().length} entries, invalid ${fleet.site(id).agent.stats.invalidPlaylists}`);
    const files = ids.map((id) => `${id}: ${fs.readdirSync(path.join(dir, 'sites', id), { recursive: true }).join(' ')}`);
    throw new Error(`${e.message}\n${held.join('\n')}\n${files.join('\n')}`);
  });
}, 180_000);

afterAll(async () => {
  for (const u of unsubscribe) u();
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('a bulletin in several languages at real agents', () => {
  it('the agents declared that they take playlist parts in their retained online state', async () => {
    // The embedded broker's retained store holds what the agent itself published.
    const broker = t.server.ctx.broker as unknown as { retained(topic: string): Promise<Buffer | undefined> };
    for (const id of fleet.ids()) {
      const state = await waitFor(`${id}'s retained state`, () => broker.retained(siteTopic(id, 'state')), 10_000, 50);
      expect(JSON.parse(state.toString('utf8')), id).toMatchObject({ state: 'online', features: expect.arrayContaining([PLAYLIST_PARTS_FEATURE]) });
    }
  });

  it('the entry withdrawn while its H’Mông version plays: that version partial, the Dao one skipped, both cancelled', async () => {
    const id = sites.cancelled;
    const entryId = `cancelled@${start}`;
    // Positive signal that part 2 is on air: more frames heard since the start than the Vietnamese version has.
    await waitFor('the H’Mông version to be on air', () => heard(id, start - 1000, Date.now() + 1000) > frames(vi) + 25, start - Date.now() + 30_000, 50);
    await publishPlaylist(id, [], 'cancelled-2', 1);
    const r = await receipt(id, entryId);
    expect(r).toMatchObject({ outcome: 'partial', reason: 'cancelled', mediaId: vi.id });
    expect(r.parts?.map((p) => [p.language, p.outcome, p.reason])).toEqual([
      ['vi', 'played', undefined],
      ['hmn', 'partial', 'cancelled'],
      ['ium', 'skipped', 'cancelled'],
    ]);
    const [pvi, phmn] = r.parts!;
    expect(pvi!.frames).toBe(frames(vi));
    expect(phmn!.startedAt).toBe(pvi!.endedAt);
    expect(phmn!.frames!).toBeGreaterThan(0);
    expect(phmn!.frames!).toBeLessThan(frames(hmn));
    expect(r.frames).toBe(pvi!.frames! + phmn!.frames!);
  });

  it('three versions play back to back, in order, as one programme', async () => {
    const id = sites.whole;
    const r = await receipt(id, `whole@${start}`);
    expect(r).toMatchObject({ outcome: 'played', mediaId: vi.id, frames: frames(vi) + frames(hmn) + frames(ium) });
    expect(r.parts?.map((p) => [p.language, p.mediaId, p.outcome, p.frames])).toEqual([
      ['vi', vi.id, 'played', frames(vi)],
      ['hmn', hmn.id, 'played', frames(hmn)],
      ['ium', ium.id, 'played', frames(ium)],
    ]);
    const [a, b, c] = r.parts!;
    expect(a!.startedAt).toBe(r.startedAt);
    expect(b!.startedAt).toBe(a!.endedAt);
    expect(c!.startedAt).toBe(b!.endedAt);
    expect(c!.endedAt).toBe(r.endedAt);
    // What the amplifier made heard over the programme is every frame of the three versions.
    expect(heard(id, r.startedAt!, r.endedAt!)).toBe(r.frames);
    // One programme: started once, ended once, the amplifier switched on once and not off before its end.
    const mine = events.get(id)!.filter((e) => e.type === 'amplifier' || ('id' in e && e.id === r.entryId));
    expect(mine.filter((e) => e.type === 'started')).toHaveLength(1);
    expect(mine.filter((e) => e.type === 'ended')).toHaveLength(1);
    const amp = mine.filter((e): e is Extract<EngineEvent, { type: 'amplifier' }> => e.type === 'amplifier');
    expect(amp.filter((e) => e.on)).toHaveLength(1);
    expect(amp.filter((e) => !e.on && e.at < r.endedAt!)).toHaveLength(0);
  });

  it('a version whose file never came is skipped, and the next plays at once', async () => {
    const id = sites.missing;
    const r = await receipt(id, `missing@${start}`);
    expect(r).toMatchObject({ outcome: 'partial', reason: 'no_media', frames: frames(vi) + frames(ium) });
    expect(r.parts?.map((p) => [p.language, p.outcome, p.reason, p.frames])).toEqual([
      ['vi', 'played', undefined, frames(vi)],
      ['hmn', 'skipped', 'no_media', undefined],
      ['ium', 'played', undefined, frames(ium)],
    ]);
    const [a, , c] = r.parts!;
    expect(c!.startedAt).toBe(a!.endedAt);
    expect(heard(id, r.startedAt!, r.endedAt!)).toBe(r.frames);
  });

  it('a higher priority inside the H’Mông version suspends the whole programme, which resumes after it', async () => {
    const id = sites.preempted;
    const r = await receipt(id, `preempted@${start}`);
    const u = await receipt(id, `urgent@${start + vi.seconds * 1000 + 3000}`);
    expect(u).toMatchObject({ outcome: 'played', frames: frames(urgent) });
    expect(r.outcome).toBe('played');
    expect(r.parts?.map((p) => [p.language, p.outcome, p.frames])).toEqual([
      ['vi', 'played', frames(vi)],
      ['hmn', 'played', frames(hmn)],
      ['ium', 'played', frames(ium)],
    ]);
    const [a, b, c] = r.parts!;
    // The urgent bulletin sits inside the H'Mông version; the Dao version follows the rest of it.
    expect(a!.endedAt!).toBeLessThanOrEqual(u.startedAt!);
    expect(b!.startedAt!).toBeLessThanOrEqual(u.startedAt!);
    expect(u.endedAt!).toBeLessThanOrEqual(b!.endedAt!);
    expect(c!.startedAt).toBe(b!.endedAt);
    // Suspended once by it and resumed once, as a whole.
    const mine = events.get(id)!;
    const pre = mine.filter((e) => e.type === 'preempted' && e.id === r.entryId);
    expect(pre.map((e) => e.type === 'preempted' && e.by)).toEqual([u.entryId]);
    expect(mine.filter((e) => e.type === 'resumed' && e.id === r.entryId)).toHaveLength(1);
    // Everything heard from the programme's start to its end is the programme and the urgent bulletin.
    expect(heard(id, r.startedAt!, r.endedAt!)).toBe(r.frames! + u.frames!);
  });
});
