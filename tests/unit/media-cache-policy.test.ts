import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classifyCacheFile, neededBytes, nextFetch, overLimit, partialDecision, planRoom, responseDecision, type CachedFile } from '../../edge-agent/media-cache/policy.ts';
import type { MediaRef } from '../../edge-agent/media-cache/types.ts';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const ref = (n: number, bytes: number): MediaRef => ({ mediaId: `m${n}`, sha256: sha(n), bytes });
const file = (n: number, bytes: number, lastUsedMs = n): CachedFile => ({ sha256: sha(n), bytes, lastUsedMs });

describe('planRoom', () => {
  it('evicts unneeded files, least recently used first, only as many as needed', () => {
    const files = [file(1, 100, 30), file(2, 100, 10), file(3, 100, 20), file(4, 100, 5)];
    const plan = planRoom(files, new Set([sha(4)]), 150, 400);
    // 400 used + 150 incoming − 400 limit = 150 over: file 2 (oldest unneeded) then file 3.
    expect(plan).toEqual({ ok: true, evict: [sha(2), sha(3)] });
    expect(planRoom(files, new Set(), 0, 400)).toEqual({ ok: true, evict: [] });
  });

  it('refuses (and evicts nothing) when only needed files could make room', () => {
    const files = [file(1, 300), file(2, 100)];
    expect(planRoom(files, new Set([sha(1)]), 250, 500)).toEqual({ ok: false, evict: [], shortBytes: 50 });
  });

  it('never evicts a needed file, whatever the sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: fc.nat({ max: 40 }), bytes: fc.integer({ min: 1, max: 1000 }), used: fc.nat({ max: 1000 }), needed: fc.boolean() }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 5000 }),
        (raw, incoming, limit) => {
          const uniq = [...new Map(raw.map((r) => [r.n, r])).values()];
          const files = uniq.map((r) => file(r.n, r.bytes, r.used));
          const needed = new Set(uniq.filter((r) => r.needed).map((r) => sha(r.n)));
          const plan = planRoom(files, needed, incoming, limit);
          for (const s of plan.evict) expect(needed.has(s)).toBe(false);
          if (plan.ok) {
            const left = files.filter((f) => !plan.evict.includes(f.sha256)).reduce((a, f) => a + f.bytes, 0);
            expect(left + incoming).toBeLessThanOrEqual(limit);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('overLimit', () => {
  it('names the sizes in Vietnamese and English when the needed media exceed the limit, counting shared media once', () => {
    expect(overLimit([ref(1, 100), ref(1, 100), ref(2, 50)], 150)).toBeNull();
    expect(neededBytes([ref(1, 100), ref(1, 100), ref(2, 50)])).toBe(150);
    const o = overLimit([ref(1, 3 * 1024 * 1024), ref(2, 2 * 1024 * 1024)], 4 * 1024 * 1024)!;
    expect(o).toMatchObject({ neededBytes: 5 * 1024 * 1024, limitBytes: 4 * 1024 * 1024 });
    expect(o.message).toContain('Bộ nhớ đệm không đủ: 2 tệp cần phát chiếm 5.0 MB, giới hạn là 4.0 MB');
    expect(o.message).toContain('Cache too small');
  });
});

describe('nextFetch', () => {
  it('takes needed media in play order, skipping cached ones and ones waiting out a backoff', () => {
    const needed = [ref(1, 10), ref(2, 10), ref(3, 10)];
    expect(nextFetch(needed, new Set([sha(1)]), new Map(), 0, 1000).ref).toEqual(ref(2, 10));
    const backoff = new Map([[sha(2), { attempts: 1, notBeforeMs: 500 }]]);
    expect(nextFetch(needed, new Set([sha(1)]), backoff, 100, 1000)).toMatchObject({ ref: ref(3, 10), wakeAtMs: 500 });
    expect(nextFetch(needed, new Set([sha(1), sha(3)]), backoff, 100, 1000)).toMatchObject({ ref: null, wakeAtMs: 500 });
    expect(nextFetch(needed, new Set([sha(1), sha(3)]), backoff, 600, 1000).ref).toEqual(ref(2, 10));
  });

  it('when the needed media do not fit, fetches the earliest that do and reports the rest', () => {
    const needed = [ref(1, 400), ref(2, 400), ref(3, 100)];
    const r = nextFetch(needed, new Set([sha(1)]), new Map(), 0, 600);
    expect(r.ref).toEqual(ref(3, 100)); // 2 would not fit after 1; 3 does
    expect(r.skippedForSpace).toEqual([ref(2, 400)]);
  });
});

describe('resume decisions', () => {
  it('decides what to do with a partial file', () => {
    expect(partialDecision(0, 100)).toBe('discard');
    expect(partialDecision(40, 100)).toBe('resume');
    expect(partialDecision(100, 100)).toBe('verify');
    expect(partialDecision(101, 100)).toBe('discard');
  });

  it('accepts a 206 only where we asked it to start, restarts on 200, discards on 416', () => {
    expect(responseDecision(206, 40, 'bytes 40-99/100', 100)).toEqual({ action: 'append' });
    expect(responseDecision(206, 40, 'bytes 0-99/100', 100)).toMatchObject({ action: 'fail', reason: expect.stringMatching(/resumed at byte 0, we asked for 40/) });
    expect(responseDecision(206, 40, 'bytes 40-99/120', 100)).toMatchObject({ action: 'fail', reason: expect.stringMatching(/120 bytes, the playlist says 100/) });
    expect(responseDecision(206, 40, null, 100).action).toBe('fail');
    expect(responseDecision(200, 40, null, 100)).toEqual({ action: 'restart' });
    expect(responseDecision(416, 40, 'bytes */100', 100).action).toBe('discard');
    expect(responseDecision(401, 0, null, 100)).toEqual({ action: 'fail', reason: 'HTTP 401' });
  });

  it('knows its own file names and nothing else', () => {
    expect(classifyCacheFile(`${sha(7)}.opus`)).toEqual({ kind: 'complete', sha256: sha(7) });
    expect(classifyCacheFile(`${sha(7)}.part`)).toEqual({ kind: 'partial', sha256: sha(7) });
    expect(classifyCacheFile('notes.txt')).toEqual({ kind: 'other' });
    expect(classifyCacheFile(`${'AB'.repeat(32)}.opus`)).toEqual({ kind: 'other' });
  });
});
