/**
 * Fetching a release from the server with the site's own credential
 * (docs/protocol.md, "update"): the manifest and its signatures (small,
 * bounded), then each file with HTTP Range into the partial slot, resuming
 * from what is on disk after a cut, a restart or a power cut.
 *
 * What the complaints about other updaters ask of it:
 * - every byte received counts against the order's budget, retries and
 *   resumes included; past it the download stops (`budget_exceeded`);
 * - a 4xx other than 408/429 is an answer, not a glitch: it fails at once
 *   (`download_refused`), never retried forever;
 * - other failures (5xx, a cut, a timeout) are retried with jittered
 *   back-off, a bounded number of times in a row without progress, then fail
 *   (`download_failed`) and are reported, never a silent hang;
 * - what is on disk is trusted only up to the length last fsynced (kept in
 *   `<file>.synced`): after a power cut the tail the disk did not keep is
 *   fetched again rather than hashed as zeros;
 * - each file is checked against the signed manifest's size and SHA-256
 *   (`hash_mismatch`: the file is deleted).
 */
import { createHash } from 'node:crypto';
import { open, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Backoff } from '../../common/backoff.ts';
import { fileMatches, RELEASE_MANIFEST_MAX_BYTES, type ReleaseFile } from '../../common/release.ts';
import type { UpdateFailureReason, UpdateOrder } from '../../protocol/index.ts';
import type { HttpGet } from '../http-get.ts';
import { hashFile } from './slots.ts';

/** A download or install that cannot go on: a stable reason for the report and a sentence for a person. */
export class UpdateFailure extends Error {
  constructor(
    readonly reason: UpdateFailureReason,
    message: string,
  ) {
    super(message);
  }
}

export interface DownloadBudget {
  readonly limit: number;
  used: number;
}

export interface ReleaseFetchOptions {
  /** The server's HTTP base, e.g. https://loanet.example (config server.httpUrl). */
  httpUrl: string;
  releaseId: string;
  siteId: string;
  secret: string;
  get: HttpGet;
  budget: DownloadBudget;
  signal: AbortSignal;
  /** Failures in a row, without a byte of progress, before the download fails (default 6). */
  maxTries?: number;
  backoff?: Backoff;
  /** Waits between tries; ends early when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Fsync and record the length on disk after this many new bytes (default 1 MiB). */
  syncEveryBytes?: number;
  /** Called as bytes land on disk (for the report). */
  onBytes?: (file: string, bytesOnDisk: number) => void;
}

const SYNCED_SUFFIX = '.synced';
const SIGNATURES_MAX_BYTES = 16 * 1024;

export function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    t.unref();
    function done() {
      signal.removeEventListener('abort', done);
      clearTimeout(t);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export class ReleaseFetcher {
  private readonly maxTries: number;
  private readonly backoff: Backoff;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called as bytes land on disk (for the report); may be set per file. */
  onBytes: ((file: string, bytesOnDisk: number) => void) | undefined;

  constructor(private readonly o: ReleaseFetchOptions) {
    this.maxTries = o.maxTries ?? 6;
    this.onBytes = o.onBytes;
    this.backoff = o.backoff ?? new Backoff({ baseMs: 1000, capMs: 60_000 });
    this.sleep = o.sleep ?? defaultSleep;
  }

  private url(path: string): string {
    return `${this.o.httpUrl.replace(/\/+$/, '')}/api/releases/${encodeURIComponent(this.o.releaseId)}/${path}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Basic ${Buffer.from(`${this.o.siteId}:${this.o.secret}`).toString('base64')}`, ...extra };
  }

  private count(n: number): void {
    const b = this.o.budget;
    if (b.used + n > b.limit) {
      b.used = b.limit;
      throw new UpdateFailure('budget_exceeded', `the order's budget of ${b.limit} bytes is used up`);
    }
    b.used += n;
  }

  private checkAborted(): void {
    if (this.o.signal.aborted) throw new UpdateFailure('download_failed', 'cancelled');
  }

  /** Retries `attempt` on glitches; `attempt` returns whether it made progress (which resets the count). */
  private async withRetries(what: string, attempt: () => Promise<'done' | 'progress' | 'none'>): Promise<void> {
    let failures = 0;
    for (;;) {
      this.checkAborted();
      let outcome: 'done' | 'progress' | 'none' | Error;
      try {
        outcome = await attempt();
      } catch (e) {
        if (e instanceof UpdateFailure) throw e;
        this.checkAborted();
        outcome = e as Error;
      }
      if (outcome === 'done') {
        this.backoff.reset();
        return;
      }
      if (outcome === 'progress') {
        failures = 0;
        this.backoff.reset();
        continue;
      }
      failures++;
      if (failures >= this.maxTries) {
        throw new UpdateFailure('download_failed', `${what}: ${failures} tries in a row failed${outcome instanceof Error ? ` (last: ${outcome.message})` : ''}`);
      }
      await this.sleep(this.backoff.next(), this.o.signal);
    }
  }

  /** A small document (manifest, signatures), whole, at most `maxBytes`. */
  async fetchSmall(path: 'manifest' | 'signatures', maxBytes: number): Promise<Buffer> {
    let result: Buffer | undefined;
    await this.withRetries(path, async () => {
      const res = await this.o.get(this.url(path), { headers: this.headers(), signal: this.o.signal });
      if (!res.ok) {
        await res.body?.cancel();
        if (retryable(res.status)) return 'none';
        throw new UpdateFailure('download_refused', `GET ${path}: the server answered ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > maxBytes) {
        await res.body?.cancel();
        throw new UpdateFailure('malformed', `the ${path} is ${declared} bytes; at most ${maxBytes}`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const chunk of res.body ?? []) {
        this.count(chunk.length);
        n += chunk.length;
        if (n > maxBytes) {
          await res.body?.cancel();
          throw new UpdateFailure('malformed', `the ${path} is larger than ${maxBytes} bytes`);
        }
        chunks.push(Buffer.from(chunk));
      }
      result = Buffer.concat(chunks);
      return 'done';
    });
    return result!;
  }

  /**
   * Bring `dest` to the file the manifest names: resume from what is on disk
   * (as far as it was fsynced), fetch the rest with Range, then check its
   * size and SHA-256. Throws UpdateFailure.
   */
  async downloadFile(entry: ReleaseFile, dest: string): Promise<void> {
    await mkdir(dirname(dest), { recursive: true });
    await this.withRetries(entry.path, async () => {
      let have = await trustedLength(dest);
      if (have > entry.size) {
        await removeFile(dest);
        have = 0;
      }
      if (have === entry.size) return 'done';
      const res = await this.o.get(this.url(`files/${entry.path.split('/').map(encodeURIComponent).join('/')}`), {
        headers: this.headers(have > 0 ? { range: `bytes=${have}-` } : {}),
        signal: this.o.signal,
      });
      if (res.status === 416) {
        // What is on disk is not a prefix the server can continue: start the file again.
        await res.body?.cancel();
        await removeFile(dest);
        return 'none';
      }
      if (!res.ok) {
        await res.body?.cancel();
        if (retryable(res.status)) return 'none';
        throw new UpdateFailure('download_refused', `GET ${entry.path}: the server answered ${res.status}`);
      }
      let offset = have;
      if (res.status === 206) {
        const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== have) {
          await res.body?.cancel();
          await removeFile(dest);
          return 'none';
        }
      } else offset = 0; // a whole file: the server ignored the range
      return (await this.receive(res.body, dest, offset, entry)) ? 'progress' : 'none';
    });
    const got = await hashFile(dest);
    if (!fileMatches(entry, got.size, got.sha256)) {
      await removeFile(dest);
      throw new UpdateFailure(
        'hash_mismatch',
        `${entry.path}: ${got.size} bytes with SHA-256 ${got.sha256.slice(0, 12)}…, the signed manifest says ${entry.size} bytes, ${entry.sha256.slice(0, 12)}…`,
      );
    }
  }

  /** Write the body at `offset` on; whether any byte landed. Cuts (an error from the body) end it quietly: the caller retries. */
  private async receive(body: Awaited<ReturnType<HttpGet>>['body'], dest: string, offset: number, entry: ReleaseFile): Promise<boolean> {
    if (!body) return false;
    if (offset === 0) await removeFile(dest);
    const fh = await open(dest, offset === 0 ? 'w' : 'r+');
    const syncEvery = this.o.syncEveryBytes ?? 1024 * 1024;
    let pos = offset;
    let unsynced = 0;
    const sync = async () => {
      await fh.sync();
      await writeSynced(dest, pos);
      unsynced = 0;
    };
    try {
      if (offset > 0) await fh.truncate(offset);
      try {
        for await (const chunk of body) {
          this.count(chunk.length);
          const room = entry.size - pos;
          const take = chunk.length > room ? chunk.subarray(0, room) : chunk;
          if (take.length > 0) {
            await fh.write(take, 0, take.length, pos);
            pos += take.length;
            unsynced += take.length;
          }
          if (chunk.length > room) {
            // More than the manifest says: the hash check will refuse it; stop taking bytes.
            await body.cancel();
            break;
          }
          if (unsynced >= syncEvery) {
            await sync();
            this.onBytes?.(entry.path, pos);
          }
        }
      } catch (e) {
        if (e instanceof UpdateFailure) throw e;
        /* a cut: keep what arrived, the caller tries again from there */
      }
      await sync();
      this.onBytes?.(entry.path, pos);
    } finally {
      await fh.close();
    }
    return pos > offset;
  }
}

/** Bytes of `dest` known to be on disk: its size, but no more than the last fsynced length recorded beside it. */
async function trustedLength(dest: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(dest)).size;
  } catch {
    return 0;
  }
  let synced = 0;
  try {
    synced = Number.parseInt(await readFile(`${dest}${SYNCED_SUFFIX}`, 'utf8'), 10);
  } catch {
    /* never synced */
  }
  if (!Number.isFinite(synced) || synced < 0) synced = 0;
  const n = Math.min(size, synced);
  if (n < size) await truncate(dest, n);
  return n;
}

async function writeSynced(dest: string, length: number): Promise<void> {
  const tmp = `${dest}${SYNCED_SUFFIX}.tmp`;
  await writeFile(tmp, String(length));
  await rename(tmp, `${dest}${SYNCED_SUFFIX}`);
}

export async function removeFile(path: string): Promise<void> {
  for (const p of [path, `${path}${SYNCED_SUFFIX}`]) {
    try {
      await unlink(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** The sidecar files the download keeps beside a file (removed before a slot is installed). */
export function isDownloadSidecar(name: string): boolean {
  return name.endsWith(SYNCED_SUFFIX) || name.endsWith(`${SYNCED_SUFFIX}.tmp`);
}

/** An order's manifest (its exact bytes) and signatures, and the fetcher that goes on to fetch its files. */
export interface SignedRelease {
  fetcher: ReleaseFetcher;
  manifestBytes: Buffer;
  signatures: unknown[];
}

/**
 * The order's manifest and signatures, fetched with the site's credential: the manifest must be the one the
 * order names (its SHA-256) and the signatures a list; what they prove is the caller's check (the agent's own
 * update in updater.ts, device firmware in device-firmware.ts). Throws UpdateFailure.
 */
export async function fetchSignedRelease(order: UpdateOrder, o: Omit<ReleaseFetchOptions, 'releaseId'>): Promise<SignedRelease> {
  const fetcher = new ReleaseFetcher({ ...o, releaseId: order.releaseId });
  const manifestBytes = await fetcher.fetchSmall('manifest', RELEASE_MANIFEST_MAX_BYTES);
  const sha = createHash('sha256').update(manifestBytes).digest('hex');
  if (sha !== order.manifestSha256)
    throw new UpdateFailure('manifest_mismatch', `the server's manifest has SHA-256 ${sha.slice(0, 12)}…, the order names ${order.manifestSha256.slice(0, 12)}…`);
  let signatures: unknown;
  try {
    signatures = JSON.parse((await fetcher.fetchSmall('signatures', SIGNATURES_MAX_BYTES)).toString('utf8'));
  } catch (e) {
    if (e instanceof UpdateFailure) throw e;
    throw new UpdateFailure('unsigned', 'the signatures are not JSON');
  }
  if (!Array.isArray(signatures)) throw new UpdateFailure('unsigned', 'the signatures are not a list');
  return { fetcher, manifestBytes, signatures };
}
