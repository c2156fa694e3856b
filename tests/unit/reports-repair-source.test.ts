/**
 * Which end a report's fault takes (sources.ts repairsByWorkOrder, the model's
 * repair source): a work order's first verified close, open while its order
 * is not closed, the alarm's clearing when it has no order or only cancelled
 * ones; the figures count the repairs timed by work orders.
 */
import { describe, expect, it } from 'vitest';
import type { WorkOrder } from '../../server/maintenance/model.ts';
import { buildReport } from '../../server/reports/report-model.ts';
import { repairsByWorkOrder } from '../../server/reports/sources.ts';
import { parsePeriod } from '../../server/reports/period.ts';
import type { AreaNode } from '../../server/registry/model.ts';

type O = Pick<WorkOrder, 'alarmId' | 'state' | 'verifiedAt'>;

describe('repairsByWorkOrder', () => {
  it('takes the first verified close of an alarm’s orders, null while none is closed, nothing for cancelled or planned orders', () => {
    const orders: O[] = [
      { alarmId: 'a', state: 'closed', verifiedAt: 500 },
      { alarmId: 'a', state: 'closed', verifiedAt: 300 },
      { alarmId: 'a', state: 'open', verifiedAt: null },
      { alarmId: 'b', state: 'resolved', verifiedAt: null },
      { alarmId: 'c', state: 'cancelled', verifiedAt: null },
      { alarmId: null, state: 'closed', verifiedAt: 100 },
      { alarmId: 'd', state: 'assigned', verifiedAt: null },
      { alarmId: 'd', state: 'closed', verifiedAt: 900 },
    ];
    expect(Object.fromEntries(repairsByWorkOrder(orders))).toEqual({ a: 300, b: null, d: 900 });
  });
});

describe('a report’s faults by repair source', () => {
  it('counts repairs timed by work orders apart, and a fault whose order is not closed as open', () => {
    const period = parsePeriod('2026-11')!;
    const areas: AreaNode[] = [
      { id: 1, key: '2025.10', code: '10', version: '2025', name: 'Tỉnh Lào Cai', level: 'province', parentId: null },
      { id: 2, key: '2025.02683', code: '02683', version: '2025', name: 'Xã Bát Xát', level: 'commune', parentId: 1 },
    ];
    const t0 = period.from + 3_600_000;
    const r = buildReport({
      period,
      rootKey: '2025.10',
      areas,
      sites: [{ siteId: 's1', name: 'Đài xã Bát Xát', kind: 'station', areaId: 2 }],
      asRun: [],
      items: new Map(),
      live: [],
      alerts: [],
      conditions: new Map(),
      faults: [
        { siteId: 's1', kind: 'speaker_line', startedAt: t0, endedAt: t0 + 7_200_000, repairSource: 'work_order' },
        { siteId: 's1', kind: 'speaker_line', startedAt: t0, endedAt: t0 + 3_600_000, repairSource: 'alarm' },
        { siteId: 's1', kind: 'speaker_line', startedAt: t0, endedAt: null, repairSource: 'work_order' },
        { siteId: 's1', kind: 'offline', startedAt: t0, endedAt: t0 + 60_000 },
      ],
      generatedAt: period.to,
    });
    expect(r.totals.faults.byKind.speaker_line).toMatchObject({ count: 3, repaired: 2, repairedByWorkOrder: 1, open: 1, meanRepairMs: 5_400_000 });
    expect(r.totals.faults.total).toMatchObject({ count: 4, repaired: 3, repairedByWorkOrder: 1 });
    expect(r.faults.map((f) => f.repairSource)).toEqual(['work_order', 'alarm', 'work_order', 'alarm']);
  });
});
