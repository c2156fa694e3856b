/**
 * The counts behind the guessing limits (login-limiter.ts for passwords,
 * enrolment/limiter.ts for enrolment codes), in the store (migration 35:
 * guess_attempts, login_known_addresses), so every server on one database
 * counts the same guesses: behind a load balancer, N servers do not give a
 * guesser N times the attempts.
 *
 * One row per reserved attempt: written before the password or code is
 * tested, deleted when it is given back (a success, or nothing tested), kept
 * as a failure otherwise. A login row counts against its address always,
 * against its username until an admin's unlock clears the username, and
 * against the (username, address) pair until that user signs in from that
 * address (`pair` cleared). An enrolment row counts against its address and
 * the total.
 *
 * The count and the reservation are one transaction that first takes the
 * locks of the keys it counts, so two attempts on one key, on one server or
 * two, take turns: PostgreSQL transaction-scoped advisory locks on the
 * username and the address (both taken in one statement, the lower hash
 * first, so two attempts sharing either key cannot deadlock), on the one
 * 'total' key for enrolment; SQLite runs one transaction at a time anyway.
 * Counting reads the indexes (kind, address, at) and (kind, username, at)
 * over the window only. Expired rows are deleted by the limiters' sweeps.
 */
import { type Kysely, type SelectQueryBuilder, sql, type Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { StoreDialect } from '../store/database.ts';
import type { KeyCount, LoginCounts, LoginGuessStore, LoginKey, Refusal } from './login-limiter.ts';
import type { EnrolCounts, EnrolGuessStore, EnrolRefusal } from '../enrolment/limiter.ts';

type Trx = Transaction<Database>;

export class GuessStore implements LoginGuessStore, EnrolGuessStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  reserveLogin(key: LoginKey, now: number, since: number, decide: (c: LoginCounts) => Refusal | undefined): Promise<{ id: number } | Refusal> {
    return this.db.transaction().execute(async (trx) => {
      await this.lock(trx, `login.user.${key.username}`, `login.address.${key.address}`);
      const recent = trx.selectFrom('guess_attempts').where('kind', '=', 'login').where('at', '>', since);
      const known = await trx.selectFrom('login_known_addresses').select('at').where('username', '=', key.username).where('address', '=', key.address).executeTakeFirst();
      const counts: LoginCounts = {
        userAddress: await countOf(recent.where('username', '=', key.username).where('address', '=', key.address).where('pair', '=', 1)),
        address: await countOf(recent.where('address', '=', key.address)),
        user: await countOf(recent.where('username', '=', key.username)),
        knownAt: known?.at ?? null,
      };
      const refusal = decide(counts);
      if (refusal) return refusal;
      return this.insert(trx, { kind: 'login', address: key.address, username: key.username, pair: 1, at: now });
    });
  }

  reserveEnrol(address: string, now: number, since: number, decide: (c: EnrolCounts) => EnrolRefusal | undefined): Promise<{ id: number } | EnrolRefusal> {
    return this.db.transaction().execute(async (trx) => {
      // The total is one key over every address: its lock alone orders every enrolment attempt.
      await this.lock(trx, 'enrol.total');
      const recent = trx.selectFrom('guess_attempts').where('kind', '=', 'enrol').where('at', '>', since);
      const counts: EnrolCounts = { address: await countOf(recent.where('address', '=', address)), total: await countOf(recent) };
      const refusal = decide(counts);
      if (refusal) return refusal;
      return this.insert(trx, { kind: 'enrol', address, username: null, pair: 0, at: now });
    });
  }

  async giveBack(id: number): Promise<void> {
    await this.db.deleteFrom('guess_attempts').where('id', '=', id).execute();
  }

  async forgive(id: number, key: LoginKey, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('guess_attempts').where('id', '=', id).execute();
      await trx
        .updateTable('guess_attempts')
        .set({ pair: 0 })
        .where('kind', '=', 'login')
        .where('username', '=', key.username)
        .where('address', '=', key.address)
        .where('pair', '=', 1)
        .execute();
      await trx
        .insertInto('login_known_addresses')
        .values({ username: key.username, address: key.address, at: now })
        .onConflict((oc) => oc.columns(['username', 'address']).doUpdateSet({ at: now }))
        .execute();
    });
  }

  async unlock(username: string, since: number): Promise<number> {
    const counted = await countOf(this.db.selectFrom('guess_attempts').where('kind', '=', 'login').where('username', '=', username).where('at', '>', since));
    // The username goes, the row stays: an address guessing many accounts is not forgiven by unlocking one.
    await this.db.updateTable('guess_attempts').set({ username: null, pair: 0 }).where('kind', '=', 'login').where('username', '=', username).execute();
    return counted.n;
  }

  async sweepLogin(before: number, knownBefore: number): Promise<void> {
    await this.db.deleteFrom('guess_attempts').where('kind', '=', 'login').where('at', '<=', before).execute();
    await this.db.deleteFrom('login_known_addresses').where('at', '<=', knownBefore).execute();
  }

  async sweepEnrol(before: number): Promise<void> {
    await this.db.deleteFrom('guess_attempts').where('kind', '=', 'enrol').where('at', '<=', before).execute();
  }

  /** Rows held now (for tests of the table's bound). */
  async rows(): Promise<{ attempts: number; knownAddresses: number }> {
    const a = await this.db
      .selectFrom('guess_attempts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const k = await this.db
      .selectFrom('login_known_addresses')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { attempts: Number(a.n), knownAddresses: Number(k.n) };
  }

  private async insert(trx: Trx, row: { kind: 'login' | 'enrol'; address: string; username: string | null; pair: number; at: number }): Promise<{ id: number }> {
    const r = await trx.insertInto('guess_attempts').values(row).returning('id').executeTakeFirstOrThrow();
    return { id: Number(r.id) };
  }

  /**
   * The keys' locks until the transaction ends (PostgreSQL; SQLite's one
   * writer needs none). Both in one statement, the lower hash first: any two
   * attempts take the locks they share in the same order. Per schema, as the
   * other advisory locks (schedule/items-store.ts).
   */
  private async lock(trx: Trx, a: string, b?: string): Promise<void> {
    if (this.dialect !== 'postgres') return;
    const key = (k: string) => sql`hashtext('loanet.guess.' || current_schema() || '.' || ${k})`;
    if (b === undefined) {
      await sql`SELECT pg_advisory_xact_lock(${key(a)})`.execute(trx);
      return;
    }
    // Select-list items are evaluated left to right.
    await sql`SELECT pg_advisory_xact_lock(least(${key(a)}, ${key(b)})), pg_advisory_xact_lock(greatest(${key(a)}, ${key(b)}))`.execute(trx);
  }
}

/** How many rows `q` matches, the oldest and the newest `at`. */
async function countOf(q: SelectQueryBuilder<Database, 'guess_attempts', object>): Promise<KeyCount> {
  const r = await q.select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('at').as('oldest'), eb.fn.max<number>('at').as('newest')]).executeTakeFirstOrThrow();
  return { n: Number(r.n), oldest: r.oldest === null ? null : Number(r.oldest), newest: r.newest === null ? null : Number(r.newest) };
}
