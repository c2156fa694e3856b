/**
 * The disk watch's shell (server/store/disk-space.ts) over a real temp folder,
 * with statfs injected so the free space can be set: the reserve file is
 * written, given up and written back as the policy says; a full-disk error is
 * recognised however it arrives. tests/integration/disk-full.test.ts fills a
 * real filesystem.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskSpace, isDiskFullError, RESERVE_FILE } from '../../server/store/disk-space.ts';
import type { DiskConfig } from '../../server/config.ts';
import { LoanetError } from '../../server/errors.ts';
import { waitFor } from '../helpers/wait.ts';

const MB = 1024 * 1024;
const CONFIG: DiskConfig = { reserveBytes: 3 * MB, lowBytes: 10 * MB, criticalBytes: 2 * MB, checkMs: 60_000 };
const quiet = { info() {}, warn() {}, error() {} };
const dirs: string[] = [];
const watches: DiskSpace[] = [];

afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A watch whose statfs answers `free.bytes`, minus what the reserve file holds (as a real disk would). */
function watch(freeBytes: number, config: DiskConfig = CONFIG): { disk: DiskSpace; dir: string; free: { bytes: number } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-disk-space-'));
  dirs.push(dir);
  const free = { bytes: freeBytes };
  const held = () => (fs.existsSync(path.join(dir, RESERVE_FILE)) ? fs.statSync(path.join(dir, RESERVE_FILE)).size : 0);
  const disk = new DiskSpace(dir, config, quiet, Date.now, () => ({ bavail: Math.max(0, free.bytes - held()), bsize: 1, blocks: 100 * MB }));
  watches.push(disk);
  return { disk, dir, free };
}

const reserveSize = (dir: string) => (fs.existsSync(path.join(dir, RESERVE_FILE)) ? fs.statSync(path.join(dir, RESERVE_FILE)).size : 0);

describe('disk watch', () => {
  it('writes the reserve when there is room, gives it up when the disk fills, and writes it back once space is freed', async () => {
    const { disk, dir, free } = watch(50 * MB);
    disk.start();
    await expect.poll(() => reserveSize(dir), { timeout: 60_000 }).toBe(3 * MB);
    expect(disk.status()).toMatchObject({ state: 'ok', reserve: { bytes: 3 * MB, heldBytes: 3 * MB, inUse: false }, refusing: [] });

    free.bytes = 3 * MB + 1 * MB; // 1 MB outside the reserve: under the critical 2 MB
    expect(disk.status()).toMatchObject({ state: 'reserve', reserve: { heldBytes: 0, inUse: true }, refusing: ['media', 'history', 'change'] });
    expect(reserveSize(dir)).toBe(0);
    expect(() => disk.admit('change')).toThrow(LoanetError);
    expect(() => disk.admit('change')).toThrow(/changes other than logins, alerts and live broadcasts/);
    disk.beforeEssentialWrite(); // never throws

    free.bytes = 12 * MB; // room for the reserve, but not with 10 MB left after: stays on the reserve
    expect(disk.status().state).toBe('reserve');
    expect(reserveSize(dir)).toBe(0);

    free.bytes = 14 * MB;
    expect(disk.status().state).toBe('ok');
    await expect.poll(() => reserveSize(dir), { timeout: 60_000 }).toBe(3 * MB);
    disk.admit('media');
  });

  it('space freed while a cancelled write of the reserve is still unwinding: the reserve is written back all the same', async () => {
    // A reserve of 64 MiB is written in 64 steps: the disk fills and is freed again while the write is under way.
    const { disk, dir, free } = watch(200 * MB, { ...CONFIG, reserveBytes: 64 * MB });
    disk.start();
    await waitFor(
      'the reserve being written',
      () => {
        // At least a whole step written: a step is appended by the thread pool while this runs, so the size read may be
        // a step's first pages, and 1 MB outside + a few KB held is under the critical 2 MB even with the reserve given up.
        const held = reserveSize(dir);
        if (held < 1 * MB) return undefined;
        free.bytes = held + 1 * MB; // 1 MB outside the reserve: released, its write cancelled
        const full = disk.status();
        free.bytes = 200 * MB; // freed again before the cancelled write has unwound
        return { held, full, freed: disk.status() };
      },
      60_000,
      1,
    ).then(({ full, freed }) => {
      expect(full).toMatchObject({ state: 'reserve', reserve: { heldBytes: 0 } });
      expect(freed.state).toBe('ok');
    });
    // The deadline only bounds a hang: nothing else looks at the disk again in this test (checkMs is a minute).
    await expect.poll(() => reserveSize(dir), { timeout: 60_000 }).toBe(64 * MB);
  });

  it('a write that failed on a full disk gives the reserve up at once, whatever statfs said; other errors do not', async () => {
    const { disk, dir } = watch(50 * MB);
    disk.start();
    await expect.poll(() => reserveSize(dir), { timeout: 60_000 }).toBe(3 * MB);
    expect(disk.noteWriteFailure(new Error('UNIQUE constraint failed'))).toBe(false);
    expect(reserveSize(dir)).toBe(3 * MB);
    expect(disk.noteWriteFailure(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(true);
    expect(reserveSize(dir)).toBe(0);
    expect(disk.status().lastFullAt).toEqual(expect.any(Number));
  });

  it('recognises a full disk by its code, its cause, or what ffmpeg and SQLite print', () => {
    expect(isDiskFullError(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFullError(Object.assign(new Error('x'), { code: 'EDQUOT' }))).toBe(true);
    expect(isDiskFullError(new Error('wrapped', { cause: Object.assign(new Error('inner'), { code: 'SQLITE_FULL' }) }))).toBe(true);
    expect(isDiskFullError(new Error('ffmpeg could not encode: av_interleaved_write_frame(): No space left on device'))).toBe(true);
    expect(isDiskFullError(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).toBe(false);
    // The database server's disk, in its own words: not the data folder's (no reserve to give up for it).
    const fromPostgres = Object.assign(new Error('could not extend file "base/5/16390": No space left on device'), { code: '53100', severity: 'ERROR' });
    expect(isDiskFullError(fromPostgres)).toBe(false);
    expect(isDiskFullError(new Error('transaction failed', { cause: fromPostgres }))).toBe(false);
    expect(isDiskFullError(new Error('not audio'))).toBe(false);
    expect(isDiskFullError(undefined)).toBe(false);
  });
});
