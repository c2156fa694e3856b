/**
 * The maintenance service over a real store (both dialects) with the fleet
 * as plain data: two servers' services verifying the same site at once close
 * a resolved order once, told once; an order is never closed by a check
 * heard before its resolution or on a site not operational.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Jobs } from '../../server/feature.ts';
import { MaintenanceService, type MaintenanceDeps, type WorkOrderChange } from '../../server/maintenance/service.ts';
import { WorkOrderStore } from '../../server/maintenance/store.ts';
import type { User } from '../../server/auth/users.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as unknown as MaintenanceDeps['log'];

describe.each(storeDialects())('the maintenance service on %s', (dialect) => {
  let store: TestStore;
  let clock: number;
  /** What the fleet says of site s1. */
  let site: { lastSoundVerifiedAt: number | null; condition: string; since: number };
  const users: Record<number, User> = {
    7: { id: 7, username: 'tech-a', role: 'technician', areaId: 10, createdAt: 0, disabledAt: null },
    8: { id: 8, username: 'tech-b', role: 'technician', areaId: 20, createdAt: 0, disabledAt: null },
    9: { id: 9, username: 'viewer-a', role: 'viewer', areaId: 10, createdAt: 0, disabledAt: null },
  };

  const service = () =>
    new MaintenanceService({
      store: new WorkOrderStore(store.db),
      alarms: { alarm: async (id) => (id === 'al-1' ? ({ id, kind: 'speaker_line', siteId: 's1', areaId: 11, state: 'raised' } as never) : undefined) },
      fleet: {
        listen: () => () => {},
        observation: () => ({ lastSoundVerifiedAt: site.lastSoundVerifiedAt }) as never,
        verdict: () => ({ condition: site.condition, since: site.since }) as never,
      },
      commands: { issue: async () => ({ id: 'c1' }) as never },
      users: { byId: async (id) => users[id] },
      // Area 11 (a village) lies in commune 10.
      areaPath: (areaId) => (areaId === 11 ? [11, 10, 1] : [areaId, 1]),
      jobs: new Jobs(silent),
      log: silent,
      now: () => clock,
    });

  beforeEach(async () => {
    store = await openTestStore(dialect);
    clock = 1000;
    site = { lastSoundVerifiedAt: null, condition: 'degraded', since: 0 };
  });
  afterEach(() => store.close());

  async function resolvedOrder(s: MaintenanceService) {
    const made = await s.fromAlarm('al-1', 'op', null);
    if (!made.ok) throw new Error(JSON.stringify(made.error));
    clock = 2000;
    const a = await s.act(made.value.id, { type: 'assign', assignee: { userId: 7, username: '' } }, 'op');
    expect(a).toMatchObject({ ok: true, value: { assignee: { userId: 7, username: 'tech-a' } } });
    clock = 3000;
    const r = await s.act(made.value.id, { type: 'resolve', resolution: 'đã thay cầu chì' }, 'tech-a');
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    return r.value;
  }

  it('refuses an assignee outside the site’s area or who may not act on sites', async () => {
    const s = service();
    const made = await s.fromAlarm('al-1', 'op', null);
    if (!made.ok) throw new Error('refused');
    for (const userId of [8, 9, 99])
      expect(await s.act(made.value.id, { type: 'assign', assignee: { userId, username: '' } }, 'op')).toEqual({
        ok: false,
        error: { code: 'WORK_ORDER_ASSIGNEE_OUT_OF_AREA', orderId: made.value.id },
      });
  });

  it('does not close on a check heard before the resolution, nor on a site not operational', async () => {
    const s = service();
    const o = await resolvedOrder(s);
    site = { lastSoundVerifiedAt: 2500, condition: 'operational', since: 100 };
    expect(await s.verify('s1')).toBe(0);
    site = { lastSoundVerifiedAt: 3500, condition: 'degraded', since: 100 };
    expect(await s.verify('s1')).toBe(0);
    expect((await s.store.get(o.id))?.state).toBe('resolved');
  });

  it('two servers verifying at once close the order once, and only one tells it', async () => {
    const a = service();
    const b = service();
    const o = await resolvedOrder(a);
    const told: WorkOrderChange[] = [];
    a.onChange((c) => told.push(c));
    b.onChange((c) => told.push(c));
    site = { lastSoundVerifiedAt: 3500, condition: 'operational', since: 3400 };
    clock = 4000;
    const closed = await Promise.all([a.verify('s1'), b.verify('s1'), a.sweep(), b.sweep()]);
    expect(closed.reduce((x, y) => x + y, 0)).toBe(1);
    expect(told.filter((c) => c.event.action === 'close')).toHaveLength(1);
    expect(await a.store.get(o.id)).toMatchObject({ state: 'closed', verifiedAt: 3500, closedAt: 4000 });
    expect((await a.store.events(o.id)).filter((e) => e.action === 'close')).toEqual([expect.objectContaining({ by: 'verification', from: 'resolved', to: 'closed' })]);
  });
});
