/**
 * A real Mosquitto for tests and benchmarks, bootstrapped as an operator
 * would: a password and ACL file holding only the server's own user (the
 * server then serves the full files), and a config on a free loopback port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { mosquittoAclFile, mosquittoLimitsConf, mosquittoPasswdFile, mosquittoPasswordHash } from '../../server/fleet/mosquitto-files.ts';
import { waitFor } from './wait.ts';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const HAVE_MOSQUITTO = fs.existsSync(MOSQUITTO);

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}

/** Writes passwd, acl and mosquitto.conf into `dir`; answers the config file's path. */
export function writeMosquittoBootstrap(dir: string, opts: { port: number; serverUser: string; serverPassword: string; maxQueuedMessages: number; logNotice?: boolean }): string {
  const now = new Date().toISOString();
  fs.writeFileSync(path.join(dir, 'passwd'), mosquittoPasswdFile([], { username: opts.serverUser, passwordHash: mosquittoPasswordHash(opts.serverPassword) }, now).text);
  fs.writeFileSync(path.join(dir, 'acl'), mosquittoAclFile([], opts.serverUser, now));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      `password_file ${path.join(dir, 'passwd')}`,
      `acl_file ${path.join(dir, 'acl')}`,
      'persistence false',
      `max_queued_messages ${opts.maxQueuedMessages}`,
      ...mosquittoLimitsConf(),
      // Started as root (CI), mosquitto would switch to user "mosquitto", who cannot read this temp dir.
      `user ${os.userInfo().username}`,
      `listener ${opts.port} 127.0.0.1`,
      'use_username_as_clientid true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...(opts.logNotice ? ['log_type notice'] : []),
      '',
    ].join('\n'),
  );
  return conf;
}

export interface RunningMosquitto {
  port: number;
  child: ChildProcess;
  /** Sends `signal` (SIGTERM unless told) and resolves once the broker has exited; at once if it already has. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts Mosquitto on `dir`'s mosquitto.conf (as writeMosquittoBootstrap wrote it for `port`) and resolves once
 * the port accepts a connection. Called again with the same folder and port, it is the same broker restarted.
 * Its stderr goes nowhere: the tests judge the broker by what it does, not by what it logs.
 */
export async function startMosquitto(dir: string, opts: { port: number; timeoutMs?: number }): Promise<RunningMosquitto> {
  const { port } = opts;
  const child = spawn(MOSQUITTO, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (!running()) return;
    child.kill(signal);
    await exited;
  };
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
  try {
    await waitFor(
      `mosquitto listening on ${port}`,
      async () => {
        if (!running()) throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
        return listening();
      },
      opts.timeoutMs ?? 15_000,
    );
  } catch (e) {
    await stop('SIGKILL');
    throw e;
  }
  return { port, child, stop };
}

/** Logs in to the broker on `port` as this site, once (no reconnect); undefined when refused (error) or dropped before CONNACK (close). */
async function loginAsSite(port: number, site: { id: string; secret: string }): Promise<mqtt.MqttClient | undefined> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: site.id,
    username: site.id,
    password: site.secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 2000,
  });
  const ok = await new Promise<boolean>((resolve) => (c.once('connect', () => resolve(true)), c.once('error', () => resolve(false)), c.once('close', () => resolve(false))));
  if (ok) return c;
  c.end(true);
  return undefined;
}

/**
 * Resolves once the broker on `port` lets this site in (after its passwd was replaced and reloaded);
 * refused or dropped before CONNACK is not yet. The deadline only bounds a hang.
 */
export async function waitForBrokerLogin(port: number, site: { id: string; secret: string }, opts: { what?: string; timeoutMs?: number; everyMs?: number } = {}): Promise<void> {
  await waitFor(
    opts.what ?? `mosquitto lets ${site.id} in`,
    async () => {
      const c = await loginAsSite(port, site);
      c?.end(true);
      return c !== undefined;
    },
    opts.timeoutMs ?? 15_000,
    opts.everyMs ?? 100,
  );
}

/**
 * What the broker on `port` holds retained on `topic`, as this site sees it on subscribing (as an agent does on
 * connecting): the payload, or undefined when nothing is retained there or the site is not let in. No timer
 * decides it: the broker sends a subscription's retained message before it answers the client's next packet,
 * so once it has acknowledged the unsubscription that follows, a retained message not seen was not there.
 */
export async function retainedFor(port: number, site: { id: string; secret: string }, topic: string): Promise<Buffer | undefined> {
  const c = await loginAsSite(port, site);
  if (!c) return undefined;
  try {
    let retained: Buffer | undefined;
    c.on('message', (t, payload, packet) => {
      if (t === topic && packet.retain) retained = payload;
    });
    await c.subscribeAsync(topic, { qos: 1 });
    await c.unsubscribeAsync(topic);
    return retained;
  } finally {
    c.end(true);
  }
}
