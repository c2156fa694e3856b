/**
 * Alarms as a spreadsheet (GET /api/alarms with Accept: text/csv): one row
 * per alarm, headers "Vietnamese / English", codes worded in Vietnamese with
 * the code beside them (a spreadsheet filters on the code), times local
 * (Asia/Ho_Chi_Minh). Pure: the alarms and their sites' names in, the
 * document out, through the one CSV writer (server/csv.ts neutralises a site
 * name or note that begins like a formula).
 */
import { alarmCodeIn } from '../../api/words/alarm-words.ts';
import { wordReason } from '../../api/words/reasons.ts';
import { csvDocument, type CsvCell } from '../csv.ts';
import { localIso } from '../schedule/times.ts';
import type { Alarm } from './model.ts';

export interface AlarmCsvSite {
  name: string | null;
  areaKey: string | null;
}

const HEADER = [
  'Mã / Id',
  'Trạm / Site',
  'Tên trạm / Site name',
  'Địa bàn / Area',
  'Loại / Kind',
  'Mã loại / Kind code',
  'Mức độ / Severity',
  'Trạng thái / State',
  'Nguyên nhân / Reasons',
  'Số lần / Count',
  'Phát sinh / Raised',
  'Xác nhận lúc / Acknowledged at',
  'Người xác nhận / Acknowledged by',
  'Kết thúc lúc / Cleared at',
  'Cách kết thúc / Cleared how',
  'Ghi chú / Note',
  'Sự cố / Incident',
];

const local = (t: number | null | undefined): string | null => (t === null || t === undefined ? null : localIso(t).replace('T', ' ').slice(0, 19));

export function alarmsCsv(alarms: readonly Alarm[], siteOf: (siteId: string) => AlarmCsvSite, now: number): string {
  const rows: CsvCell[][] = alarms.map((a) => {
    const s = siteOf(a.siteId);
    return [
      a.id,
      a.siteId,
      s.name,
      s.areaKey,
      alarmCodeIn('vi', 'kind', a.kind),
      a.kind,
      alarmCodeIn('vi', 'severity', a.severity),
      alarmCodeIn('vi', 'state', a.state),
      a.reasons.map((r) => wordReason('vi', { code: r.code, params: r.params }, now)).join('; '),
      a.count,
      local(a.raisedAt),
      local(a.acknowledged?.at),
      a.acknowledged?.by ?? null,
      local(a.cleared?.at),
      a.cleared ? alarmCodeIn('vi', 'clearCause', a.cleared.cause) : null,
      a.cleared?.note ?? a.acknowledged?.note ?? null,
      a.incidentId,
    ];
  });
  return csvDocument(HEADER, rows);
}
