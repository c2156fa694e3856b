/**
 * The release keys a board trusts (edge-agent/update/keys.ts) and those a package ships
 * (scripts/package.ts checkReleaseKeys): public Ed25519 keys only, found beside the package's program.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALLED_RELEASE_KEYS_DIR, isPrivateKeyPem, loadTrustedKeys, packageReleaseKeysDir } from '../../edge-agent/update/keys.ts';
import { checkReleaseKeys } from '../../scripts/package.ts';

function ed25519() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { pub: publicKey.export({ format: 'pem', type: 'spki' }).toString(), priv: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

describe('release keys', () => {
  it("the package's folder is beside the program the process started with, whichever slot runs", () => {
    expect(packageReleaseKeysDir('/usr/lib/loanet-agent/main.mjs')).toBe('/usr/lib/loanet-agent/release-keys');
    expect(packageReleaseKeysDir('/tmp/root/usr/lib/loanet-agent/main.mjs')).toBe('/tmp/root/usr/lib/loanet-agent/release-keys');
    // `npm run agent` (TypeScript, not a bundle): the installed folder.
    expect(packageReleaseKeysDir('/work/loanet/edge-agent/main.ts')).toBe(INSTALLED_RELEASE_KEYS_DIR);
    expect(packageReleaseKeysDir(undefined)).toBe(INSTALLED_RELEASE_KEYS_DIR);
  });

  it('a board trusts the public keys of its folder and refuses a private key put there, saying so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-keys-'));
    const a = ed25519();
    const b = ed25519();
    fs.writeFileSync(path.join(dir, 'a.pem'), a.pub);
    fs.writeFileSync(path.join(dir, 'b.pem'), b.priv);
    const warnings: string[] = [];
    const keys = await loadTrustedKeys(dir, (m) => warnings.push(m));
    expect(keys).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/b\.pem: a PRIVATE key/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a package ships public Ed25519 keys only: a private key or another kind refuses the build, naming the file', () => {
    const a = ed25519();
    expect(isPrivateKeyPem(a.priv)).toBe(true);
    expect(isPrivateKeyPem(a.pub)).toBe(false);
    expect(checkReleaseKeys([{ file: 'k/a.pem', pem: a.pub }])).toEqual([{ file: 'k/a.pem', keyId: expect.stringMatching(/^[0-9a-f]{16}$/) }]);
    expect(() => checkReleaseKeys([{ file: 'k/signing.pem', pem: a.priv }])).toThrow(/k\/signing\.pem is a PRIVATE key/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => checkReleaseKeys([{ file: 'k/rsa.pem', pem: rsa }])).toThrow(/k\/rsa\.pem is not an Ed25519 public key/);
  });
});
