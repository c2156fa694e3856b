/**
 * The audit log: who changed what, when. Every mutating API call writes one
 * entry; admins read it. Entries are never updated or deleted by loanet.
 */
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

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  record(actor: { id: number; username: string } | null, action: string, target: string | null, detail?: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO audit_log (at, user_id, username, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(this.now(), actor?.id ?? null, actor?.username ?? null, action, target, detail ? JSON.stringify(detail) : null);
  }

  /**
   * Entries newest first. With `visible` (a scoped reader's rule), entries it
   * refuses are skipped and the limit counts only those kept.
   */
  list(filter: { from?: number; to?: number; username?: string; action?: string; limit?: number } = {}, visible?: (e: AuditEntry) => boolean): AuditEntry[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.from !== undefined) (where.push('at >= ?'), args.push(filter.from));
    if (filter.to !== undefined) (where.push('at < ?'), args.push(filter.to));
    if (filter.username) (where.push('username = ?'), args.push(filter.username));
    if (filter.action) (where.push('action LIKE ?'), args.push(`${filter.action}%`));
    const limit = Math.min(filter.limit ?? 200, 5000);
    type Row = { id: number; at: number; user_id: number | null; username: string | null; action: string; target: string | null; detail: string | null };
    const toEntry = (r: Row): AuditEntry => ({ id: r.id, at: r.at, userId: r.user_id, username: r.username, action: r.action, target: r.target, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null });
    const sql = `SELECT * FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC`;
    if (!visible) return (this.db.prepare(`${sql} LIMIT ?`).all(...args, limit) as Row[]).map(toEntry);
    const out: AuditEntry[] = [];
    for (const r of this.db.prepare(sql).iterate(...args) as IterableIterator<Row>) {
      const e = toEntry(r);
      if (visible(e)) out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }
}
