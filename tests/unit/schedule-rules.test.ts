/** The schedule API's pure rules: time input and output, four eyes, area scope. */
import { describe, expect, it } from 'vitest';
import { ScheduleInputError, localDisplay, localIso, parseInstant, startOfLocalDay, wallText } from '../../server/schedule/times.ts';
import { approvalRefusal, scopeRefusal } from '../../server/schedule/service.ts';
import { index, laoCai, thon1, xaBatXat, xaQuangKim } from '../helpers/schedule-fixture.ts';

/** 2026-11-27 06:00 local = 2026-11-26 23:00 UTC. */
const T6 = Date.parse('2026-11-26T23:00:00Z');

describe('times', () => {
  it('reads epoch ms, ISO with an offset, and local wall time as Asia/Ho_Chi_Minh', () => {
    expect(parseInstant(T6, 'x')).toBe(T6);
    expect(parseInstant(String(T6), 'x')).toBe(T6);
    expect(parseInstant('2026-11-27T06:00:00+07:00', 'x')).toBe(T6);
    expect(parseInstant('2026-11-26T23:00:00Z', 'x')).toBe(T6);
    expect(parseInstant('2026-11-27T06:00', 'x')).toBe(T6);
    expect(parseInstant('2026-11-27T06:00:00.000+07:00', 'x')).toBe(T6);
  });

  it('refuses what is not an instant, naming the field', () => {
    for (const bad of ['tomorrow', '2026-02-30T06:00:00+07:00', '2026-11-27T25:00', 1_795_000_000, -5, 1.5]) {
      const e = (() => {
        try {
          parseInstant(bad, 'start.at');
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e, String(bad)).toBeInstanceOf(ScheduleInputError);
      expect((e as ScheduleInputError).field).toBe('start.at');
      expect((e as Error).message.startsWith('start.at: ')).toBe(true);
    }
  });

  it('shows instants in local time with the offset', () => {
    expect(localIso(T6)).toBe('2026-11-27T06:00:00+07:00');
    expect(localDisplay(T6 + 61_000)).toBe('27/11/2026 06:01:01');
    expect(startOfLocalDay(T6)).toBe(T6 - 6 * 3_600_000);
  });

  it('keeps a recurrence start as local wall text', () => {
    expect(wallText('2026-11-27T06:00', 'start.dtstart')).toBe('2026-11-27T06:00');
    expect(wallText('2026-11-26T23:00:00Z', 'start.dtstart')).toBe('2026-11-27T06:00:00');
    expect(wallText(T6, 'start.dtstart')).toBe('2026-11-27T06:00:00');
  });
});

describe('four eyes', () => {
  const item = { createdById: 7, updatedById: 7, createdBy: 'op-a', title: 'Bản tin' };
  it('an operator may not approve what they created or last edited; another operator may', () => {
    expect(approvalRefusal({ id: 7, username: 'op-a', role: 'operator', areaId: null }, item)).toEqual({ rule: 'four_eyes', username: 'op-a', title: 'Bản tin' });
    expect(approvalRefusal({ id: 8, username: 'op-b', role: 'operator', areaId: null }, { ...item, updatedById: 8 })).toEqual({
      rule: 'four_eyes',
      username: 'op-b',
      title: 'Bản tin',
    });
    expect(approvalRefusal({ id: 8, username: 'op-b', role: 'operator', areaId: null }, item)).toBeNull();
  });
  it('an admin may approve their own', () => {
    expect(approvalRefusal({ id: 7, username: 'admin', role: 'admin', areaId: null }, item)).toBeNull();
  });
});

describe('area scope', () => {
  const op = { id: 1, username: 'op-bx', role: 'operator' as const, areaId: xaBatXat.id };
  it('a commune operator may target their commune and what is below it, nothing else', () => {
    expect(scopeRefusal(op, { areaIds: [xaBatXat.id, thon1.id] }, index)).toBeNull();
    expect(scopeRefusal(op, { areaIds: [thon1.id, xaQuangKim.id] }, index)).toMatch(/only inside Xã Bát Xát; Xã Quang Kim is outside/);
    expect(scopeRefusal(op, { areaIds: [laoCai.id] }, index)).toMatch(/Tỉnh Lào Cai is outside/);
  });
  it('a province-wide user may target anything', () => {
    expect(scopeRefusal({ ...op, areaId: null }, { areaIds: [laoCai.id] }, index)).toBeNull();
  });
});
