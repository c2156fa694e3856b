/**
 * What /metrics and /readyz read from the store, the same on SQLite and on
 * PostgreSQL: the store probe answers while the store is open and fails once
 * it is closed (readiness's "store"), and the alert and live-stream figures
 * aggregated in SQL count alike in both dialects (COUNT and SUM come back as
 * numbers; a first sound before the alert's start counts as 0 s).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertFamilies, liveEndFamilies } from '../../server/metrics/collect.ts';
import type { MetricFamily } from '../../server/metrics/exposition.ts';
import { RuntimeProbes } from '../../server/metrics/probes.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = 1_764_979_200_000;

/** The value of one sample: the family's name plus suffix, and labels that must all match. */
function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families) {
    for (const s of f.samples) {
      if (f.name + (s.suffix ?? '') !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels?.[k] === v)) return s.value;
    }
  }
  return undefined;
}

describe.each(storeDialects())('the metrics read from the store on %s', (dialect) => {
  let store: TestStore;
  let closed = false;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    closed = false;
  });
  afterEach(async () => {
    if (!closed) await store.close();
  });

  it('the store probe answers while the store is open, and fails (store down) once it is closed', async () => {
    const probes = new RuntimeProbes(store, () => null);
    expect(await probes.probeStore()).toBe(true);
    expect(probes.store()).toMatchObject({ up: true, failures: 0 });
    // Readiness checks arriving together share one probe.
    const [a, b] = await Promise.all([probes.probeStore(), probes.probeStore()]);
    expect([a, b]).toEqual([true, true]);
    expect(probes.store().counts.reduce((n, c) => n + c, 0)).toBe(2);
    await store.close();
    closed = true;
    expect(await probes.probeStore()).toBe(false);
    expect(probes.store()).toMatchObject({ up: false, failures: 1 });
  });

  it('a database file replaced under the server (DiskSpace.storeGone) fails the probe even though the query answers', async () => {
    let gone: string | null = null;
    const probes = new RuntimeProbes(store, () => gone);
    expect(await probes.probeStore()).toBe(true);
    gone = '/var/lib/loanet/loanet.db';
    expect(await probes.probeStore()).toBe(false);
    expect(probes.store().up).toBe(false);
  });

  it('counts alerts started, in force, their deliveries and the time to first sound, by test flag', async () => {
    const alert = (id: string, over: { state?: 'active' | 'cancelled'; test?: number; origin?: 'api' | 'cap'; createdAt?: number }) => ({
      id,
      revision: 1,
      state: over.state ?? 'active',
      test: over.test ?? 0,
      origin: over.origin ?? 'api',
      title: 'Lũ quét',
      target_areas: '[]',
      areas: '[]',
      sites: null,
      polygon: null,
      media: '[]',
      message: '{}',
      attention: null,
      repeats: 1,
      volume: null,
      valid_until: T0 + 3_600_000,
      created_by: null,
      created_by_name: null,
      created_at: over.createdAt ?? T0,
      revised_at: T0,
      ended_at: null,
      ended_by_name: null,
      cap_sender: null,
      cap_identifier: null,
      cap_sent: null,
    });
    await store.db
      .insertInto('alerts')
      .values([alert('a1', {}), alert('a2', { origin: 'cap' }), alert('a3', { state: 'cancelled', test: 1 }), alert('a4', { test: 1 })])
      .execute();
    const delivery = (alertId: string, siteId: string, status: 'pending' | 'playing' | 'completed', firstSoundAt: number | null) => ({
      alert_id: alertId,
      site_id: siteId,
      revision: 1,
      status,
      received_at: null,
      first_sound_at: firstSoundAt,
      completed_at: null,
      failed_at: null,
      reason: null,
      detail: null,
      repeat: null,
      level_db: null,
      reported_at: null,
      level_threshold_db: null,
      message_at: null,
      message_repeats: null,
    });
    await store.db
      .insertInto('alert_deliveries')
      .values([
        // a1: 3 s and 45 s; a site whose clock put the first sound 2 s before the start counts as 0 s.
        delivery('a1', 's1', 'playing', T0 + 3000),
        delivery('a1', 's2', 'completed', T0 + 45_000),
        delivery('a1', 's3', 'completed', T0 - 2000),
        delivery('a1', 's4', 'pending', null),
        // a2: 11 minutes, past the last bucket.
        delivery('a2', 's1', 'completed', T0 + 660_000),
        // a3 (test, cancelled): 1 s; not in force, so not among the deliveries.
        delivery('a3', 's1', 'completed', T0 + 1000),
      ])
      .execute();
    const f = await alertFamilies({ store });
    expect(value(f, 'loanet_alerts_started_total', { origin: 'api', test: 'false' })).toBe(1);
    expect(value(f, 'loanet_alerts_started_total', { origin: 'cap', test: 'false' })).toBe(1);
    expect(value(f, 'loanet_alerts_started_total', { origin: 'api', test: 'true' })).toBe(2);
    expect(value(f, 'loanet_alerts_started_total', { origin: 'cap', test: 'true' })).toBe(0);
    expect(value(f, 'loanet_alerts_active')).toBe(3);
    expect(value(f, 'loanet_alert_deliveries', { status: 'pending' })).toBe(1);
    expect(value(f, 'loanet_alert_deliveries', { status: 'playing' })).toBe(1);
    expect(value(f, 'loanet_alert_deliveries', { status: 'completed' })).toBe(3);
    expect(value(f, 'loanet_alert_deliveries', { status: 'failed' })).toBe(0);
    const h = (le: string, test = 'false') => value(f, 'loanet_alert_first_sound_seconds_bucket', { test, le });
    expect([h('1'), h('2'), h('5'), h('30'), h('60'), h('600'), h('+Inf')]).toEqual([1, 1, 2, 2, 3, 3, 4]);
    expect(value(f, 'loanet_alert_first_sound_seconds_sum', { test: 'false' })).toBe(3 + 45 + 0 + 660);
    expect(value(f, 'loanet_alert_first_sound_seconds_count', { test: 'false' })).toBe(4);
    expect([h('1', 'true'), h('+Inf', 'true')]).toEqual([1, 1]);
    expect(value(f, 'loanet_alert_first_sound_seconds_sum', { test: 'true' })).toBe(1);
  });

  it('counts live streams ended, by how; those on air are not counted', async () => {
    const stream = (id: number, endReason: string | null, ended: boolean) => ({
      id,
      source_kind: 'browser' as const,
      source_label: null,
      source_ref: null,
      source_format: null,
      priority: 'normal',
      when_preempted: 'end' as const,
      areas: '[]',
      delay_ms: 1000,
      codec: '{}',
      start_at: T0,
      created_by: null,
      created_by_name: 'van-hanh',
      started_at: T0,
      ended_at: ended ? T0 + 60_000 : null,
      end_reason: endReason,
      end_detail: null,
      ended_by: null,
      ended_by_name: null,
      server_stats: null,
      skew: null,
      updated_at: T0,
      adaptive: null,
    });
    await store.db
      .insertInto('live_streams')
      .values([stream(1, 'operator', true), stream(2, 'operator', true), stream(3, 'source_lost', true), stream(4, null, true), stream(5, null, false)])
      .execute();
    const f = await liveEndFamilies({ store });
    expect(value(f, 'loanet_live_streams_ended_total', { reason: 'operator' })).toBe(2);
    expect(value(f, 'loanet_live_streams_ended_total', { reason: 'source_lost' })).toBe(1);
    expect(value(f, 'loanet_live_streams_ended_total', { reason: 'unknown' })).toBe(1);
    expect(f[0]!.samples.reduce((n, s) => n + s.value, 0)).toBe(4);
  });
});
