import { describe, expect, it } from 'vitest';
import { applyAction, isVerifiedAfter } from '../../server/maintenance/lifecycle.ts';
import type { WorkOrder, WorkOrderAction } from '../../server/maintenance/model.ts';
import { durationStats, repairTimes } from '../../server/maintenance/repair-times.ts';

const order = (over: Partial<WorkOrder> = {}): WorkOrder => ({
  id: 1,
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
  createdAt: 0,
  createdBy: 'op',
  updatedAt: 0,
  resolvedAt: null,
  resolvedBy: null,
  verifiedAt: null,
  closedAt: null,
  cancelledAt: null,
  ...over,
});

const step = (o: WorkOrder, a: WorkOrderAction, at: number, by = 'tech') => {
  const r = applyAction(o, a, by, at);
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.error)}`);
  return r.value;
};

describe('a work order lifecycle', () => {
  it('goes open → assigned → visit planned → resolved → closed, each step audited with who and when', () => {
    const a = step(order(), { type: 'assign', assignee: { userId: 7, username: 'tech' } }, 10, 'op');
    expect(a.event).toMatchObject({ from: 'open', to: 'assigned', by: 'op', at: 10, action: 'assign' });
    const p = step(a.order, { type: 'plan_visit', on: 100 }, 20);
    expect(p.order.state).toBe('visit_planned');
    const r = step(p.order, { type: 'resolve', resolution: 'replaced the line fuse' }, 30);
    expect(r.order).toMatchObject({ state: 'resolved', resolvedAt: 30, resolvedBy: 'tech' });
    const c = step(r.order, { type: 'close', verifiedAt: 31 }, 32, 'verification');
    expect(c.order).toMatchObject({ state: 'closed', verifiedAt: 31, closedAt: 32 });
    expect(c.event).toMatchObject({ from: 'resolved', to: 'closed', by: 'verification' });
  });

  it('a sound check heard before the resolution does not close it', () => {
    const r = applyAction(order({ state: 'resolved', resolvedAt: 50 }), { type: 'close', verifiedAt: 50 }, 'verification', 60);
    expect(r).toEqual({ ok: false, error: { code: 'WORK_ORDER_NOT_VERIFIED', orderId: 1 } });
  });

  it('refuses resolving an order nobody owns, and anything on a closed or cancelled one', () => {
    expect(applyAction(order(), { type: 'resolve', resolution: 'x' }, 'tech', 1)).toMatchObject({
      ok: false,
      error: { code: 'WORK_ORDER_STATE', state: 'open', action: 'resolve' },
    });
    for (const state of ['closed', 'cancelled'] as const)
      for (const a of [
        { type: 'cancel', note: 'x' },
        { type: 'assign', assignee: { userId: 1, username: 'u' } },
        { type: 'record', notes: 'n' },
      ] as WorkOrderAction[])
        expect(applyAction(order({ state }), a, 'op', 1)).toMatchObject({ ok: false, error: { code: 'WORK_ORDER_STATE', state } });
  });

  it('requires words to resolve or cancel', () => {
    expect(applyAction(order({ state: 'assigned' }), { type: 'resolve', resolution: '  ' }, 'tech', 1)).toMatchObject({ ok: false, error: { code: 'WORK_ORDER_NOTE_REQUIRED' } });
    expect(applyAction(order(), { type: 'cancel', note: '' }, 'op', 1)).toMatchObject({ ok: false, error: { code: 'WORK_ORDER_NOTE_REQUIRED' } });
  });

  it('records parts and notes without changing the state, and re-assigns before the visit', () => {
    const r = step(order({ state: 'visit_planned' }), { type: 'record', parts: [{ part: ' fuse 5A ', quantity: 2 }], notes: 'cabinet rusty' }, 5);
    expect(r.order).toMatchObject({ state: 'visit_planned', parts: [{ part: 'fuse 5A', quantity: 2 }], notes: 'cabinet rusty' });
    expect(step(r.order, { type: 'assign', assignee: { userId: 8, username: 'other' } }, 6).order).toMatchObject({ state: 'visit_planned', assignee: { username: 'other' } });
  });
});

describe('verified operational again', () => {
  const site = (lastSoundVerifiedAt: number | null, condition: string | undefined, conditionSince: number | null = 0) => ({ lastSoundVerifiedAt, condition, conditionSince });
  it('needs a verified sound check later than the resolution and the site operational', () => {
    expect(isVerifiedAfter(100, site(101, 'operational'))).toBe(true);
    expect(isVerifiedAfter(100, site(100, 'operational'))).toBe(false);
    expect(isVerifiedAfter(100, site(200, 'faulty'))).toBe(false);
    expect(isVerifiedAfter(100, site(null, 'operational'))).toBe(false);
    expect(isVerifiedAfter(100, site(200, undefined))).toBe(false);
  });

  it('a check heard while the site was still faulty does not verify the repair once the fault clears', () => {
    // Resolved at 100, checked at 150 (one line of three open: it still sounds), operational since 180.
    expect(isVerifiedAfter(100, site(150, 'operational', 180))).toBe(false);
    // The next check, heard while operational, does.
    expect(isVerifiedAfter(100, site(190, 'operational', 180))).toBe(true);
    // The check just heard, judged with the verdict it left (it made the site operational).
    expect(isVerifiedAfter(100, site(150, 'operational', null))).toBe(true);
  });
});

describe('time to acknowledge and to repair', () => {
  const H = 3600_000;
  const communeOf = (areaId: number) => (areaId === 10 || areaId === 11 ? 'c-a' : areaId === 20 ? 'c-b' : null);

  it('groups by commune and fault kind, repair measured to the verified sound check', () => {
    const rows = repairTimes(
      [
        { id: 'al-1', areaId: 10, kind: 'speaker_line', raisedAt: 0, acknowledgedAt: 1 * H },
        { id: 'al-2', areaId: 11, kind: 'speaker_line', raisedAt: 0, acknowledgedAt: 3 * H },
        { id: 'al-3', areaId: 20, kind: 'power', raisedAt: 0, acknowledgedAt: null },
        { id: 'al-4', areaId: 10, kind: 'speaker_line', raisedAt: 5 * H, acknowledgedAt: 6 * H },
      ],
      [
        { alarmId: 'al-1', state: 'closed', verifiedAt: 10 * H },
        { alarmId: 'al-2', state: 'resolved', verifiedAt: null },
        // A second, later order for the same alarm: the first verification ends the repair.
        { alarmId: 'al-4', state: 'closed', verifiedAt: 9 * H },
        { alarmId: 'al-4', state: 'closed', verifiedAt: 20 * H },
        { alarmId: null, state: 'closed', verifiedAt: 1 },
      ],
      communeOf,
      { from: 0, to: 24 * H },
    );
    expect(rows).toEqual([
      {
        communeKey: 'c-a',
        kind: 'speaker_line',
        alarms: 3,
        acknowledge: { count: 3, meanMs: Math.round((1 * H + 3 * H + 1 * H) / 3), medianMs: 1 * H, maxMs: 3 * H },
        repair: { count: 2, meanMs: 7 * H, medianMs: 7 * H, maxMs: 10 * H },
        unrepaired: 1,
      },
      { communeKey: 'c-b', kind: 'power', alarms: 1, acknowledge: null, repair: null, unrepaired: 1 },
    ]);
  });

  it('counts an alarm in the period it was raised in, and none that was never shown', () => {
    const rows = repairTimes(
      [
        { id: 'al-1', areaId: 10, kind: 'power', raisedAt: 100, acknowledgedAt: 150 },
        { id: 'al-2', areaId: 10, kind: 'power', raisedAt: null, acknowledgedAt: null },
        { id: 'al-3', areaId: 10, kind: 'power', raisedAt: 1000, acknowledgedAt: 1001 },
      ],
      [],
      communeOf,
      { from: 0, to: 1000 },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ alarms: 1, acknowledge: { count: 1, meanMs: 50 } });
  });

  it('median of an even count is the mean of the middle two', () => {
    expect(durationStats([4, 1, 3, 2])).toEqual({ count: 4, meanMs: 3, medianMs: 3, maxMs: 4 });
    expect(durationStats([])).toBeNull();
  });
});
