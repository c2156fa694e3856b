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
import { attentionOnlyReasons, messageReasons, unreachedReasons, type ReasonText } from './delivery-reasons.ts';
import { reasonDetailOf, wordReason } from '../../api/words/reasons.ts';
import { heardVerdict, playedOf, type Played } from './delivery-status.ts';
import type { SiteInfo } from './delivery.ts';
import type { Alert, Delivery, DeliveryStatus } from './model.ts';
import { KNOWN_LANGUAGES } from '../media/languages.ts';

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
  /** What came out of the site's speakers: nothing, the attention signal only, or the message. */
  played: Played;
  /** When the message first came out (null: it did not). */
  messageAt: number | null;
  /** Repeats of the message played to their end, as the site said (null: not reported). */
  messageRepeats: number | null;
  completedAt: number | null;
  failedAt: number | null;
  levelDb: number | null;
  levelThresholdDb: number | null;
  /**
   * Heard: the message played and the microphone's level reached the
   * threshold; false when it stayed below, or when the message did not play
   * (the attention signal alone is never heard); null: the message played
   * and no level says more.
   */
  heard: boolean | null;
  /** Why the site is not heard (never empty then); empty for a site heard that ended normally. */
  reasons: ReasonText[];
  /** The language versions that came out at the site, in the order heard; null: none due there, or not reported. */
  languagesPlayed: string[] | null;
  /** Versions of the site's languages whose turn came without their file; null: none. */
  languagesMissed: string[] | null;
}

export const PLAYED_VI: Record<Played, string> = {
  nothing: 'chưa phát',
  attention: 'chỉ tín hiệu báo động',
  message: 'bản tin cảnh báo',
};

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
    const played = playedOf(d);
    const mic = heardVerdict(d);
    const verdict = verdictOf(d.siteId);
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
      played,
      messageAt: d.messageAt,
      messageRepeats: d.messageRepeats,
      completedAt: d.completedAt,
      failedAt: d.failedAt,
      levelDb: d.levelDb,
      levelThresholdDb: d.levelThresholdDb,
      heard: played !== 'message' ? false : mic === null ? null : mic === 'heard',
      reasons: (played === 'nothing'
        ? unreachedReasons(d, verdict, now, timeZone)
        : played === 'attention'
          ? attentionOnlyReasons(d, alert, verdict, timeZone)
          : messageReasons(d, verdict, timeZone)
      ).map(({ code, params, message }) => ({ code, params, message })),
      languagesPlayed: d.languagesPlayed,
      languagesMissed: d.languagesMissed,
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
  'Đã phát',
  'Bản tin phát trọn (lần)',
  'Hoàn tất lúc',
  'Lỗi/dừng lúc',
  'Mức âm micro (dBFS)',
  'Lý do',
  'Ngôn ngữ khác đã phát',
  'Ngôn ngữ chưa kịp phát',
] as const;

/** Language tags as the report names them: the library's Vietnamese name where it has one, else the tag. */
function languageNames(tags: readonly string[] | null): string | null {
  if (!tags || tags.length === 0) return null;
  return tags.map((t) => KNOWN_LANGUAGES.find((k) => k.tag === t)?.name ?? t).join(', ');
}

/**
 * A reason in the report's Vietnamese, worded from its code and params by the
 * console's own words (one wording for screen and paper); times always with
 * their date (a report is read on other days); the site's own technical words
 * after, marked so.
 */
function reasonCell(r: ReasonText): string {
  const detail = reasonDetailOf(r);
  return `${wordReason('vi', r, 0)}${detail ? ` (chi tiết kỹ thuật: ${detail})` : ''}`;
}

export function reportCsv(lines: readonly ReportLine[], timeZone: string): string {
  const time = (at: number | null) => localDateTime(at, timeZone) || null;
  return csvDocument(
    CSV_HEADERS,
    lines.map((l) => [
      l.siteId,
      l.name,
      l.areaKey,
      l.areaName,
      STATUS_VI[l.status],
      time(l.receivedAt),
      time(l.firstSoundAt),
      l.firstSoundAfterMs === null ? null : csvNumber(l.firstSoundAfterMs / 1000, 2),
      l.repeat,
      PLAYED_VI[l.played],
      l.messageRepeats,
      time(l.completedAt),
      time(l.failedAt),
      l.levelDb === null ? null : csvNumber(l.levelDb, 1),
      l.reasons.map(reasonCell).join('; ') || null,
      languageNames(l.languagesPlayed),
      languageNames(l.languagesMissed),
    ]),
  );
}
