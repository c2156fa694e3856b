/**
 * Rows split for multi-row statements, in sizes from a short fixed ladder:
 * `max`, then powers of two below it. Every size is its own SQL text, and
 * SQLite keeps a prepared statement per text (statement-cache.ts): slicing
 * by `max` alone gave almost every write a last slice of a new size, so a new
 * text to prepare (a 100-row upsert took ~5× as long to prepare as to run)
 * and to cache (~25 bytes outside the heap per character). With the ladder
 * a table's writes repeat at most ⌊log₂ max⌋ + 2 texts. Order is kept.
 */
export function inBatches<T>(rows: readonly T[], max: number): T[][] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max rows per statement must be a whole number ≥ 1, not ${max}`);
  const out: T[][] = [];
  let at = 0;
  while (rows.length - at >= max) {
    out.push(rows.slice(at, at + max));
    at += max;
  }
  // The rest (< max) as its binary digits, largest first: 300 → 256 + 32 + 8 + 4.
  for (let size = 2 ** Math.floor(Math.log2(Math.max(1, max - 1))); size >= 1; size /= 2) {
    if (rows.length - at >= size) {
      out.push(rows.slice(at, at + size));
      at += size;
    }
  }
  return out;
}
