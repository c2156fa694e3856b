/**
 * A notification rule's own quiet hours (policy.ts wakeAt): a rule without
 * them keeps the province's night (22:00-06:00 Asia/Ho_Chi_Minh), one with
 * none (start = end) wakes people at any hour, one with its own hours waits
 * for their end; an alarm that stops alerts being heard never waits.
 */
import { describe, expect, it } from 'vitest';
import { type AlarmRef, DEFAULT_QUIET_HOURS, type NotificationEffect, type NotificationRule, type Recipient } from '../../server/notifications/model.ts';
import { NotificationPolicy } from '../../server/notifications/policy.ts';

// Province 1 → commune 2 → village 3.
const PARENT: Record<number, number | null> = { 1: null, 2: 1, 3: 2 };
const tree = {
  path(areaId: number): number[] {
    const out: number[] = [];
    for (let a: number | null = areaId; a !== null && a !== undefined; a = PARENT[a] ?? null) out.push(a);
    return out;
  },
};
const USERS: Recipient[] = [{ id: 10, role: 'technician', areaId: 2 }];
/** 23:00 in Hà Nội (16:00 UTC). */
const NIGHT = Date.UTC(2026, 11, 5, 16, 0);
const HOUR = 3_600_000;

const rule = (quietHours?: NotificationRule['quietHours']): NotificationRule => ({
  id: 1,
  areaId: 1,
  minSeverity: 'warning',
  kinds: null,
  delayMs: 0,
  escalateAfterMs: null,
  steps: [{ roles: ['technician'], userIds: [] }],
  enabled: true,
  ...(quietHours === undefined ? {} : { quietHours }),
});

/** A minor alarm (a hot amplifier): it can wait for the morning. */
const HOT: AlarmRef = { alarmId: 'a1', siteId: 's', areaId: 3, kind: 'amplifier_hot', severity: 'minor', incidentId: null };

/** When the technician is first told of `alarm`, raised at NIGHT, under `r`. */
function toldAt(r: NotificationRule, alarm: AlarmRef = HOT): number | undefined {
  const p = new NotificationPolicy(tree, { quietHours: DEFAULT_QUIET_HOURS, announceDelayMs: 60_000 });
  p.setRules([r]);
  p.setRecipients(USERS);
  const out: NotificationEffect[] = [...p.step({ type: 'alarm_due', at: NIGHT, alarm, cause: 'raised' })];
  for (let due = p.nextDueAt(); due !== null && due <= NIGHT + 24 * HOUR; due = p.nextDueAt()) out.push(...p.tick(due));
  return out.find((e) => e.type === 'tell')?.at;
}

describe("a notification rule's quiet hours", () => {
  it("without its own, the province's night: told at 06:00", () => {
    expect(toldAt(rule())).toBe(NIGHT + 7 * HOUR);
    expect(toldAt(rule(null))).toBe(NIGHT + 7 * HOUR);
  });

  it('with none of its own (start = end), told at once at 23:00', () => {
    expect(toldAt(rule({ startMinute: 0, endMinute: 0 }))).toBe(NIGHT);
  });

  it('with its own, 20:00-07:30, told at 07:30; one that ends before 23:00 tells at once', () => {
    expect(toldAt(rule({ startMinute: 20 * 60, endMinute: 7 * 60 + 30 }))).toBe(NIGHT + 8.5 * HOUR);
    expect(toldAt(rule({ startMinute: 12 * 60, endMinute: 13 * 60 }))).toBe(NIGHT);
  });

  it('an alarm that stops alerts being heard never waits, whatever the rule says', () => {
    const offline: AlarmRef = { ...HOT, kind: 'site_offline', severity: 'major' };
    expect(toldAt(rule({ startMinute: 20 * 60, endMinute: 7 * 60 }), offline)).toBe(NIGHT);
  });
});
