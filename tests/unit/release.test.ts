/**
 * Release manifests and their signatures (common/release.ts): a board takes
 * only a manifest signed by a key it trusts, for its component and hardware,
 * not older than what it runs unless the release says so, and not skipping
 * a version it must not skip. Keys rotate: several are trusted at once.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, fileMatches, keyIdOf, verifyRelease, type InstalledState, type ReleaseManifest, type TrustedKey } from '../../common/release.ts';

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
  files: [{ path: 'loanet-agent_1.3.0_arm64.deb', size: 1234, sha256: 'a'.repeat(64) }],
  createdAt: '2026-12-05T06:00:00.000Z',
  ...over,
});
const board: InstalledState = { component: 'agent', version: '1.2.0', arch: 'arm64' };
const bytes = (m: ReleaseManifest) => Buffer.from(JSON.stringify(m));

describe('verifyRelease', () => {
  const k = key();
  it('takes a manifest signed by a trusted key, naming the key', () => {
    const b = bytes(manifest());
    expect(verifyRelease(b, [k.sign(b)], [k.trusted], board)).toMatchObject({ ok: true, keyId: k.trusted.keyId, manifest: { version: '1.3.0' } });
  });

  it('refuses a manifest changed after signing, by one byte anywhere', () => {
    const b = bytes(manifest());
    const s = k.sign(b);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: b.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bent = Buffer.from(b);
        bent[at]! ^= x;
        expect(verifyRelease(bent, [s], [k.trusted], board)).toMatchObject({ ok: false, code: 'bad_signature' });
      }),
      { numRuns: 200 },
    );
  });

  it('refuses unsigned, unknown-key and malformed-signature releases', () => {
    const b = bytes(manifest());
    const stranger = key();
    expect(verifyRelease(b, [], [k.trusted], board)).toMatchObject({ ok: false, code: 'unsigned' });
    expect(verifyRelease(b, [{ keyId: 'zz', sig: 'x' }, 'junk', null], [k.trusted], board)).toMatchObject({ ok: false, code: 'unsigned' });
    expect(verifyRelease(b, [stranger.sign(b)], [k.trusted], board)).toMatchObject({ ok: false, code: 'unknown_key' });
    // A stranger's signature under a trusted key's id is a bad signature, not a pass.
    expect(verifyRelease(b, [{ ...stranger.sign(b), keyId: k.trusted.keyId }], [k.trusted], board)).toMatchObject({ ok: false, code: 'bad_signature' });
  });

  it('key rotation: a board trusting the old and the new key takes either; one that dropped the old key refuses it', () => {
    const next = key();
    const b = bytes(manifest());
    expect(verifyRelease(b, [next.sign(b)], [k.trusted, next.trusted], board)).toMatchObject({ ok: true, keyId: next.trusted.keyId });
    expect(verifyRelease(b, [k.sign(b), next.sign(b)], [next.trusted], board)).toMatchObject({ ok: true, keyId: next.trusted.keyId });
    expect(verifyRelease(b, [k.sign(b)], [next.trusted], board)).toMatchObject({ ok: false, code: 'unknown_key' });
  });

  it('refuses a signed manifest that is not a valid one, naming the field', () => {
    const bad = Buffer.from(JSON.stringify({ ...manifest(), files: [{ path: '../../etc/passwd', size: 1, sha256: 'a'.repeat(64) }] }));
    expect(verifyRelease(bad, [k.sign(bad)], [k.trusted], board)).toMatchObject({ ok: false, code: 'malformed', reason: expect.stringContaining('/files/0/path') });
    const notJson = Buffer.from('{"format":1,');
    expect(verifyRelease(notJson, [k.sign(notJson)], [k.trusted], board)).toMatchObject({ ok: false, code: 'malformed' });
    const huge = Buffer.alloc(65 * 1024, 0x20);
    expect(verifyRelease(huge, [k.sign(huge)], [k.trusted], board)).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('refuses another component, another architecture, hardware or profile', () => {
    const check = (m: ReleaseManifest, on: InstalledState = board) => {
      const b = bytes(m);
      return verifyRelease(b, [k.sign(b)], [k.trusted], on);
    };
    expect(check(manifest({ component: 'device-firmware' }))).toMatchObject({ ok: false, code: 'wrong_component' });
    expect(check(manifest({ target: { arch: 'amd64' } }))).toMatchObject({ ok: false, code: 'wrong_target' });
    const fwBoard: InstalledState = { component: 'device-firmware', version: '1.0.0', hardware: 'loanet-amp-1', profile: 'village-cluster-4g' };
    expect(check(manifest({ component: 'device-firmware', version: '1.1.0', target: { hardware: 'loanet-amp-2' } }), fwBoard)).toMatchObject({ ok: false, code: 'wrong_target' });
    expect(check(manifest({ component: 'device-firmware', version: '1.1.0', target: { hardware: 'loanet-amp-1', profiles: ['commune-station'] } }), fwBoard)).toMatchObject({
      ok: false,
      code: 'wrong_target',
    });
    expect(check(manifest({ component: 'device-firmware', version: '1.1.0', target: { hardware: 'loanet-amp-1', profiles: ['village-cluster-4g'] } }), fwBoard)).toMatchObject({
      ok: true,
    });
  });

  it('refuses a downgrade unless the release allows it, the same version, and a skip over minFrom', () => {
    const check = (m: ReleaseManifest) => {
      const b = bytes(m);
      return verifyRelease(b, [k.sign(b)], [k.trusted], board);
    };
    expect(check(manifest({ version: '1.1.9' }))).toMatchObject({ ok: false, code: 'downgrade' });
    expect(check(manifest({ version: '1.1.9', allowDowngrade: true }))).toMatchObject({ ok: true });
    expect(check(manifest({ version: '1.2.0' }))).toMatchObject({ ok: false, code: 'same_version' });
    expect(check(manifest({ version: '2.0.0', minFrom: '1.2.5' }))).toMatchObject({ ok: false, code: 'too_old_to_upgrade' });
    expect(check(manifest({ version: '2.0.0', minFrom: '1.2.0' }))).toMatchObject({ ok: true });
  });

  it('a file matches only with its size and hash', () => {
    const e = manifest().files[0]!;
    expect(fileMatches(e, 1234, 'a'.repeat(64))).toBe(true);
    expect(fileMatches(e, 1233, 'a'.repeat(64))).toBe(false);
    expect(fileMatches(e, 1234, 'b'.repeat(64))).toBe(false);
  });
});

describe('compareVersions', () => {
  it('orders by number, a release after its prereleases', () => {
    const ordered = ['0.9.10', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.2.0', '1.10.0', '2.0.0'];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) expect(Math.sign(compareVersions(ordered[i]!, ordered[j]!)), `${ordered[i]} vs ${ordered[j]}`).toBe(Math.sign(i - j));
    }
  });

  it('is antisymmetric over any versions', () => {
    const v = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20), fc.option(fc.constantFrom('alpha', 'beta.1', 'rc.2', '1'))).map(([a, b, c, p]) => `${a}.${b}.${c}${p ? `-${p}` : ''}`);
    fc.assert(fc.property(v, v, (a, b) => Math.sign(compareVersions(a, b)) === -Math.sign(compareVersions(b, a))));
  });
});
