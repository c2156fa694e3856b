/**
 * Accounts, users, the audit log and the as-run log answer only what their
 * schemas in api/ name (the server serialises through them): no answer can
 * carry a password, a password hash or a token's digest, and a token itself
 * appears once, in the answer that made it. Checked on the generated API
 * description (no field of that kind, no open bag a secret could slip into
 * but the audit entry's detail) and over real HTTP against a real server,
 * with the real hashes read from its SQLite database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { SESSION_COOKIE } from '../../server/http/session-cookie.ts';

type Schema = Record<string, unknown>;
interface Operation {
  tags?: string[];
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

let t: TestServer;
let doc: OpenApi;
beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  const r = await t.api<OpenApi>('GET', '/docs/json', undefined, { token: null });
  expect(r.status).toBe(200);
  doc = r.body;
});
afterAll(() => t?.stop());

/** The operations this contract covers: every one tagged auth, users or audit, and the as-run log. */
const covered = () =>
  Object.entries(doc.paths).flatMap(([p, methods]) =>
    Object.entries(methods)
      .filter(([m, op]) => ['get', 'post', 'patch', 'put', 'delete'].includes(m) && (p === '/api/as-run' || op.tags?.some((tag) => ['auth', 'users', 'audit'].includes(tag))))
      .map(([m, op]) => ({ name: `${m.toUpperCase()} ${p}`, op })),
  );

const resolve = (s: Schema): Schema => {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  const name = ref.startsWith('#/components/schemas/') ? ref.slice('#/components/schemas/'.length) : ref.replace(/#$/, '');
  const target = doc.components?.schemas?.[name];
  if (!target) throw new Error(`unresolved $ref ${ref}`);
  return target;
};

/** Calls `visit` on every sub-schema with its path (properties by name, [] for items, | for alternatives). */
function walk(s: Schema, at: string, visit: (s: Schema, at: string) => void, depth = 0): void {
  if (depth > 40) throw new Error(`schema too deep at ${at}`);
  const x = resolve(s);
  visit(x, at);
  const props = (x.properties ?? {}) as Record<string, Schema>;
  for (const [k, v] of Object.entries(props)) walk(v, `${at}.${k}`, visit, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const) for (const v of (x[key] as Schema[] | undefined) ?? []) walk(v, `${at}|`, visit, depth + 1);
  if (x.items && typeof x.items === 'object') walk(x.items as Schema, `${at}[]`, visit, depth + 1);
  if (x.additionalProperties && typeof x.additionalProperties === 'object') walk(x.additionalProperties as Schema, `${at}{}`, visit, depth + 1);
  for (const v of Object.values((x.patternProperties ?? {}) as Record<string, Schema>)) walk(v, `${at}{}`, visit, depth + 1);
}

const answers = (op: Operation) =>
  Object.entries(op.responses ?? {}).flatMap(([status, r]) => Object.entries(r.content ?? {}).flatMap(([type, c]) => (c.schema ? [{ status, type, schema: c.schema }] : [])));

describe('the auth, users, audit and as-run contract', () => {
  it('covers every operation of those areas, each answering JSON through a schema', () => {
    const names = covered()
      .map((o) => o.name)
      .sort();
    expect(names).toEqual(
      [
        'DELETE /api/auth/tokens/{id}',
        'GET /api/as-run',
        'GET /api/audit',
        'GET /api/auth/me',
        'GET /api/auth/tokens',
        'GET /api/users',
        'PATCH /api/users/{id}',
        'POST /api/auth/login',
        'POST /api/auth/logout',
        'POST /api/auth/password',
        'POST /api/auth/tokens',
        'POST /api/users',
        'POST /api/users/{id}/unlock',
      ].sort(),
    );
    for (const { name, op } of covered())
      expect(
        answers(op).some((a) => /^2\d\d$/.test(a.status) && a.type === 'application/json'),
        name,
      ).toBe(true);
  });

  it('has no field that could carry a password, a hash or a secret, but the token a login or a new API token answers once', () => {
    const found: string[] = [];
    for (const { name, op } of covered())
      for (const a of answers(op))
        walk(a.schema, `${name} ${a.status}`, (_s, at) => {
          const field = at.includes('.') ? at.slice(at.lastIndexOf('.') + 1) : '';
          if (/password|hash|secret|digest|^token$/i.test(field)) found.push(at);
        });
    expect(found.sort()).toEqual(['POST /api/auth/login 200|.token', 'POST /api/auth/tokens 201.token']);
  });

  it('has no open bag in a success answer (where an unnamed field would pass) but the audit entry detail', () => {
    const open: string[] = [];
    for (const { name, op } of covered())
      for (const a of answers(op).filter((x) => x.status.startsWith('2') && x.type === 'application/json'))
        walk(a.schema, `${name} ${a.status}`, (s, at) => {
          if (s.additionalProperties === true || s.patternProperties !== undefined || Object.keys(s).filter((k) => k !== 'description').length === 0) open.push(at);
        });
    // The detail's content is the server's own record of an action (each feature's routes.ts), never a request's secret.
    expect(open.sort()).toEqual(['GET /api/audit 200.entries[].detail|{}']);
  });

  it('over HTTP, answers no password, password hash or token digest, and each token only in the answer that made it', async () => {
    const seen: Array<{ what: string; text: string; made?: string }> = [];
    const call = async (what: string, method: string, url: string, body?: unknown, token: string | null = t.token) => {
      const res = await fetch(`${t.baseUrl}${url}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      expect(res.status, `${what}: ${text}`).toBeLessThan(300);
      const entry = { what, text, res };
      seen.push(entry);
      return { ...entry, body: (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    };
    const passwords = ['leak-probe-password-1', 'leak-probe-password-2', 'leak-probe-password-3'] as const;

    const created = await call('create the user', 'POST', '/api/users', { username: 'leak-probe', password: passwords[0], role: 'operator', area: '02671' });
    expect(Object.keys(created.body ?? {}).sort()).toEqual(['area', 'role', 'username']);
    const userId = (await call('list users', 'GET', '/api/users')).body?.users as Array<{ id: number; username: string }>;
    const id = userId.find((u) => u.username === 'leak-probe')!.id;

    const login = await call('bearer login', 'POST', '/api/auth/login', { username: 'leak-probe', password: passwords[0] }, null);
    const bearer = String(login.body?.token);
    seen.at(-1)!.made = bearer;
    expect(Object.keys(login.body ?? {}).sort()).toEqual(['expiresAt', 'token', 'user']);

    const cookieLogin = await call('cookie login', 'POST', '/api/auth/login', { username: 'leak-probe', password: passwords[0], cookie: true }, null);
    const cookie = decodeURIComponent(/loanet_session=([^;]+)/.exec(cookieLogin.res.headers.get('set-cookie') ?? '')?.[1] ?? '');
    expect(cookie.length, `the ${SESSION_COOKIE} cookie`).toBeGreaterThan(20);
    expect(Object.keys(cookieLogin.body ?? {}).sort()).toEqual(['csrfToken', 'expiresAt', 'user']);

    const made = await call('create an API token', 'POST', '/api/auth/tokens', { name: 'probe-script', expiresInDays: 7 }, bearer);
    const apiToken = String(made.body?.token);
    seen.at(-1)!.made = apiToken;
    expect(Object.keys(made.body ?? {}).sort()).toEqual(['expiresAt', 'id', 'token']);
    const listed = await call('list API tokens', 'GET', '/api/auth/tokens', undefined, apiToken);
    expect(((listed.body?.tokens ?? []) as Array<Record<string, unknown>>).map((k) => Object.keys(k).sort())).toEqual([['createdAt', 'expiresAt', 'id', 'name', 'revokedAt']]);
    await call('who am I', 'GET', '/api/auth/me', undefined, bearer);
    await call('change the password', 'POST', '/api/auth/password', { currentPassword: passwords[0], newPassword: passwords[1], keepTokens: true }, bearer);

    await call('change the role', 'PATCH', `/api/users/${id}`, { role: 'viewer' });
    await call("an admin's reset", 'PATCH', `/api/users/${id}`, { password: passwords[2] });
    await call('unlock', 'POST', `/api/users/${id}/unlock`);
    const again = await call('login after the reset', 'POST', '/api/auth/login', { username: 'leak-probe', password: passwords[2] }, null);
    seen.at(-1)!.made = String(again.body?.token);
    await call('revoke the API token', 'DELETE', `/api/auth/tokens/${String(made.body?.id)}`, undefined, String(again.body?.token));
    await call('logout', 'POST', '/api/auth/logout', undefined, String(again.body?.token));
    const audit = await call('the audit log', 'GET', '/api/audit?limit=100');
    expect(((audit.body?.entries ?? []) as unknown[]).length).toBeGreaterThan(5);
    await call('the as-run log', 'GET', '/api/as-run?area=02671');
    await call('the as-run log as CSV', 'GET', '/api/as-run?area=02671&format=csv');

    // The server's own secrets: every password hash and token digest it keeps.
    const db = t.server.ctx.store.db;
    const hashes = [
      ...(await db.selectFrom('users').select('password_hash').execute()).map((r) => r.password_hash),
      ...(await db.selectFrom('api_tokens').select('token_hash').execute()).map((r) => r.token_hash),
    ];
    expect(hashes.length).toBeGreaterThan(6);
    const tokens = [t.token, bearer, cookie, apiToken, String(again.body?.token)];
    const secrets = [ADMIN_PASSWORD, ...passwords, ...hashes, ...tokens];
    const leaks = seen.flatMap(({ what, text, made: madeHere }) => secrets.filter((s) => s !== madeHere && text.includes(s)).map((s) => `${what}: ${s.slice(0, 12)}…`));
    expect(leaks).toEqual([]);
    // And each answer that made a token did carry it (so the check above reads the real answers).
    for (const x of seen.filter((s) => s.made)) expect(x.text.includes(x.made!), x.what).toBe(true);
  });
});
