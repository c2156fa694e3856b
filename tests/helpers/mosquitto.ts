/**
 * A real Mosquitto for tests and benchmarks, bootstrapped as an operator
 * would: a password and ACL file holding only the server's own user (the
 * server then serves the full files), and a config on a free loopback port.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mosquittoAclFile, mosquittoLimitsConf, mosquittoPasswdFile, mosquittoPasswordHash } from '../../server/fleet/mosquitto-files.ts';

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
