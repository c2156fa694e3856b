import { describe, expect, it } from 'vitest';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { AreaLevel, AreaNode, SiteKind } from '../../server/registry/model.ts';
import { openAlarm } from '../../server/alarms/alarm-lifecycle.ts';
import { childChanged, communeOf, DEFAULT_INCIDENT_POLICY, type Incident, placeAlarm } from '../../server/alarms/incidents.ts';
import type { Alarm, AlarmKind, AlarmSeverity } from '../../server/alarms/model.ts';

const T = Date.UTC(2026, 11, 5, 2, 0);
const W = DEFAULT_INCIDENT_POLICY.windowMs;

let nextAreaId = 1;
function area(code: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextAreaId++, key: `2020.${code}`, code, version: '2020', name: code, level, parentId: parent?.id ?? null };
}
// The 2020 three-level tree: province → district → commune → village.
const P = area('10', 'province', null);
const D = area('080', 'district', P);
const C1 = area('02647', 'commune', D);
const C2 = area('02650', 'commune', D);
const V1 = area('0264701', 'village', C1);
const V2 = area('0264702', 'village', C1);
const H1 = area('026470101', 'village', V1);
const V3 = area('0265001', 'village', C2);
const index = AreaIndex.build([P, D, C1, C2, V1, V2, H1, V3]);

let nextId = 0;
const ids = () => `in-${++nextId}`;

function raised(id: string, siteKind: SiteKind, at: AreaNode, raisedAt: number, kind: AlarmKind = 'site_offline', severity: AlarmSeverity = 'major'): Alarm {
  const a = openAlarm(id, { siteId: `S-${id}`, kind: siteKind, areaId: at.id }, { kind, severity, reasons: [] }, raisedAt);
  return { ...a, state: 'raised', raisedAt };
}

describe('incidents: alarms with one cause shown as one', () => {
  it('the commune of an area is itself, or its nearest commune ancestor (through a hamlet in a village)', () => {
    expect(communeOf(C1.id, index)).toBe(C1.id);
    expect(communeOf(H1.id, index)).toBe(C1.id);
    expect(communeOf(D.id, index)).toBeNull();
    expect(communeOf(9999, index)).toBeNull();
  });

  it('a lone offline cluster is just an alarm', () => {
    const a = raised('a1', 'cluster', V1, T);
    expect(placeAlarm(a, T, [a], [], index, DEFAULT_INCIDENT_POLICY, ids)).toBeNull();
  });

  it('a station and a cluster of its commune offline within the window open an incident, the station at its root', () => {
    const st = raised('a1', 'station', C1, T, 'site_offline', 'critical');
    const cl = raised('a2', 'cluster', H1, T + 60_000);
    const p = placeAlarm(cl, T + 60_000, [st, cl], [], index, DEFAULT_INCIDENT_POLICY, ids)!;
    expect(p.type).toBe('opened');
    expect(p.incident).toMatchObject({ kind: 'cut', alarmKind: 'site_offline', areaId: C1.id, rootAlarmId: 'a1', state: 'open', severity: 'critical' });
    expect(p.incident.counts).toEqual({ members: 2, active: 2, stations: 1, clusters: 1 });
    expect(p.alarms.map((a) => [a.id, a.incidentId])).toEqual([
      ['a1', p.incident.id],
      ['a2', p.incident.id],
    ]);
  });

  it('alarms of another commune, of another kind, or raised outside the window do not group', () => {
    const cl = raised('a2', 'cluster', V1, T + W + 1);
    const others = [raised('b1', 'cluster', V3, T + W), raised('b2', 'cluster', V2, T), raised('b3', 'cluster', V2, T + W, 'speaker_line')];
    expect(placeAlarm(cl, T + W + 1, [cl, ...others], [], index, DEFAULT_INCIDENT_POLICY, ids)).toBeNull();
    // An alarm whose fault is gone for now (in its hold-down) does not start a cut either.
    const gone = { ...raised('b4', 'cluster', V2, T + W), active: false, inactiveSince: T + W };
    expect(placeAlarm(cl, T + W + 1, [cl, gone], [], index, DEFAULT_INCIDENT_POLICY, ids)).toBeNull();
  });

  it('a cut seen site by site keeps joining the open incident (a sliding window); three sites make it one level worse', () => {
    const a1 = raised('a1', 'cluster', V1, T);
    const a2 = raised('a2', 'cluster', V2, T + 100_000);
    const opened = placeAlarm(a2, T + 100_000, [a1, a2], [], index, DEFAULT_INCIDENT_POLICY, ids)!;
    expect(opened.incident.severity).toBe('major');
    const a3 = raised('a3', 'cluster', H1, T + 100_000 + W);
    const joined = placeAlarm(a3, T + 100_000 + W, [...opened.alarms, a3], [opened.incident], index, DEFAULT_INCIDENT_POLICY, ids)!;
    expect(joined.type).toBe('joined');
    expect(joined.incident.id).toBe(opened.incident.id);
    expect(joined.incident.counts).toEqual({ members: 3, active: 3, stations: 0, clusters: 3 });
    expect(joined.incident.severity).toBe('critical');
    expect(joined.alarms).toEqual([{ ...a3, incidentId: opened.incident.id }]);
  });

  it('a power outage groups like a cut, as its own incident', () => {
    const a1 = raised('a1', 'cluster', V1, T, 'power', 'minor');
    const a2 = raised('a2', 'cluster', V2, T + 30_000, 'power', 'minor');
    const p = placeAlarm(a2, T + 30_000, [a1, a2], [], index, DEFAULT_INCIDENT_POLICY, ids)!;
    expect(p.incident).toMatchObject({ kind: 'power_outage', severity: 'minor' });
  });

  it('resolved when its last child is cleared, not before', () => {
    const a1 = raised('a1', 'station', C1, T, 'site_offline', 'critical');
    const a2 = raised('a2', 'cluster', V1, T);
    let inc: Incident = placeAlarm(a2, T, [a1, a2], [], index, DEFAULT_INCIDENT_POLICY, ids)!.incident;
    const clear = (a: Alarm, at: number): Alarm => ({ ...a, state: 'cleared', cleared: { at, cause: 'condition_cleared', by: null, note: null } });
    inc = childChanged(inc, clear(a1, T + 1000), T + 1000, DEFAULT_INCIDENT_POLICY);
    expect(inc).toMatchObject({ state: 'open', severity: 'critical', counts: { active: 1 } });
    // Nothing it shows moved: the same object.
    expect(childChanged(inc, a2, T + 1500, DEFAULT_INCIDENT_POLICY)).toBe(inc);
    inc = childChanged(inc, clear(a2, T + 2000), T + 2000, DEFAULT_INCIDENT_POLICY);
    expect(inc).toMatchObject({ state: 'resolved', resolvedAt: T + 2000, counts: { active: 0, members: 2 } });
  });
});
