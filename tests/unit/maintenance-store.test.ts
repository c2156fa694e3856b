import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyAction } from '../../server/maintenance/lifecycle.ts';
import type { WorkOrder, WorkOrderAction } from '../../server/maintenance/model.ts';
import { type NewWorkOrder, WorkOrderStore } from '../../server/maintenance/store.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const fresh = (over: Partial<NewWorkOrder> = {}): NewWorkOrder => ({
  source: 'alarm',
  alarmId: 'al-1',
  faultKind: 'speaker_line',
  siteId: 's1',
  areaId: 10,
  state: 'open',
  assignee: null,
  visitPlannedFor: null,
  parts: [],
  notes: null,
  resolution: null,
  createdAt: 1000,
  createdBy: 'op',
  updatedAt: 1000,
  resolvedAt: null,
  resolvedBy: null,
  verifiedAt: null,
  closedAt: null,
  cancelledAt: null,
  ...over,
});

describe.each(storeDialects())('the work order store on %s', (dialect) => {
  let store: TestStore;
  let orders: WorkOrderStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    orders = new WorkOrderStore(store.db);
  });
  afterEach(() => store.close());

  const act = async (o: WorkOrder, a: WorkOrderAction, by: string, at: number) => {
    const r = applyAction(o, a, by, at);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    expect(await orders.change(o, r.value.order, r.value.event)).toBe(true);
    return r.value.order;
  };

  it('keeps an order and every transition with who and when, parts and notes as written', async () => {
    const o = (await orders.create(fresh(), 'op'))!;
    expect(o.id).toBeTypeOf('number');
    let cur = await act(o, { type: 'assign', assignee: { userId: 7, username: 'tech-a' } }, 'op', 2000);
    cur = await act(cur, { type: 'plan_visit', on: 86_400_000 }, 'tech-a', 3000);
    cur = await act(cur, { type: 'record', parts: [{ part: 'dây loa 2x1.5', quantity: 30 }], notes: 'cột bị nghiêng' }, 'tech-a', 4000);
    cur = await act(cur, { type: 'resolve', resolution: 'nối lại dây' }, 'tech-a', 5000);
    expect(await orders.get(o.id)).toEqual(cur);
    expect(cur).toMatchObject({ state: 'resolved', assignee: { userId: 7, username: 'tech-a' }, visitPlannedFor: 86_400_000, parts: [{ part: 'dây loa 2x1.5', quantity: 30 }] });
    const trail = await orders.events(o.id);
    expect(trail.map((e) => [e.action, e.from, e.to, e.by, e.at])).toEqual([
      ['create', null, 'open', 'op', 1000],
      ['assign', 'open', 'assigned', 'op', 2000],
      ['plan_visit', 'assigned', 'visit_planned', 'tech-a', 3000],
      ['record', 'visit_planned', 'visit_planned', 'tech-a', 4000],
      ['resolve', 'visit_planned', 'resolved', 'tech-a', 5000],
    ]);
    expect(await orders.resolvedOf('s1')).toEqual([cur]);
  });

  it('one active order per alarm: a second is refused until the first is cancelled', async () => {
    const o = (await orders.create(fresh(), 'op'))!;
    expect(await orders.create(fresh(), 'other')).toBeUndefined();
    await act(o, { type: 'cancel', note: 'trùng' }, 'op', 2000);
    expect(await orders.create(fresh({ createdAt: 3000, updatedAt: 3000 }), 'op')).toMatchObject({ alarmId: 'al-1', state: 'open' });
    // Planned maintenance has no alarm: any number of them.
    expect(await orders.create(fresh({ source: 'planned', alarmId: null, faultKind: null }), 'op')).toBeDefined();
    expect(await orders.create(fresh({ source: 'planned', alarmId: null, faultKind: null }), 'op')).toBeDefined();
  });

  it('the automatic close happens once: two servers closing from the same resolved order, one wins and one audit row is written', async () => {
    let o = (await orders.create(fresh(), 'op'))!;
    o = await act(o, { type: 'assign', assignee: { userId: 7, username: 't' } }, 'op', 2000);
    o = await act(o, { type: 'resolve', resolution: 'done' }, 't', 3000);
    const close = applyAction(o, { type: 'close', verifiedAt: 3500 }, 'verification', 4000);
    const close2 = applyAction(o, { type: 'close', verifiedAt: 3500 }, 'verification', 4001);
    if (!close.ok || !close2.ok) throw new Error('refused');
    const won = await Promise.all([orders.change(o, close.value.order, close.value.event), orders.change(o, close2.value.order, close2.value.event)]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await orders.events(o.id)).filter((e) => e.action === 'close')).toHaveLength(1);
    expect((await orders.get(o.id))?.state).toBe('closed');
    expect(await orders.resolvedOf()).toEqual([]);
  });

  it('lists by area, state, site and assignee, newest first, and finds the orders of alarms', async () => {
    const a = (await orders.create(fresh({ alarmId: 'al-1', areaId: 10 }), 'op'))!;
    const b = (await orders.create(fresh({ alarmId: 'al-2', areaId: 20, siteId: 's2' }), 'op'))!;
    await act(b, { type: 'assign', assignee: { userId: 9, username: 'b' } }, 'op', 2000);
    expect((await orders.list({ areaIds: [10], limit: 10, offset: 0 })).orders.map((o) => o.id)).toEqual([a.id]);
    expect((await orders.list({ limit: 10, offset: 0 })).orders.map((o) => o.id)).toEqual([b.id, a.id]);
    expect((await orders.list({ states: ['assigned'], limit: 10, offset: 0 })).total).toBe(1);
    expect((await orders.list({ assigneeId: 9, limit: 10, offset: 0 })).orders.map((o) => o.id)).toEqual([b.id]);
    expect((await orders.list({ siteId: 's2', limit: 10, offset: 0 })).total).toBe(1);
    expect((await orders.list({ areaIds: [], limit: 10, offset: 0 })).total).toBe(0);
    expect((await orders.ofAlarms(['al-2', 'al-9'])).map((o) => o.id)).toEqual([b.id]);
  });
});
