/**
 * Everything an alarm carries as a code is worded in Vietnamese and English:
 * its kind, severity, state, incident kind and state, how it was cleared,
 * its history rows, the reason codes that feed it (update_failed among them)
 * and every refusal of a person's action, through the error catalogue. The
 * Record types below make a new code fail the typecheck here until it is
 * listed, and the lists fail the test until it has words.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../api/error-catalogue.ts';
import { SITE_REASON_CODES } from '../../api/index.ts';
import { alarmCodeIn, alarmEn, alarmVi, alarmWord, alarmWordKey, type AlarmWordGroup } from '../../api/words/alarm-words.ts';
import { hasReasonWords, wordReason } from '../../api/words/reasons.ts';
import type { Incident, IncidentKind } from '../../server/alarms/incidents.ts';
import { ALARM_KINDS, ALARM_SEVERITIES, type AlarmErrorCode, type AlarmHistoryEvent, type AlarmReasonCode, type AlarmState, type ClearCause } from '../../server/alarms/model.ts';
import { alarmRefusal, CATALOGUE_CODE_OF_REFUSAL } from '../../server/alarms/refusals.ts';
import { LoanetError } from '../../server/errors.ts';
import * as errorWords from '../../web/src/strings/errors.ts';

const VIETNAMESE = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;
const NOW = Date.UTC(2026, 11, 5, 5, 0);

const STATES: Record<AlarmState, true> = { pending: true, raised: true, acknowledged: true, cleared: true };
const INCIDENT_KINDS: Record<IncidentKind, true> = { cut: true, power_outage: true };
const INCIDENT_STATES: Record<Incident['state'], true> = { open: true, resolved: true };
const CLEAR_CAUSES: Record<ClearCause, true> = { condition_cleared: true, manual: true, site_removed: true };
const HISTORY: Record<AlarmHistoryEvent['type'], true> = { raised: true, acknowledged: true, severity_changed: true, reasons_changed: true, cleared: true };
const REFUSALS: Record<AlarmErrorCode, true> = {
  ALARM_NOT_FOUND: true,
  ALARM_NOT_RAISED: true,
  ALARM_ALREADY_ACKNOWLEDGED: true,
  ALARM_ALREADY_CLEARED: true,
  ALARM_CONDITION_ACTIVE: true,
  ALARM_NOTE_REQUIRED: true,
};
const REASONS: AlarmReasonCode[] = [...SITE_REASON_CODES, 'update_failed'];

const GROUPS: Array<[AlarmWordGroup, readonly string[]]> = [
  ['kind', ALARM_KINDS],
  ['severity', ALARM_SEVERITIES],
  ['state', Object.keys(STATES)],
  ['incidentKind', Object.keys(INCIDENT_KINDS)],
  ['incidentState', Object.keys(INCIDENT_STATES)],
  ['clearCause', Object.keys(CLEAR_CAUSES)],
  ['history', Object.keys(HISTORY)],
];

function expectBoth(what: string, vi: string, en: string): void {
  expect(vi, what).toMatch(VIETNAMESE);
  expect(vi, what).not.toMatch(/[{}]|undefined|NaN/);
  expect(en, what).not.toMatch(/[{}]|undefined|NaN/);
  expect(en.length, what).toBeGreaterThan(2);
  expect(en, what).not.toBe(vi);
}

describe('alarm words', () => {
  for (const [group, codes] of GROUPS) {
    it.each([...codes])(`words the ${group} %s in Vietnamese and English`, (code) => {
      expect(alarmWordKey(group, code), code).not.toBeNull();
      expectBoth(`${group} ${code}`, alarmCodeIn('vi', group, code), alarmCodeIn('en', group, code));
    });
  }

  it('has no words for codes that do not exist, and shows an unknown code as itself', () => {
    const listed = new Set(GROUPS.flatMap(([g, codes]) => codes.map((c) => `${g}_${c}`)));
    const stale = Object.keys(alarmVi).filter((k) => k.includes('_') && !listed.has(k) && k !== 'alarmCount');
    expect(stale).toEqual([]);
    expect(Object.keys(alarmEn).sort()).toEqual(Object.keys(alarmVi).sort());
    expect(alarmCodeIn('vi', 'kind', 'not_a_kind')).toBe('not_a_kind');
    expect(alarmWord('vi', 'alarmCount', { n: 15 })).toBe('lặp lại 15 lần');
    // Never the emergency alert's word alone: a technical alarm is another thing.
    expect(alarmWord('vi', 'alarm')).toBe('Cảnh báo kỹ thuật');
  });

  it.each(REASONS)('words the reason %s that feeds an alarm, with and without its params', (code) => {
    const params = { release: '1.4.0', rolloutId: 'r-7', reason: 'rolled_back', since: NOW - 60_000, at: NOW - 60_000, line: 2, batteryPct: 9, lines: 2 };
    expect(hasReasonWords(code, params), code).toBe(true);
    expectBoth(code, wordReason('vi', { code, params }, NOW), wordReason('en', { code, params }, NOW));
    expectBoth(code, wordReason('vi', { code, params: {} }, NOW), wordReason('en', { code, params: {} }, NOW));
  });

  it('words a failed update with the release it did not take', () => {
    const r = { code: 'update_failed', params: { rolloutId: 'r-7', release: '1.4.0', reason: 'rolled_back' } };
    expect(wordReason('vi', r, NOW)).toBe('cập nhật phần mềm lên bản 1.4.0 không thành công');
    expect(wordReason('en', r, NOW)).toBe('software update to release 1.4.0 failed');
  });

  it.each(Object.keys(REFUSALS) as AlarmErrorCode[])('answers the refusal %s with a catalogue error worded in both languages', (code) => {
    const e = alarmRefusal({ code, alarmId: 'al-42' });
    expect(e).toBeInstanceOf(LoanetError);
    expect(e.code).toBe(CATALOGUE_CODE_OF_REFUSAL[code]);
    expect(e.statusCode).toBe(ERROR_CATALOGUE[e.code].status);
    expect(e.statusCode).toBe(code === 'ALARM_NOT_FOUND' ? 404 : code === 'ALARM_NOTE_REQUIRED' ? 400 : 409);
    expect(e.message).toContain('al-42');
    const vi = (errorWords.vi[e.code] as (p: unknown) => string)(e.params);
    const en = (errorWords.en[e.code] as (p: unknown) => string)(e.params);
    expectBoth(code, vi, en);
    expect(vi).toContain('al-42');
    if (code === 'ALARM_NOTE_REQUIRED') expect(e.details).toEqual({ field: 'note' });
  });
});
