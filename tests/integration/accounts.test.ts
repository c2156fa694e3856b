/**
 * Accounts and sessions against a real server over real HTTP, as an attacker
 * would try them: parallel password guesses, locking a known user out from
 * another address, API tokens that outlive a password change, guessing the
 * current password through the change route, and passwords that the policy
 * refuses. Distinct client addresses are real: the client socket is bound to
 * 127.0.0.2 / 127.0.0.3 (Linux routes all of 127/8 to the loopback).
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { MIGRATIONS } from '../../server/store/migrations.ts';
import { migrate, openDatabase } from '../../server/store/db.ts';

let t: TestServer;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** One JSON request from a chosen local address (127.0.0.x), on a fresh connection. */
function request(from: string, method: string, url: string, body?: unknown, headers: Record<string, string> = {}, server = t): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const u = new URL(url, server.baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        localAddress: from,
        agent: false,
        headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const login = (from: string, username: string, password: string, server = t) => request(from, 'POST', '/api/auth/login', { username, password }, {}, server);

async function makeUser(username: string, password: string, role = 'viewer'): Promise<number> {
  const r = await t.api('POST', '/api/users', { username, password, role });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const list = (await t.api('GET', '/api/users')).body.users as Array<{ id: number; username: string }>;
  return list.find((u) => u.username === username)!.id;
}

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.stop());

describe('password guessing limits', () => {
  it('60 parallel wrong guesses: at most the limit (10) are checked, the rest are refused with 429 naming the limit', async () => {
    await makeUser('guessed-parallel', 'mây-trắng-trên-đỉnh-núi');
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => login('127.0.0.4', 'guessed-parallel', `wrong-guess-${i}`)));
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.every((s) => s === 401 || s === 429),
      statuses.join(','),
    ).toBe(true);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(50);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.body).toMatchObject({ error: 'LOANET_RATE_LIMITED', limit: 'user_address', max: 10, windowMinutes: 15 });
    expect(refused.body.message).toMatch(/^too many failed logins or password changes: 10 failed attempts for this user from this address in 15 minutes; try again in \d+ minutes/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // The right password from the guessing address is refused too (the limit is no oracle) …
    expect((await login('127.0.0.4', 'guessed-parallel', 'mây-trắng-trên-đỉnh-núi')).status).toBe(429);
  });

  it('someone who knows a username cannot lock its owner out: wrong passwords from one address, the right one from another works', async () => {
    await makeUser('locked-victim', 'đồng-lúa-chín-vàng-2026');
    for (let i = 0; i < 10; i++) expect((await login('127.0.0.2', 'locked-victim', `nope-${i}`)).status).toBe(401);
    expect((await login('127.0.0.2', 'locked-victim', 'đồng-lúa-chín-vàng-2026')).status).toBe(429);
    const owner = await login('127.0.0.3', 'locked-victim', 'đồng-lúa-chín-vàng-2026');
    expect(owner.status, JSON.stringify(owner.body)).toBe(200);
    expect(owner.body.token).toMatch(/^lnt_/);
  });

  it('X-Forwarded-For does not choose the address a client is counted under unless LOANET_TRUST_PROXY names the proxy', async () => {
    await makeUser('xff-target', 'sông-hồng-chảy-về-xuôi');
    for (let i = 0; i < 10; i++) await login('127.0.0.5', 'xff-target', `nope-${i}`).then((a) => expect(a.status).toBe(401));
    const spoofed = await request('127.0.0.5', 'POST', '/api/auth/login', { username: 'xff-target', password: 'sông-hồng-chảy-về-xuôi' }, { 'x-forwarded-for': '198.51.100.77' });
    expect(spoofed.status).toBe(429);

    const proxied = await startTestServer({ LOANET_TRUST_PROXY: '127.0.0.6' });
    try {
      const r = await proxied.api('POST', '/api/users', { username: 'behind-proxy', password: 'núi-rừng-tây-bắc-2026', role: 'viewer' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const via = (client: string, password: string) =>
        request('127.0.0.6', 'POST', '/api/auth/login', { username: 'behind-proxy', password }, { 'x-forwarded-for': client }, proxied);
      for (let i = 0; i < 10; i++) expect((await via('198.51.100.1', `nope-${i}`)).status).toBe(401);
      expect((await via('198.51.100.1', 'núi-rừng-tây-bắc-2026')).status).toBe(429);
      expect((await via('198.51.100.2', 'núi-rừng-tây-bắc-2026')).status).toBe(200);
    } finally {
      await proxied.stop();
    }
  });

  it('an admin unlocks a user (audited); the address that guessed may try again', async () => {
    const id = await makeUser('to-unlock', 'gió-mùa-đông-bắc-về');
    for (let i = 0; i < 10; i++) await login('127.0.0.7', 'to-unlock', `nope-${i}`);
    expect((await login('127.0.0.7', 'to-unlock', 'gió-mùa-đông-bắc-về')).status).toBe(429);
    const viewer = (await login('127.0.0.8', 'locked-victim', 'đồng-lúa-chín-vàng-2026')).body.token as string;
    expect((await t.api('POST', `/api/users/${id}/unlock`, undefined, { token: viewer })).status).toBe(403);
    const unlocked = await t.api('POST', `/api/users/${id}/unlock`);
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(200);
    expect(unlocked.body).toMatchObject({ ok: true, forgottenFailures: 10 });
    expect((await t.api('POST', '/api/users/999999/unlock')).status).toBe(404);
    expect((await login('127.0.0.7', 'to-unlock', 'gió-mùa-đông-bắc-về')).status).toBe(200);
    const audit = await t.api('GET', '/api/audit?action=user.unlock');
    expect(audit.body.entries).toEqual([expect.objectContaining({ username: 'admin', action: 'user.unlock', target: 'to-unlock' })]);
  });
});

describe('API tokens and password changes', () => {
  it('a token expires: 90 days by default, the creator may choose up to 365, and the list shows when', async () => {
    const before = Date.now();
    const dflt = await t.api('POST', '/api/auth/tokens', { name: 'nightly report' });
    expect(dflt.status).toBe(201);
    expect(dflt.body.expiresAt).toBeGreaterThanOrEqual(before + 90 * 86_400_000);
    expect(dflt.body.expiresAt).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    const year = await t.api('POST', '/api/auth/tokens', { name: 'yearly', expiresInDays: 365 });
    expect(year.status).toBe(201);
    const tooLong = await t.api('POST', '/api/auth/tokens', { name: 'forever', expiresInDays: 366 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ field: 'expiresInDays' });
    expect(tooLong.body.message).toMatch(/365/);
    const list = await t.api('GET', '/api/auth/tokens');
    expect(list.body).toMatchObject({ defaultDays: 90, maxDays: 365 });
    expect(list.body.tokens.find((k: { id: number }) => k.id === dflt.body.id).expiresAt).toBe(dflt.body.expiresAt);
    expect(list.body.tokens.every((k: { expiresAt: number | null }) => typeof k.expiresAt === 'number')).toBe(true);
  });

  it('changing the password revokes the API tokens and other sessions, unless keepTokens keeps the tokens', async () => {
    await makeUser('changes-pw', 'first-pass-phrase-ok', 'operator');
    const session = (await login('127.0.0.9', 'changes-pw', 'first-pass-phrase-ok')).body.token as string;
    const other = (await login('127.0.0.9', 'changes-pw', 'first-pass-phrase-ok')).body.token as string;
    const script = (await t.api('POST', '/api/auth/tokens', { name: 'script' }, { token: session })).body.token as string;
    const changed = await t.api('POST', '/api/auth/password', { currentPassword: 'first-pass-phrase-ok', newPassword: 'second-pass-phrase-ok' }, { token: session });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toEqual({ ok: true, revokedTokens: 2 });
    expect((await t.api('GET', '/api/auth/me', undefined, { token: script })).status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: other })).status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).status).toBe(200);

    const kept = (await t.api('POST', '/api/auth/tokens', { name: 'kept script' }, { token: session })).body.token as string;
    const again = await t.api(
      'POST',
      '/api/auth/password',
      { currentPassword: 'second-pass-phrase-ok', newPassword: 'third-pass-phrase-ok', keepTokens: true },
      { token: session },
    );
    expect(again.body).toEqual({ ok: true, revokedTokens: 0 });
    expect((await t.api('GET', '/api/auth/me', undefined, { token: kept })).status).toBe(200);
    const audit = await t.api('GET', '/api/audit?action=auth.password.change');
    expect(audit.body.entries.map((e: { detail: unknown }) => e.detail)).toEqual([
      { revokedTokens: 0, keepTokens: true },
      { revokedTokens: 2, keepTokens: false },
    ]);
  });

  it('wrong current passwords count as failed logins: the 11th change attempt is refused, even with the right one', async () => {
    await makeUser('pw-guessed', 'right-current-phrase');
    const stolen = (await login('127.0.0.10', 'pw-guessed', 'right-current-phrase')).body.token as string;
    const change = (currentPassword: string) =>
      request('127.0.0.10', 'POST', '/api/auth/password', { currentPassword, newPassword: 'attacker-chosen-phrase' }, { authorization: `Bearer ${stolen}` });
    for (let i = 0; i < 10; i++) {
      const r = await change(`guess-${i}`);
      expect(r.status).toBe(400);
      expect(r.body.field).toBe('currentPassword');
    }
    const refused = await change('right-current-phrase');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe('LOANET_RATE_LIMITED');
    // The password is unchanged: the owner still signs in with it (from their own address).
    expect((await login('127.0.0.11', 'pw-guessed', 'right-current-phrase')).status).toBe(200);
  });

  it("an admin's password reset follows the policy and ends the user's sessions and tokens", async () => {
    const id = await makeUser('reset-me', 'forgotten-phrase-123');
    const session = (await login('127.0.0.12', 'reset-me', 'forgotten-phrase-123')).body.token as string;
    const token = (await t.api('POST', '/api/auth/tokens', { name: 'x' }, { token: session })).body.token as string;
    const weak = await t.api('PATCH', `/api/users/${id}`, { password: 'reset-me-1' });
    expect(weak.status).toBe(400);
    expect(weak.body).toMatchObject({ error: 'LOANET_PASSWORD_HAS_USERNAME', field: 'password', rule: 'contains_username', limit: 10 });
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).status).toBe(200);
    const reset = await t.api('PATCH', `/api/users/${id}`, { password: 'a-fresh-start-phrase' });
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', undefined, { token })).status).toBe(401);
    expect((await login('127.0.0.12', 'reset-me', 'a-fresh-start-phrase')).status).toBe(200);
    const audit = await t.api('GET', '/api/audit?action=user.update');
    expect(JSON.stringify(audit.body.entries[0])).not.toContain('a-fresh-start-phrase');
    expect(audit.body.entries[0].detail).toMatchObject({ password: 'reset' });
  });
});

describe('password policy over the API', () => {
  it('refuses, naming the rule, with stable codes, and stores nothing', async () => {
    const cases: Array<[string, string, string, number | undefined]> = [
      ['short-pass', 'short', 'LOANET_PASSWORD_TOO_SHORT', 10],
      ['same-as-name', 'same-as-name', 'LOANET_PASSWORD_HAS_USERNAME', 10],
      ['name-plus', 'Name-Plus-2026', 'LOANET_PASSWORD_HAS_USERNAME', 10],
      ['common-one', 'qwertyuiop', 'LOANET_PASSWORD_COMMON', undefined],
      ['common-two', 'Password123', 'LOANET_PASSWORD_COMMON', undefined],
    ];
    for (const [username, password, code, limit] of cases) {
      const r = await t.api('POST', '/api/users', { username, password, role: 'viewer' });
      expect(r.status, username).toBe(400);
      expect(r.body, username).toMatchObject({ error: code, field: 'password', ...(limit ? { limit } : {}) });
      expect(r.body.message, username).toMatch(/^password /);
      expect((await login('127.0.0.13', username, password)).status, username).toBe(401);
    }
    const users = (await t.api('GET', '/api/users')).body.users.map((u: { username: string }) => u.username);
    for (const [username] of cases) expect(users).not.toContain(username);
  });

  it('refuses a 900 KB password at the schema (before any hashing), as login does; 200 characters are accepted and sign in', async () => {
    const huge = await t.api('POST', '/api/users', { username: 'huge-pass', password: 'x'.repeat(900_000), role: 'viewer' });
    expect(huge.status).toBe(400);
    expect(huge.body).toMatchObject({ field: 'password' });
    expect(huge.body.message).toMatch(/200/);
    const max = 'đ'.repeat(199) + '1';
    await makeUser('max-pass', max);
    expect((await login('127.0.0.13', 'max-pass', max)).status).toBe(200);
    const change = await t.api('POST', '/api/auth/password', { currentPassword: ADMIN_PASSWORD, newPassword: 'y'.repeat(201) });
    expect(change.status).toBe(400);
    expect(change.body.field).toBe('newPassword');
  });

  it('refuses a weak new password on change, naming the rule, without counting it as a guess', async () => {
    await makeUser('weak-change', 'a-decent-pass-phrase');
    const session = (await login('127.0.0.14', 'weak-change', 'a-decent-pass-phrase')).body.token as string;
    for (let i = 0; i < 12; i++) {
      const r = await request(
        '127.0.0.14',
        'POST',
        '/api/auth/password',
        { currentPassword: 'a-decent-pass-phrase', newPassword: 'weak-change' },
        { authorization: `Bearer ${session}` },
      );
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'LOANET_PASSWORD_HAS_USERNAME', field: 'newPassword' });
    }
    const ok = await request(
      '127.0.0.14',
      'POST',
      '/api/auth/password',
      { currentPassword: 'a-decent-pass-phrase', newPassword: 'a-better-pass-phrase' },
      { authorization: `Bearer ${session}` },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });
});

describe('migration 11', () => {
  it('gives API tokens without an expiry one 90 days after the upgrade; runs even when a lower-numbered migration arrives later', () => {
    const dir = tempDir();
    try {
      const upTo10 = MIGRATIONS.filter((m) => m.version <= 10);
      const db = openDatabase(dir, upTo10);
      db.prepare("INSERT INTO users (id, username, password_hash, role, created_at) VALUES (1, 'old', 'x', 'admin', 0)").run();
      db.prepare("INSERT INTO api_tokens (user_id, token_hash, kind, name, created_at, expires_at) VALUES (1, 'a', 'api', 'old script', 0, NULL)").run();
      db.prepare("INSERT INTO api_tokens (user_id, token_hash, kind, name, created_at, expires_at, revoked_at) VALUES (1, 'b', 'api', 'revoked', 0, NULL, 5)").run();
      db.prepare("INSERT INTO api_tokens (user_id, token_hash, kind, name, created_at, expires_at) VALUES (1, 'c', 'api', 'dated', 0, 1234)").run();
      const before = Date.now();
      migrate(db, MIGRATIONS);
      const rows = db.prepare('SELECT token_hash, expires_at FROM api_tokens ORDER BY token_hash').all() as Array<{ token_hash: string; expires_at: number | null }>;
      expect(rows[0]!.expires_at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 90 * 86_400_000);
      expect(rows[0]!.expires_at).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
      expect(rows[1]!.expires_at).toBeNull();
      expect(rows[2]!.expires_at).toBe(1234);
      db.close();

      // 11 applied before 10 existed (two migrations written in parallel): 10 still runs later.
      const gap = path.join(dir, 'gap');
      fs.mkdirSync(gap);
      const g = openDatabase(
        gap,
        MIGRATIONS.filter((m) => m.version !== 10),
      );
      expect((g.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version)).not.toContain(10);
      migrate(g, MIGRATIONS);
      expect((g.prepare('SELECT version FROM schema_migrations WHERE version = 10').get() as { version: number } | undefined)?.version).toBe(10);
      g.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
