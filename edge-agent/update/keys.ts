/**
 * The release keys a board trusts: every *.pem in a folder (the package's
 * /usr/lib/loanet-agent/release-keys, or agent.json's releaseKeysDir). Several
 * at once, so a key can be rotated (docs/updates.md). A file that is not an
 * Ed25519 public key is skipped and said; none at all means every release is
 * refused (`unknown_key`), never that any is accepted.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { trustedKeyFromPem, type TrustedKey } from '../../common/release.ts';

export const PACKAGE_RELEASE_KEYS_DIR = '/usr/lib/loanet-agent/release-keys';

export async function loadTrustedKeys(dir: string, warn: (m: string) => void): Promise<TrustedKey[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.pem')).sort();
  } catch (e) {
    warn(`no release keys in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): every software update will be refused`);
    return [];
  }
  const keys: TrustedKey[] = [];
  for (const n of names) {
    try {
      const pem = await readFile(join(dir, n), 'utf8');
      if (pem.length > 4096) throw new Error('larger than a public key');
      const k = trustedKeyFromPem(pem);
      if (!keys.some((x) => x.keyId === k.keyId)) keys.push(k);
    } catch (e) {
      warn(`ignoring the release key ${join(dir, n)}: ${(e as Error).message}`);
    }
  }
  if (keys.length === 0) warn(`no usable release key in ${dir}: every software update will be refused`);
  return keys;
}
