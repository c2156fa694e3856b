/**
 * People and scripts that use the API: users with a role scoped to an area
 * subtree, session tokens from login, and long-lived API tokens for scripts.
 * Tokens are random 256-bit values stored as SHA-256 digests.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import { Errors, fail } from '../errors.ts';
import { hashSecret, hashSecretAsync, newSecret, PASSWORD_COST, PasswordSlots, SlotsBusyError, tokenDigest, verifySecret } from './secrets.ts';
import { checkPassword, defaultPasswordPolicy, type PasswordPolicy, type PasswordRule } from './password-policy.ts';

/** Each password rule's catalogue code (the same codes as password-policy.ts's PASSWORD_ERROR_CODES). */
const PASSWORD_CODES = {
  too_long: 'LOANET_PASSWORD_TOO_LONG',
  too_short: 'LOANET_PASSWORD_TOO_SHORT',
  contains_username: 'LOANET_PASSWORD_HAS_USERNAME',
  common: 'LOANET_PASSWORD_COMMON',
} as const satisfies Record<PasswordRule, string>;
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN } from '../../api/username.ts';

/** The one username rule (api/username.ts), also for users made outside HTTP (the first admin). */
const USERNAME_RE = new RegExp(USERNAME_PATTERN);

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

/** What start-up will do about the `admin` account (UserRepository.prepareAdmin). */
export type AdminBootstrap =
  | { kind: 'none' }
  | { kind: 'enable'; id: number }
  | { kind: 'reset'; id: number; hash: string }
  | { kind: 'create'; hash: string; generated: string | undefined };

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
  /**
   * Prepared once, on first use (after start-up's migrations): the token
   * check runs on every API request and every live-stream check, and
   * preparing its SQL each time was a visible share of an alert's dispatch
   * (BENCHMARKS.md, bottleneck 6).
   */
  private st?: { authenticate: Statement; byId: Statement; byUsername: Statement };

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    private readonly policy: PasswordPolicy = defaultPasswordPolicy(),
    private readonly slots: PasswordSlots = new PasswordSlots(),
  ) {}

  /** A password-cost scrypt run through the slots; a full queue is 503 (nothing was checked). */
  private async scrypt<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.slots.run(fn);
    } catch (e) {
      if (e instanceof SlotsBusyError) throw Errors.unavailable('busy', `${e.message}; try again in a few seconds`);
      throw e;
    }
  }

  /** Throws the password policy's refusal (400, its stable code, naming `field`, the rule and its limit). */
  assertPasswordAllowed(password: string, username: string, field: string): void {
    const v = checkPassword(password, username, this.policy);
    if (v) {
      const params = { field, rule: v.rule, text: v.message, ...(v.limit !== undefined ? { limit: v.limit } : {}) };
      throw fail(PASSWORD_CODES[v.rule], params, { rule: v.rule, ...(v.limit !== undefined ? { limit: v.limit } : {}) });
    }
  }

  /**
   * Check a new password against the policy and hash it (off the event loop),
   * for a later `update(id, { passwordHash })`: an admin's reset is checked
   * before anything of the user changes.
   */
  async preparePassword(password: string, username: string, field = 'password'): Promise<string> {
    this.assertPasswordAllowed(password, username, field);
    return this.scrypt(() => hashSecretAsync(password, PASSWORD_COST));
  }

  private statements(): NonNullable<UserRepository['st']> {
    this.st ??= {
      authenticate: this.db.prepare(
        `SELECT t.id AS token_id, t.kind, t.expires_at, t.revoked_at, u.* FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ?`,
      ),
      byId: this.db.prepare('SELECT * FROM users WHERE id = ?'),
      byUsername: this.db.prepare('SELECT * FROM users WHERE username = ?'),
    };
    return this.st;
  }

  byUsername(username: string): User | undefined {
    const r = this.statements().byUsername.get(username) as UserRow | undefined;
    return r && toUser(r);
  }

  /** Every user, by name (for the admins' user list). */
  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as UserRow[]).map(toUser);
  }

  byId(id: number): User | undefined {
    const r = this.statements().byId.get(id) as UserRow | undefined;
    return r && toUser(r);
  }

  /**
   * Change a user's role, area scope or disabled state (admin). Disabling also
   * revokes every session and API token of the user: authenticate() already
   * refuses a disabled user, and revoking means re-enabling later does not
   * bring back a session that may have been the reason for disabling. A new
   * password hash (an admin's reset, from preparePassword) does the same.
   */
  update(id: number, change: { role?: Role; areaId?: number | null; disabled?: boolean; passwordHash?: string }): User {
    const cur = this.byId(id);
    if (!cur) throw Errors.notFound('user', id);
    const t = this.now();
    this.db.transaction(() => {
      if (change.role !== undefined) this.db.prepare('UPDATE users SET role = ? WHERE id = ?').run(change.role, id);
      if (change.areaId !== undefined) this.db.prepare('UPDATE users SET area_id = ? WHERE id = ?').run(change.areaId, id);
      if (change.disabled === true && cur.disabledAt === null) {
        this.db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(t, id);
        this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL').run(t, id);
      }
      if (change.disabled === false) this.db.prepare('UPDATE users SET disabled_at = NULL WHERE id = ?').run(id);
      if (change.passwordHash !== undefined) {
        this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(change.passwordHash, id);
        this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL').run(t, id);
      }
      // Someone must be left who can undo this: an enabled admin over the whole network (the throw rolls the change back).
      const admins = this.db.prepare("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL AND area_id IS NULL").get() as { n: number };
      if (admins.n === 0) {
        throw fail('LOANET_LAST_ADMIN', { username: cur.username });
      }
    })();
    return this.byId(id)!;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  async create(input: { username: string; password: string; role: Role; areaId?: number | null }): Promise<User> {
    if (!USERNAME_RE.test(input.username)) throw fail('LOANET_USERNAME_FORMAT', { field: 'username', min: USERNAME_MIN_LENGTH, max: USERNAME_MAX_LENGTH });
    const exists = () => fail('LOANET_NAME_TAKEN', { thing: 'user', name: input.username });
    if (this.byUsername(input.username)) throw exists();
    const hash = await this.preparePassword(input.password, input.username);
    try {
      const info = this.db
        .prepare('INSERT INTO users (username, password_hash, role, area_id, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.username, hash, input.role, input.areaId ?? null, this.now());
      return toUser(this.db.prepare('SELECT * FROM users WHERE id = ?').get(Number(info.lastInsertRowid)) as UserRow);
    } catch (e) {
      // The same name created meanwhile (the hash was computed off the loop).
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw exists();
      throw e;
    }
  }

  /**
   * Make sure an admin exists, in two steps so that a start that fails in
   * between leaves nothing behind: `prepareAdmin` decides and hashes (off the
   * event loop, writing nothing), `applyAdmin` writes, once start-up has
   * succeeded. With a password given, the `admin` account is created with it
   * (or its password reset to it, so an operator who lost it can recover by
   * restarting with LOANET_ADMIN_PASSWORD; a reset to a different password
   * revokes the admin's sessions and API tokens, the same one changes
   * nothing). Without one, and no admin yet, a random password is generated
   * and returned to be printed once.
   */
  async prepareAdmin(password: string | undefined): Promise<AdminBootstrap> {
    const existing = this.db.prepare("SELECT * FROM users WHERE username = 'admin'").get() as UserRow | undefined;
    if (existing) {
      if (!password) return { kind: 'none' };
      if (await this.scrypt(() => verifySecret(password, existing.password_hash))) return { kind: 'enable', id: existing.id };
      return { kind: 'reset', id: existing.id, hash: await this.preparePassword(password, 'admin', 'LOANET_ADMIN_PASSWORD') };
    }
    const generated = password ? undefined : newSecret().slice(0, 20);
    return { kind: 'create', hash: await this.preparePassword(password ?? generated!, 'admin', 'LOANET_ADMIN_PASSWORD'), generated };
  }

  applyAdmin(plan: AdminBootstrap): { created: boolean; reset?: boolean; generatedPassword?: string } {
    const t = this.now();
    switch (plan.kind) {
      case 'none':
        return { created: false };
      case 'enable':
        this.db.prepare('UPDATE users SET disabled_at = NULL WHERE id = ?').run(plan.id);
        return { created: false };
      case 'reset':
        this.db.transaction(() => {
          this.db.prepare('UPDATE users SET password_hash = ?, disabled_at = NULL WHERE id = ?').run(plan.hash, plan.id);
          this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL').run(t, plan.id);
        })();
        return { created: false, reset: true };
      case 'create':
        this.db.prepare("INSERT INTO users (username, password_hash, role, area_id, created_at) VALUES ('admin', ?, 'admin', NULL, ?)").run(plan.hash, t);
        return plan.generated ? { created: true, generatedPassword: plan.generated } : { created: true };
    }
  }

  /** Whether `password` is the user's current one (scrypt on the thread pool). */
  async verifyPassword(userId: number, password: string): Promise<boolean> {
    const r = this.db.prepare('SELECT password_hash FROM users WHERE id = ?').get(userId) as { password_hash: string } | undefined;
    const ok = await this.scrypt(() => verifySecret(password, r?.password_hash ?? DUMMY_HASH));
    return ok && r !== undefined;
  }

  /**
   * Set a user's own new password; the caller has checked the current one
   * (verifyPassword, under the guessing limits) and the policy
   * (preparePassword gave `hash`). Every other session of the user is revoked
   * (a stolen session must not outlive the change), and so are their API
   * tokens unless `keepTokens`: a token made by whoever stole the old password
   * must not outlive it either. The token making the call stays. Answers how
   * many were revoked.
   */
  setOwnPassword(userId: number, hash: string, keepTokenId: number, keepTokens: boolean): number {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hash, userId);
      const kinds = keepTokens ? "kind = 'session'" : "kind IN ('session', 'api')";
      return this.db.prepare(`UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND ${kinds} AND id != ? AND revoked_at IS NULL`).run(this.now(), userId, keepTokenId).changes;
    })();
  }

  async login(username: string, password: string, ttlMs: number): Promise<{ token: string; user: User; expiresAt: number }> {
    const r = this.statements().byUsername.get(username) as UserRow | undefined;
    // Verify against a dummy hash when the user is unknown so timing does not reveal usernames.
    const ok = await this.scrypt(() => verifySecret(password, r?.password_hash ?? DUMMY_HASH));
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
    const rows = this.db.prepare("SELECT id, name, created_at, expires_at, revoked_at FROM api_tokens WHERE user_id = ? AND kind = 'api' ORDER BY id DESC").all(userId) as Array<{
      id: number;
      name: string | null;
      created_at: number;
      expires_at: number | null;
      revoked_at: number | null;
    }>;
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
    const row = this.statements().authenticate.get(tokenDigest(token)) as
      | (UserRow & { token_id: number; kind: 'session' | 'api'; expires_at: number | null; revoked_at: number | null })
      | undefined;
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
