import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inBatches } from '../../server/store/batches.ts';

/** The sizes a table's statements may have for `max`: max and the powers of two below it. */
const ladder = (max: number) => new Set([max, ...Array.from({ length: 32 }, (_, i) => 2 ** i).filter((s) => s < max)]);

describe('inBatches', () => {
  it('keeps every row once, in order, in sizes of max and powers of two below it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 1200 }), (n, max) => {
        const rows = Array.from({ length: n }, (_, i) => i);
        const batches = inBatches(rows, max);
        expect(batches.flat()).toEqual(rows);
        for (const b of batches) {
          expect(b.length).toBeGreaterThan(0);
          expect(b.length).toBeLessThanOrEqual(max);
          expect(ladder(max).has(b.length), `size ${b.length} for max ${max}`).toBe(true);
        }
      }),
    );
  });

  it('writes of any size use at most ⌊log₂ max⌋ + 2 different sizes (statement texts), where slicing by max made one per size', () => {
    const seen = new Set<number>();
    for (let n = 1; n <= 1300; n++)
      for (const b of inBatches(
        Array.from({ length: n }, () => 0),
        500,
      ))
        seen.add(b.length);
    expect(seen.size).toBeLessThanOrEqual(Math.floor(Math.log2(500)) + 2);
    expect([...seen].sort((a, b) => b - a)).toEqual([500, 256, 128, 64, 32, 16, 8, 4, 2, 1]);
  });

  it('300 rows under a max of 500: 256, 32, 8, 4; 1,100: 500, 500, 64, 32, 4', () => {
    expect(
      inBatches(
        Array.from({ length: 300 }, (_, i) => i),
        500,
      ).map((b) => b.length),
    ).toEqual([256, 32, 8, 4]);
    expect(
      inBatches(
        Array.from({ length: 1100 }, (_, i) => i),
        500,
      ).map((b) => b.length),
    ).toEqual([500, 500, 64, 32, 4]);
    expect(inBatches([], 500)).toEqual([]);
    expect(inBatches([1], 1)).toEqual([[1]]);
  });

  it('refuses a max that is not a whole number ≥ 1', () => {
    expect(() => inBatches([1], 0)).toThrow(/whole number ≥ 1, not 0/);
  });
});
