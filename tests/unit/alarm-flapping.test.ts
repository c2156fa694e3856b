/**
 * The case at length: "link flapping every 20 s for 10 minutes
 * yields one alarm with a count". The pure alarm engine and the pure
 * notification rules chained as the services chain them (the engine's
 * effects through signalOfAlarmEffect into the policy), each ticked at its
 * own due times, on simulated time: 30 offline/online cycles of 20 s.
 */
import { describe, expect, it } from 'vitest';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import { classifySite } from '../../server/coverage/site-condition.ts';
import { DEFAULT_COVERAGE_POLICY, type SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaLevel, AreaNode } from '../../server/registry/model.ts';
import { type AlarmEffect, AlarmEngine, type AlarmInput } from '../../server/alarms/alarm-engine.ts';
import { DEFAULT_DAMPING_POLICY } from '../../server/alarms/flap-damping.ts';
import { DEFAULT_INCIDENT_POLICY } from '../../server/alarms/incidents.ts';
import type { Alarm } from '../../server/alarms/model.ts';
import { signalOfAlarmEffect } from '../../server/notifications/alarm-signals.ts';
import type { NotificationEffect, NotificationRule, Recipient } from '../../server/notifications/model.ts';
import { NotificationPolicy } from '../../server/notifications/policy.ts';
import { healthyTelemetry } from '../helpers/site-telemetry.ts';

/** 10:00 in Hà Nội: outside the quiet hours, so nothing waits for the morning. */
const T0 = Date.UTC(2026, 11, 5, 3, 0);
const HOLD = DEFAULT_DAMPING_POLICY.holdDownMs;
const MIN = 60_000;
const CYCLE_MS = 20_000;
const CYCLES = 30;

function area(id: number, code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id, key: `2025.${code}`, code, version: '2025', name, level, parentId: parent?.id ?? null };
}
const PROVINCE = area(1, '15', 'Lào Cai', 'province', null);
const COMMUNE = area(2, '02650', 'Xã Mường Khương', 'commune', PROVINCE);
const VILLAGE = area(3, '0265001', 'Thôn Sả Hồ', 'village', COMMUNE);
const index = AreaIndex.build([PROVINCE, COMMUNE, VILLAGE]);
const SITE = { siteId: 'CL-SH', kind: 'cluster' as const, areaId: VILLAGE.id };

const USERS: Recipient[] = [
  { id: 1, role: 'admin', areaId: null },
  { id: 10, role: 'technician', areaId: COMMUNE.id },
];
/** Technicians after 2 minutes, the admins 30 minutes later if nobody owns it. */
const RULE: NotificationRule = {
  id: 1,
  areaId: PROVINCE.id,
  minSeverity: 'major',
  kinds: null,
  delayMs: 2 * MIN,
  escalateAfterMs: 30 * MIN,
  steps: [
    { roles: ['technician'], userIds: [] },
    { roles: ['admin'], userIds: [] },
  ],
  enabled: true,
};

function verdictAt(at: number, online: boolean): SiteVerdict {
  return classifySite(
    {
      siteId: SITE.siteId,
      name: 'Cụm loa thôn Sả Hồ',
      kind: SITE.kind,
      areaId: SITE.areaId,
      firstSeenAt: T0 - 86_400_000,
      lastSeenAt: online ? at : at - 1000,
      connected: online,
      disconnectedAt: online ? null : at - 1000,
      intervalS: 30,
      telemetry: healthyTelemetry(SITE.siteId, 1),
      lastSoundVerifiedAt: null,
      lastSoundCheck: null,
      expectsMonitorMic: false,
    },
    at,
    DEFAULT_COVERAGE_POLICY,
  );
}

/** The engine and the rules as the two services run them: every engine effect handed on, each side ticked when it says it is due. */
class Chain {
  readonly engine = new AlarmEngine({ index, damping: DEFAULT_DAMPING_POLICY, incidents: DEFAULT_INCIDENT_POLICY });
  readonly rules = new NotificationPolicy({ path: (areaId) => [areaId, ...index.ancestors(areaId).map((a) => a.id)] }, { quietHours: null, announceDelayMs: 60_000 });
  readonly alarmEffects: AlarmEffect[] = [];
  readonly notices: NotificationEffect[] = [];
  /** Every signal the rules received, by type. */
  readonly signals = new Map<string, number>();

  constructor() {
    this.rules.setRules([RULE]);
    this.rules.setRecipients(USERS);
  }

  verdict(at: number, online: boolean): void {
    this.advance(at);
    this.feed({ type: 'verdict', at, site: SITE, verdict: verdictAt(at, online) });
  }

  /** Both timers, in time order, up to `at`. */
  advance(at: number): void {
    for (;;) {
      const a = this.engine.nextDueAt();
      const n = this.rules.nextDueAt();
      const next = Math.min(a ?? Number.POSITIVE_INFINITY, n ?? Number.POSITIVE_INFINITY);
      if (next > at) return;
      if (a !== null && a === next) this.feed({ type: 'tick', at: a });
      else this.notices.push(...this.rules.tick(next));
    }
  }

  private feed(input: AlarmInput): void {
    const r = this.engine.step(input);
    this.alarmEffects.push(...r.effects);
    for (const e of r.effects) {
      const s = signalOfAlarmEffect(e);
      if (!s) continue;
      this.signals.set(s.type, (this.signals.get(s.type) ?? 0) + 1);
      this.notices.push(...this.rules.step(s));
    }
  }

  of<T extends AlarmEffect['type']>(type: T): Extract<AlarmEffect, { type: T }>[] {
    return this.alarmEffects.filter((e): e is Extract<AlarmEffect, { type: T }> => e.type === type);
  }

  noticesOf<T extends NotificationEffect['type']>(type: T): Extract<NotificationEffect, { type: T }>[] {
    return this.notices.filter((e): e is Extract<NotificationEffect, { type: T }> => e.type === type);
  }
}

describe('a link flapping every 20 s for 10 minutes', () => {
  it('is one alarm with a count of 30, and the notification rules hear of one alarm, not 30', () => {
    const c = new Chain();
    c.verdict(T0, true);
    const start = T0 + MIN;
    for (let i = 0; i < CYCLES; i++) {
      const at = start + i * CYCLE_MS;
      c.verdict(at, false);
      c.verdict(at + CYCLE_MS / 2, true);
    }
    const end = start + CYCLES * CYCLE_MS;
    expect(end - start).toBe(10 * MIN);
    c.advance(end);

    const raised = c.of('alarm_raised');
    expect(raised).toHaveLength(1);
    const id = raised[0]!.alarm.id;
    const open = c.engine.state.open.get(`${SITE.siteId}/site_offline`);
    expect(open).toMatchObject({ id, state: 'raised', count: CYCLES, active: false });
    // Every alarm effect is about that one alarm.
    const ids = new Set(c.alarmEffects.flatMap((e) => ('alarm' in e ? [e.alarm.id] : 'alarmId' in e ? [e.alarmId] : [])));
    expect([...ids]).toEqual([id]);

    // The rules: one alarm due, one page to the commune's technician after the delay, one webhook; the 29 returns changed nothing for them.
    expect(c.of('notification_due')).toHaveLength(1);
    expect(c.signals.get('alarm_due')).toBe(1);
    expect(c.rules.openTracks).toBe(1);
    expect(c.noticesOf('tell')).toEqual([expect.objectContaining({ userIds: [10], cause: 'raised', step: 0, at: start + RULE.delayMs })]);
    expect(c.noticesOf('announce').map((e) => e.event)).toEqual(['alarm.raised']);

    // It holds from the last return: cleared one hold-down later, with its count, and the rules stop there (no escalation to the admins).
    const lastReturn = start + (CYCLES - 1) * CYCLE_MS + CYCLE_MS / 2;
    c.advance(lastReturn + HOLD - 1);
    expect(c.engine.state.open.get(`${SITE.siteId}/site_offline`)?.state).toBe('raised');
    c.advance(lastReturn + HOLD);
    const cleared = c.of('alarm_cleared');
    expect(cleared).toHaveLength(1);
    expect(cleared[0]!.alarm).toMatchObject<Partial<Alarm>>({ id, state: 'cleared', count: CYCLES });
    expect(c.rules.openTracks).toBe(0);
    c.advance(lastReturn + 2 * RULE.escalateAfterMs!);
    expect(c.noticesOf('tell')).toHaveLength(1);
    expect(c.noticesOf('announce').map((e) => e.event)).toEqual(['alarm.raised', 'alarm.cleared']);
  });
});
