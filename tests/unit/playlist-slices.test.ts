/**
 * The playlist computation in steps (computePlaylistSteps) gives what the
 * one-piece pipeline gave, and the distributor driving it serves the event
 * loop during a run while keeping runs in order: a run asked for while
 * another computes publishes after it, never interleaved with it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { arbitrate } from '../../server/schedule/conflicts.ts';
import { PlaylistDistributor } from '../../server/schedule/distribution.ts';
import { BroadcastItemStore, startBounds, type ScheduledItem } from '../../server/schedule/items-store.ts';
import type { BroadcastItem, ScheduleSite } from '../../server/schedule/model.ts';
import {
  computePlaylistSteps,
  computePlaylists,
  defaultHorizon,
  playlistForSite,
  type MediaLookup,
  type PlaylistProblem,
  type SitePlaylist,
} from '../../server/schedule/playlist.ts';
import { resolveOccurrences, SiteDirectory, type ResolveProblem } from '../../server/schedule/resolve.ts';
import { SentEntryStore } from '../../server/schedule/sent-entries.ts';
import type { PlaylistMessage } from '../../protocol/index.ts';
import { DAY0, H, MIN, broadcastItem, index, laoCai, provinceSites, publishingBroker, scheduledItem, thon1, thon2, xaBatXat } from '../helpers/schedule-fixture.ts';
import { openTestStore } from '../helpers/store.ts';

const SHA = 'a'.repeat(64);
const media: MediaLookup = (id) => (id === 'm1' ? { sha256: SHA } : id === 'm2' ? { sha256: 'b'.repeat(64) } : undefined);
const horizon = defaultHorizon(DAY0);

/** Every kind of work the pipeline does: area and site targets, a recurrence, arbitration and a queue, problems of each stage. */
const schedule: BroadcastItem[] = [
  broadcastItem({ id: 'daily', targets: { areaKeys: [laoCai.key], siteIds: [] }, start: { dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' } }),
  broadcastItem({ id: 'flood', mediaId: 'm2', priority: 'emergency', targets: { areaKeys: [thon2.key], siteIds: [] }, start: { at: DAY0 + 6 * H + 5 * MIN } }),
  broadcastItem({ id: 'queued', queue: true, targets: { areaKeys: [thon1.key], siteIds: [] }, start: { at: DAY0 + 6 * H + 2 * MIN } }),
  broadcastItem({ id: 'clash', targets: { areaKeys: [], siteIds: ['bx-station'] }, start: { at: DAY0 + 6 * H + MIN } }),
  broadcastItem({ id: 'no-media', mediaId: 'gone', targets: { areaKeys: [xaBatXat.key], siteIds: [] }, start: { at: DAY0 + 9 * H } }),
  broadcastItem({ id: 'nowhere', targets: { areaKeys: ['2025.99999'], siteIds: ['nope'] } }),
  broadcastItem({ id: 'draft', status: 'draft', targets: { areaKeys: [laoCai.key], siteIds: [] } }),
];

/** The pipeline as it was before it was cut in steps: resolveOccurrences, arbitrate, then a playlist per active site. */
function onePiece(items: readonly BroadcastItem[], dir: SiteDirectory) {
  const byId = new Map(items.map((i) => [i.id, i]));
  const { occurrences, problems } = resolveOccurrences(items, dir, horizon);
  const plans = arbitrate(occurrences, byId);
  const playlists = new Map<string, SitePlaylist>();
  const all: Array<ResolveProblem | PlaylistProblem> = [...problems];
  for (const site of dir.activeSites()) {
    const r = playlistForSite(plans.get(site.siteId) ?? { siteId: site.siteId, plays: [], skipped: [] }, byId, media, horizon);
    playlists.set(site.siteId, r.playlist);
    for (const p of r.problems) if (!all.some((q) => q.itemId === p.itemId && q.code === p.code)) all.push(p);
  }
  return { playlists, plans, problems: all };
}

describe('computePlaylistSteps', () => {
  it('gives what the one-piece pipeline gave: playlists, plans (skips and queue shifts) and problems, in the same order', () => {
    const dir = new SiteDirectory(index, provinceSites);
    const steps = computePlaylistSteps(schedule, dir, media, horizon);
    let r = steps.next();
    while (!r.done) r = steps.next();
    const want = onePiece(schedule, dir);
    expect(r.value).toEqual(want);
    expect([...r.value.playlists.keys()]).toEqual([...want.playlists.keys()]);
    expect([...r.value.plans.keys()]).toEqual([...want.plans.keys()]);
    expect(computePlaylists(schedule, dir, media, horizon)).toEqual(want);
    // The fixture does exercise arbitration and every problem kind it names.
    expect(want.plans.get('bx-2')!.skipped.map((s) => s.reason)).toContain('higher_priority');
    expect(want.plans.get('bx-1a')!.plays.some((p) => p.itemId === 'queued' && p.startAt > DAY0 + 6 * H + 2 * MIN)).toBe(true);
    expect(want.problems.map((p) => p.code).sort()).toEqual(['unknown_area', 'unknown_media', 'unknown_site']);
  });

  it('stops between pieces of bounded work: an item reaching 2,000 sites is placed in slices, then one step per site', () => {
    const many: ScheduleSite[] = Array.from({ length: 2000 }, (_, k) => ({ siteId: `s${String(k).padStart(4, '0')}`, areaId: k % 2 ? thon1.id : thon2.id }));
    const dir = new SiteDirectory(index, many);
    const items = [broadcastItem({ id: 'all', targets: { areaKeys: [laoCai.key], siteIds: [] } })];
    const steps = computePlaylistSteps(items, dir, media, horizon);
    let yields = 0;
    const hints: string[] = [];
    let r = steps.next();
    while (!r.done) {
      yields++;
      if (r.value) hints.push(r.value);
      r = steps.next();
    }
    expect(hints).toEqual(['wide-next']);
    // One before the area item resolves ('wide-next') and one after, one per 256 of its sites, one per site arbitrated, one per playlist.
    expect(yields).toBe(2 + Math.floor(2000 / 256) + 2000 + 2000);
    expect(r.value).toEqual(onePiece(items, dir));
  });
});

describe('PlaylistDistributor in slices', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  // SQLite: its queries settle without I/O, so "in one piece" below really holds the loop (PostgreSQL's round trips would serve it).
  async function setup(sliceMs: number) {
    const store = await openTestStore('sqlite');
    const db = store.db;
    const items = new BroadcastItemStore(db);
    const published: PlaylistMessage[] = [];
    const broker = publishingBroker(async (_topic, payload) => {
      if (payload.length > 0) published.push(JSON.parse(payload.toString()) as PlaylistMessage);
    });
    const dist = new PlaylistDistributor({
      db,
      items,
      sent: new SentEntryStore(db),
      directory: () => new SiteDirectory(index, provinceSites),
      media: (id) => (id === 'm1' ? { sha256: SHA, bytes: 12_345 } : undefined),
      broker,
      held: () => undefined,
      log: { info() {}, warn() {}, error() {} },
      now: () => DAY0,
      horizonMs: 48 * H,
      recomputeMs: 60_000,
      sliceMs,
    });
    cleanups.push(async () => {
      dist.stop();
      await store.close();
    });
    const save = (over: Partial<ScheduledItem> & { id: string }) => {
      const item = scheduledItem(over);
      return items.save(item, startBounds(item, undefined), [xaBatXat.id]);
    };
    return { dist, published, save };
  }

  it('serves the event loop during a run, and publishes what a run in one piece publishes', async () => {
    const sliced = await setup(0);
    const whole = await setup(Number.POSITIVE_INFINITY);
    for (const s of [sliced, whole]) await s.save({ id: 'daily', targets: { areaKeys: [laoCai.key], siteIds: [] } });

    const servedDuring = async (run: Promise<unknown>) => {
      let done = false;
      const finished = run.then(() => (done = true));
      const served = await new Promise<boolean>((resolve) => setImmediate(() => resolve(!done)));
      await finished;
      return served;
    };
    expect(await servedDuring(sliced.dist.refresh('start'))).toBe(true);
    // In one piece (and a broker that answers without I/O) nothing else runs until it is over.
    expect(await servedDuring(whole.dist.refresh('start'))).toBe(false);
    expect(sliced.published).toEqual(whole.published);
    expect(sliced.published).toHaveLength(5);
  });

  it('a run asked for while one computes publishes after it, with its own results, never interleaved', async () => {
    const { dist, published, save } = await setup(0);
    await save({ id: 'first', targets: { areaKeys: [laoCai.key], siteIds: [] } });
    const a = dist.refresh('a');
    // The first run has taken its inputs and is computing in slices: a change now is the next run's.
    await new Promise((resolve) => setImmediate(resolve));
    await save({ id: 'second', targets: { areaKeys: [xaBatXat.key], siteIds: [] }, start: { at: DAY0 + 9 * H } });
    const b = dist.refresh('b');
    expect((await a).published).toBe(5);
    expect((await b).published).toBe(4);
    const runOf = (m: PlaylistMessage) => (m.entries.some((e) => e.itemId === 'second') ? 'b' : 'a');
    expect(published.map(runOf)).toEqual(['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b']);
    expect(dist.status('bx-1a').desired?.entries.map((e) => e.itemId)).toEqual(['first', 'second']);
  });
});
