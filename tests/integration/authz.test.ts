/** Roles and area scopes on the HTTP API: who may see and do what, where. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;
const tokens: Record<string, string> = {};
let inBatXat: string;
let inCamDuong: string;

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const r = await t.api('POST', '/api/users', { username, password: 'password-of-' + username, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const login = await t.api('POST', '/api/auth/login', { username, password: 'password-of-' + username }, { token: null });
  return login.body.token;
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  inBatXat = (await t.api('POST', '/api/sites', { name: 'Đài xã Bát Xát', kind: 'station', area: '02683' })).body.site.id;
  inCamDuong = (await t.api('POST', '/api/sites', { name: 'Đài phường Cam Đường', kind: 'station', area: '02671' })).body.site.id;
  tokens.operator = await userToken('op-batxat', 'operator', '02683');
  tokens.technician = await userToken('tech-province', 'technician');
  tokens.viewer = await userToken('viewer-batxat', 'viewer', '02683');
});
afterAll(async () => t?.stop());

describe('area scope', () => {
  it('a commune operator sees only their commune', async () => {
    const list = await t.api('GET', '/api/sites', undefined, { token: tokens.operator });
    expect(list.body.sites.map((s: { id: string }) => s.id)).toEqual([inBatXat]);
    // Another commune's site is not found, so its id cannot be probed.
    expect((await t.api('GET', `/api/sites/${inCamDuong}`, undefined, { token: tokens.operator })).status).toBe(404);
    expect((await t.api('GET', '/api/coverage?area=02671', undefined, { token: tokens.operator })).status).toBe(403);
    const own = await t.api('GET', '/api/coverage', undefined, { token: tokens.operator });
    expect(own.status).toBe(200);
    expect(own.body.area.key).toBe('2025.02683');
    expect((await t.api('GET', '/api/coverage?area=15', undefined, { token: tokens.operator })).status).toBe(403);
  });

  it("a commune operator may command their own sites, not another commune's", async () => {
    expect((await t.api('POST', `/api/sites/${inCamDuong}/commands`, { type: 'test_tone' }, { token: tokens.operator })).status).toBe(404);
    expect((await t.api('POST', `/api/sites/${inBatXat}/commands`, { type: 'test_tone' }, { token: tokens.operator })).status).toBe(202);
  });
});

describe('roles', () => {
  it('only an admin changes the registry, manages users or reads the audit log', async () => {
    for (const who of ['operator', 'technician', 'viewer']) {
      const token = tokens[who]!;
      expect((await t.api('POST', '/api/sites', { name: 'x', kind: 'cluster', area: '02683' }, { token })).status, who).toBe(403);
      expect((await t.api('PATCH', `/api/sites/${inBatXat}`, { name: 'y' }, { token })).status, who).toBe(403);
      expect((await t.api('DELETE', `/api/sites/${inBatXat}`, undefined, { token })).status, who).toBe(403);
      expect((await t.api('POST', `/api/sites/${inBatXat}/credential`, undefined, { token })).status, who).toBe(403);
      expect((await t.api('POST', '/api/areas', { code: '02683-77', name: 'Thôn', level: 'village', parent: '02683' }, { token })).status, who).toBe(403);
      expect((await t.api('POST', '/api/areas/import?version=2025', 'code,name,level,parent_code\n', { token, contentType: 'text/csv' })).status, who).toBe(403);
      expect((await t.api('POST', '/api/users', { username: 'mallory', password: 'password123', role: 'admin' }, { token })).status, who).toBe(403);
      expect((await t.api('GET', '/api/audit', undefined, { token })).status, who).toBe(403);
    }
  });

  it('a viewer may read but not send commands; a technician may command anywhere', async () => {
    expect((await t.api('GET', `/api/sites/${inBatXat}`, undefined, { token: tokens.viewer })).status).toBe(200);
    expect((await t.api('POST', `/api/sites/${inBatXat}/commands`, { type: 'set_volume', params: { level: 10 } }, { token: tokens.viewer })).status).toBe(403);
    expect((await t.api('POST', `/api/sites/${inCamDuong}/commands`, { type: 'set_volume', params: { level: 10 } }, { token: tokens.technician })).status).toBe(202);
  });

  it('a revoked session token stops working', async () => {
    const token = (await t.api('POST', '/api/auth/login', { username: 'viewer-batxat', password: 'password-of-viewer-batxat' }, { token: null })).body.token;
    expect((await t.api('POST', '/api/auth/logout', undefined, { token })).status).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token })).status).toBe(401);
  });

  it('limits failed logins per user', async () => {
    for (let i = 0; i < 10; i++) await t.api('POST', '/api/auth/login', { username: 'tech-province', password: 'wrong' }, { token: null });
    const r = await t.api('POST', '/api/auth/login', { username: 'tech-province', password: 'password-of-tech-province' }, { token: null });
    expect(r.status).toBe(429);
    expect(r.body.message).toMatch(/too many failed logins/);
  });

  it('a user changes their own password: the old one stops working, other sessions are signed out', async () => {
    const login = (password: string) => t.api('POST', '/api/auth/login', { username: 'op-batxat', password }, { token: null });
    const other = (await login('password-of-op-batxat')).body.token;
    const wrong = await t.api('POST', '/api/auth/password', { currentPassword: 'nope', newPassword: 'a-new-password' }, { token: tokens.operator });
    expect(wrong.status).toBe(400);
    expect(wrong.body.field).toBe('currentPassword');
    const short = await t.api('POST', '/api/auth/password', { currentPassword: 'password-of-op-batxat', newPassword: 'short' }, { token: tokens.operator });
    expect(short.body.field).toBe('newPassword');
    const ok = await t.api('POST', '/api/auth/password', { currentPassword: 'password-of-op-batxat', newPassword: 'mật-khẩu-mới-2026' }, { token: tokens.operator });
    expect(ok.status).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: tokens.operator })).status).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: other })).status).toBe(401);
    expect((await login('password-of-op-batxat')).status).toBe(401);
    expect((await login('mật-khẩu-mới-2026')).status).toBe(200);
  });
});
