import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { planFeed, type FeedInput } from '../../edge-agent/audio/sinks/alsa-feed.ts';

const base = { fedEnd: null, filledMs: 0, feedAheadMs: 180, padDelayMs: 40, frameMs: 20 } satisfies Omit<FeedInput, 'queued' | 'now'>;
const run = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k * 20);

/**
 * The feeder called every millisecond in front of a model of ALSA (a buffer
 * of `bufferMs` that starts when full, then plays 20 ms frames back to back
 * and stops when it runs dry). The engine writes each frame `writeAheadMs`
 * before its play-at. Returns when each real frame was heard.
 */
function simulate(frames: number[], writeAheadMs: number, bufferMs = 200): Map<number, number> {
  let state: Pick<FeedInput, 'fedEnd' | 'filledMs'> = { fedEnd: null, filledMs: 0 };
  const queue: number[] = [];
  const stream: Array<number | null> = []; // fed frames in order: play-at, or null for silence
  const heard = new Map<number, number>();
  let written = 0;
  let playing = false;
  let playhead = 0; // next frame index to play
  let frameEndsAt = 0;
  const end = frames[frames.length - 1]! + 1000;
  for (let now = frames[0]! - writeAheadMs - 50; now < end; now++) {
    while (written < frames.length && frames[written]! - writeAheadMs <= now) queue.push(frames[written++]!);
    const plan = planFeed({ ...base, feedAheadMs: bufferMs - 20, queued: queue, ...state, now });
    for (const st of plan.steps) {
      if ('silence' in st) for (let i = 0; i < st.silence; i++) stream.push(null);
      else for (const f of queue.splice(0, st.frames)) stream.push(f);
    }
    state = { fedEnd: plan.fedEnd, filledMs: plan.filledMs };
    // ALSA
    if (!playing && (stream.length - playhead) * 20 >= bufferMs) {
      playing = true;
      frameEndsAt = now;
    }
    while (playing && frameEndsAt <= now) {
      if (playhead >= stream.length) {
        playing = false; // ran dry
        break;
      }
      const f = stream[playhead++]!;
      if (f !== null) heard.set(f, frameEndsAt);
      frameEndsAt += 20;
    }
  }
  return heard;
}

describe('ALSA feeder (planFeed)', () => {
  it('feeds a frame only when its play-at is within feedAhead, and says when to look again', () => {
    const queued = run(1000, 5);
    expect(planFeed({ ...base, queued, now: 700 })).toEqual({ steps: [], wakeAt: 820, fedEnd: null, filledMs: 0 });
    const p = planFeed({ ...base, queued, now: 840 });
    expect(p.steps).toEqual([{ frames: 2 }]); // 1000 and 1020 are within 840 + 180
    expect(p).toMatchObject({ wakeAt: 860, fedEnd: 1040, filledMs: 40 });
  });

  it('fills a gap exactly with silence, and keeps a playing stream fed with silence a little late', () => {
    const p = planFeed({ ...base, queued: [1100], fedEnd: 1000, filledMs: 400, now: 950 });
    expect(p.steps).toEqual([{ silence: 5 }, { frames: 1 }]);
    // Nothing queued: in a playing stream slot 1040 gets silence at 1040 − 180 + 40, not before.
    expect(planFeed({ ...base, queued: [], fedEnd: 1040, filledMs: 400, now: 899 }).steps).toEqual([]);
    expect(planFeed({ ...base, queued: [], fedEnd: 1040, filledMs: 400, now: 900 })).toMatchObject({ steps: [{ silence: 1 }], wakeAt: 920 });
    // In a stream still filling, on time, so it starts when its first frame is due.
    expect(planFeed({ ...base, queued: [], fedEnd: 1040, filledMs: 40, now: 860 }).steps).toEqual([{ silence: 1 }]);
    // Silence never takes a slot a queued frame claims.
    expect(planFeed({ ...base, padDelayMs: 0, queued: [1060], fedEnd: 1040, filledMs: 400, now: 860 }).steps).toEqual([{ silence: 1 }]);
    expect(planFeed({ ...base, padDelayMs: 0, queued: [1050], fedEnd: 1040, filledMs: 400, now: 860 }).steps).toEqual([]);
  });

  it('closing (infinite horizon) feeds what is queued and no silence after it', () => {
    expect(planFeed({ ...base, queued: run(5000, 3), fedEnd: 1040, filledMs: 400, now: 1000, feedAheadMs: Number.POSITIVE_INFINITY }).steps).toEqual([
      { silence: 198 },
      { frames: 3 },
    ]);
  });

  it('after a stall long enough for ALSA to run dry, starts a new stream instead of filling the past', () => {
    const p = planFeed({ ...base, queued: [1500], fedEnd: 1000, filledMs: 4000, now: 1400 });
    expect(p.steps[0]).toEqual({ frames: 1 });
    expect(p.filledMs).toBeLessThan(200);
  });

  it('with ALSA modelled behind it, every frame is heard exactly at its play-at, whatever the runs and gaps (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapFrames: fc.integer({ min: 0, max: 40 }), length: fc.integer({ min: 1, max: 30 }) }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 200, max: 260 }),
        (runs, writeAheadMs) => {
          const frames: number[] = [];
          let t = 10_000;
          for (const r of runs) {
            t += r.gapFrames * 20;
            for (let k = 0; k < r.length; k++, t += 20) frames.push(t);
          }
          const heard = simulate(frames, writeAheadMs);
          for (const f of frames) expect(heard.get(f), `frame ${f}`).toBe(f);
        },
      ),
      { numRuns: 60 },
    );
  });
});
