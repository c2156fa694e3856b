/**
 * The agent's side of enrolment (edge-agent/enrol.ts) and the server's one
 * transaction, against a real server over HTTP and its real SQLite: the
 * enrolment file (read, retried while the server cannot be reached, removed
 * after success, set aside after a refusal), the configuration file (kept
 * settings, 0600, atomic), and two trades of one code started in the same
 * instant, which only the transaction can tell apart.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { EnrolError, enrol, enrolFromFile, needsEnrolment, parseEnrolFile, serverBase, writeFileAtomic } from '../../edge-agent/enrol.ts';
import { loadAgentConfig } from '../../edge-agent/config.ts';
import { EnrolmentService } from '../../server/enrolment/service.ts';
import { EnrolLimiter } from '../../server/enrolment/limiter.ts';
import { GuessStore } from '../../server/auth/guess-store.ts';
import type { EnrolmentCreated } from '../../api/index.ts';

let t: TestServer;
let dir: string;
const quiet = { info: () => {}, warn: () => {} };

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  for (const id of ['lc-agent-enrol-01', 'lc-agent-enrol-02', 'lc-agent-enrol-03']) {
    const r = await t.api('POST', '/api/sites', { id, name: id, kind: 'cluster', area: '02683' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  dir = tempDir('loanet-enrol-agent-');
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

const makeCode = async (siteId: string) => (await t.api<EnrolmentCreated>('POST', `/api/sites/${siteId}/enrolment`)).body;

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('the enrolment file and the configuration', () => {
  it('reads server= and code= lines, with comments, and says what is missing or wrong', () => {
    expect(parseEnrolFile('# prepared in the office\r\nserver = https://loanet.example.vn\r\n\r\ncode=abcd-ef12\r\n')).toEqual({
      server: 'https://loanet.example.vn',
      code: 'abcd-ef12',
    });
    expect(() => parseEnrolFile('server=https://x\n')).toThrow(/needs a server=… line and a code=… line/);
    expect(() => parseEnrolFile('server=https://x\ncode=A\nsecret=zzz\n', 'f.txt')).toThrow(/f\.txt, line 3: expected server=… or code=…/);
  });

  it('refuses plain http to another host (the secret would cross the network readable) unless asked, and any URL with credentials or a query', () => {
    expect(serverBase('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(serverBase('https://loanet.example.vn/province/')).toBe('https://loanet.example.vn/province');
    expect(() => serverBase('http://loanet.example.vn')).toThrow(/plain http/);
    expect(serverBase('http://loanet.example.vn', true)).toBe('http://loanet.example.vn');
    for (const bad of ['ftp://x', 'https://u:p@x', 'https://x/?a=1', 'not a url']) expect(() => serverBase(bad), bad).toThrow(EnrolError);
  });

  it('writes a file owner-only and atomically, replacing the old one whole', () => {
    const file = path.join(dir, 'atomic', 'agent.json');
    writeFileAtomic(file, 'first', 0o600);
    fs.chmodSync(file, 0o644);
    writeFileAtomic(file, 'second', 0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe('second');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['agent.json']);
  });

  it('a configuration needs enrolling when it is missing or has no site or credential', () => {
    const file = path.join(dir, 'needs.json');
    expect(needsEnrolment(file)).toBe(true);
    fs.writeFileSync(file, JSON.stringify({ devices: { driver: 'board' } }));
    expect(needsEnrolment(file)).toBe(true);
    fs.writeFileSync(file, JSON.stringify({ siteId: 'x', credential: { secretFile: 'secret' } }));
    expect(needsEnrolment(file)).toBe(false);
    fs.writeFileSync(file, '{ not json');
    expect(() => needsEnrolment(file)).toThrow(/not valid JSON/);
  });

  it('a configuration that is not JSON is reported before the code is spent', async () => {
    const made = await makeCode('lc-agent-enrol-01');
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{ "devices": ');
    const e = await enrol({ server: t.baseUrl, code: made.code, configPath: file }).catch((x: unknown) => x);
    expect((e as EnrolError).failure).toMatchObject({ kind: 'invalid' });
    // Still unused: the board can enrol once the file is fixed.
    fs.rmSync(file);
    const done = await enrol({ server: t.baseUrl, code: made.code, configPath: file, stateDir: path.join(dir, 'state-01') });
    expect(done.siteId).toBe('lc-agent-enrol-01');
    // What it wrote is a configuration the agent starts with (a board's driver, the server's channels).
    const config = await loadAgentConfig(file);
    expect(config).toMatchObject({ siteId: 'lc-agent-enrol-01', devices: { driver: 'board' }, stateDir: path.join(dir, 'state-01'), server: { httpUrl: t.baseUrl } });
    expect(config.areaChannels).toContain('2025.02683');
  });

  it('from a boot file: tries again while the server cannot be reached, then enrols and removes the file', async () => {
    const made = await makeCode('lc-agent-enrol-02');
    const bootFile = path.join(dir, 'boot-ok', 'loanet-enrol.txt');
    fs.mkdirSync(path.dirname(bootFile));
    fs.writeFileSync(bootFile, `server=http://127.0.0.1:${await closedPort()}\ncode=${made.code}\n`);
    const waits: number[] = [];
    const configPath = path.join(dir, 'boot-ok', 'agent.json');
    const done = await enrolFromFile({
      file: bootFile,
      configPath,
      stateDir: path.join(dir, 'boot-ok', 'state'),
      log: quiet,
      // The 4G link comes up while the agent waits: the file now names the reachable server.
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 2) fs.writeFileSync(bootFile, `server=${t.baseUrl}\ncode=${made.code}\n`);
      },
    });
    expect(done.siteId).toBe('lc-agent-enrol-02');
    expect(waits).toEqual([5_000, 10_000]);
    expect(fs.existsSync(bootFile)).toBe(false);
    expect(fs.statSync(configPath).mode & 0o777).toBe(0o600);
  });

  it('from a boot file: a refused code is final, and the file is set aside with the reason', async () => {
    const bootFile = path.join(dir, 'boot-refused.txt');
    fs.writeFileSync(bootFile, `server=${t.baseUrl}\ncode=AAAA-AAAA\n`);
    const e = await enrolFromFile({
      file: bootFile,
      configPath: path.join(dir, 'refused.json'),
      log: quiet,
      sleep: () => Promise.reject(new Error('a refusal must not be retried')),
    }).catch((x: unknown) => x);
    expect((e as EnrolError).failure).toMatchObject({ kind: 'refused', reason: 'unknown' });
    expect(fs.existsSync(bootFile)).toBe(false);
    expect(fs.readFileSync(`${bootFile}.refused`, 'utf8')).toMatch(/code=AAAA-AAAA\n# refused: the server refused the code \(unknown\)/);
    expect(fs.existsSync(path.join(dir, 'refused.json'))).toBe(false);
  });
});

describe('one code, two trades in the same instant', () => {
  it('the transaction that spends the code gives exactly one of them a credential', async () => {
    const ctx = t.server.ctx;
    // The server's own service over the same database; both trades pass the first check before either hashes its secret.
    const service = new EnrolmentService({
      db: ctx.store.db,
      sites: ctx.sites,
      audit: ctx.audit,
      now: Date.now,
      key: Buffer.alloc(32, 7),
      ttlMs: 3_600_000,
      limiter: new EnrolLimiter(new GuessStore(ctx.store.db, ctx.store.dialect)),
    });
    const { code } = await service.create('lc-agent-enrol-03', { id: 1, username: 'admin' });
    const [a, b] = await Promise.all([service.enrol(code, '192.0.2.1'), service.enrol(code, '192.0.2.2')]);
    const results = [a, b];
    const won = results.filter((r) => r.ok);
    expect(won).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, kind: 'refused', reason: 'used' });
    expect(await ctx.sites.verifyCredential('lc-agent-enrol-03', (won[0] as { secret: string }).secret)).toBe(true);
    const live = await ctx.store.db.selectFrom('site_credentials').select('site_id').where('site_id', '=', 'lc-agent-enrol-03').where('revoked_at', 'is', null).execute();
    expect(live).toHaveLength(1);
    const row = await ctx.store.db.selectFrom('enrolment_codes').select('used_from').where('site_id', '=', 'lc-agent-enrol-03').where('used_at', 'is not', null).execute();
    expect(row).toHaveLength(1);
  });
});
