/** edge-agent/live/receiver.ts against a recording engine, with fake timers and a fake server clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveReceiver } from '../../edge-agent/live/receiver.ts';
import type { EngineEvent, PlayoutEngineApi, Programme } from '../../edge-agent/playout/engine.ts';
import { createOpusDecoder } from '../../edge-agent/audio/opus.ts';
import { encodeAudioFrame, encodeJson, type AudioStreamStart, type StreamStatsEvent } from '../../protocol/index.ts';

const T0 = 1_800_000_000_000;

function fakeEngine() {
  const added: Programme[] = [];
  const cancelled: Array<{ id: string; detail: string | undefined }> = [];
  const listeners = new Set<(e: EngineEvent) => void>();
  const engine: PlayoutEngineApi = {
    add: (p) => (added.push(p), { ok: true }),
    cancel: (id, _reason, detail) => {
      cancelled.push({ id, detail });
      for (const l of listeners) l({ type: 'failed', id, at: 0, reason: 'cancelled', detail: detail ?? '', frames: 0 });
      return true;
    },
    on: (l) => (listeners.add(l), () => listeners.delete(l)),
    programmes: () => [],
    onAir: null,
    stop: async () => {},
  };
  const emit = (e: EngineEvent) => listeners.forEach((l) => l(e));
  return { engine, added, cancelled, emit };
}

const start = (over: Partial<AudioStreamStart> = {}): AudioStreamStart => ({
  v: 1,
  type: 'stream_start',
  streamId: 7,
  codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage: 3, bitrate: 24000, fec: true },
  priority: 'priority',
  areas: ['2025.02683'],
  source: { kind: 'relay', label: 'Đài tỉnh' },
  delayMs: 500,
  whenPreempted: 'end',
  startAt: T0 + 500,
  at: T0,
  ...over,
});

const frame = (seq: number, end = false) =>
  encodeAudioFrame({
    streamId: 7,
    seq,
    playAtUs: (T0 + 500 + seq * 60) * 1000,
    sampleRate: 48000,
    packetDurationUs: 20000,
    fec: true,
    marker: seq % 50 === 0,
    endOfStream: end,
    packets: [Uint8Array.of(0xf8, 0xff, 0xfe)],
  });

describe('LiveReceiver', () => {
  let now = T0;
  let published: StreamStatsEvent[];
  let warnings: string[];
  let f: ReturnType<typeof fakeEngine>;
  let r: LiveReceiver;

  beforeEach(() => {
    vi.useFakeTimers();
    now = T0;
    published = [];
    warnings = [];
    f = fakeEngine();
    r = new LiveReceiver({
      siteId: 'cum-loa-1',
      engine: f.engine,
      serverNow: () => now,
      now: () => now,
      clockUncertaintyMs: () => 1.5,
      clockOffsetMs: () => 0,
      publish: (e) => published.push(e),
      createDecoder: createOpusDecoder,
      log: { info() {}, warn: (m) => warnings.push(m) },
      // Reports every 5 s here (15 s by default): these tests are about what a report says.
      statsIntervalMs: 5000,
    });
  });
  afterEach(() => {
    r.close();
    vi.useRealTimers();
  });

  it('a stream start (retained JSON on the audio channel) becomes one live programme; frames that came first are kept; a repeat changes nothing', () => {
    r.onAudio(frame(0));
    r.onAudio(encodeJson(start()));
    r.onControl(encodeJson({ ...start(), at: T0 + 5000 }));
    expect(f.added).toHaveLength(1);
    expect(f.added[0]).toMatchObject({ id: 'live:7', kind: 'live', priority: 'priority', startAt: T0 + 500, whenPreempted: 'end' });
    r.onAudio(frame(1));
    expect(r.streamsHeld()).toEqual([{ streamId: 7, priority: 'priority', done: false }]);
    // The frame before the start was counted by the stream's jitter buffer, with the one after.
    vi.advanceTimersByTime(5000);
    now += 5000;
    f.emit({ type: 'ended', id: 'live:7', at: now, frames: 10, startedAt: T0 + 500, late: false, startErrorMs: 0 });
    const last = published.at(-1)!;
    expect(last).toMatchObject({ type: 'stream_stats', siteId: 'cum-loa-1', streamId: 7, received: 2, final: true, clockUncertaintyMs: 1.5, end: { reason: 'ended' } });
  });

  it('holds frames that came before their start within a byte bound, the oldest dropped first', () => {
    // 5 packets of 800 bytes: ~4 KiB a message, 100 of them (the count bound) would hold 400 KiB.
    const big = (seq: number) =>
      encodeAudioFrame({
        streamId: 7,
        seq,
        playAtUs: (T0 + 500 + seq * 100) * 1000,
        sampleRate: 48000,
        packetDurationUs: 20000,
        fec: true,
        marker: false,
        endOfStream: false,
        packets: Array.from({ length: 5 }, () => new Uint8Array(800).fill(0xfc)),
      });
    const size = big(0).length;
    for (let seq = 0; seq < 100; seq++) r.onAudio(big(seq));
    const kept = Math.floor((256 * 1024) / size);
    expect(r.stats.orphanFrames).toBe(100 - kept);
    r.onAudio(encodeJson(start()));
    const source = f.added[0]!.source as unknown as { stats: { received: number } };
    expect(source.stats.received).toBe(kept);
  });

  it('a stream the engine ends for good (pre-empted, with whenPreempted end) says so in its final report', () => {
    r.onAudio(encodeJson(start()));
    f.emit({ type: 'failed', id: 'live:7', at: now, reason: 'preempted', detail: 'pre-empted by alert:alr-1', frames: 0 });
    expect(published.at(-1)).toMatchObject({ final: true, end: { reason: 'preempted', detail: 'pre-empted by alert:alr-1' } });
  });

  it('ignores alerts and cleared slots, and counts a malformed stream message', () => {
    r.onControl(encodeJson({ v: 1, type: 'alert_cancel', alertId: 'alr-0123456789abcdef' }));
    r.onControl(Buffer.alloc(0));
    r.onAudio(Buffer.alloc(0));
    r.onControl(Buffer.from('{"v":1,"type":"stream_start","streamId":"x"}'));
    r.onAudio(Buffer.from([0x4c, 0x41, 9]));
    expect(r.stats.invalid).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(f.added).toHaveLength(0);
  });

  it('after a stop whose end-of-stream message never came, cancels just after that message would have played', () => {
    r.onAudio(encodeJson(start()));
    r.onControl(encodeJson({ v: 1, type: 'stream_stop', streamId: 7, reason: 'operator', at: T0 + 1000 }));
    vi.advanceTimersByTime(1000 + 500 + 50);
    expect(f.cancelled).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(f.cancelled).toEqual([{ id: 'live:7', detail: 'stream stopped (operator)' }]);
    // Once over, its start (retained, re-announced) does not bring it back.
    r.onControl(encodeJson(start()));
    expect(f.added).toHaveLength(1);
    // The final report says the stop ended it (not the engine's generic 'cancelled').
    expect(published.at(-1)).toMatchObject({ final: true, end: { reason: 'stopped', detail: 'stream stopped (operator)' } });
  });

  it('ends a stream that has sent nothing for long (its stop was missed while the link was down)', () => {
    r.onAudio(encodeJson(start()));
    r.onAudio(frame(0));
    for (let i = 0; i < 3; i++) {
      now += 5000;
      vi.advanceTimersByTime(5000);
    }
    expect(f.cancelled).toEqual([]);
    now += 5000;
    vi.advanceTimersByTime(5000);
    expect(f.cancelled).toEqual([{ id: 'live:7', detail: 'stream silent' }]);
    expect(published.at(-1)).toMatchObject({ final: true, end: { reason: 'silent', detail: 'nothing heard for 20 s' } });
    expect(warnings.some((w) => /nothing heard/.test(w))).toBe(true);
  });
  it("measures its link's transit, says at once when it is behind, and takes a raised delay: earlier messages accepted, the raise's burst measured from the raise", () => {
    r.onAudio(encodeJson(start()));
    const source = f.added[0]!.source as { frame(i: number, at: number): Int16Array | null };
    source.frame(0, T0 + 500); // the engine has begun pulling
    // Each message leaves when its packet is captured (play-at − 500 + 20) and arrives 1.2 s later: past due.
    for (let seq = 0; seq < 20; seq++) {
      now = T0 + 500 + seq * 60 - 500 + 20 + 1200;
      r.onAudio(frame(seq));
    }
    const early = published.find((e) => e.behind === true);
    expect(early, 'an early report while behind').toBeDefined();
    expect(early!.final).toBe(false);
    expect(early!.transit!.p99Ms).toBeCloseTo(1200, 0);
    expect(early!.transit!.samples).toBeGreaterThanOrEqual(10);
    // At most one early report a second.
    expect(published.filter((e) => e.behind).length).toBe(1);

    // A message 1.9 s ahead of its play-at is too early for a 500 ms stream (500 + 1000 at most): not measured.
    now = T0 + 500 + 40 * 60 - 1900;
    r.onAudio(frame(40));
    // The server raises the delay to 2 s at `now`: the start again, with the new delayMs.
    const raisedAt = now;
    r.onAudio(encodeJson(start({ delayMs: 2000, at: raisedAt })));
    // Sent at the raise (a burst) though play-at − 2000 + 20 is 680 ms earlier: its transit counts from the raise.
    now = raisedAt + 1100;
    r.onAudio(frame(30));
    now = T0 + 500 + 42 * 60 - 1900;
    r.onAudio(frame(42)); // 1.9 s ahead: accepted now
    vi.advanceTimersByTime(5000);
    const after = r.lastReports.get(7)!;
    expect(after.transit!.samples).toBe(20 + 2); // the 20 late ones, then 30 and 42, not the too early 40
    // The burst message: 1100 ms from the raise, not 1100 + 680.
    expect(after.transit!.maxMs).toBeLessThanOrEqual(1200.5);
    // What came late under the old delay no longer makes it behind.
    expect(after.behind).toBe(false);
  });
});
