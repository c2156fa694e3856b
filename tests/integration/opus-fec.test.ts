/**
 * loanet's libopus binding (native/opus-decoder) against real speech:
 * espeak-ng reading Vietnamese, encoded by the server's live encoder (Opus
 * 24 kbit/s CBR, in-band FEC on), decoded as a site would after losing
 * packets. A lost packet rebuilt from the next packet's FEC must be much
 * closer to what was sent than Opus PLC's guess — that is the point of the
 * encoder spending bits on FEC — and the live playout path must use it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpusDecoder, opusFec } from '../../edge-agent/audio/opus.ts';
import { AudioDecodeError, FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import { LivePlayback } from '../../edge-agent/live/live-playback.ts';
import { LiveOpusEncoder, LIVE_FRAME_BYTES } from '../../server/live/opus-encoder.ts';
import type { AudioFrame } from '../../protocol/audio-frame.ts';
import { FrameAssembler } from '../../server/live/frame-assembler.ts';
import { espeak, ffmpeg } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng', {
  name: "loanet's libopus decoder with in-band FEC (native/opus-decoder)",
  install: 'apt-get install python3 make g++, then npm run build:native',
  present: () => opusFec.available || (opusFec.why ?? 'not built'),
});

/** Energy of (a − b) over one frame. */
function errorEnergy(a: Int16Array, b: Int16Array): number {
  let e = 0;
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    e += d * d;
  }
  return e;
}
function energy(a: Int16Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e += a[i]! * a[i]!;
  return e;
}

describe.skipIf(!canRun)("in-band FEC with loanet's libopus binding", () => {
  let dir: string;
  let packets: Buffer[];
  /** Frames as decoded with nothing lost: what the listener should have heard. */
  let reference: Int16Array[];

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-fec-'));
    const wav = path.join(dir, 'speech.wav');
    fs.writeFileSync(
      path.join(dir, 'text.txt'),
      'Thông báo khẩn: mưa lớn kéo dài, nguy cơ lũ quét và sạt lở đất tại các xã vùng cao. Đề nghị bà con không qua suối, di chuyển người và tài sản đến nơi an toàn.',
    );
    execFileSync(espeak!, ['-v', 'vi', '-w', wav, '-f', path.join(dir, 'text.txt')]);
    const raw = path.join(dir, 'speech.s16');
    ffmpeg('-i', wav, '-ac', '1', '-ar', '48000', '-f', 's16le', raw);
    const pcm = fs.readFileSync(raw);
    const enc = new LiveOpusEncoder({ signal: 'voice' });
    packets = [];
    for (let at = 0; at + LIVE_FRAME_BYTES <= pcm.length; at += LIVE_FRAME_BYTES) packets.push(enc.encode(pcm.subarray(at, at + LIVE_FRAME_BYTES)));
    const d = createOpusDecoder();
    reference = packets.map((p) => d.decode(p));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The loud frames: where losing one is heard, and where FEC has something to carry. */
  function lossPositions(): number[] {
    const loud = reference.map((f, i) => ({ i, e: energy(f) })).filter(({ i }) => i > 10 && i < reference.length - 2);
    const threshold = [...loud].sort((a, b) => b.e - a.e)[Math.floor(loud.length / 3)]!.e;
    // Every other loud frame at least 5 frames apart, so each loss is followed by received packets.
    const out: number[] = [];
    for (const { i, e } of loud) if (e >= threshold && (out.length === 0 || i - out[out.length - 1]! >= 5)) out.push(i);
    return out;
  }

  it('rebuilds lost speech packets from the next packet far closer to the original than PLC does', () => {
    const lost = new Set(lossPositions());
    expect(lost.size).toBeGreaterThan(15);
    const withFec = createOpusDecoder();
    const withPlc = createOpusDecoder('fallback');
    const plcExact = createOpusDecoder(); // the binding's exact 20 ms PLC, for a fair comparison
    expect(withFec.decodeFec).toBeDefined();
    expect(withPlc.decodeFec).toBeUndefined();
    let fecErr = 0;
    let plcErr = 0;
    let plcExactErr = 0;
    let signal = 0;
    for (let i = 0; i < packets.length; i++) {
      if (lost.has(i)) {
        const fec = withFec.decodeFec!(packets[i + 1]!);
        expect(fec.length).toBe(FRAME_SAMPLES);
        fecErr += errorEnergy(fec, reference[i]!);
        plcErr += errorEnergy(withPlc.conceal(), reference[i]!);
        plcExactErr += errorEnergy(plcExact.conceal(), reference[i]!);
        signal += energy(reference[i]!);
      } else {
        withFec.decode(packets[i]!);
        withPlc.decode(packets[i]!);
        plcExact.decode(packets[i]!);
      }
    }
    const snr = (err: number) => 10 * Math.log10(signal / err);
    console.log(
      `FEC SNR ${snr(fecErr).toFixed(1)} dB, PLC (120 ms fallback) ${snr(plcErr).toFixed(1)} dB, PLC exact ${snr(plcExactErr).toFixed(1)} dB over ${lost.size} lost frames`,
    );
    // FEC is a coarser copy of the real frame: it follows the speech (positive SNR);
    // PLC extrapolates the last frame and misses every change (around 0 dB or worse).
    expect(snr(fecErr)).toBeGreaterThan(3);
    expect(snr(fecErr)).toBeGreaterThan(snr(plcErr) + 3);
    expect(snr(fecErr)).toBeGreaterThan(snr(plcExactErr) + 3);
  });

  it('conceals exactly one 20 ms frame per call, and refuses a garbage packet without harming the stream', () => {
    const d = createOpusDecoder();
    d.decode(packets[20]!);
    expect(d.conceal().length).toBe(FRAME_SAMPLES);
    expect(() => d.decode(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(AudioDecodeError);
    expect(d.decode(packets[21]!).length).toBe(FRAME_SAMPLES);
    d.reset();
    expect(d.decode(packets[22]!).length).toBe(FRAME_SAMPLES);
  });

  it('decodes, conceals and rebuilds into a buffer the caller keeps, the same samples as into a new array; one too small gets a new array', () => {
    const fresh = createOpusDecoder();
    const kept = createOpusDecoder();
    const into = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < 30; i++) {
      const want = i % 7 === 3 ? fresh.conceal() : i % 7 === 5 ? fresh.decodeFec!(packets[i + 1]!) : fresh.decode(packets[i]!);
      const got = i % 7 === 3 ? kept.conceal(into) : i % 7 === 5 ? kept.decodeFec!(packets[i + 1]!, into) : kept.decode(packets[i]!, into);
      expect(got).toBe(into);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
    const small = new Int16Array(100);
    const pcm = kept.decode(packets[30]!, small);
    expect(pcm).not.toBe(small);
    expect(pcm.length).toBe(FRAME_SAMPLES);
    expect(Array.from(pcm)).toEqual(Array.from(fresh.decode(packets[30]!)));
  });

  it('live playout rebuilds the last packet of a lost message from the next message, and counts it', () => {
    const START = 1_000_000;
    const msgs = Math.min(60, Math.floor(packets.length / 3));
    // Lose the message whose last packet is the loudest: where a listener hears the difference.
    let lostMsg = 5;
    for (let m = 5; m < msgs - 2; m++) if (energy(reference[3 * m + 2]!) > energy(reference[3 * lostMsg + 2]!)) lostMsg = m;
    const rebuilt = 3 * lostMsg + 2;

    /** Plays the stream through LivePlayback as a site does; the error heard at the rebuilt slot, relative to its energy. */
    function play(decoder: ReturnType<typeof createOpusDecoder>) {
      const pb = new LivePlayback({ streamId: 1, startAtMs: START, delayMs: 250, decoder });
      const asm = new FrameAssembler({ streamId: 1, startAtMs: START, packetsPerMessage: 3, markerEvery: 10, fec: true });
      const frames: AudioFrame[] = [];
      for (let k = 0; k < msgs * 3; k++) frames.push(...asm.add(k, packets[k]!));
      expect(frames.length).toBe(msgs);
      // Each message arrives 200 ms before it plays, in step with the engine's requests (as at a site).
      const arrival = (m: number) => START + m * 60 - 200;
      let next = 0;
      let error = 0;
      for (let slot = 0; slot < msgs * 3; slot++) {
        for (; next < msgs && arrival(next) <= START + slot * 20; next++) if (next !== lostMsg) pb.push(frames[next]!, arrival(next));
        const f = pb.frame(slot, START + slot * 20);
        expect(f).not.toBeNull();
        if (slot === rebuilt) error = errorEnergy(f!, reference[rebuilt]!) / energy(reference[rebuilt]!);
      }
      return { stats: pb.stats, error };
    }

    const fec = play(createOpusDecoder());
    expect(fec.stats.fecRecovered).toBe(1); // the lost message's last packet, from the next message's first
    expect(fec.stats.concealed).toBe(2); // its first two: nothing carries them
    expect(fec.stats.lost).toBe(3);
    // The same site with the binding's PLC only (no decodeFec): all three concealed, and the rebuilt slot worse.
    const native = createOpusDecoder();
    const plcOnly = {
      decode: (p: Uint8Array) => native.decode(p),
      conceal: () => native.conceal(),
      reset: () => native.reset(),
      packetsDecoded: 0,
      framesConcealed: 0,
      badPackets: 0,
    };
    const plc = play(plcOnly);
    expect(plc.stats.fecRecovered).toBe(0);
    expect(plc.stats.concealed).toBe(3);
    expect(fec.error).toBeLessThan(plc.error);
  });
});
