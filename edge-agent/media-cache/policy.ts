/**
 * The media cache's decisions, pure (no files, no sockets, no clock of their
 * own): what to fetch next, what may be evicted to make room, whether the
 * needed media can fit at all, and what to do with a partial file and with the
 * server's answer to a resumed request. cache.ts is the shell that does the
 * I/O these decisions call for.
 *
 * The rule that matters: NEVER evict media a playlist entry needs. A site on a
 * flaky 4G link may not get a file back before its bulletin airs; evicting a
 * needed file to make room for another needed file just trades one silent
 * bulletin for another and costs the bytes twice. When the needed media
 * alone exceed the limit, the cache says so (naming the sizes) and fetches
 * what fits in play order instead.
 */
import type { MediaRef } from './types.ts';

export interface CachedFile {
  sha256: string;
  bytes: number;
  /** Last time the file was read or written, ms: least recently used goes first. */
  lastUsedMs: number;
}

/** Bytes needed by distinct files (the same media may back several entries). */
export function neededBytes(needed: readonly MediaRef[]): number {
  const seen = new Map<string, number>();
  for (const r of needed) seen.set(r.sha256, r.bytes);
  let n = 0;
  for (const b of seen.values()) n += b;
  return n;
}

export interface OverLimit {
  neededBytes: number;
  limitBytes: number;
  message: string;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

/** Null when the needed media fit in the limit; otherwise the sizes, in a message an operator can act on. */
export function overLimit(needed: readonly MediaRef[], limitBytes: number): OverLimit | null {
  const n = neededBytes(needed);
  if (n <= limitBytes) return null;
  const files = new Set(needed.map((r) => r.sha256)).size;
  return {
    neededBytes: n,
    limitBytes,
    message:
      `Bộ nhớ đệm không đủ: ${files} tệp cần phát chiếm ${mb(n)}, giới hạn là ${mb(limitBytes)}; tăng audio.cacheLimitBytes hoặc rút ngắn lịch phát. ` +
      `/ Cache too small: the ${files} files the playlist needs take ${mb(n)}, the limit is ${mb(limitBytes)}; raise audio.cacheLimitBytes or shorten the schedule.`,
  };
}

export type RoomPlan = { ok: true; evict: string[] } | { ok: false; evict: []; shortBytes: number };

/**
 * Make room for `incomingBytes`: the least recently used files that are NOT
 * needed, oldest first, until it fits. If evicting every unneeded file is not
 * enough, evict nothing and say how much is missing.
 */
export function planRoom(files: readonly CachedFile[], needed: ReadonlySet<string>, incomingBytes: number, limitBytes: number): RoomPlan {
  let used = 0;
  for (const f of files) used += f.bytes;
  let over = used + incomingBytes - limitBytes;
  if (over <= 0) return { ok: true, evict: [] };
  const candidates = files.filter((f) => !needed.has(f.sha256)).sort((a, b) => a.lastUsedMs - b.lastUsedMs || (a.sha256 < b.sha256 ? -1 : 1));
  const evict: string[] = [];
  for (const f of candidates) {
    if (over <= 0) break;
    evict.push(f.sha256);
    over -= f.bytes;
  }
  if (over > 0) return { ok: false, evict: [], shortBytes: over };
  return { ok: true, evict };
}

export interface FetchState {
  /** Failed attempts so far for this file. */
  attempts: number;
  /** Not before this time (backoff), ms. */
  notBeforeMs: number;
}

/**
 * The next file to download: the first needed one (the caller lists them in
 * play order, soonest first) that is not cached, not waiting out a backoff,
 * and fits in the space left for needed media. Null when nothing can be done
 * now; `wakeAtMs` says when a backoff ends.
 */
export function nextFetch(
  needed: readonly MediaRef[],
  cached: ReadonlySet<string>,
  state: ReadonlyMap<string, FetchState>,
  nowMs: number,
  limitBytes: number,
): { ref: MediaRef | null; wakeAtMs: number | null; skippedForSpace: MediaRef[] } {
  let wakeAtMs: number | null = null;
  const skippedForSpace: MediaRef[] = [];
  // Space for needed media in play order: a file further down the list that would not fit with
  // those before it is skipped, so an oversized playlist still gets its first bulletins.
  let budget = limitBytes;
  const seen = new Set<string>();
  let ref: MediaRef | null = null;
  for (const r of needed) {
    if (seen.has(r.sha256)) continue;
    seen.add(r.sha256);
    if (r.bytes > budget) {
      if (!cached.has(r.sha256)) skippedForSpace.push(r);
      continue;
    }
    budget -= r.bytes;
    if (cached.has(r.sha256) || ref) continue;
    const s = state.get(r.sha256);
    if (s && s.notBeforeMs > nowMs) {
      wakeAtMs = wakeAtMs === null ? s.notBeforeMs : Math.min(wakeAtMs, s.notBeforeMs);
      continue;
    }
    ref = r;
  }
  return { ref, wakeAtMs, skippedForSpace };
}

/** What to do with a partial download found for a file of `expectedBytes`. */
export function partialDecision(partialBytes: number, expectedBytes: number): 'resume' | 'verify' | 'discard' {
  if (partialBytes > expectedBytes) return 'discard';
  if (partialBytes === expectedBytes) return 'verify';
  return partialBytes > 0 ? 'resume' : 'discard';
}

/**
 * How to treat the server's answer to a GET that asked for bytes from
 * `offset` on (Range, or no Range when offset is 0):
 * - 'append': 206 starting exactly at offset — add the body to the partial file;
 * - 'restart': 200 (the server sent the whole file: no Range support, or the
 *   If-Range validator said the file changed) — truncate and write from 0;
 * - 'discard': 416 (our partial is not a prefix of the file) — delete it, try again;
 * - 'fail': anything else (the reason goes to the log and the retry backoff).
 */
export function responseDecision(
  status: number,
  offset: number,
  contentRange: string | null,
  expectedBytes: number,
): { action: 'append' | 'restart' | 'discard' | 'fail'; reason?: string } {
  if (status === 200) return { action: 'restart' };
  if (status === 206) {
    const m = contentRange ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim()) : null;
    if (!m) return { action: 'fail', reason: `206 without a usable Content-Range (${contentRange ?? 'none'})` };
    const start = Number(m[1]);
    const total = m[3] === '*' ? null : Number(m[3]);
    if (start !== offset) return { action: 'fail', reason: `the server resumed at byte ${start}, we asked for ${offset}` };
    if (total !== null && total !== expectedBytes) return { action: 'fail', reason: `the file on the server is ${total} bytes, the playlist says ${expectedBytes}` };
    return { action: 'append' };
  }
  if (status === 416) return { action: 'discard', reason: 'the partial file is not a prefix of the file on the server' };
  return { action: 'fail', reason: `HTTP ${status}` };
}

/** A file name in the cache directory: `<sha256>.opus` complete, `<sha256>.part` partial. */
export function classifyCacheFile(name: string): { kind: 'complete' | 'partial'; sha256: string } | { kind: 'other' } {
  const m = /^([0-9a-f]{64})\.(opus|part)$/.exec(name);
  if (!m) return { kind: 'other' };
  return { kind: m[2] === 'opus' ? 'complete' : 'partial', sha256: m[1]! };
}
