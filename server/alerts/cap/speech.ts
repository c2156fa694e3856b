/**
 * What a site plays for a CAP alert. Pure.
 *
 * 1. Pick the `info` in Vietnamese (`vi`, `vi-VN`, any `vi-*`), else the first.
 * 2. Audio: the first `audio/*` resource with a `derefUri` that decodes and
 *    passes its digest, in that info first, then in the others. A resource with
 *    only a `uri` is not fetched here (the shell may; this core does no I/O).
 * 3. Otherwise text for TTS: headline + ". " + instruction, or the description
 *    when there is no instruction; the event name stands in for a missing headline.
 *    The text is cut to the limit of text to speech (MAX_TEXT_CHARS, at a
 *    space), with a note: a CAP description can be megabytes, and an alert
 *    must still go out rather than be refused for being long.
 * An alert without `info` (a Cancel, for instance) has nothing to play.
 *
 * Languages: with `hasVoice` (whether the engine has a voice for a tag, by
 * BCP 47 fallback: media/tts/voice-choice.ts), an `info` in a language that
 * can be spoken is preferred after Vietnamese. When none can, the alert is
 * never refused for it: its text is spoken in the best available language
 * (English for text in Latin letters, else Vietnamese, the network's own),
 * with a note saying so; the attention signal sounds either way.
 *
 * Language versions (chooseVersions, Decree 49/2024/NĐ-CP): every other
 * `info` in another language becomes a version of the message in that
 * language (its primary subtag, as areas list their languages: `hmn`,
 * `ium`): its own audio resource, else its text spoken when that language
 * has a voice, else it is recorded as missing with why — never a reason to
 * refuse or hold the alert. Audio of another language's info is never the
 * main message.
 */
import { MAX_TEXT_CHARS } from '../../media/tts/engine.ts';
import { normaliseLanguageTag, primaryLanguage } from '../../media/languages.ts';
import { MAX_ALERT_VERSIONS } from '../../../protocol/index.ts';
import type { CapAlert, CapInfo } from './model.ts';
import { decodeDerefUri, isAudioMime } from './resource.ts';

export type SpeechChoice =
  | { kind: 'audio'; bytes: Uint8Array; mimeType: string; lang: string; notes: string[] }
  | { kind: 'tts'; text: string; lang: string; notes: string[] }
  | { kind: 'none'; reason: string };

export function isVietnamese(language: string): boolean {
  return /^vi(?:-|$)/i.test(language.trim());
}

export type HasVoice = (lang: string) => boolean;

export function pickInfo(alert: CapAlert, hasVoice?: HasVoice): CapInfo | undefined {
  return alert.info.find((i) => isVietnamese(i.language)) ?? (hasVoice && alert.info.find((i) => hasVoice(i.language))) ?? alert.info[0];
}

/** The language to speak a text in when its own has no voice: English for Latin letters, else the network's Vietnamese. */
export function fallbackLanguage(text: string, hasVoice: HasVoice): string {
  const letters = [...text].filter((c) => /\p{L}/u.test(c));
  const latin = letters.filter((c) => /\p{Script=Latin}/u.test(c)).length;
  const preferred = letters.length > 0 && latin / letters.length > 0.8 ? ['en', 'vi'] : ['vi', 'en'];
  return preferred.find((l) => hasVoice(l)) ?? 'vi';
}

export function chooseSpeech(alert: CapAlert, hasVoice?: HasVoice): SpeechChoice {
  const info = pickInfo(alert, hasVoice);
  if (!info) return { kind: 'none', reason: 'the alert has no <info>' };
  const notes: string[] = [];
  // Audio of an info in another language is that language's version (chooseVersions), never the message.
  const main = languageOf(info.language);
  for (const candidate of [info, ...alert.info.filter((i) => i !== info && languageOf(i.language) === main)]) {
    const audio = audioOf(candidate, notes);
    if (audio) return { kind: 'audio', ...audio, lang: candidate.language, notes };
  }
  const text = textOf(info, notes);
  let lang = info.language;
  if (hasVoice && !hasVoice(lang)) {
    lang = fallbackLanguage(text, hasVoice);
    notes.push(`no text-to-speech voice for ${info.language}: the text is spoken with the ${lang} voice, the best available, after the attention signal`);
  }
  return { kind: 'tts', text, lang, notes };
}

/** The first audio resource of an info that decodes and checks out; what was not used goes to `notes`. */
function audioOf(info: CapInfo, notes: string[]): { bytes: Uint8Array; mimeType: string } | undefined {
  for (const r of info.resource) {
    if (!isAudioMime(r.mimeType)) continue;
    const d = decodeDerefUri(r);
    if (d.ok) return { bytes: d.bytes, mimeType: r.mimeType };
    notes.push(d.kind === 'absent' ? `audio resource "${r.resourceDesc}" has no embedded content` : `audio resource "${r.resourceDesc}" not used: ${d.message}`);
  }
  return undefined;
}

/** Headline + ". " + instruction (or description), cut to what text to speech takes. */
function textOf(info: CapInfo, notes: string[]): string {
  const headline = (info.headline ?? info.event).trim();
  const body = (info.instruction ?? info.description)?.trim();
  let text = body ? `${headline.replace(/[.!?。]+$/u, '')}. ${body}` : headline;
  if (text.length > MAX_TEXT_CHARS) {
    const cut = text.lastIndexOf(' ', MAX_TEXT_CHARS);
    text = text.slice(0, cut > MAX_TEXT_CHARS / 2 ? cut : MAX_TEXT_CHARS);
    notes.push(`the text to speak was cut to ${text.length} characters: at most ${MAX_TEXT_CHARS} characters are spoken`);
  }
  return text;
}

/** An info's language as areas list theirs: the primary subtag, lower case (`vi-VN` → `vi`, `HMN` → `hmn`); undefined when it is not a tag. */
export function languageOf(tag: string): string | undefined {
  const t = normaliseLanguageTag(tag);
  return t ? primaryLanguage(t) : undefined;
}

export type VersionChoice =
  | { language: string; kind: 'audio'; bytes: Uint8Array; mimeType: string }
  | { language: string; kind: 'tts'; text: string; lang: string }
  | { language: string; kind: 'missing'; reason: string };

/**
 * The language versions of a CAP alert beside its message (`main`, the info
 * pickInfo chose): one per other language, the first info in it deciding,
 * in document order, at most MAX_ALERT_VERSIONS; what was left out or could
 * not be used goes to `notes`.
 */
export function chooseVersions(alert: CapAlert, main: CapInfo, hasVoice: HasVoice, notes: string[] = []): VersionChoice[] {
  const mainLanguage = languageOf(main.language);
  const seen = new Set<string>(mainLanguage ? [mainLanguage] : []);
  const out: VersionChoice[] = [];
  for (const [i, info] of alert.info.entries()) {
    if (info === main) continue;
    const language = languageOf(info.language);
    if (!language) {
      notes.push(`info[${i}]: language "${info.language}" is not a language tag; not used as a version`);
      continue;
    }
    if (seen.has(language)) continue;
    seen.add(language);
    if (out.length >= MAX_ALERT_VERSIONS) {
      notes.push(`info[${i}] (${language}): at most ${MAX_ALERT_VERSIONS} language versions; not used`);
      continue;
    }
    const audio = audioOf(info, notes);
    if (audio) out.push({ language, kind: 'audio', ...audio });
    else if (hasVoice(info.language)) out.push({ language, kind: 'tts', text: textOf(info, notes), lang: info.language });
    else out.push({ language, kind: 'missing', reason: `the <info> in ${info.language} has no audio resource and there is no text-to-speech voice for it` });
  }
  return out;
}
