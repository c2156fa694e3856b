/**
 * The delivery report of one alert, pure: one line per targeted site, as CSV
 * for a spreadsheet (the shared writer, server/csv.ts: UTF-8 with a
 * byte-order mark so Excel reads the diacritics, text neutralised, numbers
 * kept; Vietnamese headers, local Asia/Ho_Chi_Minh times) and as JSON
 * (the same facts with epoch times, for programs).
 */
import type { SiteVerdict } from '../coverage/model.ts';
import { csvDocument, csvNumber } from '../csv.ts';
import { wallTimeAt } from '../time/zone.ts';
import { confirmedPlaying, heardVerdict, notHeardReasons, unreachedReasons, type SiteInfo } from './delivery.ts';
import type { Alert, Delivery, DeliveryStatus } from './model.ts';

export interface ReportLine {
  siteId: string;
  name: string;
  areaKey: string | null;
  areaName: string | null;
  status: DeliveryStatus;
  receivedAt: number | null;
  firstSoundAt: number | null;
  /** firstSoundAt − the alert's issue time. */
  firstSoundAfterMs: number | null;
  repeat: number | null;
  completedAt: number | null;
  failedAt: number | null;
  levelDb: number | null;
  levelThresholdDb: number | null;
  /** The microphone's verdict: heard, not heard (played, level below the threshold), null without a level. */
  heard: boolean | null;
  reasons: Array<{ code: string; message: string; messageVi: string }>;
}

export const STATUS_VI: Record<DeliveryStatus, string> = {
  pending: 'chưa phản hồi',
  received: 'đã nhận',
  playing: 'đang phát',
  completed: 'đã phát xong',
  failed: 'lỗi',
  stopped: 'đã dừng',
};

export function reportLines(
  alert: Alert,
  rows: readonly Delivery[],
  siteInfo: (siteId: string) => SiteInfo | undefined,
  verdictOf: (siteId: string) => SiteVerdict | undefined,
  now: number,
  timeZone: string,
): ReportLine[] {
  return rows.map((d) => {
    const info = siteInfo(d.siteId);
    const heard = heardVerdict(d);
    return {
      siteId: d.siteId,
      name: info?.name ?? d.siteId,
      areaKey: info?.areaKey ?? null,
      areaName: info?.areaName ?? null,
      status: d.status,
      receivedAt: d.receivedAt,
      firstSoundAt: d.firstSoundAt,
      firstSoundAfterMs: d.firstSoundAt === null ? null : Math.max(0, d.firstSoundAt - alert.revisedAt),
      repeat: d.repeat,
      completedAt: d.completedAt,
      failedAt: d.failedAt,
      levelDb: d.levelDb,
      levelThresholdDb: d.levelThresholdDb,
      heard: heard === null ? null : heard === 'heard',
      reasons: (!confirmedPlaying(d)
        ? unreachedReasons(d, verdictOf(d.siteId), now, timeZone)
        : heard === 'not_heard'
          ? notHeardReasons(d, verdictOf(d.siteId))
          : []
      ).map(({ code, message, messageVi }) => ({ code, message, messageVi })),
    };
  });
}

/** "27/11/2026 16:51:46" in `zone`. */
export function localDateTime(at: number | null, zone: string): string {
  if (at === null) return '';
  const w = wallTimeAt(at, zone);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(w.day)}/${p(w.month)}/${w.year} ${p(w.hour)}:${p(w.minute)}:${p(w.second)}`;
}

export const CSV_HEADERS = [
  'Mã điểm',
  'Tên điểm',
  'Mã khu vực',
  'Khu vực',
  'Trạng thái',
  'Nhận lúc',
  'Phát lúc (âm thanh đầu tiên)',
  'Sau khi phát lệnh (giây)',
  'Lần phát',
  'Hoàn tất lúc',
  'Lỗi/dừng lúc',
  'Mức âm micro (dBFS)',
  'Lý do',
] as const;

export function reportCsv(lines: readonly ReportLine[], timeZone: string): string {
  const time = (at: number | null) => localDateTime(at, timeZone) || null;
  return csvDocument(
    CSV_HEADERS,
    lines.map((l) => [
      l.siteId, l.name, l.areaKey, l.areaName, STATUS_VI[l.status],
      time(l.receivedAt), time(l.firstSoundAt),
      l.firstSoundAfterMs === null ? null : csvNumber(l.firstSoundAfterMs / 1000, 2),
      l.repeat, time(l.completedAt), time(l.failedAt),
      l.levelDb === null ? null : csvNumber(l.levelDb, 1),
      l.reasons.map((r) => r.messageVi).join('; ') || null,
    ]),
  );
}
