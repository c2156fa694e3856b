/**
 * The alarm store's reads for people (list and filter, comments), on SQLite
 * and PostgreSQL: what GET /api/alarms and an alarm's page read; and how a
 * batch of the engine's effects becomes rows (storeWrites, pure).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlarmEffect } from '../../server/alarms/alarm-engine.ts';
import type { Alarm } from '../../server/alarms/model.ts';
import { AlarmStore, storeWrites } from '../../server/alarms/store.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0);

let n = 0;
function alarm(over: Partial<Alarm> & Pick<Alarm, 'siteId' | 'kind' | 'areaId'>): Alarm {
  n += 1;
  const raisedAt = over.raisedAt === undefined ? T0 + n * 1000 : over.raisedAt;
  return {
    id: `al-${n}`,
    key: `${over.siteId}/${over.kind}`,
    siteKind: 'cluster',
    severity: 'minor',
    reasons: [{ code: 'line_open', params: { line: 2 } }],
    state: 'raised',
    detectedAt: T0 + n * 1000,
    raisedAt,
    updatedAt: T0 + n * 1000,
    count: 1,
    active: true,
    inactiveSince: null,
    acknowledged: null,
    cleared: null,
    incidentId: null,
    ...over,
  };
}

describe.each(storeDialects())('alarm lists and comments on %s', (dialect) => {
  let store: TestStore;
  let alarms: AlarmStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    alarms = new AlarmStore(store.db);
  });
  afterEach(() => store.close());

  const put = (...as: Alarm[]) => alarms.apply(as.map((a): AlarmEffect => ({ type: a.state === 'pending' ? 'alarm_pending' : 'alarm_raised', alarm: a })));

  it('filters by area, severity, state, kind, site and time raised, newest first, a page at a time with the total', async () => {
    const a1 = alarm({ siteId: 'CL-A', kind: 'speaker_line', areaId: 10 });
    const a2 = alarm({ siteId: 'CL-B', kind: 'amplifier_fault', areaId: 11, severity: 'major' });
    const a3 = alarm({ siteId: 'CL-C', kind: 'power', areaId: 20, state: 'acknowledged', acknowledged: { at: T0, by: 'lan', note: null } });
    const a4 = alarm({ siteId: 'CL-A', kind: 'site_offline', areaId: 10, state: 'cleared', cleared: { at: T0, cause: 'condition_cleared', by: null, note: null } });
    const pending = alarm({ siteId: 'CL-D', kind: 'power', areaId: 10, state: 'pending', raisedAt: null });
    await put(a1, a2, a3, a4, pending);
    const ids = async (q: Partial<Parameters<AlarmStore['list']>[0]>) => (await alarms.list({ limit: 100, offset: 0, ...q })).alarms.map((a) => a.id);

    // Never the pending one: it is not shown.
    expect(await ids({})).toEqual([a4.id, a3.id, a2.id, a1.id]);
    expect(await ids({ areaIds: [10, 11] })).toEqual([a4.id, a2.id, a1.id]);
    expect(await ids({ areaIds: [] })).toEqual([]);
    expect(await ids({ severities: ['major'] })).toEqual([a2.id]);
    expect(await ids({ states: ['raised', 'acknowledged'] })).toEqual([a3.id, a2.id, a1.id]);
    expect(await ids({ kinds: ['power', 'speaker_line'] })).toEqual([a3.id, a1.id]);
    expect(await ids({ siteId: 'CL-A' })).toEqual([a4.id, a1.id]);
    expect(await ids({ from: a2.raisedAt!, to: a4.raisedAt! })).toEqual([a3.id, a2.id]);
    const page = await alarms.list({ limit: 2, offset: 1 });
    expect(page.alarms.map((a) => a.id)).toEqual([a3.id, a2.id]);
    expect(page.total).toBe(4);
    expect(page.alarms[0]).toEqual(a3);
  });

  it('keeps comments per alarm, oldest first, with who wrote them', async () => {
    const a = alarm({ siteId: 'CL-A', kind: 'speaker_line', areaId: 10 });
    const b = alarm({ siteId: 'CL-B', kind: 'speaker_line', areaId: 10 });
    await put(a, b);
    await alarms.comment({ alarmId: a.id, at: T0 + 5, by: 'lan', note: 'Dây bị chuột cắn' });
    await alarms.comment({ alarmId: b.id, at: T0 + 6, by: 'hùng', note: 'khác' });
    await alarms.comment({ alarmId: a.id, at: T0 + 7, by: 'hùng', note: 'Đã thay 20 m dây' });
    expect(await alarms.comments(a.id)).toEqual([
      { alarmId: a.id, at: T0 + 5, by: 'lan', note: 'Dây bị chuột cắn' },
      { alarmId: a.id, at: T0 + 7, by: 'hùng', note: 'Đã thay 20 m dây' },
    ]);
    // A comment on an alarm never stored is refused by the store (its foreign key).
    await expect(alarms.comment({ alarmId: 'al-999', at: T0, by: 'lan', note: 'x' })).rejects.toThrow();
  });
});

describe('a batch as rows', () => {
  it('writes each alarm and incident once as it ended, deletes one whose last effect is a drop, and keeps every history row in order', () => {
    const a = alarm({ siteId: 'CL-A', kind: 'power', areaId: 10, state: 'pending', raisedAt: null });
    const aRaised: Alarm = { ...a, state: 'raised', raisedAt: T0 };
    const aAcked: Alarm = { ...aRaised, state: 'acknowledged', acknowledged: { at: T0 + 1, by: 'lan', note: null } };
    const b = alarm({ siteId: 'CL-B', kind: 'power', areaId: 10, state: 'pending', raisedAt: null });
    const inc = {
      id: 'in-1',
      kind: 'power_outage' as const,
      alarmKind: 'power' as const,
      areaId: 10,
      rootAlarmId: null,
      state: 'open' as const,
      openedAt: T0,
      lastJoinedAt: T0,
      resolvedAt: null,
      severity: 'minor' as const,
      members: [],
      counts: { members: 2, active: 2, stations: 0, clusters: 2 },
    };
    const incLater = { ...inc, counts: { ...inc.counts, members: 3 } };
    const w = storeWrites([
      { type: 'alarm_pending', alarm: a },
      { type: 'alarm_pending', alarm: b },
      { type: 'alarm_raised', alarm: aRaised },
      { type: 'history', event: { type: 'raised', alarmId: a.id, at: T0, count: 1, severity: 'minor', reasons: [] } },
      { type: 'incident_opened', incident: inc },
      { type: 'notification_due', alarmId: a.id, siteId: 'CL-A', areaId: 10, kind: 'power', severity: 'minor', incidentId: null, cause: 'raised', at: T0 },
      { type: 'alarm_updated', alarm: aAcked },
      { type: 'history', event: { type: 'acknowledged', alarmId: a.id, at: T0 + 1, count: 1, by: 'lan', note: null } },
      { type: 'alarm_dropped', alarm: b },
      { type: 'incident_updated', incident: incLater },
    ]);
    expect(w.alarms).toEqual([aAcked]);
    expect(w.dropped).toEqual([b.id]);
    expect(w.incidents).toEqual([incLater]);
    expect(w.history.map((h) => h.type)).toEqual(['raised', 'acknowledged']);
  });
});
