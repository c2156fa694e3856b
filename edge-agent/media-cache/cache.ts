/**
 * The agent's media cache on disk (MediaCache in types.ts): the shell around
 * policy.ts. Files are named by SHA-256 in one directory:
 *
 *   <sha256>.opus   complete and verified; what the executor plays
 *   <sha256>.part   a download in progress or interrupted, kept for resume
 *
 * Download: `GET {httpUrl}/api/media/{mediaId}/audio` with HTTP Basic
 * `siteId:secret` (the site's own credential; the server lets a site read
 * this route and nothing else), `Range: bytes=<partial size>-` and
 * `If-Range: "<sha256>"` (the server's ETag) when a partial exists, so a 4G
 * link cut mid-transfer costs only the bytes not yet received. When the file
 * is whole, its SHA-256 is checked: a mismatch deletes it and fetches it
 * again (counted); a match is renamed into place (atomic on one filesystem),
 * after an fsync, so a power cut never leaves a `.opus` that is not whole.
 *
 * Restart: open() rebuilds the index from the directory, verifying each
 * complete file's checksum (an SD card can rot; a Pi hashes ~100 MB/s) and
 * keeping partials younger than `partialMaxAgeMs` for resume.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Backoff } from '../../common/backoff.ts';
import { httpGet, type HttpGet } from '../http-get.ts';
import { classifyCacheFile, nextFetch, overLimit, partialDecision, planRoom, responseDecision, type CachedFile, type FetchState } from './policy.ts';
import type { MediaCache, MediaCacheCounters, MediaCacheReport, MediaRef } from './types.ts';

export interface FileMediaCacheOptions {
  dir: string;
  limitBytes: number;
  /** Server base URL, e.g. http://10.0.0.1:8080. */
  httpUrl: string;
  siteId: string;
  secret: string;
  /** Partials older than this are deleted at open() (default 72 h). */
  partialMaxAgeMs?: number;
  /** Retry backoff per file (default 2 s .. 5 min, jittered). */
  retry?: { baseMs?: number; capMs?: number };
  /** A transfer that receives nothing for this long is abandoned and retried (default 30 s). */
  stallTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
  /** The HTTP GET, injectable for tests that need to see requests (default httpGet: node:http, not fetch, for the board's memory). */
  fetch?: HttpGet;
  log?: { info?(message: string): void; warn(message: string): void };
}

/** Why a download attempt ended without a verified file. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly immediateRetry = false,
  ) {
    super(message);
  }
}

interface Entry extends CachedFile {
  complete: boolean;
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class FileMediaCache implements MediaCache {
  private readonly entries = new Map<string, Entry>();
  private needed: MediaRef[] = [];
  private neededSet = new Set<string>();
  private readonly fetchState = new Map<string, FetchState & { backoff: Backoff; lastError?: string }>();
  private readonly counters: MediaCacheCounters = { bytesFetched: 0, downloads: 0, retries: 0, resumes: 0, checksumFailures: 0, evictions: 0 };
  private readonly now: () => number;
  private running: Promise<void> | null = null;
  private rerun = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;
  private closed = false;
  private opened = false;
  private settleWaiters: Array<{ resolve: (r: MediaCacheReport) => void; reject: (e: Error) => void }> = [];
  private skipped: MediaRef[] = [];

  constructor(private readonly options: FileMediaCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get dir(): string {
    return this.options.dir;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.options.dir, { recursive: true });
    const maxAge = this.options.partialMaxAgeMs ?? 72 * 3600_000;
    for (const name of await readdir(this.options.dir)) {
      const path = join(this.options.dir, name);
      const kind = classifyCacheFile(name);
      if (kind.kind === 'other') {
        // Leftovers of an interrupted verify/rename; never user files (the directory is ours).
        if (name.endsWith('.tmp')) await rm(path, { force: true });
        continue;
      }
      const st = await stat(path);
      if (kind.kind === 'partial') {
        if (this.now() - st.mtimeMs > maxAge) await rm(path, { force: true });
        else this.entries.set(kind.sha256, { sha256: kind.sha256, bytes: st.size, lastUsedMs: st.mtimeMs, complete: false });
        continue;
      }
      if ((await sha256OfFile(path)) !== kind.sha256) {
        this.options.log?.warn(`media cache: ${name} does not match its checksum (storage damage); deleted`);
        this.counters.checksumFailures++;
        await rm(path, { force: true });
        continue;
      }
      // A complete file wins over a stale partial of the same media.
      this.entries.set(kind.sha256, { sha256: kind.sha256, bytes: st.size, lastUsedMs: st.mtimeMs, complete: true });
      await rm(this.partPath(kind.sha256), { force: true });
    }
    this.opened = true;
    // A playlist may have been declared while the index was being rebuilt.
    this.kick();
  }

  setNeeded(needed: readonly MediaRef[]): void {
    this.needed = [...needed];
    this.neededSet = new Set(needed.map((r) => r.sha256));
    for (const sha of [...this.fetchState.keys()]) if (!this.neededSet.has(sha)) this.fetchState.delete(sha);
    this.kick();
  }

  has(sha256: string): boolean {
    return this.entries.get(sha256)?.complete === true;
  }

  pathOf(sha256: string): string | null {
    const e = this.entries.get(sha256);
    if (!e?.complete) return null;
    e.lastUsedMs = this.now();
    return this.completePath(sha256);
  }

  async verify(sha256: string): Promise<boolean> {
    const e = this.entries.get(sha256);
    if (!e?.complete) return false;
    const path = this.completePath(sha256);
    const actual = await sha256OfFile(path).catch((err: unknown) => `unreadable (${(err as Error).message})`);
    if (actual === sha256) return true;
    if (this.entries.get(sha256) !== e) return this.has(sha256); // replaced meanwhile by a fresh download
    this.counters.checksumFailures++;
    this.options.log?.warn(`media cache: ${sha256}.opus no longer matches its checksum (got ${actual.slice(0, 40)}): damaged on disk; deleted, fetching it again now`);
    this.entries.delete(sha256);
    await rm(path, { force: true });
    // No backoff inherited from earlier attempts: the next bulletin needs it.
    this.fetchState.delete(sha256);
    this.kick();
    return false;
  }

  whenSettled(): Promise<MediaCacheReport> {
    if (this.closed) return Promise.reject(new Error('media cache closed'));
    if (this.isSettled()) return Promise.resolve(this.report());
    return new Promise((resolve, reject) => this.settleWaiters.push({ resolve, reject }));
  }

  report(): MediaCacheReport {
    let cacheBytes = 0;
    for (const e of this.entries.values()) if (e.complete) cacheBytes += e.bytes;
    const seen = new Set<string>();
    const missing = this.needed.filter((r) => !this.has(r.sha256) && !seen.has(r.sha256) && (seen.add(r.sha256), true));
    return { cacheBytes, limitBytes: this.options.limitBytes, missing, overLimit: overLimit(this.needed, this.options.limitBytes), counters: { ...this.counters } };
  }

  /** The last error per needed file still missing (for the agent's log and telemetry). */
  errors(): Array<{ mediaId: string; sha256: string; attempts: number; error: string }> {
    return this.needed.flatMap((r) => {
      const s = this.fetchState.get(r.sha256);
      return s?.lastError && !this.has(r.sha256) ? [{ mediaId: r.mediaId, sha256: r.sha256, attempts: s.attempts, error: s.lastError }] : [];
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.abort?.abort();
    await this.running?.catch(() => {});
    for (const w of this.settleWaiters.splice(0)) w.reject(new Error('media cache closed'));
  }

  // --------------------------------------------------------------- pump ----

  private kick(): void {
    if (this.closed || !this.opened) return;
    if (this.running) {
      // The pump may be past its last look at `needed`: look again when it ends.
      this.rerun = true;
      return;
    }
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.rerun = false;
    this.running = this.pump().finally(() => {
      this.running = null;
      if (this.rerun) this.kick();
    });
  }

  private isSettled(): boolean {
    if (!this.opened) return false;
    const pick = nextFetch(this.needed, this.completeSet(), new Map(), this.now(), this.options.limitBytes);
    return pick.ref === null;
  }

  private completeSet(): Set<string> {
    const s = new Set<string>();
    for (const e of this.entries.values()) if (e.complete) s.add(e.sha256);
    return s;
  }

  private async pump(): Promise<void> {
    while (!this.closed) {
      const pick = nextFetch(this.needed, this.completeSet(), this.fetchState, this.now(), this.options.limitBytes);
      this.skipped = pick.skippedForSpace;
      if (!pick.ref) {
        if (this.isSettled()) {
          const report = this.report();
          for (const w of this.settleWaiters.splice(0)) w.resolve(report);
        }
        if (pick.wakeAtMs !== null) {
          this.wakeTimer = setTimeout(
            () => {
              this.wakeTimer = undefined;
              this.kick();
            },
            Math.max(0, pick.wakeAtMs - this.now()),
          );
          // Like the agent's other timers: a retry pending must not keep a process (or a test) alive.
          this.wakeTimer.unref();
        }
        return;
      }
      await this.fetchOne(pick.ref);
    }
  }

  private async fetchOne(ref: MediaRef): Promise<void> {
    const state = this.fetchState.get(ref.sha256) ?? {
      attempts: 0,
      notBeforeMs: 0,
      backoff: new Backoff({
        baseMs: this.options.retry?.baseMs ?? 2000,
        capMs: this.options.retry?.capMs ?? 300_000,
        ...(this.options.random ? { random: this.options.random } : {}),
      }),
    };
    this.fetchState.set(ref.sha256, state);
    if (state.attempts > 0) this.counters.retries++;
    try {
      await this.makeRoom(ref);
      await this.download(ref);
      this.fetchState.delete(ref.sha256);
      this.counters.downloads++;
    } catch (e) {
      if (this.closed) return;
      state.attempts++;
      state.lastError = (e as Error).message;
      // A bad checksum is retried at once (the bytes are gone, a fresh fetch is the fix); the rest back off.
      state.notBeforeMs = e instanceof AttemptError && e.immediateRetry && state.attempts < 3 ? this.now() : this.now() + state.backoff.next();
      this.options.log?.warn(`media cache: ${ref.mediaId} (${ref.sha256.slice(0, 12)}…): ${state.lastError}; attempt ${state.attempts}`);
    }
  }

  /** Evict unneeded files (LRU first) so `ref` fits; never a needed one. */
  private async makeRoom(ref: MediaRef): Promise<void> {
    const files = [...this.entries.values()].filter((e) => e.sha256 !== ref.sha256);
    const plan = planRoom(files, this.neededSet, ref.bytes, this.options.limitBytes);
    if (!plan.ok) {
      throw new AttemptError(`no room for ${ref.bytes} bytes: ${plan.shortBytes} bytes over the limit even after evicting every unneeded file`);
    }
    for (const sha of plan.evict) {
      await rm(this.completePath(sha), { force: true });
      await rm(this.partPath(sha), { force: true });
      this.entries.delete(sha);
      this.counters.evictions++;
    }
  }

  private async download(ref: MediaRef): Promise<void> {
    const part = this.partPath(ref.sha256);
    let offset = await stat(part).then(
      (s) => s.size,
      () => 0,
    );
    const decision = partialDecision(offset, ref.bytes);
    if (decision === 'discard' && offset > 0) {
      await rm(part, { force: true });
      offset = 0;
    }
    if (decision !== 'verify') {
      offset = await this.transfer(ref, part, offset);
    }
    this.touch(ref.sha256, offset, false);
    if (offset !== ref.bytes) throw new AttemptError(`transfer ended at byte ${offset} of ${ref.bytes}; the partial file is kept for resume`);
    const actual = await sha256OfFile(part);
    if (actual !== ref.sha256) {
      this.counters.checksumFailures++;
      await rm(part, { force: true });
      this.entries.delete(ref.sha256);
      throw new AttemptError(`checksum mismatch (got ${actual.slice(0, 12)}…): the download was damaged; deleted, fetching again`, true);
    }
    await this.syncFile(part);
    await rename(part, this.completePath(ref.sha256));
    this.entries.set(ref.sha256, { sha256: ref.sha256, bytes: ref.bytes, lastUsedMs: this.now(), complete: true });
  }

  /** One HTTP request from `offset`; returns the partial file's size afterwards. */
  private async transfer(ref: MediaRef, part: string, offset: number): Promise<number> {
    const url = `${this.options.httpUrl.replace(/\/+$/, '')}/api/media/${encodeURIComponent(ref.mediaId)}/audio`;
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${this.options.siteId}:${this.options.secret}`).toString('base64')}`,
    };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      headers['if-range'] = `"${ref.sha256}"`;
      this.counters.resumes++;
    }
    const abort = new AbortController();
    this.abort = abort;
    const stallMs = this.options.stallTimeoutMs ?? 30_000;
    let stall: NodeJS.Timeout | undefined;
    const armStall = () => {
      if (stall) clearTimeout(stall);
      stall = setTimeout(() => abort.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
    };
    armStall();
    let written = offset;
    try {
      const res = await (this.options.fetch ?? httpGet)(url, { headers, signal: abort.signal });
      const d = responseDecision(res.status, offset, res.headers.get('content-range'), ref.bytes);
      if (d.action === 'fail' || d.action === 'discard') {
        await res.body?.cancel().catch(() => {});
        if (d.action === 'discard') {
          await rm(part, { force: true });
          this.entries.delete(ref.sha256);
        }
        throw new AttemptError(`GET ${url}: ${d.reason}`, d.action === 'discard');
      }
      if (d.action === 'restart' && offset > 0) {
        await truncate(part, 0);
        written = 0;
      }
      const file = await open(part, written === 0 ? 'w' : 'a');
      try {
        if (res.body) {
          for await (const chunk of res.body) {
            armStall();
            this.counters.bytesFetched += chunk.length;
            if (written + chunk.length > ref.bytes) throw new AttemptError(`the server sent more than the ${ref.bytes} bytes the playlist says`);
            await file.write(chunk);
            written += chunk.length;
          }
        }
      } finally {
        await file.close();
      }
      return written;
    } catch (e) {
      if (e instanceof AttemptError) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new AttemptError(`GET ${url} interrupted at byte ${written} of ${ref.bytes}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    } finally {
      if (stall) clearTimeout(stall);
      if (this.abort === abort) this.abort = undefined;
    }
  }

  private touch(sha256: string, bytes: number, complete: boolean): void {
    this.entries.set(sha256, { sha256, bytes, lastUsedMs: this.now(), complete });
  }

  private async syncFile(path: string): Promise<void> {
    const f = await open(path, 'r+');
    try {
      await f.sync();
    } finally {
      await f.close();
    }
    const t = new Date(this.now());
    await utimes(path, t, t);
  }

  private completePath(sha256: string): string {
    return join(this.options.dir, `${sha256}.opus`);
  }

  private partPath(sha256: string): string {
    return join(this.options.dir, `${sha256}.part`);
  }

  /** Needed media skipped because they would not fit (see report().overLimit). */
  get skippedForSpace(): readonly MediaRef[] {
    return this.skipped;
  }
}
