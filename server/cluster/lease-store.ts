/**
 * The leases table (migration 23) on Kysely, either dialect: who holds each
 * kind of work that must happen once, until when, and its fencing token.
 *
 * Every decision is one atomic statement on the database's clock (PostgreSQL
 * clock_timestamp(); SQLite's 'now', the one machine's clock), so servers
 * whose clocks disagree cannot both hold a lease: a round grants each lease
 * to this instance only if it already holds it or its expiry has passed, and
 * answers the tokens of those it now holds.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { databaseNowMs, type StoreDialect } from '../store/database.ts';
import type { Database } from '../store/schema.ts';
import type { LeaseName } from './lease-policy.ts';

/** A lease as the work that holds it presents it to a fenced write. */
export interface LeaseTerm {
  name: LeaseName;
  token: number;
}

/** A fenced write refused: this instance no longer holds the lease the write depends on. */
export class LeaseFenceError extends Error {
  readonly code = 'LOANET_LEASE_LOST';
  constructor(
    readonly lease: LeaseName,
    readonly token: number,
  ) {
    super(`the ${lease} lease (token ${token}) is no longer held by this server: another server does this work now, so this write is refused`);
  }
}

/** This instance's name as a holder: unique across restarts and machines (host, pid, random). */
export function instanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export class LeaseStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
    /** This instance: instanceId(). */
    readonly holder: string,
  ) {
    if (holder === '') throw new Error('a lease holder needs a name: the empty one means nobody');
  }

  private nowMs() {
    return databaseNowMs(this.dialect);
  }

  /**
   * One round: acquire or renew every lease in `names` for `ttlMs`, in one
   * statement. A lease is granted when this instance holds it or nobody's
   * expiry is still ahead; the token counts up when the holder changes.
   * Answers the tokens of the leases this instance holds after it; a name
   * missing from the answer is held by another instance.
   */
  async acquireOrRenew(names: readonly LeaseName[], ttlMs: number): Promise<Map<LeaseName, number>> {
    if (names.length === 0) return new Map();
    const now = this.nowMs();
    const rows = await this.db
      .insertInto('leases')
      .values(
        names.map((name) => ({
          name,
          holder: this.holder,
          token: 1,
          expires_at: sql<number>`${now} + ${ttlMs}`,
          acquired_at: now,
        })),
      )
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({
            holder: eb.ref('excluded.holder'),
            token: sql<number>`CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END`,
            expires_at: eb.ref('excluded.expires_at'),
            acquired_at: sql<number>`CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END`,
          }))
          // excluded.acquired_at is the database's now for this row.
          .where((eb) => eb.or([eb('leases.holder', '=', eb.ref('excluded.holder')), eb('leases.expires_at', '<', eb.ref('excluded.acquired_at'))])),
      )
      .returning(['name', 'token'])
      .execute();
    return new Map(rows.map((r) => [r.name as LeaseName, r.token]));
  }

  /**
   * Lets this instance's leases among `names` go at a clean stop, so another
   * server takes them at its next try instead of after the TTL. The token
   * stays (the next holder's is one more). By holder, not by token: a round
   * that landed after the keeper last heard is released too.
   */
  async release(names: readonly LeaseName[]): Promise<void> {
    if (names.length === 0) return;
    await this.db.updateTable('leases').set({ holder: '', expires_at: 0 }).where('name', 'in', names).where('holder', '=', this.holder).execute();
  }

  /**
   * Inside a transaction that makes a write only the holder may make: refuses
   * (LeaseFenceError, so the transaction rolls back) unless this instance
   * holds `term` now, on the database's clock. PostgreSQL: the row is locked
   * FOR SHARE until the transaction ends, so a takeover (an UPDATE of the
   * row) waits for this write to commit, and a write checked after a
   * takeover sees the new holder; the holder's own fenced writes do not wait
   * for each other. SQLite: the check is a write, so the transaction holds the
   * database's one write lock from here on and no other process (two servers
   * on one data folder by mistake) can take the lease before it commits.
   */
  async fenced(trx: Transaction<Database>, term: LeaseTerm): Promise<void> {
    const now = this.nowMs();
    let held: boolean;
    if (this.dialect === 'postgres') {
      const row = await trx
        .selectFrom('leases')
        .select('token')
        .where('name', '=', term.name)
        .where('holder', '=', this.holder)
        .where('token', '=', term.token)
        .where('expires_at', '>', now)
        .forShare()
        .executeTakeFirst();
      held = row !== undefined;
    } else {
      const r = await trx
        .updateTable('leases')
        .set((eb) => ({ holder: eb.ref('holder') }))
        .where('name', '=', term.name)
        .where('holder', '=', this.holder)
        .where('token', '=', term.token)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      held = r.numUpdatedRows === 1n;
    }
    if (!held) throw new LeaseFenceError(term.name, term.token);
  }

  /** Every lease as the database has it (for metrics and tests). */
  async list(): Promise<Array<{ name: string; holder: string; token: number; expiresAt: number; acquiredAt: number }>> {
    const rows = await this.db.selectFrom('leases').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, holder: r.holder, token: r.token, expiresAt: r.expires_at, acquiredAt: r.acquired_at }));
  }
}
