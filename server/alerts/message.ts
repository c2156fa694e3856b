/**
 * The alert's audio, made through the media library: an existing item, an
 * uploaded file, text spoken by the TTS engine, or a CAP message's embedded
 * audio. Every path ends as an Ogg Opus item in the library (loudness
 * normalised like any bulletin), which sites fetch into their cache by
 * SHA-256. An alert never waits for its audio to be dispatched: the sites
 * sound their own attention signal, and the audio is published when ready.
 */
import fs from 'node:fs';
import { isMainLanguage, MAX_ALERT_VERSIONS, type AlertMedia } from '../../protocol/index.ts';
import { Errors, fail, failWithText, LoanetError } from '../errors.ts';
import type { Actor, JobView, MediaItem, MediaLibrary, SubmitInput } from '../media/library.ts';
import type { TtsEngine } from '../media/tts/engine.ts';
import { pickVoice } from '../media/tts/espeak.ts';
import { normaliseLanguageTag } from '../media/languages.ts';
import type { AlertMessageSource, AlertVersionRecord, MessageState } from './model.ts';

/**
 * The alert's message as the alert is dispatched: ready (an existing item),
 * or still being made (`done` settles when the library has finished; it
 * never rejects), or known at once to be impossible (`failed`, with why).
 */
export interface PreparedMessage {
  media: AlertMedia | null;
  source: AlertMessageSource;
  state: MessageState;
  reason: string | null;
  done?: Promise<MessageOutcome>;
  /** Stop making it (the alert ended, or an Update gave it another message): its job stops and its files go. */
  abandon?: () => void;
}

export type MessageOutcome =
  | { ok: true; media: AlertMedia }
  /** `error`: the catalogue error the job threw, when it threw one (its code and parameters are answered as they are). */
  | { ok: false; code: string; statusCode: number; reason: string; error?: LoanetError };

/**
 * A language version of the message as the alert takes it: its audio being
 * made or ready (`message`), or known to be impossible (`missing`: a CAP
 * info in a language with neither audio nor a voice), which the alert keeps
 * as a failed version so it says which language is missing.
 */
export type PreparedVersion = { language: string; message: PreparedMessage } | { language: string; missing: string };

/** The record an alert keeps of a version as it is prepared. */
export function versionRecord(v: PreparedVersion): AlertVersionRecord {
  if ('missing' in v) return { language: v.language, source: 'tts', mediaId: null, media: null, state: 'failed', reason: v.missing.slice(0, 500) };
  const m = v.message;
  return { language: v.language, source: m.source.kind, mediaId: m.source.mediaId, media: m.media, state: m.state, reason: m.reason };
}

/**
 * The languages of versions given for an alert, checked: each a BCP 47 tag
 * (canonical case, as the library keeps them), none Vietnamese (the message
 * itself), none twice nor one the alert already has (`held`), at most
 * MAX_ALERT_VERSIONS in all. Throws naming `field[i].language`.
 */
export function checkedVersionLanguages(raw: readonly string[], held: readonly string[] = [], field = 'versions'): string[] {
  const seen = new Set(held);
  const out: string[] = [];
  for (const [i, value] of raw.entries()) {
    const language = normaliseLanguageTag(value);
    const f = `${field}[${i}].language`;
    if (!language) throw fail('LOANET_NOT_A_LANGUAGE_TAG', { field: f, value });
    if (isMainLanguage(language))
      throw fail('LOANET_BAD_REQUEST', { field: f, text: `${f}: ${language} is the language of the message itself`, problem: 'version_duplicate', value: language });
    if (seen.has(language))
      throw fail('LOANET_BAD_REQUEST', { field: f, text: `${f}: the alert already has a version in ${language}`, problem: 'version_duplicate', value: language });
    seen.add(language);
    out.push(language);
  }
  if (seen.size > MAX_ALERT_VERSIONS) throw fail('LOANET_TOO_MANY_TAGS', { field, max: MAX_ALERT_VERSIONS, maxLength: 35 });
  return out;
}

export function mediaOf(item: MediaItem): AlertMedia {
  return { mediaId: item.id, sha256: item.sha256, bytes: item.bytes, durationMs: item.durationMs };
}

/** A failed audio job's code as a catalogue error: a missing tool or a full disk keep their own codes. */
function audioRefused(code: string, text: string): LoanetError {
  if (code === 'LOANET_UNAVAILABLE') return Errors.unavailable('tool_missing', text);
  if (code === 'LOANET_DISK_FULL') return Errors.diskFull();
  return failWithText(code, 'LOANET_MEDIA_FAILED', text);
}

/** The message's audio, waited for: what the upload route answers with (it tells the uploader a bad file at once). */
export async function readyMessage(m: PreparedMessage): Promise<PreparedMessage> {
  if (!m.done) {
    if (m.state === 'failed') throw fail('LOANET_MEDIA_FAILED', { text: `the alert's audio: ${m.reason ?? 'could not be made'}` });
    return m;
  }
  const r = await m.done;
  if (!r.ok) {
    if (!r.error) throw audioRefused(r.code, `the alert's audio: ${r.reason}`);
    const e = new LoanetError(r.error.code, r.error.params, r.error.details);
    e.message = `the alert's audio: ${r.reason}`;
    throw e;
  }
  return { media: r.media, source: m.source, state: 'ready', reason: null };
}

/**
 * Makes alert audio in the library's `alert` lane, which bulletin work
 * never fills: nothing here waits for an upload or a long text to speech.
 */
export class AlertMessages {
  /** `media` is read when needed: the composition root builds the library after the alert service. */
  constructor(private readonly media: () => { library: MediaLibrary; tts: TtsEngine }) {}

  private get library(): MediaLibrary {
    return this.media().library;
  }

  private get tts(): TtsEngine {
    return this.media().tts;
  }

  async existing(mediaId: string, field = 'message.mediaId'): Promise<PreparedMessage> {
    const x = await this.library.get(mediaId);
    if (!x) throw fail('LOANET_REFERENCE_NOT_FOUND', { field, thing: 'media', id: mediaId });
    if (x.status !== 'ready') throw fail('LOANET_REFERENCE_NOT_READY', { field, thing: 'media', id: mediaId, status: x.status });
    if (x.retiredAt !== null) throw fail('LOANET_REFERS_TO_RETIRED', { field, thing: 'media', id: mediaId });
    return { media: mediaOf(x), source: { kind: 'media', mediaId }, state: 'ready', reason: null };
  }

  /** A file already on disk in the library's temp folder (an upload, or CAP audio written out); it is consumed. Answers at once; the audio follows. */
  fromFile(file: string, o: { title: string; lang: string; actor: Actor; originalName: string | null; capMime?: string }): PreparedMessage {
    const id = this.library.newId();
    const source: AlertMessageSource = o.capMime ? { kind: 'cap_audio', mediaId: id, mimeType: o.capMime } : { kind: 'upload', mediaId: id, originalName: o.originalName };
    const tools = this.library.mediaTools();
    if (!('tools' in tools)) {
      fs.rmSync(file, { force: true });
      return failed(source, `cannot process audio: ${tools.missing}`, 'LOANET_UNAVAILABLE', 503);
    }
    const input: SubmitInput = {
      meta: { title: o.title, lang: o.lang, tags: ['alert'] },
      origin: 'upload',
      originalName: o.originalName,
      source: o.capMime ? { capResource: o.capMime } : undefined,
      actor: o.actor,
      input: file,
      lane: 'alert',
      purpose: 'alert',
    };
    return this.preparing(source, () => this.library.submit(input, id));
  }

  /**
   * Text to speak. What the caller got wrong (no text, not a language tag)
   * is refused at once; everything else (the voice, the engine, ffmpeg)
   * happens after the alert is dispatched, and a failure there leaves the
   * alert standing with its reason.
   */
  fromText(text: string, o: { title: string; lang: string; voice?: string; actor: Actor; field?: string }): PreparedMessage {
    const field = o.field ?? 'message.text';
    const clean = text.normalize('NFC').trim();
    if (!clean) throw fail('LOANET_FIELD_REQUIRED', { field });
    const lang = normaliseLanguageTag(o.lang);
    if (!lang) throw fail('LOANET_NOT_A_LANGUAGE_TAG', { field: 'message.lang', value: o.lang });
    const id = this.library.newId();
    const source: AlertMessageSource = { kind: 'tts', mediaId: id, text: clean, lang };
    const a = this.tts.available();
    if (!a.ok) return failed(source, a.reason, 'LOANET_UNAVAILABLE', 503);
    const tools = this.library.mediaTools();
    if (!('tools' in tools)) return failed(source, `cannot process audio: ${tools.missing}`, 'LOANET_UNAVAILABLE', 503);
    return this.preparing(source, async () => {
      const voice = pickVoice(await this.tts.voices(), lang, o.voice);
      if (typeof voice === 'string') throw fail('LOANET_TTS_NO_VOICE', { text: voice });
      return this.library.submit(
        {
          meta: { title: o.title, lang, tags: ['alert'] },
          origin: 'tts',
          transcript: clean,
          tts: { engine: this.tts.name, voice: voice.id, rate: null },
          actor: o.actor,
          inputStage: 'synthesizing',
          input: async (signal) => (await this.tts.synthesize(clean, { lang, voice: voice.id }, this.library.tmpDir, signal)).file,
          lane: 'alert',
          purpose: 'alert',
        },
        id,
      );
    });
  }

  tempPath(suffix: string): string {
    return this.library.tempPath(suffix);
  }

  /** Start the job and follow it: `done` settles with the media or the reason, never rejects. */
  private preparing(source: AlertMessageSource, start: () => JobView | Promise<JobView>): PreparedMessage {
    let abandoned = false;
    const done = (async (): Promise<MessageOutcome> => {
      try {
        // The voice lookup may still be running when the alert is cancelled: then no job is started.
        const job = await Promise.resolve().then(() => (abandoned ? undefined : start()));
        if (!job) return { ok: false, code: 'LOANET_MEDIA_ABORTED', statusCode: 503, reason: 'no longer needed' };
        if (abandoned) this.library.abort(job.id);
        const x = await this.library.finished(job.id);
        if (x?.status === 'ready') return { ok: true, media: mediaOf(x) };
        return { ok: false, code: x?.code ?? 'LOANET_MEDIA_FAILED', statusCode: x?.statusCode ?? 500, reason: x?.reason ?? 'processing failed' };
      } catch (e) {
        const le = e instanceof LoanetError ? e : undefined;
        return { ok: false, code: le?.code ?? 'LOANET_MEDIA_FAILED', statusCode: le?.statusCode ?? 500, reason: (e as Error).message, ...(le ? { error: le } : {}) };
      }
    })();
    const abandon = () => {
      abandoned = true;
      this.library.abort(source.mediaId);
    };
    return { media: null, source, state: 'preparing', reason: null, done, abandon };
  }
}

function failed(source: AlertMessageSource, reason: string, code: string, statusCode: number): PreparedMessage {
  return { media: null, source, state: 'failed', reason, done: Promise.resolve({ ok: false, code, statusCode, reason }) };
}
