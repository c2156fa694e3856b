/**
 * The release keys a board trusts: every *.pem in a folder (the package's
 * /usr/lib/loanet-agent/release-keys, or agent.json's releaseKeysDir). Several
 * at once, so a key can be rotated (docs/updates.md). A file that is not an
 * Ed25519 public key is skipped and said (a private key too: it must not be
 * on a board at all); none at all means every release is refused
 * (`unknown_key`), never that any is accepted.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { trustedKeyFromPem, type TrustedKey } from '../../common/release.ts';

/** Where the package installs the province's public keys (scripts/package.ts, from packaging/release-keys/). */
export const INSTALLED_RELEASE_KEYS_DIR = '/usr/lib/loanet-agent/release-keys';

/**
 * The package's release-keys folder, beside the program the process was started with: the package's
 * /usr/lib/loanet-agent/main.mjs, also when the launcher runs an update slot's program in that same
 * process (the keys a board trusts are the package's, never a release's own). A package unpacked
 * elsewhere (the package test's root) finds its own. Not started from a bundle (`npm run agent`): the
 * installed folder.
 */
export function packageReleaseKeysDir(entry: string | undefined = process.argv[1]): string {
  return entry && basename(entry) === 'main.mjs' ? join(dirname(entry), 'release-keys') : INSTALLED_RELEASE_KEYS_DIR;
}

/** The folder agent.json's releaseKeysDir replaces (see packageReleaseKeysDir). */
export const PACKAGE_RELEASE_KEYS_DIR = packageReleaseKeysDir();

/** A PEM that holds a private key (which createPublicKey would quietly accept, deriving its public half). */
export function isPrivateKeyPem(pem: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem);
}

export async function loadTrustedKeys(dir: string, warn: (m: string) => void): Promise<TrustedKey[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.pem')).sort();
  } catch (e) {
    warn(
      `no release keys in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): no software update can be verified here until the province's public release key is put there (docs/updates.md)`,
    );
    return [];
  }
  const keys: TrustedKey[] = [];
  for (const n of names) {
    try {
      const pem = await readFile(join(dir, n), 'utf8');
      if (pem.length > 4096) throw new Error('larger than a public key');
      if (isPrivateKeyPem(pem)) throw new Error('a PRIVATE key: signing keys stay offline (docs/updates.md); move it off this board');
      const k = trustedKeyFromPem(pem);
      if (!keys.some((x) => x.keyId === k.keyId)) keys.push(k);
    } catch (e) {
      warn(`ignoring the release key ${join(dir, n)}: ${(e as Error).message}`);
    }
  }
  if (keys.length === 0) warn(`no usable release key in ${dir}: no software update can be verified here until the province's public release key is put there (docs/updates.md)`);
  return keys;
}
