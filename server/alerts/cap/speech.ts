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
 */
import { MAX_TEXT_CHARS } from '../../media/tts/engine.ts';
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
  for (const candidate of [info, ...alert.info.filter((i) => i !== info)]) {
    for (const r of candidate.resource) {
      if (!isAudioMime(r.mimeType)) continue;
      const d = decodeDerefUri(r);
      if (d.ok) return { kind: 'audio', bytes: d.bytes, mimeType: r.mimeType, lang: candidate.language, notes };
      notes.push(d.kind === 'absent' ? `audio resource "${r.resourceDesc}" has no embedded content` : `audio resource "${r.resourceDesc}" not used: ${d.message}`);
    }
  }
  const headline = (info.headline ?? info.event).trim();
  const body = (info.instruction ?? info.description)?.trim();
  let text = body ? `${headline.replace(/[.!?。]+$/u, '')}. ${body}` : headline;
  if (text.length > MAX_TEXT_CHARS) {
    const cut = text.lastIndexOf(' ', MAX_TEXT_CHARS);
    text = text.slice(0, cut > MAX_TEXT_CHARS / 2 ? cut : MAX_TEXT_CHARS);
    notes.push(`the text to speak was cut to ${text.length} characters: at most ${MAX_TEXT_CHARS} characters are spoken`);
  }
  let lang = info.language;
  if (hasVoice && !hasVoice(lang)) {
    lang = fallbackLanguage(text, hasVoice);
    notes.push(`no text-to-speech voice for ${info.language}: the text is spoken with the ${lang} voice, the best available, after the attention signal`);
  }
  return { kind: 'tts', text, lang, notes };
}
