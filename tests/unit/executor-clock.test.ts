/**
 * The playlist executor and the agent's clock (edge-agent/playout/playlist-executor.ts),
 * against a fake engine, cache and clock: an unverified clock holds non-urgent
 * entries (never alerts), a receipt waits for the clock check after its play
 * and is written on the best clock known, and a file that fails its checksum
 * when handed over is not played: the entry waits for the fresh copy.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlaylistExecutor } from '../../edge-agent/playout/playlist-executor.ts';
import { ReceiptJournal } from '../../edge-agent/playout/receipts.ts';
import type { ClockState } from '../../edge-agent/playout/clock-sync.ts';
import type { AddResult, EngineEvent, Programme } from '../../edge-agent/playout/engine.ts';
import type { MediaCacheReport, MediaRef } from '../../edge-agent/media-cache/types.ts';
import { PROTOCOL_VERSION, type PlaylistEntryMessage } from '../../protocol/index.ts';

const T0 = 1_800_000_000_000;
const SHA = (c: string) => c.repeat(64);

class FakeEngine {
  added: Programme[] = [];
  private listeners = new Set<(e: EngineEvent) => void>();
  add(p: Programme): AddResult {
    this.added.push(p);
    return { ok: true };
  }
  cancel() {
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

function entry(id: string, startAt: number, over: Partial<PlaylistEntryMessage> = {}): PlaylistEntryMessage {
  return { id, kind: 'bulletin', itemId: 'item-1', mediaId: `m-${id}`, sha256: SHA(id[0]!), bytes: 1000, startAt, durationMs: 10_000, priority: 'normal', ...over };
}

function setup() {
  const engine = new FakeEngine();
  const have = new Set<string>();
  const damaged = new Set<string>();
  const cache = {
    setNeeded: (_n: readonly MediaRef[]) => {},
    has: (s: string) => have.has(s),
    pathOf: (s: string) => (have.has(s) ? `/cache/${s}` : null),
    verify: async (s: string) => {
      if (!damaged.has(s)) return true;
      damaged.delete(s);
      have.delete(s); // dropped; the fresh copy comes later
      return false;
    },
    report: (): MediaCacheReport => ({
      cacheBytes: 0,
      limitBytes: 1,
      missing: [],
      overLimit: null,
      counters: { bytesFetched: 0, downloads: 0, retries: 0, resumes: 0, checksumFailures: 0, evictions: 0 },
    }),
  };
  const clock = {
    gate: 'hold' as 'ok' | 'hold',
    now: { synced: false, offsetMs: null, uncertaintyMs: null, stepPending: false } as ClockState,
    checks: 0,
    confirms: [] as Array<() => void>,
  };
  const journal = new ReceiptJournal({ now: () => Date.now() });
  const executor = new PlaylistExecutor({
    siteId: 'site-1',
    engine,
    serverNow: () => Date.now(),
    cache,
    journal,
    openSource: async () => ({ frame: () => null }),
    prepareAheadMs: 5000,
    clock: {
      state: () => clock.now,
      gate: () => clock.gate,
      check: () => void clock.checks++,
      confirm: () => new Promise<void>((r) => clock.confirms.push(r)),
    },
  });
  return { engine, have, damaged, clock, journal, executor };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PlaylistExecutor and the clock', () => {
  it('holds a bulletin while the clock is not verified, neither playing nor expiring it; an alert entry plays at once', async () => {
    const { engine, have, clock, journal, executor } = setup();
    await journal.open();
    await executor.start();
    have.add(SHA('b'));
    have.add(SHA('a'));
    await executor.accept({
      v: PROTOCOL_VERSION,
      siteId: 'site-1',
      version: 'v1',
      at: T0,
      horizonEnd: T0 + 3600_000,
      entries: [entry('b@1', T0 + 2000), entry('a@1', T0 + 2000, { kind: 'alert', priority: 'emergency', sha256: SHA('a') })],
    });
    await vi.advanceTimersByTimeAsync(15_000); // past the bulletin's window by the unverified clock
    expect(engine.added.map((p) => p.id)).toEqual(['a@1']);
    expect(journal.has('b@1')).toBe(false);
    clock.gate = 'ok';
    await vi.advanceTimersByTimeAsync(300);
    // Now judged by the verified clock: its window is over, so it is settled (not played late).
    expect(engine.added.map((p) => p.id)).toEqual(['a@1']);
    expect(journal.has('b@1')).toBe(true);
  });

  it('checks the clock when it hands an entry over, and writes the receipt on the best clock known after the play', async () => {
    const { engine, have, clock, journal, executor } = setup();
    clock.gate = 'ok';
    clock.now = { synced: true, offsetMs: 0, uncertaintyMs: 1, stepPending: false };
    await journal.open();
    await executor.start();
    have.add(SHA('c'));
    await executor.accept({ v: PROTOCOL_VERSION, siteId: 'site-1', version: 'v1', at: T0, horizonEnd: T0 + 3600_000, entries: [entry('c@1', T0 + 10_000)] });
    await vi.advanceTimersByTimeAsync(6000);
    expect(engine.added.map((p) => p.id)).toEqual(['c@1']);
    expect(clock.checks).toBe(1);
    engine.emit({ type: 'started', id: 'c@1', kind: 'bulletin', scheduledAt: T0 + 10_000, at: T0 + 10_002, startErrorMs: 2, late: false });
    // The server's clock steps +5 s while it plays: the check after the play learns it.
    clock.now = { synced: true, offsetMs: 5000, uncertaintyMs: 1.5, stepPending: false };
    engine.emit({ type: 'ended', id: 'c@1', at: T0 + 20_002, frames: 500, startedAt: T0 + 10_002, startErrorMs: 2, late: false });
    await vi.advanceTimersByTimeAsync(10);
    expect(journal.has('c@1')).toBe(false); // waits for the check
    await vi.advanceTimersByTimeAsync(2000);
    expect(engine.added).toHaveLength(1); // not handed again while its receipt waits
    clock.confirms.shift()!();
    await vi.advanceTimersByTimeAsync(10);
    await journal.flushed();
    expect(journal.get('c@1')).toMatchObject({
      outcome: 'played',
      clockSynced: true,
      clockErrorMs: -5000,
      clockUncertaintyMs: 1.5,
      startedAt: T0 + 15_002,
      endedAt: T0 + 25_002,
      startErrorMs: 5002,
    });
  });

  it('a file that fails its checksum when handed over is not played: the entry waits for the fresh copy', async () => {
    const { engine, have, damaged, clock, journal, executor } = setup();
    clock.gate = 'ok';
    await journal.open();
    await executor.start();
    have.add(SHA('d'));
    damaged.add(SHA('d'));
    await executor.accept({ v: PROTOCOL_VERSION, siteId: 'site-1', version: 'v1', at: T0, horizonEnd: T0 + 3600_000, entries: [entry('d@1', T0 + 10_000)] });
    await vi.advanceTimersByTimeAsync(6000);
    expect(engine.added).toHaveLength(0);
    expect(journal.has('d@1')).toBe(false);
    have.add(SHA('d')); // fetched again
    await vi.advanceTimersByTimeAsync(300);
    expect(engine.added.map((p) => p.id)).toEqual(['d@1']);
  });
});
