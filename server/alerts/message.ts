/**
 * The alert's audio, made through the media library: an existing item, an
 * uploaded file, text spoken by the TTS engine, or a CAP message's embedded
 * audio. Every path ends as an Ogg Opus item in the library (loudness
 * normalised like any bulletin), which sites fetch into their cache by
 * SHA-256. The library's own refusals (not audio, silent, too long) come back
 * as 4xx naming what is wrong.
 */
import fs from 'node:fs';
import type { AlertMedia } from '../../protocol/index.ts';
import { Errors, LoanetError } from '../errors.ts';
import type { Actor, JobView, MediaItem, MediaLibrary, SubmitInput } from '../media/library.ts';
import type { TtsEngine } from '../media/tts/engine.ts';
import { pickVoice } from '../media/tts/espeak.ts';
import { normaliseLanguageTag } from '../media/languages.ts';
import type { AlertMessageSource } from './model.ts';

export interface PreparedMessage {
  media: AlertMedia;
  source: AlertMessageSource;
}

/** How long an alert request waits for its audio to be made (TTS, loudness, Opus). */
export const MESSAGE_WAIT_MS = 120_000;

export function mediaOf(item: MediaItem): AlertMedia {
  return { mediaId: item.id, sha256: item.sha256, bytes: item.bytes, durationMs: item.durationMs };
}

export class AlertMessages {
  /** `media` is read when needed: the composition root builds the library after the alert service. */
  constructor(private readonly media: () => { library: MediaLibrary; tts: TtsEngine }) {}

  private get library(): MediaLibrary {
    return this.media().library;
  }

  private get tts(): TtsEngine {
    return this.media().tts;
  }

  existing(mediaId: string, field = 'message.mediaId'): PreparedMessage {
    const x = this.library.get(mediaId);
    if (!x) throw Errors.badRequest(`${field}: media ${mediaId} does not exist`, field);
    if (x.status !== 'ready') throw Errors.badRequest(`${field}: media ${mediaId} is ${x.status}${x.status === 'failed' ? ` (${x.reason})` : ', not ready yet'}`, field);
    if (x.retiredAt !== null) throw Errors.badRequest(`${field}: media ${mediaId} was retired`, field);
    return { media: mediaOf(x), source: { kind: 'media', mediaId } };
  }

  /** A file already on disk in the library's temp folder (an upload, or CAP audio written out); it is consumed. */
  async fromFile(file: string, o: { title: string; lang: string; actor: Actor; originalName: string | null; capMime?: string }): Promise<PreparedMessage> {
    const tools = this.library.mediaTools();
    if (!('tools' in tools)) {
      fs.rmSync(file, { force: true });
      throw Errors.unavailable(`cannot process audio: ${tools.missing}`);
    }
    const input: SubmitInput = {
      meta: { title: o.title, lang: o.lang, tags: ['alert'] },
      origin: 'upload',
      originalName: o.originalName,
      source: o.capMime ? { capResource: o.capMime } : undefined,
      actor: o.actor,
      input: file,
    };
    const item = await this.finish(this.library.submit(input));
    return {
      media: mediaOf(item),
      source: o.capMime ? { kind: 'cap_audio', mediaId: item.id, mimeType: o.capMime } : { kind: 'upload', mediaId: item.id, originalName: o.originalName },
    };
  }

  async fromText(text: string, o: { title: string; lang: string; voice?: string; actor: Actor; field?: string }): Promise<PreparedMessage> {
    const field = o.field ?? 'message.text';
    const a = this.tts.available();
    if (!a.ok) throw Errors.unavailable(a.reason);
    const tools = this.library.mediaTools();
    if (!('tools' in tools)) throw Errors.unavailable(`cannot process audio: ${tools.missing}`);
    const clean = text.normalize('NFC').trim();
    if (!clean) throw Errors.badRequest(`${field}: there is no text to speak`, field);
    const lang = normaliseLanguageTag(o.lang);
    if (!lang) throw Errors.badRequest(`${field}: "${o.lang}" is not a BCP 47 language tag`, 'message.lang');
    const voice = pickVoice(await this.tts.voices(), lang, o.voice);
    if (typeof voice === 'string') throw new LoanetError('LOANET_TTS_NO_VOICE', 422, voice);
    const input: SubmitInput = {
      meta: { title: o.title, lang, tags: ['alert'] },
      origin: 'tts',
      transcript: clean,
      tts: { engine: this.tts.name, voice: voice.id, rate: null },
      actor: o.actor,
      inputStage: 'synthesizing',
      input: async (signal) => (await this.tts.synthesize(clean, { lang, voice: voice.id }, this.library.tmpDir, signal)).file,
    };
    const item = await this.finish(this.library.submit(input));
    return { media: mediaOf(item), source: { kind: 'tts', mediaId: item.id, text: clean, lang } };
  }

  tempPath(suffix: string): string {
    return this.library.tempPath(suffix);
  }

  private async finish(job: JobView): Promise<MediaItem> {
    const x = await this.library.settle(job.id, MESSAGE_WAIT_MS);
    if (!x) throw Errors.notFound(`media ${job.id}`);
    if (x.status === 'ready') return x;
    if (x.status === 'failed') throw new LoanetError(x.code ?? 'LOANET_MEDIA_FAILED', x.statusCode ?? 422, `the alert's audio: ${x.reason ?? 'processing failed'}`);
    throw Errors.unavailable(`the alert's audio (media ${x.id}) is still being processed after ${MESSAGE_WAIT_MS / 1000} s; try again with message.mediaId=${x.id} once it is ready`);
  }
}
