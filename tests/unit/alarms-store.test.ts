import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmEngine, type AlarmEngineContext, type AlarmEffect, type AlarmInput } from '../../server/alarms/alarm-engine.ts';
import { DEFAULT_DAMPING_POLICY } from '../../server/alarms/flap-damping.ts';
import { DEFAULT_INCIDENT_POLICY } from '../../server/alarms/incidents.ts';
import type { AlarmHistoryEvent } from '../../server/alarms/model.ts';
import { AlarmStore, restoreAlarmStateFrom } from '../../server/alarms/store.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaLevel, AreaNode, SiteKind } from '../../server/registry/model.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0);
const HOLD = DEFAULT_DAMPING_POLICY.holdDownMs;

let nextAreaId = 1;
const area = (code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode => ({
  id: nextAreaId++,
  key: `2025.${code}`,
  code,
  version: '2025',
  name,
  level,
  parentId: parent?.id ?? null,
});
const P = area('15', 'Lào Cai', 'province', null);
const C1 = area('02647', 'Xã Bản Lầu', 'commune', P);
const V1 = area('0264701', 'Thôn Na Pên', 'village', C1);
const V2 = area('0264702', 'Thôn Lùng Cẩu', 'village', C1);
const CTX: AlarmEngineContext = { index: AreaIndex.build([P, C1, V1, V2]), damping: DEFAULT_DAMPING_POLICY, incidents: DEFAULT_INCIDENT_POLICY };
const SITES: Record<string, { kind: SiteKind; areaId: number }> = {
  'ST-BL': { kind: 'station', areaId: C1.id },
  'CL-NP': { kind: 'cluster', areaId: V1.id },
  'CL-LC': { kind: 'cluster', areaId: V2.id },
};
const site = (id: string) => ({ siteId: id, ...SITES[id]! });

const operational = (siteId: string): SiteVerdict => ({ siteId, condition: 'operational', reasons: [] });
const offline = (siteId: string, since: number): SiteVerdict => ({
  siteId,
  condition: 'offline',
  reasons: [{ code: 'offline', message: 'offline', severity: 'offline', params: { since, cause: 'disconnected' } }],
});
const amplifier = (siteId: string): SiteVerdict => ({
  siteId,
  condition: 'faulty',
  reasons: [{ code: 'amplifier_fault', message: 'amplifier fault', severity: 'faulty', params: { fault: 'overheat', temperatureC: 91 } }],
});
const lineOpen = (siteId: string): SiteVerdict => ({
  siteId,
  condition: 'degraded',
  reasons: [{ code: 'line_open', message: 'line open', severity: 'degraded', params: { line: 2, status: 'open' } }],
});

describe.each(storeDialects())('the alarm store on %s', (dialect) => {
  let store: TestStore;
  let alarms: AlarmStore;
  let engine: AlarmEngine;
  let effects: AlarmEffect[];

  beforeEach(async () => {
    store = await openTestStore(dialect);
    alarms = new AlarmStore(store.db);
    engine = new AlarmEngine(CTX);
    effects = [];
  });
  afterEach(() => store.close());

  /** What the service will do: a step, its effects stored before anything is acknowledged. */
  const run = async (input: AlarmInput) => {
    for (let due = engine.nextDueAt(); due !== null && due <= input.at; due = engine.nextDueAt()) {
      const t = engine.step({ type: 'tick', at: due });
      effects.push(...t.effects);
      await alarms.apply(t.effects);
    }
    const r = engine.step(input);
    effects.push(...r.effects);
    await alarms.apply(r.effects);
    return r;
  };
  const verdict = (id: string, at: number, v: SiteVerdict) => run({ type: 'verdict', at, site: site(id), verdict: v });

  it('keeps what the engine holds: a restart restores the same open alarms, incidents and id counter', async () => {
    for (const id of Object.keys(SITES)) await verdict(id, T0, operational(id));
    // A commune cut: the station and both clusters offline, one incident.
    await verdict('CL-NP', T0 + 70_000, offline('CL-NP', T0 + 10_000));
    await verdict('ST-BL', T0 + 75_000, offline('ST-BL', T0 + 10_000));
    await verdict('CL-LC', T0 + 90_000, offline('CL-LC', T0 + 10_000));
    const stationAlarm = engine.state.open.get('ST-BL/site_offline')!;
    expect((await run({ type: 'acknowledge', at: T0 + 100_000, alarmId: stationAlarm.id, by: 'tech-lan', note: 'đang lên xã' })).rejected).toBeNull();
    expect(engine.state.incidents.size).toBe(1);

    const restored = await restoreAlarmStateFrom(alarms);
    expect(new Map(restored.open)).toEqual(new Map(engine.state.open));
    expect(new Map(restored.incidents)).toEqual(new Map(engine.state.incidents));
    expect(restored.seq).toBe(engine.state.seq);

    // The next server carries on: the sites come back, every alarm clears, the incident resolves; no id is reused.
    const next = new AlarmEngine(CTX, restored);
    engine = next;
    for (const id of Object.keys(SITES)) await verdict(id, T0 + 600_000, operational(id));
    await run({ type: 'tick', at: T0 + 600_000 + HOLD });
    expect(engine.state.open.size).toBe(0);
    const inc = [...effects].reverse().find((e) => e.type === 'incident_resolved');
    expect(inc).toBeDefined();
    const stored = await alarms.incident((inc as { incident: { id: string } }).incident.id);
    expect(stored).toMatchObject({ state: 'resolved', resolvedAt: T0 + 600_000 + HOLD, counts: { members: 3, active: 0, stations: 1, clusters: 2 } });
    expect(await alarms.alarm(stationAlarm.id)).toMatchObject({
      state: 'cleared',
      acknowledged: { at: T0 + 100_000, by: 'tech-lan', note: 'đang lên xã' },
      cleared: { at: T0 + 600_000 + HOLD, cause: 'condition_cleared', by: null, note: null },
    });
    expect((await restoreAlarmStateFrom(alarms)).open.size).toBe(0);

    // A new fault after all that gets a number never used before.
    await verdict('CL-NP', T0 + 3_600_000, amplifier('CL-NP'));
    const fresh = engine.state.open.get('CL-NP/amplifier_fault')!;
    const used = effects.filter((e) => e.type === 'alarm_raised').map((e) => (e as { alarm: { id: string } }).alarm.id);
    expect(used.filter((id) => id === fresh.id)).toHaveLength(1);
    expect(Number(fresh.id.slice(3))).toBeGreaterThan(restored.seq);
  });

  it('writes every history row the engine gave, and forgets a pending alarm that was dropped', async () => {
    await verdict('CL-LC', T0, amplifier('CL-LC'));
    const amp = engine.state.open.get('CL-LC/amplifier_fault')!;
    // A line open for one heartbeat only: pending, then dropped after the hold-down without ever showing.
    await verdict('CL-NP', T0, lineOpen('CL-NP'));
    const line = engine.state.open.get('CL-NP/speaker_line')!;
    expect(line.state).toBe('pending');
    expect(await alarms.alarm(line.id)).toMatchObject({ state: 'pending' });
    await verdict('CL-NP', T0 + 30_000, operational('CL-NP'));
    await run({ type: 'acknowledge', at: T0 + 60_000, alarmId: amp.id, by: 'tech-hoa', note: null });
    await verdict('CL-LC', T0 + 120_000, operational('CL-LC'));
    await run({ type: 'tick', at: T0 + 120_000 + HOLD });

    expect(effects.some((e) => e.type === 'alarm_dropped' && e.alarm.id === line.id)).toBe(true);
    expect(await alarms.alarm(line.id)).toBeUndefined();
    const given = effects.filter((e): e is { type: 'history'; event: AlarmHistoryEvent } => e.type === 'history' && e.event.alarmId === amp.id).map((e) => e.event);
    expect(given.map((e) => e.type)).toEqual(['raised', 'acknowledged', 'cleared']);
    expect(await alarms.history(amp.id)).toEqual(given);
  });

  it('refuses a second open alarm with the same key, as the engine never makes one', async () => {
    await verdict('CL-LC', T0, amplifier('CL-LC'));
    const a = engine.state.open.get('CL-LC/amplifier_fault')!;
    const twin = { ...a, id: 'al-999' };
    await expect(alarms.apply([{ type: 'alarm_raised', alarm: twin }])).rejects.toThrow();
    // Once the first is cleared, the same fault again is a new row with the same key.
    await alarms.apply([{ type: 'alarm_cleared', alarm: { ...a, state: 'cleared', cleared: { at: T0 + 1, cause: 'manual', by: 'x', note: 'y' } } }]);
    await alarms.apply([{ type: 'alarm_raised', alarm: twin }]);
    expect((await alarms.load()).open.map((x) => x.id)).toEqual(['al-999']);
  });
});
