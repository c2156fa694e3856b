/**
 * The agent's release download (edge-agent/update/download.ts) against a real
 * HTTP server on a socket: Range resume after cuts, a refusal that fails at
 * once, the budget, a file that does not match the signed manifest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReleaseFetcher, UpdateFailure } from '../../edge-agent/update/download.ts';
import { rangeGet } from '../../edge-agent/update/range-get.ts';
import { ReleaseServer, makeRelease, makeSigningKey, type TestRelease } from '../helpers/release-server.ts';

const key = makeSigningKey();
const big = Buffer.alloc(300_000);
for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
const release: TestRelease = makeRelease({ id: 'agent-9-0-0', version: '9.0.0', key, files: { 'main.mjs': big, 'lib/x.txt': 'hello' } });

let server: ReleaseServer;
let url: string;
let dir: string;

beforeEach(async () => {
  server = new ReleaseServer();
  server.add(release);
  url = await server.listen();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-dl-'));
});
afterEach(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function fetcher(budget = 10_000_000, o: { maxTries?: number } = {}) {
  const b = { limit: budget, used: 0 };
  const f = new ReleaseFetcher({
    httpUrl: url,
    releaseId: release.id,
    siteId: 'site-1',
    secret: 's',
    get: rangeGet,
    budget: b,
    signal: new AbortController().signal,
    sleep: async () => {},
    syncEveryBytes: 16 * 1024,
    ...o,
  });
  return { f, b };
}

async function failure(p: Promise<unknown>): Promise<UpdateFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UpdateFailure) return e;
    throw e;
  }
  throw new Error('expected an UpdateFailure');
}

const entry = (p: string) => release.manifest.files.find((f) => f.path === p)!;

describe('release download', () => {
  it('fetches the manifest and signatures, counting their bytes', async () => {
    const { f, b } = fetcher();
    expect((await f.fetchSmall('manifest', 65536)).equals(release.manifestBytes)).toBe(true);
    expect(JSON.parse((await f.fetchSmall('signatures', 65536)).toString())).toEqual(release.signatures);
    expect(b.used).toBeGreaterThan(release.manifestBytes.length);
  });

  it('resumes a file cut twice mid-way with Range, fetching no byte twice', async () => {
    server.faults.cutAfter = [100_000, 50_000];
    const { f, b } = fetcher();
    const dest = path.join(dir, 'main.mjs');
    await f.downloadFile(entry('main.mjs'), dest);
    expect(fs.readFileSync(dest).equals(big)).toBe(true);
    expect(server.sent.get('main.mjs')).toBe(big.length);
    expect(b.used).toBe(big.length);
    expect(server.ranges.length).toBe(2);
  });

  it('resumes from what a killed download left on disk, as far as it was synced', async () => {
    const dest = path.join(dir, 'main.mjs');
    // A previous run wrote 120,000 bytes but synced only 65,536 of them (a power cut lost the rest).
    fs.writeFileSync(dest, Buffer.concat([big.subarray(0, 65_536), Buffer.alloc(120_000 - 65_536)]));
    fs.writeFileSync(`${dest}.synced`, '65536');
    const { f } = fetcher();
    await f.downloadFile(entry('main.mjs'), dest);
    expect(fs.readFileSync(dest).equals(big)).toBe(true);
    expect(server.ranges).toEqual(['bytes=65536-']);
    expect(server.sent.get('main.mjs')).toBe(big.length - 65_536);
  });

  it('fails at once on a 404 (download_refused), never retrying it', async () => {
    server.faults.status = 404;
    const { f } = fetcher();
    const e = await failure(f.downloadFile(entry('main.mjs'), path.join(dir, 'main.mjs')));
    expect(e.reason).toBe('download_refused');
    expect(server.requests).toBe(1);
  });

  it('retries a 503 and a 429 with back-off, and fails after the tries in a row', async () => {
    server.faults.status = 503;
    server.faults.statusTimes = 2;
    const { f } = fetcher();
    await f.downloadFile(entry('lib/x.txt'), path.join(dir, 'lib/x.txt'));
    expect(fs.readFileSync(path.join(dir, 'lib/x.txt'), 'utf8')).toBe('hello');
    server.faults = { status: 429 };
    server.requests = 0;
    const e = await failure(fetcher(10_000_000, { maxTries: 4 }).f.downloadFile(entry('main.mjs'), path.join(dir, 'main.mjs')));
    expect(e.reason).toBe('download_failed');
    expect(server.requests).toBe(4);
  });

  it('stops at the budget, every retry counted', async () => {
    server.faults.cutAfter = [100_000, 100_000];
    const { f, b } = fetcher(250_000);
    const e = await failure(f.downloadFile(entry('main.mjs'), path.join(dir, 'main.mjs')));
    expect(e.reason).toBe('budget_exceeded');
    expect(b.used).toBeLessThanOrEqual(250_000);
    expect(server.totalSent).toBeLessThanOrEqual(300_000);
  });

  it('refuses a file that does not match the signed manifest and keeps nothing of it', async () => {
    server.faults.corrupt = 'main.mjs';
    const { f } = fetcher();
    const dest = path.join(dir, 'main.mjs');
    const e = await failure(f.downloadFile(entry('main.mjs'), dest));
    expect(e.reason).toBe('hash_mismatch');
    expect(fs.existsSync(dest)).toBe(false);
  });
});
