/**
 * `npm run broker-files -- --out DIR`: fetches Mosquitto's password file and
 * ACL file from a running loanet server (LOANET_URL, LOANET_TOKEN or
 * LOANET_ADMIN_PASSWORD; an admin of the whole network) and writes them as
 * DIR/passwd and DIR/acl, each replaced atomically. Then Mosquitto must
 * re-read them: send it SIGHUP.
 *
 * Run it after registering, rotating, retiring or moving sites.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ArgError, parseArgs } from './cli-args.ts';
import { connectApi } from './api-client.ts';
import { ROTATE_MARK, SERVER_USER_MISSING } from '../server/fleet/mosquitto-files.ts';

const USAGE = 'usage: npm run broker-files -- --out DIR   (server from LOANET_URL, token from LOANET_TOKEN)';

export async function writeBrokerFiles(out: string): Promise<{ passwd: string; acl: string; sites: number; serverUser: boolean; withoutHash: string[] }> {
  const api = await connectApi();
  const passwd = await api.request<string>('GET', '/api/broker/mosquitto/passwd');
  const acl = await api.request<string>('GET', '/api/broker/mosquitto/acl');
  if (typeof passwd !== 'string' || typeof acl !== 'string') throw new Error('the server did not answer with text files');
  fs.mkdirSync(out, { recursive: true });
  const files = { passwd: path.join(out, 'passwd'), acl: path.join(out, 'acl') };
  // 0640: mosquitto reads them as its group; nobody else should see the hashes.
  writeAtomic(files.passwd, passwd, 0o640);
  writeAtomic(files.acl, acl, 0o640);
  const lines = passwd.split('\n');
  const withoutHash = lines.filter((l) => l.startsWith(ROTATE_MARK)).map((l) => l.slice(ROTATE_MARK.length).trim());
  const serverUser = !lines.some((l) => l.startsWith(SERVER_USER_MISSING));
  const sites = lines.filter((l) => l && !l.startsWith('#')).length - (serverUser ? 1 : 0);
  return { ...files, sites, serverUser, withoutHash };
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { out: 'string', help: 'boolean' });
  if (args.help) return void console.log(USAGE);
  const out = args.out as string | undefined;
  if (!out) throw new ArgError('--out DIR is required: where to write passwd and acl');
  const r = await writeBrokerFiles(out);
  console.log(`wrote ${r.passwd} (${r.sites} site users${r.serverUser ? ' + the server user' : ''}) and ${r.acl}`);
  if (!r.serverUser) console.log("the server's own user is not in it: set LOANET_MQTT_PASSWORD on the loanet server and run this again");
  if (r.withoutHash.length) {
    console.log(`${r.withoutHash.length} site(s) cannot log in to Mosquitto yet (credential issued before loanet kept Mosquitto hashes); rotate them: ${r.withoutHash.join(', ')}`);
  }
  console.log('now make mosquitto re-read them: kill -HUP $(pidof mosquitto)   (or: systemctl reload mosquitto)');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(`loanet broker-files: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof ArgError) console.error(USAGE);
    process.exit(2);
  });
}
