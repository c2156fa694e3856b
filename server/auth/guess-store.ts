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
 * An attempt that what is committed already refuses is refused before any
 * of that, by one statement without a lock: a guesser's flood, refused
 * nearly whole, costs each server one indexed read per request. Counting
 * reads the indexes (kind, address, at) and (kind, username, at) over the
 * window only. Expired rows are deleted by the limiters' sweeps.
 *
 * A server runs at most LOCKED_AT_ONCE of those locked transactions at a
 * time (one for enrolment, whose lock is one anyway); the others wait here,
 * holding no connection: attempts queued on one key's lock would otherwise
 * each hold a pool connection while they wait, and a burst of guesses could
 * take every connection the alerts and the fleet need.
 */
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { StoreDialect } from '../store/database.ts';
import type { KeyCount, LoginCounts, LoginGuessStore, LoginKey, Refusal } from './login-limiter.ts';
import type { EnrolCounts, EnrolGuessStore, EnrolRefusal } from '../enrolment/limiter.ts';

type Trx = Transaction<Database>;

/** Locked reservation transactions a server runs at once (see the header). */
const LOCKED_AT_ONCE = 2;

export class GuessStore implements LoginGuessStore, EnrolGuessStore {
  private readonly loginGate = new Gate(LOCKED_AT_ONCE);
  private readonly enrolGate = new Gate(1);

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  async reserveLogin(key: LoginKey, now: number, since: number, decide: (c: LoginCounts) => Refusal | undefined): Promise<{ id: number } | Refusal> {
    // Refused on what is committed already: no lock, no transaction (a guesser's flood is mostly these).
    const early = decide(await this.loginCounts(this.db, key, since));
    if (early) return early;
    return this.loginGate.run(() =>
      this.db.transaction().execute(async (trx) => {
        await this.lock(trx, `login.user.${key.username}`, `login.address.${key.address}`);
        const refusal = decide(await this.loginCounts(trx, key, since));
        if (refusal) return refusal;
        return this.insert(trx, { kind: 'login', address: key.address, username: key.username, pair: 1, at: now });
      }),
    );
  }

  async reserveEnrol(address: string, now: number, since: number, decide: (c: EnrolCounts) => EnrolRefusal | undefined): Promise<{ id: number } | EnrolRefusal> {
    const early = decide(await this.enrolCounts(this.db, address, since));
    if (early) return early;
    return this.enrolGate.run(() =>
      this.db.transaction().execute(async (trx) => {
        // The total is one key over every address: its lock alone orders every enrolment attempt.
        await this.lock(trx, 'enrol.total');
        const refusal = decide(await this.enrolCounts(trx, address, since));
        if (refusal) return refusal;
        return this.insert(trx, { kind: 'enrol', address, username: null, pair: 0, at: now });
      }),
    );
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
    const counted = await this.db
      .selectFrom('guess_attempts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('kind', '=', 'login')
      .where('username', '=', username)
      .where('at', '>', since)
      .executeTakeFirstOrThrow();
    // The username goes, the row stays: an address guessing many accounts is not forgiven by unlocking one.
    await this.db.updateTable('guess_attempts').set({ username: null, pair: 0 }).where('kind', '=', 'login').where('username', '=', username).execute();
    return Number(counted.n);
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

  /** The login counts of `key` after `since`, and its known-address time, in one statement (the two indexes' rows of the window). */
  private async loginCounts(db: Kysely<Database>, key: LoginKey, since: number): Promise<LoginCounts> {
    const { username: u, address: a } = key;
    const pair = sql<boolean>`username = ${u} AND address = ${a} AND pair = 1`;
    const r = await db
      .selectFrom('guess_attempts')
      .where('kind', '=', 'login')
      .where('at', '>', since)
      .where((eb) => eb.or([eb('username', '=', u), eb('address', '=', a)]))
      .select([
        ...aggregates(pair, 'ua'),
        ...aggregates(sql<boolean>`address = ${a}`, 'a'),
        ...aggregates(sql<boolean>`username = ${u}`, 'u'),
        sql<number | null>`(SELECT at FROM login_known_addresses WHERE username = ${u} AND address = ${a})`.as('known_at'),
      ])
      .executeTakeFirstOrThrow();
    return { userAddress: keyCount(r, 'ua'), address: keyCount(r, 'a'), user: keyCount(r, 'u'), knownAt: r.known_at === null ? null : Number(r.known_at) };
  }

  /** The enrolment counts of `address` and of every address after `since`, in one statement. */
  private async enrolCounts(db: Kysely<Database>, address: string, since: number): Promise<EnrolCounts> {
    const r = await db
      .selectFrom('guess_attempts')
      .where('kind', '=', 'enrol')
      .where('at', '>', since)
      .select([...aggregates(sql<boolean>`address = ${address}`, 'a'), ...aggregates(sql<boolean>`1 = 1`, 't')])
      .executeTakeFirstOrThrow();
    return { address: keyCount(r, 'a'), total: keyCount(r, 't') };
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

type Aggregate = ReturnType<ReturnType<typeof sql<number | null>>['as']>;

/** How many rows of the selection `which` holds, its oldest and newest `at`, as `<p>_n`, `<p>_oldest`, `<p>_newest`. */
function aggregates(which: RawBuilder<boolean>, p: string): Aggregate[] {
  return [
    sql<number | null>`sum(CASE WHEN ${which} THEN 1 ELSE 0 END)`.as(`${p}_n`),
    sql<number | null>`min(CASE WHEN ${which} THEN at END)`.as(`${p}_oldest`),
    sql<number | null>`max(CASE WHEN ${which} THEN at END)`.as(`${p}_newest`),
  ];
}

function keyCount(r: Record<string, unknown>, p: string): KeyCount {
  const n = r[`${p}_n`];
  const oldest = r[`${p}_oldest`];
  const newest = r[`${p}_newest`];
  return { n: n === null ? 0 : Number(n), oldest: oldest === null ? null : Number(oldest), newest: newest === null ? null : Number(newest) };
}

/** At most `max` tasks at once; the rest wait in order. */
class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running++;
    // The finishing task hands its place over, so `running` stays as it is.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
