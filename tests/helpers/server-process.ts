/**
 * A loanet server as its own OS process (its bundle built for the run,
 * process.ts programArgs), as `npm start` runs it: for the tests that kill one with SIGKILL, or run two
 * side by side. `startServerProcess` answers once the server answers AND its
 * admin can log in: the admin is written when the auth feature starts, after
 * the server listens, so /api/health answers a moment before a login can. A
 * test that logged in on the first /api/health got LOANET_BAD_CREDENTIALS
 * whenever that moment was long enough (PostgreSQL, a loaded machine).
 *
 * Every process started here is remembered until it exits, and
 * `stopServerProcesses()` (in a file's afterAll) kills what is left: a test
 * that failed half-way, or replaced its handle with a newer server, must not
 * leave a server running after the run, holding ports and a database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { LoanetClient } from '../../tools/api-client.ts';
import { freePort } from './mosquitto.ts';
import { programArgs } from './process.ts';
import { ADMIN_PASSWORD, serverProcessEnv } from './server.ts';
import { waitFor } from './wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ServerProcess {
  child: ChildProcess;
  base: string;
  /** The admin's session token. */
  token: string;
  api: LoanetClient;
  /** The last 20,000 characters the process printed (stdout and stderr, as they came). */
  output(): string;
}

const running = new Set<ChildProcess>();

/**
 * A server process on `dataDir` with `env` over the test defaults, answering,
 * with the admin logged in. `onSpawn` gets the process at once, so a caller
 * can kill it should the start hang.
 */
export async function startServerProcess(dataDir: string, env: Record<string, string>, o: { name?: string; onSpawn?: (p: ServerProcess) => void } = {}): Promise<ServerProcess> {
  const name = o.name ?? 'the server process';
  const httpPort = await freePort();
  let output = '';
  const child = spawn(process.execPath, programArgs('server'), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: serverProcessEnv(dataDir, { NODE_NO_WARNINGS: '1', LOANET_HTTP_PORT: String(httpPort), LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD, LOANET_LOG_LEVEL: 'warn', ...env }),
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const keep = (b: Buffer) => (output = (output + b.toString('utf8')).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const base = `http://127.0.0.1:${httpPort}`;
  const p: ServerProcess = { child, base, token: '', api: new LoanetClient(base, undefined), output: () => output };
  o.onSpawn?.(p);
  const exitedEarly = () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${output.slice(-3000)}`);
  };
  await waitFor(
    `${name} answering`,
    async () => {
      exitedEarly();
      return fetch(`${base}/api/health`).then(
        (r) => r.ok,
        () => false,
      );
    },
    120_000,
    200,
  );
  let lastRefusal = '';
  await waitFor(
    `the admin logging in to ${name}`,
    async () => {
      exitedEarly();
      const r = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      if (r.status === 200) p.token = ((await r.json()) as { token: string }).token;
      else lastRefusal = `${r.status} ${await r.text()}`;
      return p.token !== '';
    },
    30_000,
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; the last refusal: ${lastRefusal}; its output: ${output.slice(-3000)}`);
  });
  p.api = new LoanetClient(base, p.token);
  return p;
}

/** SIGKILL every server process started here that has not exited, and wait until each has. */
export async function stopServerProcesses(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return void running.delete(child);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }),
  );
}
