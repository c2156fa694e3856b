/**
 * edge-agent/live/live-playback.ts with real Opus (server encoder, agent decoder):
 * the samples a site plays at a server time are the stream's samples for that
 * time, whatever the engine's slot phase, for a late joiner too; losses are
 * concealed; the acoustic delay shifts everything by metres / 343 m/s.
 */
import { describe, expect, it } from 'vitest';
import { LivePlayback } from '../../edge-agent/live/live-playback.ts';
import { createOpusDecoder } from '../../edge-agent/audio/opus.ts';
import { FrameAssembler } from '../../server/live/frame-assembler.ts';
import { LiveOpusEncoder } from '../../server/live/opus-encoder.ts';
import { sinePcm } from '../helpers/live.ts';
import { mulberry32 } from '../helpers/seeded-random.ts';
import type { AudioFrame } from '../../protocol/audio-frame.ts';

const START = 1_800_000_000_000;

/** RMS of the difference relative to the reference's RMS: 0 is identical. */
function mismatch(got: Int16Array, ref: Int16Array): number {
  let d = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (got[i]! - ref[i]!) ** 2;
    r += ref[i]! ** 2;
  }
  return Math.sqrt(d / Math.max(1, r));
}
const SLOTS = 150; // 3 s

/** A 3 s stream (a 333 Hz tone rising in level, so every instant differs) as messages, and its reference decode. */
function stream(): { frames: AudioFrame[]; reference: Int16Array } {
  const enc = new LiveOpusEncoder({ fec: true });
  const asm = new FrameAssembler({ streamId: 9, startAtMs: START, packetsPerMessage: 3, markerEvery: 10, fec: true });
  const frames: AudioFrame[] = [];
  const packets: Buffer[] = [];
  for (let k = 0; k < SLOTS; k++) {
    const pcm = sinePcm(333, 20, k * 960, 1000 + k * 50);
    const p = enc.encode(pcm);
    packets.push(p);
    frames.push(...asm.add(k, p));
  }
  frames.push(asm.finish(enc.encode(Buffer.alloc(1920))));
  const dec = createOpusDecoder();
  const reference = new Int16Array((SLOTS + 1) * 960);
  packets.forEach((p, k) => reference.set(dec.decode(p), k * 960));
  return { frames, reference };
}

function playback(acousticDelayM = 0) {
  return new LivePlayback({ streamId: 9, startAtMs: START, delayMs: 250, acousticDelayM, decoder: createOpusDecoder() });
}

/**
 * Time runs as at a site: each message arrives 250 ms before its play-at
 * (unless dropped or before `joinAt`), and the engine asks for frames 20 ms
 * apart from `from`, each 200 ms (its sink latency) before it is heard, until
 * the source ends.
 */
function run(p: LivePlayback, frames: AudioFrame[], from: number, o: { drop?: (i: number) => boolean; joinAt?: number; max?: number } = {}): { at: number; pcm: Int16Array }[] {
  const out: { at: number; pcm: Int16Array }[] = [];
  let next = 0;
  const max = o.max ?? 400;
  for (let i = 0; i < max; i++) {
    const at = from + i * 20;
    const now = at - 200;
    for (; next < frames.length && frames[next]!.playAtUs / 1000 - 250 <= now; next++) {
      const f = frames[next]!;
      const arrival = f.playAtUs / 1000 - 250;
      if (o.drop?.(next) || (o.joinAt !== undefined && arrival < o.joinAt)) continue;
      expect(p.push(f, arrival).status).toBe('accepted');
    }
    const pcm = p.frame(i, at);
    if (pcm === null) break;
    // A frame is the source's until a few more are asked for (the engine hands it to the sink at once): kept here, copied.
    out.push({ at, pcm: pcm.slice() });
  }
  return out;
}

describe('LivePlayback', () => {
  it('plays the stream sample-exact on any engine slot phase: the same server time gives the same samples at every site', () => {
    const { frames, reference } = stream();
    for (const phase of [0, 7.3, 13, 19.98]) {
      const p = playback();
      const out = run(p, frames, START + phase);
      // The programme ends with the stream: no frame wholly after the last slot.
      expect(out.length).toBeGreaterThanOrEqual(SLOTS);
      expect(out.length).toBeLessThanOrEqual(SLOTS + 2);
      for (const { at, pcm } of out.slice(0, SLOTS - 2)) {
        const s0 = Math.round((at - START) * 48);
        expect(Array.from(pcm.subarray(0, 960))).toEqual(Array.from(reference.subarray(s0, s0 + 960)));
      }
      expect(p.stats).toMatchObject({ lost: 0, concealed: 0 });
    }
  });

  it('a late joiner starts with the sound due when it joins, in sync, even though it missed the start', () => {
    const { frames, reference } = stream();
    const p = playback();
    // It connected 1.2 s into the stream: the messages before never reached it.
    const joinAt = START + 1234.5;
    const out = run(p, frames, joinAt, { joinAt: joinAt - 250 });
    // A fresh Opus decoder needs a few packets to converge on the reference (decoded from the start); then it matches.
    for (const k of [10, 20, 40]) {
      const s0 = Math.round((out[k]!.at - START) * 48);
      expect(mismatch(out[k]!.pcm, reference.subarray(s0, s0 + 960))).toBeLessThan(0.05);
    }
    expect(out.length).toBeGreaterThan(80);
  });

  it('conceals lost messages (Opus PLC) and counts them; the marks played carry their server play time', () => {
    const { frames } = stream();
    const rnd = mulberry32(7);
    const p = playback();
    const out = run(p, frames, START + 5, { drop: (i) => i > 0 && i < frames.length - 1 && rnd() < 0.1 });
    const st = p.stats;
    expect(st.lost).toBeGreaterThan(0);
    expect(st.concealed + st.fecRecovered).toBe(st.lost);
    expect(st.played + st.lost).toBeGreaterThanOrEqual(SLOTS);
    // Concealment keeps sound going: hardly any 20 ms of the tone's middle is silent (Opus PLC fades out only over long gaps).
    const silent = out.slice(5, SLOTS - 5).filter(({ pcm }) => !pcm.some((x) => Math.abs(x) > 200)).length;
    expect(silent).toBeLessThanOrEqual(Math.ceil(0.03 * SLOTS));
    const marks = p.takeMarks();
    expect(marks.length).toBeGreaterThan(0);
    for (const m of marks) {
      const f = frames.find((x) => x.seq === m.seq)!;
      expect(f.marker).toBe(true);
      expect(m.playedAt).toBeCloseTo(f.playAtUs / 1000, 6);
    }
  });

  it('an acoustic delay plays everything metres / 343 m/s later', () => {
    const { frames, reference } = stream();
    const p = playback(34.3); // 100 ms
    const out = run(p, frames, START + 500);
    for (const k of [10, 30]) {
      const s0 = Math.round((out[k]!.at - 100 - START) * 48);
      expect(mismatch(out[k]!.pcm, reference.subarray(s0, s0 + 960))).toBeLessThan(0.05);
      // Without the delay it would be 100 ms of a rising tone off.
      const wrong = Math.round((out[k]!.at - START) * 48);
      expect(mismatch(out[k]!.pcm, reference.subarray(wrong, wrong + 960))).toBeGreaterThan(0.2);
    }
  });

  it('allocates nothing per frame: frames are a few reused buffers, packets decoded into its own, the samples unchanged', () => {
    const { frames, reference } = stream();
    const decoder = createOpusDecoder();
    const into: Array<Int16Array | undefined> = [];
    const counting = {
      decode: (p: Uint8Array, out?: Int16Array) => (into.push(out), decoder.decode(p, out)),
      conceal: (out?: Int16Array) => (into.push(out), decoder.conceal(out)),
      reset: () => decoder.reset(),
    };
    const p = new LivePlayback({ streamId: 9, startAtMs: START, delayMs: 250, decoder: counting });
    const seen = new Set<Int16Array>();
    const buffers = new Set<ArrayBufferLike>();
    let next = 0;
    for (let i = 0; i < SLOTS - 2; i++) {
      const at = START + 7.3 + i * 20;
      for (; next < frames.length && frames[next]!.playAtUs / 1000 - 250 <= at - 200; next++) p.push(frames[next]!, frames[next]!.playAtUs / 1000 - 250);
      const pcm = p.frame(i, at)!;
      seen.add(pcm);
      buffers.add(pcm.buffer);
      const s0 = Math.round((at - START) * 48);
      expect(Array.from(pcm)).toEqual(Array.from(reference.subarray(s0, s0 + 960)));
    }
    // A handful of frames in turn, all in one allocation made with the source; every packet decoded into a buffer it keeps.
    expect(seen.size).toBeLessThanOrEqual(4);
    expect(buffers.size).toBe(1);
    expect(into.length).toBeGreaterThanOrEqual(SLOTS - 2);
    expect(into.every((b) => b !== undefined && b.buffer === [...buffers][0])).toBe(true);
  });

  it('plays the same samples with a decoder that returns its own arrays (the @discordjs/opus fallback, an older binding)', () => {
    const { frames } = stream();
    const decoder = createOpusDecoder();
    const own = {
      decode: (p: Uint8Array) => decoder.decode(p),
      conceal: () => decoder.conceal(),
      decodeFec: (p: Uint8Array) => decoder.decodeFec!(p),
      reset: () => decoder.reset(),
    };
    const rnd = mulberry32(3);
    const drop = (i: number) => i > 0 && i < frames.length - 1 && rnd() < 0.1;
    const dropped = new Set(frames.map((_, i) => i).filter(drop));
    const a = run(playback(), frames, START + 13, { drop: (i) => dropped.has(i) });
    const b = run(new LivePlayback({ streamId: 9, startAtMs: START, delayMs: 250, decoder: own }), frames, START + 13, { drop: (i) => dropped.has(i) });
    expect(b.length).toBe(a.length);
    a.forEach((x, k) => expect(Array.from(b[k]!.pcm)).toEqual(Array.from(x.pcm)));
  });

  it('resumes at the live point after a pre-emption, not where it left off', () => {
    const { frames, reference } = stream();
    const p = playback();
    run(p, frames, START, { max: 20 });
    // Suspended for 1 s (messages keep arriving), then asked again: it plays what is due then.
    for (const f of frames) if (f.playAtUs / 1000 >= START + 400 && f.playAtUs / 1000 < START + 1700) p.push(f, f.playAtUs / 1000 - 250);
    const back = START + 1400;
    let pcm: Int16Array = new Int16Array(0);
    for (let i = 0; i <= 10; i++) pcm = p.frame(20 + i, back + i * 20)!;
    // After the jump the decoder started afresh; ten frames on it plays the stream's sound for that time.
    const s0 = Math.round((back + 200 - START) * 48);
    expect(mismatch(pcm, reference.subarray(s0, s0 + 960))).toBeLessThan(0.05);
    expect(p.stats.skipped).toBeGreaterThan(0);
  });
});
