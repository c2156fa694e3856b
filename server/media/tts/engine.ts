/**
 * Text to speech behind one interface, so a better Vietnamese engine (a
 * neural voice, a vendor service) can replace espeak-ng without touching the
 * library or the API. An engine writes a WAV file; the ingest pipeline does
 * the rest (loudness, Opus) exactly as for an upload.
 */
import { fail, type LoanetError } from '../../errors.ts';

export interface TtsVoice {
  /** What `voice` takes, e.g. `vi-vn-x-south`. */
  id: string;
  /** BCP 47 tag of the language it speaks. */
  lang: string;
  name: string;
}

export interface TtsOptions {
  lang: string;
  voice?: string | undefined;
  /** Words per minute. */
  rate?: number | undefined;
}

export interface TtsEngine {
  readonly name: string;
  /** Whether the engine can run here, and if not what to install. */
  available(): { ok: true } | { ok: false; reason: string };
  voices(): Promise<TtsVoice[]>;
  /** Speak `text` into a new WAV file in `dir`; answers its path and the voice used. */
  synthesize(text: string, o: TtsOptions, dir: string, signal?: AbortSignal): Promise<{ file: string; voice: string; rate: number }>;
}

/** Speech rate for outdoor loudspeakers: slower than conversation, because echo between valleys smears fast speech. */
export const DEFAULT_RATE_WPM = 145;
export const RATE_RANGE = { min: 80, max: 300 } as const;
/** Longest text accepted for one item (characters): about an hour of speech. */
export const MAX_TEXT_CHARS = 50_000;

/**
 * The refusal of a text too long to speak as one item, whatever it came from
 * (typed text, a .docx): names the field and the limit. `length` is null when
 * counting stopped as soon as the limit was passed.
 */
export function speechTextTooLong(field: string, length: number | null, limit = MAX_TEXT_CHARS): LoanetError {
  const what = length === null ? `more than ${limit.toLocaleString('en')}` : length.toLocaleString('en');
  return fail('LOANET_TTS_TEXT_TOO_LONG', { field, length: what, limit }, { limit, ...(length === null ? {} : { length }) });
}

/** The one length check of every text to speak; throws `speechTextTooLong`. */
export function checkSpeechText(text: string, field = 'text'): void {
  if (text.length > MAX_TEXT_CHARS) throw speechTextTooLong(field, text.length);
}

export const NO_ENGINE = 'no text-to-speech engine: install espeak-ng (apt-get install espeak-ng), or set LOANET_ESPEAK to its binary';
