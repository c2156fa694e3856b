/**
 * The catalogue of errors loanet reports to people. Each code is stable (a
 * client may branch on it; a code is never reused for another meaning), has
 * one HTTP status and typed parameters. The server sends the code, the
 * parameters and the English wording below; the console words the same code
 * and parameters in the user's language (web/src/strings/errors.ts), so a
 * person in Vietnamese mode never reads the server's English.
 *
 * `text` parameters carry the English words of a pure core that reports its
 * own findings (a schedule rule, a CAP check, a media analysis): the console
 * words the code and its other parameters (a line, a field, a limit, a
 * problem code), and shows `text` at most as technical detail, marked so.
 */

/** What a not-found, retired or taken error is about. */
export type ErrorThing =
  | 'user'
  | 'api_token'
  | 'area'
  | 'site'
  | 'media'
  | 'command'
  | 'broadcast_item'
  | 'live_stream'
  | 'alert'
  | 'alert_delivery'
  | 'cap_sender'
  | 'route'
  | 'file'
  | 'area_list'
  | 'release'
  | 'notification_rule';

const THING_EN: Record<ErrorThing, string> = {
  user: 'user',
  api_token: 'API token',
  area: 'area',
  site: 'site',
  media: 'media',
  command: 'command',
  broadcast_item: 'broadcast item',
  live_stream: 'live stream',
  alert: 'alert',
  alert_delivery: 'alert delivery',
  cap_sender: 'CAP sender',
  route: 'route',
  notification_rule: 'notification rule',
  file: 'file',
  area_list: 'area list',
  release: 'release',
};

/** Why a request is forbidden, beyond the caller's role (LOANET_FORBIDDEN's `rule`). */
export type ForbiddenParams =
  | { rule: 'role'; role: string; permission: string; action: string }
  | { rule: 'own_area'; username: string }
  | { rule: 'scope'; field: string; text: string }
  | { rule: 'site_credential'; siteId: string }
  | { rule: 'own_media'; username: string }
  | { rule: 'alert_scope'; username: string; action: string; text: string }
  | { rule: 'network_admin'; action: 'import_areas' | 'read_broker_files' }
  | { rule: 'cap_sender'; field: string; sender: string; text: string }
  | { rule: 'cap_area'; field: string; text: string };

/** A code whose only parameters are a core's own English words (and the field at fault). */
type Text = { text: string; field?: string };
/** What is wrong in an imported area list (registry/area-import.ts), at which line and column: the console words each; `text` is the English. */
export type AreaCsvParams = {
  text: string;
  field: string;
  problem: 'header' | 'csv' | 'empty' | 'code' | 'coordinate' | 'level' | 'duplicate' | 'cycle';
  line?: number;
  column?: string;
  value?: string;
};

/**
 * Why a schedule input is refused (LOANET_BAD_REQUEST's `problem`,
 * server/schedule/times.ts and service.ts): the console words each from the
 * params (a value, an id, a time); `text` is then only technical detail.
 */
export const BAD_REQUEST_PROBLEMS = [
  'not_an_instant',
  'epoch_seconds',
  'not_a_date_time',
  'media_unknown',
  'media_not_ready',
  'media_retired',
  'site_unknown',
  'site_retired',
  'before_valid_from',
  'not_before_valid_until',
  'recurrence',
  'version_duplicate',
  'version_language',
] as const;
export type BadRequestProblem = (typeof BAD_REQUEST_PROBLEMS)[number];

/** Why a relay source is refused (api/live.ts RELAY_REFUSAL_REASONS), with what the console words it with. */
type RelayText = Text & {
  reason?: 'destination' | 'redirect' | 'connection' | 'http_status' | 'no_answer' | 'not_audio' | 'no_audio_in_time';
  /** An errno code or an HTTP status line: technical detail. */
  detail?: string;
  /** How long the source had (s). */
  withinS?: number;
};

/** Every code and its parameters. Adding a code here makes the console's wording of it required. */
export interface ErrorParams {
  // ---- generic request problems
  LOANET_BAD_REQUEST: { field: string; text: string; problem?: BadRequestProblem; value?: string; id?: string; status?: string; at?: string; limit?: string };
  LOANET_FIELD_REQUIRED: { field: string };
  LOANET_TARGET_REQUIRED: { field: string };
  LOANET_TEXT_TOO_LONG: { field: string; max: number };
  LOANET_TOO_MANY_TAGS: { field: string; max: number; maxLength: number };
  LOANET_NOT_A_LANGUAGE_TAG: { field: string; value: string; line?: number };
  LOANET_OUT_OF_RANGE: { field: string; min: number; max: number; unit: 'words_per_minute' };
  LOANET_PERIOD_EMPTY: { field: string; from: string; to: string };
  LOANET_PERIOD_TOO_LONG: { field: string; maxDays: number };
  LOANET_UNEXPECTED_FIELD: { field: string; expected: string[] };
  LOANET_INVALID_JSON: { field: string };
  LOANET_ONE_OF: { field: string; fields: string[] };
  LOANET_IN_THE_PAST: { field: string; at?: string };
  LOANET_BODY_TOO_LARGE: { field: string; limit: number };
  LOANET_UNSUPPORTED_MEDIA_TYPE: { expected: string[] };
  LOANET_RANGE_NOT_SATISFIABLE: { size: number };
  // ---- things
  LOANET_NOT_FOUND: { thing: ErrorThing; id: string; of?: string };
  LOANET_REFERENCE_NOT_FOUND: { field: string; thing: ErrorThing; id: string };
  LOANET_REFERENCE_NOT_READY: { field: string; thing: 'media'; id: string; status: string };
  LOANET_REFERS_TO_RETIRED: { field: string; thing: ErrorThing; id: string };
  LOANET_RETIRED: { thing: ErrorThing; id: string };
  LOANET_GONE: { thing: ErrorThing; id: string };
  LOANET_NAME_TAKEN: { thing: ErrorThing; name: string };
  LOANET_CONFLICT: { text: string };
  // ---- authentication and permission
  LOANET_UNAUTHENTICATED: { header?: string };
  LOANET_BAD_CREDENTIALS: Record<string, never>;
  LOANET_BAD_SITE_CREDENTIALS: Record<string, never>;
  LOANET_CSRF: { reason: 'origin' | 'token'; origin?: string };
  LOANET_FORBIDDEN: ForbiddenParams;
  LOANET_RATE_LIMITED: {
    what: 'login' | 'enrolment';
    limit: string;
    max: number;
    windowMinutes: number;
    retryAfterS: number;
    variable?: string;
  };
  LOANET_ENROL_REFUSED: { reason: string };
  // ---- users
  LOANET_USERNAME_FORMAT: { field: string; min: number; max: number };
  LOANET_LAST_ADMIN: { username: string };
  LOANET_SELF_DISABLE: { field: string };
  LOANET_PASSWORD_UNCHANGED: { field: string };
  LOANET_PASSWORD_WRONG: { field: string };
  LOANET_PASSWORD_TOO_SHORT: { field: string; rule: string; limit?: number; text: string };
  LOANET_PASSWORD_TOO_LONG: { field: string; rule: string; limit?: number; text: string };
  LOANET_PASSWORD_COMMON: { field: string; rule: string; limit?: number; text: string };
  LOANET_PASSWORD_HAS_USERNAME: { field: string; rule: string; limit?: number; text: string };
  // ---- areas and sites
  LOANET_AREA_NOT_A_CODE: { field: string; value: string };
  LOANET_AREA_CYCLE: { field: string; key: string; parentKey: string };
  LOANET_AREA_NOT_EMPTY: { key: string; children: number; sites: number };
  LOANET_AREA_LEVEL_MISMATCH: { key: string; stored: string; file: string };
  LOANET_AREA_NEEDS_PARENT: { field: string; level: string };
  LOANET_AREA_VERSION_MISMATCH: { field: string; parentKey: string; parentVersion: string; version: string };
  LOANET_AREA_NESTING: { field: string; level: string; parentLevel: string; parentKey: string };
  LOANET_AREA_CSV: AreaCsvParams;
  LOANET_SITE_ID_FORMAT: { field: string; id: string };
  // ---- schedule
  LOANET_ITEM_NOT_DRAFT: { title: string; status: string };
  LOANET_ITEM_CANCELLED: { title: string };
  LOANET_FOUR_EYES: { title: string; username: string };
  LOANET_SCHEDULE_CONFLICT: { text: string; reason: string; titles: string[] };
  // ---- media and text to speech
  LOANET_MEDIA_NOT_READY: { id: string; status: string };
  LOANET_MEDIA_OF_ALERT: { id: string };
  LOANET_MEDIA_IN_USE: { id: string; text: string };
  LOANET_MEDIA_FILE_MISSING: { id: string };
  LOANET_MEDIA_EMPTY: Text;
  LOANET_MEDIA_TOO_LARGE: Text & { limitMb?: number };
  LOANET_MEDIA_NOT_AUDIO: Text;
  LOANET_MEDIA_DAMAGED: Text;
  LOANET_MEDIA_SILENT: Text & { lufs?: number; peakDb?: number };
  LOANET_MEDIA_TOO_LONG: Text & { seconds?: number; limitS?: number };
  LOANET_MEDIA_FORMAT: Text;
  LOANET_MEDIA_QUEUE_FULL: Text;
  LOANET_MEDIA_FAILED: Text;
  LOANET_MEDIA_ABORTED: Text;
  LOANET_DOCX_INVALID: Text;
  LOANET_DOCX_TOO_LARGE: Text & { limitMb?: number };
  LOANET_OFFTHREAD_FAILED: Text;
  LOANET_OFFTHREAD_TIMEOUT: Text & { limitS?: number };
  LOANET_OFFTHREAD_MEMORY: Text & { limitMb?: number };
  LOANET_TTS_UNAVAILABLE: Text;
  LOANET_TTS_NO_TEXT: { source: 'text' | 'document'; field?: string };
  LOANET_TTS_NO_VOICE: Text;
  LOANET_TTS_TEXT_TOO_LONG: { field: string; length: string; limit: number };
  // ---- alerts and CAP
  LOANET_ALERT_NOT_ACTIVE: { id: string; state: string };
  LOANET_ALERT_EXPIRED: Text;
  LOANET_POLYGON_NO_SITE: { field: string };
  LOANET_TOKEN_NOT_LIVE: { field: string; tokenId: string; username: string };
  LOANET_CAP_INVALID: Text;
  LOANET_CAP_ENCODING: Text;
  LOANET_CAP_LINK_ONLY: Text;
  LOANET_CAP_NO_ALERT: Text;
  LOANET_CAP_ENVELOPE_TOO_LARGE: Text;
  LOANET_CAP_CONFLICT: { key: string; field: string };
  LOANET_CAP_NO_AREA: Text;
  LOANET_CAP_NOTHING_TO_PLAY: Text;
  LOANET_CAP_NOT_FOR_BROADCAST: Text;
  // ---- live
  LOANET_LIVE_BUSY: { id: string; priority: string; areaKey: string; source: string };
  LOANET_STREAM_ENDED: { id: string };
  LOANET_RELAY_URL: Text;
  LOANET_RELAY_REFUSED: RelayText;
  LOANET_RELAY_UNREACHABLE: RelayText;
  LOANET_RELAY_NOT_AUDIO: RelayText;
  LOANET_TOO_MANY_STREAMS: { text: string; limit: number; variable: string };
  // ---- releases
  LOANET_RELEASE_REFUSED: { field: string; reason: 'malformed' | 'unsigned' | 'unknown_key' | 'bad_signature'; text: string };
  LOANET_RELEASE_EXISTS: { id: string };
  LOANET_RELEASE_FILE_TOO_LARGE: { path: string; size: number };
  LOANET_RELEASE_FILE_MISMATCH: { path: string; size: number; sha256: string; gotSize: number; gotSha256: string };
  LOANET_RELEASE_IN_USE: { id: string; rollouts: string[] };
  // ---- rollouts
  LOANET_ROLLOUT_NOT_FOUND: { id: string };
  LOANET_ROLLOUT_RELEASE_UNUSABLE: { field: string; id: string; why: 'unknown' | 'incomplete' | 'retired' };
  LOANET_ROLLOUT_SPEC: { field: string; text: string };
  LOANET_ROLLOUT_NO_SITES: { field: string; targeted: number; excluded: number };
  LOANET_ROLLOUT_STATE: { id: string; status: string; action: 'pause' | 'resume' | 'abort' };
  // ---- technicians' alarms (server/alarms/: the engine's refusals of a person's action)
  LOANET_ALARM_NOT_FOUND: { id: string };
  LOANET_ALARM_NOT_RAISED: { id: string };
  LOANET_ALARM_ALREADY_ACKNOWLEDGED: { id: string };
  LOANET_ALARM_ALREADY_CLEARED: { id: string };
  LOANET_ALARM_CONDITION_ACTIVE: { id: string };
  LOANET_ALARM_NOTE_REQUIRED: { id: string; field: string };
  LOANET_ALARM_ACTION_PENDING: { id: string; action: 'acknowledge' | 'clear'; waitedS: number };
  // ---- the maintenance log (server/maintenance/: work orders)
  LOANET_WORK_ORDER_NOT_FOUND: { id: number | string };
  LOANET_WORK_ORDER_STATE: { id: number; state: string; action: string };
  LOANET_WORK_ORDER_NOT_VERIFIED: { id: number };
  LOANET_WORK_ORDER_ASSIGNEE: { id: number; userId: number };
  LOANET_WORK_ORDER_ALARM_HAS_ORDER: { alarmId: string };
  LOANET_WORK_ORDER_NOTE_REQUIRED: { id: number; field: string };
  // ---- the server itself
  LOANET_UNAVAILABLE: { reason: 'busy' | 'tool_missing' | 'hooks_off' | 'check_failed' | 'stream_owner' | 'store'; text: string };
  LOANET_DISK_LOW: { state: string; freeBytes: number; text: string };
  LOANET_DISK_FULL: { state?: string };
  LOANET_STORE_GONE: { file: string };
  LOANET_DATABASE_DISK_FULL: Record<string, never>;
  LOANET_REQUEST_TIMEOUT: Text;
  LOANET_TOO_MANY_CONNECTIONS: Text;
  LOANET_INTERNAL: Record<string, never>;
}

export type ErrorCode = keyof ErrorParams;

export interface ErrorSpec<P> {
  status: number;
  /** The English wording (the `message` of the answer). */
  en: (p: P) => string;
}

const text = (p: { text: string }) => p.text;
const thing = (t: ErrorThing) => THING_EN[t];
const forbidden = (p: ForbiddenParams): string => {
  switch (p.rule) {
    case 'role':
      return `not allowed: role ${p.role} may not ${p.action}`;
    case 'own_area':
      return `not allowed: ${p.username} may act only inside their own area`;
    case 'scope':
      return `not allowed: ${p.field}: ${p.text}`;
    case 'site_credential':
      return `not allowed: site ${p.siteId} may only download media audio (GET /api/media/{id}/audio), read its own delivery of an alert (GET /api/alerts/{id}/sites/{siteId}) and fetch releases (GET /api/releases/{id}/manifest, …/signatures, …/files/{path})`;
    case 'own_media':
      return `not allowed: ${p.username} may change only media they created`;
    case 'alert_scope':
      return `not allowed: ${p.username} may ${p.action} only alerts inside their own area: ${p.text}`;
    case 'network_admin':
      return p.action === 'import_areas'
        ? 'not allowed: version: an admin scoped to an area cannot import an area list (it changes areas anywhere); ask a network-wide admin'
        : "not allowed: only an admin of the whole network may read the broker files (they hold every site's password hash)";
    case 'cap_sender':
    case 'cap_area':
      return `not allowed: ${p.field}: ${p.text}`;
  }
};

export const ERROR_CATALOGUE: { readonly [C in ErrorCode]: ErrorSpec<ErrorParams[C]> } = {
  LOANET_BAD_REQUEST: { status: 400, en: text },
  LOANET_FIELD_REQUIRED: { status: 400, en: (p) => `${p.field}: required` },
  LOANET_TARGET_REQUIRED: { status: 400, en: (p) => `${p.field}: name at least one area (or draw the area on the map)` },
  LOANET_TEXT_TOO_LONG: { status: 400, en: (p) => `${p.field}: at most ${p.max} characters` },
  LOANET_TOO_MANY_TAGS: { status: 400, en: (p) => `${p.field}: at most ${p.max} tags of at most ${p.maxLength} characters` },
  LOANET_NOT_A_LANGUAGE_TAG: {
    status: 400,
    en: (p) => `${p.line !== undefined ? `line ${p.line}: ` : ''}${p.field}: "${p.value}" is not a BCP 47 language tag (e.g. vi, hmn, ium, tyz)`,
  },
  LOANET_OUT_OF_RANGE: { status: 400, en: (p) => `${p.field}: words per minute from ${p.min} to ${p.max}` },
  LOANET_PERIOD_EMPTY: { status: 400, en: (p) => `${p.field}: ${p.to} is not after from ${p.from}` },
  LOANET_PERIOD_TOO_LONG: { status: 400, en: (p) => `${p.field}: a period of at most ${p.maxDays} days` },
  LOANET_UNEXPECTED_FIELD: { status: 400, en: (p) => `unexpected field "${p.field}": send ${p.expected.map((f) => `"${f}"`).join(' and ')}` },
  LOANET_INVALID_JSON: { status: 400, en: (p) => `${p.field}: not valid JSON` },
  LOANET_ONE_OF: { status: 400, en: (p) => `${p.fields.join(' and ')}: give one of them` },
  LOANET_IN_THE_PAST: { status: 400, en: (p) => (p.at ? `${p.field}: ${p.at} has already passed; edit the draft first` : `${p.field}: lies in the past`) },
  LOANET_BODY_TOO_LARGE: { status: 413, en: (p) => `body: larger than the ${p.limit} bytes this request accepts` },
  LOANET_UNSUPPORTED_MEDIA_TYPE: { status: 415, en: (p) => `send the request as ${p.expected.join(', ')}` },
  LOANET_RANGE_NOT_SATISFIABLE: { status: 416, en: (p) => `the range is outside the file (${p.size} bytes)` },

  LOANET_NOT_FOUND: {
    status: 404,
    en: (p) => (p.thing === 'area_list' ? 'no area found: import an area list first (POST /api/areas/import)' : `${thing(p.thing)} ${p.id}${p.of ? ` of ${p.of}` : ''} not found`),
  },
  LOANET_REFERENCE_NOT_FOUND: { status: 400, en: (p) => `${p.field}: ${thing(p.thing)} ${p.id} not found` },
  LOANET_REFERENCE_NOT_READY: { status: 400, en: (p) => `${p.field}: ${thing(p.thing)} ${p.id} is ${p.status}, not ready` },
  LOANET_REFERS_TO_RETIRED: { status: 400, en: (p) => `${p.field}: ${thing(p.thing)} ${p.id} is retired` },
  LOANET_RETIRED: { status: 409, en: (p) => `${thing(p.thing)} ${p.id} is retired` },
  LOANET_GONE: { status: 410, en: (p) => `${thing(p.thing)} ${p.id} was retired` },
  LOANET_NAME_TAKEN: { status: 409, en: (p) => `${thing(p.thing)} ${p.name} already exists` },
  LOANET_CONFLICT: { status: 409, en: text },

  LOANET_UNAUTHENTICATED: {
    status: 401,
    en: (p) => (p.header ? `wrong or missing ${p.header} header` : 'authentication required: send Authorization: Bearer <token> (POST /api/auth/login gives one)'),
  },
  LOANET_BAD_CREDENTIALS: { status: 401, en: () => 'wrong username or password' },
  LOANET_BAD_SITE_CREDENTIALS: {
    status: 401,
    en: () => "site credential refused: send Authorization: Basic base64(siteId:secret) with the site's current secret (a rotated or retired one no longer works)",
  },
  LOANET_CSRF: {
    status: 403,
    en: (p) =>
      `refused: ${p.reason === 'origin' ? `Origin ${p.origin ?? ''} is not this server` : 'missing or wrong CSRF token'}; a request authenticated by the session cookie must send the X-CSRF-Token header the login answered, from the console's own origin`,
  },
  LOANET_FORBIDDEN: { status: 403, en: forbidden },
  LOANET_RATE_LIMITED: {
    status: 429,
    en: (p) => {
      if (p.what === 'enrolment') {
        return `too many refused enrolment codes ${p.limit === 'address' ? 'from this address' : 'from all addresses together'}: ${p.max} in ${p.windowMinutes} minutes; try again in ${p.retryAfterS} seconds`;
      }
      const who = p.limit === 'user' ? 'for this user from all addresses' : p.limit === 'address' ? 'from this address' : 'for this user from this address';
      const rule =
        p.limit === 'user'
          ? `more than ${p.max} failed attempts ${who} in ${p.windowMinutes} minutes, so each further attempt waits twice as long`
          : `${p.max} failed attempts ${who} in ${p.windowMinutes} minutes`;
      const when = p.retryAfterS < 120 ? `${p.retryAfterS} seconds` : `${Math.ceil(p.retryAfterS / 60)} minutes`;
      return `too many failed logins or password changes: ${rule}; try again in ${when}, or ask an admin to unlock the account`;
    },
  },
  LOANET_ENROL_REFUSED: { status: 403, en: (p) => `enrolment refused: ${p.reason}` },

  LOANET_USERNAME_FORMAT: { status: 400, en: (p) => `${p.field} must be ${p.min}-${p.max} characters of a-z, 0-9, . _ -` },
  LOANET_LAST_ADMIN: { status: 409, en: (p) => `${p.username} is the last enabled admin over the whole network: make another admin first` },
  LOANET_SELF_DISABLE: { status: 400, en: (p) => `${p.field}: you cannot disable your own account` },
  LOANET_PASSWORD_UNCHANGED: { status: 400, en: (p) => `${p.field} must differ from currentPassword` },
  LOANET_PASSWORD_WRONG: { status: 400, en: (p) => `${p.field}: the current password is wrong` },
  LOANET_PASSWORD_TOO_SHORT: { status: 400, en: (p) => `${p.field} ${p.text}` },
  LOANET_PASSWORD_TOO_LONG: { status: 400, en: (p) => `${p.field} ${p.text}` },
  LOANET_PASSWORD_COMMON: { status: 400, en: (p) => `${p.field} ${p.text}` },
  LOANET_PASSWORD_HAS_USERNAME: { status: 400, en: (p) => `${p.field} ${p.text}` },

  LOANET_AREA_NOT_A_CODE: { status: 400, en: (p) => `area "${p.value}" is not an area code (e.g. 02647) or key (e.g. 2025.02647)` },
  LOANET_AREA_CYCLE: { status: 400, en: (p) => `area ${p.parentKey} is inside ${p.key}; an area cannot move under itself` },
  LOANET_AREA_NOT_EMPTY: { status: 409, en: (p) => `area ${p.key} still has ${p.children} active child areas and ${p.sites} active sites; retire or move them first` },
  LOANET_AREA_LEVEL_MISMATCH: { status: 409, en: (p) => `area ${p.key} is a ${p.stored} in the store but a ${p.file} in the file` },
  LOANET_AREA_NEEDS_PARENT: { status: 400, en: (p) => `a ${p.level} needs a parent area` },
  LOANET_AREA_VERSION_MISMATCH: { status: 400, en: (p) => `parent area ${p.parentKey} is of structure version ${p.parentVersion}, not ${p.version}` },
  LOANET_AREA_NESTING: { status: 400, en: (p) => `a ${p.level} cannot be inside a ${p.parentLevel} (${p.parentKey})` },
  LOANET_AREA_CSV: { status: 400, en: text },
  LOANET_SITE_ID_FORMAT: { status: 400, en: (p) => `site id "${p.id}" must be 1-64 characters of a-z, 0-9 and -` },

  LOANET_ITEM_NOT_DRAFT: { status: 409, en: (p) => `"${p.title}" is ${p.status}; only drafts can be edited or approved (cancel it and create a new one)` },
  LOANET_ITEM_CANCELLED: { status: 409, en: (p) => `"${p.title}" is already cancelled` },
  LOANET_FOUR_EYES: {
    status: 403,
    en: (p) => `not allowed: four eyes: ${p.username} created or last edited "${p.title}" and may not approve it; another operator or an admin must`,
  },
  LOANET_SCHEDULE_CONFLICT: { status: 409, en: text },

  LOANET_MEDIA_NOT_READY: { status: 409, en: (p) => `media ${p.id} is ${p.status}, it has no audio${p.status === 'processing' ? ' yet' : ''}` },
  LOANET_MEDIA_OF_ALERT: { status: 409, en: (p) => `media ${p.id} is the audio of an alert: it stays with the alert's record and cannot be changed or retired` },
  LOANET_MEDIA_IN_USE: { status: 409, en: (p) => `media ${p.id} cannot be retired: ${p.text}` },
  LOANET_MEDIA_FILE_MISSING: { status: 500, en: (p) => `the audio file of media ${p.id} is missing from the data folder` },
  LOANET_MEDIA_EMPTY: { status: 422, en: text },
  LOANET_MEDIA_TOO_LARGE: { status: 413, en: text },
  LOANET_MEDIA_NOT_AUDIO: { status: 422, en: text },
  LOANET_MEDIA_DAMAGED: { status: 422, en: text },
  LOANET_MEDIA_SILENT: { status: 422, en: text },
  LOANET_MEDIA_TOO_LONG: { status: 422, en: text },
  LOANET_MEDIA_FORMAT: { status: 415, en: text },
  LOANET_MEDIA_QUEUE_FULL: { status: 503, en: text },
  LOANET_MEDIA_FAILED: { status: 422, en: text },
  LOANET_MEDIA_ABORTED: { status: 503, en: text },
  LOANET_DOCX_INVALID: { status: 422, en: text },
  LOANET_DOCX_TOO_LARGE: { status: 413, en: text },
  LOANET_OFFTHREAD_FAILED: { status: 500, en: text },
  LOANET_OFFTHREAD_TIMEOUT: { status: 422, en: text },
  LOANET_OFFTHREAD_MEMORY: { status: 422, en: text },
  LOANET_TTS_UNAVAILABLE: { status: 503, en: text },
  LOANET_TTS_NO_TEXT: { status: 422, en: (p) => (p.source === 'document' ? 'the document has no text' : `${p.field ? `${p.field}: ` : ''}there is no text to speak`) },
  LOANET_TTS_NO_VOICE: { status: 422, en: text },
  LOANET_TTS_TEXT_TOO_LONG: {
    status: 413,
    en: (p) => `${p.field}: the text has ${p.length} characters; at most ${p.limit.toLocaleString('en')} characters can be spoken as one item (split it)`,
  },

  LOANET_ALERT_NOT_ACTIVE: { status: 409, en: (p) => `alert ${p.id} is ${p.state}: start a new alert instead` },
  LOANET_ALERT_EXPIRED: { status: 422, en: text },
  LOANET_POLYGON_NO_SITE: { status: 400, en: (p) => `${p.field}: no registered site lies inside the drawn area` },
  LOANET_TOKEN_NOT_LIVE: { status: 400, en: (p) => `${p.field}: ${p.tokenId} is not a live API token of ${p.username} (they see theirs in GET /api/auth/tokens)` },
  LOANET_CAP_INVALID: { status: 400, en: text },
  LOANET_CAP_ENCODING: { status: 415, en: text },
  LOANET_CAP_LINK_ONLY: { status: 422, en: text },
  LOANET_CAP_NO_ALERT: { status: 422, en: text },
  LOANET_CAP_ENVELOPE_TOO_LARGE: { status: 413, en: text },
  LOANET_CAP_CONFLICT: { status: 409, en: (p) => `${p.key} was already received with different content; a change must be a new message with msgType Update` },
  LOANET_CAP_NO_AREA: { status: 422, en: text },
  LOANET_CAP_NOTHING_TO_PLAY: { status: 422, en: text },
  LOANET_CAP_NOT_FOR_BROADCAST: { status: 422, en: text },

  LOANET_LIVE_BUSY: {
    status: 409,
    en: (p) => `stream ${p.id} of the same priority (${p.priority}) is on air in area ${p.areaKey} (${p.source}); stop it or use a higher priority`,
  },
  LOANET_STREAM_ENDED: { status: 409, en: (p) => `stream ${p.id} has already ended` },
  LOANET_RELAY_URL: { status: 400, en: text },
  LOANET_RELAY_REFUSED: { status: 422, en: text },
  LOANET_RELAY_UNREACHABLE: { status: 422, en: text },
  LOANET_RELAY_NOT_AUDIO: { status: 422, en: text },
  LOANET_TOO_MANY_STREAMS: { status: 429, en: text },

  LOANET_RELEASE_REFUSED: { status: 422, en: (p) => `release refused (${p.reason}): ${p.text}` },
  LOANET_RELEASE_EXISTS: { status: 409, en: (p) => `release ${p.id} is already stored (the same manifest, or the same component, version and target)` },
  LOANET_RELEASE_FILE_TOO_LARGE: { status: 413, en: (p) => `${p.path}: larger than the ${p.size} bytes the signed manifest gives it; nothing was kept` },
  LOANET_RELEASE_FILE_MISMATCH: {
    status: 422,
    en: (p) => `${p.path}: ${p.gotSize} bytes with SHA-256 ${p.gotSha256}; the signed manifest says ${p.size} bytes, ${p.sha256}. Nothing was kept`,
  },
  LOANET_RELEASE_IN_USE: { status: 409, en: (p) => `release ${p.id} cannot be retired: rollout ${p.rollouts.join(', ')} (running or paused) sends it; abort it first` },

  LOANET_ROLLOUT_NOT_FOUND: { status: 404, en: (p) => `rollout ${p.id} not found` },
  LOANET_ROLLOUT_RELEASE_UNUSABLE: {
    status: 422,
    en: (p) =>
      p.why === 'unknown'
        ? `${p.field}: release ${p.id} is not stored on this server`
        : p.why === 'incomplete'
          ? `${p.field}: release ${p.id} is missing files; upload every file of its manifest first`
          : `${p.field}: release ${p.id} is retired`,
  },
  LOANET_ROLLOUT_SPEC: { status: 400, en: (p) => `rollout: ${p.text}` },
  LOANET_ROLLOUT_NO_SITES: { status: 422, en: (p) => `no site to update: ${p.targeted} targeted, ${p.excluded} left out (the dry run says why)` },
  LOANET_ROLLOUT_STATE: { status: 409, en: (p) => `rollout ${p.id} is ${p.status}: it cannot ${p.action}` },

  LOANET_ALARM_NOT_FOUND: { status: 404, en: (p) => `alarm ${p.id} not found among the open alarms (cleared ones cannot be changed)` },
  LOANET_ALARM_NOT_RAISED: { status: 409, en: (p) => `alarm ${p.id} is not raised yet (its fault is still being watched): nothing to acknowledge or clear` },
  LOANET_ALARM_ALREADY_ACKNOWLEDGED: { status: 409, en: (p) => `alarm ${p.id} is already acknowledged` },
  LOANET_ALARM_ALREADY_CLEARED: { status: 409, en: (p) => `alarm ${p.id} is already cleared` },
  LOANET_ALARM_CONDITION_ACTIVE: {
    status: 409,
    en: (p) => `alarm ${p.id} cannot be cleared by hand: the server still sees its fault; acknowledge it instead, it clears itself once the fault is gone`,
  },
  LOANET_ALARM_NOTE_REQUIRED: { status: 400, en: (p) => `${p.field}: say what was done to clear alarm ${p.id}` },
  LOANET_ALARM_ACTION_PENDING: {
    status: 503,
    en: (p) =>
      `alarm ${p.id}: no server has run the alarms for ${p.waitedS} s (one is taking over); your ${p.action} is kept and carried out when one does. Reload the alarm in a minute rather than asking again`,
  },

  LOANET_WORK_ORDER_NOT_FOUND: { status: 404, en: (p) => `work order (or alarm) ${p.id} not found` },
  LOANET_WORK_ORDER_STATE: { status: 409, en: (p) => `work order ${p.id} is ${p.state}: it cannot ${p.action.replace('_', ' ')}` },
  LOANET_WORK_ORDER_NOT_VERIFIED: {
    status: 409,
    en: (p) => `work order ${p.id} closes itself once a sound check is heard after its resolution with the site operational; request a sound check`,
  },
  LOANET_WORK_ORDER_ASSIGNEE: { status: 422, en: (p) => `user ${p.userId} cannot take work order ${p.id}: not a technician, operator or admin whose area covers the site` },
  LOANET_WORK_ORDER_ALARM_HAS_ORDER: { status: 409, en: (p) => `alarm ${p.alarmId} already has an open work order` },
  LOANET_WORK_ORDER_NOTE_REQUIRED: { status: 400, en: (p) => `${p.field}: say what was done (work order ${p.id})` },

  LOANET_UNAVAILABLE: { status: 503, en: text },
  LOANET_DISK_LOW: { status: 507, en: text },
  LOANET_DISK_FULL: {
    status: 507,
    en: () =>
      'not saved: the disk of the data folder (LOANET_DATA_DIR) is full; nothing stored before was lost. Free space on that disk (retire old media in the library, move backups and logs elsewhere) and try again',
  },
  LOANET_STORE_GONE: {
    status: 503,
    en: (p) =>
      `not saved: the database file ${p.file} was deleted or replaced while the server runs, so nothing more can be stored; an admin must stop loanet and restore the data folder`,
  },
  LOANET_DATABASE_DISK_FULL: {
    status: 507,
    en: () =>
      "not saved: the database server's disk is full (PostgreSQL: no space left on device); nothing stored before was lost. Free space on the database server's disk (its data and WAL folders) and try again; the server's own data folder is not the one that is full",
  },
  LOANET_REQUEST_TIMEOUT: { status: 408, en: text },
  LOANET_TOO_MANY_CONNECTIONS: { status: 429, en: text },
  LOANET_INTERNAL: { status: 500, en: () => 'internal error' },
};

/** The codes, for a runtime check (the error handler logs a code outside them). */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

/** The codes whose parameters are a core's own words: what a core's error (media, CAP, relay) may carry through. */
export type TextErrorCode = { [C in ErrorCode]: ErrorParams[C] extends Text ? (Text extends ErrorParams[C] ? C : never) : never }[ErrorCode];
