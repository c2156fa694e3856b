/**
 * Signed releases on a real server (server/releases): a manifest signed with
 * a key of the server's trust list is stored, its two files arrive one by
 * one (the release complete only when both have), and a site fetches the
 * manifest, signatures and files with its own credential, resuming with
 * Range. What is not validly signed, a file of the wrong size or hash, and a
 * caller without the right is refused, with nothing stored.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, type ReleaseManifest } from '../../common/release.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

let t: TestServer;
let siteBasic = '';
let operator = '';
let technician = '';

function makeKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId: keyIdOf(publicKey),
    pem: publicKey.export({ format: 'pem', type: 'spki' }) as string,
    sign: (bytes: Buffer) => ({ keyId: keyIdOf(publicKey), sig: sign(null, bytes, privateKey as KeyObject).toString('base64') }),
  };
}
const trusted = makeKey();
const stranger = makeKey();

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DEB = Buffer.alloc(300_001, 0);
for (let i = 0; i < DEB.length; i++) DEB[i] = (i * 31 + (i >> 8)) & 0xff;
const NOTES = Buffer.from('Sửa lỗi phát lại khi mất kết nối\n');

function manifestOf(over: Partial<ReleaseManifest> = {}): Buffer {
  const m: ReleaseManifest = {
    format: 1,
    component: 'agent',
    version: '1.3.0',
    target: { arch: 'arm64' },
    minFrom: '1.1.0',
    files: [
      { path: 'loanet-agent_1.3.0_arm64.deb', size: DEB.length, sha256: sha(DEB) },
      { path: 'notes.txt', size: NOTES.length, sha256: sha(NOTES) },
    ],
    createdAt: '2026-12-05T06:00:00.000Z',
    ...over,
  };
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}

const upload = (manifest: Buffer, signatures: unknown[], token?: string) =>
  t.api('POST', '/api/releases', { manifest: manifest.toString('base64'), signatures }, token === undefined ? {} : { token });

async function put(id: string, file: string, body: Buffer, token = t.token): Promise<{ status: number; body: any }> {
  const res = await fetch(`${t.baseUrl}/api/releases/${id}/files/${file}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function asSite(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: siteBasic, ...headers } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** What the release folder holds, temporary uploads included: nothing of a refused upload may stay. */
function storedFiles(): string[] {
  const dir = path.join(t.dataDir, 'releases');
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

async function makeUser(username: string, role: string): Promise<string> {
  const password = `password-of-${username}`;
  const c = await t.api('POST', '/api/users', { username, password, role });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const login = await t.api('POST', '/api/auth/login', { username, password }, { token: null });
  return login.body.token as string;
}

beforeAll(async () => {
  t = await startTestServer();
  // The default trust folder ({dataDir}/release-keys) exists from the start; keys are read at each use.
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'province-2026.pem'), trusted.pem);
  await importLaoCai2025(t);
  const created = await t.api('POST', '/api/sites', { name: 'Đài xã Bát Xát', kind: 'station', area: '02683' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  siteBasic = `Basic ${Buffer.from(`${created.body.credential.siteId}:${created.body.credential.secret}`).toString('base64')}`;
  operator = await makeUser('op-releases', 'operator');
  technician = await makeUser('tech-releases', 'technician');
}, 60_000);
afterAll(() => t?.stop());

describe('release uploads', () => {
  it('refuses what is not validly signed by a trusted key, naming why, and stores nothing', async () => {
    const m = manifestOf();
    const cases: Array<[string, Buffer, unknown[], string]> = [
      ['no signature', m, [], 'unsigned'],
      ['an unknown key', m, [stranger.sign(m)], 'unknown_key'],
      ['a signature of other bytes under the trusted key id', m, [{ keyId: trusted.keyId, sig: stranger.sign(m).sig }], 'bad_signature'],
      ['a manifest changed after signing', manifestOf({ version: '1.3.1' }), [trusted.sign(m)], 'bad_signature'],
      ['a manifest that is not JSON', Buffer.from('not json'), [trusted.sign(Buffer.from('not json'))], 'malformed'],
    ];
    const escaping = manifestOf({ files: [{ path: '../../etc/passwd', size: 1, sha256: 'a'.repeat(64) }] });
    cases.push(['a file path leaving the release folder', escaping, [trusted.sign(escaping)], 'malformed']);
    const twice = manifestOf({
      files: [
        { path: 'a.deb', size: 1, sha256: 'a'.repeat(64) },
        { path: 'a.deb', size: 2, sha256: 'b'.repeat(64) },
      ],
    });
    cases.push(['a file listed twice', twice, [trusted.sign(twice)], 'malformed']);
    const inFolder = manifestOf({ files: [{ path: 'bin/loanet-agent', size: 1, sha256: 'a'.repeat(64) }] });
    cases.push(['a file in a folder', inFolder, [trusted.sign(inFolder)], 'malformed']);
    for (const [what, bytes, sigs, reason] of cases) {
      const r = await upload(bytes, sigs);
      expect(r.status, what).toBe(422);
      expect(r.body, what).toMatchObject({ error: 'LOANET_RELEASE_REFUSED', params: { reason } });
    }
    expect((await t.api('GET', '/api/releases?includeRetired=true')).body.releases).toEqual([]);
    expect(storedFiles()).toEqual([]);
  });

  it('stores a signed release whose two files arrive one by one, refusing a wrong size or hash with nothing kept', async () => {
    const m = manifestOf();
    const created = await upload(m, [stranger.sign(m), trusted.sign(m)], technician);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(id).toBe('agent-1-3-0-arm64');
    expect(created.body).toMatchObject({
      component: 'agent',
      version: '1.3.0',
      target: { arch: 'arm64' },
      minFrom: '1.1.0',
      manifestSha256: sha(m),
      verifiedKeyId: trusted.keyId,
      signedBy: [stranger.keyId, trusted.keyId],
      totalBytes: DEB.length + NOTES.length,
      receivedBytes: 0,
      uploadedBy: { username: 'tech-releases' },
      complete: false,
      retired: false,
    });
    expect(created.body.files.map((f: { received: boolean }) => f.received)).toEqual([false, false]);
    expect((await upload(m, [trusted.sign(m)])).body).toMatchObject({ error: 'LOANET_RELEASE_EXISTS', params: { id } });
    // An incomplete release is not there for the sites.
    expect((await asSite(`/api/releases/${id}/manifest`)).status).toBe(404);

    const deb = 'loanet-agent_1.3.0_arm64.deb';
    const bent = Buffer.from(DEB);
    bent[1234] = (bent[1234] ?? 0) ^ 1;
    expect((await put(id, deb, bent)).body).toMatchObject({ error: 'LOANET_RELEASE_FILE_MISMATCH', params: { path: deb, gotSize: DEB.length, gotSha256: sha(bent) } });
    expect((await put(id, deb, DEB.subarray(0, 1000))).status).toBe(422);
    expect((await put(id, deb, Buffer.concat([DEB, Buffer.from('x')]))).body).toMatchObject({ error: 'LOANET_RELEASE_FILE_TOO_LARGE', params: { size: DEB.length } });
    expect((await put(id, 'other.deb', DEB)).status).toBe(404);
    expect((await put(id, deb, DEB, operator)).status).toBe(403);
    expect(storedFiles()).toEqual([]);

    const first = await put(id, deb, DEB);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ complete: false, receivedBytes: DEB.length });
    expect(first.body.files.map((f: { received: boolean }) => f.received)).toEqual([true, false]);
    // Sent again (a tool retrying): nothing written, the same answer.
    expect((await put(id, deb, DEB)).status).toBe(200);

    const second = await put(id, 'notes.txt', NOTES);
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ complete: true, receivedBytes: DEB.length + NOTES.length });
    expect(storedFiles()).toEqual([path.join(id, 'notes.txt'), path.join(id, deb)].sort());
    expect(fs.readFileSync(path.join(t.dataDir, 'releases', id, deb)).equals(DEB)).toBe(true);

    expect(await t.server.ctx.releases.get(id)).toMatchObject({ id, completeAt: expect.any(Number), verifiedKeyId: trusted.keyId, manifestSha256: sha(m) });
    const audit = await t.api('GET', '/api/audit?action=release.');
    expect(audit.body.entries.map((e: { action: string }) => e.action).sort()).toEqual(['release.create', 'release.file', 'release.file']);
  });

  it('refuses a file that passes its size while streaming (no length announced), keeping nothing', async () => {
    const m = manifestOf({ version: '1.3.1' });
    const id = (await upload(m, [trusted.sign(m)])).body.id as string;
    const before = storedFiles();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${t.baseUrl}/api/releases/${id}/files/loanet-agent_1.3.0_arm64.deb`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      // More than the manifest says, in pieces: the server answers as soon as the size is passed.
      const piece = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const more = () => {
        while (sent < DEB.length + 10 * piece.length) {
          sent += piece.length;
          if (!req.write(piece)) return void req.once('drain', more);
        }
        req.end();
      };
      more();
    });
    expect(status).toBe(413);
    expect(storedFiles()).toEqual(before);
  });

  it('takes an empty file as a file of 0 bytes', async () => {
    const m = manifestOf({ version: '1.5.0', files: [{ path: 'reset.flag', size: 0, sha256: sha(Buffer.alloc(0)) }] });
    const id = (await upload(m, [trusted.sign(m)])).body.id as string;
    const r = await put(id, 'reset.flag', Buffer.alloc(0));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ complete: true, totalBytes: 0 });
  });

  it('drops what an upload cut by the client had written', async () => {
    const id = 'agent-1-3-1-arm64';
    const tmpDir = path.join(t.dataDir, 'releases', '.tmp');
    const req = http.request(`${t.baseUrl}/api/releases/${id}/files/loanet-agent_1.3.0_arm64.deb`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream', 'content-length': String(DEB.length) },
    });
    req.on('error', () => {});
    req.write(DEB.subarray(0, 100_000));
    // The server is writing it: then the client goes away.
    await waitFor('the upload to be written to a temporary file', () => fs.readdirSync(tmpDir).length > 0);
    req.destroy();
    await waitFor('the temporary file to be removed', () => fs.readdirSync(tmpDir).length === 0);
    expect((await t.api('GET', `/api/releases/${id}`)).body.files.every((f: { received: boolean }) => !f.received)).toBe(true);
  });

  it('lets only release writers upload, and lists releases to every reader but not to sites', async () => {
    const m = manifestOf({ version: '2.0.0' });
    expect((await upload(m, [trusted.sign(m)], operator)).status).toBe(403);
    const list = await t.api('GET', '/api/releases', undefined, { token: operator });
    expect(list.status).toBe(200);
    expect(list.body.trustedKeys).toEqual([trusted.keyId]);
    expect(list.body.releases.map((r: { id: string }) => r.id)).toContain('agent-1-3-0-arm64');
    const site = await fetch(`${t.baseUrl}/api/releases`, { headers: { authorization: siteBasic } });
    expect(site.status).toBe(403);
    const sitePost = await fetch(`${t.baseUrl}/api/releases`, {
      method: 'POST',
      headers: { authorization: siteBasic, 'content-type': 'application/json' },
      body: JSON.stringify({ manifest: m.toString('base64'), signatures: [trusted.sign(m)] }),
    });
    expect(sitePost.status).toBe(403);
  });
});

describe('the trust list', () => {
  it('takes no private key: a signing key put in the folder by mistake vouches for nothing', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const leaked = path.join(t.dataDir, 'release-keys', 'leaked.pem');
    fs.writeFileSync(leaked, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    try {
      expect((await t.api('GET', '/api/releases')).body.trustedKeys).toEqual([trusted.keyId]);
      const m = manifestOf({ version: '3.0.0' });
      const r = await upload(m, [{ keyId: keyIdOf(publicKey), sig: sign(null, m, privateKey).toString('base64') }]);
      expect(r.body).toMatchObject({ error: 'LOANET_RELEASE_REFUSED', params: { reason: 'unknown_key' } });
    } finally {
      fs.rmSync(leaked);
    }
  });
});

describe('release downloads by sites', () => {
  const id = 'agent-1-3-0-arm64';
  const deb = `/api/releases/${id}/files/loanet-agent_1.3.0_arm64.deb`;

  it('gives a site the exact manifest, its signatures and the files, resumable with Range', async () => {
    const manifest = await asSite(`/api/releases/${id}/manifest`);
    expect(manifest.status).toBe(200);
    expect(manifest.body.equals(manifestOf())).toBe(true);
    expect(manifest.headers.get('etag')).toBe(`"${sha(manifestOf())}"`);
    const sigs = await asSite(`/api/releases/${id}/signatures`);
    expect(sigs.status).toBe(200);
    expect(JSON.parse(sigs.body.toString()).map((s: { keyId: string }) => s.keyId)).toEqual([stranger.keyId, trusted.keyId]);

    const whole = await asSite(deb);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(DEB)).toBe(true);
    const etag = whole.headers.get('etag')!;
    expect(etag).toBe(`"${sha(DEB)}"`);

    // A download cut at 123,457 bytes resumes there and the two halves are the file.
    const rest = await asSite(deb, { range: 'bytes=123457-', 'if-range': etag });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes 123457-${DEB.length - 1}/${DEB.length}`);
    expect(Buffer.concat([DEB.subarray(0, 123_457), rest.body]).equals(DEB)).toBe(true);
    const middle = await asSite(deb, { range: 'bytes=1000-1999' });
    expect(middle.status).toBe(206);
    expect(middle.body.equals(DEB.subarray(1000, 2000))).toBe(true);
    // If-Range naming another file: the whole file, not a piece of a different one.
    expect((await asSite(deb, { range: 'bytes=10-', 'if-range': `"${'0'.repeat(64)}"` })).status).toBe(200);
    const beyond = await asSite(deb, { range: `bytes=${DEB.length}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${DEB.length}`);

    expect((await asSite(`/api/releases/${id}/files/notes.txt`)).body.equals(NOTES)).toBe(true);
    expect((await asSite(`/api/releases/${id}/files/missing.deb`)).status).toBe(404);
    expect((await asSite('/api/releases/agent-9-9-9-arm64/manifest')).status).toBe(404);
    // A site's credential is good for these reads only.
    expect((await asSite(`/api/releases/${id}`)).status).toBe(403);
    const wrongSecret = await fetch(`${t.baseUrl}/api/releases/${id}/manifest`, { headers: { authorization: `Basic ${Buffer.from('x:y').toString('base64')}` } });
    expect(wrongSecret.status).toBe(401);
  });

  it('retires a release only when no running or paused rollout uses it; a retired release is gone for sites', async () => {
    const db = t.server.ctx.store.db;
    const now = Date.now();
    await db.insertInto('rollouts').values({ id: 'canary-lao-cai', release_id: id, spec: '{}', status: 'paused', created_at: now, updated_at: now }).execute();
    const refused = await t.api('POST', `/api/releases/${id}/retire`, undefined, { token: technician });
    expect(refused.body).toMatchObject({ error: 'LOANET_RELEASE_IN_USE', params: { id, rollouts: ['canary-lao-cai'] } });
    expect((await t.api('POST', `/api/releases/${id}/retire`, undefined, { token: operator })).status).toBe(403);
    await db.updateTable('rollouts').set({ status: 'aborted' }).where('id', '=', 'canary-lao-cai').execute();
    const retired = await t.api('POST', `/api/releases/${id}/retire`, undefined, { token: technician });
    expect(retired.status, JSON.stringify(retired.body)).toBe(200);
    expect(retired.body).toMatchObject({ id, retired: true });
    expect((await asSite(`/api/releases/${id}/manifest`)).status).toBe(404);
    expect((await asSite(deb)).status).toBe(404);
    expect(fs.existsSync(path.join(t.dataDir, 'releases', id))).toBe(false);
    expect((await put(id, 'notes.txt', NOTES)).body).toMatchObject({ error: 'LOANET_RETIRED' });
    expect((await t.api('GET', '/api/releases')).body.releases.map((r: { id: string }) => r.id)).not.toContain(id);
    expect((await t.api('GET', `/api/releases/${id}`)).body).toMatchObject({ retired: true, verifiedKeyId: trusted.keyId });
  });

  it('shows a release as verified by no key once its key leaves the trust list', async () => {
    fs.renameSync(path.join(t.dataDir, 'release-keys', 'province-2026.pem'), path.join(t.dataDir, 'release-keys', 'province-2026.pem.removed'));
    try {
      expect((await t.api('GET', `/api/releases/${id}`)).body.verifiedKeyId).toBeNull();
      expect((await t.server.ctx.releases.get(id))?.verifiedKeyId).toBeNull();
    } finally {
      fs.renameSync(path.join(t.dataDir, 'release-keys', 'province-2026.pem.removed'), path.join(t.dataDir, 'release-keys', 'province-2026.pem'));
    }
  });
});

describe('release files and the disk', () => {
  it('refuses (507) a file that would bring the disk under the low level, before a byte of it is written', async () => {
    const s = fs.statfsSync(os.tmpdir());
    const MB = 1024 * 1024;
    const free = s.bavail * s.bsize;
    // The low level 200 MB under what is free now: uploads are admitted, but a 400 MB file would cross it.
    const lowMb = Math.floor(free / MB) - 200;
    if (lowMb < 64) return; // too little free space on this machine to tell the two apart
    const d = await startTestServer({ LOANET_DISK_LOW_MB: String(lowMb) });
    try {
      fs.writeFileSync(path.join(d.dataDir, 'release-keys', 'province.pem'), trusted.pem);
      const m = manifestOf({ files: [{ path: 'big.img', size: 400 * MB, sha256: 'c'.repeat(64) }] });
      const created = await d.api('POST', '/api/releases', { manifest: m.toString('base64'), signatures: [trusted.sign(m)] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const res = await fetch(`${d.baseUrl}/api/releases/${created.body.id}/files/big.img`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(1000),
      });
      expect(res.status).toBe(507);
      expect(await res.json()).toMatchObject({ error: 'LOANET_DISK_LOW' });
      expect(fs.readdirSync(path.join(d.dataDir, 'releases', '.tmp'))).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});

describe('a restart', () => {
  it('keeps the releases and their files, and removes what an upload cut by a crash left behind', async () => {
    const stray = path.join(t.dataDir, 'releases', '.tmp', 'cut-by-a-crash.part');
    fs.writeFileSync(stray, 'half a file');
    await t.restart();
    expect(fs.existsSync(stray)).toBe(false);
    const r = await t.api('GET', '/api/releases/agent-1-5-0-arm64');
    expect(r.body).toMatchObject({ complete: true, verifiedKeyId: trusted.keyId });
    const m = await asSite('/api/releases/agent-1-5-0-arm64/manifest');
    expect(m.status).toBe(200);
    expect(sha(m.body)).toBe(r.body.manifestSha256);
    expect((await asSite('/api/releases/agent-1-5-0-arm64/files/reset.flag')).status).toBe(200);
  });
});
