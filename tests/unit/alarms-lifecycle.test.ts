import { describe, expect, it } from 'vitest';
import { acknowledge, clearAutomatically, clearByHand, faultAbsent, faultPresent, followSite, openAlarm, surface } from '../../server/alarms/alarm-lifecycle.ts';
import type { WantedAlarm } from '../../server/alarms/alarm-rules.ts';
import type { Alarm, AlarmResult } from '../../server/alarms/model.ts';

const T = Date.UTC(2026, 11, 5, 3, 0);
const SITE = { siteId: 'C-01', kind: 'cluster' as const, areaId: 7 };
const oneLine: WantedAlarm = { kind: 'speaker_line', severity: 'minor', reasons: [{ code: 'line_open', params: { line: 1, status: 'open' } }] };
const allLines: WantedAlarm = {
  kind: 'speaker_line',
  severity: 'major',
  reasons: [
    { code: 'no_working_line', params: { lines: 2, open: 2, short: 0 } },
    { code: 'line_open', params: { line: 1, status: 'open' } },
    { code: 'line_open', params: { line: 2, status: 'open' } },
  ],
};

function ok<T>(r: AlarmResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error.code}`);
  return r.value;
}

function raised(): Alarm {
  return ok(surface(openAlarm('al-1', SITE, oneLine, T), T)).alarm;
}

describe('alarm lifecycle: pure transitions with history rows and typed refusals', () => {
  it('a new alarm is pending, keyed by site and kind; showing it writes the raised row', () => {
    const p = openAlarm('al-1', SITE, oneLine, T);
    expect(p).toMatchObject({ key: 'C-01/speaker_line', state: 'pending', count: 1, active: true, raisedAt: null, detectedAt: T });
    const s = ok(surface(p, T + 60_000));
    expect(s.alarm).toMatchObject({ state: 'raised', raisedAt: T + 60_000 });
    expect(s.history).toEqual([{ type: 'raised', alarmId: 'al-1', at: T + 60_000, count: 1, severity: 'minor', reasons: oneLine.reasons }]);
    expect(surface(s.alarm, T + 61_000)).toEqual({ ok: false, error: { code: 'ALARM_NOT_RAISED', alarmId: 'al-1' } });
  });

  it('acknowledged keeps who, when and the note; twice is ALARM_ALREADY_ACKNOWLEDGED; a pending alarm cannot be acknowledged', () => {
    const a = ok(acknowledge(raised(), T + 5, 'tech-lan', '  đang tới  '));
    expect(a.alarm.state).toBe('acknowledged');
    expect(a.alarm.acknowledged).toEqual({ at: T + 5, by: 'tech-lan', note: 'đang tới' });
    expect(a.history).toEqual([{ type: 'acknowledged', alarmId: 'al-1', at: T + 5, count: 1, by: 'tech-lan', note: 'đang tới' }]);
    expect(acknowledge(a.alarm, T + 6, 'tech-hoa')).toEqual({ ok: false, error: { code: 'ALARM_ALREADY_ACKNOWLEDGED', alarmId: 'al-1' } });
    expect(acknowledge(openAlarm('al-2', SITE, oneLine, T), T, 'x')).toEqual({ ok: false, error: { code: 'ALARM_NOT_RAISED', alarmId: 'al-2' } });
    expect(ok(acknowledge(raised(), T, 'x', '   ')).alarm.acknowledged!.note).toBeNull();
  });

  it('a fault that worsens raises the severity (a history row, notifiable); one that improves lowers it', () => {
    const up = faultPresent(raised(), T + 10, allLines);
    expect(up.alarm.severity).toBe('major');
    expect(up.severityRaised).toBe(true);
    expect(up.history).toEqual([{ type: 'severity_changed', alarmId: 'al-1', at: T + 10, count: 1, from: 'minor', to: 'major', reasons: allLines.reasons }]);
    const down = faultPresent(up.alarm, T + 20, oneLine);
    expect(down.alarm.severity).toBe('minor');
    expect(down.severityRaised).toBe(false);
    expect(down.history[0]).toMatchObject({ type: 'severity_changed', from: 'major', to: 'minor' });
  });

  it('a moved measurement changes nothing; another line at the same severity replaces the reasons', () => {
    const a = raised();
    const same = faultPresent(a, T + 10, { ...oneLine, reasons: [{ code: 'line_open', params: { line: 1, status: 'open' } }] });
    expect(same.alarm).toBe(a);
    expect(same.history).toEqual([]);
    const other = faultPresent(a, T + 10, { ...oneLine, reasons: [{ code: 'line_open', params: { line: 2, status: 'open' } }] });
    expect(other.alarm.reasons[0]!.params.line).toBe(2);
    expect(other.history.map((h) => h.type)).toEqual(['reasons_changed']);
  });

  it('a fault that goes and comes back reopens the same alarm, count + 1, still acknowledged', () => {
    const acked = ok(acknowledge(raised(), T + 5, 'tech-lan')).alarm;
    const gone = faultAbsent(acked, T + 30_000);
    expect(gone).toMatchObject({ active: false, inactiveSince: T + 30_000, state: 'acknowledged' });
    const back = faultPresent(gone, T + 50_000, oneLine);
    expect(back.reopened).toBe(true);
    expect(back.alarm).toMatchObject({ active: true, inactiveSince: null, count: 2, state: 'acknowledged', id: 'al-1' });
    expect(back.history).toEqual([]);
  });

  it('cleared automatically is final with its cause; every action on it after is ALARM_ALREADY_CLEARED', () => {
    const c = clearAutomatically(faultAbsent(raised(), T + 1), T + 300_001, 'condition_cleared');
    expect(c.alarm.state).toBe('cleared');
    expect(c.alarm.cleared).toEqual({ at: T + 300_001, cause: 'condition_cleared', by: null, note: null });
    expect(c.history).toEqual([{ type: 'cleared', alarmId: 'al-1', at: T + 300_001, count: 1, cause: 'condition_cleared', by: null, note: null }]);
    const refused = { ok: false, error: { code: 'ALARM_ALREADY_CLEARED', alarmId: 'al-1' } };
    expect(acknowledge(c.alarm, T, 'x')).toEqual(refused);
    expect(clearByHand(c.alarm, T, 'x', 'done', false)).toEqual(refused);
    expect(faultPresent(c.alarm, T, oneLine).alarm).toBe(c.alarm);
    expect(clearAutomatically(c.alarm, T, 'site_removed').history).toEqual([]);
  });

  it('cleared by hand needs a note, and is refused while the server still sees the fault', () => {
    const a = raised();
    expect(clearByHand(a, T, 'tech-lan', '', false)).toEqual({ ok: false, error: { code: 'ALARM_NOTE_REQUIRED', alarmId: 'al-1' } });
    expect(clearByHand(a, T, 'tech-lan', 'đã thay loa', true)).toEqual({ ok: false, error: { code: 'ALARM_CONDITION_ACTIVE', alarmId: 'al-1' } });
    const done = ok(clearByHand(faultAbsent(a, T + 1), T + 2, 'tech-lan', 'đã thay loa', false));
    expect(done.alarm.cleared).toEqual({ at: T + 2, cause: 'manual', by: 'tech-lan', note: 'đã thay loa' });
    expect(done.history).toEqual([{ type: 'cleared', alarmId: 'al-1', at: T + 2, count: 1, cause: 'manual', by: 'tech-lan', note: 'đã thay loa' }]);
    expect(clearByHand(openAlarm('al-3', SITE, oneLine, T), T, 'x', 'n', false)).toEqual({ ok: false, error: { code: 'ALARM_NOT_RAISED', alarmId: 'al-3' } });
  });

  it('an alarm follows its site to another area without a history row', () => {
    const a = raised();
    expect(followSite(a, SITE)).toBe(a);
    expect(followSite(a, { ...SITE, areaId: 9 }).areaId).toBe(9);
  });
});
