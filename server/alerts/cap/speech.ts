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

export function pickInfo(alert: CapAlert): CapInfo | undefined {
  return alert.info.find((i) => isVietnamese(i.language)) ?? alert.info[0];
}

export function chooseSpeech(alert: CapAlert): SpeechChoice {
  const info = pickInfo(alert);
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
  return { kind: 'tts', text, lang: info.language, notes };
}
