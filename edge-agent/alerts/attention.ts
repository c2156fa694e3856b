/**
 * The attention signal before an alert, synthesised on the agent, pure: the
 * first sound of an alert must not wait for its audio to download over a weak
 * 4G link, so the siren or chime is generated here, at once, from nothing.
 *
 * - siren: a wail sweeping 600 → 1,200 → 600 Hz in 2 s, twice (4 s): the
 *   rising and falling tone people know as "danger" from civil-defence sirens;
 * - chime: three falling bell tones (880, 698, 587 Hz; 0.6 s each with an
 *   exponential decay), for tests, exercises and less severe alerts.
 *
 * Both at about −6 dBFS peak, with 10 ms fades so the loudspeaker does not click.
 * PCM in the agent format (mono, 48 kHz, s16) cut into 20 ms frames.
 */
import { FRAME_SAMPLES, SAMPLE_RATE } from '../audio/types.ts';
import type { AttentionSignal } from '../../protocol/index.ts';

const PEAK = 0.5 * 32767;
const FADE_S = 0.01;

function toFrames(samples: Float32Array): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let at = 0; at < samples.length; at += FRAME_SAMPLES) {
    const f = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES && at + i < samples.length; i++) f[i] = Math.round(samples[at + i]! * PEAK);
    frames.push(f);
  }
  return frames;
}

function fade(s: Float32Array): Float32Array {
  const n = Math.min(Math.round(FADE_S * SAMPLE_RATE), Math.floor(s.length / 2));
  for (let i = 0; i < n; i++) {
    const g = i / n;
    s[i]! *= g;
    s[s.length - 1 - i]! *= g;
  }
  return s;
}

/** Siren: phase-continuous sweep, frequency following a triangle between lowHz and highHz. */
export function siren(cycles = 2, cycleS = 2, lowHz = 600, highHz = 1200): Int16Array[] {
  const n = Math.round(cycles * cycleS * SAMPLE_RATE);
  const s = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = (i / SAMPLE_RATE) % cycleS;
    const tri = t < cycleS / 2 ? t / (cycleS / 2) : 2 - t / (cycleS / 2);
    const hz = lowHz + (highHz - lowHz) * tri;
    phase += (2 * Math.PI * hz) / SAMPLE_RATE;
    s[i] = Math.sin(phase);
  }
  return toFrames(fade(s));
}

/** Chime: falling bell tones with a decay and a soft second harmonic. */
export function chime(tonesHz: readonly number[] = [880, 698, 587], toneS = 0.6): Int16Array[] {
  const per = Math.round(toneS * SAMPLE_RATE);
  const s = new Float32Array(per * tonesHz.length);
  tonesHz.forEach((hz, k) => {
    for (let i = 0; i < per; i++) {
      const t = i / SAMPLE_RATE;
      const env = Math.exp(-4 * t) * Math.min(1, i / (FADE_S * SAMPLE_RATE));
      s[k * per + i] = env * (0.8 * Math.sin(2 * Math.PI * hz * t) + 0.2 * Math.sin(4 * Math.PI * hz * t));
    }
  });
  return toFrames(fade(s));
}

const cache = new Map<AttentionSignal, readonly Int16Array[]>();

/** The frames of a signal (made once per process and shared: callers must not write into them). */
export function attentionFrames(kind: AttentionSignal | null): readonly Int16Array[] {
  if (kind === null) return [];
  let f = cache.get(kind);
  if (!f) cache.set(kind, (f = kind === 'siren' ? siren() : chime()));
  return f;
}
