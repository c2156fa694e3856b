/**
 * The as-run log as CSV for a spreadsheet (pure): UTF-8 with a byte-order
 * mark, because Excel opens BOM-less UTF-8 as the local code page and turns
 * "Xã Bát Xát" into mojibake; CRLF line ends and RFC 4180 quoting; headers
 * "Vietnamese / English"; times in Asia/Ho_Chi_Minh as dd/mm/yyyy hh:mm:ss.
 */
import { localDisplay } from '../schedule/times.ts';
import { STATUS_LABEL, type AsRunLine } from './accounting.ts';

export const CSV_BOM = '\uFEFF';

const COLUMNS: Array<{ vi: string; en: string; value: (l: AsRunLine, zone: string) => string }> = [
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
  { vi: 'Lệch giờ (giây)', en: 'Start error (s)', value: (l) => (l.startErrorMs !== null ? (l.startErrorMs / 1000).toFixed(3) : '') },
  { vi: 'Lý do', en: 'Reason', value: (l) => (l.explanation ? `${l.explanation.vi} / ${l.explanation.en}` : '') },
  { vi: 'Chi tiết', en: 'Detail', value: (l) => l.detail ?? '' },
  { vi: 'Nguồn', en: 'Source', value: (l) => (l.source === 'agent' ? 'điểm phát / site' : 'máy chủ / server') },
  { vi: 'Mã lượt phát', en: 'Entry id', value: (l) => l.entryId },
];

function cell(v: string): string {
  // Also quote a leading = + - @ would be a formula in a spreadsheet: prefix a quote mark.
  const safe = /^[=+\-@]/.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function asRunCsv(lines: readonly AsRunLine[], zone: string): string {
  const out = [COLUMNS.map((c) => cell(`${c.vi} / ${c.en}`)).join(',')];
  for (const l of lines) out.push(COLUMNS.map((c) => cell(c.value(l, zone))).join(','));
  return CSV_BOM + out.join('\r\n') + '\r\n';
}
