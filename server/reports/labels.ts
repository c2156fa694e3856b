/**
 * The report's words, shared by the Excel workbook and the PDF so both name a
 * figure alike (docs/reports.md explains each). Statuses are the as-run log's
 * own words (server/asrun/accounting.ts STATUS_LABEL), languages the media
 * library's (server/media/languages.ts): an officer who checks the report
 * against the as-run log reads the same words in both.
 */
import { AS_RUN_STATUSES, STATUS_LABEL, type AsRunStatus } from '../asrun/accounting.ts';
import { KNOWN_LANGUAGES } from '../media/languages.ts';
import type { AreaLevel } from '../registry/model.ts';
import type { SiteReasonCode } from '../../api/coverage.ts';
import { wordAsRunWhy } from '../../api/words/reasons.ts';
import { alarmCodeIn, alarmWordKey } from '../../api/words/alarm-words.ts';
import { AIRTIME_KINDS, UNSPECIFIED_REASON, type AirtimeKind, type LanguageUse, type RepairSource, type Report, type UnitFigures } from './model.ts';
import { hoursOf } from './report-model.ts';

export const AIRTIME_KIND_LABEL: Readonly<Record<AirtimeKind, { vi: string; en: string }>> = {
  bulletin: { vi: 'Bản tin, chương trình địa phương', en: 'local bulletins and programmes' },
  relay_national: { vi: 'Tiếp sóng Đài Tiếng nói Việt Nam', en: 'relay of national radio' },
  relay_provincial: { vi: 'Tiếp sóng Đài tỉnh', en: 'relay of provincial radio' },
  relay_other: { vi: 'Tiếp sóng nguồn khác', en: 'relay of other sources' },
  live: { vi: 'Phát trực tiếp', en: 'live' },
  alert: { vi: 'Cảnh báo khẩn cấp', en: 'emergency alerts' },
};

/** How a language reached the places that heard it (model.ts LanguageUse): the column "own language / fallback". */
export const LANGUAGE_USE_LABEL: Readonly<Record<LanguageUse, { vi: string; en: string }>> = {
  own: { vi: 'Bằng tiếng của thôn', en: "in the village's own language" },
  fallback: { vi: 'Phát thay (thôn không nói tiếng này)', en: 'fallback (the village does not speak it)' },
};

/** Whether a language's hours in a unit were heard as the places' own language, as a fallback, or both. */
export function languageUseWords(u: { ownMs: number; fallbackMs: number }, lang: 'vi' | 'en'): string {
  if (u.ownMs > 0 && u.fallbackMs > 0) return lang === 'vi' ? 'Bằng tiếng của thôn và phát thay' : 'own language and fallback';
  return LANGUAGE_USE_LABEL[u.fallbackMs > 0 ? 'fallback' : 'own'][lang];
}

/** A fault kind in words: the site condition's reason codes (api/coverage.ts) as headings; another code is shown as itself. */
export const FAULT_KIND_LABEL: Readonly<Record<SiteReasonCode, { vi: string; en: string }>> = {
  offline: { vi: 'Mất kết nối', en: 'offline' },
  cannot_play: { vi: 'Không có đầu ra âm thanh', en: 'no audio output' },
  amplifier_fault: { vi: 'Lỗi bộ khuếch đại', en: 'amplifier fault' },
  amplifier_hot: { vi: 'Bộ khuếch đại quá nóng', en: 'amplifier hot' },
  no_working_line: { vi: 'Không đường loa nào hoạt động', en: 'no working speaker line' },
  line_open: { vi: 'Đường loa hở mạch', en: 'speaker line open' },
  line_short: { vi: 'Đường loa chập mạch', en: 'speaker line short' },
  battery_critical: { vi: 'Pin sắp cạn', en: 'battery critical' },
  on_battery: { vi: 'Mất điện lưới, chạy pin', en: 'on battery' },
  weak_signal: { vi: 'Sóng yếu', en: 'weak signal' },
  device_unreachable: { vi: 'Thiết bị không phản hồi', en: 'device unreachable' },
  sound_check_failed: { vi: 'Kiểm tra âm thanh không đạt', en: 'sound check failed' },
  monitor_mic_unavailable: { vi: 'Micrô giám sát không hoạt động', en: 'monitoring microphone unavailable' },
  sound_not_verified: { vi: 'Chưa xác minh được âm thanh', en: 'sound not verified' },
  config_stale: { vi: 'Chưa áp dụng cấu hình mới', en: 'configuration not applied' },
};

/** A fault kind in words: an alarm kind as the alarms are worded (api/words/alarm-words.ts), a site reason code as above, else the code. */
export function faultKindWords(kind: string, lang: 'vi' | 'en'): string {
  if (alarmWordKey('kind', kind)) return alarmCodeIn(lang, 'kind', kind);
  return Object.hasOwn(FAULT_KIND_LABEL, kind) ? FAULT_KIND_LABEL[kind as SiteReasonCode][lang] : kind;
}

/** Where a fault's time to repair is read from (model.ts RepairSource), for the fault rows. */
export const REPAIR_SOURCE_LABEL: Readonly<Record<RepairSource, { vi: string; en: string }>> = {
  work_order: { vi: 'Phiếu sửa chữa (kiểm tra âm thanh đạt)', en: 'work order (verified by a sound check)' },
  alarm: { vi: 'Cảnh báo kỹ thuật (hết lỗi)', en: 'alarm (cleared)' },
};

/** Why bulletins were not played, in the as-run log's own words (api/words/reasons.ts). */
export function skipReasonWords(reason: string, lang: 'vi' | 'en'): string {
  if (reason === UNSPECIFIED_REASON) return lang === 'vi' ? 'không rõ lý do' : 'no reason given';
  const words = wordAsRunWhy(lang, { code: reason, params: {} });
  return words === reason ? wordAsRunWhy(lang, { code: 'other', params: { reason } }) : words;
}

/** An as-run status as a column heading; `played` is the on-time play (within 100 ms). */
export function statusHeading(s: AsRunStatus): string {
  return s === 'played' ? `${STATUS_LABEL.played.vi} đúng giờ` : STATUS_LABEL[s].vi;
}

export const STATUS_HEADINGS: ReadonlyArray<{ status: AsRunStatus; heading: string }> = AS_RUN_STATUSES.map((status) => ({ status, heading: statusHeading(status) }));

/** A language tag in Vietnamese ("Tiếng H'Mông"), else the tag itself. */
export function languageName(tag: string): string {
  const primary = tag.toLowerCase();
  return KNOWN_LANGUAGES.find((l) => l.tag === primary)?.name ?? (primary === 'und' ? 'Không rõ ngôn ngữ' : tag);
}

export const LEVEL_VI: Readonly<Record<AreaLevel, string>> = { province: 'tỉnh', district: 'huyện', commune: 'xã', village: 'thôn' };

export const TITLE_VI = 'BÁO CÁO HOẠT ĐỘNG ĐÀI TRUYỀN THANH CƠ SỞ';

/** "Kỳ báo cáo: Tháng 11/2026". */
export const periodLine = (label: string) => `Kỳ báo cáo: ${label}`;

/** One line of the summary: a figure, its value and how to show it. */
export interface SummaryFigure {
  /** A heading line (no value) opens a group. */
  heading?: true;
  label: string;
  value: number | null;
  unit: 'count' | 'hours' | 'share';
}

/** The summary of one unit (the province, or a commune), in the order both renderers print it. */
export function summaryFigures(r: Report, u: UnitFigures): SummaryFigure[] {
  const out: SummaryFigure[] = [];
  const group = (label: string) => out.push({ heading: true, label, value: null, unit: 'count' });
  const count = (label: string, value: number) => out.push({ label, value, unit: 'count' });
  const hours = (label: string, ms: number | null) => out.push({ label, value: ms === null ? null : hoursOf(ms), unit: 'hours' });
  const share = (label: string, value: number | null) => out.push({ label, value, unit: 'share' });
  const b = u.bulletins;
  group('Hệ thống');
  count('Số xã, phường', r.communes.length);
  count('Số thôn, tổ dân phố', u.coverage.villages);
  count('Thôn chưa có cụm loa', u.coverage.villagesWithoutCluster);
  count('Số đài truyền thanh xã', u.stations);
  count('Số cụm loa', u.clusters);
  group('Bản tin theo kế hoạch (lượt phát tại các điểm)');
  count('Bản tin theo kế hoạch', b.planned);
  for (const { status, heading } of STATUS_HEADINGS) count(heading, b.byStatus[status]);
  share('Tỷ lệ phát đúng giờ', b.planned > 0 ? b.byStatus.played / b.planned : null);
  count('Phát ngoài kế hoạch (máy chủ không có lịch)', b.unplanned);
  if (r.skipReasons.length > 0) {
    group('Không phát, theo lý do');
    for (const reason of r.skipReasons) count(capitalise(skipReasonWords(reason, 'vi')), b.skippedByReason[reason] ?? 0);
  }
  group('Thời lượng phát sóng');
  hours('Tổng thời lượng phát', u.airtime.totalMs);
  for (const k of AIRTIME_KINDS) hours(AIRTIME_KIND_LABEL[k].vi, u.airtime.byKind[k]);
  for (const lang of r.languages) {
    hours(`Phát bằng ${languageName(lang)}`, u.airtime.byLanguage[lang] ?? 0);
    // Where it reached villages that do not speak it (their version missing), say how long.
    if ((r.totals.airtime.languageUse[lang]?.fallbackMs ?? 0) > 0)
      hours(`Trong đó phát thay cho thôn không nói ${languageName(lang).replace(/^Tiếng /u, 'tiếng ')}`, u.airtime.languageUse[lang]?.fallbackMs ?? 0);
  }
  group('Hoạt động và độ phủ');
  share('Thời gian hoạt động (nghe được)', u.uptime.share);
  share('Độ phủ đã xác minh (thời gian thôn có cụm loa hoạt động)', u.coverage.share);
  group('Sự cố kỹ thuật');
  count('Số sự cố phát sinh', u.faults.total.count);
  count('Đã khắc phục', u.faults.total.repaired);
  count('Trong đó theo phiếu sửa chữa (kiểm tra âm thanh đạt)', u.faults.total.repairedByWorkOrder);
  count('Chưa khắc phục', u.faults.total.open);
  hours('Thời gian khắc phục trung bình', u.faults.total.meanRepairMs);
  hours('Thời gian khắc phục lâu nhất', u.faults.total.longestRepairMs);
  count('Đã có kỹ thuật viên xác nhận', u.faults.total.acknowledged);
  hours('Thời gian đến khi xác nhận trung bình', u.faults.total.meanAckMs);
  for (const kind of r.faultKinds) {
    const f = u.faults.byKind[kind];
    if (f) count(`Sự cố: ${faultKindWords(kind, 'vi').toLowerCase()}`, f.count);
  }
  group('Cảnh báo khẩn cấp');
  count('Số cảnh báo', u.alerts.alerts);
  count('Lượt điểm nhận lệnh', u.alerts.deliveries);
  count('Đã phát âm thanh', u.alerts.sounded);
  count('Đã phát bản tin cảnh báo', u.alerts.message);
  count('Micrô giám sát xác nhận nghe thấy', u.alerts.heard);
  return out;
}

export const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
