/**
 * The alarm service's shell around the engine: what it feeds at start, the
 * one ordered write queue (a store that fails is retried, then given up,
 * never thrown), its listeners, people's actions, and the policies made from
 * the settings. A real SQLite store (a failing one wraps it); the fleet is a
 * stand-in that speaks FleetState's listener contract; the clock is the test's.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmEngine } from '../../server/alarms/alarm-engine.ts';
import { alarmPolicies, AlarmService, type AlarmEvent, MAX_ATTEMPTS } from '../../server/alarms/service.ts';
import { AlarmStore } from '../../server/alarms/store.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { SiteObservation, SiteVerdict } from '../../server/coverage/model.ts';
import type { FleetListeners } from '../../server/fleet/fleet-state.ts';
import { Jobs } from '../../server/feature.ts';
import { DEFAULT_DAMPING_POLICY } from '../../server/alarms/flap-damping.ts';
import { DEFAULT_INCIDENT_POLICY } from '../../server/alarms/incidents.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { ALARM_KIND_VALUES, ALARM_SEVERITY_VALUES } from '../../api/alarms.ts';
import { ALARM_KINDS, ALARM_SEVERITIES } from '../../server/alarms/model.ts';
import { openTestStore, type TestStore } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';
import { LoanetError } from '../../server/errors.ts';
import { ERROR_CATALOGUE } from '../../api/error-catalogue.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0);
const P: AreaNode = { id: 1, key: '2025.15', code: '15', version: '2025', name: 'Lào Cai', level: 'province', parentId: null };
const C: AreaNode = { id: 2, key: '2025.02683', code: '02683', version: '2025', name: 'Xã Bát Xát', level: 'commune', parentId: 1 };
const INDEX = AreaIndex.build([P, C]);

const lineOpen = (siteId: string): SiteVerdict => ({
  siteId,
  condition: 'degraded',
  reasons: [{ code: 'line_open', message: 'line open', severity: 'degraded', params: { line: 2, status: 'open' } }],
});
const operational = (siteId: string): SiteVerdict => ({ siteId, condition: 'operational', reasons: [] });

/** FleetState as the service sees it: observations, verdicts, listeners. */
class StandInFleet {
  readonly verdicts = new Map<string, SiteVerdict>();
  private readonly listeners: FleetListeners[] = [];
  listen(l: FleetListeners) {
    this.listeners.push(l);
    return () => this.listeners.splice(this.listeners.indexOf(l), 1);
  }
  observations(): SiteObservation[] {
    return [...this.verdicts.keys()].map((id) => this.observation(id)!);
  }
  observation(siteId: string): SiteObservation | undefined {
    return this.verdicts.has(siteId) ? ({ siteId, kind: 'cluster', areaId: C.id, name: siteId } as SiteObservation) : undefined;
  }
  verdict(siteId: string) {
    const v = this.verdicts.get(siteId);
    return v ? { ...v, since: null } : undefined;
  }
  change(at: number, v: SiteVerdict): void {
    const previous = this.verdicts.get(v.siteId) ?? null;
    this.verdicts.set(v.siteId, v);
    for (const l of this.listeners) l.verdictChanged?.({ siteId: v.siteId, at, previous, verdict: v });
  }
}

/** The real store, refusing writes while `failing` says so. */
class FlakyStore extends AlarmStore {
  failing = 0;
  override async apply(effects: Parameters<AlarmStore['apply']>[0]): Promise<void> {
    if (this.failing > 0) {
      this.failing -= 1;
      throw new Error('disk I/O error');
    }
    return super.apply(effects);
  }
}

const SILENT = { info() {}, warn() {}, error() {} };

describe('the alarm service', () => {
  let db: TestStore;
  let store: FlakyStore;
  let fleet: StandInFleet;
  let now: number;
  const errors: string[] = [];
  const make = () =>
    new AlarmService({
      store,
      fleet,
      areaIndex: () => INDEX,
      settings: { holdDownS: 60, pendingS: 0, incidentWindowS: 180 },
      jobs: new Jobs(SILENT),
      log: { ...SILENT, error: (_o: unknown, m?: string) => errors.push(String(m)) },
      now: () => now,
    });

  beforeEach(async () => {
    db = await openTestStore('sqlite');
    store = new FlakyStore(db.db);
    fleet = new StandInFleet();
    now = T0;
    errors.length = 0;
  });
  afterEach(() => db.close());

  it('feeds every site its verdict at start, tells listeners, and a restart takes the same alarm back instead of raising a second', async () => {
    fleet.verdicts.set('CL-1', lineOpen('CL-1'));
    const s1 = make();
    const heard: AlarmEvent[] = [];
    const unsubscribe = s1.onAlarmEvent((e) => heard.push(e));
    await s1.start();
    // A listener subscribed before start hears what the start's verdicts raise.
    expect(heard.map((e) => e.type)).toEqual(['alarm_raised', 'notification_due']);
    unsubscribe();
    const raised = heard[0] as Extract<AlarmEvent, { type: 'alarm_raised' }>;
    await s1.stop();

    const s2 = make();
    const again: AlarmEvent[] = [];
    s2.onAlarmEvent((e) => again.push(e));
    await s2.start();
    expect(again.filter((e) => e.type === 'alarm_raised')).toEqual([]);
    expect(await s2.alarm(raised.alarm.id)).toMatchObject({ id: raised.alarm.id, state: 'raised', count: 1 });
    expect((await store.list({ limit: 10, offset: 0 })).total).toBe(1);
    await s2.stop();
  });

  it('retries a failed write with the next one, in order, and counts it; never throws', async () => {
    const s = make();
    await s.start();
    store.failing = 2;
    now = T0 + 1000;
    fleet.change(now, lineOpen('CL-1'));
    await s.settled();
    // Raised, its history row, its notification: kept for the next write.
    expect(s.writeStats()).toMatchObject({ failures: 1, pending: 3 });
    now = T0 + 2000;
    fleet.change(now, lineOpen('CL-2'));
    await s.settled();
    expect(s.writeStats().failures).toBe(2);
    s.flush();
    await s.settled();
    expect(s.writeStats()).toMatchObject({ failures: 2, dropped: 0, pending: 0 });
    expect((await store.list({ limit: 10, offset: 0 })).alarms.map((a) => a.siteId)).toEqual(['CL-2', 'CL-1']);
    expect(errors.filter((e) => e.includes('failed'))).toHaveLength(1);
    await s.stop();
  });

  it(`gives a write up after ${MAX_ATTEMPTS} failures, and writes what comes after`, async () => {
    const s = make();
    await s.start();
    store.failing = MAX_ATTEMPTS;
    fleet.change(T0, lineOpen('CL-1'));
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      s.flush();
      await s.settled();
    }
    expect(s.writeStats()).toMatchObject({ failures: MAX_ATTEMPTS, dropped: 3, pending: 0 });
    fleet.change(T0 + 1000, lineOpen('CL-2'));
    await s.settled();
    expect((await store.list({ limit: 10, offset: 0 })).alarms.map((a) => a.siteId)).toEqual(['CL-2']);
    await s.stop();
  });

  it('acknowledges and clears by hand through the engine, refusing what the engine refuses, and a cleared alarm as cleared', async () => {
    const s = make();
    await s.start();
    fleet.change(T0, lineOpen('CL-1'));
    await s.settled();
    const id = (await store.list({ limit: 1, offset: 0 })).alarms[0]!.id;
    now = T0 + 1000;
    const ack = await s.acknowledge(id, 'lan', 'đang đi');
    expect(ack).toMatchObject({ ok: true, alarm: { state: 'acknowledged', acknowledged: { by: 'lan', note: 'đang đi', at: T0 + 1000 } } });
    expect(await s.clear(id, 'lan', 'xong')).toEqual({ ok: false, error: { code: 'ALARM_CONDITION_ACTIVE', alarmId: id } });
    fleet.change(T0 + 2000, operational('CL-1'));
    now = T0 + 3000;
    expect(await s.clear(id, 'lan', 'đã thay dây')).toMatchObject({ ok: true, alarm: { state: 'cleared', cleared: { cause: 'manual', by: 'lan', note: 'đã thay dây' } } });
    expect(await s.acknowledge(id, 'hùng', null)).toEqual({ ok: false, error: { code: 'ALARM_ALREADY_CLEARED', alarmId: id } });
    expect(await s.acknowledge('al-999', 'hùng', null)).toEqual({ ok: false, error: { code: 'ALARM_NOT_FOUND', alarmId: 'al-999' } });
    await s.comment(id, 'hùng', 'đã kiểm tra lại');
    expect((await store.comments(id)).map((c) => c.note)).toEqual(['đã kiểm tra lại']);
    await s.stop();
  });

  it("an acknowledgement the store cannot write is answered with the store's error, and written by the retry", async () => {
    const s = make();
    await s.start();
    fleet.change(T0, lineOpen('CL-1'));
    await s.settled();
    const id = (await store.list({ limit: 1, offset: 0 })).alarms[0]!.id;
    store.failing = 1;
    await expect(s.acknowledge(id, 'lan', null)).rejects.toThrow('disk I/O error');
    s.flush();
    await s.settled();
    expect(await store.alarm(id)).toMatchObject({ state: 'acknowledged', acknowledged: { by: 'lan' } });
    await s.stop();
  });

  it('clears on its own timer once the hold-down is over', async () => {
    const s = make();
    await s.start();
    fleet.change(T0, lineOpen('CL-1'));
    fleet.change(T0 + 1000, operational('CL-1'));
    const cleared = new Promise<AlarmEvent>((resolve) => s.onAlarmEvent((e) => e.type === 'alarm_cleared' && resolve(e)));
    // The clock moves past the hold-down; the service's timer (set for 60 s of real time) is not waited for: tick as it would.
    now = T0 + 1000 + 60_000;
    s.tick();
    expect(await cleared).toMatchObject({ type: 'alarm_cleared', alarm: { cleared: { cause: 'condition_cleared' } } });
    await s.stop();
  });
});

describe('alarm policies from the settings', () => {
  it('keeps the defaults but the configured delays, in the defaults proportions', () => {
    const p = alarmPolicies({ holdDownS: 2, pendingS: 1, incidentWindowS: 30 });
    expect(p.damping).toEqual({ ...DEFAULT_DAMPING_POLICY, holdDownMs: 2000, pendingMsByKind: { speaker_line: 1000, power: 1000, amplifier_hot: 2000, weak_signal: 10_000 } });
    expect(p.incidents).toEqual({ ...DEFAULT_INCIDENT_POLICY, windowMs: 30_000 });
    // The configuration's defaults are the modules' own defaults.
    expect(alarmPolicies({ holdDownS: 300, pendingS: 60, incidentWindowS: 180 })).toEqual({ damping: DEFAULT_DAMPING_POLICY, incidents: DEFAULT_INCIDENT_POLICY });
    expect(new AlarmEngine({ index: INDEX, ...p }).nextDueAt()).toBeNull();
  });

  it('the HTTP schema lists the same kinds and severities as the model', () => {
    expect([...ALARM_KIND_VALUES]).toEqual([...ALARM_KINDS]);
    expect([...ALARM_SEVERITY_VALUES]).toEqual([...ALARM_SEVERITIES]);
  });
});

describe('the alarm service on several servers (one leads, the others follow the store)', () => {
  let db: TestStore;
  let store: AlarmStore;
  let now: number;
  const make = (fleet: StandInFleet, actionWaitMs?: number) =>
    new AlarmService({
      ...(actionWaitMs === undefined ? {} : { actionWaitMs }),
      store,
      fleet,
      areaIndex: () => INDEX,
      settings: { holdDownS: 60, pendingS: 0, incidentWindowS: 180 },
      jobs: new Jobs(SILENT),
      log: SILENT,
      now: () => now,
    });

  beforeEach(async () => {
    db = await openTestStore('sqlite');
    store = new AlarmStore(db.db);
    now = T0;
  });
  afterEach(() => db.close());

  /** A holder that raised one alarm (a speaker line open at CL-1), stored. */
  async function holderWithOneAlarm(): Promise<{ fleet: StandInFleet; first: AlarmService; id: string }> {
    const fleet = new StandInFleet();
    const first = make(fleet);
    await first.start();
    fleet.change(T0, lineOpen('CL-1'));
    await first.settled();
    return { fleet, first, id: (await store.list({ limit: 1, offset: 0 })).alarms[0]!.id };
  }

  /** The holder's rounds of taking actions until one was decided (the feature's job does it every 250 ms). */
  async function holderTakes(holder: AlarmService): Promise<void> {
    // The deadline only bounds a hang: on a busy machine the follower's write may take seconds to land.
    await waitFor('an action to come to the holder', async () => (await holder.takeActions()) > 0, 60_000, 10);
  }

  it('a follower reads the holder’s alarms, writes none, passes an acknowledgement to the holder, and takes over without a second alarm', async () => {
    // Both servers hear the same site.
    const fleetA = new StandInFleet();
    const fleetB = new StandInFleet();
    const holder = make(fleetA);
    const follower = make(fleetB);
    const heardB: AlarmEvent[] = [];
    follower.onAlarmEvent((e) => heardB.push(e));
    await holder.start();
    await follower.startFollowing();
    fleetA.change(T0, lineOpen('CL-1'));
    fleetB.change(T0 + 5, lineOpen('CL-1'));
    await holder.settled();
    const id = (await store.list({ limit: 1, offset: 0 })).alarms[0]!.id;
    await follower.mirror();
    expect(await follower.alarm(id)).toMatchObject({ id, state: 'raised' });
    expect(follower.areaSummary()).toEqual(holder.areaSummary());
    expect(follower.writeStats().writes).toBe(0);
    // Its consoles hear the alarm as read from the store; no notification is due from it.
    expect(heardB.map((e) => e.type)).toEqual(['alarm_raised']);

    now = T0 + 1000;
    const asked = follower.acknowledge(id, 'lan', 'đang đi');
    await holderTakes(holder);
    expect(await asked).toMatchObject({ ok: true, alarm: { id, state: 'acknowledged', acknowledged: { by: 'lan', at: T0 + 1000 } } });
    // The holder's engine has it; the follower's memory too (it read the store again); the store once.
    expect(await holder.alarm(id)).toMatchObject({ state: 'acknowledged' });
    expect(await follower.alarm(id)).toMatchObject({ state: 'acknowledged' });
    expect((await store.history(id)).map((h) => h.type)).toEqual(['raised', 'acknowledged']);
    // Refused by the holder's engine, answered as such on the follower.
    const again = follower.acknowledge(id, 'hùng', null);
    await holderTakes(holder);
    expect(await again).toEqual({ ok: false, error: { code: 'ALARM_ALREADY_ACKNOWLEDGED', alarmId: id } });
    expect(await store.pendingActions()).toEqual([]);
    expect(heardB.map((e) => e.type)).toEqual(['alarm_raised', 'alarm_updated']);
    expect(heardB[1]).toMatchObject({ alarm: { id, state: 'acknowledged' } });

    // The holder dies (nothing more from it); the follower leads: the same alarm, still acknowledged, not raised again.
    heardB.length = 0;
    await follower.lead();
    expect(follower.isLeading).toBe(true);
    expect(heardB.filter((e) => e.type === 'alarm_raised' || e.type === 'notification_due')).toEqual([]);
    expect(await follower.alarm(id)).toMatchObject({ id, state: 'acknowledged' });
    fleetB.change(T0 + 2000, operational('CL-1'));
    now = T0 + 3000;
    expect(await follower.clear(id, 'lan', 'đã thay dây')).toMatchObject({ ok: true, alarm: { id, state: 'cleared' } });
    expect((await store.list({ limit: 10, offset: 0 })).total).toBe(1);
    expect((await store.history(id)).map((h) => h.type)).toEqual(['raised', 'acknowledged', 'cleared']);
    // The old holder, were it alive as a follower, would hear the clearing from the store.
    const heardA: AlarmEvent[] = [];
    holder.onAlarmEvent((e) => heardA.push(e));
    await holder.follow();
    expect(heardA).toMatchObject([{ type: 'alarm_cleared', alarm: { id, cleared: { cause: 'manual' } } }]);
    await follower.stop();
    await holder.stop();
  });

  it('an action a dead holder carried out but never answered is answered ok by the next, not refused as done', async () => {
    const { fleet, first, id } = await holderWithOneAlarm();
    // Asked on a follower; the first holder decides it and dies before answering.
    const req = { alarmId: id, type: 'acknowledge' as const, at: T0 + 500, by: 'lan', note: null };
    const asked = await store.requestAction(req);
    expect(await first.acknowledge(id, 'lan', null)).toMatchObject({ ok: true });
    const stored = await store.alarm(id);
    expect(stored?.acknowledged?.at).toBe(now);
    // The same person at the same moment: what the dead holder did with the row.
    await db.db.updateTable('alarm_actions').set({ at: now }).where('id', '=', asked).execute();
    const next = make(fleet);
    await next.startFollowing();
    await next.lead();
    expect(await next.takeActions()).toBe(1);
    expect(await store.actionResult(asked)).toBe('ok');
    // Someone else's acknowledgement of the same alarm is refused as already done.
    const other = await store.requestAction({ ...req, by: 'hùng' });
    await next.takeActions();
    expect(await store.actionResult(other)).toBe('ALARM_ALREADY_ACKNOWLEDGED');
    expect((await store.history(id)).map((h) => h.type)).toEqual(['raised', 'acknowledged']);
    await next.stop();
    await first.stop();
  });

  it('with no holder to answer, an acknowledgement on a follower is a typed 503 that says it is kept, and the next holder carries it out', async () => {
    const { fleet, first, id } = await holderWithOneAlarm();
    // The holder is gone (it takes nothing more); a follower waits a short while for it.
    await first.stop();
    const follower = make(fleet, 200);
    await follower.startFollowing();
    now = T0 + 1000;
    const err = await follower.acknowledge(id, 'lan', 'đang đi').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoanetError);
    expect(err).toMatchObject({ code: 'LOANET_ALARM_ACTION_PENDING', params: { id, action: 'acknowledge', waitedS: 0 } });
    expect(ERROR_CATALOGUE.LOANET_ALARM_ACTION_PENDING.status).toBe(503);
    expect((await store.pendingActions()).map((a) => ({ alarmId: a.alarmId, type: a.type, by: a.by }))).toEqual([{ alarmId: id, type: 'acknowledge', by: 'lan' }]);
    // The follower becomes the holder: the kept acknowledgement is carried out, as asked, once.
    await follower.lead();
    expect(await follower.takeActions()).toBe(1);
    expect(await follower.alarm(id)).toMatchObject({ state: 'acknowledged', acknowledged: { by: 'lan', at: T0 + 1000 } });
    expect((await store.history(id)).map((h) => h.type)).toEqual(['raised', 'acknowledged']);
    await follower.stop();
  });

  it('a holder that loses the lease drops what it had not written and follows the store', async () => {
    const fleet = new StandInFleet();
    const s = make(fleet);
    await s.start();
    fleet.change(T0, lineOpen('CL-1'));
    await s.follow();
    expect(s.isLeading).toBe(false);
    // Whatever was decided is either written before the loss or left to the next holder: never written after it.
    const before = (await store.list({ limit: 10, offset: 0 })).total;
    fleet.change(T0 + 1000, lineOpen('CL-2'));
    await s.settled();
    expect((await store.list({ limit: 10, offset: 0 })).total).toBe(before);
    expect(s.writeStats().pending).toBe(0);
    await s.stop();
  });
});
