/**
 * The release tool as a person runs it (`npm run release -- …`, its own
 * process): a key made offline, a manifest of real files, signed, then
 * verified as a board would, with the files checked; a changed file, a
 * changed manifest and a board that does not trust the key are refused.
 * Then uploaded to a real server: the manifest, its signatures and each file,
 * an interrupted upload completed, a key the server does not trust refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tsNode, type Exit, type Proc } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';

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

  it('uploads a signed release to a server, completes an interrupted upload, and is refused with a key the server does not trust', async () => {
    const t = await startTestServer();
    try {
      const keys = path.join(dir, 'upload-keys');
      expect((await run('keygen', '--out', keys)).exit.code).toBe(0);
      fs.copyFileSync(path.join(keys, 'release-key.pub.pem'), path.join(t.dataDir, 'release-keys', 'builders.pem'));
      const files = path.join(dir, 'upload-files');
      fs.mkdirSync(files);
      fs.writeFileSync(path.join(files, 'loanet-agent_1.4.0_arm64.deb'), Buffer.alloc(250_000, 3));
      fs.writeFileSync(path.join(files, 'notes.txt'), 'Ghi chú phát hành 1.4.0\n');
      const made = async (version: string, key: string) => {
        const manifest = path.join(dir, `manifest-${version}.json`);
        const m = await run(
          'manifest',
          '--component',
          'agent',
          '--version',
          version,
          '--arch',
          'arm64',
          '--file',
          path.join(files, 'loanet-agent_1.4.0_arm64.deb'),
          '--file',
          path.join(files, 'notes.txt'),
          '--out',
          manifest,
        );
        expect(m.exit.code, m.out).toBe(0);
        expect((await run('sign', '--key', key, '--manifest', manifest)).exit.code).toBe(0);
        return manifest;
      };
      const upload = (manifest: string) => run('upload', '--server', t.baseUrl, '--token', t.token, '--manifest', manifest, '--dir', files);

      const whole = await upload(await made('1.4.0', path.join(keys, 'release-key.pem')));
      expect(whole.exit.code, whole.out).toBe(0);
      expect(whole.out).toMatch(/^complete: agent-1-4-0-arm64, 2 file\(s\), verified by key [0-9a-f]{16}/m);
      expect((await t.api('GET', '/api/releases/agent-1-4-0-arm64')).body).toMatchObject({
        complete: true,
        receivedBytes: 250_000 + Buffer.byteLength('Ghi chú phát hành 1.4.0\n'),
      });

      // Cut short after the manifest: run again, only the files are sent.
      const cut = await made('1.4.1', path.join(keys, 'release-key.pem'));
      const posted = await t.api('POST', '/api/releases', { manifest: fs.readFileSync(cut).toString('base64'), signatures: JSON.parse(fs.readFileSync(`${cut}.sig`, 'utf8')) });
      expect(posted.status).toBe(201);
      const resumed = await upload(cut);
      expect(resumed.exit.code, resumed.out).toBe(0);
      expect(resumed.out).toMatch(/already on the server/);
      expect(resumed.out).toMatch(/^complete: agent-1-4-1-arm64/m);

      const other = path.join(dir, 'untrusted-keys');
      await run('keygen', '--out', other);
      const refused = await upload(await made('1.4.2', path.join(other, 'release-key.pem')));
      expect(refused.exit.code).toBe(2);
      expect(refused.out).toMatch(/HTTP 422: release refused \(unknown_key\)/);
      expect((await t.api('GET', '/api/releases')).body.releases.map((r: { id: string }) => r.id).sort()).toEqual(['agent-1-4-0-arm64', 'agent-1-4-1-arm64']);
    } finally {
      await t.stop();
    }
  }, 120_000);
});
