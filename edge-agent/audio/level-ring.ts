/**
 * What a microphone heard, block by block, for a bounded time back: the mean
 * square of each block with the time it ended. Fixed memory (two typed arrays
 * of `capacity`), the oldest block overwritten first. Pure.
 */
import { powerToDb } from './tone-level.ts';

export class LevelRing {
  private readonly ends: Float64Array;
  private readonly powers: Float64Array;
  private head = 0; // next slot to write
  private size = 0;

  constructor(
    readonly capacity: number,
    /** Length of one block, ms. */
    readonly blockMs: number,
  ) {
    this.ends = new Float64Array(capacity);
    this.powers = new Float64Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** A block that ended at `endMs` with mean square `power`. Ends are expected not to go backwards. */
  push(endMs: number, power: number): void {
    this.ends[this.head] = endMs;
    this.powers[this.head] = power;
    this.head = (this.head + 1) % this.capacity;
    this.size = Math.min(this.capacity, this.size + 1);
  }

  /**
   * The loudest second among the blocks that overlap [from, to), in dBFS to
   * one decimal (the simulated device's microphone answers the same way):
   * music with pauses still reads as loud as it sounded, one click does not.
   * Fewer blocks than a second: their mean. null when no block overlaps.
   */
  loudestDb(from: number, to: number, spanMs = 1000): number | null {
    const k = Math.max(1, Math.round(spanMs / this.blockMs));
    const window: number[] = [];
    let sum = 0;
    let best = -1;
    let seen = 0;
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head - this.size + i + this.capacity) % this.capacity;
      const end = this.ends[slot]!;
      if (end <= from || end - this.blockMs >= to) continue;
      const p = this.powers[slot]!;
      window.push(p);
      sum += p;
      seen++;
      if (window.length > k) sum -= window.shift()!;
      if (window.length === k) best = Math.max(best, sum / k);
    }
    if (seen === 0) return null;
    const mean = best >= 0 ? best : sum / window.length;
    return Math.round(powerToDb(mean) * 10) / 10;
  }
}
