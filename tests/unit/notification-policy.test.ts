import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { ALARM_KINDS, ALARM_SEVERITIES, type AlarmKind, type AlarmSeverity } from '../../server/alarms/model.ts';
import { ROLES } from '../../server/auth/users.ts';
import { withinScope } from '../../server/auth/scope-policy.ts';
import {
  type AlarmRef,
  type AlarmSignal,
  DEFAULT_QUIET_HOURS,
  type NotificationEffect,
  type NotificationRule,
  type Recipient,
  stopsAlertsBeingHeard,
} from '../../server/notifications/model.ts';
import { NotificationPolicy, type PolicyOptions, quietEndsAt } from '../../server/notifications/policy.ts';

// Province 1 → district 2 → communes 3 (A) and 4 (B) → villages 5 (in A) and 6 (in B).
const PARENT: Record<number, number | null> = { 1: null, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4 };
const tree = {
  path(areaId: number): number[] {
    const out: number[] = [];
    for (let a: number | null = areaId; a !== null && a !== undefined; a = PARENT[a] ?? null) out.push(a);
    return out;
  },
  isInSubtree(id: number, ancestorId: number): boolean {
    return this.path(id).includes(ancestorId);
  },
};

/** 10:00 in Hà Nội (UTC+7). */
const DAY = Date.UTC(2026, 11, 5, 3, 0, 0);
/** 23:00 in Hà Nội: quiet hours, which end at 06:00 local (23:00 UTC). */
const NIGHT = Date.UTC(2026, 11, 5, 16, 0, 0);
const MORNING = Date.UTC(2026, 11, 5, 23, 0, 0);
const MIN = 60_000;

const USERS: Recipient[] = [
  { id: 1, role: 'admin', areaId: null },
  { id: 2, role: 'admin', areaId: 1 },
  { id: 10, role: 'technician', areaId: 3 },
  { id: 11, role: 'technician', areaId: 3 },
  { id: 20, role: 'technician', areaId: 4 },
  { id: 30, role: 'operator', areaId: 5 },
];

function rule(over: Partial<NotificationRule> = {}): NotificationRule {
  return {
    id: 1,
    areaId: 1,
    minSeverity: 'major',
    kinds: null,
    delayMs: 5 * MIN,
    escalateAfterMs: 30 * MIN,
    steps: [
      { roles: ['technician'], userIds: [] },
      { roles: ['admin'], userIds: [] },
    ],
    enabled: true,
    ...over,
  };
}

function alarm(over: Partial<AlarmRef> = {}): AlarmRef {
  return { alarmId: 'a1', siteId: 's-5', areaId: 5, kind: 'site_offline', severity: 'major', incidentId: null, ...over };
}

function policy(rules: NotificationRule[] = [rule()], opts: Partial<PolicyOptions> = {}): NotificationPolicy {
  const p = new NotificationPolicy(tree, { quietHours: DEFAULT_QUIET_HOURS, announceDelayMs: 60_000, ...opts });
  p.setRules(rules);
  p.setRecipients(USERS);
  return p;
}

const tells = (effects: NotificationEffect[]) => effects.filter((e) => e.type === 'tell');
const told = (effects: NotificationEffect[]) => tells(effects).flatMap((e) => e.userIds);

describe('notification rules: delay', () => {
  it('an alarm cleared before the delay tells nobody, not even the outbox', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    expect(tells(p.tick(DAY + 30_000))).toEqual([]);
    const closed = p.step({ type: 'alarm_closed', at: DAY + 30_000, alarmId: 'a1', by: null, note: null });
    expect(closed).toEqual([{ type: 'track_closed', alarmId: 'a1' }]);
    expect(p.nextDueAt()).toBeNull();
    expect(p.tick(DAY + 60 * MIN)).toEqual([]);
  });

  it('after the delay, the first step inside the alarm scope is told once; then the outbox hears raised and cleared', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    expect(p.nextDueAt()).toBe(DAY + 60_000);
    const announced = p.tick(DAY + 60_000);
    expect(announced.filter((e) => e.type === 'announce').map((e) => e.type === 'announce' && e.event)).toEqual(['alarm.raised']);
    expect(p.nextDueAt()).toBe(DAY + 5 * MIN);
    const first = p.tick(DAY + 5 * MIN);
    // Commune A's technicians; commune B's (20) never.
    expect(tells(first)).toEqual([{ type: 'tell', at: DAY + 5 * MIN, alarm: alarm(), userIds: [10, 11], cause: 'raised', ruleId: 1, step: 0 }]);
    const closed = p.step({ type: 'alarm_closed', at: DAY + 6 * MIN, alarmId: 'a1', by: null, note: null });
    expect(closed.map((e) => (e.type === 'announce' ? e.event : e.type))).toEqual(['alarm.cleared', 'track_closed']);
  });
});

describe('notification rules: escalation', () => {
  it('not acknowledged within the time: the next step (the province) is told, once', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    p.tick(DAY + 5 * MIN);
    expect(p.nextDueAt()).toBe(DAY + 35 * MIN);
    const esc = tells(p.tick(DAY + 35 * MIN));
    expect(esc).toEqual([{ type: 'tell', at: DAY + 35 * MIN, alarm: alarm(), userIds: [1, 2], cause: 'escalated', ruleId: 1, step: 1 }]);
    expect(p.nextDueAt()).toBeNull();
  });

  it('acknowledged before the time: nobody more is told, and the outbox hears the acknowledgement', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    p.tick(DAY + 5 * MIN);
    const ack = p.step({ type: 'alarm_acknowledged', at: DAY + 10 * MIN, alarmId: 'a1', by: 'tech10', note: 'on my way' });
    expect(ack[0]).toMatchObject({ type: 'announce', event: 'alarm.acknowledged', by: 'tech10', note: 'on my way' });
    expect(p.nextDueAt()).toBeNull();
    expect(tells(p.tick(DAY + 120 * MIN))).toEqual([]);
  });

  it('a step that reaches nobody in scope passes to the next at once', () => {
    // Commune B's village 6 has no operator: the operators' step is skipped, the technician told at the delay.
    const p = policy([
      rule({
        steps: [
          { roles: ['operator'], userIds: [] },
          { roles: ['technician'], userIds: [] },
        ],
      }),
    ]);
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ areaId: 6, siteId: 's-6' }), cause: 'raised' });
    const t = tells(p.tick(DAY + 5 * MIN));
    expect(t).toMatchObject([{ userIds: [20], cause: 'escalated', step: 1 }]);
  });

  it('nobody is told twice of one alarm, whatever the rules name', () => {
    const p = policy([rule({ id: 1 }), rule({ id: 2, areaId: 3, delayMs: 6 * MIN, steps: [{ roles: ['technician'], userIds: [1] }] })]);
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    expect(told(p.tick(DAY + 5 * MIN))).toEqual([10, 11]);
    expect(told(p.tick(DAY + 6 * MIN))).toEqual([1]);
    expect(told(p.tick(DAY + 35 * MIN))).toEqual([2]);
  });
});

describe('notification rules: incidents', () => {
  it('a commune station cut with its villages is one page: nobody is told twice of one incident', () => {
    const p = policy();
    // The station goes first; its villages join the incident as they are raised, within the delay.
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ alarmId: 'station', areaId: 3, siteId: 'station-a' }), cause: 'raised' });
    p.step({ type: 'alarm_due', at: DAY + 10_000, alarm: alarm({ alarmId: 'v1', incidentId: 'in-1' }), cause: 'raised' });
    p.step({ type: 'alarm_changed', at: DAY + 10_000, alarm: alarm({ alarmId: 'station', areaId: 3, siteId: 'station-a', incidentId: 'in-1' }) });
    p.step({ type: 'alarm_due', at: DAY + 20_000, alarm: alarm({ alarmId: 'v2', incidentId: 'in-1' }), cause: 'raised' });
    const out: NotificationEffect[] = [];
    for (let due = p.nextDueAt(); due !== null && due <= DAY + 10 * MIN; due = p.nextDueAt()) out.push(...p.tick(due));
    expect(tells(out).map((t) => [t.alarm.alarmId, t.userIds])).toEqual([['station', [10, 11]]]);
    // The escalation too: the province is told once, of the first alarm still unacknowledged.
    const esc: NotificationEffect[] = [];
    for (let due = p.nextDueAt(); due !== null && due <= DAY + 60 * MIN; due = p.nextDueAt()) esc.push(...p.tick(due));
    expect(tells(esc).map((t) => [t.alarm.alarmId, t.userIds, t.cause])).toEqual([['station', [1, 2], 'escalated']]);
  });

  it('an alarm of another incident, or of none, is told as usual', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ alarmId: 'x', incidentId: 'in-1' }), cause: 'raised' });
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ alarmId: 'y', incidentId: 'in-2' }), cause: 'raised' });
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ alarmId: 'z' }), cause: 'raised' });
    expect(tells(p.tick(DAY + 5 * MIN)).map((t) => t.alarm.alarmId)).toEqual(['x', 'y', 'z']);
  });
});

describe('notification rules: scope', () => {
  it('a user named by id outside the alarm scope is not told', () => {
    const p = policy([rule({ steps: [{ roles: [], userIds: [20, 10] }] })]);
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    expect(told(p.tick(DAY + 5 * MIN))).toEqual([10]);
  });

  it("a rule of commune B does not cover commune A's alarms", () => {
    const p = policy([rule({ areaId: 4 })]);
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    expect(p.track('a1')!.rules).toEqual([]);
  });

  it('severity and kinds filter rules; a worse severity starts the rules it now matches', () => {
    const p = policy([rule({ id: 1, minSeverity: 'critical' }), rule({ id: 2, minSeverity: 'minor', kinds: ['power'] })]);
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ severity: 'major' }), cause: 'raised' });
    expect(p.track('a1')!.rules).toEqual([]);
    p.step({ type: 'alarm_due', at: DAY + MIN, alarm: alarm({ severity: 'critical' }), cause: 'severity_raised' });
    expect(p.track('a1')!.rules.map((r) => r.ruleId)).toEqual([1]);
    expect(tells(p.tick(DAY + 6 * MIN))).toMatchObject([{ cause: 'severity_raised', userIds: [10, 11] }]);
  });
});

describe('notification rules: quiet hours (Asia/Ho_Chi_Minh 22:00–06:00)', () => {
  it('quietEndsAt: inside the night the end is 06:00 local, outside null', () => {
    expect(quietEndsAt(NIGHT, DEFAULT_QUIET_HOURS)).toBe(MORNING);
    expect(quietEndsAt(Date.UTC(2026, 11, 5, 22, 59), DEFAULT_QUIET_HOURS)).toBe(MORNING);
    expect(quietEndsAt(MORNING, DEFAULT_QUIET_HOURS)).toBeNull();
    expect(quietEndsAt(DAY, DEFAULT_QUIET_HOURS)).toBeNull();
    expect(quietEndsAt(Date.UTC(2026, 11, 5, 15, 0), DEFAULT_QUIET_HOURS)).toBe(MORNING);
    expect(quietEndsAt(Date.UTC(2026, 11, 5, 14, 59), DEFAULT_QUIET_HOURS)).toBeNull();
  });

  it('a hot amplifier at night waits for the morning; a site offline wakes the technician', () => {
    const p = policy([rule({ minSeverity: 'warning' })]);
    p.step({ type: 'alarm_due', at: NIGHT, alarm: alarm({ alarmId: 'hot', kind: 'amplifier_hot', severity: 'minor' }), cause: 'raised' });
    p.step({ type: 'alarm_due', at: NIGHT, alarm: alarm({ alarmId: 'off' }), cause: 'raised' });
    const night = tells(p.tick(NIGHT + 5 * MIN));
    expect(night.map((t) => t.alarm.alarmId)).toEqual(['off']);
    expect(tells(p.tick(MORNING - 1))).toMatchObject([{ alarm: { alarmId: 'off' }, cause: 'escalated' }]);
    expect(tells(p.tick(MORNING)).map((t) => [t.alarm.alarmId, t.userIds])).toEqual([['hot', [10, 11]]]);
  });

  it('mains lost at night waits for the morning, until the battery turns critical: then it wakes the technician', () => {
    const p = policy([rule({ minSeverity: 'minor' })]);
    p.step({ type: 'alarm_due', at: NIGHT, alarm: alarm({ kind: 'power', severity: 'minor' }), cause: 'raised' });
    expect(tells(p.tick(NIGHT + 5 * MIN))).toEqual([]);
    p.step({ type: 'alarm_due', at: NIGHT + 60 * MIN, alarm: alarm({ kind: 'power', severity: 'major' }), cause: 'severity_raised' });
    expect(tells(p.tick(NIGHT + 60 * MIN))).toMatchObject([{ userIds: [10, 11], cause: 'raised' }]);
  });

  it('an alarm that stops being one that silences (severity fell) waits for the morning again', () => {
    const p = policy([rule({ minSeverity: 'minor' })]);
    p.step({ type: 'alarm_due', at: NIGHT, alarm: alarm({ kind: 'power', severity: 'major' }), cause: 'raised' });
    p.tick(NIGHT + 5 * MIN);
    p.step({ type: 'alarm_changed', at: NIGHT + 6 * MIN, alarm: alarm({ kind: 'power', severity: 'minor' }) });
    expect(p.nextDueAt()).toBe(MORNING);
  });

  it('what stops an alert being heard is the hearing kinds at major or worse', () => {
    expect(stopsAlertsBeingHeard('site_offline', 'major')).toBe(true);
    expect(stopsAlertsBeingHeard('power', 'major')).toBe(true);
    expect(stopsAlertsBeingHeard('power', 'minor')).toBe(false);
    expect(stopsAlertsBeingHeard('speaker_line', 'minor')).toBe(false);
    expect(stopsAlertsBeingHeard('amplifier_hot', 'critical')).toBe(false);
    expect(stopsAlertsBeingHeard('weak_signal', 'major')).toBe(false);
  });
});

// ---- properties over random rules, users and alarm streams ----

const AREAS = [1, 2, 3, 4, 5, 6];
const ruleArb: fc.Arbitrary<NotificationRule> = fc.record({
  id: fc.integer({ min: 1, max: 6 }),
  areaId: fc.option(fc.constantFrom(...AREAS), { freq: 4 }),
  minSeverity: fc.constantFrom(...ALARM_SEVERITIES),
  kinds: fc.option(fc.subarray([...ALARM_KINDS], { minLength: 1 }), { freq: 2 }),
  delayMs: fc.integer({ min: 0, max: 20 * MIN }),
  escalateAfterMs: fc.option(fc.integer({ min: MIN, max: 60 * MIN }), { freq: 4 }),
  steps: fc.array(fc.record({ roles: fc.subarray([...ROLES]), userIds: fc.subarray([1, 2, 3, 4, 5, 6, 7, 8]) }), { minLength: 1, maxLength: 3 }),
  enabled: fc.boolean(),
});
const userArb: fc.Arbitrary<Recipient[]> = fc
  .array(fc.record({ role: fc.constantFrom(...ROLES), areaId: fc.option(fc.constantFrom(...AREAS), { freq: 5 }) }), { maxLength: 8 })
  .map((us) => us.map((u, i) => ({ ...u, id: i + 1 })));
type Ev = {
  dt: number;
  alarm: number;
  what: 'raise' | 'worse' | 'join' | 'ack' | 'close' | 'tick';
  areaId: number;
  kind: AlarmKind;
  severity: AlarmSeverity;
  incident: string | null;
};
const evArb: fc.Arbitrary<Ev> = fc.record({
  dt: fc.integer({ min: 0, max: 40 * MIN }),
  alarm: fc.nat(5),
  what: fc.constantFrom('raise', 'worse', 'join', 'ack', 'close', 'tick', 'tick'),
  areaId: fc.constantFrom(...AREAS),
  kind: fc.constantFrom(...ALARM_KINDS),
  severity: fc.constantFrom(...ALARM_SEVERITIES),
  incident: fc.constantFrom(null, 'in-1', 'in-2'),
});

function signalOf(e: Ev, at: number, known: Map<string, AlarmRef>): AlarmSignal | null {
  const id = `a${e.alarm}`;
  const ref = known.get(id) ?? { alarmId: id, siteId: `s${e.alarm}`, areaId: e.areaId, kind: e.kind, severity: e.severity, incidentId: null };
  switch (e.what) {
    case 'raise':
      known.set(id, ref);
      return { type: 'alarm_due', at, alarm: ref, cause: 'raised' };
    case 'worse': {
      const worse = { ...ref, severity: e.severity };
      known.set(id, worse);
      return { type: 'alarm_due', at, alarm: worse, cause: 'severity_raised' };
    }
    case 'join': {
      const joined = { ...ref, incidentId: e.incident };
      known.set(id, joined);
      return { type: 'alarm_changed', at, alarm: joined };
    }
    case 'ack':
      return { type: 'alarm_acknowledged', at, alarmId: id, by: 'x', note: null };
    case 'close':
      known.delete(id);
      return { type: 'alarm_closed', at, alarmId: id, by: null, note: null };
    case 'tick':
      return null;
  }
}

/** Runs the stream, ticking to each due time in between; every effect with the time it was made. */
function run(p: NotificationPolicy, events: Ev[], start: number, until = events.length): { effects: NotificationEffect[]; at: number; toldOwned: number } {
  const known = new Map<string, AlarmRef>();
  const effects: NotificationEffect[] = [];
  // Alarms acknowledged and not closed since: a tell of one is a failure.
  const owned = new Set<string>();
  let toldOwned = 0;
  let at = start;
  for (const e of events.slice(0, until)) {
    const next = at + e.dt;
    for (let due = p.nextDueAt(); due !== null && due <= next; due = p.nextDueAt()) {
      const out = p.tick(due);
      toldOwned += out.filter((x) => x.type === 'tell' && owned.has(x.alarm.alarmId)).length;
      effects.push(...out);
    }
    at = next;
    const s = signalOf(e, at, known);
    if (s?.type === 'alarm_acknowledged' && p.track(s.alarmId)) owned.add(s.alarmId);
    if (s?.type === 'alarm_closed') owned.delete(s.alarmId);
    if (s) effects.push(...p.step(s));
  }
  return { effects, at, toldOwned };
}

describe('notification rules: properties', () => {
  const uniqueRules = fc.uniqueArray(ruleArb, { selector: (r) => r.id, maxLength: 4 });
  const startArb = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 11, 31) });

  it('every person told is inside the alarm scope, told at most once per alarm, never of a closed or acknowledged one, never in quiet hours unless it stops alerts being heard', () => {
    fc.assert(
      fc.property(uniqueRules, userArb, fc.array(evArb, { maxLength: 60 }), startArb, (rules, users, events, start) => {
        const p = policy(rules);
        p.setRecipients(users);
        const { effects, toldOwned } = run(p, events, start);
        expect(toldOwned).toBe(0);
        const byId = new Map(users.map((u) => [u.id, u]));
        const toldOf = new Map<string, Set<number>>();
        for (const e of effects) {
          if (e.type === 'track_closed') toldOf.delete(e.alarmId);
          if (e.type !== 'tell') continue;
          expect(e.userIds.length).toBeGreaterThan(0);
          const seen = toldOf.get(e.alarm.alarmId) ?? new Set<number>();
          for (const id of e.userIds) {
            const u = byId.get(id)!;
            expect(withinScope(u.areaId, e.alarm.areaId, tree)).toBe(true);
            expect(seen.has(id)).toBe(false);
            seen.add(id);
          }
          toldOf.set(e.alarm.alarmId, seen);
          if (!stopsAlertsBeingHeard(e.alarm.kind, e.alarm.severity)) expect(quietEndsAt(e.at, DEFAULT_QUIET_HOURS)).toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('an alarm closed before every delay of its rules and the announce delay tells nobody and nothing', () => {
    fc.assert(
      fc.property(uniqueRules, userArb, startArb, fc.integer({ min: 0, max: 59_999 }), (rules, users, start, life) => {
        const p = policy(rules.map((r) => ({ ...r, delayMs: Math.max(r.delayMs, 60_000) })));
        p.setRecipients(users);
        const out = [...p.step({ type: 'alarm_due', at: start, alarm: alarm(), cause: 'raised' }), ...p.tick(start + life)];
        out.push(...p.step({ type: 'alarm_closed', at: start + life, alarmId: 'a1', by: null, note: null }));
        out.push(...p.tick(start + 365 * 86_400_000));
        expect(out.filter((e) => e.type === 'tell' || e.type === 'announce')).toEqual([]);
        expect(p.openTracks).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a restart (tracks restored from what was saved) goes on exactly as if none happened', () => {
    fc.assert(
      fc.property(uniqueRules, userArb, fc.array(evArb, { minLength: 1, maxLength: 40 }), startArb, fc.nat(), (rules, users, events, start, cutAt) => {
        const cut = cutAt % events.length;
        const straight = policy(rules);
        straight.setRecipients(users);
        const all = run(straight, events, start).effects;

        const first = policy(rules);
        first.setRecipients(users);
        const before = run(first, events, start, cut);
        const saved = new Map<string, NonNullable<ReturnType<NotificationPolicy['track']>>>();
        for (const e of before.effects) {
          if (e.type === 'track_saved') saved.set(e.track.alarm.alarmId, e.track);
          if (e.type === 'track_closed') saved.delete(e.alarmId);
        }
        const second = policy(rules);
        second.setRecipients(users);
        second.restore(JSON.parse(JSON.stringify([...saved.values()])));
        // The second instance continues the same stream (its known alarms rebuilt from the first part).
        const rest = runFrom(second, events, before.at, cut, start);
        expect([...before.effects, ...rest].filter((e) => e.type !== 'track_saved')).toEqual(all.filter((e) => e.type !== 'track_saved'));
      }),
      { numRuns: 200 },
    );
  });
});

/** Like run, from event `from` on, with the alarm refs the events before it built. */
function runFrom(p: NotificationPolicy, events: Ev[], at0: number, from: number, start: number): NotificationEffect[] {
  const known = new Map<string, AlarmRef>();
  let t = start;
  for (const e of events.slice(0, from)) {
    t += e.dt;
    signalOf(e, t, known);
  }
  const effects: NotificationEffect[] = [];
  let at = at0;
  for (const e of events.slice(from)) {
    const next = at + e.dt;
    for (let due = p.nextDueAt(); due !== null && due <= next; due = p.nextDueAt()) effects.push(...p.tick(due));
    at = next;
    const s = signalOf(e, at, known);
    if (s) effects.push(...p.step(s));
  }
  return effects;
}

describe('notification rules: a server taking the notifier over', () => {
  it('restore replaces what it followed in an earlier term: an alarm another server closed meanwhile tells nobody here', () => {
    const p = policy();
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm(), cause: 'raised' });
    p.step({ type: 'alarm_due', at: DAY, alarm: alarm({ alarmId: 'a2' }), cause: 'raised' });
    // Stood by while the other server told of a1 and closed a2: the store keeps a1's track as that server left it.
    const a1 = p.track('a1')!;
    p.restore([{ ...a1, told: [10, 11], rules: a1.rules.map((r) => ({ ...r, nextStep: 1, baseAt: null, dueAt: null })), announceAt: null, announced: true }]);
    expect(p.tracked()).toEqual([{ alarmId: 'a1', acknowledged: false }]);
    expect(p.nextDueAt()).toBeNull();
    expect(tells(p.tick(DAY + 60 * MIN))).toEqual([]);
  });
});
