/**
 * Every error code of the catalogue (api/error-catalogue.ts) worded in
 * Vietnamese (full diacritics) from its parameters, the words the user reads
 * in Vietnamese mode. A code added to the catalogue fails the typecheck here
 * until it is worded. Long because the catalogue is (over 100 codes): one
 * table, one language; English is errors-en.ts, the lookup errors.ts.
 */
import type { AreaCsvParams, ErrorParams, ErrorThing, ForbiddenParams } from '../../../api/index.ts';
import type { ErrorWords } from './errors.ts';

/** A work order's states and people's actions on it (server/maintenance/model.ts), for LOANET_WORK_ORDER_STATE. */
const WORK_ORDER_STATE_VI = {
  open: 'mới tạo',
  assigned: 'đã giao',
  visit_planned: 'đã hẹn ngày đến',
  resolved: 'đã sửa, chờ kiểm tra âm thanh',
  closed: 'đã đóng',
  cancelled: 'đã hủy',
} as const;
const WORK_ORDER_ACTION_VI = { assign: 'giao việc', plan_visit: 'hẹn ngày đến', record: 'ghi vật tư, ghi chú', resolve: 'báo đã sửa xong', cancel: 'hủy', close: 'đóng' } as const;

const THING_VI: Record<ErrorThing, string> = {
  user: 'người dùng',
  api_token: 'mã API',
  area: 'khu vực',
  site: 'cụm loa',
  media: 'tệp âm thanh',
  command: 'lệnh',
  broadcast_item: 'bản tin',
  live_stream: 'luồng phát trực tiếp',
  alert: 'cảnh báo',
  alert_delivery: 'việc nhận cảnh báo của cụm loa',
  cap_sender: 'nguồn tin CAP',
  route: 'địa chỉ',
  file: 'tệp',
  area_list: 'danh sách khu vực',
  release: 'bản phát hành phần mềm',
  notification_rule: 'quy tắc thông báo',
};

/** The request fields a person fills in, by their label on the page; others keep their name. */
const FIELD_VI: Record<string, string> = {
  title: 'Tiêu đề',
  file: 'Tệp',
  areas: 'Khu vực',
  areaKey: 'Khu vực',
  parentKey: 'Khu vực cấp trên',
  polygon: 'Vùng vẽ trên bản đồ',
  validUntil: 'Hiệu lực đến',
  validForMinutes: 'Thời gian hiệu lực',
  rate: 'Tốc độ đọc',
  tags: 'Nhãn',
  lang: 'Ngôn ngữ',
  'message.lang': 'Ngôn ngữ',
  'message.text': 'Nội dung cần đọc',
  'message.mediaId': 'Tệp âm thanh',
  text: 'Nội dung cần đọc',
  username: 'Tên đăng nhập',
  password: 'Mật khẩu',
  newPassword: 'Mật khẩu mới',
  currentPassword: 'Mật khẩu hiện tại',
  disabled: 'Khóa tài khoản',
  'start.at': 'Giờ phát',
  from: 'Từ',
  to: 'Đến',
  site: 'Cụm loa',
  id: 'Mã cụm loa',
  'source.url': 'Địa chỉ nguồn phát lại',
  'source.mediaId': 'Tệp âm thanh',
  'source.fallbackMediaId': 'Tệp phát thay khi mất nguồn',
  alert: 'Bản tin cảnh báo',
  body: 'Nội dung gửi lên',
  params: 'Tham số của lệnh',
};

const STATUS_VI: Record<string, string> = {
  draft: 'bản nháp',
  approved: 'đã duyệt',
  cancelled: 'đã hủy',
  active: 'đang hiệu lực',
  expired: 'đã hết hạn',
  processing: 'đang xử lý',
  ready: 'sẵn sàng',
  failed: 'xử lý lỗi',
};
const PRIORITY_VI: Record<string, string> = { normal: 'bình thường', priority: 'ưu tiên', emergency: 'khẩn cấp' };
const LEVEL_VI: Record<string, string> = { province: 'tỉnh', commune: 'xã', village: 'thôn' };
const ROLE_VI: Record<string, string> = { admin: 'quản trị', operator: 'vận hành', technician: 'kỹ thuật', emergency: 'ứng phó khẩn cấp', viewer: 'chỉ xem' };
const PERMISSION_VI: Record<string, string> = {
  read: 'xem mạng lưới',
  'registry.write': 'sửa khu vực và cụm loa',
  'site.command': 'gửi lệnh tới cụm loa',
  'site.enrol': 'đăng ký thiết bị',
  'media.write': 'sửa thư viện âm thanh',
  'schedule.write': 'lập lịch phát',
  'schedule.approve': 'duyệt lịch phát',
  'alert.write': 'phát, sửa hoặc hủy cảnh báo khẩn cấp',
  'live.broadcast': 'phát trực tiếp',
  'release.write': 'tải lên bản phát hành phần mềm',
  'rollout.write': 'triển khai cập nhật phần mềm',
  'users.manage': 'quản lý người dùng',
  'audit.read': 'xem nhật ký thao tác',
};
const ACTION_VI: Record<string, string> = { start: 'phát', update: 'sửa', cancel: 'hủy' };

const word = (map: Record<string, string>, v: string) => map[v] ?? v;
const fieldVi = (f: string | undefined) => (f ? `“${FIELD_VI[f] ?? f}”` : 'dữ liệu gửi lên');
const nVi = (n: number) => n.toLocaleString('vi-VN');
const waitVi = (s: number) => (s < 120 ? `${nVi(s)} giây` : `${nVi(Math.ceil(s / 60))} phút`);
/** A core's own English finding, shown after the worded sentence and marked as technical detail (never as the sentence itself). */
const techVi = (t: string | undefined) => (t ? ` Chi tiết kỹ thuật: ${t}` : '');
/** A duration: seconds below two minutes, else minutes (one decimal at most). */
const durVi = (s: number) =>
  s < 120 ? `${s.toLocaleString('vi-VN', { maximumFractionDigits: 1 })} giây` : `${(s / 60).toLocaleString('vi-VN', { maximumFractionDigits: 1 })} phút`;

/** A refused schedule input by its problem code (api/error-catalogue.ts BAD_REQUEST_PROBLEMS), else the field at fault. */
function badRequestVi(p: ErrorParams['LOANET_BAD_REQUEST']): string {
  const f = fieldVi(p.field);
  switch (p.problem) {
    case 'not_an_instant':
    case 'not_a_date_time':
      return `${f}: “${p.value ?? ''}” không phải ngày giờ hợp lệ (ví dụ 2026-11-27T06:00).`;
    case 'epoch_seconds':
      return `${f}: “${p.value ?? ''}” giống số giây; hãy gửi mili giây hoặc ngày giờ (ví dụ 2026-11-27T06:00).`;
    case 'media_unknown':
      return `Không có tệp âm thanh ${p.id ?? ''} trong thư viện.`;
    case 'media_not_ready':
      return `Tệp âm thanh ${p.id ?? ''} chưa dùng được (${word(STATUS_VI, p.status ?? '')}).`;
    case 'media_retired':
      return `Tệp âm thanh ${p.id ?? ''} đã ngừng sử dụng.`;
    case 'site_unknown':
      return `Cụm loa ${p.id ?? ''} chưa được đăng ký.`;
    case 'site_retired':
      return `Cụm loa ${p.id ?? ''} đã ngừng sử dụng.`;
    case 'before_valid_from':
      return `Giờ phát ${p.at ?? ''} sớm hơn thời điểm bắt đầu hiệu lực ${p.limit ?? ''}.`;
    case 'not_before_valid_until':
      return `Giờ phát ${p.at ?? ''} không trước thời điểm hết hiệu lực ${p.limit ?? ''}.`;
    case 'recurrence':
      return `Cách lặp lại (${f}) không hợp lệ.${techVi(p.text)}`;
    case 'version_duplicate':
      return `Đã có một bản bằng tiếng “${p.value ?? ''}” (bản mặc định hoặc một phiên bản khác): mỗi tiếng chỉ một bản.`;
    case 'version_language':
      return `Tệp âm thanh ${p.id ?? ''} là tiếng “${p.value ?? ''}”, không phải tiếng của phiên bản này.`;
    default:
      return `Giá trị của ${f} không hợp lệ.${techVi(p.text)}`;
  }
}

/** Why a relay source is refused, by its reason code; the errno or HTTP status as technical detail. */
function relayVi(p: ErrorParams['LOANET_RELAY_REFUSED'], fallback: string): string {
  const within = p.withinS !== undefined ? ` trong ${nVi(p.withinS)} giây` : '';
  switch (p.reason) {
    case 'destination':
      return `Địa chỉ nguồn phát lại không được phép tiếp sóng (chỉ địa chỉ công cộng, hoặc địa chỉ quản trị viên cho phép).${techVi(p.detail)}`;
    case 'redirect':
      return `Nguồn phát lại chuyển hướng tới một địa chỉ không được phép tiếp sóng.${techVi(p.detail)}`;
    case 'connection':
      return `Không kết nối được tới nguồn phát lại.${techVi(p.detail)}`;
    case 'http_status':
      return `Nguồn phát lại từ chối yêu cầu.${techVi(p.detail)}`;
    case 'no_answer':
      return `Nguồn phát lại không trả lời${within}.`;
    case 'not_audio':
      return `Nguồn phát lại có trả lời nhưng nội dung không phải âm thanh phát được.${techVi(p.detail)}`;
    case 'no_audio_in_time':
      return `Nguồn phát lại có trả lời nhưng không gửi âm thanh phát được${within}.`;
    default:
      return fallback;
  }
}

/** What is wrong in an imported area list, at its line: the list's own values quoted, the rest in Vietnamese. */
function areaCsvVi(p: AreaCsvParams): string {
  const at = p.line !== undefined ? `Dòng ${nVi(p.line)}: ` : '';
  const col = p.column ? `cột ${p.column}` : '';
  switch (p.problem) {
    case 'header':
      return `Dòng tiêu đề của tệp CSV không đúng mẫu: cần danh sách của Tổng cục Thống kê (province_code, [district_code,] commune_code, …) hoặc code,name,level,parent_code.`;
    case 'csv':
      return `${at}tệp CSV sai định dạng (dấu ngoặc kép không đóng, hoặc số cột không khớp).`;
    case 'empty':
      return `${at}${col} đang để trống.`;
    case 'code':
      return `${at}${col} “${p.value ?? ''}” không phải mã khu vực hợp lệ (chỉ chữ, số và dấu gạch ngang).`;
    case 'coordinate':
      return `${at}${p.column === 'lat' ? 'vĩ độ' : 'kinh độ'} “${p.value ?? ''}” không phải tọa độ hợp lệ.`;
    case 'level':
      return `${at}cấp “${p.value ?? ''}” phải là province, district, commune hoặc village.`;
    case 'duplicate':
      return `${at}mã ${p.value ?? ''} xuất hiện hai lần với nội dung khác nhau.`;
    case 'cycle':
      return `Khu vực ${p.value ?? ''} lại nằm trong chính nó (vòng lặp cấp trên).`;
  }
}

function forbiddenVi(p: ForbiddenParams): string {
  switch (p.rule) {
    case 'role':
      return `Vai trò ${word(ROLE_VI, p.role)} không được ${word(PERMISSION_VI, p.permission)}.`;
    case 'own_area':
    case 'scope':
      return 'Bạn chỉ được thao tác trong khu vực của mình; việc này chạm tới nơi ngoài khu vực đó.';
    case 'site_credential':
      return `Cụm loa ${p.siteId} chỉ được tải âm thanh, bản phát hành phần mềm và xem việc nhận cảnh báo của chính nó.`;
    case 'own_media':
      return 'Bạn chỉ được sửa hoặc gỡ các tệp âm thanh do chính mình tải lên.';
    case 'alert_scope':
      return `Bạn chỉ được ${word(ACTION_VI, p.action)} cảnh báo trong khu vực của mình; cảnh báo này chạm tới nơi ngoài khu vực đó.`;
    case 'network_admin':
      return p.action === 'import_areas'
        ? 'Chỉ quản trị viên toàn mạng mới được nhập danh sách khu vực.'
        : 'Chỉ quản trị viên toàn mạng mới được đọc tệp cấu hình của máy chủ tin nhắn (chứa mật khẩu của mọi cụm loa).';
    case 'cap_sender':
      return `Tài khoản này không được gửi bản tin CAP dưới tên nguồn tin ${p.sender}.`;
    case 'cap_area':
      return 'Bản tin CAP này chạm tới khu vực ngoài khu vực của nguồn tin hoặc của bạn.';
  }
}

export const vi: ErrorWords = {
  LOANET_BAD_REQUEST: badRequestVi,
  LOANET_FIELD_REQUIRED: (p) => `Cần điền ${fieldVi(p.field)}.`,
  LOANET_TARGET_REQUIRED: () => 'Hãy chọn ít nhất một khu vực (hoặc vẽ vùng trên bản đồ).',
  LOANET_TEXT_TOO_LONG: (p) => `${fieldVi(p.field)} dài tối đa ${nVi(p.max)} ký tự.`,
  LOANET_TOO_MANY_TAGS: (p) => `Tối đa ${nVi(p.max)} nhãn, mỗi nhãn tối đa ${nVi(p.maxLength)} ký tự.`,
  LOANET_NOT_A_LANGUAGE_TAG: (p) => `“${p.value}” không phải mã ngôn ngữ hợp lệ (ví dụ: vi, hmn, tyz).`,
  LOANET_OUT_OF_RANGE: (p) => `${fieldVi(p.field)} phải từ ${nVi(p.min)} đến ${nVi(p.max)} từ mỗi phút.`,
  LOANET_PERIOD_EMPTY: () => 'Thời điểm kết thúc phải sau thời điểm bắt đầu.',
  LOANET_PERIOD_TOO_LONG: (p) => `Chỉ xem được khoảng thời gian tối đa ${nVi(p.maxDays)} ngày.`,
  LOANET_UNEXPECTED_FIELD: (p) => `Trường “${p.field}” không được chấp nhận ở đây.`,
  LOANET_INVALID_JSON: (p) => `${fieldVi(p.field)} không đúng định dạng JSON.`,
  LOANET_ONE_OF: (p) => `Chỉ chọn một trong: ${p.fields.map((f) => fieldVi(f)).join(', ')}.`,
  LOANET_IN_THE_PAST: (p) => (p.field === 'start.at' ? 'Giờ phát đã qua; hãy sửa bản nháp trước khi duyệt.' : `${fieldVi(p.field)} đã ở trong quá khứ.`),
  LOANET_BODY_TOO_LARGE: (p) => `Dữ liệu gửi lên quá lớn (tối đa ${nVi(p.limit)} byte).`,
  LOANET_UNSUPPORTED_MEDIA_TYPE: () => 'Máy chủ không nhận dữ liệu ở dạng này.',
  LOANET_RANGE_NOT_SATISFIABLE: () => 'Đoạn yêu cầu nằm ngoài tệp.',

  LOANET_NOT_FOUND: (p) => (p.thing === 'area_list' ? 'Chưa có khu vực nào: hãy nhập danh sách khu vực trước.' : `Không tìm thấy ${THING_VI[p.thing]} ${p.id}.`),
  LOANET_REFERENCE_NOT_FOUND: (p) => `${fieldVi(p.field)}: không tìm thấy ${THING_VI[p.thing]} ${p.id}.`,
  LOANET_REFERENCE_NOT_READY: (p) => `${fieldVi(p.field)}: ${THING_VI[p.thing]} ${p.id} chưa sẵn sàng (${word(STATUS_VI, p.status)}).`,
  LOANET_REFERS_TO_RETIRED: (p) => `${fieldVi(p.field)}: ${THING_VI[p.thing]} ${p.id} đã ngừng sử dụng.`,
  LOANET_RETIRED: (p) => `${THING_VI[p.thing]} ${p.id} đã ngừng sử dụng.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_GONE: (p) => `${THING_VI[p.thing]} ${p.id} đã ngừng sử dụng.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_NAME_TAKEN: (p) => `${THING_VI[p.thing]} “${p.name}” đã có.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_CONFLICT: () => 'Việc này xung đột với trạng thái hiện tại; hãy tải lại trang rồi thử lại.',

  LOANET_UNAUTHENTICATED: () => 'Cần đăng nhập.',
  LOANET_BAD_CREDENTIALS: () => 'Sai tên đăng nhập hoặc mật khẩu.',
  LOANET_BAD_SITE_CREDENTIALS: () => 'Thông tin xác thực của cụm loa bị từ chối.',
  LOANET_CSRF: () => 'Yêu cầu bị từ chối vì phiên làm việc không khớp; hãy tải lại trang.',
  LOANET_FORBIDDEN: forbiddenVi,
  LOANET_RATE_LIMITED: (p) =>
    p.what === 'enrolment'
      ? `Quá nhiều mã đăng ký sai (${nVi(p.max)} lần trong ${nVi(p.windowMinutes)} phút); thử lại sau ${waitVi(p.retryAfterS)}.`
      : `Quá nhiều lần đăng nhập hoặc đổi mật khẩu sai (${nVi(p.max)} lần trong ${nVi(p.windowMinutes)} phút); thử lại sau ${waitVi(p.retryAfterS)}, hoặc nhờ quản trị viên mở khóa.`,
  LOANET_ENROL_REFUSED: () => 'Mã đăng ký bị từ chối: sai, đã dùng hoặc đã hết hạn.',

  LOANET_USERNAME_FORMAT: (p) => `Tên đăng nhập gồm ${nVi(p.min)}–${nVi(p.max)} ký tự: chữ thường a–z (không dấu), chữ số 0–9, dấu chấm, gạch dưới hoặc gạch ngang.`,
  LOANET_LAST_ADMIN: (p) => `${p.username} là quản trị viên toàn mạng cuối cùng: hãy tạo quản trị viên khác trước.`,
  LOANET_SELF_DISABLE: () => 'Không thể tự khóa tài khoản của chính mình.',
  LOANET_PASSWORD_UNCHANGED: () => 'Mật khẩu mới phải khác mật khẩu hiện tại.',
  LOANET_PASSWORD_WRONG: () => 'Mật khẩu hiện tại không đúng.',
  LOANET_PASSWORD_TOO_SHORT: (p) => `Mật khẩu quá ngắn${p.limit !== undefined ? `: cần ít nhất ${nVi(p.limit)} ký tự` : ''}.`,
  LOANET_PASSWORD_TOO_LONG: (p) => `Mật khẩu quá dài${p.limit !== undefined ? `: tối đa ${nVi(p.limit)} ký tự` : ''}.`,
  LOANET_PASSWORD_COMMON: () => 'Mật khẩu này quá phổ biến, dễ bị đoán; hãy chọn mật khẩu khác.',
  LOANET_PASSWORD_HAS_USERNAME: () => 'Mật khẩu không được chứa tên đăng nhập.',

  LOANET_AREA_NOT_A_CODE: (p) => `“${p.value}” không phải mã khu vực (ví dụ 02647) hoặc khóa khu vực (ví dụ 2025.02647).`,
  LOANET_AREA_CYCLE: (p) => `Khu vực ${p.parentKey} nằm trong ${p.key}; không thể chuyển một khu vực vào bên trong chính nó.`,
  LOANET_AREA_NOT_EMPTY: (p) => `Khu vực ${p.key} còn ${nVi(p.children)} khu vực con và ${nVi(p.sites)} cụm loa đang hoạt động; hãy ngừng sử dụng hoặc chuyển chúng trước.`,
  LOANET_AREA_LEVEL_MISMATCH: (p) => `Khu vực ${p.key} là ${word(LEVEL_VI, p.stored)} trong dữ liệu nhưng là ${word(LEVEL_VI, p.file)} trong tệp.`,
  LOANET_AREA_NEEDS_PARENT: (p) => `Một ${word(LEVEL_VI, p.level)} phải thuộc một khu vực cấp trên.`,
  LOANET_AREA_VERSION_MISMATCH: (p) => `Khu vực cấp trên ${p.parentKey} thuộc phiên bản địa giới ${p.parentVersion}, không phải ${p.version}.`,
  LOANET_AREA_NESTING: (p) => `Một ${word(LEVEL_VI, p.level)} không thể nằm trong một ${word(LEVEL_VI, p.parentLevel)} (${p.parentKey}).`,
  LOANET_AREA_CSV: (p) => areaCsvVi(p),
  LOANET_SITE_ID_FORMAT: (p) => `Mã cụm loa “${p.id}” phải gồm 1–64 ký tự a–z, 0–9 và dấu gạch ngang.`,

  LOANET_ITEM_NOT_DRAFT: (p) => `“${p.title}” đang ở trạng thái ${word(STATUS_VI, p.status)}; chỉ sửa hoặc duyệt được bản nháp (hãy hủy rồi tạo bản tin mới).`,
  LOANET_ITEM_CANCELLED: (p) => `“${p.title}” đã bị hủy rồi.`,
  LOANET_FOUR_EYES: (p) => `Nguyên tắc hai người: ${p.username} đã tạo hoặc sửa “${p.title}” nên không được tự duyệt; cần một người vận hành khác hoặc quản trị viên duyệt.`,
  LOANET_SCHEDULE_CONFLICT: (p) =>
    p.titles.length > 0
      ? `Trùng giờ với ${p.titles.map((t) => `“${t}”`).join(', ')} cùng mức ưu tiên; hãy đổi giờ, chọn “phát ngay sau” hoặc mức ưu tiên khác.`
      : 'Trùng giờ với một bản tin cùng mức ưu tiên; hãy đổi giờ hoặc mức ưu tiên.',

  LOANET_MEDIA_NOT_READY: (p) => `Tệp âm thanh ${p.id} chưa sẵn sàng (${word(STATUS_VI, p.status)}).`,
  LOANET_MEDIA_OF_ALERT: () => 'Tệp này là âm thanh của một cảnh báo: được giữ cùng hồ sơ cảnh báo, không sửa hay gỡ được.',
  LOANET_MEDIA_IN_USE: () => 'Chưa gỡ được tệp này: nó vẫn đang được dùng trong lịch phát.',
  LOANET_MEDIA_FILE_MISSING: () => 'Tệp âm thanh bị thiếu trong thư mục dữ liệu của máy chủ; hãy báo quản trị viên.',
  LOANET_MEDIA_EMPTY: () => 'Tệp rỗng (0 byte).',
  LOANET_MEDIA_TOO_LARGE: (p) => (p.limitMb !== undefined ? `Tệp lớn hơn giới hạn ${nVi(p.limitMb)} MB.` : 'Tệp lớn hơn giới hạn cho phép.'),
  LOANET_MEDIA_NOT_AUDIO: (p) => `Đây không phải tệp âm thanh đọc được.${techVi(p.text)}`,
  LOANET_MEDIA_DAMAGED: (p) => `Tệp âm thanh bị hỏng hoặc không đầy đủ.${techVi(p.text)}`,
  LOANET_MEDIA_SILENT: (p) =>
    p.lufs !== undefined ? `Tệp âm thanh hoàn toàn im lặng (độ to ${p.lufs.toLocaleString('vi-VN', { maximumFractionDigits: 1 })} LUFS).` : 'Tệp âm thanh hoàn toàn im lặng.',
  LOANET_MEDIA_TOO_LONG: (p) =>
    p.seconds !== undefined && p.limitS !== undefined ? `Tệp âm thanh dài ${durVi(p.seconds)}, quá giới hạn ${durVi(p.limitS)}.` : 'Tệp âm thanh dài hơn giới hạn cho phép.',
  LOANET_MEDIA_FORMAT: () => 'Định dạng tệp không được chấp nhận; hãy tải lên MP3, WAV, OGG, M4A hoặc FLAC.',
  LOANET_MEDIA_QUEUE_FULL: () => 'Hàng đợi xử lý âm thanh đang đầy; thử lại sau khi một việc xong.',
  LOANET_MEDIA_FAILED: (p) => `Không tạo được âm thanh.${techVi(p.text)}`,
  LOANET_MEDIA_ABORTED: () => 'Việc xử lý âm thanh đã dừng vì không còn cần.',
  LOANET_DOCX_INVALID: (p) => `Đây không phải tài liệu Word (.docx) đọc được.${techVi(p.text)}`,
  LOANET_DOCX_TOO_LARGE: (p) => (p.limitMb !== undefined ? `Tài liệu lớn hơn giới hạn ${nVi(p.limitMb)} MB.` : `Tài liệu quá lớn để đọc.${techVi(p.text)}`),
  LOANET_OFFTHREAD_FAILED: () => 'Máy chủ gặp lỗi khi xử lý; nhật ký máy chủ ghi lý do.',
  LOANET_OFFTHREAD_TIMEOUT: (p) => (p.limitS !== undefined ? `Xử lý lâu quá ${durVi(p.limitS)} nên đã dừng.` : 'Xử lý quá lâu nên đã dừng.'),
  LOANET_OFFTHREAD_MEMORY: (p) => (p.limitMb !== undefined ? `Xử lý cần hơn ${nVi(p.limitMb)} MB bộ nhớ nên đã dừng.` : 'Xử lý cần quá nhiều bộ nhớ nên đã dừng.'),
  LOANET_TTS_UNAVAILABLE: () => 'Máy chủ chưa có bộ đọc văn bản (chuyển văn bản thành giọng nói).',
  LOANET_TTS_NO_TEXT: (p) => (p.source === 'document' ? 'Tài liệu không có chữ nào để đọc.' : 'Không có nội dung để đọc.'),
  LOANET_TTS_NO_VOICE: (p) => `Không có giọng đọc cho ngôn ngữ này.${techVi(p.text)}`,
  LOANET_TTS_TEXT_TOO_LONG: (p) => `Văn bản quá dài: tối đa ${nVi(p.limit)} ký tự cho một bản tin (hãy chia nhỏ).`,

  LOANET_ALERT_NOT_ACTIVE: (p) => `Cảnh báo ${p.id} ${word(STATUS_VI, p.state)}: hãy phát cảnh báo mới.`,
  LOANET_ALERT_EXPIRED: () => 'Cảnh báo đã hết hạn: không còn gì để phát.',
  LOANET_POLYGON_NO_SITE: () => 'Không có cụm loa nào nằm trong vùng đã vẽ.',
  LOANET_TOKEN_NOT_LIVE: (p) => `${p.tokenId} không phải mã API còn hiệu lực của ${p.username}.`,
  // The checker's finding is English text about someone else's XML: shown as such, quoted, after the Vietnamese.
  LOANET_CAP_INVALID: (p) => `Đây không phải bản tin CAP 1.2 hợp lệ${p.field ? ` (lỗi ở phần tử ${p.field})` : ''}.${techVi(p.text?.replace(/^not a valid CAP 1\.2 alert: /, ''))}`,
  LOANET_CAP_ENCODING: (p) => `Bảng mã ký tự của bản tin CAP không đọc được.${techVi(p.text)}`,
  LOANET_CAP_LINK_ONLY: () => 'Tài liệu chỉ chứa đường dẫn tới bản tin CAP; hãy gửi chính bản tin CAP.',
  LOANET_CAP_NO_ALERT: () => 'Tài liệu không chứa bản tin CAP nào.',
  LOANET_CAP_ENVELOPE_TOO_LARGE: () => 'Tài liệu chứa quá nhiều bản tin CAP.',
  LOANET_CAP_CONFLICT: () => 'Bản tin CAP này đã được nhận với nội dung khác; thay đổi phải gửi thành bản tin cập nhật (Update).',
  LOANET_CAP_NO_AREA: () => 'Không có khu vực nào của bản tin CAP nằm trong mạng lưới này.',
  LOANET_CAP_NOTHING_TO_PLAY: () => 'Bản tin CAP không có nội dung để phát.',
  LOANET_CAP_NOT_FOR_BROADCAST: () => 'Bản tin CAP này không dùng để phát (bản tin thử, diễn tập hoặc nội bộ).',

  LOANET_LIVE_BUSY: (p) => `Luồng ${p.id} cùng mức ưu tiên (${word(PRIORITY_VI, p.priority)}) đang phát cho khu vực này; dừng luồng đó hoặc chọn mức ưu tiên cao hơn.`,
  LOANET_STREAM_ENDED: (p) => `Luồng ${p.id} đã kết thúc.`,
  LOANET_RELAY_URL: () => 'Địa chỉ nguồn phát lại không hợp lệ: chỉ nhận địa chỉ http hoặc https.',
  LOANET_RELAY_REFUSED: (p) => relayVi(p, 'Địa chỉ nguồn phát lại bị từ chối.'),
  LOANET_RELAY_UNREACHABLE: (p) => relayVi(p, 'Không kết nối được tới nguồn phát lại.'),
  LOANET_RELAY_NOT_AUDIO: (p) => relayVi(p, 'Nguồn phát lại không gửi âm thanh phát được.'),
  LOANET_TOO_MANY_STREAMS: (p) => `Đã mở quá nhiều kết nối cập nhật trực tiếp (tối đa ${nVi(p.limit)}); hãy đóng bớt thẻ trình duyệt.`,

  LOANET_RELEASE_REFUSED: (p) => {
    switch (p.reason) {
      case 'unsigned':
        return 'Bản phát hành chưa được ký: máy chủ chỉ nhận bản phát hành có chữ ký của một khóa được tin cậy.';
      case 'unknown_key':
        return 'Bản phát hành được ký bằng khóa mà máy chủ không tin cậy; hãy ký bằng khóa của tỉnh, hoặc nhờ quản trị viên thêm khóa công khai vào danh sách tin cậy.';
      case 'bad_signature':
        return 'Chữ ký không khớp với bản kê khai: bản kê khai đã bị sửa sau khi ký, hoặc được ký bằng khóa khác.';
      default:
        return 'Bản kê khai của bản phát hành không hợp lệ; hãy tạo lại bằng công cụ phát hành (npm run release).';
    }
  },
  LOANET_RELEASE_EXISTS: (p) => `Bản phát hành ${p.id} đã có trên máy chủ.`,
  LOANET_RELEASE_FILE_TOO_LARGE: (p) => `Tệp ${p.path} lớn hơn kích thước ghi trong bản kê khai (${nVi(p.size)} byte); tệp đã bị bỏ.`,
  LOANET_RELEASE_FILE_MISMATCH: (p) => `Tệp ${p.path} không khớp với bản kê khai đã ký (khác kích thước hoặc mã SHA-256); tệp đã bị bỏ, hãy tải lên đúng tệp.`,
  LOANET_RELEASE_IN_USE: (p) => `Chưa gỡ được bản phát hành ${p.id}: đợt cập nhật ${p.rollouts.join(', ')} đang dùng nó (đang chạy hoặc tạm dừng); hãy hủy đợt cập nhật trước.`,

  LOANET_ROLLOUT_NOT_FOUND: (p) => `Không tìm thấy đợt cập nhật ${p.id}.`,
  LOANET_ROLLOUT_RELEASE_UNUSABLE: (p) =>
    p.why === 'unknown'
      ? `Máy chủ không có bản phát hành ${p.id}.`
      : p.why === 'incomplete'
        ? `Bản phát hành ${p.id} còn thiếu tệp: hãy tải lên đủ các tệp trong bản kê khai trước.`
        : `Bản phát hành ${p.id} đã bị gỡ; hãy chọn bản khác.`,
  LOANET_ROLLOUT_SPEC: (p) =>
    `Cấu hình đợt cập nhật chưa đúng (${p.field}): mỗi đợt con cần danh sách cụm loa hoặc tỉ lệ phần trăm tăng dần, các ngưỡng từ 0 đến 1, giờ loại trừ dạng HH:MM.`,
  LOANET_ROLLOUT_NO_SITES: (p) => `Không có cụm loa nào để cập nhật: đã chọn ${nVi(p.targeted)} cụm loa, ${nVi(p.excluded)} cụm bị loại (chạy thử để xem lý do).`,
  LOANET_ROLLOUT_STATE: (p) => {
    const status: Record<string, string> = { running: 'đang chạy', paused: 'tạm dừng', aborted: 'đã hủy', completed: 'đã xong' };
    const action = { pause: 'tạm dừng', resume: 'tiếp tục', abort: 'hủy' }[p.action];
    return `Đợt cập nhật ${p.id} ${status[p.status] ?? p.status}: không thể ${action}.`;
  },

  LOANET_ALARM_NOT_FOUND: (p) => `Không tìm thấy cảnh báo kỹ thuật ${p.id} trong các cảnh báo đang mở (cảnh báo đã xử lý không sửa được nữa).`,
  LOANET_ALARM_NOT_RAISED: (p) => `Cảnh báo kỹ thuật ${p.id} chưa hiện (lỗi còn đang được theo dõi): chưa có gì để xác nhận hay xử lý.`,
  LOANET_ALARM_ALREADY_ACKNOWLEDGED: (p) => `Cảnh báo kỹ thuật ${p.id} đã được xác nhận rồi.`,
  LOANET_ALARM_ALREADY_CLEARED: (p) => `Cảnh báo kỹ thuật ${p.id} đã được xử lý rồi.`,
  LOANET_ALARM_CONDITION_ACTIVE: (p) => `Chưa thể đóng cảnh báo kỹ thuật ${p.id} bằng tay: máy chủ vẫn thấy lỗi. Hãy xác nhận cảnh báo; nó tự đóng khi hết lỗi.`,
  LOANET_ALARM_NOTE_REQUIRED: (p) => `Hãy ghi rõ đã làm gì để xử lý cảnh báo kỹ thuật ${p.id}.`,
  LOANET_ALARM_ACTION_PENDING: (p) =>
    `Cảnh báo kỹ thuật ${p.id}: đã ${p.waitedS} giây chưa có máy chủ nào xử lý cảnh báo (một máy chủ đang tiếp quản). Yêu cầu ${p.action === 'clear' ? 'đóng cảnh báo' : 'xác nhận'} của bạn đã được giữ lại và sẽ được thực hiện khi có máy chủ tiếp quản; hãy tải lại cảnh báo sau một phút thay vì gửi lại.`,
  LOANET_WORK_ORDER_NOT_FOUND: (p) => `Không tìm thấy phiếu sửa chữa (hoặc cảnh báo) ${p.id}.`,
  LOANET_WORK_ORDER_STATE: (p) =>
    `Phiếu sửa chữa ${p.id} đang ở trạng thái “${(WORK_ORDER_STATE_VI as Record<string, string>)[p.state] ?? p.state}”: không thể ${(WORK_ORDER_ACTION_VI as Record<string, string>)[p.action] ?? p.action}.`,
  LOANET_WORK_ORDER_NOT_VERIFIED: (p) =>
    `Phiếu sửa chữa ${p.id} tự đóng khi nghe thấy kiểm tra âm thanh sau khi báo sửa xong và cụm loa hoạt động bình thường; hãy yêu cầu kiểm tra âm thanh.`,
  LOANET_WORK_ORDER_ASSIGNEE: (p) =>
    `Không thể giao phiếu sửa chữa ${p.id} cho người dùng ${p.userId}: người này không phải kỹ thuật viên, điều hành viên hay quản trị phụ trách khu vực của cụm loa.`,
  LOANET_WORK_ORDER_ALARM_HAS_ORDER: (p) => `Cảnh báo kỹ thuật ${p.alarmId} đã có phiếu sửa chữa đang mở.`,
  LOANET_WORK_ORDER_NOTE_REQUIRED: (p) => `Hãy ghi rõ đã làm gì (phiếu sửa chữa ${p.id}).`,

  LOANET_UNAVAILABLE: (p) =>
    p.reason === 'busy'
      ? 'Máy chủ đang bận; thử lại sau vài giây.'
      : p.reason === 'tool_missing'
        ? 'Máy chủ thiếu công cụ xử lý âm thanh; hãy báo quản trị viên.'
        : p.reason === 'stream_owner'
          ? 'Máy chủ đang phát luồng này chưa dừng kịp; luồng sẽ được đóng khi xác định máy chủ đó đã ngừng. Hãy thử lại sau ít giây.'
          : p.reason === 'store'
            ? 'Cơ sở dữ liệu của máy chủ chưa trả lời kịp (đang bận hoặc mất kết nối); hãy thử lại sau vài giây.'
            : 'Máy chủ tạm thời không làm được việc này.',
  LOANET_DISK_LOW: () => 'Ổ đĩa của máy chủ sắp đầy: tạm dừng các thay đổi này để dành chỗ cho đăng nhập, cảnh báo và xác nhận phát.',
  LOANET_DISK_FULL: () => 'Chưa lưu: ổ đĩa dữ liệu của máy chủ đã đầy; dữ liệu cũ không mất. Hãy gỡ bớt tệp âm thanh cũ rồi thử lại.',
  LOANET_STORE_GONE: () =>
    'Chưa lưu: tệp cơ sở dữ liệu của máy chủ đã bị xóa hoặc thay thế khi máy chủ đang chạy, nên không lưu được gì nữa. Hãy báo quản trị viên dừng loanet và khôi phục thư mục dữ liệu.',
  LOANET_DATABASE_DISK_FULL: () =>
    'Chưa lưu: ổ đĩa của máy chủ cơ sở dữ liệu đã đầy; dữ liệu cũ không mất. Hãy báo quản trị viên giải phóng dung lượng trên máy chủ cơ sở dữ liệu rồi thử lại.',
  LOANET_REQUEST_TIMEOUT: () => 'Dữ liệu gửi lên đến quá chậm; hãy thử lại.',
  LOANET_TOO_MANY_CONNECTIONS: () => 'Quá nhiều kết nối từ máy này; hãy thử lại sau.',
  LOANET_INTERNAL: () => 'Máy chủ gặp lỗi; hãy thử lại, nếu vẫn lỗi thì báo quản trị viên.',
};
