/**
 * A newcomer's first `npm start`, as a real child process (`tsx server/main.ts`)
 * with its stdout read: when the first start fails because the MQTT port is
 * taken (the README expects a newcomer to meet that), the second start on a
 * free port must still print the admin's generated password, which then logs
 * in, and say how to reset it. Before, the failed start had already stored the
 * admin with a password nobody ever saw.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverProcessEnv, tempDir, waitFor } from '../helpers/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const dataDir = tempDir('loanet-first-start-');
const children: ChildProcess[] = [];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(mqttPort: number): Run {
  // No LOANET_ADMIN_PASSWORD: the server generates the admin's password, which is what is tested.
  const env = serverProcessEnv(dataDir, { LOANET_MQTT_PORT: String(mqttPort), LOANET_LOG_LEVEL: 'warn' });
  const child = spawn(TSX, ['server/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Resolve when `re` matches the output; fail at once if the process exits first (the deadline only bounds a hang). */
async function waitForOutput(run: Run, re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  let exited = false;
  void run.exited.then(() => (exited = true));
  return waitFor(
    `${re} in the output`,
    () => {
      const m = re.exec(run.stdout());
      if (!m && exited) throw new Error(`the process exited without ${re}; stdout: ${run.stdout()} stderr: ${run.stderr()}`);
      return m;
    },
    timeoutMs,
  );
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.on('exit', r)))));
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('first start', () => {
  it('a start that fails on a taken MQTT port creates no admin; the next start prints the password, which logs in', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const takenPort = (squatter.address() as net.AddressInfo).port;
    try {
      const failed = start(takenPort);
      const code = await failed.exited;
      expect(code, failed.stderr()).not.toBe(0);
      expect(failed.stderr()).toMatch(/loanet:/);
      expect(failed.stdout()).not.toMatch(/password/);
    } finally {
      await new Promise((r) => squatter.close(r));
    }

    const second = start(0);
    const [, password] = await waitForOutput(second, /first start: created user "admin" with password (\S+) \(shown once/);
    expect(second.stdout()).toMatch(/Start loanet again with LOANET_ADMIN_PASSWORD set to a new password \(at least 10 characters\) to reset it/);
    const [, httpPort] = await waitForOutput(second, /console http:\/\/localhost:(\d+)\//);
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token: string }).token).toMatch(/^lnt_/);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // A third start has nothing to print: the admin exists and its password was shown.
    const third = start(0);
    await waitForOutput(third, /console http:\/\/localhost:\d+\//);
    expect(third.stdout()).not.toMatch(/first start/);
    third.child.kill('SIGTERM');
    await third.exited;
    // Three cold starts of a child process: minutes on a loaded 2-core machine, so only a hang bound.
  }, 300_000);
});
