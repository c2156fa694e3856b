import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { AreaLevel, AreaNode } from '../../server/registry/model.ts';
import { AlarmAreaSummary, type SummarizedAlarm } from '../../server/alarms/area-summary.ts';
import { ALARM_SEVERITIES, type AlarmState } from '../../server/alarms/model.ts';

let nextId = 1;
function area(code: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextId++, key: `2020.${code}`, code, version: '2020', name: code, level, parentId: parent?.id ?? null };
}
const P = area('10', 'province', null);
const D1 = area('080', 'district', P);
const D2 = area('081', 'district', P);
const C1 = area('02647', 'commune', D1);
const C2 = area('02650', 'commune', D1);
const C3 = area('02700', 'commune', D2);
const V1 = area('0264701', 'village', C1);
const V2 = area('0264702', 'village', C1);
const V3 = area('0265001', 'village', C2);
const V4 = area('0270001', 'village', C3);
const NODES = [P, D1, D2, C1, C2, C3, V1, V2, V3, V4];
const RETIRED = 999;
const index = AreaIndex.build(NODES);

/** From scratch: every raised or acknowledged alarm in the subtree, by severity and state. */
function recount(alarms: Iterable<SummarizedAlarm>, root: AreaNode) {
  const bySeverity = Object.fromEntries(ALARM_SEVERITIES.map((s) => [s, { raised: 0, acknowledged: 0 }]));
  let total = 0;
  for (const a of alarms) {
    if ((a.state !== 'raised' && a.state !== 'acknowledged') || !index.isInSubtree(a.areaId, root.id)) continue;
    bySeverity[a.severity]![a.state]++;
    total++;
  }
  const worst = ALARM_SEVERITIES.find((s) => bySeverity[s]!.raised + bySeverity[s]!.acknowledged > 0) ?? null;
  return { total, bySeverity, worst };
}

describe('area alarm summary: counts by severity and state, propagated up the area tree', () => {
  it('an alarm counts in its village, commune, district and province, and nowhere else', () => {
    const s = new AlarmAreaSummary(index);
    s.upsert({ id: 'al-1', areaId: V1.id, severity: 'major', state: 'raised' });
    for (const a of [V1, C1, D1, P]) expect(s.of(a.key)!.bySeverity.major, a.code).toEqual({ raised: 1, acknowledged: 0 });
    for (const a of [V2, C2, D2, C3, V4]) expect(s.of(a.key)!.total, a.code).toBe(0);
    expect(s.of(C1.key)).toMatchObject({ area: { key: '2020.02647', level: 'commune' }, total: 1, raised: 1, acknowledged: 0, worst: 'major' });
  });

  it('acknowledging moves the count between states; clearing takes it out; pending is never counted', () => {
    const s = new AlarmAreaSummary(index);
    s.upsert({ id: 'al-1', areaId: V3.id, severity: 'critical', state: 'raised' });
    s.upsert({ id: 'al-1', areaId: V3.id, severity: 'critical', state: 'acknowledged' });
    expect(s.of(D1.key)!.bySeverity.critical).toEqual({ raised: 0, acknowledged: 1 });
    s.upsert({ id: 'al-1', areaId: V3.id, severity: 'critical', state: 'cleared' });
    expect(s.of(P.key)!.total).toBe(0);
    expect(s.size).toBe(0);
    s.upsert({ id: 'al-2', areaId: V3.id, severity: 'minor', state: 'pending' });
    expect(s.of(P.key)!.total).toBe(0);
  });

  it('an alarm whose area is retired is kept but counted nowhere; an unknown area key answers undefined', () => {
    const s = new AlarmAreaSummary(index);
    s.upsert({ id: 'al-1', areaId: RETIRED, severity: 'warning', state: 'raised' });
    expect(s.size).toBe(1);
    expect(s.of(P.key)!.total).toBe(0);
    expect(s.of('2020.nope')).toBeUndefined();
  });

  it('any sequence of changes gives the counts of a recount from scratch, never a negative one', () => {
    const areas = [...NODES.map((n) => n.id), RETIRED];
    const states: AlarmState[] = ['pending', 'raised', 'acknowledged', 'cleared'];
    const change = fc.oneof(
      fc.record({
        op: fc.constant('upsert' as const),
        id: fc.nat(12),
        areaId: fc.constantFrom(...areas),
        severity: fc.constantFrom(...ALARM_SEVERITIES),
        state: fc.constantFrom(...states),
      }),
      fc.record({ op: fc.constant('remove' as const), id: fc.nat(12) }),
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 80 }), (changes) => {
        const s = new AlarmAreaSummary(index);
        const live = new Map<string, SummarizedAlarm>();
        for (const c of changes) {
          const id = `al-${c.id}`;
          if (c.op === 'remove') {
            s.remove(id);
            live.delete(id);
          } else {
            const a = { id, areaId: c.areaId, severity: c.severity, state: c.state };
            s.upsert(a);
            live.set(id, a);
          }
          expect(s.anyNegative()).toBe(false);
        }
        for (const n of NODES) {
          const { area: _area, raised: _r, acknowledged: _a, ...got } = s.of(n.key)!;
          expect(got, n.code).toEqual(recount(live.values(), n));
        }
        // Built in one go from the final alarms: the same counts.
        const built = AlarmAreaSummary.build(index, live.values());
        for (const n of NODES) expect(built.of(n.key), n.code).toEqual(s.of(n.key));
      }),
      { numRuns: 200 },
    );
  });
});
