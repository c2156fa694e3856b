/**
 * The data folder is private: `npm start`'s server (server/main.ts, a real
 * child process) started from a shell with the usual permissive umask 022,
 * in a data folder an earlier version left 755 with a 644 file in it, makes
 * the folder 700 and loanet.db, its -wal and -shm, the media folder and an
 * uploaded media file 600/700, and logs what it tightened. Its start-up
 * line says what it exposes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverProcessEnv, tempDir, waitFor } from '../helpers/server.ts';
import { ffmpeg } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { serversOnPostgres } from '../helpers/suite-database.ts';

const canRun = haveTools('ffmpeg');
const ROOT = path.resolve(import.meta.dirname, '../..');
const PASSWORD = 'Quan-tri-vien-tinh-Lao-Cai-2026';
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);

describe.skipIf(!canRun)('the data folder', () => {
  it('is 700 and everything in it 600 under umask 022, an old 755/644 folder is tightened at start and logged', async () => {
    const dataDir = path.join(tempDir('loanet-perms-'), 'data');
    fs.mkdirSync(path.join(dataDir, 'media'), { recursive: true });
    fs.chmodSync(dataDir, 0o755);
    fs.chmodSync(path.join(dataDir, 'media'), 0o755);
    fs.writeFileSync(path.join(dataDir, 'media', 'left-by-an-old-version.opus'), 'x', { mode: 0o644 });
    fs.chmodSync(path.join(dataDir, 'media', 'left-by-an-old-version.opus'), 0o644);

    child = spawn('sh', ['-c', `umask 022 && exec "${path.join(ROOT, 'node_modules/.bin/tsx')}" server/main.ts`], {
      cwd: ROOT,
      env: serverProcessEnv(dataDir, { LOANET_ADMIN_PASSWORD: PASSWORD, LOANET_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const started = await waitFor(
      'the server started',
      () => {
        const line = out.split('\n').find((l) => l.includes('"loanet started"'));
        return line
          ? (JSON.parse(line) as { httpPort: number })
          : child!.exitCode !== null
            ? (() => {
                throw new Error(`server exited: ${out}`);
              })()
            : undefined;
      },
      60_000,
    );
    const base = `http://127.0.0.1:${started.httpPort}`;
    // The start-up line says what is exposed (here: this machine only).
    expect(out).toContain(`listening: HTTP 127.0.0.1:${started.httpPort} (this machine only)`);

    // What an earlier version left is tightened, and said in the log.
    const tightened = out.split('\n').find((l) => l.includes('permissions tightened'));
    expect(tightened, out).toBeDefined();
    expect(tightened).toContain('left-by-an-old-version.opus');

    // An upload through the API, as an operator would.
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    const token = ((await login.json()) as { token: string }).token;
    const wav = path.join(tempDir('loanet-perms-in-'), 'tone.wav');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', wav);
    const fd = new FormData();
    fd.append('file', new Blob([fs.readFileSync(wav)]), 'tone.wav');
    const up = await fetch(`${base}/api/media`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
    const item = (await up.json()) as { id: string; sha256: string };
    expect(up.status, JSON.stringify(item)).toBe(201);

    const media = path.join(dataDir, 'media');
    const stored = fs.readdirSync(media).filter((f) => f !== 'tmp' && f !== 'left-by-an-old-version.opus');
    expect(stored.length).toBeGreaterThan(0);
    // The SQLite file and its WAL; under test:postgres the store is not in the folder (the rest of it still must be private).
    const files = serversOnPostgres() ? [] : ['loanet.db', 'loanet.db-wal', 'loanet.db-shm'].map((f) => path.join(dataDir, f));
    const found: Record<string, string> = { [dataDir]: mode(dataDir), [media]: mode(media) };
    for (const f of [...files, ...stored.map((f) => path.join(media, f)), path.join(media, 'left-by-an-old-version.opus')]) found[f] = mode(f);
    const walk = (d: string): string[] =>
      fs.readdirSync(d).flatMap((n) => (fs.statSync(path.join(d, n)).isDirectory() ? [path.join(d, n), ...walk(path.join(d, n))] : [path.join(d, n)]));
    for (const p of walk(dataDir)) found[p] = mode(p);
    for (const [p, m] of Object.entries(found)) {
      expect(m, p).toBe(fs.statSync(p).isDirectory() ? '700' : '600');
    }
    for (const f of files) expect(fs.existsSync(f), f).toBe(true);
  }, 120_000);
});
