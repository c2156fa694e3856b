import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LEVEL_FLOOR_DB, heardToneDb, rmsDb, s16le, toneDb } from '../../edge-agent/audio/tone-level.ts';

const RATE = 48000;

/** A sine whose RMS is `db` dBFS (so amplitude 32768·√2·10^(db/20)). */
function sine(hz: number, db: number, ms: number, rate = RATE, phase = 0): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const a = 32768 * Math.SQRT2 * 10 ** (db / 20);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(a * Math.sin((2 * Math.PI * hz * i) / rate + phase));
  return out;
}

/** Deterministic white noise of RMS `db` dBFS (uniform, so amplitude √3·rms). */
function noise(db: number, ms: number, seed = 1, rate = RATE): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const a = 32768 * Math.sqrt(3) * 10 ** (db / 20);
  let x = seed >>> 0 || 1;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = Math.round(a * ((x >>> 0) / 2 ** 31 - 1));
  }
  return out;
}

const concat = (...parts: Int16Array[]) => {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

describe('tone and broadband levels', () => {
  it('a 1 kHz tone at -20 dBFS reads -20 at 1 kHz and broadband', () => {
    const s = sine(1000, -20, 500);
    expect(toneDb(s, 1000, RATE)).toBeCloseTo(-20, 1);
    expect(rmsDb(s)).toBeCloseTo(-20, 1);
  });

  it('a full-scale sine reads -3 dBFS (RMS against full scale, as the sinks and the simulated device)', () => {
    const s = sine(1000, -3.02, 200); // a hair under full scale: 32768 does not fit an Int16
    expect(rmsDb(s)).toBeCloseTo(-3, 1);
  });

  it('silence reads the floor, never -Infinity or NaN', () => {
    const s = new Int16Array(4800);
    expect(rmsDb(s)).toBe(LEVEL_FLOOR_DB);
    expect(toneDb(s, 1000, RATE)).toBe(LEVEL_FLOOR_DB);
    expect(heardToneDb(s, { hz: 1000, sampleRate: RATE, toneMs: 100 })).toBe(LEVEL_FLOOR_DB);
    expect(rmsDb(new Int16Array(0))).toBe(LEVEL_FLOOR_DB);
  });

  it('noise without the tone reads low at 1 kHz though loud broadband', () => {
    const n = noise(-20, 1000);
    expect(rmsDb(n)).toBeCloseTo(-20, 0);
    // White noise spreads its power: a 100 ms Hann block sees ~15 Hz of 24 kHz of it.
    expect(toneDb(n, 1000, RATE, 0, 4800)).toBeLessThan(-45);
    expect(heardToneDb(n, { hz: 1000, sampleRate: RATE, toneMs: 1000 })).toBeLessThan(-45);
  });

  it('a tone at another frequency, mains hum or a harmonic does not count as the tone', () => {
    expect(toneDb(sine(1200, -10, 200), 1000, RATE)).toBeLessThan(-80);
    expect(toneDb(sine(50, -10, 200), 1000, RATE)).toBeLessThan(-80);
    expect(toneDb(sine(2000, -10, 200), 1000, RATE)).toBeLessThan(-80);
  });

  it('finds the tone anywhere in a longer capture, through noise', () => {
    const capture = concat(noise(-50, 300, 7), sine(1000, -30, 2000), noise(-50, 700, 9));
    expect(heardToneDb(capture, { hz: 1000, sampleRate: RATE, toneMs: 2000 })).toBeCloseTo(-30, 0);
  });

  it('reads S16LE bytes at any offset', () => {
    const s = sine(1000, -20, 100);
    const bytes = Buffer.alloc(s.length * 2 + 1);
    for (let i = 0; i < s.length; i++) bytes.writeInt16LE(s[i]!, 1 + 2 * i);
    expect(Array.from(s16le(bytes.subarray(1)))).toEqual(Array.from(s));
    expect(s16le(Buffer.from([1, 0, 0xff, 0xff, 7])).length).toBe(2);
    expect(Array.from(s16le(Buffer.from([0x34, 0x12, 0xfe, 0xff])))).toEqual([0x1234, -2]);
  });

  it('any tone, level, phase and rate reads its level within 0.5 dB (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 4000 }),
        fc.double({ min: -60, max: -6, noNaN: true }),
        fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
        fc.constantFrom(16000, 44100, 48000),
        (hz, db, phase, rate) => {
          const s = sine(hz, db, 300, rate, phase);
          expect(Math.abs(toneDb(s, hz, rate) - db)).toBeLessThan(0.5);
          expect(Math.abs(heardToneDb(s, { hz, sampleRate: rate, toneMs: 300 }) - db)).toBeLessThan(0.5);
        },
      ),
      { numRuns: 60 },
    );
  });
});
