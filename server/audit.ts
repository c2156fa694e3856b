/**
 * The audit log: who changed what, when. Every mutating API call writes one
 * entry; admins read it. Entries are never updated or deleted by loanet.
 *
 * The first store converted to Kysely (store/database.ts): the pattern the
 * others follow. Its queries are typed against store/schema.ts and run the
 * same on SQLite and PostgreSQL (tests/integration/audit-store.test.ts runs
 * against both).
 */
import type { Kysely } from 'kysely';
import type { Logger } from './fleet/broker.ts';
import type { Database } from './store/schema.ts';

export interface AuditEntry {
  id: number;
  at: number;
  userId: number | null;
  username: string | null;
  action: string;
  target: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditFilter {
  from?: number;
  to?: number;
  username?: string;
  /** The start of the action, any case: `alert.` finds alert.start, alert.cancel, … */
  action?: string;
  limit?: number;
}

/** Entries a filtered read (a scoped admin's) looks at, newest first, before it stops. */
export const AUDIT_SCAN_LIMIT = 20_000;
/** Entries read per query while a scoped read scans: each page is one round trip, and the event loop is free between them. */
const SCAN_PAGE = 1000;

type Row = { id: number; at: number; user_id: number | null; username: string | null; action: string; target: string | null; detail: string | null };

const toEntry = (r: Row): AuditEntry => ({
  id: r.id,
  at: r.at,
  userId: r.user_id,
  username: r.username,
  action: r.action,
  target: r.target,
  detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
});

export class AuditLog {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly log?: Pick<Logger, 'error'>,
  ) {}

  /** Resolves once the entry is committed. */
  async record(actor: { id: number; username: string } | null, action: string, target: string | null, detail?: Record<string, unknown>): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: this.now(),
        user_id: actor?.id ?? null,
        username: actor?.username ?? null,
        action,
        target,
        detail: detail ? JSON.stringify(detail) : null,
      })
      .execute();
  }

  /**
   * For a caller on a path that cannot wait (a live stream's callbacks): the
   * entry is written as record() writes it, and a failure is logged rather
   * than thrown at the caller. Its order among the caller's other effects is
   * not guaranteed, so anything that must follow the entry awaits record().
   */
  recordDetached(actor: { id: number; username: string } | null, action: string, target: string | null, detail?: Record<string, unknown>): void {
    this.record(actor, action, target, detail).catch((e: unknown) => {
      this.log?.error({ action, target, err: (e as Error).message }, 'audit log: writing an entry failed');
    });
  }

  /**
   * Entries newest first. With `visible` (a scoped reader's rule, given the
   * entry without its detail), entries it refuses are skipped and the limit
   * counts only those kept; at most AUDIT_SCAN_LIMIT entries are looked at.
   */
  async list(filter: AuditFilter = {}, visible?: (e: AuditEntry) => boolean): Promise<AuditEntry[]> {
    const limit = Math.min(filter.limit ?? 200, 5000);
    const page = (beforeId: number | null, n: number): Promise<Row[]> => {
      let q = this.db.selectFrom('audit_log').select(['id', 'at', 'user_id', 'username', 'action', 'target', 'detail']);
      if (filter.from !== undefined) q = q.where('at', '>=', filter.from);
      if (filter.to !== undefined) q = q.where('at', '<', filter.to);
      if (filter.username) q = q.where('username', '=', filter.username);
      if (filter.action) {
        // A prefix, compared the same way in both dialects: LIKE is case-blind in SQLite but not in PostgreSQL,
        // and would read the caller's % and _ as wildcards. Actions are ASCII (alert.start, site.command.volume, …).
        const prefix = filter.action.toLowerCase();
        q = q.where((eb) => eb(eb.fn('substr', [eb.fn('lower', ['action']), eb.val(1), eb.val(prefix.length)]), '=', prefix));
      }
      if (beforeId !== null) q = q.where('id', '<', beforeId);
      return q.orderBy('id', 'desc').limit(n).execute();
    };
    if (!visible) return (await page(null, limit)).map(toEntry);
    // The rule reads only who, what and on what: the detail is parsed for the entries kept. The scan is
    // bounded so a scoped reader of a huge log cannot hold the store; older entries need a `to` filter.
    const out: AuditEntry[] = [];
    let scanned = 0;
    let beforeId: number | null = null;
    while (scanned < AUDIT_SCAN_LIMIT) {
      const rows = await page(beforeId, Math.min(SCAN_PAGE, AUDIT_SCAN_LIMIT - scanned));
      for (const r of rows) {
        scanned++;
        if (!visible({ id: r.id, at: r.at, userId: r.user_id, username: r.username, action: r.action, target: r.target, detail: null })) continue;
        out.push(toEntry(r));
        if (out.length >= limit) return out;
      }
      if (rows.length === 0) break;
      beforeId = rows[rows.length - 1]!.id;
    }
    return out;
  }
}
