/**
 * What the server decides of an uploaded release (server/releases/model.ts):
 * taken only when a trusted key signed the manifest's exact bytes and its
 * file list can be stored as plain files; its id made from what it is.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyIdOf, verifyReleaseSignature, type ReleaseManifest, type TrustedKey } from '../../common/release.ts';
import { acceptUpload, fileListProblem, releaseIdOf } from '../../server/releases/model.ts';
import { UPDATE_ID_PATTERN } from '../../protocol/update.ts';

function key() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const trusted: TrustedKey = { keyId: keyIdOf(publicKey), key: publicKey };
  return { trusted, sign: (bytes: Buffer) => ({ keyId: trusted.keyId, sig: sign(null, bytes, privateKey).toString('base64') }) };
}

const manifest = (over: Partial<ReleaseManifest> = {}): ReleaseManifest => ({
  format: 1,
  component: 'agent',
  version: '1.3.0',
  target: { arch: 'arm64' },
  files: [
    { path: 'loanet-agent_1.3.0_arm64.deb', size: 1000, sha256: 'a'.repeat(64) },
    { path: 'notes.txt', size: 24, sha256: 'b'.repeat(64) },
  ],
  createdAt: '2026-12-05T06:00:00.000Z',
  ...over,
});
const bytes = (m: ReleaseManifest) => Buffer.from(JSON.stringify(m));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('releaseIdOf', () => {
  it('names a release by component, version and target, in the id alphabet', () => {
    expect(releaseIdOf(manifest(), 'f'.repeat(64))).toBe('agent-1-3-0-arm64');
    expect(releaseIdOf(manifest({ component: 'device-firmware', version: '2.1.0-rc.1', target: { hardware: 'AMP-CTRL v2', profiles: ['xa'] } }), 'f'.repeat(64))).toBe(
      'device-firmware-2-1-0-rc-1-amp-ctrl-v2-xa',
    );
  });

  it('always matches UPDATE_ID_PATTERN, a long one ending with the manifest hash', () => {
    const re = new RegExp(UPDATE_ID_PATTERN);
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), fc.array(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: 50 }), (hardware, profiles) => {
        const m = manifest({ component: 'device-firmware', target: { hardware, profiles } });
        const id = releaseIdOf(m, '0123456789abcdef'.repeat(4));
        expect(id).toMatch(re);
        // Cut to fit, it ends with the manifest's hash (so two long names stay apart); a name that fits is the same whatever the hash.
        if (id !== releaseIdOf(m, 'fedcba9876543210'.repeat(4))) expect(id.endsWith('-01234567')).toBe(true);
      }),
    );
  });
});

describe('fileListProblem', () => {
  it('takes plain names, each once', () => {
    expect(fileListProblem(manifest().files)).toBeNull();
  });

  it('refuses folders, dot names, and a name listed twice (also differing only in case)', () => {
    expect(fileListProblem([{ path: 'bin/agent' }])).toMatch(/in a folder/);
    expect(fileListProblem([{ path: '..' }])).toMatch(/not a file name/);
    expect(fileListProblem([{ path: 'a.deb' }, { path: 'A.DEB' }])).toMatch(/listed twice/);
  });
});

describe('acceptUpload', () => {
  const k = key();
  const other = key();

  it('takes a manifest signed by a trusted key: its id, hash, total size and the key', () => {
    const b = bytes(manifest());
    expect(acceptUpload(b, [other.sign(b), k.sign(b)], [k.trusted])).toMatchObject({
      ok: true,
      id: 'agent-1-3-0-arm64',
      manifestSha256: sha(b),
      keyId: k.trusted.keyId,
      totalBytes: 1024,
    });
  });

  it('refuses an unsigned, unknown-key, bad-signature or malformed manifest with the refusal code', () => {
    const b = bytes(manifest());
    expect(acceptUpload(b, [], [k.trusted])).toMatchObject({ ok: false, code: 'unsigned' });
    expect(acceptUpload(b, [other.sign(b)], [k.trusted])).toMatchObject({ ok: false, code: 'unknown_key' });
    expect(acceptUpload(b, [{ keyId: k.trusted.keyId, sig: other.sign(b).sig }], [k.trusted])).toMatchObject({ ok: false, code: 'bad_signature' });
    const folder = bytes(manifest({ files: [{ path: 'bin/agent', size: 1, sha256: 'a'.repeat(64) }] }));
    expect(acceptUpload(folder, [k.sign(folder)], [k.trusted])).toMatchObject({ ok: false, code: 'malformed' });
    const extra = Buffer.from(JSON.stringify({ ...manifest(), installScript: 'rm -rf /' }));
    expect(acceptUpload(extra, [k.sign(extra)], [k.trusted])).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('says when the server trusts no key at all', () => {
    const b = bytes(manifest());
    expect(acceptUpload(b, [k.sign(b)], [])).toMatchObject({ ok: false, code: 'unknown_key', reason: expect.stringMatching(/trusts no release key/) });
  });
});

describe('verifyReleaseSignature', () => {
  it('checks the signature before parsing: unsigned garbage is unsigned, not malformed', () => {
    const k = key();
    expect(verifyReleaseSignature(Buffer.from('{not json'), [], [k.trusted])).toMatchObject({ ok: false, code: 'unsigned' });
    const g = Buffer.from('{not json');
    expect(verifyReleaseSignature(g, [k.sign(g)], [k.trusted])).toMatchObject({ ok: false, code: 'malformed' });
  });
});
