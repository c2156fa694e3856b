/**
 * The console over real HTTP: its files served with cache headers and gzip,
 * browser login by HttpOnly cookie with CSRF protection on unsafe methods,
 * bearer tokens still working alongside, API tokens listed and revoked, and
 * live updates (SSE) scoped to the user's area.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { ensureConsoleBuilt } from '../../web/build.ts';

let t: TestServer;

async function cookieLogin(username: string, password: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${t.baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, cookie: true }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { csrfToken: string; token?: string };
  expect(body.token).toBeUndefined();
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrfToken, setCookie };
}

beforeAll(async () => {
  await ensureConsoleBuilt();
  t = await startTestServer();
  await importLaoCai2025(t);
});
afterAll(async () => t?.stop());

describe('console files', () => {
  it('serves the page at / and for client routes, assets cached for a year, gzip on request', async () => {
    const page = await fetch(`${t.baseUrl}/`, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset, html).toBeDefined();
    const deep = await fetch(`${t.baseUrl}/sites/some-site?x=1`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    const js = await fetch(`${t.baseUrl}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toMatch(/immutable/);
    expect(js.headers.get('content-encoding')).toBe('gzip');
    expect((await fetch(`${t.baseUrl}/assets/missing-123.js`)).status).toBe(404);
    expect((await fetch(`${t.baseUrl}/api/no-such-route`, { headers: { authorization: `Bearer ${t.token}` } })).status).toBe(404);
  });
});

describe('answers fit for a phone on 4G', () => {
  it('gzips a large JSON answer (the province coverage) and gives a brief site list for the map', async () => {
    for (let i = 0; i < 3; i++) await t.api('POST', '/api/sites', { name: `Cụm loa ${i}`, kind: 'cluster', area: '02683', lat: 22.5 + i / 100, lon: 103.85 });
    const res = await fetch(`${t.baseUrl}/api/coverage?area=15`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const body = (await res.json()) as { children: unknown[] };
    expect(body.children).toHaveLength(99);
    const plain = await fetch(`${t.baseUrl}/api/coverage?area=15`, { headers: { authorization: `Bearer ${t.token}`, 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    const brief = await t.api('GET', '/api/sites?area=02683&brief=true');
    expect(brief.body.sites.length).toBeGreaterThanOrEqual(3);
    for (const s of brief.body.sites) expect(Object.keys(s).sort()).toEqual(['area', 'condition', 'id', 'kind', 'lat', 'lon', 'name']);
  });
});

describe('browser session', () => {
  it('logs in by HttpOnly cookie; reads with it; refuses unsafe calls without the CSRF token or from another origin', async () => {
    const s = await cookieLogin('admin', 'test-admin-password');
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).not.toMatch(/Secure/);
    const me = await fetch(`${t.baseUrl}/api/auth/me`, { headers: { cookie: s.cookie } });
    expect(me.status).toBe(200);
    const meBody = (await me.json()) as { username: string; csrfToken: string; permissions: string[] };
    expect(meBody).toMatchObject({ username: 'admin', csrfToken: s.csrf });
    expect(meBody.permissions).toContain('audit.read');

    const create = (headers: Record<string, string>) =>
      fetch(`${t.baseUrl}/api/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: s.cookie, ...headers },
        body: JSON.stringify({ name: 'script' }),
      });
    const noCsrf = await create({});
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: string }).error).toBe('LOANET_CSRF');
    expect((await create({ 'x-csrf-token': 'wrong' })).status).toBe(403);
    expect((await create({ 'x-csrf-token': s.csrf, origin: 'https://evil.example' })).status).toBe(403);
    const ok = await create({ 'x-csrf-token': s.csrf, origin: t.baseUrl });
    expect(ok.status).toBe(201);
    const { token, id } = (await ok.json()) as { token: string; id: number };

    // The new API token works as a bearer token, but never as a cookie.
    expect((await t.api('GET', '/api/auth/me', undefined, { token })).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/api/auth/me`, { headers: { cookie: `loanet_session=${token}` } })).status).toBe(401);

    const list = await fetch(`${t.baseUrl}/api/auth/tokens`, { headers: { cookie: s.cookie } });
    expect(((await list.json()) as { tokens: Array<{ id: number; name: string }> }).tokens.map((k) => k.name)).toContain('script');
    const revoke = await fetch(`${t.baseUrl}/api/auth/tokens/${id}`, { method: 'DELETE', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });
    expect(revoke.status).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token })).status).toBe(401);

    // Logging out clears the cookie and ends the session.
    const out = await fetch(`${t.baseUrl}/api/auth/logout`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await fetch(`${t.baseUrl}/api/auth/me`, { headers: { cookie: s.cookie } })).status).toBe(401);
  });

  it("sets Secure behind a TLS proxy, and a user may not revoke another user's token", async () => {
    const res = await fetch(`${t.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
      body: JSON.stringify({ username: 'admin', password: 'test-admin-password', cookie: true }),
    });
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    const { id } = (await t.api('POST', '/api/auth/tokens', { name: 'admin-script' })).body as { id: number };
    await t.api('POST', '/api/users', { username: 'viewer-x', password: 'password-of-viewer', role: 'viewer' });
    const viewer = (await t.api('POST', '/api/auth/login', { username: 'viewer-x', password: 'password-of-viewer' }, { token: null })).body.token as string;
    expect((await t.api('DELETE', `/api/auth/tokens/${id}`, undefined, { token: viewer })).status).toBe(404);
  });
});

describe('live updates', () => {
  it("streams condition changes and command results of the user's own area only", async () => {
    await t.api('POST', '/api/users', { username: 'op-batxat', password: 'password-of-op', role: 'operator', area: '02683' });
    const op = (await t.api('POST', '/api/auth/login', { username: 'op-batxat', password: 'password-of-op' }, { token: null })).body.token as string;
    const open = async (token: string) => {
      const seen: string[] = [];
      const req = http.get(`${t.baseUrl}/api/stream`, { headers: { authorization: `Bearer ${token}` } });
      const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => seen.push(chunk));
      await waitFor('hello event', () => seen.join('').includes('event: hello'));
      return { seen, req };
    };
    const { seen, req } = await open(op);
    const admin = await open(t.token);
    // A site registered in another commune and one in Bát Xát: each is classified (first condition) on registration.
    const other = (await t.api('POST', '/api/sites', { name: 'Đài phường Cam Đường', kind: 'station', area: '02671' })).body.site.id as string;
    const own = (await t.api('POST', '/api/sites', { name: 'Đài xã Bát Xát', kind: 'station', area: '02683' })).body.site.id as string;
    // The sweep gives each new site its first condition (unverified: never heard from).
    await waitFor('own site condition event', () => seen.join('').includes(`"siteId":"${own}"`), 10_000);
    // The province-wide admin saw the other commune's site change; the commune operator did not.
    await waitFor('other site condition event for the admin', () => admin.seen.join('').includes(`"siteId":"${other}"`), 10_000);
    req.destroy();
    admin.req.destroy();
    expect(seen.join('')).not.toContain(`"siteId":"${other}"`);
    expect((await fetch(`${t.baseUrl}/api/stream`)).status).toBe(401);
  });

  it('pushes a command once it is final: one that expires at an offline site reaches the console as expired, stored as the API answers it', async () => {
    const seen: string[] = [];
    const req = http.get(`${t.baseUrl}/api/stream`, { headers: { authorization: `Bearer ${t.token}` } });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => seen.push(chunk));
    await waitFor('hello event', () => seen.join('').includes('event: hello'));
    const site = (await t.api('POST', '/api/sites', { name: 'Cụm loa chưa lắp', kind: 'cluster', area: '02683' })).body.site.id as string;
    const cmd = await t.api('POST', `/api/sites/${site}/commands`, { type: 'set_volume', params: { level: 40 }, ttlS: 1 });
    expect(cmd.status, JSON.stringify(cmd.body)).toBe(202);
    const commandEvents = () =>
      seen
        .join('')
        .split('\n\n')
        .filter((f) => f.startsWith('event: command\n'))
        .map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { id: string; status: string });
    const ev = await waitFor('the expired command pushed', () => commandEvents().find((e) => e.id === cmd.body.id), 15_000);
    expect(ev).toEqual((await t.api('GET', `/api/commands/${cmd.body.id}`)).body);
    expect(ev.status).toBe('expired');
    req.destroy();
  });

  it('pushes an alert started through the API to users of its area only, without the network-wide delivery counts', async () => {
    const users = [
      { username: 'op-alert-batxat', area: '02683' },
      { username: 'op-alert-camduong', area: '02671' },
    ];
    const streams = [];
    for (const u of users) {
      expect((await t.api('POST', '/api/users', { username: u.username, password: 'password-of-op', role: 'operator', area: u.area })).status).toBe(201);
      const token = (await t.api('POST', '/api/auth/login', { username: u.username, password: 'password-of-op' }, { token: null })).body.token as string;
      const seen: string[] = [];
      const req = http.get(`${t.baseUrl}/api/stream`, { headers: { authorization: `Bearer ${token}` } });
      const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => seen.push(chunk));
      await waitFor('hello event', () => seen.join('').includes('event: hello'));
      streams.push({ seen, req });
    }
    const [batXat, camDuong] = streams as [(typeof streams)[0], (typeof streams)[0]];
    // A site in Bát Xát, so the alert has a target to count.
    expect((await t.api('POST', '/api/sites', { name: 'Đài thôn Bản Vược', kind: 'station', area: '02683' })).status).toBe(201);
    const started = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { text: 'Cảnh báo lũ quét.' }, test: true, validForMinutes: 10 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const id = started.body.id as string;
    const alertEvents = (seen: string[]) =>
      seen
        .join('')
        .split('\n\n')
        .filter((f) => f.startsWith('event: alert\n'))
        .map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { kind: string; alertId: string; state: string; counts?: { targeted: number } });
    await waitFor('alert started event in Bát Xát', () => alertEvents(batXat.seen).some((e) => e.alertId === id && e.kind === 'started'), 10_000);
    const ev = alertEvents(batXat.seen).find((e) => e.alertId === id && e.kind === 'started')!;
    expect(ev.state).toBe('active');
    // The event's counts are the whole network's: a user scoped to an area gets none, and
    // reads its own sites' counts from the alert itself.
    expect(ev.counts).toBeUndefined();
    const token = (await t.api('POST', '/api/auth/login', { username: 'op-alert-batxat', password: 'password-of-op' }, { token: null })).body.token as string;
    const own = await t.api('GET', `/api/alerts/${id}`, undefined, { token });
    expect(own.status).toBe(200);
    expect(own.body.delivery.counts.targeted).toBeGreaterThanOrEqual(1);
    expect((await t.api('POST', `/api/alerts/${id}/cancel`)).status).toBe(200);
    await waitFor('alert cancelled event in Bát Xát', () => alertEvents(batXat.seen).some((e) => e.alertId === id && e.kind === 'cancelled'), 10_000);
    batXat.req.destroy();
    camDuong.req.destroy();
    // The Cam Đường operator's stream was open all along (it got the hello) and carried no frame about this alert.
    expect(camDuong.seen.join('')).not.toContain(id);
    expect(alertEvents(camDuong.seen)).toEqual([]);
  });
});
