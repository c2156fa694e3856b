/**
 * espeak-ng (Debian package espeak-ng): formant synthesis, robotic but
 * intelligible, with three Vietnamese voices (`vi` northern, `vi-vn-x-central`,
 * `vi-vn-x-south`) that read full diacritics. The text goes in a UTF-8 file,
 * never on a command line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run, which } from '../tools.ts';
import { MediaRejected } from '../analysis.ts';
import { primaryLanguage } from '../languages.ts';
import { voiceForLanguage, voiceSpeaks } from './voice-choice.ts';
import { DEFAULT_RATE_WPM, NO_ENGINE, type TtsEngine, type TtsOptions, type TtsVoice } from './engine.ts';

/** One line of `espeak-ng --voices`: " 5  vi-vn-x-south   --/M      Vietnamese_(Southern) aav/vi-VN-x-south". */
export function parseVoices(out: string): TtsVoice[] {
  const voices: TtsVoice[] = [];
  for (const line of out.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^\d+$/.test(cols[0]!)) continue;
    voices.push({ id: cols[1]!, lang: cols[1]!, name: cols[3]!.replace(/_/g, ' ') });
  }
  return voices;
}

/**
 * The voice for a language: the one named (it must speak that language), else
 * the installed voice for the tag by BCP 47 fallback (voice-choice.ts: zh-TW →
 * cmn, zh-HK → yue, es-MX → es-419, en-AU → en-gb, pt-BR → pt-br…).
 */
export function pickVoice(voices: readonly TtsVoice[], lang: string, voice?: string): TtsVoice | string {
  const primary = primaryLanguage(lang);
  if (voice) {
    const v = voices.find((x) => x.id.toLowerCase() === voice.toLowerCase());
    if (!v)
      return `no voice "${voice}"; voices for ${primary}: ${
        voices
          .filter((x) => primaryLanguage(x.lang) === primary || voiceSpeaks(x, lang))
          .map((x) => x.id)
          .join(', ') || 'none'
      }`;
    if (!voiceSpeaks(v, lang)) return `voice "${voice}" speaks ${v.lang}, not ${lang}`;
    return v;
  }
  return voiceForLanguage(voices, lang) ?? `espeak-ng has no voice for ${lang}: record the bulletin and upload it instead`;
}

export class EspeakEngine implements TtsEngine {
  readonly name = 'espeak-ng';
  private cached: TtsVoice[] | undefined;

  constructor(private readonly binary: string) {}

  private path(): string | undefined {
    return which(this.binary);
  }

  available(): { ok: true } | { ok: false; reason: string } {
    return this.path() ? { ok: true } : { ok: false, reason: NO_ENGINE };
  }

  async voices(): Promise<TtsVoice[]> {
    if (this.cached) return this.cached;
    const bin = this.path();
    if (!bin) throw new MediaRejected('LOANET_TTS_UNAVAILABLE', 503, NO_ENGINE);
    const r = await run(bin, ['--voices'], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`espeak-ng --voices failed: ${r.stderr.trim().slice(0, 200)}`);
    this.cached = parseVoices(r.stdout);
    return this.cached;
  }

  async synthesize(text: string, o: TtsOptions, dir: string, signal?: AbortSignal): Promise<{ file: string; voice: string; rate: number }> {
    const bin = this.path();
    if (!bin) throw new MediaRejected('LOANET_TTS_UNAVAILABLE', 503, NO_ENGINE);
    const voice = pickVoice(await this.voices(), o.lang, o.voice);
    if (typeof voice === 'string') throw new MediaRejected('LOANET_TTS_NO_VOICE', 422, voice);
    const rate = o.rate ?? DEFAULT_RATE_WPM;
    const base = path.join(dir, `tts-${randomBytes(6).toString('hex')}`);
    const txt = `${base}.txt`;
    const wav = `${base}.wav`;
    fs.writeFileSync(txt, text, 'utf8');
    try {
      // -b 1: the input is UTF-8; -w: write a WAV file instead of playing.
      const r = await run(bin, ['-v', voice.id, '-s', String(rate), '-b', '1', '-f', txt, '-w', wav], { signal, timeoutMs: 10 * 60_000 });
      if (r.code !== 0 || !fs.existsSync(wav) || fs.statSync(wav).size <= 44) {
        throw new Error(`espeak-ng failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().slice(0, 200)}`);
      }
      return { file: wav, voice: voice.id, rate };
    } catch (e) {
      fs.rmSync(wav, { force: true });
      throw e;
    } finally {
      fs.rmSync(txt, { force: true });
    }
  }
}
