/**
 * Every error code of the catalogue (api/error-catalogue.ts) worded in
 * English from its parameters. A code added to the catalogue fails the
 * typecheck here until it is worded. Long because the catalogue is (over 100
 * codes): one table, one language; Vietnamese is errors-vi.ts, the lookup
 * errors.ts.
 */
import type { AreaCsvParams, ErrorParams, ErrorThing, ForbiddenParams } from '../../../api/index.ts';
import type { ErrorWords } from './errors.ts';

const THING_EN: Record<ErrorThing, string> = {
  user: 'user',
  api_token: 'API token',
  area: 'area',
  site: 'site',
  media: 'media item',
  command: 'command',
  broadcast_item: 'bulletin',
  live_stream: 'live stream',
  alert: 'alert',
  alert_delivery: "site's delivery of the alert",
  cap_sender: 'CAP sender',
  route: 'address',
  file: 'file',
  area_list: 'area list',
  release: 'software release',
  notification_rule: 'notification rule',
};

/** The request fields a person fills in, by their label on the page; others keep their name. */
const FIELD_EN: Record<string, string> = {
  title: 'Title',
  file: 'File',
  areas: 'Areas',
  areaKey: 'Area',
  parentKey: 'Parent area',
  polygon: 'Area drawn on the map',
  validUntil: 'Valid until',
  validForMinutes: 'Validity',
  rate: 'Speaking rate',
  tags: 'Tags',
  lang: 'Language',
  'message.lang': 'Language',
  'message.text': 'Text to speak',
  'message.mediaId': 'Audio file',
  text: 'Text to speak',
  username: 'Username',
  password: 'Password',
  newPassword: 'New password',
  currentPassword: 'Current password',
  disabled: 'Disable account',
  'start.at': 'Start time',
  from: 'From',
  to: 'To',
  site: 'Site',
  id: 'Site id',
  'source.url': 'Relay source address',
  'source.mediaId': 'Audio file',
  'source.fallbackMediaId': 'Fallback audio',
  alert: 'Alert',
  body: 'Request body',
  params: 'Command parameters',
};

const fieldEn = (f: string | undefined) => (f ? `“${FIELD_EN[f] ?? f}”` : 'the request');
const nEn = (n: number) => n.toLocaleString('en');
const waitEn = (s: number) => (s < 120 ? `${nEn(s)} seconds` : `${nEn(Math.ceil(s / 60))} minutes`);
/** A core's own English finding, shown after the worded sentence and marked as technical detail (never as the sentence itself). */
const techEn = (t: string | undefined) => (t ? ` Technical detail: ${t}` : '');
/** A duration: seconds below two minutes, else minutes (one decimal at most). */
const durEn = (s: number) => (s < 120 ? `${s.toLocaleString('en', { maximumFractionDigits: 1 })} s` : `${(s / 60).toLocaleString('en', { maximumFractionDigits: 1 })} min`);

/** A refused schedule input by its problem code (api/error-catalogue.ts BAD_REQUEST_PROBLEMS), else the field at fault. */
function badRequestEn(p: ErrorParams['LOANET_BAD_REQUEST']): string {
  const f = fieldEn(p.field);
  switch (p.problem) {
    case 'not_an_instant':
    case 'not_a_date_time':
      return `${f}: “${p.value ?? ''}” is not a valid date and time (e.g. 2026-11-27T06:00).`;
    case 'epoch_seconds':
      return `${f}: “${p.value ?? ''}” looks like seconds; send milliseconds or a date and time (e.g. 2026-11-27T06:00).`;
    case 'media_unknown':
      return `There is no audio file ${p.id ?? ''} in the library.`;
    case 'media_not_ready':
      return `Audio file ${p.id ?? ''} cannot be used yet (${p.status ?? ''}).`;
    case 'media_retired':
      return `Audio file ${p.id ?? ''} is retired.`;
    case 'site_unknown':
      return `Site ${p.id ?? ''} is not registered.`;
    case 'site_retired':
      return `Site ${p.id ?? ''} is retired.`;
    case 'before_valid_from':
      return `The start ${p.at ?? ''} is before the validity starts (${p.limit ?? ''}).`;
    case 'not_before_valid_until':
      return `The start ${p.at ?? ''} is not before the validity ends (${p.limit ?? ''}).`;
    case 'recurrence':
      return `The repetition (${f}) is not valid.${techEn(p.text)}`;
    case 'version_duplicate':
      return `There is already a version in “${p.value ?? ''}” (the default or another version): one per language.`;
    case 'version_language':
      return `Audio file ${p.id ?? ''} is in “${p.value ?? ''}”, not in this version's language.`;
    default:
      return `The value of ${f} is not valid.${techEn(p.text)}`;
  }
}

/** Why a relay source is refused, by its reason code; the errno or HTTP status as technical detail. */
function relayEn(p: ErrorParams['LOANET_RELAY_REFUSED'], fallback: string): string {
  const within = p.withinS !== undefined ? ` within ${nEn(p.withinS)} s` : '';
  switch (p.reason) {
    case 'destination':
      return `The relay source address may not be relayed (public addresses only, or those an admin allowed).${techEn(p.detail)}`;
    case 'redirect':
      return `The relay source redirected to an address that may not be relayed.${techEn(p.detail)}`;
    case 'connection':
      return `The relay source could not be reached.${techEn(p.detail)}`;
    case 'http_status':
      return `The relay source refused the request.${techEn(p.detail)}`;
    case 'no_answer':
      return `The relay source did not answer${within}.`;
    case 'not_audio':
      return `The relay source answered, but not with audio that can be played.${techEn(p.detail)}`;
    case 'no_audio_in_time':
      return `The relay source answered but sent no playable audio${within}.`;
    default:
      return fallback;
  }
}

/** What is wrong in an imported area list, at its line, in English: the list's own values quoted. */
function areaCsvEn(p: AreaCsvParams): string {
  const at = p.line !== undefined ? `Line ${nEn(p.line)}: ` : '';
  const col = p.column ? `column ${p.column}` : 'a column';
  switch (p.problem) {
    case 'header':
      return 'The CSV header is not a known layout: use the General Statistics Office list (province_code, [district_code,] commune_code, …) or code,name,level,parent_code.';
    case 'csv':
      return `${at}the CSV is malformed (an unclosed quote, or a wrong number of columns).`;
    case 'empty':
      return `${at}${col} is empty.`;
    case 'code':
      return `${at}${col} “${p.value ?? ''}” is not a valid area code (letters, digits and hyphens only).`;
    case 'coordinate':
      return `${at}${p.column === 'lat' ? 'latitude' : 'longitude'} “${p.value ?? ''}” is not a valid coordinate.`;
    case 'level':
      return `${at}level “${p.value ?? ''}” must be province, district, commune or village.`;
    case 'duplicate':
      return `${at}code ${p.value ?? ''} appears twice with different content.`;
    case 'cycle':
      return `Area ${p.value ?? ''} lies inside itself (a cycle of parents).`;
  }
}

function forbiddenEn(p: ForbiddenParams): string {
  switch (p.rule) {
    case 'role':
      return `The ${p.role} role may not ${p.action}.`;
    case 'own_area':
    case 'scope':
      return 'You may act only inside your own area; this reaches outside it.';
    case 'site_credential':
      return `Site ${p.siteId} may only download audio and software releases, and read its own delivery of an alert.`;
    case 'own_media':
      return 'You may change or retire only media you uploaded.';
    case 'alert_scope':
      return `You may ${p.action} only alerts inside your own area; this one reaches outside it.`;
    case 'network_admin':
      return p.action === 'import_areas' ? 'Only an admin of the whole network may import an area list.' : "Only an admin of the whole network may read the broker's files.";
    case 'cap_sender':
      return `This account may not post CAP alerts as sender ${p.sender}.`;
    case 'cap_area':
      return "This CAP alert reaches outside the sender's or your area.";
  }
}

export const en: ErrorWords = {
  LOANET_BAD_REQUEST: badRequestEn,
  LOANET_FIELD_REQUIRED: (p) => `${fieldEn(p.field)} is required.`,
  LOANET_TARGET_REQUIRED: () => 'Choose at least one area (or draw one on the map).',
  LOANET_TEXT_TOO_LONG: (p) => `${fieldEn(p.field)} takes at most ${nEn(p.max)} characters.`,
  LOANET_TOO_MANY_TAGS: (p) => `At most ${nEn(p.max)} tags of at most ${nEn(p.maxLength)} characters.`,
  LOANET_NOT_A_LANGUAGE_TAG: (p) => `“${p.value}” is not a language code (e.g. vi, hmn, tyz).`,
  LOANET_OUT_OF_RANGE: (p) => `${fieldEn(p.field)} must be ${nEn(p.min)} to ${nEn(p.max)} words per minute.`,
  LOANET_PERIOD_EMPTY: () => 'The end must be after the start.',
  LOANET_PERIOD_TOO_LONG: (p) => `A period of at most ${nEn(p.maxDays)} days.`,
  LOANET_UNEXPECTED_FIELD: (p) => `The field “${p.field}” is not accepted here.`,
  LOANET_INVALID_JSON: (p) => `${fieldEn(p.field)} is not valid JSON.`,
  LOANET_ONE_OF: (p) => `Give only one of: ${p.fields.map((f) => fieldEn(f)).join(', ')}.`,
  LOANET_IN_THE_PAST: (p) => (p.field === 'start.at' ? 'The start time has passed; edit the draft before approving it.' : `${fieldEn(p.field)} lies in the past.`),
  LOANET_BODY_TOO_LARGE: (p) => `The request is too large (at most ${nEn(p.limit)} bytes).`,
  LOANET_UNSUPPORTED_MEDIA_TYPE: (p) => `The server does not take this kind of request: send ${p.expected.join(', ')}.`,
  LOANET_RANGE_NOT_SATISFIABLE: () => 'The range asked for lies outside the file.',

  LOANET_NOT_FOUND: (p) => (p.thing === 'area_list' ? 'No areas yet: import an area list first.' : `${THING_EN[p.thing]} ${p.id} not found.`.replace(/^./, (c) => c.toUpperCase())),
  LOANET_REFERENCE_NOT_FOUND: (p) => `${fieldEn(p.field)}: ${THING_EN[p.thing]} ${p.id} not found.`,
  LOANET_REFERENCE_NOT_READY: (p) => `${fieldEn(p.field)}: ${THING_EN[p.thing]} ${p.id} is not ready (${p.status}).`,
  LOANET_REFERS_TO_RETIRED: (p) => `${fieldEn(p.field)}: ${THING_EN[p.thing]} ${p.id} is retired.`,
  LOANET_RETIRED: (p) => `${THING_EN[p.thing]} ${p.id} is retired.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_GONE: (p) => `${THING_EN[p.thing]} ${p.id} was retired.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_NAME_TAKEN: (p) => `${THING_EN[p.thing]} “${p.name}” already exists.`.replace(/^./, (c) => c.toUpperCase()),
  LOANET_CONFLICT: (p) => p.text,

  LOANET_UNAUTHENTICATED: () => 'Please log in.',
  LOANET_BAD_CREDENTIALS: () => 'Wrong username or password.',
  LOANET_BAD_SITE_CREDENTIALS: () => "The site's credential was refused.",
  LOANET_CSRF: () => 'Refused because the session does not match; reload the page.',
  LOANET_FORBIDDEN: forbiddenEn,
  LOANET_RATE_LIMITED: (p) =>
    p.what === 'enrolment'
      ? `Too many wrong enrolment codes (${nEn(p.max)} in ${nEn(p.windowMinutes)} minutes); try again in ${waitEn(p.retryAfterS)}.`
      : `Too many failed logins or password changes (${nEn(p.max)} in ${nEn(p.windowMinutes)} minutes); try again in ${waitEn(p.retryAfterS)}, or ask an admin to unlock the account.`,
  LOANET_ENROL_REFUSED: () => 'Enrolment code refused: wrong, used or expired.',

  LOANET_USERNAME_FORMAT: (p) => `A username has ${nEn(p.min)}–${nEn(p.max)} characters: lower-case a–z, digits 0–9, dot, underscore or hyphen.`,
  LOANET_LAST_ADMIN: (p) => `${p.username} is the last admin of the whole network: make another admin first.`,
  LOANET_SELF_DISABLE: () => 'You cannot disable your own account.',
  LOANET_PASSWORD_UNCHANGED: () => 'The new password must differ from the current one.',
  LOANET_PASSWORD_WRONG: () => 'The current password is wrong.',
  LOANET_PASSWORD_TOO_SHORT: (p) => `The password is too short${p.limit !== undefined ? `: at least ${nEn(p.limit)} characters` : ''}.`,
  LOANET_PASSWORD_TOO_LONG: (p) => `The password is too long${p.limit !== undefined ? `: at most ${nEn(p.limit)} characters` : ''}.`,
  LOANET_PASSWORD_COMMON: () => 'This password is too common and easily guessed; choose another.',
  LOANET_PASSWORD_HAS_USERNAME: () => 'The password must not contain the username.',

  LOANET_AREA_NOT_A_CODE: (p) => `“${p.value}” is not an area code (e.g. 02647) or key (e.g. 2025.02647).`,
  LOANET_AREA_CYCLE: (p) => `Area ${p.parentKey} lies inside ${p.key}; an area cannot move under itself.`,
  LOANET_AREA_NOT_EMPTY: (p) => `Area ${p.key} still has ${nEn(p.children)} child areas and ${nEn(p.sites)} sites in use; retire or move them first.`,
  LOANET_AREA_LEVEL_MISMATCH: (p) => `Area ${p.key} is a ${p.stored} here but a ${p.file} in the file.`,
  LOANET_AREA_NEEDS_PARENT: (p) => `A ${p.level} needs a parent area.`,
  LOANET_AREA_VERSION_MISMATCH: (p) => `Parent area ${p.parentKey} is of boundary version ${p.parentVersion}, not ${p.version}.`,
  LOANET_AREA_NESTING: (p) => `A ${p.level} cannot be inside a ${p.parentLevel} (${p.parentKey}).`,
  LOANET_AREA_CSV: areaCsvEn,
  LOANET_SITE_ID_FORMAT: (p) => `Site id “${p.id}” must be 1–64 characters of a–z, 0–9 and hyphen.`,

  LOANET_ITEM_NOT_DRAFT: (p) => `“${p.title}” is ${p.status}; only drafts can be edited or approved (cancel it and create a new one).`,
  LOANET_ITEM_CANCELLED: (p) => `“${p.title}” is already cancelled.`,
  LOANET_FOUR_EYES: (p) => `Four eyes: ${p.username} created or last edited “${p.title}” and may not approve it; another operator or an admin must.`,
  LOANET_SCHEDULE_CONFLICT: (p) =>
    p.titles.length > 0
      ? `Overlaps ${p.titles.map((t) => `“${t}”`).join(', ')} of the same priority; move it, choose “play right after”, or another priority.`
      : 'Overlaps a bulletin of the same priority; move it or choose another priority.',

  LOANET_MEDIA_NOT_READY: (p) => `Media ${p.id} is not ready (${p.status}).`,
  LOANET_MEDIA_OF_ALERT: () => "This file is an alert's audio: it stays with the alert's record and cannot be changed or retired.",
  LOANET_MEDIA_IN_USE: (p) => `This file cannot be retired yet: ${p.text}.`,
  LOANET_MEDIA_FILE_MISSING: () => "The audio file is missing from the server's data folder; tell an admin.",
  LOANET_MEDIA_EMPTY: () => 'The file is empty (0 bytes).',
  LOANET_MEDIA_TOO_LARGE: (p) => (p.limitMb !== undefined ? `The file is larger than the limit of ${nEn(p.limitMb)} MB.` : 'The file is larger than allowed.'),
  LOANET_MEDIA_NOT_AUDIO: (p) => `This is not an audio file that can be read.${techEn(p.text)}`,
  LOANET_MEDIA_DAMAGED: (p) => `The audio file is damaged or incomplete.${techEn(p.text)}`,
  LOANET_MEDIA_SILENT: (p) => (p.lufs !== undefined ? `The audio is silent (loudness ${p.lufs.toLocaleString('en', { maximumFractionDigits: 1 })} LUFS).` : 'The audio is silent.'),
  LOANET_MEDIA_TOO_LONG: (p) =>
    p.seconds !== undefined && p.limitS !== undefined ? `The audio lasts ${durEn(p.seconds)}, longer than the limit of ${durEn(p.limitS)}.` : 'The audio is longer than allowed.',
  LOANET_MEDIA_FORMAT: () => 'This file format is not accepted; upload MP3, WAV, OGG, M4A or FLAC.',
  LOANET_MEDIA_QUEUE_FULL: () => 'The audio processing queue is full; try again once a job is done.',
  LOANET_MEDIA_FAILED: (p) => `The audio could not be made.${techEn(p.text)}`,
  LOANET_MEDIA_ABORTED: () => 'Audio processing stopped because it is no longer needed.',
  LOANET_DOCX_INVALID: (p) => `This is not a Word document (.docx) that can be read.${techEn(p.text)}`,
  LOANET_DOCX_TOO_LARGE: (p) =>
    p.limitMb !== undefined ? `The document is larger than the limit of ${nEn(p.limitMb)} MB.` : `The document is too large to read.${techEn(p.text)}`,
  LOANET_OFFTHREAD_FAILED: () => 'The server failed while processing; the server log says why.',
  LOANET_OFFTHREAD_TIMEOUT: (p) => (p.limitS !== undefined ? `Processing took longer than ${durEn(p.limitS)} and was stopped.` : 'Processing took too long and was stopped.'),
  LOANET_OFFTHREAD_MEMORY: (p) =>
    p.limitMb !== undefined ? `Processing needed more than ${nEn(p.limitMb)} MB of memory and was stopped.` : 'Processing needed too much memory and was stopped.',
  LOANET_TTS_UNAVAILABLE: () => 'The server has no text-to-speech engine.',
  LOANET_TTS_NO_TEXT: (p) => (p.source === 'document' ? 'The document has no text to speak.' : 'There is no text to speak.'),
  LOANET_TTS_NO_VOICE: (p) => `There is no voice for this language.${techEn(p.text)}`,
  LOANET_TTS_TEXT_TOO_LONG: (p) => `The text is too long: at most ${nEn(p.limit)} characters for one item (split it).`,

  LOANET_ALERT_NOT_ACTIVE: (p) => `Alert ${p.id} is ${p.state}: start a new alert instead.`,
  LOANET_ALERT_EXPIRED: () => 'The alert has expired: there is nothing left to play.',
  LOANET_POLYGON_NO_SITE: () => 'No registered site lies inside the drawn area.',
  LOANET_TOKEN_NOT_LIVE: (p) => `${p.tokenId} is not a live API token of ${p.username}.`,
  LOANET_CAP_INVALID: (p) => `This is not a valid CAP 1.2 alert${p.field ? ` (at ${p.field})` : ''}.${techEn(p.text?.replace(/^not a valid CAP 1\.2 alert: /, ''))}`,
  LOANET_CAP_ENCODING: (p) => `The character encoding of the CAP alert cannot be read.${techEn(p.text)}`,
  LOANET_CAP_LINK_ONLY: () => 'The document only links to a CAP alert; post the CAP alert itself.',
  LOANET_CAP_NO_ALERT: () => 'The document holds no CAP alert.',
  LOANET_CAP_ENVELOPE_TOO_LARGE: () => 'The document holds too many CAP alerts.',
  LOANET_CAP_CONFLICT: (p) => `${p.key} was already received with different content; a change must be an Update.`,
  LOANET_CAP_NO_AREA: () => 'No area of the CAP alert lies in this network.',
  LOANET_CAP_NOTHING_TO_PLAY: () => 'The CAP alert has nothing to broadcast.',
  LOANET_CAP_NOT_FOR_BROADCAST: () => 'This CAP alert is not for broadcast (a test, an exercise or a system message).',

  LOANET_LIVE_BUSY: (p) => `Stream ${p.id} of the same priority (${p.priority}) is on air in this area; stop it or choose a higher priority.`,
  LOANET_STREAM_ENDED: (p) => `Stream ${p.id} has already ended.`,
  LOANET_RELAY_URL: () => 'The relay source address is not valid: only http and https addresses.',
  LOANET_RELAY_REFUSED: (p) => relayEn(p, 'The relay source address was refused.'),
  LOANET_RELAY_UNREACHABLE: (p) => relayEn(p, 'The relay source could not be reached.'),
  LOANET_RELAY_NOT_AUDIO: (p) => relayEn(p, 'The relay source sends no playable audio.'),
  LOANET_TOO_MANY_STREAMS: (p) => p.text,

  LOANET_RELEASE_REFUSED: (p) => {
    switch (p.reason) {
      case 'unsigned':
        return 'The release is not signed: the server takes only releases signed by a trusted key.';
      case 'unknown_key':
        return "The release is signed by a key this server does not trust; sign it with the province's key, or ask an admin to add the public key to the trust list.";
      case 'bad_signature':
        return 'The signature does not match the manifest: it was changed after signing, or signed by another key.';
      default:
        return `The release manifest is not valid (${p.text}); make it again with the release tool (npm run release).`;
    }
  },
  LOANET_RELEASE_EXISTS: (p) => `Release ${p.id} is already on the server.`,
  LOANET_RELEASE_FILE_TOO_LARGE: (p) => `${p.path} is larger than the ${nEn(p.size)} bytes in the manifest; nothing was kept.`,
  LOANET_RELEASE_FILE_MISMATCH: (p) => `${p.path} does not match the signed manifest (its size or SHA-256 differs); nothing was kept, upload the right file.`,
  LOANET_RELEASE_IN_USE: (p) => `Release ${p.id} cannot be retired yet: rollout ${p.rollouts.join(', ')} (running or paused) uses it; abort it first.`,

  LOANET_ROLLOUT_NOT_FOUND: (p) => `Rollout ${p.id} not found.`,
  LOANET_ROLLOUT_RELEASE_UNUSABLE: (p) =>
    p.why === 'unknown'
      ? `Release ${p.id} is not on this server.`
      : p.why === 'incomplete'
        ? `Release ${p.id} is missing files: upload every file of its manifest first.`
        : `Release ${p.id} is retired; choose another.`,
  LOANET_ROLLOUT_SPEC: (p) => p.text,
  LOANET_ROLLOUT_NO_SITES: (p) => `No site to update: ${nEn(p.targeted)} targeted, ${nEn(p.excluded)} left out (the dry run says why).`,
  LOANET_ROLLOUT_STATE: (p) => `Rollout ${p.id} is ${p.status}: it cannot ${p.action}.`,

  LOANET_ALARM_NOT_FOUND: (p) => `Technical alarm ${p.id} is not among the open alarms (a cleared alarm cannot be changed).`,
  LOANET_ALARM_NOT_RAISED: (p) => `Technical alarm ${p.id} is not shown yet (its fault is still being watched): nothing to acknowledge or clear.`,
  LOANET_ALARM_ALREADY_ACKNOWLEDGED: (p) => `Technical alarm ${p.id} is already acknowledged.`,
  LOANET_ALARM_ALREADY_CLEARED: (p) => `Technical alarm ${p.id} is already cleared.`,
  LOANET_ALARM_CONDITION_ACTIVE: (p) =>
    `Technical alarm ${p.id} cannot be cleared by hand: the server still sees its fault. Acknowledge it; it clears itself once the fault is gone.`,
  LOANET_ALARM_NOTE_REQUIRED: (p) => `Say what was done to clear technical alarm ${p.id}.`,
  LOANET_ALARM_ACTION_PENDING: (p) =>
    `Technical alarm ${p.id}: no server has run the alarms for ${p.waitedS} s (one is taking over). Your ${p.action === 'clear' ? 'clearing' : 'acknowledgement'} is kept and carried out when one does; reload the alarm in a minute rather than asking again.`,
  LOANET_WORK_ORDER_NOT_FOUND: (p) => `Work order (or alarm) ${p.id} not found.`,
  LOANET_WORK_ORDER_STATE: (p) => `Work order ${p.id} is ${p.state.replace('_', ' ')}: it cannot ${p.action.replace('_', ' ')}.`,
  LOANET_WORK_ORDER_NOT_VERIFIED: (p) => `Work order ${p.id} closes itself once a sound check is heard after its resolution with the site operational; request a sound check.`,
  LOANET_WORK_ORDER_ASSIGNEE: (p) => `Work order ${p.id} cannot go to user ${p.userId}: not a technician, operator or admin whose area covers the site.`,
  LOANET_WORK_ORDER_ALARM_HAS_ORDER: (p) => `Technical alarm ${p.alarmId} already has an open work order.`,
  LOANET_WORK_ORDER_NOTE_REQUIRED: (p) => `Say what was done (work order ${p.id}).`,

  LOANET_UNAVAILABLE: (p) => p.text,
  LOANET_DISK_LOW: (p) => p.text,
  LOANET_DISK_FULL: () => "Not saved: the server's data disk is full; nothing stored before was lost. Retire old media and try again.",
  LOANET_STORE_GONE: () =>
    "Not saved: the server's database file was deleted or replaced while it runs, so nothing more can be stored. Ask an admin to stop loanet and restore the data folder.",
  LOANET_DATABASE_DISK_FULL: () =>
    "Not saved: the database server's disk is full; nothing stored before was lost. Ask an admin to free space on the database server, then try again.",
  LOANET_REQUEST_TIMEOUT: (p) => p.text,
  LOANET_TOO_MANY_CONNECTIONS: (p) => p.text,
  LOANET_INTERNAL: () => 'The server failed; try again, and tell an admin if it persists.',
};
