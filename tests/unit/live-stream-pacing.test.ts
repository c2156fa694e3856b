/** server/live/live-stream.ts on a fake server clock: pacing, back-pressure, late slots, underruns, the end. Real Opus encoder. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveStream, type PcmSource } from '../../server/live/live-stream.ts';
import { decodeAudioFrame, type AudioFrame } from '../../protocol/index.ts';
import { sinePcm } from '../helpers/live.ts';

const T0 = 1_800_000_000_000;

function setup(paced: boolean) {
  let now = T0;
  const sent: AudioFrame[] = [];
  const ended: string[] = [];
  const calls: string[] = [];
  const source: PcmSource = { pause: () => calls.push('pause'), resume: () => calls.push('resume'), close: () => calls.push('close') };
  const s = new LiveStream(
    { streamId: 5, createdAtMs: T0, delayMs: 500, packetsPerMessage: 3, encoder: { bitrate: 24000 }, paced, highWaterMs: 2000, lowWaterMs: 1000 },
    {
      now: () => now,
      publish: (m) => {
        const d = decodeAudioFrame(m, now * 1000);
        if (!d.ok) throw new Error(d.reason);
        sent.push(d.frame);
      },
      ended: (r) => ended.push(r),
    },
  );
  s.start(source);
  return { s, sent, ended, calls, at: (ms: number) => (now = T0 + ms) };
}

describe('LiveStream pacing', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a file far ahead of real time is published one slot per 20 ms of server clock, and paused above the high-water mark', () => {
    const { s, sent, calls, at } = setup(true);
    s.push(sinePcm(440, 5000)); // 5 s at once
    expect(calls).toEqual(['pause']);
    at(120);
    s.tick();
    // 6 slots captured by 120 ms: two messages of three, play-at = capture + 500 ms.
    expect(sent.map((f) => f.playAtUs / 1000)).toEqual([T0 + 500, T0 + 560]);
    expect(sent.map((f) => f.seq)).toEqual([0, 1]);
    for (let t = 140; t <= 4000; t += 20) {
      at(t);
      s.tick();
    }
    expect(s.stats()).toMatchObject({ slots: 200, audioPackets: 200, lateSkipped: 0, queueMs: 1000 });
    expect(calls).toEqual(['pause']);
    at(4020);
    s.tick();
    // Below the low-water mark again: the source may read on.
    expect(calls).toEqual(['pause', 'resume']);
    expect(sent.every((f, i) => i === 0 || f.playAtUs - sent[i - 1]!.playAtUs === 60_000)).toBe(true);
  });

  it('audio above the high-water mark pushed before the stream starts (a relay adopted after a slow insert) pauses the source at the start', () => {
    let now = T0;
    const calls: string[] = [];
    const source: PcmSource = { pause: () => calls.push('pause'), resume: () => calls.push('resume'), close: () => calls.push('close') };
    const s = new LiveStream(
      { streamId: 6, createdAtMs: T0, delayMs: 500, packetsPerMessage: 3, encoder: { bitrate: 24000 }, paced: true, highWaterMs: 2000, lowWaterMs: 1000 },
      { now: () => now, publish: () => {}, ended: () => {} },
    );
    s.push(sinePcm(440, 13_000));
    expect(calls).toEqual([]);
    s.start(source);
    expect(calls).toEqual(['pause']);
    // A source that reads on all the same (a child swapped in by a reconnect) is asked again at its next chunk.
    s.push(sinePcm(440, 100));
    expect(calls).toEqual(['pause', 'pause']);
    // It reads on only once the queue has drained below the low-water mark.
    for (let t = 20; t <= 12_080; t += 20) {
      now = T0 + t;
      s.tick();
    }
    expect(calls).toEqual(['pause', 'pause']);
    now = T0 + 12_120;
    s.tick();
    expect(calls).toEqual(['pause', 'pause', 'resume']);
    s.finish();
  });

  it('slots the server reaches after their play-at are skipped, not sent late; a live voice that falls behind leaves silence', () => {
    const { s, sent, at } = setup(false);
    at(60);
    s.tick();
    expect(s.stats()).toMatchObject({ silencePackets: 3, audioPackets: 0 });
    // The event loop stalls for 2 s: what is past its play-at is skipped.
    at(2060);
    s.tick();
    const st = s.stats();
    expect(st.lateSkipped).toBeGreaterThan(60);
    expect(st.slots).toBe(103);
    for (const f of sent) expect(f.playAtUs / 1000).toBeGreaterThan(T0 + 60);
    expect(sent.at(-1)!.playAtUs / 1000 + 40).toBeGreaterThan(T0 + 2060);
  });

  it('a live voice beyond its queue bound loses its oldest audio instead of adding delay', () => {
    const { s, at } = setup(false);
    s.push(sinePcm(440, 1000));
    at(20);
    s.tick();
    expect(s.stats().droppedMs).toBe(800);
    expect(s.stats().queueMs).toBe(180);
  });

  it('when the source has finished, plays out what is queued, sends the end-of-stream message and ends', () => {
    const { s, sent, ended, calls, at } = setup(true);
    s.push(sinePcm(440, 90)); // 4.5 slots: the last padded
    s.sourceFinished();
    at(200);
    s.tick();
    expect(ended).toEqual(['ended']);
    expect(calls).toContain('close');
    expect(s.stats().audioPackets).toBe(5);
    expect(sent.at(-1)!.endOfStream).toBe(true);
    // Four whole frames and the padded rest; the last message carries what was pending, flagged.
    expect(sent.flatMap((f) => f.packets)).toHaveLength(5);
    expect(sent.map((f) => f.packets.length)).toEqual([3, 2]);
  });
  it('a raised delay moves the capture origin back: the slots it makes due go at once, every later one that much further ahead, the play-at grid unchanged', () => {
    const { s, sent, at } = setup(true);
    s.push(sinePcm(440, 5000));
    for (let t = 20; t <= 600; t += 20) {
      at(t);
      s.tick();
    }
    const before = sent.length;
    expect(before).toBe(10); // 30 slots in 600 ms
    expect(s.raiseDelay(1010)).toBe(1020); // whole packets
    expect(s.raiseDelay(800)).toBe(1020); // never lowered
    s.tick();
    // 26 more slots due at once (520 ms), still on the grid: slot k plays at T0 + 500 + 20 k.
    expect(sent.length - before).toBe(Math.floor(26 / 3));
    const slots = sent.map((f) => (f.playAtUs / 1000 - T0 - 500) / 20);
    expect(slots.every((k, i) => i === 0 || k - slots[i - 1]! === 3)).toBe(true);
    for (let t = 620; t <= 2000; t += 20) {
      at(t);
      s.tick();
    }
    const last = sent[sent.length - 1]!;
    // Sent at 2000 ms, its last packet captured by then: now 1020 ms ahead of its play-at, not 500.
    expect(last.playAtUs / 1000 + 3 * 20 - (T0 + 2000)).toBeGreaterThanOrEqual(1020 - 20);
    expect(last.playAtUs / 1000 + 3 * 20 - (T0 + 2000)).toBeLessThanOrEqual(1020 + 40);
    expect(s.currentDelayMs).toBe(1020);
    expect(s.stats().lateSkipped).toBe(0);
  });

  it('dropping what is queued (a fallback giving way to its relay) sends silence next, not the dropped audio, and lets a paused source read on', () => {
    const { s, calls, at } = setup(true);
    s.push(sinePcm(1000, 3000)); // a fallback's 3 s, far ahead
    expect(calls).toEqual(['pause']);
    at(100);
    s.tick();
    const before = s.stats();
    expect(before.queueMs).toBeGreaterThan(2000);
    s.dropQueued();
    expect(calls).toEqual(['pause', 'resume']);
    expect(s.stats()).toMatchObject({ queueMs: 0, droppedMs: 0 });
    at(200);
    s.tick();
    // Nothing queued: the next slots are silence until the relay's audio arrives.
    expect(s.stats().silencePackets - before.silencePackets).toBe(5);
    expect(s.stats().audioPackets).toBe(before.audioPackets);
  });
});
