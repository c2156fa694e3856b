/**
 * The audit log read through a scoped reader's rule (AuditLog.list with
 * `visible`): newest first, the limit counts only the entries kept, the rule
 * sees no detail, and the scan stops after AUDIT_SCAN_LIMIT entries. On each
 * store dialect (tests/helpers/store.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIT_SCAN_LIMIT, AuditLog } from '../../server/audit.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

describe.each(storeDialects())('AuditLog.list with a visibility rule (%s)', (dialect) => {
  let store: TestStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  async function logWith(n: number, actionOf: (i: number) => string): Promise<AuditLog> {
    store = await openTestStore(dialect);
    const rows = Array.from({ length: n }, (_, i) => ({ at: i, user_id: i % 3, username: `u${i % 3}`, action: actionOf(i), target: `t${i}`, detail: JSON.stringify({ i }) }));
    // In order, so ids follow i; in batches well under either dialect's limit on bound parameters.
    for (let i = 0; i < rows.length; i += 1000)
      await store.db
        .insertInto('audit_log')
        .values(rows.slice(i, i + 1000))
        .execute();
    return new AuditLog(store.db);
  }

  it('keeps only visible entries, newest first, the limit counting those kept, details parsed for them', async () => {
    const log = await logWith(100, (i) => (i % 2 ? 'site.update' : 'user.create'));
    const seen: Array<unknown> = [];
    const out = await log.list({ limit: 5 }, (e) => (seen.push(e.detail), e.userId === 1));
    expect(out.map((e) => e.target)).toEqual(['t97', 't94', 't91', 't88', 't85']);
    expect(out[0]!.detail).toEqual({ i: 97 });
    expect(seen.every((d) => d === null)).toBe(true);
    // Filters still apply before the rule.
    expect((await log.list({ action: 'user.', limit: 3 }, (e) => e.userId === 1)).map((e) => e.target)).toEqual(['t94', 't88', 't82']);
  });

  it('looks at no more than AUDIT_SCAN_LIMIT entries', async () => {
    const log = await logWith(AUDIT_SCAN_LIMIT + 10, () => 'x');
    let calls = 0;
    const out = await log.list({ limit: 10 }, (e) => (calls++, e.target === 't0'));
    expect(calls).toBe(AUDIT_SCAN_LIMIT);
    expect(out).toEqual([]);
  }, 120_000);
});
