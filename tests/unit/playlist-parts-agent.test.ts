/**
 * An entry in several languages at the agent: the parts played back to back
 * as one programme source (edge-agent/playout/parts.ts), what each part's
 * receipt says, and the playlist executor handing such an entry to a fake
 * engine with a fake cache.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PartsSource, partsReceipt, mediaRefsOf } from '../../edge-agent/playout/parts.ts';
import { PlaylistExecutor } from '../../edge-agent/playout/playlist-executor.ts';
import { ReceiptJournal } from '../../edge-agent/playout/receipts.ts';
import type { AddResult, EngineEvent, Programme, ProgrammeSource } from '../../edge-agent/playout/engine.ts';
import type { MediaCacheReport, MediaRef } from '../../edge-agent/media-cache/types.ts';
import { PROTOCOL_VERSION, type AsRunEvent, type PlaylistEntryMessage } from '../../protocol/index.ts';
import { encodeRecord } from '../../edge-agent/playout/journal-format.ts';

/** A source of `n` frames whose every sample is `tag`, so a frame says which part it came from. */
function tagged(tag: number, n: number): ProgrammeSource & { closed: boolean } {
  return {
    closed: false,
    frame(i: number) {
      return i >= 0 && i < n ? new Int16Array(4).fill(tag) : null;
    },
    close() {
      this.closed = true;
    },
  };
}

/** Pull frames as the engine does, from `from`, until the source ends; each frame's tag in order. */
function pull(s: ProgrammeSource, from = 0, until = Infinity, t0 = 1000): number[] {
  const out: number[] = [];
  for (let i = from; i < until; i++) {
    const f = s.frame(i, t0 + i * 20);
    if (!f) break;
    out.push(f[0]!);
  }
  return out;
}

const LANGS = [
  { language: 'vi', mediaId: 'm-vi' },
  { language: 'hmn', mediaId: 'm-hmn' },
  { language: 'ium', mediaId: 'm-ium' },
];

describe('PartsSource: the parts of one programme, back to back', () => {
  it('plays every part in order with no frame between them', () => {
    const s = new PartsSource(3);
    s.attach(0, tagged(1, 3));
    s.attach(1, tagged(2, 2));
    s.attach(2, tagged(3, 4));
    expect(pull(s)).toEqual([1, 1, 1, 2, 2, 3, 3, 3, 3]);
    expect(s.frame(9, 0)).toBeNull();
  });

  it('skips a part with no file at its turn and plays the next from the same frame', () => {
    const s = new PartsSource(3);
    s.attach(0, tagged(1, 2));
    s.attach(2, tagged(3, 2));
    expect(pull(s)).toEqual([1, 1, 3, 3]);
    expect(s.laid().map((t) => [t.part, t.start, t.end, t.skipped])).toEqual([
      [0, 0, 2, undefined],
      [1, 2, 2, 'no_media'],
      [2, 2, 4, undefined],
    ]);
  });

  it('a file attached before its turn plays; one attached after it does not', () => {
    const s = new PartsSource(3);
    s.attach(0, tagged(1, 2));
    expect(pull(s, 0, 1)).toEqual([1]);
    s.attach(1, tagged(2, 2)); // came into the cache while part 1 played
    expect(pull(s, 1, 3)).toEqual([1, 2]);
    expect(s.wants(2)).toBe(true);
    expect(pull(s, 3)).toEqual([2]); // part 3's turn came without its file
    expect(s.wants(2)).toBe(false);
    const late = tagged(3, 2);
    s.attach(2, late);
    expect(late.closed).toBe(true);
    expect(s.frame(5, 0)).toBeNull();
  });

  it('a frame asked again after a retraction comes from the part that held it', () => {
    const s = new PartsSource(2);
    s.attach(0, tagged(1, 3));
    s.attach(1, tagged(2, 3));
    expect(pull(s, 0, 5)).toEqual([1, 1, 1, 2, 2]);
    expect(pull(s, 2, 6)).toEqual([1, 2, 2, 2]); // written ahead, flushed, asked again
    expect(s.frame(6, 0)).toBeNull();
  });

  it('repeats play the whole programme again', () => {
    const s = new PartsSource(2, 2);
    s.attach(0, tagged(1, 1));
    s.attach(1, tagged(2, 2));
    expect(pull(s)).toEqual([1, 2, 2, 1, 2, 2]);
  });

  it('with no file at all the programme ends at once', () => {
    const s = new PartsSource(2);
    expect(s.frame(0, 0)).toBeNull();
  });
});

describe('partsReceipt: what became of each part', () => {
  function played(...sizes: Array<number | null>) {
    const s = new PartsSource(sizes.length);
    sizes.forEach((n, i) => {
      if (n !== null) s.attach(i, tagged(i + 1, n));
    });
    return { s, frames: pull(s).length };
  }

  it('every part played to its end: played, with each part’s times and frames', () => {
    const { s, frames } = played(3, 2, 4);
    const r = partsReceipt(LANGS, s.laid(), 1, { frames, at: 1000 + frames * 20 });
    expect(r.outcome).toBe('played');
    expect(r.reason).toBeUndefined();
    expect(r.parts).toEqual([
      { language: 'vi', mediaId: 'm-vi', outcome: 'played', startedAt: 1000, endedAt: 1060, frames: 3 },
      { language: 'hmn', mediaId: 'm-hmn', outcome: 'played', startedAt: 1060, endedAt: 1100, frames: 2 },
      { language: 'ium', mediaId: 'm-ium', outcome: 'played', startedAt: 1100, endedAt: 1180, frames: 4 },
    ]);
  });

  it('a late first sound makes the first part, and the entry, late', () => {
    const { s, frames } = played(3, 2, 4);
    const r = partsReceipt(LANGS, s.laid(), 1, { frames, at: 1180, late: true });
    expect(r.outcome).toBe('late');
    expect(r.parts.map((p) => p.outcome)).toEqual(['late', 'played', 'played']);
  });

  it('a part without its file: skipped no_media, the entry partial for no_media', () => {
    const { s, frames } = played(3, null, 4);
    const r = partsReceipt(LANGS, s.laid(), 1, { frames, at: 1140 });
    expect(r.outcome).toBe('partial');
    expect(r.reason).toBe('no_media');
    expect(r.parts.map((p) => [p.outcome, p.reason, p.frames])).toEqual([
      ['played', undefined, 3],
      ['skipped', 'no_media', undefined],
      ['played', undefined, 4],
    ]);
    expect(r.parts[2]!.startedAt).toBe(1060);
  });

  it('stopped for good in part 2: part 2 partial, part 3 skipped, both for that reason', () => {
    const s = new PartsSource(3);
    s.attach(0, tagged(1, 3));
    s.attach(1, tagged(2, 5));
    s.attach(2, tagged(3, 4));
    pull(s, 0, 7); // the sink had 7 frames written; 5 were heard when the amplifier faulted
    const r = partsReceipt(LANGS, s.laid(), 1, { frames: 5, at: 1100, reason: 'amp_fault' });
    expect(r.outcome).toBe('partial');
    expect(r.reason).toBe('amp_fault');
    expect(r.parts).toEqual([
      { language: 'vi', mediaId: 'm-vi', outcome: 'played', startedAt: 1000, endedAt: 1060, frames: 3 },
      { language: 'hmn', mediaId: 'm-hmn', outcome: 'partial', startedAt: 1060, endedAt: 1100, frames: 2, reason: 'amp_fault' },
      { language: 'ium', mediaId: 'm-ium', outcome: 'skipped', reason: 'amp_fault' },
    ]);
  });

  it('never heard: every part skipped, the entry skipped', () => {
    const s = new PartsSource(3);
    s.attach(1, tagged(2, 5));
    s.frame(0, 1000); // part 1 skipped at its turn, then the programme failed before a frame was heard
    const r = partsReceipt(LANGS, s.laid(), 1, { frames: 0, at: 1000, reason: 'device_off' });
    expect(r.outcome).toBe('skipped');
    expect(r.parts.map((p) => [p.outcome, p.reason])).toEqual([
      ['skipped', 'no_media'],
      ['skipped', 'device_off'],
      ['skipped', 'device_off'],
    ]);
  });
});

// ------------------------------------------------------------ executor ----

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
    return { cacheBytes: 0, limitBytes: 1, missing: [], overLimit: null, counters: { bytesFetched: 0, downloads: 0, retries: 0, resumes: 0, checksumFailures: 0, evictions: 0 } };
  }
}

function multilingual(id: string, startAt: number): PlaylistEntryMessage {
  const parts = [
    { language: 'vi', mediaId: 'm-vi', sha256: SHA('a'), bytes: 100, durationMs: 60 },
    { language: 'hmn', mediaId: 'm-hmn', sha256: SHA('b'), bytes: 200, durationMs: 40 },
    { language: 'ium', mediaId: 'm-ium', sha256: SHA('c'), bytes: 300, durationMs: 80 },
  ];
  return { id, kind: 'bulletin', itemId: 'item-1', mediaId: 'm-vi', sha256: SHA('a'), bytes: 100, startAt, durationMs: 180, priority: 'normal', parts };
}

function setup() {
  const engine = new FakeEngine();
  const cache = new FakeCache();
  const journal = new ReceiptJournal({ now: () => Date.now() });
  const opened: string[] = [];
  const sizes: Record<string, number> = { [SHA('a')]: 3, [SHA('b')]: 2, [SHA('c')]: 4 };
  const tags: Record<string, number> = { [SHA('a')]: 1, [SHA('b')]: 2, [SHA('c')]: 3 };
  const executor = new PlaylistExecutor({
    siteId: 'site-1',
    engine,
    serverNow: () => Date.now(),
    cache,
    journal,
    openSource: async (p, e) => {
      opened.push(e.mediaId);
      expect(p).toBe(`/cache/${e.sha256}`);
      return tagged(tags[e.sha256]!, sizes[e.sha256]!);
    },
    prepareAheadMs: 5000,
  });
  return { engine, cache, journal, executor, opened };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const asPlaylist = (entries: PlaylistEntryMessage[]) => ({ v: PROTOCOL_VERSION, siteId: 'site-1', version: 'v1', at: T0, horizonEnd: T0 + 3600_000, entries });

describe('PlaylistExecutor with an entry in several languages', () => {
  it('asks the cache for every part, hands ONE programme, and writes a receipt with each part', async () => {
    const { engine, cache, journal, executor, opened } = setup();
    await journal.open();
    await executor.start();
    const e = multilingual('x@1', T0 + 60_000);
    expect(mediaRefsOf(e).map((m) => m.mediaId)).toEqual(['m-vi', 'm-hmn', 'm-ium']);
    await executor.accept(asPlaylist([e]));
    expect(cache.needed.map((m) => m.mediaId)).toEqual(['m-vi', 'm-hmn', 'm-ium']);
    cache.have.add(SHA('a'));
    cache.have.add(SHA('c'));
    expect(executor.report().missing).toBe(1);
    await vi.advanceTimersByTimeAsync(56_000);
    expect(engine.added).toHaveLength(1);
    expect(engine.added[0]).toMatchObject({ id: 'x@1', priority: 'normal', whenPreempted: 'resume', durationMs: 180 });
    expect(opened.sort()).toEqual(['m-ium', 'm-vi']);
    // The H'Mông file arrives before its turn: attached to the programme already handed.
    cache.have.add(SHA('b'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(opened.sort()).toEqual(['m-hmn', 'm-ium', 'm-vi']);
    const src = engine.added[0]!.source;
    expect(pull(src, 0, Infinity, T0 + 60_000)).toEqual([1, 1, 1, 2, 2, 3, 3, 3, 3]);
    engine.emit({ type: 'started', id: 'x@1', kind: 'bulletin', scheduledAt: T0 + 60_000, at: T0 + 60_000, startErrorMs: 0, late: false });
    engine.emit({ type: 'ended', id: 'x@1', at: T0 + 60_180, frames: 9, startedAt: T0 + 60_000, startErrorMs: 0, late: false });
    await journal.flushed();
    const r = journal.get('x@1')!;
    expect(r).toMatchObject({ outcome: 'played', mediaId: 'm-vi', frames: 9 });
    expect(r.parts?.map((p) => [p.language, p.outcome, p.frames, p.startedAt! - T0])).toEqual([
      ['vi', 'played', 3, 60_000],
      ['hmn', 'played', 2, 60_060],
      ['ium', 'played', 4, 60_100],
    ]);
  });

  it('with no version in the cache at its start, the entry is skipped no_media, every part with it', async () => {
    const { engine, journal, executor } = setup();
    await journal.open();
    await executor.start();
    await executor.accept(asPlaylist([multilingual('y@1', T0 + 10_000)]));
    await vi.advanceTimersByTimeAsync(11_000);
    await journal.flushed();
    expect(engine.added).toHaveLength(0);
    const r = journal.get('y@1')!;
    expect(r).toMatchObject({ outcome: 'skipped', reason: 'no_media' });
    expect(r.parts?.map((p) => [p.language, p.outcome, p.reason])).toEqual([
      ['vi', 'skipped', 'no_media'],
      ['hmn', 'skipped', 'no_media'],
      ['ium', 'skipped', 'no_media'],
    ]);
  });
});

describe('the receipt journal keeps the parts of a receipt', () => {
  it('a receipt with parts reads back whole after a restart, beside a receipt an older agent wrote', async () => {
    vi.useRealTimers();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-parts-'));
    try {
      const file = path.join(dir, 'asrun.journal');
      const base = { v: PROTOCOL_VERSION, siteId: 'site-1', type: 'as_run', kind: 'bulletin', itemId: 'item-1', mediaId: 'm-vi', scheduledAt: T0 } as const;
      const older: AsRunEvent = { ...base, at: T0 + 1, entryId: 'old@1', outcome: 'played', frames: 3 };
      fs.writeFileSync(file, `${encodeRecord({ r: older })}\n`);
      const withParts: AsRunEvent = {
        ...base,
        at: T0 + 2,
        entryId: 'new@1',
        outcome: 'partial',
        reason: 'no_media',
        frames: 7,
        parts: [
          { language: 'vi', mediaId: 'm-vi', outcome: 'played', startedAt: T0, endedAt: T0 + 60, frames: 3 },
          { language: 'hmn', mediaId: 'm-hmn', outcome: 'skipped', reason: 'no_media' },
          { language: 'ium', mediaId: 'm-ium', outcome: 'played', startedAt: T0 + 60, endedAt: T0 + 140, frames: 4 },
        ],
      };
      const first = new ReceiptJournal({ file, now: () => T0 });
      await first.open();
      expect(await first.record(withParts)).toBe(true);
      await first.flushed();
      await first.close();
      const again = new ReceiptJournal({ file, now: () => T0 });
      await again.open();
      expect(again.get('new@1')).toEqual(withParts);
      expect(again.get('old@1')).toEqual(older);
      await again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
