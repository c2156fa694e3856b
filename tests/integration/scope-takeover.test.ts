/**
 * Take-over attempts by an admin scoped to one commune, over real HTTP and
 * SQLite: everything it tries outside its commune is refused (403 naming the
 * field, or 404 for what it may not see) and changes nothing; what it may do
 * inside its commune still works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserView } from '../../api/index.ts';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';

const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường

let t: TestServer;
/** The commune-B admin's token, its own user id, and fixtures in commune A. */
let adminB = '';
let adminBId = 0;
let adminAId = 0;
let siteA = '';
let siteB = '';
let villageA = '';

const users = async (): Promise<UserView[]> => (await t.api('GET', '/api/users')).body.users as UserView[];
const asB = (method: string, url: string, body?: unknown) => t.api(method, url, body, { token: adminB });

async function makeUser(username: string, role: string, area?: string): Promise<string> {
  const password = `long-passphrase-${username.length}-kx7`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  adminB = await makeUser('admin-cam-duong', 'admin', COMMUNE_B);
  await makeUser('admin-bat-xat', 'admin', COMMUNE_A);
  const all = await users();
  adminBId = all.find((u) => u.username === 'admin-cam-duong')!.id;
  adminAId = all.find((u) => u.username === 'admin-bat-xat')!.id;
  siteA = (await t.api('POST', '/api/sites', { name: 'Đài xã Bát Xát', kind: 'station', area: COMMUNE_A })).body.site.id;
  siteB = (await t.api('POST', '/api/sites', { name: 'Đài phường Cam Đường', kind: 'station', area: COMMUNE_B })).body.site.id;
  const v = await t.api('POST', '/api/areas', { code: `${COMMUNE_A}-01`, name: 'Thôn Bản Vược', level: 'village', parent: COMMUNE_A });
  expect(v.status, JSON.stringify(v.body)).toBe(201);
  villageA = v.body.key;
});
afterAll(async () => t?.stop());

describe('a commune-B admin cannot take over the province', () => {
  it('cannot create a network-wide admin, nor an admin of commune A', async () => {
    const wide = await asB('POST', '/api/users', { username: 'mallory', password: 'long-passphrase-kx7', role: 'admin' });
    expect(wide.status).toBe(403);
    expect(wide.body.field).toBe('area');
    const inA = await asB('POST', '/api/users', { username: 'mallory', password: 'long-passphrase-kx7', role: 'admin', area: COMMUNE_A });
    expect(inA.status).toBe(403);
    expect(inA.body.field).toBe('area');
    expect((await users()).map((u) => u.username)).not.toContain('mallory');
  });

  it('cannot clear or widen its own area', async () => {
    const clear = await asB('PATCH', `/api/users/${adminBId}`, { area: null });
    expect(clear.status).toBe(403);
    expect(clear.body.field).toBe('area');
    const widen = await asB('PATCH', `/api/users/${adminBId}`, { area: '15' });
    expect(widen.status).toBe(403);
    const me = await t.api('GET', '/api/auth/me', undefined, { token: adminB });
    expect(me.body.area).toBe(`2025.${COMMUNE_B}`);
  });

  it("cannot demote or disable commune A's admin, nor the network-wide admin: they are not found", async () => {
    expect((await asB('PATCH', `/api/users/${adminAId}`, { role: 'viewer' })).status).toBe(404);
    expect((await asB('PATCH', `/api/users/${adminAId}`, { disabled: true })).status).toBe(404);
    expect((await asB('PATCH', '/api/users/1', { role: 'viewer' })).status).toBe(404);
    expect((await asB('PATCH', '/api/users/1', { disabled: true })).status).toBe(404);
    const all = await users();
    expect(all.find((u) => u.id === adminAId)).toMatchObject({ role: 'admin', disabledAt: null });
    expect(all.find((u) => u.id === 1)).toMatchObject({ role: 'admin', area: null, disabledAt: null });
  });

  it('cannot create, change, move or retire areas outside its commune, nor its commune itself, nor import', async () => {
    expect((await asB('POST', '/api/areas', { code: `${COMMUNE_A}-09`, name: 'Thôn lạ', level: 'village', parent: COMMUNE_A })).status).toBe(403);
    const top = await asB('POST', '/api/areas', { code: '99', name: 'Tỉnh giả', level: 'province' });
    expect(top.status).toBe(403);
    expect(top.body.field).toBe('parent');
    expect((await asB('PATCH', `/api/areas/${villageA}`, { name: 'Đổi tên' })).status).toBe(404);
    expect((await asB('PATCH', `/api/areas/${villageA}`, { parent: COMMUNE_B })).status).toBe(404);
    expect((await asB('DELETE', `/api/areas/${villageA}`)).status).toBe(404);
    expect((await asB('PATCH', `/api/areas/${COMMUNE_B}`, { name: 'Phường của tôi' })).status).toBe(403);
    expect((await asB('DELETE', `/api/areas/${COMMUNE_B}`)).status).toBe(403);
    const imported = await t.api('POST', '/api/areas/import?version=2025', 'code,name,level,parent_code\n', { token: adminB, contentType: 'text/csv' });
    expect(imported.status).toBe(403);
    // Its own village it may create, rename, but not move out of its commune.
    const mine = await asB('POST', '/api/areas', { code: `${COMMUNE_B}-01`, name: 'Tổ 1', level: 'village', parent: COMMUNE_B });
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect((await asB('PATCH', `/api/areas/${mine.body.key}`, { name: 'Tổ dân phố 1' })).status).toBe(200);
    const out = await asB('PATCH', `/api/areas/${mine.body.key}`, { parent: COMMUNE_A });
    expect(out.status).toBe(403);
    expect(out.body.field).toBe('parent');
    // Nothing of commune A changed.
    expect((await t.api('GET', `/api/areas/${villageA}`)).body).toMatchObject({ name: 'Thôn Bản Vược', parent: `2025.${COMMUNE_A}`, retiredAt: null });
    // A retired area of commune A is not readable from commune B either.
    const retired = await t.api('POST', '/api/areas', { code: `${COMMUNE_A}-02`, name: 'Thôn cũ', level: 'village', parent: COMMUNE_A });
    expect((await t.api('DELETE', `/api/areas/${retired.body.key}`)).status).toBe(200);
    expect((await asB('GET', `/api/areas/${retired.body.key}`)).status).toBe(404);
    const listed = await asB('GET', '/api/areas?includeRetired=true');
    expect(JSON.stringify(listed.body)).not.toContain(retired.body.key);
  });

  it('cannot move sites into or out of its commune, nor touch commune A sites', async () => {
    const into = await asB('PATCH', `/api/sites/${siteB}`, { area: COMMUNE_A });
    expect(into.status).toBe(403);
    expect(into.body.field).toBe('area');
    expect((await asB('PATCH', `/api/sites/${siteA}`, { area: COMMUNE_B })).status).toBe(404);
    expect((await asB('DELETE', `/api/sites/${siteA}`)).status).toBe(404);
    expect((await asB('POST', `/api/sites/${siteA}/credential`)).status).toBe(404);
    expect((await t.api('GET', `/api/sites/${siteA}`)).body).toMatchObject({ area: `2025.${COMMUNE_A}`, retiredAt: null });
    expect((await t.api('GET', `/api/sites/${siteB}`)).body).toMatchObject({ area: `2025.${COMMUNE_B}` });
  });

  it('lists only the users of its commune, and reads only the audit entries of its commune', async () => {
    const listed = (await asB('GET', '/api/users')).body.users as UserView[];
    expect(listed.map((u) => u.username).sort()).toEqual(['admin-cam-duong']);
    const audit = (await asB('GET', '/api/audit?limit=5000')).body.entries as Array<{ username: string | null; action: string; target: string | null }>;
    const text = JSON.stringify(audit);
    expect(text).not.toContain(siteA);
    expect(text).not.toContain('admin-bat-xat');
    expect(text).not.toContain(villageA);
    // It does see what happened in its commune: its site's creation (by the network-wide admin) and its own changes.
    expect(audit.some((e) => e.action === 'site.create' && e.target === siteB)).toBe(true);
    expect(audit.some((e) => e.action === 'area.create' && e.username === 'admin-cam-duong')).toBe(true);
    // The network-wide admin still reads everything.
    expect(JSON.stringify((await t.api('GET', '/api/audit?limit=5000')).body)).toContain(siteA);
  });

  it('still manages users of its own commune', async () => {
    const r = await asB('POST', '/api/users', { username: 'viewer-cam-duong', password: 'long-passphrase-kx7', role: 'viewer', area: COMMUNE_B });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id = (await users()).find((u) => u.username === 'viewer-cam-duong')!.id;
    expect((await asB('PATCH', `/api/users/${id}`, { disabled: true })).status).toBe(200);
    // … but cannot lift it out of the commune.
    expect((await asB('PATCH', `/api/users/${id}`, { area: null })).status).toBe(403);
  });
});
