/**
 * Failed updates as alarms: the pure reading of finished attempts
 * (update-faults.ts), and the alarm service's looks at them on two servers
 * (only the 'alarms' lease's holder looks and raises; a takeover keeps the
 * same alarm). A real SQLite alarm store; the updates store is a stand-in
 * that speaks its port (the real one: tests/integration/alarms-update-failed.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmService } from '../../server/alarms/service.ts';
import { AlarmStore } from '../../server/alarms/store.ts';
import { type UpdateAttempts, updateFaults } from '../../server/alarms/update-faults.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { SiteObservation, SiteVerdict } from '../../server/coverage/model.ts';
import { Jobs } from '../../server/feature.ts';
import type { FleetListeners } from '../../server/fleet/fleet-state.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import type { FinishedUpdate } from '../../server/updates/store.ts';
import { openTestStore, type TestStore } from '../helpers/store.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0);
const P: AreaNode = { id: 1, key: '2025.15', code: '15', version: '2025', name: 'Lào Cai', level: 'province', parentId: null };
const C: AreaNode = { id: 2, key: '2025.02683', code: '02683', version: '2025', name: 'Xã Bát Xát', level: 'commune', parentId: 1 };
const INDEX = AreaIndex.build([P, C]);
const SILENT = { info() {}, warn() {}, error() {} };

const attempt = (over: Partial<FinishedUpdate> & Pick<FinishedUpdate, 'siteId' | 'rolloutId' | 'state' | 'finishedAt'>): FinishedUpdate => ({
  component: 'agent',
  version: '1.3.0',
  reason: over.state === 'failed' ? 'sound_check_failed' : null,
  ...over,
});

describe('update faults from finished attempts', () => {
  it('a site whose latest attempt of a component failed has the fault, with the release and the reason; a later success of that component ends it', () => {
    const f = updateFaults([
      attempt({ siteId: 'A', rolloutId: 'r1', state: 'failed', finishedAt: T0 }),
      attempt({ siteId: 'B', rolloutId: 'r1', state: 'updated', finishedAt: T0 }),
      attempt({ siteId: 'C', rolloutId: 'r1', state: 'failed', finishedAt: T0 }),
      attempt({ siteId: 'C', rolloutId: 'r2', state: 'updated', version: '1.3.1', finishedAt: T0 + 1000 }),
    ]);
    expect(f.get('A')).toEqual([{ kind: 'update_failed', params: { rolloutId: 'r1', component: 'agent', release: '1.3.0', reason: 'sound_check_failed', at: T0 } }]);
    expect(f.get('B')).toEqual([]);
    expect(f.get('C')).toEqual([]);
    expect(f.has('D')).toBe(false);
  });

  it("the other component's success does not end it, and an attempt the server cancelled is no attempt: the one before stands", () => {
    const f = updateFaults([
      attempt({ siteId: 'A', rolloutId: 'r1', state: 'failed', reason: 'hash_mismatch', component: 'device-firmware', version: '2.0', finishedAt: T0 }),
      attempt({ siteId: 'A', rolloutId: 'r2', state: 'updated', finishedAt: T0 + 1000 }),
      attempt({ siteId: 'B', rolloutId: 'r1', state: 'updated', finishedAt: T0 }),
      attempt({ siteId: 'B', rolloutId: 'r3', state: 'failed', reason: 'cancelled', finishedAt: T0 + 2000 }),
    ]);
    expect(f.get('A')).toEqual([expect.objectContaining({ params: expect.objectContaining({ component: 'device-firmware', release: '2.0', reason: 'hash_mismatch' }) })]);
    expect(f.get('B')).toEqual([]);
  });
});

/** FleetState as the service sees it: every site a cluster of the commune, operational. */
class StandInFleet {
  readonly verdicts = new Map<string, SiteVerdict>();
  listen(_l: FleetListeners) {
    return () => {};
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
}

/** The updates store's port over a list, as any server writes to it. */
class Attempts implements UpdateAttempts {
  readonly rows: FinishedUpdate[] = [];
  async finishedSince(since: number): Promise<string[]> {
    return [...new Set(this.rows.filter((r) => r.finishedAt >= since).map((r) => r.siteId))];
  }
  async finishedOf(siteIds: readonly string[]): Promise<FinishedUpdate[]> {
    return this.rows.filter((r) => siteIds.includes(r.siteId));
  }
}

describe('the alarm service and failed updates, on two servers', () => {
  let db: TestStore;
  let store: AlarmStore;
  let now: number;
  let attempts: Attempts;
  const make = (fleet: StandInFleet) =>
    new AlarmService({
      store,
      fleet,
      areaIndex: () => INDEX,
      settings: { holdDownS: 60, pendingS: 0, incidentWindowS: 180 },
      jobs: new Jobs(SILENT),
      log: SILENT,
      now: () => now,
      updates: attempts,
    });

  beforeEach(async () => {
    db = await openTestStore('sqlite');
    store = new AlarmStore(db.db);
    attempts = new Attempts();
    now = T0;
  });
  afterEach(() => db.close());

  const updateAlarms = async () => (await store.list({ limit: 50, offset: 0 })).alarms.filter((a) => a.kind === 'update_failed');

  it('the holder raises it from an attempt another server stored, the follower never does, and a takeover keeps the same alarm until a success clears it', async () => {
    const fleetA = new StandInFleet();
    const fleetB = new StandInFleet();
    for (const f of [fleetA, fleetB]) for (const id of ['CL-1', 'CL-2']) f.verdicts.set(id, { siteId: id, condition: 'operational', reasons: [] });
    const holder = make(fleetA);
    const follower = make(fleetB);
    await holder.start();
    await follower.startFollowing();

    // A report stored by any server: CL-1 rolled back, CL-2 updated.
    now = T0 + 10_000;
    attempts.rows.push(attempt({ siteId: 'CL-1', rolloutId: 'r1', state: 'failed', finishedAt: now - 500 }));
    attempts.rows.push(attempt({ siteId: 'CL-2', rolloutId: 'r1', state: 'updated', finishedAt: now - 400 }));
    expect(await follower.syncUpdates()).toBe(0);
    expect(await holder.syncUpdates()).toBe(1);
    await holder.settled();
    const [a] = await updateAlarms();
    expect(a).toMatchObject({ siteId: 'CL-1', state: 'raised', severity: 'minor', reasons: [{ code: 'update_failed', params: { rolloutId: 'r1', release: '1.3.0' } }] });
    // Looked at again with nothing new: nothing fed, nothing written.
    const writes = holder.writeStats().writes;
    now += 2000;
    expect(await holder.syncUpdates()).toBe(0);
    await holder.settled();
    expect(holder.writeStats().writes).toBe(writes);
    expect(follower.writeStats().writes).toBe(0);

    // The holder dies; the follower takes over: the same alarm, not a second, still raised.
    now += 5000;
    await follower.lead();
    await follower.settled();
    expect(await updateAlarms()).toEqual([expect.objectContaining({ id: a!.id, state: 'raised', count: 1, active: true })]);

    // A later release passes there: inactive, then cleared after the hold-down.
    now += 10_000;
    attempts.rows.push(attempt({ siteId: 'CL-1', rolloutId: 'r2', state: 'updated', version: '1.3.1', finishedAt: now }));
    expect(await follower.syncUpdates()).toBe(1);
    expect(await follower.alarm(a!.id)).toMatchObject({ state: 'raised', active: false });
    now += 60_000;
    follower.tick();
    await follower.settled();
    expect(await updateAlarms()).toEqual([expect.objectContaining({ id: a!.id, state: 'cleared', cleared: expect.objectContaining({ cause: 'condition_cleared' }) })]);
    await follower.stop();
    await holder.stop();
  });

  it('a holder that starts after the fault was fixed while no server looked ends the restored alarm', async () => {
    const fleet = new StandInFleet();
    fleet.verdicts.set('CL-1', { siteId: 'CL-1', condition: 'operational', reasons: [] });
    attempts.rows.push(attempt({ siteId: 'CL-1', rolloutId: 'r1', state: 'failed', finishedAt: T0 - 1000 }));
    const first = make(fleet);
    await first.start();
    await first.stop();
    const [a] = await updateAlarms();
    expect(a).toMatchObject({ state: 'raised' });

    attempts.rows.push(attempt({ siteId: 'CL-1', rolloutId: 'r2', state: 'updated', finishedAt: T0 + 1000 }));
    now = T0 + 2000;
    const next = make(fleet);
    await next.start();
    expect(await next.alarm(a!.id)).toMatchObject({ state: 'raised', active: false });
    now += 60_000;
    next.tick();
    await next.settled();
    expect(await updateAlarms()).toEqual([expect.objectContaining({ id: a!.id, state: 'cleared' })]);
    await next.stop();
  });
});
