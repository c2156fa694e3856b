/**
 * `npm run release -- COMMAND …`: making and signing releases, on a machine
 * that holds the signing key (never the loanet server: the server stores
 * releases but must not be able to forge one). See docs/updates.md.
 *
 *   keygen   --out DIR                      a new Ed25519 key: DIR/release-key.pem (private, 0600) and .pub.pem
 *   manifest --component agent|device-firmware --version V --file PATH… --out FILE
 *            [--arch arm64|amd64|armhf] [--hardware ID] [--profile NAME…] [--min-from V] [--allow-downgrade] [--notes TEXT]
 *   sign     --key PRIVATE.pem --manifest FILE     adds a signature to FILE.sig (one per key)
 *   verify   --trust PUBLIC.pem… --manifest FILE --component C --installed V [--arch A] [--hardware ID] [--profile NAME]
 *            [--dir FOLDER]                  also checks each file in FOLDER against the manifest
 *   upload   --server URL --token TOKEN --manifest FILE --dir FOLDER
 *            posts the manifest and FILE.sig to a loanet server, then PUTs each file from FOLDER (a release
 *            already there is completed: only its missing files are sent); LOANET_URL / LOANET_TOKEN as defaults
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ArgError } from './cli-args.ts';
import { ApiError, LoanetClient } from './api-client.ts';
import { fileMatches, keyIdOf, RELEASE_FORMAT, trustedKeyFromPem, verifyRelease, type ReleaseManifest, type ReleaseSignature } from '../common/release.ts';

const USAGE = `usage: npm run release -- keygen|manifest|sign|verify|upload [flags]  (see tools/release.ts)`;

/** Flags with repeatable ones collected in arrays; errors name the flag. */
function flags(argv: readonly string[], known: Record<string, 'one' | 'many' | 'bool'>): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ArgError(`unexpected argument "${a}"`);
    const name = a.slice(2);
    const kind = known[name];
    if (!kind)
      throw new ArgError(
        `unknown flag --${name}; known: ${Object.keys(known)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    if (kind === 'bool') {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new ArgError(`--${name} needs a value`);
    if (kind === 'many') out[name] = [...((out[name] as string[] | undefined) ?? []), v];
    else out[name] = v;
  }
  return out;
}

const need = (f: Record<string, unknown>, name: string): string => {
  const v = f[name];
  if (typeof v !== 'string') throw new ArgError(`--${name} is required`);
  return v;
};

function writeAtomic(file: string, data: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

function sha256File(file: string): { size: number; sha256: string } {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1024 * 1024);
  let size = 0;
  try {
    for (let n: number; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; size += n) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return { size, sha256: h.digest('hex') };
}

export function keygen(dir: string): { privateFile: string; publicFile: string; keyId: string } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateFile = path.join(dir, 'release-key.pem');
  if (fs.existsSync(privateFile)) throw new ArgError(`${privateFile} exists: a signing key is never overwritten`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  fs.writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  const publicFile = path.join(dir, 'release-key.pub.pem');
  writeAtomic(publicFile, publicKey.export({ format: 'pem', type: 'spki' }) as string);
  return { privateFile, publicFile, keyId: keyIdOf(publicKey) };
}

export function makeManifest(f: Record<string, string | string[] | boolean>): ReleaseManifest {
  const files = (f.file as string[] | undefined) ?? [];
  if (files.length === 0) throw new ArgError('--file PATH is required (one per file of the release)');
  const component = need(f, 'component');
  if (component !== 'agent' && component !== 'device-firmware') throw new ArgError(`--component "${component}": agent or device-firmware`);
  const arch = f.arch as string | undefined;
  if (arch !== undefined && arch !== 'arm64' && arch !== 'amd64' && arch !== 'armhf') throw new ArgError(`--arch "${arch}": arm64, amd64 or armhf`);
  return {
    format: RELEASE_FORMAT,
    component,
    version: need(f, 'version'),
    target: {
      ...(arch ? { arch } : {}),
      ...(typeof f.hardware === 'string' ? { hardware: f.hardware } : {}),
      ...(Array.isArray(f.profile) ? { profiles: f.profile } : {}),
    },
    ...(typeof f['min-from'] === 'string' ? { minFrom: f['min-from'] } : {}),
    ...(f['allow-downgrade'] === true ? { allowDowngrade: true } : {}),
    files: files.map((p) => ({ path: path.basename(p), ...sha256File(p) })),
    ...(typeof f.notes === 'string' ? { notes: f.notes } : {}),
    createdAt: new Date().toISOString(),
  };
}

/** Add the signature of `keyFile` to MANIFEST.sig (replacing an earlier one by the same key). */
export function signManifest(manifestFile: string, keyFile: string): ReleaseSignature {
  const key = createPrivateKey(fs.readFileSync(keyFile));
  if (key.asymmetricKeyType !== 'ed25519') throw new ArgError(`${keyFile}: a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  const bytes = fs.readFileSync(manifestFile);
  const sig: ReleaseSignature = { keyId: keyIdOf(createPublicKey(key)), sig: signBytes(null, bytes, key).toString('base64') };
  const sigFile = `${manifestFile}.sig`;
  const old = fs.existsSync(sigFile) ? (JSON.parse(fs.readFileSync(sigFile, 'utf8')) as ReleaseSignature[]) : [];
  writeAtomic(sigFile, `${JSON.stringify([...old.filter((s) => s.keyId !== sig.keyId), sig], null, 2)}\n`);
  return sig;
}

/** What the server answers of a release (GET /api/releases/{id}), as far as the upload needs it. */
interface ServerRelease {
  id: string;
  manifestSha256: string;
  verifiedKeyId: string | null;
  complete: boolean;
  files: Array<{ path: string; size: number; received: boolean }>;
}

/** PUT one file as its raw bytes, streamed from disk with its length announced; the server's answer, or an ApiError. */
function putFile(server: string, token: string, url: string, file: string, size: number): Promise<ServerRelease> {
  const u = new URL(url, server);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* keep the text */
        }
        if ((res.statusCode ?? 0) >= 400) reject(new ApiError(res.statusCode ?? 0, body, `PUT ${u.pathname}`));
        else resolve(body as ServerRelease);
      });
    });
    req.on('error', reject);
    // The server may answer (413, 422) before it read the whole file: its answer is what counts.
    pipeline(fs.createReadStream(file), req).catch(() => {});
  });
}

/**
 * Uploads a signed release: the manifest's exact bytes and FILE.sig, then
 * each file. Every file is checked against the manifest first, so nothing
 * is sent that the server would refuse. A release the server already has
 * (an upload cut short) is completed with the files it lacks.
 */
export async function uploadRelease(o: { server: string; token: string; manifestFile: string; dir: string; log?: (line: string) => void }): Promise<ServerRelease> {
  const log = o.log ?? (() => {});
  const bytes = fs.readFileSync(o.manifestFile);
  const sigFile = `${o.manifestFile}.sig`;
  if (!fs.existsSync(sigFile)) throw new ArgError(`${sigFile} is missing: sign the manifest first (npm run release -- sign --key … --manifest ${o.manifestFile})`);
  const signatures = JSON.parse(fs.readFileSync(sigFile, 'utf8')) as unknown;
  if (!Array.isArray(signatures)) throw new ArgError(`${sigFile} is not a list of signatures`);
  const manifest = JSON.parse(bytes.toString('utf8')) as ReleaseManifest;
  if (!Array.isArray(manifest.files)) throw new ArgError(`${o.manifestFile} has no file list`);
  for (const e of manifest.files) {
    const file = path.join(o.dir, e.path);
    if (!fs.existsSync(file)) throw new ArgError(`${file} is missing: --dir must hold every file of the manifest`);
    const got = sha256File(file);
    if (!fileMatches(e, got.size, got.sha256)) throw new ArgError(`${file} is ${got.size} bytes with SHA-256 ${got.sha256}; the manifest says ${e.size} bytes, ${e.sha256}`);
  }
  const server = o.server.replace(/\/$/, '');
  const api = new LoanetClient(server, o.token);
  const manifestSha256 = createHash('sha256').update(bytes).digest('hex');
  let release: ServerRelease;
  try {
    release = await api.post<ServerRelease>('/api/releases', { manifest: bytes.toString('base64'), signatures });
    log(`stored ${release.id} (verified by key ${release.verifiedKeyId})`);
  } catch (e) {
    const body = e instanceof ApiError ? (e.body as { error?: string; params?: { id?: string } }) : undefined;
    if (body?.error !== 'LOANET_RELEASE_EXISTS' || !body.params?.id) throw e;
    release = await api.get<ServerRelease>(`/api/releases/${encodeURIComponent(body.params.id)}`);
    if (release.manifestSha256 !== manifestSha256) throw new Error(`the server already has release ${release.id} with another manifest; change the version`);
    log(`${release.id} is already on the server; sending what it lacks`);
  }
  for (const e of manifest.files) {
    if (release.files.find((f) => f.path === e.path)?.received) continue;
    release = await putFile(server, o.token, `/api/releases/${encodeURIComponent(release.id)}/files/${encodeURIComponent(e.path)}`, path.join(o.dir, e.path), e.size);
    log(`sent ${e.path} (${e.size} bytes)`);
  }
  return release;
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'keygen': {
      const f = flags(rest, { out: 'one' });
      const k = keygen(need(f, 'out'));
      console.log(`wrote ${k.privateFile} (keep it offline) and ${k.publicFile}; key id ${k.keyId}`);
      return;
    }
    case 'manifest': {
      const f = flags(rest, {
        component: 'one',
        version: 'one',
        file: 'many',
        out: 'one',
        arch: 'one',
        hardware: 'one',
        profile: 'many',
        'min-from': 'one',
        'allow-downgrade': 'bool',
        notes: 'one',
      });
      const m = makeManifest(f);
      writeAtomic(need(f, 'out'), `${JSON.stringify(m, null, 2)}\n`);
      console.log(`wrote ${f.out}: ${m.component} ${m.version}, ${m.files.length} file(s)`);
      return;
    }
    case 'sign': {
      const f = flags(rest, { key: 'one', manifest: 'one' });
      const s = signManifest(need(f, 'manifest'), need(f, 'key'));
      console.log(`signed ${f.manifest} with key ${s.keyId} (${f.manifest}.sig)`);
      return;
    }
    case 'verify': {
      const f = flags(rest, { trust: 'many', manifest: 'one', component: 'one', installed: 'one', arch: 'one', hardware: 'one', profile: 'one', dir: 'one' });
      const trusted = ((f.trust as string[] | undefined) ?? []).map((p) => trustedKeyFromPem(fs.readFileSync(p, 'utf8')));
      if (trusted.length === 0) throw new ArgError('--trust PUBLIC.pem is required');
      const file = need(f, 'manifest');
      const sigs = JSON.parse(fs.readFileSync(`${file}.sig`, 'utf8')) as unknown[];
      const v = verifyRelease(fs.readFileSync(file), Array.isArray(sigs) ? sigs : [], trusted, {
        component: need(f, 'component') as ReleaseManifest['component'],
        version: need(f, 'installed'),
        ...(typeof f.arch === 'string' ? { arch: f.arch } : {}),
        ...(typeof f.hardware === 'string' ? { hardware: f.hardware } : {}),
        ...(typeof f.profile === 'string' ? { profile: f.profile } : {}),
      });
      if (!v.ok) {
        console.error(`refused (${v.code}): ${v.reason}`);
        process.exitCode = 1;
        return;
      }
      if (typeof f.dir === 'string') {
        for (const e of v.manifest.files) {
          const got = sha256File(path.join(f.dir, e.path));
          if (!fileMatches(e, got.size, got.sha256)) {
            console.error(`refused (file_mismatch): ${e.path} is ${got.size} bytes with SHA-256 ${got.sha256}; the manifest says ${e.size} bytes, ${e.sha256}`);
            process.exitCode = 1;
            return;
          }
        }
      }
      console.log(`ok: ${v.manifest.component} ${v.manifest.version}, signed by ${v.keyId}`);
      return;
    }
    case 'upload': {
      const f = flags(rest, { server: 'one', token: 'one', manifest: 'one', dir: 'one' });
      const server = (f.server as string | undefined) ?? process.env.LOANET_URL;
      const token = (f.token as string | undefined) ?? process.env.LOANET_TOKEN;
      if (!server || !/^https?:\/\//.test(server)) throw new ArgError('--server URL is required (http:// or https://), or LOANET_URL');
      if (!token) throw new ArgError('--token TOKEN is required (an API token of a user who may upload releases: POST /api/auth/tokens), or LOANET_TOKEN');
      const r = await uploadRelease({ server, token, manifestFile: need(f, 'manifest'), dir: need(f, 'dir'), log: (l) => console.log(l) });
      console.log(`${r.complete ? 'complete' : 'incomplete'}: ${r.id}, ${r.files.length} file(s), verified by key ${r.verifiedKeyId}`);
      return;
    }
    default:
      throw new ArgError(cmd ? `unknown command "${cmd}"` : 'a command is required');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(`loanet release: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof ArgError) console.error(USAGE);
    process.exit(2);
  });
}
