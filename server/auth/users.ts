/**
 * People and scripts that use the API: users with a role scoped to an area
 * subtree, session tokens from login, and long-lived API tokens for scripts.
 * Tokens are random 256-bit values stored as SHA-256 digests.
 */
import type { Db } from '../store/db.ts';
import { Errors } from '../errors.ts';
import { hashSecret, newSecret, PASSWORD_COST, tokenDigest, verifySecret } from './secrets.ts';

export type Role = 'admin' | 'operator' | 'technician' | 'emergency' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'technician', 'emergency', 'viewer'];

export interface User {
  id: number;
  username: string;
  role: Role;
  /** Root of the area subtree the user may see and act in; null = the whole network. */
  areaId: number | null;
  createdAt: number;
  disabledAt: number | null;
}

export interface ApiTokenInfo {
  id: number;
  name: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface Principal {
  user: User;
  tokenId: number;
  tokenKind: 'session' | 'api';
}

interface UserRow {
  id: number;
  username: string;
  password_hash: string;
  role: Role;
  area_id: number | null;
  created_at: number;
  disabled_at: number | null;
}

const toUser = (r: UserRow): User => ({ id: r.id, username: r.username, role: r.role, areaId: r.area_id, createdAt: r.created_at, disabledAt: r.disabled_at });

export class UserRepository {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  byUsername(username: string): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return r && toUser(r);
  }

  /** Every user, by name (for the admins' user list). */
  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
  }

  byId(id: number): User | undefined {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return r && toUser(r);
  }

  /**
   * Change a user's role, area scope or disabled state (admin). Disabling also
   * revokes every session and API token of the user: authenticate() already
   * refuses a disabled user, and revoking means re-enabling later does not
   * bring back a session that may have been the reason for disabling.
   */
  update(id: number, change: { role?: Role; areaId?: number | null; disabled?: boolean }): User {
    const cur = this.byId(id);
    if (!cur) throw Errors.notFound(`user ${id}`);
    const t = this.now();
    this.db.transaction(() => {
      if (change.role !== undefined) this.db.prepare('UPDATE users SET role = ? WHERE id = ?').run(change.role, id);
      if (change.areaId !== undefined) this.db.prepare('UPDATE users SET area_id = ? WHERE id = ?').run(change.areaId, id);
      if (change.disabled === true && cur.disabledAt === null) {
        this.db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(t, id);
        this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL').run(t, id);
      }
      if (change.disabled === false) this.db.prepare('UPDATE users SET disabled_at = NULL WHERE id = ?').run(id);
      // Someone must be left who can undo this: an enabled admin over the whole network (the throw rolls the change back).
      const admins = this.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL AND area_id IS NULL").get() as { n: number };
      if (admins.n === 0) {
        throw Errors.conflict(`${cur.username} is the last enabled admin over the whole network: make another admin first / ${cur.username} là quản trị viên toàn mạng cuối cùng: hãy tạo quản trị viên khác trước`);
      }
    })();
    return this.byId(id)!;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  create(input: { username: string; password: string; role: Role; areaId?: number | null }): User {
    if (!/^[a-z0-9._-]{3,40}$/.test(input.username)) throw Errors.badRequest('username must be 3-40 characters of a-z, 0-9, . _ -', 'username');
    if (input.password.length < 8) throw Errors.badRequest('password must be at least 8 characters', 'password');
    if (this.byUsername(input.username)) throw Errors.conflict(`user ${input.username} already exists`);
    const info = this.db
      .prepare('INSERT INTO users (username, password_hash, role, area_id, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(input.username, hashSecret(input.password, PASSWORD_COST), input.role, input.areaId ?? null, this.now());
    return toUser(this.db.prepare('SELECT * FROM users WHERE id = ?').get(Number(info.lastInsertRowid)) as UserRow);
  }

  /**
   * Make sure an admin exists. With a password given, the `admin` account is
   * created with it (or its password reset to it, so an operator who lost it
   * can recover by restarting with LOANET_ADMIN_PASSWORD). Without one, and
   * no admin yet, a random password is generated and returned to be printed once.
   */
  bootstrapAdmin(password: string | undefined): { created: boolean; generatedPassword?: string } {
    const existing = this.byUsername('admin');
    if (existing) {
      if (password) {
        this.db.prepare('UPDATE users SET password_hash = ?, disabled_at = NULL WHERE id = ?').run(hashSecret(password, PASSWORD_COST), existing.id);
      }
      return { created: false };
    }
    const generated = password ? undefined : newSecret().slice(0, 20);
    this.create({ username: 'admin', password: password ?? generated!, role: 'admin' });
    return generated ? { created: true, generatedPassword: generated } : { created: true };
  }

  /**
   * Change a user's own password after checking the current one. Every other
   * session of the user is revoked (a stolen session must not outlive the
   * change); API tokens stay, they are managed on their own.
   */
  async changePassword(userId: number, current: string, next: string, keepTokenId: number): Promise<void> {
    const r = this.db.prepare('SELECT * FROM users WHERE id = ?').get(userId) as UserRow | undefined;
    if (!r || !(await verifySecret(current, r.password_hash))) throw Errors.badRequest('the current password is wrong', 'currentPassword');
    if (next.length < 8) throw Errors.badRequest('the new password must be at least 8 characters', 'newPassword');
    if (next === current) throw Errors.badRequest('the new password must differ from the current one', 'newPassword');
    this.db.transaction(() => {
      this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hashSecret(next, PASSWORD_COST), userId);
      this.db
        .prepare("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND kind = 'session' AND id != ? AND revoked_at IS NULL")
        .run(this.now(), userId, keepTokenId);
    })();
  }

  async login(username: string, password: string, ttlMs: number): Promise<{ token: string; user: User; expiresAt: number }> {
    const r = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    // Verify against a dummy hash when the user is unknown so timing does not reveal usernames.
    const ok = await verifySecret(password, r?.password_hash ?? DUMMY_HASH);
    if (!r || !ok || r.disabled_at !== null) throw Errors.badCredentials();
    const expiresAt = this.now() + ttlMs;
    const token = this.issueToken(r.id, 'session', null, expiresAt);
    return { token, user: toUser(r), expiresAt };
  }

  createApiToken(userId: number, name: string, expiresAt: number | null): { token: string; id: number } {
    const token = this.issueToken(userId, 'api', name, expiresAt);
    const id = (this.db.prepare('SELECT id FROM api_tokens WHERE token_hash = ?').get(tokenDigest(token)) as { id: number }).id;
    return { token, id };
  }

  /** A user's long-lived API tokens (never the secret: only its digest is kept), newest first. */
  listApiTokens(userId: number): ApiTokenInfo[] {
    const rows = this.db
      .prepare("SELECT id, name, created_at, expires_at, revoked_at FROM api_tokens WHERE user_id = ? AND kind = 'api' ORDER BY id DESC")
      .all(userId) as Array<{ id: number; name: string | null; created_at: number; expires_at: number | null; revoked_at: number | null }>;
    return rows.map((r) => ({ id: r.id, name: r.name ?? '', createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at }));
  }

  /** Revoke one of the user's own API tokens; false when it is not theirs (or not an API token). */
  revokeApiToken(userId: number, tokenId: number): boolean {
    const r = this.db.prepare("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ? AND kind = 'api'").run(this.now(), tokenId, userId);
    return r.changes > 0;
  }

  revokeToken(tokenId: number): void {
    this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.now(), tokenId);
  }

  authenticate(token: string): Principal | undefined {
    if (token.length < 20 || token.length > 200) return undefined;
    const row = this.db
      .prepare(
        `SELECT t.id AS token_id, t.kind, t.expires_at, t.revoked_at, u.* FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ?`,
      )
      .get(tokenDigest(token)) as (UserRow & { token_id: number; kind: 'session' | 'api'; expires_at: number | null; revoked_at: number | null }) | undefined;
    if (!row || row.revoked_at !== null || row.disabled_at !== null) return undefined;
    if (row.expires_at !== null && row.expires_at <= this.now()) return undefined;
    return { user: toUser(row), tokenId: row.token_id, tokenKind: row.kind };
  }

  private issueToken(userId: number, kind: 'session' | 'api', name: string | null, expiresAt: number | null): string {
    const token = `lnt_${newSecret()}`;
    this.db
      .prepare('INSERT INTO api_tokens (user_id, token_hash, kind, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(userId, tokenDigest(token), kind, name, this.now(), expiresAt);
    return token;
  }
}

const DUMMY_HASH = hashSecret('loanet-dummy-password', PASSWORD_COST);
