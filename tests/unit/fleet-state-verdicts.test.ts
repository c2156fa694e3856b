import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryMessage } from '../../protocol/index.ts';
import { DEFAULT_COVERAGE_POLICY } from '../../server/coverage/model.ts';
import { type ConditionChange, FleetState, type VerdictChange } from '../../server/fleet/fleet-state.ts';
import type { Site } from '../../server/registry/sites.ts';
import { openTestStore, type TestStore } from '../helpers/store.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';

const T0 = Date.UTC(2026, 11, 5, 2, 0);
const SITE: Site = {
  id: 'CL-NP',
  name: 'Cụm loa thôn Na Pên',
  kind: 'cluster',
  areaId: 7,
  areaKey: '2025.0264701',
  lat: null,
  lon: null,
  profile: null,
  expectedDevices: [],
  monitorMic: false,
  createdAt: T0,
  updatedAt: T0,
  retiredAt: null,
};

// One of two lines open: part of the village does not hear, the site still plays (degraded).
const lineOpen = {
  lines: [
    { id: 1, status: 'open' as const, impedanceOhm: null, nominalOhm: 8 },
    { id: 2, status: 'ok' as const, impedanceOhm: null, nominalOhm: 8 },
  ],
};
const onBattery = (batteryPct: number) => ({ power: { source: 'battery' as const, mainsOk: false, batteryPct } });

describe('FleetState tells its listeners every change of a verdict, not only of its condition', () => {
  let store: TestStore;
  let now = T0;
  let seq = 0;
  let fleet: FleetState;
  let heard: Array<{ type: 'condition'; change: ConditionChange } | { type: 'verdict'; change: VerdictChange }>;

  beforeEach(async () => {
    store = await openTestStore();
    now = T0;
    fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
    heard = [];
    fleet.listen({
      conditionChanged: (change) => heard.push({ type: 'condition', change }),
      verdictChanged: (change) => heard.push({ type: 'verdict', change }),
    });
  });
  afterEach(async () => {
    // The events written behind the memory, before the store goes.
    await fleet.settled();
    await store.close();
  });

  const heartbeat = (over: Partial<TelemetryMessage> = {}) => {
    now += 30_000;
    fleet.applyTelemetry(SITE.id, { ...healthyTelemetry(SITE.id, ++seq, over), at: now });
  };
  const codes = (c: VerdictChange | undefined) => c?.verdict.reasons.map((r) => r.code);

  it('fires after the condition change when both change, with the verdict before and after', () => {
    fleet.upsertSite(SITE);
    expect(heard.map((h) => h.type)).toEqual(['condition', 'verdict']);
    expect(heard[1]!.change).toMatchObject({ siteId: SITE.id, at: T0, previous: null, verdict: { condition: 'unverified' } });
    heard = [];
    heartbeat();
    expect(heard.map((h) => h.type)).toEqual(['condition', 'verdict']);
    expect(heard[1]!.change).toMatchObject({ previous: { condition: 'unverified' }, verdict: { condition: 'operational', reasons: [] } });
  });

  it('a degraded site gaining a second reason, and a measurement moving, reach verdict listeners only', () => {
    fleet.upsertSite(SITE);
    heartbeat();
    heartbeat(lineOpen);
    const degraded = heard.filter((h) => h.type === 'condition').at(-1)!.change as ConditionChange;
    expect(degraded.to).toBe('degraded');
    heard = [];

    heartbeat({ ...lineOpen, ...onBattery(80) });
    expect(heard.map((h) => h.type)).toEqual(['verdict']);
    const second = heard[0]!.change as VerdictChange;
    expect(second.verdict.condition).toBe('degraded');
    expect(codes(second)?.sort()).toEqual(['line_open', 'on_battery']);
    expect(second.previous?.reasons.map((r) => r.code)).toEqual(['line_open']);
    expect(second.at).toBe(now);

    heard = [];
    heartbeat({ ...lineOpen, ...onBattery(79) });
    expect(heard.map((h) => h.type)).toEqual(['verdict']);
    expect((heard[0]!.change as VerdictChange).verdict.reasons.find((r) => r.code === 'on_battery')?.params).toMatchObject({ batteryPct: 79 });
  });

  it('says nothing when the verdict is the same, and nothing after the listener unsubscribes', () => {
    fleet.upsertSite(SITE);
    heartbeat(lineOpen);
    heard = [];
    heartbeat(lineOpen);
    heartbeat(lineOpen);
    expect(heard).toEqual([]);

    const mine: VerdictChange[] = [];
    const off = fleet.listen({ verdictChanged: (c) => mine.push(c) });
    heartbeat();
    expect(mine).toHaveLength(1);
    off();
    heartbeat(lineOpen);
    expect(mine).toHaveLength(1);
    expect(heard.filter((h) => h.type === 'verdict')).toHaveLength(2);
  });

  it('a site going offline and back is heard by both listeners each way', () => {
    fleet.upsertSite(SITE);
    heartbeat();
    heard = [];
    now += 1000;
    fleet.applyState(SITE.id, { v: 1, siteId: SITE.id, at: now, state: 'offline' }, false);
    expect(heard.map((h) => [h.type, h.type === 'verdict' ? h.change.verdict.condition : h.change.to])).toEqual([
      ['condition', 'offline'],
      ['verdict', 'offline'],
    ]);
    heard = [];
    heartbeat();
    expect(heard.map((h) => h.type)).toEqual(['condition', 'verdict']);
    expect((heard[1]!.change as VerdictChange).previous?.condition).toBe('offline');
  });
});

describe('The sweep reclassifies the sites time may have changed', () => {
  let store: TestStore;
  let now = T0;
  let seq = 0;
  let fleet: FleetState;
  let changes: ConditionChange[];

  beforeEach(async () => {
    store = await openTestStore();
    now = T0;
    fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
    changes = [];
    fleet.listen({ conditionChanged: (c) => changes.push(c) });
  });
  afterEach(async () => {
    await fleet.settled();
    await store.close();
  });
  const heartbeat = (f: FleetState, over: Partial<TelemetryMessage> = {}) => f.applyTelemetry(SITE.id, { ...healthyTelemetry(SITE.id, ++seq, over), at: now });

  it('a site silent past two heartbeats goes offline at the sweep, not before', () => {
    fleet.upsertSite(SITE);
    heartbeat(fleet);
    changes = [];
    now += 59_000;
    expect(fleet.sweep()).toEqual([]);
    now += 2_000;
    expect(fleet.sweep().map((c) => c.to)).toEqual(['offline']);
    expect(changes.map((c) => c.to)).toEqual(['offline']);
  });

  it('an operational site whose delivered configuration falls due unheld is degraded at the sweep, between heartbeats', () => {
    fleet.upsertSite(SITE);
    heartbeat(fleet);
    fleet.expectConfig(SITE.id, { revision: 2, hash: 'a'.repeat(64), dueAt: now + 10_000 });
    expect(fleet.verdict(SITE.id)?.condition).toBe('operational');
    now += 9_000;
    expect(fleet.sweep()).toEqual([]);
    now += 2_000;
    const [change] = fleet.sweep();
    expect(change?.to).toBe('degraded');
    expect(change?.verdict.reasons.map((r) => r.code)).toEqual(['config_stale']);
  });

  it('a verdict read back from the store is classified at the first sweep, even one time alone could not change', async () => {
    await store.db
      .insertInto('areas')
      .values({
        id: SITE.areaId,
        version: '2025',
        code: '0264701',
        name: 'Thôn Na Pên',
        level: 'village',
        kind: null,
        parent_id: null,
        lat: null,
        lon: null,
        source: null,
        created_at: T0,
        updated_at: T0,
        retired_at: null,
      })
      .execute();
    await store.db
      .insertInto('sites')
      .values({ id: SITE.id, name: SITE.name, kind: SITE.kind, area_id: SITE.areaId, lat: null, lon: null, profile: null, created_at: T0, updated_at: T0, retired_at: null })
      .execute();
    fleet.upsertSite(SITE);
    heartbeat(fleet);
    await fleet.flush();
    // What an older server (or older rules) stored: degraded, for a site whose last heartbeat was healthy.
    await store.db
      .updateTable('site_status')
      .set({ condition: 'degraded', reasons: JSON.stringify([{ code: 'line_open', severity: 'degraded', params: {}, message: 'line 1 open' }]) })
      .where('site_id', '=', SITE.id)
      .execute();
    const again = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => now);
    await again.load([SITE]);
    expect(again.verdict(SITE.id)?.condition).toBe('degraded');
    now += 1_000;
    expect(again.sweep().map((c) => c.to)).toEqual(['operational']);
    await again.settled();
  });
});
