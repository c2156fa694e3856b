/**
 * The audit log's contract, the same on SQLite and on PostgreSQL: what is
 * recorded reads back as recorded, newest first, and each filter narrows it
 * the same way in both dialects (the action prefix is case-blind and takes
 * `%` and `_` literally, as LIKE would not in either).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

describe.each(storeDialects())('the audit log on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  let log: AuditLog;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1_764_979_200_000;
    log = new AuditLog(store.db, () => clock);
  });
  afterEach(() => store.close());

  const admin = { id: 1, username: 'admin' };
  const official = { id: 7, username: 'can-bo.bat-xat' };

  async function fill(): Promise<void> {
    const entries: Array<[typeof admin | null, string, string | null, Record<string, unknown> | undefined]> = [
      [admin, 'user.create', 'can-bo.bat-xat', { role: 'emergency', area: '2025.08' }],
      [official, 'alert.start', 'alr-0001', { title: 'Lũ quét ở Bát Xát', sites: 42 }],
      [null, 'alert.expire', 'alr-0001', { revision: 1 }],
      [admin, 'site.command.volume', 'lc-0001', { params: { level: 80 } }],
      [official, 'alert_x.odd', null, undefined],
    ];
    for (const [actor, action, target, detail] of entries) {
      await log.record(actor, action, target, detail);
      clock += 1000;
    }
  }

  it('reads back what was recorded, newest first, with who, when and the detail', async () => {
    await fill();
    const all = await log.list();
    expect(all.map((e) => e.action)).toEqual(['alert_x.odd', 'site.command.volume', 'alert.expire', 'alert.start', 'user.create']);
    expect(all[3]).toMatchObject({
      at: 1_764_979_201_000,
      userId: 7,
      username: 'can-bo.bat-xat',
      target: 'alr-0001',
      detail: { title: 'Lũ quét ở Bát Xát', sites: 42 },
    });
    expect(all[2]).toMatchObject({ userId: null, username: null, detail: { revision: 1 } });
    expect(all[0]).toMatchObject({ target: null, detail: null });
    expect(typeof all[0]!.id).toBe('number');
    expect(all[0]!.id).toBeGreaterThan(all[1]!.id);
  });

  it('filters by time, person and action prefix the same way in both dialects', async () => {
    await fill();
    const actions = async (f: Parameters<AuditLog['list']>[0]) => (await log.list(f)).map((e) => e.action);
    expect(await actions({ from: 1_764_979_201_000, to: 1_764_979_203_000 })).toEqual(['alert.expire', 'alert.start']);
    expect(await actions({ username: 'can-bo.bat-xat' })).toEqual(['alert_x.odd', 'alert.start']);
    expect(await actions({ action: 'alert.' })).toEqual(['alert.expire', 'alert.start']);
    // Case-blind, as the SQLite LIKE it replaces was.
    expect(await actions({ action: 'ALERT.' })).toEqual(['alert.expire', 'alert.start']);
    // `_` and `%` are letters, not wildcards.
    expect(await actions({ action: 'alert_' })).toEqual(['alert_x.odd']);
    expect(await actions({ action: '%' })).toEqual([]);
    expect(await actions({ action: 'site.command.volume.more' })).toEqual([]);
    expect(await actions({ limit: 2 })).toEqual(['alert_x.odd', 'site.command.volume']);
  });

  it('caps a read at 5,000 entries', async () => {
    const rows = Array.from({ length: 5003 }, (_, i) => ({ at: i, user_id: null, username: null, action: 'x', target: null, detail: null }));
    for (let i = 0; i < rows.length; i += 1000)
      await store.db
        .insertInto('audit_log')
        .values(rows.slice(i, i + 1000))
        .execute();
    expect(await log.list({ limit: 100_000 })).toHaveLength(5000);
  }, 60_000);
});
