/**
 * The audit log: who changed what, when. Every mutating API call writes one
 * entry; admins read it. Entries are never updated or deleted by loanet.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './store/db.ts';

export interface AuditEntry {
  id: number;
  at: number;
  userId: number | null;
  username: string | null;
  action: string;
  target: string | null;
  detail: Record<string, unknown> | null;
}

/** Entries a filtered read (a scoped admin's) looks at, newest first, before it stops. */
export const AUDIT_SCAN_LIMIT = 20_000;

export class AuditLog {
  private insert?: Statement;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  record(actor: { id: number; username: string } | null, action: string, target: string | null, detail?: Record<string, unknown>): void {
    // Prepared once, on first use (after start-up's migrations): every alert, command and change is recorded.
    (this.insert ??= this.db.prepare('INSERT INTO audit_log (at, user_id, username, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)')).run(
      this.now(),
      actor?.id ?? null,
      actor?.username ?? null,
      action,
      target,
      detail ? JSON.stringify(detail) : null,
    );
  }

  /**
   * Entries newest first. With `visible` (a scoped reader's rule, given the
   * entry without its detail), entries it refuses are skipped and the limit
   * counts only those kept; at most AUDIT_SCAN_LIMIT entries are looked at.
   */
  list(filter: { from?: number; to?: number; username?: string; action?: string; limit?: number } = {}, visible?: (e: AuditEntry) => boolean): AuditEntry[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.from !== undefined) where.push('at >= ?'), args.push(filter.from);
    if (filter.to !== undefined) where.push('at < ?'), args.push(filter.to);
    if (filter.username) where.push('username = ?'), args.push(filter.username);
    if (filter.action) where.push('action LIKE ?'), args.push(`${filter.action}%`);
    const limit = Math.min(filter.limit ?? 200, 5000);
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
    const sql = `SELECT * FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC`;
    if (!visible) return (this.db.prepare(`${sql} LIMIT ?`).all(...args, limit) as Row[]).map(toEntry);
    // The rule reads only who, what and on what: the detail is parsed for the entries kept. The scan is
    // bounded so a scoped reader of a huge log cannot hold the event loop; older entries need a `to` filter.
    const out: AuditEntry[] = [];
    let scanned = 0;
    for (const r of this.db.prepare(sql).iterate(...args) as IterableIterator<Row>) {
      if (++scanned > AUDIT_SCAN_LIMIT) break;
      if (!visible({ id: r.id, at: r.at, userId: r.user_id, username: r.username, action: r.action, target: r.target, detail: null })) continue;
      out.push(toEntry(r));
      if (out.length >= limit) break;
    }
    return out;
  }
}
