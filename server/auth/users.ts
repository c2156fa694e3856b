/**
 * People and scripts that use the API: users with a role scoped to an area
 * subtree, session tokens from login, and long-lived API tokens for scripts.
 * Tokens are random 256-bit values stored as SHA-256 digests.
 */
import type { CompiledQuery, Kysely, Selectable } from 'kysely';
import type { ApiTokensTable, Database, UsersTable } from '../store/schema.ts';
import { Errors, fail } from '../errors.ts';
import { hashSecretAsync, newSecret, PASSWORD_COST, PasswordSlots, SlotsBusyError, tokenDigest, verifySecret } from './secrets.ts';
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

type UserRow = Selectable<UsersTable>;

const toUser = (r: UserRow): User => ({ id: r.id, username: r.username, role: r.role, areaId: r.area_id, createdAt: r.created_at, disabledAt: r.disabled_at });

/** The columns of a user, for queries that join them to another table's. */
const USER_COLUMNS = ['u.id', 'u.username', 'u.password_hash', 'u.role', 'u.area_id', 'u.created_at', 'u.disabled_at'] as const;

/** A token and its user, as the token lookup reads them. */
type TokenLookupRow = UserRow & Pick<Selectable<ApiTokensTable>, 'kind' | 'expires_at' | 'revoked_at'> & { token_id: number };

export class UserRepository {
  private tokenQuery: CompiledQuery<TokenLookupRow> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
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

  private row(db: Kysely<Database>, id: number): Promise<UserRow | undefined> {
    return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private rowByUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  async byUsername(username: string): Promise<User | undefined> {
    const r = await this.rowByUsername(username);
    return r && toUser(r);
  }

  /** Every user, by name (for the admins' user list). */
  async list(): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('username').execute()).map(toUser);
  }

  async byId(id: number): Promise<User | undefined> {
    const r = await this.row(this.db, id);
    return r && toUser(r);
  }

  /**
   * Change a user's role, area scope or disabled state (admin). Disabling also
   * revokes every session and API token of the user: authenticate() already
   * refuses a disabled user, and revoking means re-enabling later does not
   * bring back a session that may have been the reason for disabling. A new
   * password hash (an admin's reset, from preparePassword) does the same.
   */
  async update(id: number, change: { role?: Role; areaId?: number | null; disabled?: boolean; passwordHash?: string }): Promise<User> {
    const t = this.now();
    return this.db.transaction().execute(async (trx) => {
      // Someone must be left who can undo this: an enabled admin over the whole network. Two admins demoting or
      // disabling each other at once could each count the other as the one left, unless the second waits for the
      // first: touching the network-wide admins' rows first locks them until commit (PostgreSQL; a statement that
      // changes nothing), so the second transaction counts after the first has committed. On SQLite the
      // transaction holds the one connection, which serialises them already.
      await trx.updateTable('users').set({ role: 'admin' }).where('role', '=', 'admin').where('disabled_at', 'is', null).where('area_id', 'is', null).execute();
      // Read inside the transaction, after the lock: disabling a user already disabled meanwhile keeps its first time.
      const cur = await this.row(trx, id);
      if (!cur) throw Errors.notFound('user', id);
      if (change.role !== undefined) await trx.updateTable('users').set({ role: change.role }).where('id', '=', id).execute();
      if (change.areaId !== undefined) await trx.updateTable('users').set({ area_id: change.areaId }).where('id', '=', id).execute();
      if (change.disabled === true && cur.disabled_at === null) {
        await trx.updateTable('users').set({ disabled_at: t }).where('id', '=', id).execute();
        await this.revokeAll(trx, id, t);
      }
      if (change.disabled === false) await trx.updateTable('users').set({ disabled_at: null }).where('id', '=', id).execute();
      if (change.passwordHash !== undefined) {
        await trx.updateTable('users').set({ password_hash: change.passwordHash }).where('id', '=', id).execute();
        await this.revokeAll(trx, id, t);
      }
      const admins = await trx
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('role', '=', 'admin')
        .where('disabled_at', 'is', null)
        .where('area_id', 'is', null)
        .executeTakeFirstOrThrow();
      // The throw rolls the change back.
      if (Number(admins.n) === 0) throw fail('LOANET_LAST_ADMIN', { username: cur.username });
      return toUser((await this.row(trx, id))!);
    });
  }

  /** Revoke every session and API token of the user not revoked yet. */
  private async revokeAll(db: Kysely<Database>, userId: number, t: number): Promise<void> {
    await db.updateTable('api_tokens').set({ revoked_at: t }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  async count(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async create(input: { username: string; password: string; role: Role; areaId?: number | null }): Promise<User> {
    if (!USERNAME_RE.test(input.username)) throw fail('LOANET_USERNAME_FORMAT', { field: 'username', min: USERNAME_MIN_LENGTH, max: USERNAME_MAX_LENGTH });
    const exists = () => fail('LOANET_NAME_TAKEN', { thing: 'user', name: input.username });
    if (await this.rowByUsername(input.username)) throw exists();
    const hash = await this.preparePassword(input.password, input.username);
    // The same name may have been created meanwhile (the hash was computed off the loop): the unique username
    // decides, in one statement, which of two creations wins.
    const r = await this.db
      .insertInto('users')
      .values({ username: input.username, password_hash: hash, role: input.role, area_id: input.areaId ?? null, created_at: this.now() })
      .onConflict((oc) => oc.column('username').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!r) throw exists();
    return toUser(r);
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
    const existing = await this.rowByUsername('admin');
    if (existing) {
      if (!password) return { kind: 'none' };
      if (await this.scrypt(() => verifySecret(password, existing.password_hash))) return { kind: 'enable', id: existing.id };
      return { kind: 'reset', id: existing.id, hash: await this.preparePassword(password, 'admin', 'LOANET_ADMIN_PASSWORD') };
    }
    const generated = password ? undefined : newSecret().slice(0, 20);
    return { kind: 'create', hash: await this.preparePassword(password ?? generated!, 'admin', 'LOANET_ADMIN_PASSWORD'), generated };
  }

  async applyAdmin(plan: AdminBootstrap): Promise<{ created: boolean; reset?: boolean; generatedPassword?: string }> {
    const t = this.now();
    switch (plan.kind) {
      case 'none':
        return { created: false };
      case 'enable':
        await this.db.updateTable('users').set({ disabled_at: null }).where('id', '=', plan.id).execute();
        return { created: false };
      case 'reset':
        await this.db.transaction().execute(async (trx) => {
          await trx.updateTable('users').set({ password_hash: plan.hash, disabled_at: null }).where('id', '=', plan.id).execute();
          await this.revokeAll(trx, plan.id, t);
        });
        return { created: false, reset: true };
      case 'create':
        await this.db.insertInto('users').values({ username: 'admin', password_hash: plan.hash, role: 'admin', area_id: null, created_at: t }).execute();
        return plan.generated ? { created: true, generatedPassword: plan.generated } : { created: true };
    }
  }

  /** Whether `password` is the user's current one (scrypt on the thread pool). */
  async verifyPassword(userId: number, password: string): Promise<boolean> {
    const r = await this.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirst();
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
  async setOwnPassword(userId: number, hash: string, keepTokenId: number, keepTokens: boolean): Promise<number> {
    const t = this.now();
    return this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
      const r = await trx
        .updateTable('api_tokens')
        .set({ revoked_at: t })
        .where('user_id', '=', userId)
        .where('kind', 'in', keepTokens ? ['session'] : ['session', 'api'])
        .where('id', '!=', keepTokenId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    });
  }

  async login(username: string, password: string, ttlMs: number): Promise<{ token: string; user: User; expiresAt: number }> {
    const r = await this.rowByUsername(username);
    // Verify against a dummy hash when the user is unknown so timing does not reveal usernames.
    const ok = await this.scrypt(() => verifySecret(password, r?.password_hash ?? DUMMY_HASH));
    if (!r || !ok || r.disabled_at !== null) throw Errors.badCredentials();
    const expiresAt = this.now() + ttlMs;
    const { token } = await this.issueToken(r.id, 'session', null, expiresAt);
    return { token, user: toUser(r), expiresAt };
  }

  createApiToken(userId: number, name: string, expiresAt: number | null): Promise<{ token: string; id: number }> {
    return this.issueToken(userId, 'api', name, expiresAt);
  }

  /** A user's long-lived API tokens (never the secret: only its digest is kept), newest first. */
  async listApiTokens(userId: number): Promise<ApiTokenInfo[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'created_at', 'expires_at', 'revoked_at'])
      .where('user_id', '=', userId)
      .where('kind', '=', 'api')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({ id: r.id, name: r.name ?? '', createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at }));
  }

  /** Revoke one of the user's own API tokens; false when it is not theirs (or not an API token). */
  async revokeApiToken(userId: number, tokenId: number): Promise<boolean> {
    const t = this.now();
    const r = await this.db
      .updateTable('api_tokens')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(t)) }))
      .where('id', '=', tokenId)
      .where('user_id', '=', userId)
      .where('kind', '=', 'api')
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async revokeToken(tokenId: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ revoked_at: this.now() }).where('id', '=', tokenId).where('revoked_at', 'is', null).execute();
  }

  /** The principal a token stands for, or undefined. Runs on every API request: one query, token and user together. */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (token.length < 20 || token.length > 200) return undefined;
    const q = this.tokenLookup();
    const { rows } = await this.db.executeQuery<TokenLookupRow>({ ...q, parameters: [tokenDigest(token)] });
    const row = rows[0];
    if (!row || row.revoked_at !== null || row.disabled_at !== null) return undefined;
    if (row.expires_at !== null && row.expires_at <= this.now()) return undefined;
    return { user: toUser(row), tokenId: row.token_id, tokenKind: row.kind };
  }

  /**
   * The token lookup, built and compiled once and run with each request's
   * digest as its one parameter: building and compiling it every time was most
   * of what the check cost above the query itself, on the path every API
   * request and every live-stream keepalive takes.
   */
  private tokenLookup(): CompiledQuery<TokenLookupRow> {
    this.tokenQuery ??= this.db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select(['t.id as token_id', 't.kind', 't.expires_at', 't.revoked_at', ...USER_COLUMNS])
      .where('t.token_hash', '=', '')
      .compile();
    return this.tokenQuery;
  }

  private async issueToken(userId: number, kind: 'session' | 'api', name: string | null, expiresAt: number | null): Promise<{ token: string; id: number }> {
    const token = `lnt_${newSecret()}`;
    const r = await this.db
      .insertInto('api_tokens')
      .values({ user_id: userId, token_hash: tokenDigest(token), kind, name, created_at: this.now(), expires_at: expiresAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { token, id: r.id };
  }
}

/**
 * What an unknown user's password is verified against, so the answer takes as long as for a known one and
 * timing does not reveal usernames. Nothing in it is secret (the hash of 'loanet-dummy-password' at
 * PASSWORD_COST), so it is written out rather than made at import: a synchronous scrypt held every process's
 * start for ~100 ms. tests/unit/dummy-hash.test.ts checks it still has PASSWORD_COST's cost.
 */
export const DUMMY_HASH = 'scrypt$32768$8$1$72un6riaqSLncfAom41SSw==$DR9DlnKLxrkMdDN9Aq1/TEJzrSPd3TTd9AV60lQzvIA=';
