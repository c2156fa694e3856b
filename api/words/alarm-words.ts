/**
 * Technicians' alarms in words: their kinds, severities, states, incidents,
 * how they were cleared and their history rows, in Vietnamese first (full
 * diacritics) and English, key by key as site-words.ts does. The server
 * sends codes (server/alarms/model.ts); the console and the server's
 * documents word them here, never from the server's English. An alarm's
 * reasons are site reasons, worded by reasons.ts (`update_failed` among
 * them); a refused action is an error of the catalogue (LOANET_ALARM_*).
 *
 * "Cảnh báo kỹ thuật", never "cảnh báo" alone: that is what people call an
 * emergency alert, a different thing with its own lane.
 */
import type { ReasonLang } from './reasons.ts';

export const alarmVi = {
  alarm: 'Cảnh báo kỹ thuật',
  incident: 'Sự cố',
  alarmCount: 'lặp lại {n} lần',
  kind_site_offline: 'Mất kết nối',
  kind_no_audio_output: 'Không phát được âm thanh',
  kind_amplifier_fault: 'Lỗi bộ khuếch đại',
  kind_amplifier_hot: 'Bộ khuếch đại quá nóng',
  kind_speaker_line: 'Lỗi đường dây loa',
  kind_power: 'Sự cố nguồn điện',
  kind_weak_signal: 'Sóng yếu',
  kind_device_unreachable: 'Thiết bị không phản hồi',
  kind_sound_check_failed: 'Kiểm tra âm thanh không nghe thấy',
  kind_monitor_mic: 'Micrô giám sát không hoạt động',
  kind_sound_not_verified: 'Chưa xác minh được âm thanh',
  kind_config_not_applied: 'Chưa áp dụng cấu hình',
  kind_update_failed: 'Cập nhật phần mềm thất bại',
  severity_critical: 'Nghiêm trọng',
  severity_major: 'Nặng',
  severity_minor: 'Nhẹ',
  severity_warning: 'Lưu ý',
  state_pending: 'Đang theo dõi (chưa hiện)',
  state_raised: 'Chưa xác nhận',
  state_acknowledged: 'Đã xác nhận',
  state_cleared: 'Đã xử lý',
  incidentKind_cut: 'Mất kết nối cả xã',
  incidentKind_power_outage: 'Mất điện diện rộng',
  incidentState_open: 'Đang diễn ra',
  incidentState_resolved: 'Đã khắc phục',
  clearCause_condition_cleared: 'hết lỗi, máy chủ đã kiểm chứng',
  clearCause_manual: 'kỹ thuật viên xử lý',
  clearCause_site_removed: 'trạm ngừng sử dụng',
  history_raised: 'Phát sinh',
  history_acknowledged: 'Xác nhận',
  history_severity_changed: 'Đổi mức độ',
  history_reasons_changed: 'Đổi nguyên nhân',
  history_cleared: 'Kết thúc',
};

export type AlarmWordKey = keyof typeof alarmVi;

export const alarmEn: Record<AlarmWordKey, string> = {
  alarm: 'Technical alarm',
  incident: 'Incident',
  alarmCount: 'repeated {n} times',
  kind_site_offline: 'Offline',
  kind_no_audio_output: 'No audio output',
  kind_amplifier_fault: 'Amplifier fault',
  kind_amplifier_hot: 'Amplifier hot',
  kind_speaker_line: 'Speaker line fault',
  kind_power: 'Power problem',
  kind_weak_signal: 'Weak signal',
  kind_device_unreachable: 'Device unreachable',
  kind_sound_check_failed: 'Sound check heard nothing',
  kind_monitor_mic: 'Monitoring microphone not working',
  kind_sound_not_verified: 'Sound not verified',
  kind_config_not_applied: 'Configuration not applied',
  kind_update_failed: 'Software update failed',
  severity_critical: 'Critical',
  severity_major: 'Major',
  severity_minor: 'Minor',
  severity_warning: 'Warning',
  state_pending: 'Pending (not shown yet)',
  state_raised: 'Raised, not acknowledged',
  state_acknowledged: 'Acknowledged',
  state_cleared: 'Cleared',
  incidentKind_cut: 'Commune cut off',
  incidentKind_power_outage: 'Widespread power outage',
  incidentState_open: 'Ongoing',
  incidentState_resolved: 'Resolved',
  clearCause_condition_cleared: 'fault gone, checked by the server',
  clearCause_manual: 'cleared by a technician',
  clearCause_site_removed: 'site retired',
  history_raised: 'Raised',
  history_acknowledged: 'Acknowledged',
  history_severity_changed: 'Severity changed',
  history_reasons_changed: 'Reasons changed',
  history_cleared: 'Ended',
};

const WORDS: Record<ReasonLang, Record<AlarmWordKey, string>> = { vi: alarmVi, en: alarmEn };

/** What each group of codes is called under. */
export type AlarmWordGroup = 'kind' | 'severity' | 'state' | 'incidentKind' | 'incidentState' | 'clearCause' | 'history';

/** The key of a code of a group when there are words for it, else null. */
export function alarmWordKey(group: AlarmWordGroup, code: string): AlarmWordKey | null {
  const k = `${group}_${code}`;
  return Object.hasOwn(alarmVi, k) ? (k as AlarmWordKey) : null;
}

/** A code of a group in `l` (an alarm kind, a severity, a state …); a code without words as the code itself, never the server's English. */
export function alarmCodeIn(l: ReasonLang, group: AlarmWordGroup, code: string): string {
  const k = alarmWordKey(group, code);
  return k ? WORDS[l][k] : code;
}

/** One of the words above in `l`, its placeholders filled. */
export function alarmWord(l: ReasonLang, key: AlarmWordKey, vars: Record<string, string | number> = {}): string {
  let s = WORDS[l][key];
  for (const [k, x] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(x));
  return s;
}
