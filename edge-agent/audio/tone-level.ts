/**
 * Levels of captured audio, for the monitoring microphone: how loud a given
 * frequency is (a sound check's tone) and how loud everything is (what an
 * alert sounded like). Pure functions over S16LE mono PCM.
 *
 * dBFS here is an RMS level against full scale (32768), the convention of the
 * sinks' frame levels (stats.ts) and of the simulated device: a full-scale sine
 * reads -3.01 dBFS, digital silence the floor of -120.
 */
import { AUDIO_LEVEL_FLOOR_DB } from '../../protocol/index.ts';

export const LEVEL_FLOOR_DB = AUDIO_LEVEL_FLOOR_DB;
const FULL_SCALE_SQ = 32768 * 32768;

/** A mean square (in sample units squared) as dBFS, floored. */
export function powerToDb(meanSquare: number): number {
  if (!(meanSquare > 0)) return LEVEL_FLOOR_DB;
  return Math.max(LEVEL_FLOOR_DB, 10 * Math.log10(meanSquare / FULL_SCALE_SQ));
}

/** Samples of S16LE bytes (a trailing odd byte is ignored); a view when aligned, else a copy. */
export function s16le(bytes: Uint8Array): Int16Array {
  const n = bytes.length >> 1;
  if (bytes.byteOffset % 2 === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16) >> 16;
  return out;
}

/** Mean square of samples[start, end): the broadband power. */
export function meanSquare(samples: Int16Array, start = 0, end = samples.length): number {
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) sum += samples[i]! * samples[i]!;
  return sum / (end - start);
}

/** Broadband RMS level of samples[start, end) in dBFS. */
export function rmsDb(samples: Int16Array, start = 0, end = samples.length): number {
  return powerToDb(meanSquare(samples, start, end));
}

/**
 * The mean square of the `hz` component alone in samples[start, end):
 * Goertzel at exactly that frequency (not a DFT bin) over a Hann window, so
 * neither the block length nor energy at other frequencies (hum, wind, the
 * tone's own harmonics) leaks in. A sine of RMS r at `hz` reads r².
 */
export function tonePower(samples: Int16Array, hz: number, sampleRate: number, start = 0, end = samples.length): number {
  const n = end - start;
  if (n < 2 || !(hz > 0) || hz >= sampleRate / 2) return 0;
  const w = (2 * Math.PI * hz) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let windowSum = 0;
  for (let i = 0; i < n; i++) {
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    windowSum += win;
    const s0 = samples[start + i]! * win + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  // |X(w)|² from the last two states; a sine of amplitude A gives |X| ≈ A·Σwin/2.
  const re = s1 - s2 * Math.cos(w);
  const im = s2 * Math.sin(w);
  const amplitude = (2 * Math.sqrt(re * re + im * im)) / windowSum;
  return (amplitude * amplitude) / 2;
}

/** Level of the `hz` component of samples[start, end) in dBFS. */
export function toneDb(samples: Int16Array, hz: number, sampleRate: number, start = 0, end = samples.length): number {
  return powerToDb(tonePower(samples, hz, sampleRate, start, end));
}

export interface HeardToneOptions {
  hz: number;
  sampleRate: number;
  /** How long the tone played; the capture may be longer (it starts before and ends after). */
  toneMs: number;
  /** Analysis block, default 100 ms (10 Hz resolution: mains hum at 50 Hz stays out of a 1 kHz reading). */
  blockMs?: number;
}

/**
 * How loud the tone was in a capture that holds it somewhere (the sound card's
 * and the air's delay are not known): the tone's power in blocks, averaged
 * over the loudest stretch as long as the tone's steady part. dBFS; the floor
 * when the capture is shorter than one block.
 */
export function heardToneDb(samples: Int16Array, o: HeardToneOptions): number {
  const block = Math.max(2, Math.round((o.sampleRate * (o.blockMs ?? 100)) / 1000));
  const count = Math.floor(samples.length / block);
  if (count === 0) return LEVEL_FLOOR_DB;
  const powers = new Float64Array(count);
  for (let b = 0; b < count; b++) powers[b] = tonePower(samples, o.hz, o.sampleRate, b * block, (b + 1) * block);
  // The ramps (10 ms each end) and a block straddling each edge are not steady: leave two blocks out.
  const span = Math.max(1, Math.min(count, Math.floor((o.toneMs * o.sampleRate) / 1000 / block) - 2));
  let sum = 0;
  for (let b = 0; b < span; b++) sum += powers[b]!;
  let best = sum;
  for (let b = span; b < count; b++) {
    sum += powers[b]! - powers[b - span]!;
    best = Math.max(best, sum);
  }
  return powerToDb(best / span);
}
