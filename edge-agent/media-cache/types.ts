/**
 * The agent's media cache as the playlist executor sees it: media files kept
 * on the site's own disk, keyed by SHA-256, so a bulletin plays from the cache
 * at its start time whether or not the 4G link is up (store and forward). The implementation (cache.ts) downloads over HTTP with Range
 * resume, verifies the checksum, bounds the directory in bytes and evicts only
 * media that no playlist entry needs; the decisions are in policy.ts (pure).
 */

/** One media file a playlist needs: what protocol/playlist.ts carries per entry. */
export interface MediaRef {
  mediaId: string;
  /** Lower-case hex SHA-256 of the file: its name in the cache and its proof of integrity. */
  sha256: string;
  bytes: number;
}

/** Counters for telemetry and benchmarks; monotonic since the cache was created. */
export interface MediaCacheCounters {
  /** Body bytes received over HTTP (every attempt, including ones later discarded). */
  bytesFetched: number;
  /** Downloads completed and verified. */
  downloads: number;
  /** Attempts beyond the first per file (cut connections, server errors, bad checksums). */
  retries: number;
  /** Requests that continued a partial file with Range. */
  resumes: number;
  /** Complete files whose SHA-256 did not match: deleted and fetched again. */
  checksumFailures: number;
  /** Files removed to make room. */
  evictions: number;
}

/** What the cache holds and what it still lacks, after the latest sync. */
export interface MediaCacheReport {
  /** Bytes of complete, verified files in the cache directory. */
  cacheBytes: number;
  limitBytes: number;
  /** Needed media not (yet) in the cache. */
  missing: MediaRef[];
  /**
   * Set when the needed media alone exceed the limit: the cache keeps what it
   * has and fetches no further rather than evict media a playlist needs.
   */
  overLimit: { neededBytes: number; limitBytes: number; message: string } | null;
  counters: MediaCacheCounters;
}

export interface MediaCache {
  /** Rebuild the index from the directory (after a restart): verified files, partials kept for resume. */
  open(): Promise<void>;
  /**
   * Declare what the playlist needs now. Evicts only unneeded files when room
   * is needed, and fetches missing media in the background (retrying with
   * backoff until they are in or no longer needed). Returns at once.
   */
  setNeeded(needed: readonly MediaRef[]): void;
  /** True when the file is complete and verified (safe to play). */
  has(sha256: string): boolean;
  /** Absolute path of a complete, verified file, or null. */
  pathOf(sha256: string): string | null;
  /**
   * Check a complete file against its SHA-256 again, just before it is played:
   * true when it matches; false when it is damaged or gone (storage rot, a
   * write by something else), in which case it is dropped, counted, logged and
   * fetched again at once if still needed. Optional: caches that cannot rot.
   */
  verify?(sha256: string): Promise<boolean>;
  /** Resolves when every currently needed file is in (or rejects on close); for tests and start-up. */
  whenSettled(): Promise<MediaCacheReport>;
  report(): MediaCacheReport;
  /** Stop downloads (partials stay for resume). */
  close(): Promise<void>;
}
