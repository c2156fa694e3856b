/**
 * What a site and the audit log say, worded in the user's language from the
 * codes and parameters the server sends (a reason's code and params, a
 * history event's type and detail, a command error's code, an audit entry's
 * detail keys) rather than from the server's English prose or raw JSON.
 */
import { formatNumber, formatTime, keyOf, lang, t, type StringKey } from './i18n.ts';
import { deviceKindIn, reasonDetailOf, wordAsRunWhy, wordReason, type AsRunWhyLike, type ReasonLike } from '../../api/words/reasons.ts';
import { recurrenceText } from './recurrence.ts';
import type { CommandType } from '../../protocol/messages.ts';

type Params = Record<string, unknown>;
export type { ReasonLike };

/** A code in words (`prefix` + code), else the code itself. */
export function codeWords(prefix: string, code: string): string {
  const k = keyOf(prefix, code);
  return k ? t(k) : code;
}

/** A site's device kind in words, else as the site named it. */
export function deviceKind(kind: string): string {
  return deviceKindIn(lang(), kind);
}

/** A reason in words from its code and params (api/words/reasons.ts); a code the console does not know shows as the code, never as the server's prose. */
export function reasonWords(r: ReasonLike): string {
  return wordReason(lang(), r, Date.now());
}

/** The sites' own words in reasons (an agent's error text, as it sent it), as technical detail: for a title, where a technician can read it. */
export function reasonDetail(reasons: ReasonLike[]): string {
  const own = reasons.map(reasonDetailOf).filter(Boolean).join('; ');
  return own ? `${t('technicalDetail')} ${own}` : '';
}

/** An as-run line's why in words (api/words/reasons.ts), with what the server knows of the site now for a missing receipt. */
export function asRunWhyWords(why: ReadonlyArray<AsRunWhyLike>, siteNow: { reason: ReasonLike | null } | null): string {
  const parts = why.map((w) => wordAsRunWhy(lang(), w));
  if (siteNow?.reason) parts.push(reasonWords(siteNow.reason));
  return parts.join('; ');
}

/** A command's error in words from its code; the site's own words only for a code the console does not know. */
export function commandErrorWords(e: { code: string; message: string }): string {
  const k = keyOf('cmdErr_', e.code);
  return k ? t(k) : `${t('cmdErr_other', { code: e.code })}: ${e.message}`;
}

/** A history event's kind in words. */
export function eventKind(type: string): string {
  return codeWords('ev_', type);
}

/** What a history event says, from its type and detail. */
export function eventWords(type: string, d: Params | null | undefined): string {
  if (!d) return '';
  if (Array.isArray(d.reasons)) return (d.reasons as ReasonLike[]).map(reasonWords).join('; ');
  switch (type) {
    case 'connected':
    case 'disconnected': {
      const parts: string[] = [];
      if (typeof d.reason === 'string' && d.reason) parts.push(t('evCause', { v: codeWords('off_', d.reason.replace(/-/g, '_')) }));
      if (typeof d.agentVersion === 'string' && d.agentVersion) parts.push(t('evAgentVersion', { v: d.agentVersion }));
      return parts.join(' · ');
    }
    case 'sound_check': {
      const parts = [d.ok === true ? t('soundHeard') : t('soundNotHeard')];
      if (typeof d.levelDb === 'number')
        parts.push(`${formatNumber(d.levelDb, 1, 'dB')}${typeof d.thresholdDb === 'number' ? ` (≥ ${formatNumber(d.thresholdDb, 1, 'dB')})` : ''}`);
      if (typeof d.trigger === 'string') parts.push(codeWords('trigger_', d.trigger));
      return parts.join(' · ');
    }
    case 'fault':
    case 'fault_cleared': {
      const fault = typeof d.fault === 'string' ? (keyOf('fault_', d.fault) ? codeWords('fault_', d.fault) : codeWords('ampFault_', d.fault)) : '';
      return [typeof d.device === 'string' ? deviceKind(d.device) : '', fault].filter(Boolean).join(': ');
    }
    default:
      return detailLines(d).join(' · ');
  }
}

/** Keys whose value is a moment (epoch ms): shown as the province's time. */
const TIME_KEYS = new Set(['at', 'validUntil', 'validFrom', 'expiresAt', 'since', 'until']);
/** Keys that mean nothing to a reader (a file's hash) or carry the server's own prose (a stream's end detail, for the title): left out. */
const HIDDEN_KEYS = new Set(['sha256', 'detail']);
/** Keys whose values are area keys (2025.02683): shown by the area's name when the page knows it. */
const AREA_KEYS = new Set(['area', 'areas', 'areaKeys', 'channels', 'parent']);

/** Keys whose values are language tags (hmn): shown by the language's name when the page knows it. */
const LANGUAGE_KEYS = new Set(['languages', 'languagesBefore', 'language']);

/** Names the page knows for codes in details (an area's key → its name, a language tag → its name). */
export interface DetailNames {
  area?: (key: string) => string | undefined;
  language?: (tag: string) => string;
}

/** A value of a detail in words: yes/no, numbers the language's way, codes by their words, lists and objects as "key: value". */
function valueWords(key: string, v: unknown, depth: number, names: DetailNames): string {
  if (v === null || v === undefined) return t('valueNone');
  if (typeof v === 'boolean') return v ? t('boolYes') : t('boolNo');
  if (typeof v === 'number') {
    if (TIME_KEYS.has(key) || (key.endsWith('At') && v > 1e11)) return formatTime(v);
    if (key === 'durationMs') return formatNumber(v / 1000, 1, 's');
    return Number.isInteger(v) ? String(v) : formatNumber(v, 1);
  }
  if (typeof v === 'string') {
    if (key === 'kind' || key === 'role') return kindOrRole(key, v);
    if (AREA_KEYS.has(key)) return names.area?.(v) ?? v;
    if (LANGUAGE_KEYS.has(key) && names.language) return names.language(v);
    const k = keyOf(`av_${key}_`, v);
    if (k) return t(k);
    return v.length > 120 ? `${v.slice(0, 119)}…` : v;
  }
  if (Array.isArray(v)) {
    if (key === 'changed') return v.length === 0 ? t('valueNone') : v.map((x) => codeWords('ak_', String(x))).join(', ');
    return v.length === 0
      ? t('valueNone')
      : v
          .slice(0, 10)
          .map((x) => valueWords(key, x, depth + 1, names))
          .join(', ') + (v.length > 10 ? ', …' : '');
  }
  if (typeof v === 'object' && depth < 3) {
    const o = v as Params;
    // A place named by the server (a target area): its name, not its key.
    if (typeof o.name === 'string' && typeof o.key === 'string') return o.name;
    // A schedule's start: the moment, or how it repeats.
    if (key === 'start' && typeof o.at === 'number') return formatTime(o.at);
    if (key === 'start' && typeof o.rrule === 'string' && typeof o.dtstart === 'string') return recurrenceText({ dtstart: o.dtstart, rrule: o.rrule }) ?? o.dtstart;
    // A coded reason (a rollout's own stop, next wave, completion): its words, `av_<key>_<code>`, filled with its params worded as values.
    if (typeof o.code === 'string' && typeof o.params === 'object' && o.params !== null && !Array.isArray(o.params)) {
      const k = keyOf(`av_${key}_`, o.code);
      if (k) return t(k, Object.fromEntries(Object.entries(o.params as Params).map(([pk, pv]) => [pk, valueWords(pk, pv, depth + 1, names)])));
    }
    const inner = detailLines(o, depth + 1, names);
    return inner.length ? `(${inner.join(', ')})` : t('valueNone');
  }
  return '…';
}

/** A detail object as readable "key: value" lines, the keys and the coded values the console knows in words. */
export function detailLines(d: Params, depth = 0, names: DetailNames = {}): string[] {
  return (
    Object.entries(d)
      .filter(([k, v]) => v !== undefined && !HIDDEN_KEYS.has(k))
      .slice(0, 20)
      // "level" is a volume's (a number) or an area's (a word: province, commune…): each has its own label.
      .map(([k, v]) => `${k === 'level' && typeof v === 'string' ? t('ak_level_area') : codeWords('ak_', k)}: ${valueWords(k, v, depth, names)}`)
  );
}

/** A site kind or a user role by the console's own word for it. */
function kindOrRole(k: string, v: string): string {
  const key = keyOf(k === 'role' ? 'role_' : '', v);
  return key ? t(key) : v;
}

/** Every command a site takes (protocol COMMAND_TYPES), by the word of its control: a type added there fails the typecheck here. */
const COMMAND_KEYS: Record<CommandType, StringKey> = {
  set_volume: 'setVolume',
  amp_power: 'amplifier',
  test_tone: 'testTone',
  reboot: 'reboot',
  sound_check: 'soundCheck',
  set_acoustic_delay: 'setAcousticDelay',
};

/** A command's type in words, else its code. */
export function commandWords(type: string): string {
  const k = (COMMAND_KEYS as Record<string, StringKey | undefined>)[type];
  return k ? t(k) : type;
}

/** An audit action in words (its code stays in the cell's title); a command to a site says which. */
export function auditActionWords(action: string): string {
  const cmd = /^site\.command\.(.*)$/.exec(action);
  if (cmd) return cmd[1] ? `${t('act_site_command')}: ${commandWords(cmd[1])}` : t('act_site_command');
  return codeWords('act_', action.replace(/\./g, '_'));
}
