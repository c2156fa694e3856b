/**
 * The languages each area speaks on a real server (Fastify inject, SQLite or
 * the suite's PostgreSQL): a village inherits its commune's list unless it
 * has its own, set and cleared through the API under the same rules as other
 * area changes, imported from a CSV languages column all or nothing, and
 * noted as an area change for the other servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { readRegistryChanges } from '../../server/registry/changes.ts';

let t: TestServer;
let adminB: string;

async function login(username: string, role: string, area?: string): Promise<string> {
  const r = await t.inject('POST', '/api/users', { username, password: `password-of-${username}`, role, ...(area ? { area } : {}) });
  expect(r.status, r.text).toBe(201);
  return (await t.inject('POST', '/api/auth/login', { username, password: `password-of-${username}` }, { token: null })).body.token;
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  for (const [code, name] of [
    ['0268301', 'Thôn Tòng Sành'],
    ['0268302', 'Thôn Pìn Ngan Chải'],
  ]) {
    const r = await t.inject('POST', '/api/areas', { code, name, level: 'village', parent: '02683' });
    expect(r.status, r.text).toBe(201);
  }
  adminB = await login('admin-batxat', 'admin', '02683');
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe('the languages of an area', () => {
  it('a province that says nothing speaks Vietnamese, and so does every village below it', async () => {
    const r = await t.inject('GET', '/api/areas/0268301/languages');
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ area: { key: '2025.0268301', name: 'Thôn Tòng Sành', level: 'village' }, own: null, effective: ['vi'], source: 'default', inheritedFrom: null });
  });

  it("a commune's list reaches its villages; a village's own list wins, normalised and each tag once", async () => {
    const c = await t.inject('PUT', '/api/areas/02683/languages', { languages: ['HMN', 'vi'] });
    expect(c.status, c.text).toBe(200);
    expect(c.body).toMatchObject({ own: ['hmn', 'vi'], effective: ['hmn', 'vi'], source: 'own' });
    const v1 = await t.inject('GET', '/api/areas/2025.0268301/languages');
    expect(v1.body).toMatchObject({ own: null, effective: ['hmn', 'vi'], source: 'inherited', inheritedFrom: { key: '2025.02683', name: 'Xã Bát Xát' } });
    const v2 = await t.inject('PUT', '/api/areas/0268302/languages', { languages: ['ium', 'hmn', 'vi', 'ium'] });
    expect(v2.body).toMatchObject({ own: ['ium', 'hmn', 'vi'], effective: ['ium', 'hmn', 'vi'], source: 'own', inheritedFrom: null });
  });

  it('clearing a village’s list makes it speak its commune’s again', async () => {
    const r = await t.inject('DELETE', '/api/areas/0268302/languages');
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ own: null, effective: ['hmn', 'vi'], source: 'inherited' });
  });

  it('a bad tag is refused naming it, and nothing is stored', async () => {
    const r = await t.inject('PUT', '/api/areas/0268301/languages', { languages: ['hmn', 'Hmông'] });
    expect(r.status, r.text).toBe(400);
    expect(r.body).toMatchObject({ error: 'LOANET_NOT_A_LANGUAGE_TAG', params: { field: 'languages[1]', value: 'Hmông' } });
    expect((await t.inject('GET', '/api/areas/0268301/languages')).body.own).toBeNull();
  });

  it('only admins change it, a scoped admin only strictly inside its area, and everyone may read it', async () => {
    const viewer = await login('viewer-languages', 'viewer');
    expect((await t.inject('GET', '/api/areas/02683/languages', undefined, { token: viewer })).status).toBe(200);
    expect((await t.inject('PUT', '/api/areas/02683/languages', { languages: ['vi'] }, { token: viewer })).status).toBe(403);
    expect((await t.inject('PUT', '/api/areas/0268301/languages', { languages: ['hmn'] }, { token: adminB })).status).toBe(200);
    // Its own root is refused as for other changes; another commune is not even visible.
    expect((await t.inject('PUT', '/api/areas/02683/languages', { languages: ['vi'] }, { token: adminB })).status).toBe(403);
    expect((await t.inject('GET', '/api/areas/02680/languages', undefined, { token: adminB })).status).toBe(404);
    await t.inject('DELETE', '/api/areas/0268301/languages');
  });

  it('a change is audited and noted for the other servers', async () => {
    const before = await readRegistryChanges(t.server.ctx.store.db, 0, 10_000);
    const maxGen = Math.max(0, ...before.map((c) => c.gen));
    await t.inject('PUT', '/api/areas/02680/languages', { languages: ['tyz', 'vi'] });
    const after = await readRegistryChanges(t.server.ctx.store.db, maxGen, 100);
    const area = (await t.inject('GET', '/api/areas/02680')).body;
    expect(after.some((c) => c.kind === 'area')).toBe(true);
    expect(area.key).toBe('2025.02680');
    const audit = await t.inject('GET', '/api/audit?action=area.languages');
    expect(JSON.stringify(audit.body)).toContain('2025.02680');
  });
});

describe('importing areas with a languages column', () => {
  const header = 'code,name,level,parent_code,languages';

  it('sets each listed area’s languages, an empty cell inheriting', async () => {
    const csv = `${header}\n0268301,Thôn Tòng Sành,village,02683,ium;HMN;vi\n0268302,Thôn Pìn Ngan Chải,village,02683,\n0268303,Thôn Mới,village,02683,pcc\n`;
    const r = await t.inject('POST', '/api/areas/import?version=2025', csv, { contentType: 'text/csv' });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ created: 1 });
    expect((await t.inject('GET', '/api/areas/0268301/languages')).body).toMatchObject({ own: ['ium', 'hmn', 'vi'], source: 'own' });
    expect((await t.inject('GET', '/api/areas/0268302/languages')).body).toMatchObject({ own: null, effective: ['hmn', 'vi'] });
    expect((await t.inject('GET', '/api/areas/0268303/languages')).body).toMatchObject({ own: ['pcc'] });
  });

  it('a bad tag names the row and the tag, and nothing of the file is stored', async () => {
    const csv = `${header}\n0268301,Thôn Tòng Sành,village,02683,vi\n0268304,Thôn Khác,village,02683,hmn;dao đỏ\n`;
    const r = await t.inject('POST', '/api/areas/import?version=2025', csv, { contentType: 'text/csv' });
    expect(r.status, r.text).toBe(400);
    expect(r.body).toMatchObject({ error: 'LOANET_NOT_A_LANGUAGE_TAG', params: { value: 'dao đỏ', line: 3 } });
    expect(r.body.message).toContain('line 3');
    expect((await t.inject('GET', '/api/areas/0268301/languages')).body.own).toEqual(['ium', 'hmn', 'vi']);
    expect((await t.inject('GET', '/api/areas/0268304')).status).toBe(404);
  });

  it('a file without the column leaves the lists as they are', async () => {
    const r = await t.inject('POST', '/api/areas/import?version=2025', 'code,name,level,parent_code\n0268301,Thôn Tòng Sành,village,02683\n', { contentType: 'text/csv' });
    expect(r.status, r.text).toBe(200);
    expect((await t.inject('GET', '/api/areas/0268301/languages')).body.own).toEqual(['ium', 'hmn', 'vi']);
  });
});
