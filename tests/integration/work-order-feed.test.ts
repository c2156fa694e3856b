/**
 * The feed of work order changes (server/maintenance/store.ts) that every
 * server reads to tell its consoles what the others stored (service.ts
 * mirror), on both dialects:
 *
 * - a service tells another store's changes once each, in order, and never
 *   its own (told when it stored them);
 * - on PostgreSQL, two servers' pools storing changes at once while a third
 *   reads: every read continues the last one without a gap (the counter row
 *   orders the commits), so no change is passed over by a reader that read a
 *   later one first;
 * - the feed keeps only its newest rows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Jobs } from '../../server/feature.ts';
import { applyAction } from '../../server/maintenance/lifecycle.ts';
import type { WorkOrder, WorkOrderChange } from '../../server/maintenance/model.ts';
import { MaintenanceService, type MaintenanceDeps } from '../../server/maintenance/service.ts';
import { type NewWorkOrder, WorkOrderStore } from '../../server/maintenance/store.ts';
import { openPostgresStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { openTestStore, storeDialects, testDatabaseUrl, type TestStore } from '../helpers/store.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as unknown as MaintenanceDeps['log'];

const planned = (siteId: string, at: number): NewWorkOrder => ({
  source: 'planned',
  alarmId: null,
  faultKind: null,
  siteId,
  areaId: 10,
  state: 'open',
  assignee: null,
  visitPlannedFor: null,
  parts: [],
  notes: null,
  resolution: null,
  createdAt: at,
  createdBy: 'op',
  updatedAt: at,
  resolvedAt: null,
  resolvedBy: null,
  verifiedAt: null,
  closedAt: null,
  cancelledAt: null,
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function testStore(dialect: StoreDialect): Promise<TestStore> {
  const s = await openTestStore(dialect);
  cleanups.push(() => s.close());
  return s;
}

/** The service of one server over `orders`, not started: the test calls mirror() itself. */
function serviceOn(orders: WorkOrderStore, clock: () => number): MaintenanceService {
  return new MaintenanceService({
    store: orders,
    alarms: { alarm: async () => undefined },
    fleet: { listen: () => () => {}, observation: () => undefined, verdict: () => undefined },
    commands: { issue: async () => ({ id: 'c1' }) as never },
    users: { byId: async () => undefined },
    areaPath: (areaId) => [areaId],
    jobs: new Jobs(silent),
    log: silent,
    now: clock,
  });
}

/** A record action applied to `o` and stored through `orders`. */
async function record(orders: WorkOrderStore, o: WorkOrder, notes: string, at: number): Promise<WorkOrder> {
  const r = applyAction(o, { type: 'record', notes }, 'tech', at);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  expect(await orders.change(o, r.value.order, r.value.event)).toBe(true);
  return r.value.order;
}

describe.each(storeDialects())('the work order feed on %s', (dialect) => {
  it("a server tells another server's changes once each, in order, and never its own", async () => {
    const s = await testStore(dialect);
    let clock = 1000;
    const a = serviceOn(new WorkOrderStore(s.db), () => clock);
    const b = serviceOn(new WorkOrderStore(s.db), () => clock);
    const heardA: WorkOrderChange[] = [];
    const heardB: WorkOrderChange[] = [];
    a.onChange((c) => heardA.push(c));
    b.onChange((c) => heardB.push(c));
    // A change stored before a server's first look is not its to tell (its consoles were not there).
    const early = await a.planned({ siteId: 's0', areaId: 10 }, 'op', null);
    expect(await a.mirror()).toBe(0);
    expect(await b.mirror()).toBe(0);
    clock = 2000;
    const o = await a.planned({ siteId: 's1', areaId: 10 }, 'op', 'bảo dưỡng');
    clock = 3000;
    expect(await b.act(o.id, { type: 'record', notes: 'đã kiểm tra' }, 'tech')).toMatchObject({ ok: true });
    expect(await b.act(early.id, { type: 'cancel', note: 'trùng lặp' }, 'op')).toMatchObject({ ok: true });
    expect(heardA.map((c) => `${c.order.siteId} ${c.event.action}`)).toEqual(['s0 create', 's1 create']);
    expect(heardB.map((c) => `${c.order.siteId} ${c.event.action}`)).toEqual(['s1 record', 's0 cancel']);
    expect(await a.mirror()).toBe(2);
    expect(await b.mirror()).toBe(1);
    expect(await a.mirror()).toBe(0);
    expect(await b.mirror()).toBe(0);
    expect(heardA.map((c) => `${c.order.siteId} ${c.event.action} ${c.order.state}`)).toEqual(['s0 create open', 's1 create open', 's1 record open', 's0 cancel cancelled']);
    expect(heardB.map((c) => `${c.order.siteId} ${c.event.action} ${c.order.state}`)).toEqual(['s1 record open', 's0 cancel cancelled', 's1 create open']);
    // What another server is told is what the writer told: the order as the change left it, and the audited event.
    expect(heardB[2]).toEqual(heardA[1]);
    expect(heardA[2]).toEqual(heardB[0]);
  });

  it('keeps only its newest changes', async () => {
    const s = await testStore(dialect);
    const orders = new WorkOrderStore(s.db);
    let o = (await orders.create(planned('s1', 1000), 'op'))!;
    for (let i = 0; i < 9; i++) o = await record(orders, o, `lần ${i}`, 2000 + i);
    expect(await orders.feedHead()).toBe(10);
    expect(await orders.trimFeed(4)).toBe(6);
    expect((await orders.feedAfter(0, 100)).map((c) => c.seq)).toEqual([7, 8, 9, 10]);
    expect(await orders.trimFeed(4)).toBe(0);
  });
});

describe.skipIf(!storeDialects().includes('postgres'))('the work order feed with two servers writing at once on PostgreSQL', () => {
  it('a reader never finds a gap: every change it reads continues the last one it read', async () => {
    const main = await testStore('postgres');
    const pools: Store[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await openPostgresStore(testDatabaseUrl()!, { max: 6, searchPath: main.where });
      cleanups.push(() => p.close());
      pools.push(p);
    }
    const writers = pools.map((p) => new WorkOrderStore(p.db));
    const reader = new WorkOrderStore(main.db);
    const orders = await Promise.all(Array.from({ length: 12 }, (_, i) => writers[i % 2]!.create(planned(`s${i}`, 1000), 'op')));
    let last = await reader.feedHead();
    const read: number[] = [];
    let writing = true;
    const readLoop = (async () => {
      for (;;) {
        // Done only when a read begun after the last write committed finds nothing: one begun before may miss it.
        const afterWrites = !writing;
        const batch = await reader.feedAfter(last, 1000);
        for (const c of batch) {
          expect(c.seq, `read ${c.seq} after ${last}`).toBe(last + 1);
          last = c.seq;
          read.push(c.seq);
        }
        if (afterWrites && batch.length === 0) break;
      }
    })();
    // Each order changed eight times in turn, every order at once, through both pools.
    await Promise.all(
      orders.map(async (o, i) => {
        let cur = o!;
        for (let k = 0; k < 8; k++) cur = await record(writers[(i + k) % 2]!, cur, `lần ${k}`, 2000 + k);
      }),
    );
    writing = false;
    await readLoop;
    expect(read).toHaveLength(12 * 8);
  }, 120_000);
});
