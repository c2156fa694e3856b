/**
 * The agent's audio path against real components: files made by real ffmpeg
 * (libopus, the media library's profile) read by ogg.ts and decoded by
 * @discordjs/opus through opus.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import opus from '@discordjs/opus';
import { readOggOpus } from '../../edge-agent/audio/ogg.ts';
import { createOpusDecoder, decodeStream } from '../../edge-agent/audio/opus.ts';
import { AudioDecodeError, FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import { ffmpeg } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');

/** The library's encoding profile (server/media/ingest.ts). */
function encodeLikeLibrary(input: string[], out: string, bitrateKbps = 24): void {
  ffmpeg(
    ...input,
    '-c:a',
    'libopus',
    '-b:a',
    `${bitrateKbps}k`,
    '-vbr',
    'on',
    '-application',
    'audio',
    '-frame_duration',
    '20',
    '-ac',
    '1',
    '-ar',
    '48000',
    '-fflags',
    '+bitexact',
    '-flags:a',
    '+bitexact',
    '-f',
    'ogg',
    out,
  );
}

const rms = (x: Int16Array, from = 0, to = x.length) => {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
};

describe.skipIf(!canRun)('Ogg Opus from real ffmpeg, decoded by libopus', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-audio-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the header, 20 ms packets and the exact duration, and decodes a 440 Hz tone back', () => {
    const file = path.join(dir, 'tone.opus');
    encodeLikeLibrary(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2.5:sample_rate=44100'], file);
    const s = readOggOpus(fs.readFileSync(file));
    expect(s.channels).toBe(1);
    expect(s.preSkip).toBe(312); // libopus's encoder delay at 48 kHz
    expect(s.inputSampleRate).toBe(48000); // -ar 48000 resamples before the encoder
    expect(s.durationMs).toBeCloseTo(2500, 0);
    expect(s.packets.length).toBe(Math.ceil((s.totalSamples + s.preSkip) / FRAME_SAMPLES));

    const pcm = decodeStream(s);
    expect(pcm.length).toBe(s.totalSamples);
    // ffmpeg's sine source is at 1/8 full scale: RMS ≈ 4096/√2 ≈ 2896; Opus at 24 kbit/s keeps it within a few %.
    expect(rms(pcm, 4800, pcm.length - 4800)).toBeGreaterThan(2500);
    expect(rms(pcm, 4800, pcm.length - 4800)).toBeLessThan(3300);
    // Pitch survives: count rising zero crossings over 2 s in the middle.
    let crossings = 0;
    for (let i = 4801; i < 4800 + 96000; i++) if (pcm[i - 1]! < 0 && pcm[i]! >= 0) crossings++;
    expect(crossings).toBeGreaterThanOrEqual(878);
    expect(crossings).toBeLessThanOrEqual(882);
  });

  it('conceals lost packets with PLC (decaying, never a hard gap first) and refuses garbage with AudioDecodeError', () => {
    const file = path.join(dir, 'tone2.opus');
    encodeLikeLibrary(['-f', 'lavfi', '-i', 'sine=frequency=300:duration=1'], file);
    const s = readOggOpus(fs.readFileSync(file));
    const d = createOpusDecoder();
    for (const p of Array.from(s.packets).slice(0, 20)) expect(d.decode(p)).toHaveLength(FRAME_SAMPLES);
    const levels = Array.from({ length: 8 }, () => {
      const f = d.conceal();
      expect(f).toHaveLength(FRAME_SAMPLES);
      return rms(f);
    });
    expect(levels[0]).toBeGreaterThan(500); // the first concealed frame continues the tone
    expect(levels[7]!).toBeLessThan(levels[0]!); // and it fades
    expect(d.framesConcealed).toBe(8);
    // After the loss, real packets decode again.
    expect(rms(d.decode(s.packets.at(30)!))).toBeGreaterThan(0);
    expect(() => d.decode(Uint8Array.of(0xff, 0xff, 0xff))).toThrow(AudioDecodeError);
    expect(() => d.decode(new Uint8Array(0))).toThrow(AudioDecodeError);
    expect(d.badPackets).toBe(1);
    d.reset();
    expect(d.decode(s.packets.at(0)!)).toHaveLength(FRAME_SAMPLES);
  });

  it('a fresh decoder conceals with silence before any packet', () => {
    const d = createOpusDecoder();
    expect(rms(d.conceal())).toBe(0);
  });

  it("decodes packets from the binding's own encoder (what the live path sends)", () => {
    const enc = new opus.OpusEncoder(48000, 1);
    const pcm = Buffer.alloc(FRAME_SAMPLES * 2);
    for (let i = 0; i < FRAME_SAMPLES; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 48000)), i * 2);
    const d = createOpusDecoder();
    let last: Int16Array = new Int16Array(0);
    for (let k = 0; k < 5; k++) last = d.decode(enc.encode(pcm));
    expect(rms(last)).toBeGreaterThan(4000);
  });
});
