/**
 * PATCH /api/users/:id over real HTTP and SQLite: an admin changes a user's
 * role and area scope, disables them (every session and API token stops
 * working at once, and stays dead after re-enabling), may not disable
 * themselves, cannot remove the last admin over the whole network, and every
 * change is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserView } from '../../api/index.ts';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
});
afterAll(async () => t?.stop());

const userNamed = async (username: string): Promise<UserView> => ((await t.api('GET', '/api/users')).body.users as UserView[]).find((u) => u.username === username)!;

describe('changing users (admin)', () => {
  it('changes role and area, disables (sessions and API tokens die, also after re-enabling), audits each change', async () => {
    expect((await t.api('POST', '/api/users', { username: 'op-change', password: 'password-of-op', role: 'viewer', area: '02683' })).status).toBe(201);
    const session = (await t.api('POST', '/api/auth/login', { username: 'op-change', password: 'password-of-op' }, { token: null })).body.token as string;
    const apiToken = (await t.api('POST', '/api/auth/tokens', { name: 'script' }, { token: session })).body.token as string;
    const u = await userNamed('op-change');

    const changed = await t.api('PATCH', `/api/users/${u.id}`, { role: 'operator', area: '02671' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({ id: u.id, role: 'operator', area: expect.stringMatching(/02671$/), disabledAt: null });
    // The new role and scope apply to the user's existing session at once.
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).body).toMatchObject({ role: 'operator' });

    const widened = await t.api('PATCH', `/api/users/${u.id}`, { area: null });
    expect(widened.body.area).toBeNull();

    expect((await t.api('GET', '/api/auth/me', undefined, { token: apiToken })).status).toBe(200);
    const disabled = await t.api('PATCH', `/api/users/${u.id}`, { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.body.disabledAt).toEqual(expect.any(Number));
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: apiToken })).status).toBe(401);
    expect((await t.api('POST', '/api/auth/login', { username: 'op-change', password: 'password-of-op' }, { token: null })).status).toBe(401);
    expect((await userNamed('op-change')).disabledAt).toEqual(expect.any(Number));

    // Re-enabled: a new login works, the old session and token stay revoked.
    expect((await t.api('PATCH', `/api/users/${u.id}`, { disabled: false })).body.disabledAt).toBeNull();
    expect((await t.api('POST', '/api/auth/login', { username: 'op-change', password: 'password-of-op' }, { token: null })).status).toBe(200);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: session })).status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', undefined, { token: apiToken })).status).toBe(401);

    const audit = (await t.api('GET', '/api/audit?action=user.update')).body.entries as Array<{ target: string; detail: Record<string, unknown> }>;
    const mine = audit.filter((e) => e.target === 'op-change');
    expect(mine).toHaveLength(4);
    expect(mine.map((e) => e.detail)).toEqual(
      expect.arrayContaining([expect.objectContaining({ role: 'operator', area: expect.stringMatching(/02671$/) }), expect.objectContaining({ disabled: true })]),
    );
  });

  it('refuses: an admin disabling themselves, an unknown user, an unknown area, an empty or unknown change, a non-admin', async () => {
    const me = (await t.api('GET', '/api/auth/me')).body as { username: string };
    const self = await userNamed(me.username);
    const r = await t.api('PATCH', `/api/users/${self.id}`, { disabled: true });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('disabled');
    expect((await t.api('GET', '/api/auth/me')).status).toBe(200);

    expect((await t.api('PATCH', '/api/users/99999', { role: 'viewer' })).status).toBe(404);
    expect((await t.api('PATCH', `/api/users/${self.id}`, {})).status).toBe(400);
    expect((await t.api('PATCH', `/api/users/${self.id}`, { role: 'king' })).status).toBe(400);
    expect((await t.api('PATCH', `/api/users/${self.id}`, { password: 'x' })).status).toBe(400);

    expect((await t.api('POST', '/api/users', { username: 'op-victim', password: 'password-of-op', role: 'viewer' })).status).toBe(201);
    const victim = await userNamed('op-victim');
    const badArea = await t.api('PATCH', `/api/users/${victim.id}`, { area: 'no-such-area' });
    expect(badArea.status).toBeGreaterThanOrEqual(400);
    expect(badArea.status).toBeLessThan(500);

    expect((await t.api('POST', '/api/users', { username: 'op-plain', password: 'password-of-op', role: 'operator' })).status).toBe(201);
    const op = (await t.api('POST', '/api/auth/login', { username: 'op-plain', password: 'password-of-op' }, { token: null })).body.token as string;
    expect((await t.api('PATCH', `/api/users/${victim.id}`, { disabled: true }, { token: op })).status).toBe(403);
    expect((await userNamed('op-victim')).disabledAt).toBeNull();
  });

  it('keeps an admin over the whole network: the last one cannot be demoted or scoped to a commune; with a second admin it can', async () => {
    const me = (await t.api('GET', '/api/auth/me')).body as { username: string };
    const self = await userNamed(me.username);
    const demote = await t.api('PATCH', `/api/users/${self.id}`, { role: 'operator' });
    expect(demote.status).toBe(409);
    expect(JSON.stringify(demote.body)).toContain('last enabled admin');
    expect((await t.api('PATCH', `/api/users/${self.id}`, { area: '02683' })).status).toBe(409);
    expect(await userNamed(me.username)).toMatchObject({ role: 'admin', area: null }); // nothing changed
    expect((await t.api('GET', '/api/users')).status).toBe(200); // still an admin

    expect((await t.api('POST', '/api/users', { username: 'admin-two', password: 'password-of-admin', role: 'admin' })).status).toBe(201);
    const second = await userNamed('admin-two');
    // Disabling the second is fine while this one remains; demoting this one is fine while the second remains.
    expect((await t.api('PATCH', `/api/users/${second.id}`, { disabled: true })).status).toBe(200);
    expect((await t.api('PATCH', `/api/users/${self.id}`, { role: 'operator' })).status).toBe(409);
    expect((await t.api('PATCH', `/api/users/${second.id}`, { disabled: false })).status).toBe(200);
    const token = (await t.api('POST', '/api/auth/login', { username: 'admin-two', password: 'password-of-admin' }, { token: null })).body.token as string;
    expect((await t.api('PATCH', `/api/users/${self.id}`, { role: 'operator' }, { token })).status).toBe(200);
    expect((await t.api('PATCH', `/api/users/${second.id}`, { role: 'viewer' }, { token })).status).toBe(409); // now admin-two is the last
    expect((await t.api('PATCH', `/api/users/${self.id}`, { role: 'admin' }, { token })).status).toBe(200);
  });
});
