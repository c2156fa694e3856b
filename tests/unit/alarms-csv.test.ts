import { describe, expect, it } from 'vitest';
import { alarmsCsv } from '../../server/alarms/csv-export.ts';
import type { Alarm } from '../../server/alarms/model.ts';

const T0 = Date.UTC(2026, 11, 5, 1, 0); // 08:00 in Vietnam

const a: Alarm = {
  id: 'al-7',
  key: 'CL-1/speaker_line',
  siteId: 'CL-1',
  siteKind: 'cluster',
  areaId: 2,
  kind: 'speaker_line',
  severity: 'minor',
  reasons: [{ code: 'line_open', params: { line: 2, status: 'open' } }],
  state: 'cleared',
  detectedAt: T0,
  raisedAt: T0,
  updatedAt: T0 + 3_600_000,
  count: 3,
  active: false,
  inactiveSince: T0,
  acknowledged: { at: T0 + 60_000, by: 'lan', note: null },
  cleared: { at: T0 + 3_600_000, cause: 'manual', by: 'lan', note: '=HYPERLINK("x")' },
  incidentId: null,
};

describe('alarms as CSV', () => {
  it('words codes in Vietnamese beside the code, writes local times, and neutralises a note that begins like a formula', () => {
    const csv = alarmsCsv([a], () => ({ name: '+Cụm loa thôn 1', areaKey: '2025.02683' }), T0);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    const [header, row, end] = csv.slice(1).split('\r\n');
    expect(header).toContain('Loại / Kind');
    expect(end).toBe('');
    expect(row).toContain('Lỗi đường dây loa,speaker_line,Nhẹ,Đã xử lý');
    expect(row).toContain('2026-12-05 08:00:00');
    expect(row).toContain(`"'+Cụm loa thôn 1"`);
    expect(row).toContain(`"'=HYPERLINK(""x"")"`);
    expect(row).toContain(',3,');
  });
});
