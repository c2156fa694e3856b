/**
 * The error catalogue (api/error-catalogue.ts) is the one list of codes the
 * server answers with: every code is worded by the console in Vietnamese and
 * English from its parameters (web/src/strings/errors.ts), and the server
 * throws no code outside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BAD_REQUEST_PROBLEMS, ERROR_CATALOGUE, ERROR_CODES, isErrorCode, type ErrorCode, type ErrorParams } from '../../api/error-catalogue.ts';
import { RELAY_REFUSAL_REASONS } from '../../api/live.ts';
import { fail, LoanetError } from '../../server/errors.ts';
import * as words from '../../web/src/strings/errors.ts';

/** One set of parameters per code: the mapped type makes a new code fail the typecheck here until it has one. */
const SAMPLE: { [C in ErrorCode]: ErrorParams[C] } = {
  LOANET_BAD_REQUEST: { field: 'title', text: 'title: must be text' },
  LOANET_FIELD_REQUIRED: { field: 'title' },
  LOANET_TARGET_REQUIRED: { field: 'areas' },
  LOANET_TEXT_TOO_LONG: { field: 'title', max: 200 },
  LOANET_TOO_MANY_TAGS: { field: 'tags', max: 20, maxLength: 40 },
  LOANET_NOT_A_LANGUAGE_TAG: { field: 'lang', value: 'x!' },
  LOANET_OUT_OF_RANGE: { field: 'rate', min: 80, max: 260, unit: 'words_per_minute' },
  LOANET_PERIOD_EMPTY: { field: 'to', from: '2026-12-05T08:00:00+07:00', to: '2026-12-05T07:00:00+07:00' },
  LOANET_PERIOD_TOO_LONG: { field: 'to', maxDays: 31 },
  LOANET_UNEXPECTED_FIELD: { field: 'audio', expected: ['file'] },
  LOANET_INVALID_JSON: { field: 'alert' },
  LOANET_ONE_OF: { field: 'validUntil', fields: ['validUntil', 'validForMinutes'] },
  LOANET_IN_THE_PAST: { field: 'start.at', at: '2026-12-05T06:00:00+07:00' },
  LOANET_BODY_TOO_LARGE: { field: 'body', limit: 1_048_576 },
  LOANET_UNSUPPORTED_MEDIA_TYPE: { expected: ['application/cap+xml'] },
  LOANET_RANGE_NOT_SATISFIABLE: { size: 1000 },
  LOANET_NOT_FOUND: { thing: 'broadcast_item', id: 'b-1' },
  LOANET_REFERENCE_NOT_FOUND: { field: 'parentKey', thing: 'area', id: '2025.99999' },
  LOANET_REFERENCE_NOT_READY: { field: 'message.mediaId', thing: 'media', id: 'm-1', status: 'processing' },
  LOANET_REFERS_TO_RETIRED: { field: 'areaKey', thing: 'area', id: '2025.02683' },
  LOANET_RETIRED: { thing: 'site', id: 'bat-xat-1' },
  LOANET_GONE: { thing: 'media', id: 'm-1' },
  LOANET_NAME_TAKEN: { thing: 'user', name: 'op-batxat' },
  LOANET_CONFLICT: { text: 'something changed meanwhile' },
  LOANET_UNAUTHENTICATED: {},
  LOANET_BAD_CREDENTIALS: {},
  LOANET_BAD_SITE_CREDENTIALS: {},
  LOANET_CSRF: { reason: 'token' },
  LOANET_FORBIDDEN: { rule: 'role', role: 'operator', permission: 'alert.write', action: 'start, update or cancel emergency alerts' },
  LOANET_RATE_LIMITED: { what: 'login', limit: 'user', max: 10, windowMinutes: 15, retryAfterS: 30 },
  LOANET_ENROL_REFUSED: { reason: 'expired' },
  LOANET_USERNAME_FORMAT: { field: 'username', min: 3, max: 32 },
  LOANET_LAST_ADMIN: { username: 'admin' },
  LOANET_SELF_DISABLE: { field: 'disabled' },
  LOANET_PASSWORD_UNCHANGED: { field: 'newPassword' },
  LOANET_PASSWORD_WRONG: { field: 'currentPassword' },
  LOANET_PASSWORD_TOO_SHORT: { field: 'password', rule: 'too_short', limit: 12, text: 'must have at least 12 characters' },
  LOANET_PASSWORD_TOO_LONG: { field: 'password', rule: 'too_long', limit: 256, text: 'must have at most 256 characters' },
  LOANET_PASSWORD_COMMON: { field: 'password', rule: 'common', text: 'is a common password' },
  LOANET_PASSWORD_HAS_USERNAME: { field: 'password', rule: 'contains_username', text: 'contains the username' },
  LOANET_AREA_NOT_A_CODE: { field: 'area', value: 'x' },
  LOANET_AREA_CYCLE: { field: 'parentKey', key: '2025.02683', parentKey: '2025.0268301' },
  LOANET_AREA_NOT_EMPTY: { key: '2025.02683', children: 3, sites: 2 },
  LOANET_AREA_LEVEL_MISMATCH: { key: '2025.02683', stored: 'commune', file: 'village' },
  LOANET_AREA_NEEDS_PARENT: { field: 'parentKey', level: 'village' },
  LOANET_AREA_VERSION_MISMATCH: { field: 'parentKey', parentKey: '2019.02683', parentVersion: '2019', version: '2025' },
  LOANET_AREA_NESTING: { field: 'parentKey', level: 'village', parentLevel: 'village', parentKey: '2025.0268301' },
  LOANET_AREA_CSV: { field: 'body', text: 'line 3: lat "x" is not a valid coordinate', problem: 'coordinate', line: 3, column: 'lat', value: 'x' },
  LOANET_SITE_ID_FORMAT: { field: 'id', id: 'Bát Xát' },
  LOANET_ITEM_NOT_DRAFT: { title: 'Lịch tiêm phòng', status: 'approved' },
  LOANET_ITEM_CANCELLED: { title: 'Lịch tiêm phòng' },
  LOANET_FOUR_EYES: { title: 'Lịch tiêm phòng', username: 'op-batxat' },
  LOANET_SCHEDULE_CONFLICT: { text: '"A" overlaps "B"', reason: 'same_priority', titles: ['Lịch tiêm phòng dại'] },
  LOANET_MEDIA_NOT_READY: { id: 'm-1', status: 'processing' },
  LOANET_MEDIA_OF_ALERT: { id: 'm-1' },
  LOANET_MEDIA_IN_USE: { id: 'm-1', text: 'still scheduled by "A"' },
  LOANET_MEDIA_FILE_MISSING: { id: 'm-1' },
  LOANET_MEDIA_EMPTY: { text: 'the file is empty (0 bytes)' },
  LOANET_MEDIA_TOO_LARGE: { text: 'the file is larger than the limit of 1 MB' },
  LOANET_MEDIA_NOT_AUDIO: { text: 'not an audio file ffmpeg can read' },
  LOANET_MEDIA_DAMAGED: { text: 'the file is damaged' },
  LOANET_MEDIA_SILENT: { text: 'the audio is silent' },
  LOANET_MEDIA_TOO_LONG: { text: 'the audio lasts 3.0 s' },
  LOANET_MEDIA_FORMAT: { text: 'the file is "hls"' },
  LOANET_MEDIA_QUEUE_FULL: { text: 'the media queue is full', field: 'queue' },
  LOANET_MEDIA_FAILED: { text: "the alert's audio: could not be made" },
  LOANET_MEDIA_ABORTED: { text: 'no longer needed' },
  LOANET_DOCX_INVALID: { text: 'not a Word document (.docx)' },
  LOANET_DOCX_TOO_LARGE: { text: 'the document is larger than 20 MB' },
  LOANET_OFFTHREAD_FAILED: { text: 'processing failed inside the server' },
  LOANET_OFFTHREAD_TIMEOUT: { text: 'processing took longer than 30 s' },
  LOANET_OFFTHREAD_MEMORY: { text: 'processing needed more than 256 MB of memory' },
  LOANET_TTS_UNAVAILABLE: { text: 'no text-to-speech engine' },
  LOANET_TTS_NO_TEXT: { source: 'document' },
  LOANET_TTS_NO_VOICE: { text: 'espeak-ng has no voice for hmn' },
  LOANET_TTS_TEXT_TOO_LONG: { field: 'text', length: '60,000', limit: 50_000 },
  LOANET_ALERT_NOT_ACTIVE: { id: 'alr-1', state: 'cancelled' },
  LOANET_ALERT_EXPIRED: { text: 'the alert expired', field: 'alert/info[0]/expires' },
  LOANET_POLYGON_NO_SITE: { field: 'polygon' },
  LOANET_TOKEN_NOT_LIVE: { field: 'accounts[0].tokenId', tokenId: '12', username: 'op-batxat' },
  LOANET_CAP_INVALID: { text: 'not a valid CAP 1.2 alert', field: 'alert' },
  LOANET_CAP_ENCODING: { text: 'x-klingon is not an encoding', field: 'content-type' },
  LOANET_CAP_LINK_ONLY: { text: 'post the CAP document itself', field: 'alert' },
  LOANET_CAP_NO_ALERT: { text: 'no alert', field: 'alert' },
  LOANET_CAP_ENVELOPE_TOO_LARGE: { text: 'too many', field: 'alert' },
  LOANET_CAP_CONFLICT: { key: 'sender,id,sent', field: 'alert/identifier' },
  LOANET_CAP_NO_AREA: { text: 'no <area> of the alert is in this network', field: 'alert/info/area' },
  LOANET_CAP_NOTHING_TO_PLAY: { text: 'nothing to broadcast', field: 'alert/info' },
  LOANET_CAP_NOT_FOR_BROADCAST: { text: 'status Exercise is not for broadcast', field: 'alert/status' },
  LOANET_LIVE_BUSY: { id: '7', priority: 'normal', areaKey: '2025.02683', source: 'microphone' },
  LOANET_STREAM_ENDED: { id: '7' },
  LOANET_RELAY_URL: { text: 'source.url: only http and https', field: 'source.url' },
  LOANET_RELAY_REFUSED: { text: 'refused', field: 'source.url' },
  LOANET_RELAY_UNREACHABLE: { text: 'unreachable', field: 'source.url' },
  LOANET_RELAY_NOT_AUDIO: { text: 'not audio', field: 'source.url' },
  LOANET_TOO_MANY_STREAMS: { text: 'too many event streams', limit: 8, variable: 'LOANET_STREAM_MAX_PER_USER' },
  LOANET_RELEASE_REFUSED: { field: 'signatures', reason: 'unknown_key', text: 'signed only by keys that are not among the trusted ones (0123456789abcdef)' },
  LOANET_RELEASE_EXISTS: { id: 'agent-1-3-0-arm64' },
  LOANET_RELEASE_FILE_TOO_LARGE: { path: 'loanet-agent_1.3.0_arm64.deb', size: 21_417_324 },
  LOANET_RELEASE_FILE_MISMATCH: { path: 'loanet-agent_1.3.0_arm64.deb', size: 21_417_324, sha256: 'a'.repeat(64), gotSize: 21_417_324, gotSha256: 'b'.repeat(64) },
  LOANET_RELEASE_IN_USE: { id: 'agent-1-3-0-arm64', rollouts: ['agent-1-3-0-lao-cai'] },
  LOANET_ROLLOUT_NOT_FOUND: { id: 'ro-mk2x1-0a1b2c3d' },
  LOANET_ROLLOUT_RELEASE_UNUSABLE: { field: 'releaseId', id: 'agent-1-3-0-arm64', why: 'incomplete' },
  LOANET_ROLLOUT_SPEC: { field: 'waves.1.percent', text: 'waves.1.percent: the shares grow wave by wave (5 after 25)' },
  LOANET_ROLLOUT_NO_SITES: { field: 'targets', targeted: 12, excluded: 12 },
  LOANET_ROLLOUT_STATE: { id: 'ro-mk2x1-0a1b2c3d', status: 'aborted', action: 'resume' },
  LOANET_ALARM_NOT_FOUND: { id: 'al-42' },
  LOANET_ALARM_NOT_RAISED: { id: 'al-42' },
  LOANET_ALARM_ALREADY_ACKNOWLEDGED: { id: 'al-42' },
  LOANET_ALARM_ALREADY_CLEARED: { id: 'al-42' },
  LOANET_ALARM_CONDITION_ACTIVE: { id: 'al-42' },
  LOANET_ALARM_NOTE_REQUIRED: { id: 'al-42', field: 'note' },
  LOANET_ALARM_ACTION_PENDING: { id: 'al-42', action: 'clear', waitedS: 30 },
  LOANET_WORK_ORDER_NOT_FOUND: { id: 12 },
  LOANET_WORK_ORDER_STATE: { id: 12, state: 'closed', action: 'plan_visit' },
  LOANET_WORK_ORDER_NOT_VERIFIED: { id: 12 },
  LOANET_WORK_ORDER_ASSIGNEE: { id: 12, userId: 7 },
  LOANET_WORK_ORDER_ALARM_HAS_ORDER: { alarmId: 'al-42' },
  LOANET_WORK_ORDER_NOTE_REQUIRED: { id: 12, field: 'resolution' },
  LOANET_UNAVAILABLE: { reason: 'busy', text: 'password checks busy' },
  LOANET_DISK_LOW: { state: 'low', freeBytes: 1000, text: 'uploads and text to speech are paused' },
  LOANET_DISK_FULL: { state: 'full' },
  LOANET_STORE_GONE: { file: '/var/lib/loanet/loanet.db' },
  LOANET_DATABASE_DISK_FULL: {},
  LOANET_REQUEST_TIMEOUT: { text: 'the request body did not arrive within 30 s' },
  LOANET_TOO_MANY_CONNECTIONS: { text: 'too many connections' },
  LOANET_INTERNAL: {},
};

/** Letters only Vietnamese writes (with their diacritics): a Vietnamese wording has at least one. */
const VIETNAMESE = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;

describe('error catalogue', () => {
  it('words every code in Vietnamese and English from its parameters, and in English on the server', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(90);
    for (const code of ERROR_CODES) {
      const p = SAMPLE[code] as never;
      const vi = (words.vi[code] as (x: never) => string)(p);
      const en = (words.en[code] as (x: never) => string)(p);
      const server = (ERROR_CATALOGUE[code].en as (x: never) => string)(p);
      expect(vi, code).toMatch(VIETNAMESE);
      expect(vi, code).not.toContain('undefined');
      expect(en.length, code).toBeGreaterThan(3);
      expect(en, code).not.toContain('undefined');
      expect(en, code).not.toBe(vi);
      expect(server.length, code).toBeGreaterThan(3);
      expect(ERROR_CATALOGUE[code].status, code).toBeGreaterThanOrEqual(400);
      expect(ERROR_CATALOGUE[code].status, code).toBeLessThan(600);
    }
    // Nothing worded that the catalogue lacks (a removed code leaves no stale words behind).
    expect(Object.keys(words.vi).sort()).toEqual([...ERROR_CODES].sort());
    expect(Object.keys(words.en).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('words the parameters, not the server English: a four-eyes refusal and an item not a draft', () => {
    expect(words.vi.LOANET_FOUR_EYES({ title: 'Lịch tiêm phòng', username: 'op-a' })).toBe(
      'Nguyên tắc hai người: op-a đã tạo hoặc sửa “Lịch tiêm phòng” nên không được tự duyệt; cần một người vận hành khác hoặc quản trị viên duyệt.',
    );
    expect(words.vi.LOANET_ITEM_NOT_DRAFT({ title: 'Bản tin', status: 'approved' })).toContain('đã duyệt');
    expect(words.vi.LOANET_FORBIDDEN({ rule: 'role', role: 'operator', permission: 'alert.write', action: 'x' })).toBe(
      'Vai trò vận hành không được phát, sửa hoặc hủy cảnh báo khẩn cấp.',
    );
  });

  it('words every schedule input problem from its params, the English only as marked technical detail', () => {
    const generic = words.vi.LOANET_BAD_REQUEST({ field: 'start.at', text: 'x' });
    for (const problem of BAD_REQUEST_PROBLEMS) {
      const p = {
        field: 'start.at',
        text: 'start.at: ENGLISH FINDING',
        problem,
        value: '1764200000',
        id: 'm-1',
        status: 'processing',
        at: '2026-11-27T06:00:00+07:00',
        limit: '2026-11-27T05:00:00+07:00',
      };
      const vi = words.vi.LOANET_BAD_REQUEST(p);
      const en = words.en.LOANET_BAD_REQUEST(p);
      expect(vi, problem).toMatch(VIETNAMESE);
      expect(vi, problem).not.toBe(generic);
      expect(en, problem).not.toBe(p.text);
      // The core's English is never the sentence: absent, or after "Chi tiết kỹ thuật:".
      for (const [s, mark] of [
        [vi, 'Chi tiết kỹ thuật: '],
        [en, 'Technical detail: '],
      ] as const)
        if (s.includes('ENGLISH FINDING')) expect(s, problem).toContain(`${mark}${p.text}`);
    }
    expect(words.vi.LOANET_BAD_REQUEST({ field: 'start.at', text: 'x', problem: 'epoch_seconds', value: '1764200000' })).toBe(
      '“Giờ phát”: “1764200000” giống số giây; hãy gửi mili giây hoặc ngày giờ (ví dụ 2026-11-27T06:00).',
    );
  });

  it('words a relay refusal by its reason, a media limit by its numbers, a CAP finding with its text apart', () => {
    for (const reason of RELAY_REFUSAL_REASONS) {
      const vi = words.vi.LOANET_RELAY_UNREACHABLE({ text: 'source.url: ENGLISH', field: 'source.url', reason, detail: 'ECONNREFUSED', withinS: 8 });
      expect(vi, reason).toMatch(VIETNAMESE);
      expect(vi, reason).not.toContain('ENGLISH');
    }
    expect(words.vi.LOANET_RELAY_UNREACHABLE({ text: 'x', reason: 'no_answer', withinS: 8 })).toBe('Nguồn phát lại không trả lời trong 8 giây.');
    expect(words.vi.LOANET_RELAY_UNREACHABLE({ text: 'x', reason: 'connection', detail: 'ECONNREFUSED' })).toBe(
      'Không kết nối được tới nguồn phát lại. Chi tiết kỹ thuật: ECONNREFUSED',
    );
    expect(words.vi.LOANET_MEDIA_TOO_LONG({ text: 'x', seconds: 4530, limitS: 3600 })).toBe('Tệp âm thanh dài 75,5 phút, quá giới hạn 60 phút.');
    expect(words.vi.LOANET_MEDIA_TOO_LARGE({ text: 'x', limitMb: 200 })).toBe('Tệp lớn hơn giới hạn 200 MB.');
    expect(words.en.LOANET_MEDIA_TOO_LONG({ text: 'x', seconds: 4530, limitS: 3600 })).toBe('The audio lasts 75.5 min, longer than the limit of 60 min.');
    expect(words.vi.LOANET_CAP_INVALID({ text: 'not a valid CAP 1.2 alert: missing <sent>', field: 'alert/sent' })).toBe(
      'Đây không phải bản tin CAP 1.2 hợp lệ (lỗi ở phần tử alert/sent). Chi tiết kỹ thuật: missing <sent>',
    );
    expect(words.en.LOANET_AREA_CSV({ text: 'ENGLISH', field: 'body', problem: 'coordinate', line: 3, column: 'lat', value: 'x' })).toBe(
      'Line 3: latitude “x” is not a valid coordinate.',
    );
  });

  it('builds the error from the catalogue: status, English message, params and the field at the top', () => {
    const e = fail('LOANET_ITEM_NOT_DRAFT', { title: 'Bản tin', status: 'approved' });
    expect(e).toBeInstanceOf(LoanetError);
    expect(e.statusCode).toBe(409);
    expect(e.message).toBe('"Bản tin" is approved; only drafts can be edited or approved (cancel it and create a new one)');
    expect(e.params).toEqual({ title: 'Bản tin', status: 'approved' });
    const f = fail('LOANET_FIELD_REQUIRED', { field: 'title' }, { hint: 'x' });
    expect(f.statusCode).toBe(400);
    expect(f.details).toEqual({ field: 'title', hint: 'x' });
    // @ts-expect-error: the parameters are the code's own
    fail('LOANET_ITEM_NOT_DRAFT', { title: 'Bản tin' });
    expect(isErrorCode('LOANET_ITEM_NOT_DRAFT')).toBe(true);
    expect(isErrorCode('LOANET_NO_SUCH_CODE')).toBe(false);
  });

  it('the console words an answer by its code and params in the user language; the server message only for an unknown code', () => {
    const body = { error: 'LOANET_FOUR_EYES', message: 'not allowed: four eyes: …', params: { title: 'Bản tin', username: 'op-a' } };
    expect(words.wordError(body.error, body, body.message, 'vi')).toMatch(/^Nguyên tắc hai người: op-a/);
    expect(words.wordError(body.error, body, body.message, 'en')).toMatch(/^Four eyes: op-a/);
    // A request-validation answer has no params: its top-level field words it, the validator's English only as technical detail.
    expect(words.wordError('LOANET_BAD_REQUEST', { error: 'LOANET_BAD_REQUEST', field: 'title' }, 'body.title: must be string', 'vi')).toBe(
      'Giá trị của “Tiêu đề” không hợp lệ. Chi tiết kỹ thuật: body.title: must be string',
    );
    expect(words.wordError('LOANET_SOMETHING_NEW', {}, 'server words', 'vi')).toBe('server words');
  });
});

/** Where the server names an error code: a throw through the catalogue, a core's coded refusal, or a hand-sent answer. */
const CODE_SITES = [
  /\b(?:fail|LoanetError|MediaRejected|RelayProbeFailed|OffThreadError)\s*(?:<[^>]*>)?\(\s*'(LOANET_[A-Z_]+)'/g,
  /\bfailWithText\([^,]+,\s*'(LOANET_[A-Z_]+)'/g,
  /\bsuper\(\s*'(LOANET_[A-Z_]+)'/g,
  /\b(?:error|code):\s*'(LOANET_[A-Z_]+)'/g,
  /\bunprocessable\(\s*'(LOANET_[A-Z_]+)'/g,
  /\bOffThreadError\([^;]*?'(LOANET_[A-Z_]+)'/g,
  /\breadonly code: ((?:'LOANET_[A-Z_]+'\s*\|?\s*)+)/g,
];

function codesNamedIn(text: string): string[] {
  const found: string[] = [];
  for (const re of CODE_SITES) for (const m of text.matchAll(re)) found.push(...m[1]!.match(/LOANET_[A-Z_]+/g)!);
  return [...new Set(found)];
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return /\.(ts|mjs)$/.test(d.name) ? [p] : [];
  });
}

describe('the server throws only catalogue codes', () => {
  it('finds the codes of every kind of error site (the scan itself)', () => {
    expect(codesNamedIn("throw fail('LOANET_X_ONE', { a: 1 });")).toEqual(['LOANET_X_ONE']);
    expect(codesNamedIn("failWithText(e.code, 'LOANET_X_TWO', e.message)")).toEqual(['LOANET_X_TWO']);
    expect(codesNamedIn("new MediaRejected('LOANET_X_THREE', 422, 'm')")).toEqual(['LOANET_X_THREE']);
    expect(codesNamedIn("reply.send({ error: 'LOANET_X_FOUR', message })")).toEqual(['LOANET_X_FOUR']);
    expect(codesNamedIn("readonly code: 'LOANET_X_FIVE' | 'LOANET_X_SIX',")).toEqual(['LOANET_X_FIVE', 'LOANET_X_SIX']);
  });

  it('names no code outside the catalogue anywhere in server/', () => {
    const root = path.join(import.meta.dirname, '../../server');
    const outside: string[] = [];
    // Distinct codes per file.
    let sites = 0;
    for (const file of sourceFiles(root)) {
      const text = fs.readFileSync(file, 'utf8');
      // A start-up problem is printed on the console, not answered over HTTP: its codes are not the catalogue's.
      const withoutStartup = text.replace(/new StartupError\(\s*'LOANET_[A-Z_]+'/g, '');
      for (const code of codesNamedIn(withoutStartup)) {
        sites++;
        if (!isErrorCode(code)) outside.push(`${path.relative(root, file)}: ${code}`);
      }
    }
    expect(outside).toEqual([]);
    // The scan saw the server's error sites (a broken pattern would pass on nothing).
    expect(sites).toBeGreaterThan(100);
  });
});
