/**
 * The playlist executor (edge-agent/playout/playlist-executor.ts) against a
 * fake engine and a fake cache, with a fake clock: what it hands to the
 * engine and when, what the cache is told it needs, the receipt it writes for
 * each outcome, and that a saved playlist plays after a restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlaylistExecutor } from '../../edge-agent/playout/playlist-executor.ts';
import { ReceiptJournal } from '../../edge-agent/playout/receipts.ts';
import { DROPPED_FILE, MAX_DROPPED } from '../../edge-agent/playout/dropped-entries.ts';
import { readStateFile } from '../../edge-agent/state-file.ts';
import type { AddResult, EngineEvent, Programme, PlayoutFailure } from '../../edge-agent/playout/engine.ts';
import type { MediaCacheReport, MediaRef } from '../../edge-agent/media-cache/types.ts';
import { PROTOCOL_VERSION, type PlaylistEntryMessage, type PlaylistMessage } from '../../protocol/index.ts';

const T0 = 1_800_000_000_000;
const SHA = (c: string) => c.repeat(64);

class FakeEngine {
  added: Programme[] = [];
  cancelled: Array<{ id: string; reason?: PlayoutFailure }> = [];
  private listeners = new Set<(e: EngineEvent) => void>();
  add(p: Programme): AddResult {
    this.added.push(p);
    return { ok: true };
  }
  cancel(id: string, reason?: PlayoutFailure) {
    this.cancelled.push({ id, ...(reason ? { reason } : {}) });
    return true;
  }
  on(l: (e: EngineEvent) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(e: EngineEvent) {
    for (const l of this.listeners) l(e);
  }
}

class FakeCache {
  needed: MediaRef[] = [];
  have = new Set<string>();
  setNeeded(n: readonly MediaRef[]) {
    this.needed = [...n];
  }
  has(sha: string) {
    return this.have.has(sha);
  }
  pathOf(sha: string) {
    return this.have.has(sha) ? `/cache/${sha}` : null;
  }
  report(): MediaCacheReport {
    return {
      cacheBytes: 1234,
      limitBytes: 10_000,
      missing: [],
      overLimit: null,
      counters: { bytesFetched: 0, downloads: 0, retries: 0, resumes: 0, checksumFailures: 0, evictions: 0 },
    };
  }
}

function entry(id: string, startAt: number, over: Partial<PlaylistEntryMessage> = {}): PlaylistEntryMessage {
  return { id, kind: 'bulletin', itemId: 'item-1', mediaId: `m-${id}`, sha256: SHA(id[0]!), bytes: 1000, startAt, durationMs: 60_000, priority: 'normal', ...over };
}
function playlist(version: string, entries: PlaylistEntryMessage[], at = T0): PlaylistMessage {
  return { v: PROTOCOL_VERSION, siteId: 'site-1', version, at, horizonEnd: at + 48 * 3600_000, entries };
}

const dirs: string[] = [];
function stateDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-exec-'));
  dirs.push(d);
  return d;
}

/** The ids `stateDir/playlist-dropped.json` holds (dropped entries still owed a receipt). */
async function droppedOnDisk(dir: string): Promise<string[]> {
  // Read as the agent's next start reads it (the newest good copy, else the previous one): a save renames
  // the file aside before it puts the new one in its place, and a moment with neither is not "none kept".
  const read = await readStateFile(path.join(dir, DROPPED_FILE), 'dropped entries', () => {});
  if (read.damaged) throw new Error(`${DROPPED_FILE} is damaged`);
  if (read.absent) return [];
  return (read.value as { entries: Array<{ entry: { id: string } }> }).entries.map((e) => e.entry.id);
}

/** `gate`: the agent's clock gate (absent: the clock counts as verified). */
function setup(dir?: string, gate?: () => 'ok' | 'hold') {
  const engine = new FakeEngine();
  const cache = new FakeCache();
  const journal = new ReceiptJournal(dir ? { file: path.join(dir, 'asrun.journal'), now: () => Date.now() } : { now: () => Date.now() });
  const opened: string[] = [];
  const executor = new PlaylistExecutor({
    siteId: 'site-1',
    engine,
    serverNow: () => Date.now(),
    clockUncertaintyMs: () => 2.5,
    cache,
    journal,
    ...(dir ? { stateDir: dir } : {}),
    openSource: async (p) => (opened.push(p), { frame: () => null }),
    prepareAheadMs: 5000,
    ...(gate ? { clock: { state: () => ({ synced: gate() === 'ok', offsetMs: 0, uncertaintyMs: 2.5, stepPending: false }), gate, check: () => {}, confirm: async () => {} } } : {}),
  });
  made.push({ journal, executor });
  return { engine, cache, journal, executor, opened };
}
/** Every executor and journal `setup` made: each test's are stopped and closed after it, so no file handle outlives its test. */
const made: Array<{ journal: ReceiptJournal; executor: PlaylistExecutor }> = [];

/**
 * A first run on `dir` that held a@1 (a minute on) and b@1 (13 h on) and was killed before a@1: a@1 is the
 * occurrence the next runs missed and owe a receipt. Answers b@1's start.
 */
async function killedBeforeMissed(dir: string): Promise<number> {
  const first = setup(dir);
  await first.journal.open();
  await first.executor.start();
  const nextAt = T0 + 13 * 3600_000;
  await first.executor.accept(playlist('v1', [entry('a@1', T0 + 60_000), entry('b@1', nextAt)]));
  first.executor.stop();
  await first.journal.close();
  return nextAt;
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  for (const { journal, executor } of made.splice(0)) {
    executor.stop();
    await journal.close();
  }
  vi.useRealTimers();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('PlaylistExecutor', () => {
  it('hands an entry to the engine ahead of its start and turns the engine events into its receipt', async () => {
    const { engine, cache, journal, executor, opened } = setup();
    await journal.open();
    await executor.start();
    cache.have.add(SHA('a'));
    expect(await executor.accept(playlist('v1', [entry('a@1', T0 + 60_000, { volume: 70, priority: 'priority' })]))).toBe('new');
    expect(cache.needed).toEqual([{ mediaId: 'm-a@1', sha256: SHA('a'), bytes: 1000 }]);
    await vi.advanceTimersByTimeAsync(50_000);
    expect(engine.added).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(6_000); // now within prepareAhead of the start
    expect(opened).toEqual([`/cache/${SHA('a')}`]);
    expect(engine.added).toHaveLength(1);
    expect(engine.added[0]).toMatchObject({ id: 'a@1', kind: 'bulletin', priority: 'priority', startAt: T0 + 60_000, volume: 70, whenPreempted: 'resume', notAfter: T0 + 120_000 });
    engine.emit({ type: 'started', id: 'a@1', kind: 'bulletin', scheduledAt: T0 + 60_000, at: T0 + 60_004, startErrorMs: 4, late: false });
    engine.emit({ type: 'ended', id: 'a@1', at: T0 + 120_004, frames: 3000, startedAt: T0 + 60_004, startErrorMs: 4, late: false });
    await journal.flushed();
    expect(journal.get('a@1')).toMatchObject({
      type: 'as_run',
      siteId: 'site-1',
      entryId: 'a@1',
      itemId: 'item-1',
      mediaId: 'm-a@1',
      scheduledAt: T0 + 60_000,
      outcome: 'played',
      startedAt: T0 + 60_004,
      endedAt: T0 + 120_004,
      startErrorMs: 4,
      frames: 3000,
      playlistVersion: 'v1',
      clockUncertaintyMs: 2.5,
    });
    expect(executor.report()).toEqual({ version: 'v1', entries: 1, missing: 0, cacheBytes: 1234, cacheLimitBytes: 10_000 });
  });

  it('writes skipped receipts: no_media at the start, expired past the window, preempted from the engine, partial when cut', async () => {
    const { engine, cache, journal, executor } = setup();
    await journal.open();
    await executor.start();
    cache.have.add(SHA('p'));
    cache.have.add(SHA('q'));
    await executor.accept(
      playlist('v1', [
        entry('gone@1', T0 - 120_000), // over before the agent got the playlist
        entry('nomedia@1', T0 + 10_000),
        entry('p@1', T0 + 20_000),
        entry('q@1', T0 + 30_000),
      ]),
    );
    expect(executor.report().missing).toBe(1);
    await vi.advanceTimersByTimeAsync(40_000);
    engine.emit({ type: 'failed', id: 'p@1', at: T0 + 20_000, reason: 'preempted', detail: 'a higher priority held the site', frames: 0 });
    engine.emit({ type: 'started', id: 'q@1', kind: 'bulletin', scheduledAt: T0 + 30_000, at: T0 + 30_200, startErrorMs: 200, late: true });
    engine.emit({ type: 'failed', id: 'q@1', at: T0 + 35_000, reason: 'amp_fault', detail: 'overheat', frames: 240, startedAt: T0 + 30_200, startErrorMs: 200 });
    await journal.flushed();
    expect(journal.get('gone@1')).toMatchObject({ outcome: 'skipped', reason: 'expired' });
    expect(journal.get('nomedia@1')).toMatchObject({ outcome: 'skipped', reason: 'no_media' });
    expect(journal.get('p@1')).toMatchObject({ outcome: 'skipped', reason: 'preempted', frames: 0 });
    expect(journal.get('p@1')).not.toHaveProperty('startedAt');
    expect(journal.get('q@1')).toMatchObject({ outcome: 'partial', reason: 'amp_fault', startedAt: T0 + 30_200, endedAt: T0 + 35_000, startErrorMs: 200, frames: 240 });
  });

  it('stops an entry that left the playlist while it played (cancelled), and ignores an older or equal playlist', async () => {
    const { engine, cache, journal, executor } = setup();
    await journal.open();
    await executor.start();
    cache.have.add(SHA('a'));
    await executor.accept(playlist('v1', [entry('a@1', T0 + 1000)]));
    await vi.advanceTimersByTimeAsync(2000);
    expect(engine.added.map((p) => p.id)).toEqual(['a@1']);
    expect(await executor.accept(playlist('v1', [entry('a@1', T0 + 1000)]))).toBe('unchanged');
    expect(await executor.accept(playlist('v0', [], T0 - 1))).toBe('stale');
    expect(await executor.accept({ ...playlist('v9', []), siteId: 'other-site' })).toBe('wrong_site');
    expect(await executor.accept(playlist('v2', [], T0 + 2000))).toBe('new');
    expect(engine.cancelled).toEqual([{ id: 'a@1', reason: 'cancelled' }]);
    expect(cache.needed).toEqual([]);
  });

  it('plays a saved playlist after a restart with the link down, and settles an entry the crash interrupted as partial', async () => {
    const dir = stateDir();
    const first = setup(dir);
    await first.journal.open();
    await first.executor.start();
    first.cache.have.add(SHA('a'));
    first.cache.have.add(SHA('b'));
    await first.executor.accept(playlist('v1', [entry('a@1', T0 + 1000), entry('b@1', T0 + 600_000)]));
    await vi.advanceTimersByTimeAsync(2000);
    first.engine.emit({ type: 'started', id: 'a@1', kind: 'bulletin', scheduledAt: T0 + 1000, at: T0 + 1001, startErrorMs: 1, late: false });
    await first.journal.flushed();
    first.executor.stop(); // killed: no receipt for a@1
    await first.journal.close();

    const second = setup(dir);
    second.cache.have.add(SHA('b'));
    await second.journal.open();
    await second.executor.start(); // no playlist message: the link is down
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toMatchObject({ outcome: 'partial', reason: 'error', startedAt: T0 + 1001 });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(second.engine.added.map((p) => p.id)).toEqual(['b@1']); // a@1 is not played a second time
    expect(second.executor.version).toBe('v1');
  });

  it('a receipt line torn by a power cut after a full play: unknown (it may have played in full), never partial, and not played again', async () => {
    const dir = stateDir();
    const first = setup(dir);
    await first.journal.open();
    await first.executor.start();
    first.cache.have.add(SHA('a'));
    await first.executor.accept(playlist('v1', [entry('a@1', T0 + 1000)]));
    await vi.advanceTimersByTimeAsync(2000);
    first.engine.emit({ type: 'started', id: 'a@1', kind: 'bulletin', scheduledAt: T0 + 1000, at: T0 + 1001, startErrorMs: 1, late: false });
    await vi.advanceTimersByTimeAsync(60_000);
    first.engine.emit({ type: 'ended', id: 'a@1', at: T0 + 61_001, frames: 3000, startedAt: T0 + 1001, startErrorMs: 1, late: false });
    await first.journal.flushed();
    expect(first.journal.get('a@1')).toMatchObject({ outcome: 'played' });
    first.executor.stop();
    await first.journal.close();
    const file = path.join(dir, 'asrun.journal');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, text.length - 40)); // the receipt line, cut near its end

    const second = setup(dir);
    second.cache.have.add(SHA('a'));
    await second.journal.open();
    await second.executor.start({ journalLost: false });
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toMatchObject({ outcome: 'unknown', reason: 'state_lost' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(second.engine.added).toEqual([]);
  });

  it('a receipt journal lost while the agent was off: what was due before the restart is unknown, what is due after plays', async () => {
    const dir = stateDir();
    const first = setup(dir);
    await first.journal.open();
    await first.executor.start();
    await first.executor.accept(playlist('v1', [entry('a@1', T0 + 1000), entry('b@1', T0 + 600_000)]));
    first.executor.stop();
    await first.journal.close();
    await vi.advanceTimersByTimeAsync(300_000);
    fs.rmSync(path.join(dir, 'asrun.journal'));

    const second = setup(dir);
    second.cache.have.add(SHA('b'));
    await second.journal.open();
    await second.executor.start({ journalLost: true });
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toMatchObject({ outcome: 'unknown', reason: 'state_lost' });
    await vi.advanceTimersByTimeAsync(300_000);
    expect(second.engine.added.map((p) => p.id)).toEqual(['b@1']);
  });

  it('back from an outage, given a playlist without the entry it missed (the server drops ended entries): that entry still gets its receipt, skipped expired, once the clock is verified', async () => {
    const dir = stateDir();
    const nextAt = await killedBeforeMissed(dir);
    await vi.advanceTimersByTimeAsync(nextAt - 30_000 - T0); // back 30 s before b@1

    let gate: 'ok' | 'hold' = 'hold';
    const second = setup(dir, () => gate);
    second.cache.have.add(SHA('b'));
    await second.journal.open();
    await second.executor.start();
    expect(await second.executor.accept(playlist('v2', [entry('b@1', nextAt)], Date.now()))).toBe('new');
    await vi.advanceTimersByTimeAsync(1000);
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toBeUndefined(); // not decided on an unverified clock
    gate = 'ok';
    await vi.advanceTimersByTimeAsync(1000);
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toMatchObject({ outcome: 'skipped', reason: 'expired', playlistVersion: 'v1', scheduledAt: T0 + 60_000 });
    expect(second.journal.get('a@1')!.detail).toContain('not running');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(second.engine.added.map((p) => p.id)).toEqual(['b@1']);
    await vi.waitFor(async () => expect(await droppedOnDisk(dir), 'settled, so no longer kept on disk').toEqual([]));
  });

  it('killed again during the start-up clock hold after a playlist dropped the entry it missed: the restart still owes it and writes its receipt once the clock is verified', async () => {
    const dir = stateDir();
    const nextAt = await killedBeforeMissed(dir);
    await vi.advanceTimersByTimeAsync(nextAt - 60_000 - T0);

    const second = setup(dir, () => 'hold');
    await second.journal.open();
    await second.executor.start();
    expect(await second.executor.accept(playlist('v2', [entry('b@1', nextAt)], Date.now()))).toBe('new');
    await vi.advanceTimersByTimeAsync(1000);
    await second.journal.flushed();
    expect(second.journal.get('a@1')).toBeUndefined();
    expect(await droppedOnDisk(dir), 'kept beside the playlist that no longer names it').toEqual(['a@1']);
    second.executor.stop(); // killed again within the hold
    await second.journal.close();
    await vi.advanceTimersByTimeAsync(5000);

    let gate: 'ok' | 'hold' = 'hold';
    const third = setup(dir, () => gate);
    third.cache.have.add(SHA('b'));
    await third.journal.open();
    await third.executor.start();
    expect(third.executor.version, 'the saved playlist is the newer one').toBe('v2');
    expect(await third.executor.accept(playlist('v2', [entry('b@1', nextAt)], Date.now()))).toBe('unchanged');
    await vi.advanceTimersByTimeAsync(1000);
    await third.journal.flushed();
    expect(third.journal.get('a@1')).toBeUndefined(); // still not decided on an unverified clock
    gate = 'ok';
    await vi.advanceTimersByTimeAsync(1000);
    await third.journal.flushed();
    expect(third.journal.get('a@1')).toMatchObject({ outcome: 'skipped', reason: 'expired', playlistVersion: 'v1', scheduledAt: T0 + 60_000 });
    await vi.waitFor(async () => expect(await droppedOnDisk(dir), 'settled, so no longer kept on disk').toEqual([]));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(third.engine.added.map((p) => p.id)).toEqual(['b@1']);
    expect(third.executor.stats.droppedForgotten).toBe(0);
  });

  it('playlists dropping more unsettled entries than one playlist holds: the newest are kept and settled, the oldest forgotten and counted', async () => {
    const dir = stateDir();
    let gate: 'ok' | 'hold' = 'hold';
    const { journal, executor } = setup(dir, () => gate);
    await journal.open();
    await executor.start();
    const batch = (name: string, from: number) => Array.from({ length: 400 }, (_, i) => entry(`${name}@${i}`, from + i * 1000, { durationMs: 1000 }));
    await executor.accept(playlist('v1', batch('a', T0 - 3 * 3600_000)));
    await executor.accept(playlist('v2', batch('b', T0 - 2 * 3600_000)));
    await executor.accept(playlist('v3', [])); // drops every b@; the a@ were dropped by v2: 800 owed
    expect(executor.stats.droppedForgotten).toBe(800 - MAX_DROPPED);
    const kept = await droppedOnDisk(dir);
    expect(kept).toHaveLength(MAX_DROPPED);
    expect(kept).not.toContain('a@0'); // the oldest by start
    expect(kept).toContain('a@399');
    gate = 'ok';
    await vi.waitFor(async () => expect(await droppedOnDisk(dir)).toEqual([]), { timeout: 20_000 });
    await journal.flushed();
    expect(journal.get('a@0')).toBeUndefined();
    expect(journal.get('a@399')).toMatchObject({ outcome: 'skipped', reason: 'expired', playlistVersion: 'v1' });
    expect(journal.get('b@0')).toMatchObject({ outcome: 'skipped', reason: 'expired', playlistVersion: 'v2' });
  });

  it('an entry the server withdrew before its window is over gets no receipt (the server knows it withdrew it)', async () => {
    const { journal, executor } = setup();
    await journal.open();
    await executor.start();
    await executor.accept(playlist('v1', [entry('a@1', T0 + 600_000), entry('b@1', T0 + 10_000)]));
    await vi.advanceTimersByTimeAsync(30_000); // b@1 started within its window (60 s)
    await executor.accept(playlist('v2', [], Date.now()));
    await vi.advanceTimersByTimeAsync(700_000);
    await journal.flushed();
    expect(journal.get('a@1')).toBeUndefined();
  });
});
