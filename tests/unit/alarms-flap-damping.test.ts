import { describe, expect, it } from 'vitest';
import { openAlarm } from '../../server/alarms/alarm-lifecycle.ts';
import { DEFAULT_DAMPING_POLICY, type DampingPolicy, dueAction, nextDueAt, pendingMsOf, validDampingPolicy } from '../../server/alarms/flap-damping.ts';
import type { Alarm } from '../../server/alarms/model.ts';

const T = Date.UTC(2026, 11, 5, 3, 0);
const P: DampingPolicy = DEFAULT_DAMPING_POLICY;
const HOLD = P.holdDownMs;
const ONLINE = { state: 'online' as const, since: null };
const OFFLINE = { state: 'offline' as const };
const UNKNOWN = { state: 'unknown' as const };

function alarm(kind: Alarm['kind'], over: Partial<Alarm> = {}): Alarm {
  return { ...openAlarm('al-1', { siteId: 'C-01', kind: 'cluster', areaId: 1 }, { kind, severity: 'minor', reasons: [] }, T), ...over };
}

describe('flap damping: when time alone shows, clears or drops an alarm', () => {
  it('the defaults are valid and give offline no pending delay (the verdict already waited two heartbeats)', () => {
    expect(validDampingPolicy(P)).toBe(true);
    expect(pendingMsOf('site_offline', P)).toBe(0);
    expect(pendingMsOf('weak_signal', P)).toBe(600_000);
    expect(validDampingPolicy({ ...P, holdDownMs: -1 })).toBe(false);
    expect(validDampingPolicy({ ...P, pendingMsByKind: { nope: 1 } as never })).toBe(false);
  });

  it('a pending alarm shows when its delay is over and the fault is still there', () => {
    const a = alarm('speaker_line');
    expect(dueAction(a, ONLINE, T + 59_999, P)).toBeNull();
    expect(nextDueAt(a, ONLINE, P)).toBe(T + 60_000);
    expect(dueAction(a, ONLINE, T + 60_000, P)).toBe('surface');
  });

  it('a glitch shorter than the delay that does not come back is dropped after the hold-down, never shown', () => {
    const a = alarm('speaker_line', { active: false, inactiveSince: T + 10_000 });
    expect(dueAction(a, ONLINE, T + 60_000, P)).toBeNull();
    expect(nextDueAt(a, ONLINE, P)).toBe(T + 10_000 + HOLD);
    expect(dueAction(a, ONLINE, T + 10_000 + HOLD, P)).toBe('drop');
  });

  it('a fault that keeps coming back shows at the end of its delay even if absent at that moment', () => {
    const a = alarm('amplifier_hot', { active: false, inactiveSince: T + 100_000, count: 3 });
    expect(dueAction(a, ONLINE, T + 120_000, P)).toBe('surface');
  });

  it('a shown alarm whose fault went away clears after the hold-down, not before', () => {
    const a = alarm('site_offline', { state: 'raised', raisedAt: T, active: false, inactiveSince: T + 1000 });
    expect(dueAction(a, ONLINE, T + 1000 + HOLD - 1, P)).toBeNull();
    expect(dueAction(a, ONLINE, T + 1000 + HOLD, P)).toBe('clear');
  });

  it("an offline site's other alarms are held: no clock runs until it is back, then the hold-down counts from its return", () => {
    const a = alarm('speaker_line', { state: 'raised', raisedAt: T, active: false, inactiveSince: T + 1000 });
    expect(dueAction(a, OFFLINE, T + 10 * HOLD, P)).toBeNull();
    expect(nextDueAt(a, OFFLINE, P)).toBeNull();
    const back = { state: 'online' as const, since: T + 20 * HOLD };
    expect(dueAction(a, back, T + 21 * HOLD - 1, P)).toBeNull();
    expect(dueAction(a, back, T + 21 * HOLD, P)).toBe('clear');
    // The offline alarm itself and a failed update are not held.
    const off = alarm('site_offline', { state: 'raised', raisedAt: T, active: false, inactiveSince: T });
    expect(dueAction(off, OFFLINE, T + HOLD, P)).toBe('clear');
    const update = alarm('update_failed', { state: 'raised', raisedAt: T, active: false, inactiveSince: T });
    expect(dueAction(update, OFFLINE, T + HOLD, P)).toBe('clear');
  });

  it('a site not heard of since a restart holds every alarm the verdict feeds, the offline one too', () => {
    const off = alarm('site_offline', { state: 'raised', raisedAt: T, active: false, inactiveSince: T });
    expect(dueAction(off, UNKNOWN, T + 10 * HOLD, P)).toBeNull();
    expect(dueAction(alarm('speaker_line'), UNKNOWN, T + 10 * HOLD, P)).toBeNull();
    const update = alarm('update_failed', { state: 'raised', raisedAt: T, active: false, inactiveSince: T });
    expect(dueAction(update, UNKNOWN, T + HOLD, P)).toBe('clear');
  });

  it('an active shown alarm and a cleared one have nothing due', () => {
    expect(nextDueAt(alarm('site_offline', { state: 'raised', raisedAt: T }), ONLINE, P)).toBeNull();
    expect(dueAction(alarm('site_offline', { state: 'cleared', active: false, inactiveSince: T }), ONLINE, T + 10 * HOLD, P)).toBeNull();
  });
});
