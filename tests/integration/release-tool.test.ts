/**
 * The release tool as a person runs it (`npm run release -- …`, its own
 * process): a key made offline, a manifest of real files, signed, then
 * verified as a board would, with the files checked; a changed file, a
 * changed manifest and a board that does not trust the key are refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsNode, type Exit, type Proc } from '../helpers/process.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-release-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ exit: Exit; out: string; p: Proc }> {
  const p = tsNode('tools/release.ts', ...args);
  const exit = await p.exited;
  return { exit, out: p.text(), p };
}

describe('npm run release', () => {
  it('makes a key, a manifest of the files, signs it, and verifies it as a board would', async () => {
    const keys = path.join(dir, 'keys');
    const k = await run('keygen', '--out', keys);
    expect(k.exit.code, k.out).toBe(0);
    expect(k.out).toMatch(/key id [0-9a-f]{16}/);
    expect(fs.statSync(path.join(keys, 'release-key.pem')).mode & 0o777).toBe(0o600);
    expect((await run('keygen', '--out', keys)).exit.code).toBe(2);

    const files = path.join(dir, 'files');
    fs.mkdirSync(files);
    fs.writeFileSync(path.join(files, 'loanet-agent_1.3.0_arm64.deb'), Buffer.alloc(300_000, 7));
    fs.writeFileSync(path.join(files, 'notes.txt'), 'Sửa lỗi phát lại khi mất kết nối\n');
    const manifest = path.join(dir, 'manifest.json');
    const m = await run(
      'manifest',
      '--component',
      'agent',
      '--version',
      '1.3.0',
      '--arch',
      'arm64',
      '--file',
      path.join(files, 'loanet-agent_1.3.0_arm64.deb'),
      '--file',
      path.join(files, 'notes.txt'),
      '--out',
      manifest,
    );
    expect(m.exit.code, m.out).toBe(0);
    expect(JSON.parse(fs.readFileSync(manifest, 'utf8'))).toMatchObject({ component: 'agent', version: '1.3.0', files: [{ size: 300_000 }, { path: 'notes.txt' }] });
    const s = await run('sign', '--key', path.join(keys, 'release-key.pem'), '--manifest', manifest);
    expect(s.exit.code, s.out).toBe(0);

    const verify = (...extra: string[]) =>
      run('verify', '--trust', path.join(keys, 'release-key.pub.pem'), '--manifest', manifest, '--component', 'agent', '--installed', '1.2.0', '--arch', 'arm64', ...extra);
    const ok = await verify('--dir', files);
    expect(ok.exit.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/^ok: agent 1\.3\.0, signed by [0-9a-f]{16}/m);

    expect((await verify('--arch', 'amd64')).out).toMatch(/refused \(wrong_target\)/);
    fs.appendFileSync(path.join(files, 'notes.txt'), 'x');
    const changedFile = await verify('--dir', files);
    expect(changedFile.exit.code).toBe(1);
    expect(changedFile.out).toMatch(/refused \(file_mismatch\): notes\.txt/);

    fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace('"1.3.0"', '"1.3.1"'));
    const changedManifest = await verify();
    expect(changedManifest.exit.code).toBe(1);
    expect(changedManifest.out).toMatch(/refused \(bad_signature\)/);

    const other = path.join(dir, 'other');
    await run('keygen', '--out', other);
    const stranger = await run('verify', '--trust', path.join(other, 'release-key.pub.pem'), '--manifest', manifest, '--component', 'agent', '--installed', '1.2.0');
    expect(stranger.out).toMatch(/refused \(unknown_key\)/);
  });

  it('names a missing or unknown flag', async () => {
    const r = await run('manifest', '--component', 'agent', '--version', '1.0.0', '--out', path.join(dir, 'x.json'));
    expect(r.exit.code).toBe(2);
    expect(r.out).toMatch(/--file PATH is required/);
    expect((await run('sign', '--keyfile', 'x')).out).toMatch(/unknown flag --keyfile/);
  });
});
