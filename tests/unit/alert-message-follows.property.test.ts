/**
 * Property: however the copies of one alert revision reach an agent — some
 * "preparing" copies (no media), then the copy that completes it (media, or
 * messageState failed), then any number of repeats of that one (retained
 * re-delivery, the server re-announcing it), at any spacing — the agent
 * reports `received` once, ends once, and plays what the last word says:
 * the signal and the message `repeats` times, or the signal alone, or (no
 * signal, no message) fails no_media. Real playout engine, fake timers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { AlertStart, AlertStatusEvent } from '../../protocol/index.ts';
import { FRAME_SAMPLES, type AudioSink, type AudioSinkStats } from '../../edge-agent/audio/types.ts';
import { PlayoutEngine } from '../../edge-agent/playout/engine.ts';
import type { MessageFrames } from '../../edge-agent/alerts/alert-source.ts';
import { AlertHandler } from '../../edge-agent/alerts/handler.ts';

class RecordingSink implements AudioSink {
  readonly kind = 'null' as const;
  readonly latencyMs = 60;
  heard: Array<{ v: number; playAt: number }> = [];
  async open() {}
  async write(frame: Int16Array, playAt: number) {
    this.heard.push({ v: frame[0]!, playAt });
  }
  async flush() {
    const now = Date.now();
    this.heard = this.heard.filter((w) => w.playAt < now);
  }
  async close() {}
  stats(): AudioSinkStats {
    return { framesWritten: this.heard.length, underruns: 0, framesFlushed: 0, firstPlayAtLocalMs: null, lastPlayAtLocalMs: null };
  }
}

const MESSAGE_FRAMES = 5;
/** The message: frames tagged 9 (the signal's samples never are exactly 9 in the first sample: it fades in from 0). */
const message = (): MessageFrames => ({
  framesPerPass: MESSAGE_FRAMES,
  frame(k: number) {
    if (k < 0 || k >= MESSAGE_FRAMES) return null;
    const f = new Int16Array(FRAME_SAMPLES);
    f[0] = 9;
    return f;
  },
});

const T0 = Date.UTC(2026, 10, 28, 0, 0, 0);
const MEDIA = { mediaId: 'med-1', sha256: 'a'.repeat(64), bytes: 100, durationMs: 100 };

describe('the message follows the start', () => {
  it("any arrival order of one revision's copies: received once, one end, and the last word decides what plays", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          attention: fc.constantFrom('chime' as const, null),
          repeats: fc.integer({ min: 1, max: 3 }),
          preparing: fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 3 }),
          final: fc.constantFrom('complete' as const, 'failed' as const),
          finalAfter: fc.integer({ min: 0, max: 8000 }),
          repeatsOfFinal: fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 3 }),
        }),
        async (c) => {
          vi.useFakeTimers({ now: T0 });
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-alert-prop-'));
          const sink = new RecordingSink();
          const engine = new PlayoutEngine({ sink, clock: { now: () => Date.now(), offsetMs: () => 0 }, leadMs: 0, tailMs: 200 });
          const events: AlertStatusEvent[] = [];
          const h = new AlertHandler({
            siteId: 's1',
            engine,
            serverNow: () => Date.now(),
            media: { need: () => {}, pathOf: () => '/cache/a.opus' },
            openMessage: async () => message(),
            publish: (e) => events.push(e),
            stateDir: dir,
            log: { warn: () => {}, error: () => {} },
            mediaTimeoutMs: 3000,
          });
          try {
            await h.start();
            const base: Omit<AlertStart, 'media'> = {
              v: 1,
              type: 'alert_start',
              alertId: 'alr-00000000000000b1',
              revision: 1,
              test: false,
              areas: ['2025.02683'],
              attention: c.attention,
              repeats: c.repeats,
              validUntil: T0 + 3600_000,
              at: T0,
            };
            const send = (m: object) => h.onControl(Buffer.from(JSON.stringify(m)));
            const finalCopy = c.final === 'complete' ? { ...base, media: MEDIA } : { ...base, messageState: 'failed' };
            for (const d of c.preparing) {
              send({ ...base, messageState: 'preparing' });
              await vi.advanceTimersByTimeAsync(d);
            }
            await vi.advanceTimersByTimeAsync(c.finalAfter);
            send(finalCopy);
            for (const d of c.repeatsOfFinal) {
              await vi.advanceTimersByTimeAsync(d);
              send(finalCopy);
            }
            await vi.advanceTimersByTimeAsync(15_000);

            const statuses = events.map((e) => e.status);
            expect(statuses.filter((s) => s === 'received')).toHaveLength(1);
            const ends = events.filter((e) => e.status === 'completed' || e.status === 'failed' || e.status === 'stopped');
            expect(ends).toHaveLength(1);
            const end = ends[0]!;
            const heardMessage = sink.heard.filter((w) => w.v === 9).length;
            if (c.final === 'complete') {
              expect(end).toMatchObject({ status: 'completed', repeat: c.repeats });
              expect(heardMessage).toBe(MESSAGE_FRAMES * c.repeats);
            } else if (c.attention !== null) {
              expect(end).toMatchObject({ status: 'completed', repeat: 0 });
              expect(heardMessage).toBe(0);
            } else {
              expect(end).toMatchObject({ status: 'failed', reason: 'no_media' });
              expect(heardMessage).toBe(0);
            }
            // Nothing of the message before the signal has finished.
            if (c.attention !== null && heardMessage > 0) {
              const firstMessage = sink.heard.findIndex((w) => w.v === 9);
              expect(firstMessage).toBeGreaterThanOrEqual(90); // the chime is 90 frames
            }
          } finally {
            await h.stop();
            await engine.stop();
            vi.useRealTimers();
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
