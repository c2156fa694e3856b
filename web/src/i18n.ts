/**
 * The console's words, Vietnamese first (full diacritics) and English, and
 * times always in Asia/Ho_Chi_Minh whatever the phone's own zone. One key per
 * concept, named as on the wire (operational, degraded, …).
 */
export type Lang = 'vi' | 'en';
export const TIME_ZONE = 'Asia/Ho_Chi_Minh';

const vi = {
  appName: 'Truyền thanh cơ sở',
  overview: 'Tổng quan',
  sites: 'Trạm',
  schedule: 'Lịch phát',
  emergency: 'Khẩn cấp',
  live: 'Phát trực tiếp',
  account: 'Tài khoản',
  audit: 'Nhật ký',
  logout: 'Đăng xuất',
  login: 'Đăng nhập',
  username: 'Tên đăng nhập',
  password: 'Mật khẩu',
  loginFailed: 'Đăng nhập không thành công',
  coverage: 'Độ phủ sóng',
  coverageOf: 'Độ phủ sóng: {area}',
  operationalSites: 'Trạm hoạt động tốt',
  operationalClusters: 'Cụm loa hoạt động tốt',
  villagesCovered: 'Thôn nghe được',
  sitesTotal: 'Tổng số trạm',
  failingSites: 'Trạm có sự cố',
  noFailing: 'Không có trạm nào gặp sự cố.',
  byArea: 'Theo đơn vị hành chính',
  area: 'Đơn vị',
  map: 'Bản đồ trạm',
  noCoords: 'Chưa có tọa độ trạm để vẽ bản đồ.',
  last30: 'Độ phủ và thời gian hoạt động 30 ngày qua',
  noHistory: 'Chưa có số liệu lịch sử.',
  up: 'Lên cấp trên',
  reasons: 'Lý do',
  operational: 'Hoạt động',
  degraded: 'Suy giảm',
  faulty: 'Hỏng',
  offline: 'Mất kết nối',
  unverified: 'Chưa xác minh',
  station: 'Đài xã',
  cluster: 'Cụm loa',
  search: 'Tìm kiếm',
  allConditions: 'Mọi trạng thái',
  allKinds: 'Mọi loại',
  allCommunes: 'Mọi xã/phường',
  commune: 'Xã/phường',
  kind: 'Loại',
  condition: 'Trạng thái',
  name: 'Tên',
  lastHeartbeat: 'Tín hiệu cuối',
  signal: 'Sóng',
  power: 'Nguồn điện',
  mains: 'Điện lưới',
  battery: 'Pin',
  solar: 'Năng lượng mặt trời',
  amplifier: 'Bộ khuếch đại',
  volume: 'Âm lượng',
  on: 'Bật',
  off: 'Tắt',
  devices: 'Thiết bị',
  lines: 'Đường loa',
  history: 'Lịch sử',
  controls: 'Điều khiển',
  setVolume: 'Đặt âm lượng',
  ampOn: 'Bật khuếch đại',
  ampOff: 'Tắt khuếch đại',
  testTone: 'Phát âm thử',
  reboot: 'Khởi động lại',
  confirmReboot: 'Khởi động lại trạm này?',
  commands: 'Lệnh gần đây',
  sent: 'Đã gửi, chờ kết quả…',
  queued: 'Đang chờ trạm kết nối…',
  succeeded: 'Thành công',
  failed: 'Thất bại',
  expired: 'Hết hạn',
  asRun: 'Nhật ký phát',
  never: 'chưa bao giờ',
  total: 'tổng',
  shown: 'đang hiện',
  changePassword: 'Đổi mật khẩu',
  currentPassword: 'Mật khẩu hiện tại',
  newPassword: 'Mật khẩu mới',
  save: 'Lưu',
  saved: 'Đã lưu.',
  apiTokens: 'Mã truy cập API',
  tokenName: 'Tên mã',
  expiresInDays: 'Hết hạn sau (ngày)',
  create: 'Tạo',
  revoke: 'Thu hồi',
  revoked: 'Đã thu hồi',
  created: 'Tạo lúc',
  expires: 'Hết hạn',
  newTokenOnce: 'Mã mới (chỉ hiện một lần, hãy sao chép ngay):',
  auditLog: 'Nhật ký thao tác',
  user: 'Người dùng',
  action: 'Thao tác',
  target: 'Đối tượng',
  detail: 'Chi tiết',
  time: 'Thời gian',
  from: 'Từ',
  to: 'Đến',
  filter: 'Lọc',
  loading: 'Đang tải…',
  notAllowed: 'Bạn không có quyền làm việc này.',
  liveUpdates: 'Cập nhật trực tiếp',
  role: 'Vai trò',
  whole: 'toàn mạng',
  notFound: 'Không tìm thấy trang.',
  sound: 'Âm thanh',
  soundVerified: 'Xác minh âm thanh',
  soundCheck: 'Kiểm tra âm thanh',
  playlistsHeld: '{n}/{all} trạm đã nhận lịch phát mới nhất',
  sitesOffline: '{n} trạm đang mất kết nối, sẽ phát khi kết nối lại (nếu cảnh báo còn hiệu lực)',
  uptime: 'Thời gian hoạt động',
  areasWithoutSites: '{n} đơn vị chưa có trạm',
  mediaLibrary: 'Thư viện âm thanh',
  upload: 'Tải lên',
  uploading: 'Đang tải lên… {pct}%',
  processing: 'Đang xử lý…',
  tts: 'Chuyển văn bản thành giọng nói',
  text: 'Nội dung',
  title: 'Tiêu đề',
  makeSpeech: 'Tạo bản tin',
  duration: 'Thời lượng',
  newBroadcast: 'Lịch phát mới',
  media: 'Bản tin âm thanh',
  chooseMedia: '— chọn bản tin —',
  targetArea: 'Nơi phát',
  startAt: 'Giờ phát',
  repeatDaily: 'Lặp lại hằng ngày',
  priority: 'Mức ưu tiên',
  normal: 'Thường',
  priorityHigh: 'Ưu tiên',
  emergencyPriority: 'Khẩn cấp',
  noConflict: 'Không trùng lịch: {n} trạm sẽ phát.',
  conflict: 'Trùng lịch',
  saveDraft: 'Lưu bản nháp',
  approve: 'Duyệt',
  cancel: 'Hủy',
  draft: 'Bản nháp',
  approved: 'Đã duyệt',
  cancelled: 'Đã hủy',
  weekCalendar: 'Lịch tuần',
  previousWeek: '← Tuần trước',
  nextWeek: 'Tuần sau →',
  nothingScheduled: 'Không có lịch phát.',
  items: 'Các mục lịch phát',
  status: 'Trạng thái',
  sitesN: '{n} trạm',
  exportCsv: 'Tải CSV',
  day: 'Ngày',
  chooseArea: 'Chọn khu vực',
  template: 'Mẫu thông báo',
  freeText: '— tự soạn —',
  isTest: 'Diễn tập (không phải cảnh báo thật)',
  review: 'Kiểm tra lại',
  confirmAlert: 'Xác nhận phát cảnh báo tới {area}?',
  sendAlert: 'PHÁT CẢNH BÁO',
  back: 'Quay lại',
  tracker: 'Theo dõi cảnh báo',
  reached: 'Đã phát: {done} / {all} trạm',
  unreachedSites: 'Trạm chưa phát',
  allReached: 'Tất cả các trạm đã phát.',
  cancelAlert: 'Dừng cảnh báo',
  recentAlerts: 'Cảnh báo gần đây',
  active: 'Đang hiệu lực',
  expiredAlert: 'Hết hiệu lực',
  goLive: 'Bắt đầu phát trực tiếp',
  stopLive: 'Dừng phát',
  onAir: 'ĐANG PHÁT',
  offAir: 'Chưa phát',
  micLevel: 'Mức micrô',
  liveNeedsMic: 'Cần quyền dùng micrô (trình duyệt chỉ cho phép qua HTTPS hoặc localhost).',
  liveStreams: 'Các buổi phát',
  users: 'Người dùng',
  alertInForce: 'ĐANG CÓ CẢNH BÁO',
  role_admin: 'Quản trị',
  role_operator: 'Vận hành',
  role_technician: 'Kỹ thuật',
  role_emergency: 'Cán bộ ứng phó khẩn cấp',
  role_viewer: 'Chỉ xem',
};

export type StringKey = keyof typeof vi;

const en: Record<StringKey, string> = {
  appName: 'Grassroots radio',
  overview: 'Overview',
  sites: 'Sites',
  schedule: 'Schedule',
  emergency: 'Emergency',
  live: 'Live',
  account: 'Account',
  audit: 'Audit log',
  logout: 'Log out',
  login: 'Log in',
  username: 'Username',
  password: 'Password',
  loginFailed: 'Login failed',
  coverage: 'Coverage',
  coverageOf: 'Coverage: {area}',
  operationalSites: 'Sites operational',
  operationalClusters: 'Clusters operational',
  villagesCovered: 'Villages covered',
  sitesTotal: 'Sites',
  failingSites: 'Failing sites',
  noFailing: 'No site is failing.',
  byArea: 'By area',
  area: 'Area',
  map: 'Map of sites',
  noCoords: 'No site coordinates to draw a map.',
  last30: 'Coverage and uptime over the last 30 days',
  noHistory: 'No history yet.',
  up: 'Up one level',
  reasons: 'Reasons',
  operational: 'Operational',
  degraded: 'Degraded',
  faulty: 'Faulty',
  offline: 'Offline',
  unverified: 'Unverified',
  station: 'Commune station',
  cluster: 'Cluster',
  search: 'Search',
  allConditions: 'All conditions',
  allKinds: 'All kinds',
  allCommunes: 'All communes',
  commune: 'Commune',
  kind: 'Kind',
  condition: 'Condition',
  name: 'Name',
  lastHeartbeat: 'Last heard',
  signal: 'Signal',
  power: 'Power',
  mains: 'Mains',
  battery: 'Battery',
  solar: 'Solar',
  amplifier: 'Amplifier',
  volume: 'Volume',
  on: 'On',
  off: 'Off',
  devices: 'Devices',
  lines: 'Speaker lines',
  history: 'History',
  controls: 'Controls',
  setVolume: 'Set volume',
  ampOn: 'Amplifier on',
  ampOff: 'Amplifier off',
  testTone: 'Test tone',
  reboot: 'Reboot',
  confirmReboot: 'Reboot this site?',
  commands: 'Recent commands',
  sent: 'Sent, waiting for the result…',
  queued: 'Waiting for the site to connect…',
  succeeded: 'Succeeded',
  failed: 'Failed',
  expired: 'Expired',
  asRun: 'As-run log',
  never: 'never',
  total: 'total',
  shown: 'shown',
  changePassword: 'Change password',
  currentPassword: 'Current password',
  newPassword: 'New password',
  save: 'Save',
  saved: 'Saved.',
  apiTokens: 'API tokens',
  tokenName: 'Token name',
  expiresInDays: 'Expires in (days)',
  create: 'Create',
  revoke: 'Revoke',
  revoked: 'Revoked',
  created: 'Created',
  expires: 'Expires',
  newTokenOnce: 'New token (shown once, copy it now):',
  auditLog: 'Audit log',
  user: 'User',
  action: 'Action',
  target: 'Target',
  detail: 'Detail',
  time: 'Time',
  from: 'From',
  to: 'To',
  filter: 'Filter',
  loading: 'Loading…',
  notAllowed: 'You are not allowed to do this.',
  liveUpdates: 'Live updates',
  role: 'Role',
  whole: 'whole network',
  notFound: 'Page not found.',
  sound: 'Sound',
  soundVerified: 'Sound verified',
  soundCheck: 'Sound check',
  playlistsHeld: '{n}/{all} sites hold the latest playlist',
  sitesOffline: '{n} sites are offline and will play it when they reconnect (while the alert is valid)',
  uptime: 'Uptime',
  areasWithoutSites: '{n} areas without sites',
  mediaLibrary: 'Media library',
  upload: 'Upload',
  uploading: 'Uploading… {pct}%',
  processing: 'Processing…',
  tts: 'Text to speech',
  text: 'Text',
  title: 'Title',
  makeSpeech: 'Make bulletin',
  duration: 'Duration',
  newBroadcast: 'New broadcast',
  media: 'Bulletin audio',
  chooseMedia: '— choose a bulletin —',
  targetArea: 'Where',
  startAt: 'Start',
  repeatDaily: 'Repeat daily',
  priority: 'Priority',
  normal: 'Normal',
  priorityHigh: 'Priority',
  emergencyPriority: 'Emergency',
  noConflict: 'No conflict: {n} sites will play it.',
  conflict: 'Conflict',
  saveDraft: 'Save draft',
  approve: 'Approve',
  cancel: 'Cancel',
  draft: 'Draft',
  approved: 'Approved',
  cancelled: 'Cancelled',
  weekCalendar: 'Week',
  previousWeek: '← Previous week',
  nextWeek: 'Next week →',
  nothingScheduled: 'Nothing scheduled.',
  items: 'Broadcast items',
  status: 'Status',
  sitesN: '{n} sites',
  exportCsv: 'Download CSV',
  day: 'Day',
  chooseArea: 'Choose the area',
  template: 'Template',
  freeText: '— own text —',
  isTest: 'Exercise (not a real alert)',
  review: 'Review',
  confirmAlert: 'Send the alert to {area}?',
  sendAlert: 'SEND ALERT',
  back: 'Back',
  tracker: 'Alert tracker',
  reached: 'Playing: {done} / {all} sites',
  unreachedSites: 'Sites not reached',
  allReached: 'Every site has played it.',
  cancelAlert: 'Stop the alert',
  recentAlerts: 'Recent alerts',
  active: 'Active',
  expiredAlert: 'Expired',
  goLive: 'Go live',
  stopLive: 'Stop',
  onAir: 'ON AIR',
  offAir: 'Off air',
  micLevel: 'Microphone level',
  liveNeedsMic: 'Needs microphone permission (browsers allow it only over HTTPS or on localhost).',
  liveStreams: 'Streams',
  users: 'Users',
  alertInForce: 'ALERT IN FORCE',
  role_admin: 'Administrator',
  role_operator: 'Operator',
  role_technician: 'Technician',
  role_emergency: 'Emergency official',
  role_viewer: 'Viewer',
};

const DICTS: Record<Lang, Record<StringKey, string>> = { vi, en };

let current: Lang = readStoredLang();

function readStoredLang(): Lang {
  try {
    return localStorage.getItem('loanet.lang') === 'en' ? 'en' : 'vi';
  } catch {
    return 'vi';
  }
}

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem('loanet.lang', l);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
}

export function t(key: StringKey, vars?: Record<string, string | number>): string {
  let s = DICTS[current][key];
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

const formats = new Map<string, Intl.DateTimeFormat>();
function fmt(kind: 'dateTime' | 'date' | 'time'): Intl.DateTimeFormat {
  const key = `${current}:${kind}`;
  let f = formats.get(key);
  if (!f) {
    const opts: Intl.DateTimeFormatOptions =
      kind === 'date' ? { day: '2-digit', month: '2-digit' } : kind === 'time' ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' } : { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    f = new Intl.DateTimeFormat(current === 'vi' ? 'vi-VN' : 'en-GB', { ...opts, timeZone: TIME_ZONE });
    formats.set(key, f);
  }
  return f;
}

/** A moment as the province reads it (Asia/Ho_Chi_Minh). */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? t('never') : fmt('dateTime').format(ms);
}
export function formatDay(ms: number): string {
  return fmt('date').format(ms);
}
export function formatClock(ms: number): string {
  return fmt('time').format(ms);
}

export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? '—' : `${(share * 100).toFixed(share >= 0.995 || share === 0 ? 0 : 1).replace('.', current === 'vi' ? ',' : '.')}%`;
}

/** The server's bilingual reason ({message, messageVi}) in the chosen language. */
export function reasonText(r: { message: string; messageVi: string }): string {
  return current === 'vi' ? r.messageVi : r.message;
}

/** "YYYY-MM-DDTHH:mm" of an instant in Asia/Ho_Chi_Minh (what a datetime-local input shows and the server reads as local time). */
export function localInputValue(ms: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(ms);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}
