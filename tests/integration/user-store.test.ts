/**
 * The accounts store's contract (server/auth/users.ts), the same on SQLite
 * and on PostgreSQL: users, sessions and API tokens read back as written; a
 * token stops working when it expires, is revoked or its user is disabled;
 * a password change revokes what it must and keeps the token making it; and
 * what two requests racing must not both do (take one username, demote the
 * last two network-wide admins) exactly one does, in either dialect.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserRepository } from '../../server/auth/users.ts';
import { LoanetError } from '../../server/errors.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const PASSWORD = 'Lũ quét ở Bát Xát, tháng Chín';
const OTHER_PASSWORD = 'Nước sông Hồng lên nhanh lắm';
const HOUR = 3_600_000;

/** The catalogue code of a refusal, or the error itself when it is none. */
async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (e instanceof LoanetError) return e.code;
  throw new Error(`expected a refusal, got ${e === undefined ? 'success' : String(e)}`);
}

describe.each(storeDialects())('the accounts store on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  let users: UserRepository;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1_764_979_200_000;
    users = new UserRepository(store.db, () => clock);
  });
  afterEach(() => store.close());

  /** A commune of Lào Cai for a scoped user (users.area_id refers to areas). */
  async function commune(): Promise<number> {
    const r = await store.db
      .insertInto('areas')
      .values({ version: '2025', code: '02683', name: 'Xã Bát Xát', level: 'commune', created_at: clock, updated_at: clock })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  it('creates users, reads them back by id and name, lists them by name, and refuses a name taken', async () => {
    const area = await commune();
    const b = await users.create({ username: 'can-bo.bat-xat', password: PASSWORD, role: 'emergency', areaId: area });
    const a = await users.create({ username: 'admin', password: PASSWORD, role: 'admin' });
    expect(b).toEqual({ id: b.id, username: 'can-bo.bat-xat', role: 'emergency', areaId: area, createdAt: clock, disabledAt: null });
    expect(typeof b.id).toBe('number');
    expect(await users.byId(b.id)).toEqual(b);
    expect(await users.byUsername('admin')).toEqual(a);
    expect(await users.byUsername('nobody')).toBeUndefined();
    expect(await users.byId(9999)).toBeUndefined();
    expect((await users.list()).map((u) => u.username)).toEqual(['admin', 'can-bo.bat-xat']);
    expect(await users.count()).toBe(2);
    expect(await refusal(users.create({ username: 'admin', password: OTHER_PASSWORD, role: 'viewer' }))).toBe('LOANET_NAME_TAKEN');
    expect(await refusal(users.create({ username: 'Bad Name!', password: PASSWORD, role: 'viewer' }))).toBe('LOANET_USERNAME_FORMAT');
    expect(await users.count()).toBe(2);
  });

  it('of two creations of one name at once, exactly one succeeds and the other is told the name is taken', async () => {
    const results = await Promise.allSettled([
      users.create({ username: 'ky-thuat.sa-pa', password: PASSWORD, role: 'technician' }),
      users.create({ username: 'ky-thuat.sa-pa', password: OTHER_PASSWORD, role: 'viewer' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as LoanetError).code).toBe('LOANET_NAME_TAKEN');
    expect(await users.count()).toBe(1);
  });

  it('logs in with the right password only, and the session authenticates until it expires', async () => {
    const u = await users.create({ username: 'van-hanh.lao-cai', password: PASSWORD, role: 'operator' });
    expect(await refusal(users.login('van-hanh.lao-cai', OTHER_PASSWORD, HOUR))).toBe('LOANET_BAD_CREDENTIALS');
    expect(await refusal(users.login('nobody', PASSWORD, HOUR))).toBe('LOANET_BAD_CREDENTIALS');
    const s = await users.login('van-hanh.lao-cai', PASSWORD, HOUR);
    expect(s.user).toEqual(u);
    expect(s.expiresAt).toBe(clock + HOUR);
    const p = await users.authenticate(s.token);
    expect(p).toEqual({ user: u, tokenId: p!.tokenId, tokenKind: 'session' });
    expect(typeof p!.tokenId).toBe('number');
    expect(await users.authenticate(`${s.token}x`)).toBeUndefined();
    expect(await users.authenticate('short')).toBeUndefined();
    clock += HOUR - 1;
    expect(await users.authenticate(s.token)).toBeDefined();
    clock += 1;
    expect(await users.authenticate(s.token)).toBeUndefined();
    expect(await users.verifyPassword(u.id, PASSWORD)).toBe(true);
    expect(await users.verifyPassword(u.id, OTHER_PASSWORD)).toBe(false);
    expect(await users.verifyPassword(9999, PASSWORD)).toBe(false);
  });

  it('keeps API tokens per user, newest first; a user revokes only their own, once (the first time stays)', async () => {
    const u = await users.create({ username: 'ky-thuat.bac-ha', password: PASSWORD, role: 'technician' });
    const other = await users.create({ username: 'ky-thuat.si-ma-cai', password: PASSWORD, role: 'technician' });
    const first = await users.createApiToken(u.id, 'giám sát', clock + 90 * 24 * HOUR);
    clock += 1000;
    const second = await users.createApiToken(u.id, 'sao lưu', null);
    expect(second.id).toBeGreaterThan(first.id);
    expect(await users.authenticate(second.token)).toMatchObject({ user: { id: u.id }, tokenId: second.id, tokenKind: 'api' });
    // A session is no API token: not listed, not revocable as one.
    const session = await users.login('ky-thuat.bac-ha', PASSWORD, HOUR);
    const sessionId = (await users.authenticate(session.token))!.tokenId;
    expect(await users.listApiTokens(u.id)).toEqual([
      { id: second.id, name: 'sao lưu', createdAt: clock, expiresAt: null, revokedAt: null },
      { id: first.id, name: 'giám sát', createdAt: clock - 1000, expiresAt: clock - 1000 + 90 * 24 * HOUR, revokedAt: null },
    ]);
    expect(await users.listApiTokens(other.id)).toEqual([]);
    expect(await users.revokeApiToken(other.id, first.id)).toBe(false);
    expect(await users.revokeApiToken(u.id, sessionId)).toBe(false);
    expect(await users.authenticate(first.token)).toBeDefined();
    const revokedAt = clock;
    expect(await users.revokeApiToken(u.id, first.id)).toBe(true);
    expect(await users.authenticate(first.token)).toBeUndefined();
    clock += 5000;
    expect(await users.revokeApiToken(u.id, first.id)).toBe(true);
    expect((await users.listApiTokens(u.id)).find((t) => t.id === first.id)?.revokedAt).toBe(revokedAt);
    // Logging out revokes the session itself.
    await users.revokeToken(sessionId);
    expect(await users.authenticate(session.token)).toBeUndefined();
    expect(await users.authenticate(second.token)).toBeDefined();
  });

  it('a password change revokes the other sessions, and the API tokens unless kept; the calling token stays', async () => {
    const u = await users.create({ username: 'van-hanh.bao-yen', password: PASSWORD, role: 'operator' });
    const calling = await users.login('van-hanh.bao-yen', PASSWORD, HOUR);
    const callingId = (await users.authenticate(calling.token))!.tokenId;
    const otherSession = await users.login('van-hanh.bao-yen', PASSWORD, HOUR);
    const api = await users.createApiToken(u.id, 'kịch bản', null);
    const hash = await users.preparePassword(OTHER_PASSWORD, u.username);
    expect(await users.setOwnPassword(u.id, hash, callingId, true)).toBe(1);
    expect(await users.authenticate(calling.token)).toBeDefined();
    expect(await users.authenticate(otherSession.token)).toBeUndefined();
    expect(await users.authenticate(api.token)).toBeDefined();
    expect(await users.verifyPassword(u.id, OTHER_PASSWORD)).toBe(true);
    const third = await users.login('van-hanh.bao-yen', OTHER_PASSWORD, HOUR);
    expect(await users.setOwnPassword(u.id, await users.preparePassword(PASSWORD, u.username), callingId, false)).toBe(2);
    expect(await users.authenticate(third.token)).toBeUndefined();
    expect(await users.authenticate(api.token)).toBeUndefined();
    expect(await users.authenticate(calling.token)).toBeDefined();
  });

  it('disabling a user ends every session and token, which enabling again does not bring back', async () => {
    await users.create({ username: 'admin', password: PASSWORD, role: 'admin' });
    const u = await users.create({ username: 'xem.lao-cai', password: PASSWORD, role: 'viewer' });
    const s = await users.login('xem.lao-cai', PASSWORD, HOUR);
    const api = await users.createApiToken(u.id, 'bảng', null);
    clock += 1000;
    expect(await users.update(u.id, { disabled: true })).toMatchObject({ disabledAt: clock });
    expect(await users.authenticate(s.token)).toBeUndefined();
    expect(await refusal(users.login('xem.lao-cai', PASSWORD, HOUR))).toBe('LOANET_BAD_CREDENTIALS');
    // Disabled again later: the first time stays.
    clock += 1000;
    expect(await users.update(u.id, { disabled: true })).toMatchObject({ disabledAt: clock - 1000 });
    expect(await users.update(u.id, { disabled: false })).toMatchObject({ disabledAt: null });
    expect(await users.authenticate(s.token)).toBeUndefined();
    expect(await users.authenticate(api.token)).toBeUndefined();
    expect(await users.login('xem.lao-cai', PASSWORD, HOUR)).toMatchObject({ user: { id: u.id } });
    const area = await commune();
    expect(await users.update(u.id, { role: 'operator', areaId: area })).toMatchObject({ role: 'operator', areaId: area });
    expect(await refusal(users.update(9999, { role: 'viewer' }))).toBe('LOANET_NOT_FOUND');
  });

  it('refuses to leave no enabled network-wide admin, and changes nothing then', async () => {
    const admin = await users.create({ username: 'admin', password: PASSWORD, role: 'admin' });
    const area = await commune();
    const s = await users.login('admin', PASSWORD, HOUR);
    expect(await refusal(users.update(admin.id, { role: 'operator' }))).toBe('LOANET_LAST_ADMIN');
    expect(await refusal(users.update(admin.id, { areaId: area }))).toBe('LOANET_LAST_ADMIN');
    expect(await refusal(users.update(admin.id, { disabled: true }))).toBe('LOANET_LAST_ADMIN');
    expect(await users.byId(admin.id)).toEqual(admin);
    // The disable was rolled back with its revocations.
    expect(await users.authenticate(s.token)).toBeDefined();
  });

  it('of two admins demoting each other at once, exactly one succeeds: one network-wide admin is left', async () => {
    const a = await users.create({ username: 'admin', password: PASSWORD, role: 'admin' });
    const b = await users.create({ username: 'admin.tinh', password: PASSWORD, role: 'admin' });
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([users.update(a.id, { role: 'operator' }), users.update(b.id, { disabled: true })]);
      const refused = results.filter((r) => r.status === 'rejected');
      expect(refused, `round ${round}`).toHaveLength(1);
      expect(((refused[0] as PromiseRejectedResult).reason as LoanetError).code).toBe('LOANET_LAST_ADMIN');
      const admins = (await users.list()).filter((u) => u.role === 'admin' && u.disabledAt === null && u.areaId === null);
      expect(admins, `round ${round}`).toHaveLength(1);
      // Both network-wide admins again for the next round.
      await users.update(a.id, { role: 'admin', disabled: false });
      await users.update(b.id, { role: 'admin', disabled: false });
    }
  });

  it('makes the first admin, resets its password (revoking its tokens) or enables it, as start-up asks', async () => {
    const plan = await users.prepareAdmin(undefined);
    expect(plan.kind).toBe('create');
    // Nothing is written before the plan is applied.
    expect(await users.count()).toBe(0);
    const made = await users.applyAdmin(plan);
    expect(made.created).toBe(true);
    expect(await users.login('admin', made.generatedPassword!, HOUR)).toMatchObject({ user: { username: 'admin', role: 'admin', areaId: null } });
    expect(await users.prepareAdmin(undefined)).toEqual({ kind: 'none' });
    const admin = (await users.byUsername('admin'))!;
    const s = await users.login('admin', made.generatedPassword!, HOUR);
    const reset = await users.prepareAdmin(PASSWORD);
    expect(reset.kind).toBe('reset');
    expect(await users.applyAdmin(reset)).toEqual({ created: false, reset: true });
    expect(await users.authenticate(s.token)).toBeUndefined();
    expect(await users.verifyPassword(admin.id, PASSWORD)).toBe(true);
    // The same password again: the account is enabled (were it disabled), nothing else changes.
    await store.db.updateTable('users').set({ disabled_at: clock }).where('id', '=', admin.id).execute();
    const again = await users.prepareAdmin(PASSWORD);
    expect(again).toEqual({ kind: 'enable', id: admin.id });
    expect(await users.applyAdmin(again)).toEqual({ created: false });
    expect((await users.byId(admin.id))!.disabledAt).toBeNull();
  });
});
