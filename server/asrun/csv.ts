/**
 * The as-run log as CSV for a spreadsheet (pure), written by the shared
 * writer (server/csv.ts: BOM, CRLF, RFC 4180 quoting, text from users and
 * sites neutralised, numbers kept); headers "Vietnamese / English"; times in
 * Asia/Ho_Chi_Minh as dd/mm/yyyy hh:mm:ss.
 */
import { csvDocument, csvNumber, type CsvCell } from '../csv.ts';
import { localDisplay } from '../schedule/times.ts';
import { STATUS_LABEL, type AsRunLine } from './accounting.ts';
import { explainNotHeard } from './languages.ts';

const COLUMNS: Array<{ vi: string; en: string; value: (l: AsRunLine, zone: string) => CsvCell }> = [
  { vi: 'Giờ dự kiến', en: 'Scheduled (local)', value: (l, z) => localDisplay(l.scheduledAt, z) },
  { vi: 'Bản tin', en: 'Bulletin', value: (l) => l.title },
  { vi: 'Mã bản tin', en: 'Item id', value: (l) => l.itemId },
  { vi: 'Mức ưu tiên', en: 'Priority', value: (l) => l.priority },
  { vi: 'Khu vực', en: 'Area', value: (l) => l.areaName },
  { vi: 'Mã khu vực', en: 'Area key', value: (l) => l.areaKey },
  { vi: 'Điểm phát', en: 'Site', value: (l) => l.siteName },
  { vi: 'Mã điểm', en: 'Site id', value: (l) => l.siteId },
  { vi: 'Kết quả', en: 'Outcome', value: (l) => `${STATUS_LABEL[l.status].vi} / ${STATUS_LABEL[l.status].en}` },
  { vi: 'Bắt đầu', en: 'Started (local)', value: (l, z) => (l.startedAt !== null ? localDisplay(l.startedAt, z) : '') },
  { vi: 'Kết thúc', en: 'Ended (local)', value: (l, z) => (l.endedAt !== null ? localDisplay(l.endedAt, z) : '') },
  { vi: 'Lệch giờ (giây)', en: 'Start error (s)', value: (l) => (l.startErrorMs !== null ? csvNumber(l.startErrorMs / 1000, 3) : null) },
  { vi: 'Đồng hồ của điểm', en: 'Site clock', value: (l) => (l.clockSynced === null ? '' : l.clockSynced ? 'đã xác minh / verified' : 'chưa xác minh / not verified') },
  { vi: 'Đồng hồ lệch (giây)', en: 'Clock error (s)', value: (l) => (l.clockErrorMs !== null ? csvNumber(l.clockErrorMs / 1000, 3) : null) },
  { vi: 'Lý do', en: 'Reason', value: (l) => (l.explanation ? `${l.explanation.vi} / ${l.explanation.en}` : '') },
  { vi: 'Chi tiết', en: 'Detail', value: (l) => l.detail ?? '' },
  { vi: 'Nguồn', en: 'Source', value: (l) => (l.source === 'agent' ? 'điểm phát / site' : 'máy chủ / server') },
  { vi: 'Mã lượt phát', en: 'Entry id', value: (l) => l.entryId },
  // A bulletin with language versions (empty otherwise): tags as stored, so a spreadsheet can filter on them.
  { vi: 'Tiếng của điểm', en: 'Site languages', value: (l) => l.languages?.site.join(';') ?? '' },
  { vi: 'Tiếng đã phát', en: 'Languages played', value: (l) => l.languages?.played.join(';') ?? '' },
  { vi: 'Tiếng chưa có bản', en: 'Languages without a version', value: (l) => l.languages?.missing.join(';') ?? '' },
  {
    vi: 'Nghe bằng tiếng của mình',
    en: 'Heard in own language',
    value: (l) => {
      const x = l.languages;
      if (!x || x.heardOwnLanguage === null) return '';
      if (x.heardOwnLanguage) return 'có / yes';
      const why = explainNotHeard(x);
      return `không / no${why ? ` (${why.vi} / ${why.en})` : ''}`;
    },
  },
];

export function asRunCsv(lines: readonly AsRunLine[], zone: string): string {
  return csvDocument(
    COLUMNS.map((c) => `${c.vi} / ${c.en}`),
    lines.map((l) => COLUMNS.map((c) => c.value(l, zone))),
  );
}
