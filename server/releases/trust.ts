/**
 * The server's trust list: the PUBLIC release keys whose signatures it
 * accepts on an upload (a folder of `*.pem`, LOANET_RELEASE_KEYS, default
 * `{dataDir}/release-keys/`). The server never holds a private key, so it
 * cannot sign: a stolen server can serve only releases the key holders made.
 *
 * Read again at every use: adding or removing a key takes effect without a
 * restart, and a key taken out stops counting for the releases it verified
 * (they show as verified by no trusted key). A file that is not an Ed25519
 * public key is skipped and logged once, naming the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { trustedKeyFromPem, type TrustedKey } from '../../common/release.ts';
import type { Logger } from '../fleet/broker.ts';

/** A trust folder is a handful of keys; more, or larger files, are not read. */
const MAX_KEYS = 64;
const MAX_PEM_BYTES = 16 * 1024;

export interface TrustedReleaseKey extends TrustedKey {
  /** The file it came from (its name in the folder). */
  file: string;
}

export class ReleaseTrustList {
  private readonly warned = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Makes the folder when it is missing (owner only), so an admin sees where the keys go. */
  ensureDir(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  keys(): TrustedReleaseKey[] {
    let names: string[];
    try {
      names = fs
        .readdirSync(this.dir)
        .filter((n) => n.endsWith('.pem'))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warnOnce(this.dir, `release keys folder ${this.dir} cannot be read`, err);
      return [];
    }
    const out: TrustedReleaseKey[] = [];
    for (const name of names.slice(0, MAX_KEYS)) {
      const file = path.join(this.dir, name);
      try {
        const st = fs.statSync(file);
        if (!st.isFile() || st.size > MAX_PEM_BYTES) throw new Error(`not a key file of at most ${MAX_PEM_BYTES} bytes`);
        const pem = fs.readFileSync(file, 'utf8');
        // createPublicKey would take a private key too (deriving its public half): the server must not hold one.
        if (/PRIVATE KEY/.test(pem)) {
          this.warnOnce(file, `release key ${file} is a PRIVATE key and was not used: the server must hold only public keys; move it off this machine`);
          continue;
        }
        const k = trustedKeyFromPem(pem);
        if (!out.some((o) => o.keyId === k.keyId)) out.push({ ...k, file: name });
      } catch (err) {
        this.warnOnce(file, `release key ${file} skipped: not an Ed25519 public key in PEM (SPKI); the server trusts only public keys`, err);
      }
    }
    if (names.length > MAX_KEYS) this.warnOnce(`${this.dir}#count`, `release keys folder ${this.dir} has ${names.length} .pem files; only the first ${MAX_KEYS} are read`);
    return out;
  }

  private warnOnce(key: string, message: string, err?: unknown): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn({ err: err instanceof Error ? err.message : err }, message);
  }
}
