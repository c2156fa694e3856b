/**
 * A PostgreSQL instance of a test's own (initdb + pg_ctl from the machine's
 * PostgreSQL binaries, a temp folder, a free loopback port, trust auth), so
 * the test may stop and start it under running servers: the machine's
 * PostgreSQL service is shared and must never be restarted by a test.
 * Started as root (CI, this machine), the binaries run as the "postgres"
 * user, since initdb refuses root.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './mosquitto.ts';

const exec = promisify(execFile);

/** The newest installed PostgreSQL's bin folder, or undefined. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:port/postgres */
  url: string;
  port: number;
  /** pg_ctl stop -m fast: every connection is closed. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop and remove its folder. */
  destroy(): Promise<void>;
}

/** `under`: the folder its files go in (a tmpfs the test fills, say); the machine's temp folder by default. */
export async function startPrivatePostgres(place: { under?: string } = {}): Promise<PrivatePostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)');
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(place.under ?? os.tmpdir(), 'loanet-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) await exec('chown', ['postgres:postgres', dir]);
  fs.chmodSync(dir, 0o755);
  // Not blocking: a server in this process goes on (and notices the database gone) while pg_ctl waits.
  const run = (tool: string, args: string[]) =>
    exec(asRoot ? 'runuser' : path.join(bin, tool), asRoot ? ['-u', 'postgres', '--', path.join(bin, tool), ...args] : args, { cwd: dir });
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const ctl = (...args: string[]) => run('pg_ctl', ['-D', data, '-w', '-t', '60', ...args]);
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`;
  const start = async () => void (await ctl('-o', opts, '-l', path.join(dir, 'log'), 'start'));
  const stop = async () => void (await ctl('-m', 'fast', 'stop'));
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async destroy() {
      try {
        await stop();
      } catch {
        /* already stopped */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
