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
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as signBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ArgError } from './cli-args.ts';
import { fileMatches, keyIdOf, RELEASE_FORMAT, trustedKeyFromPem, verifyRelease, type ReleaseManifest, type ReleaseSignature } from '../common/release.ts';

const USAGE = `usage: npm run release -- keygen|manifest|sign|verify [flags]  (see tools/release.ts)`;

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

function main(): void {
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
    default:
      throw new ArgError(cmd ? `unknown command "${cmd}"` : 'a command is required');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (e) {
    console.error(`loanet release: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof ArgError) console.error(USAGE);
    process.exit(2);
  }
}
