/**
 * The audit log read through a scoped reader's rule (AuditLog.list with
 * `visible`): newest first, the limit counts only the entries kept, the rule
 * sees no detail, and the scan stops after AUDIT_SCAN_LIMIT entries.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AUDIT_SCAN_LIMIT, AuditLog } from '../../server/audit.ts';

function logWith(n: number, actionOf: (i: number) => string): AuditLog {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at INTEGER, user_id INTEGER, username TEXT, action TEXT, target TEXT, detail TEXT)');
  const ins = db.prepare('INSERT INTO audit_log (at, user_id, username, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(i, i % 3, `u${i % 3}`, actionOf(i), `t${i}`, JSON.stringify({ i }));
  })();
  return new AuditLog(db as never);
}

describe('AuditLog.list with a visibility rule', () => {
  it('keeps only visible entries, newest first, the limit counting those kept, details parsed for them', () => {
    const log = logWith(100, (i) => (i % 2 ? 'site.update' : 'user.create'));
    const seen: Array<unknown> = [];
    const out = log.list({ limit: 5 }, (e) => (seen.push(e.detail), e.userId === 1));
    expect(out.map((e) => e.target)).toEqual(['t97', 't94', 't91', 't88', 't85']);
    expect(out[0]!.detail).toEqual({ i: 97 });
    expect(seen.every((d) => d === null)).toBe(true);
    // Filters still apply before the rule.
    expect(log.list({ action: 'user.', limit: 3 }, (e) => e.userId === 1).map((e) => e.target)).toEqual(['t94', 't88', 't82']);
  });

  it('looks at no more than AUDIT_SCAN_LIMIT entries', () => {
    const log = logWith(AUDIT_SCAN_LIMIT + 10, () => 'x');
    let calls = 0;
    const out = log.list({ limit: 10 }, (e) => (calls++, e.target === 't0'));
    expect(calls).toBe(AUDIT_SCAN_LIMIT);
    expect(out).toEqual([]);
  });
});
