import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fallbackLanguage, chooseSpeech } from '../../server/alerts/cap/speech.ts';
import type { CapAlert, CapInfo } from '../../server/alerts/cap/model.ts';
import { parseVoices, pickVoice } from '../../server/media/tts/espeak.ts';
import { ESPEAK_NG_VOICES, ESPEAK_NG_VOICE_IDS, voiceCandidates, voiceForLanguage } from '../../server/media/tts/voice-choice.ts';
import { haveTools } from '../helpers/require-tool.ts';

const idFor = (tag: string) => voiceForLanguage(ESPEAK_NG_VOICES, tag)?.id;

describe("CAP language tags → espeak-ng's voices (BCP 47 fallback)", () => {
  it.each([
    ['zh-TW', 'cmn'],
    ['zh-Hant-TW', 'cmn'],
    ['zh-CN', 'cmn'],
    ['zh', 'cmn'],
    ['zh-Hans', 'cmn'],
    ['zh-HK', 'yue'],
    ['zh-Hant-HK', 'yue'],
    ['yue', 'yue'],
    ['cmn-Latn', 'cmn-latn-pinyin'],
    ['es-MX', 'es-419'],
    ['es-SV', 'es-419'],
    ['es-ES', 'es'],
    ['es', 'es'],
    ['en-US', 'en-us'],
    ['en', 'en-us'],
    ['en-AU', 'en-gb'],
    ['en-CA', 'en-us'],
    ['en-JM', 'en-029'],
    ['en-PH', 'en-us'],
    ['pt-BR', 'pt-br'],
    ['pt-PT', 'pt'],
    ['fr-CA', 'fr-fr'],
    ['fr-CH', 'fr-ch'],
    ['fr', 'fr-fr'],
    ['is-IS', 'is'],
    ['sv-SE', 'sv'],
    ['de-DE', 'de'],
    ['no', 'nb'],
    ['nb-NO', 'nb'],
    ['iw', 'he'],
    ['vi', 'vi'],
    ['vi-VN', 'vi'],
    ['VI-vn', 'vi'],
    ['ja-JP', 'ja'],
    ['ko-KR', 'ko'],
    ['ru_RU', 'ru'],
  ])('%s is spoken by %s', (tag, voice) => {
    expect(idFor(tag)).toBe(voice);
  });

  it('a language espeak-ng does not speak has no voice (Filipino, Hmong, Tày)', () => {
    for (const tag of ['fil-PH', 'tl', 'hmn', 'tyz', 'x-unknown']) expect(idFor(tag), tag).toBeUndefined();
    expect(voiceCandidates('zh-TW')[1]).toBe('cmn');
  });

  it('pickVoice, as bulletins and alerts use it, takes the same fallback and lets a named voice of the language through', () => {
    expect(pickVoice(ESPEAK_NG_VOICES, 'zh-TW')).toMatchObject({ id: 'cmn' });
    expect(pickVoice(ESPEAK_NG_VOICES, 'zh-HK', 'yue')).toMatchObject({ id: 'yue' });
    expect(pickVoice(ESPEAK_NG_VOICES, 'vi', 'en-gb')).toBe('voice "en-gb" speaks en-gb, not vi');
    expect(pickVoice(ESPEAK_NG_VOICES, 'fil')).toMatch(/no voice for fil/);
  });

  it.skipIf(!haveTools('espeak-ng'))('the table is the installed espeak-ng, voice for voice', () => {
    const installed = [...new Set(parseVoices(execFileSync('espeak-ng', ['--voices'], { encoding: 'utf8' })).map((v) => v.id))].sort();
    expect([...ESPEAK_NG_VOICE_IDS].sort()).toEqual(installed);
  });
});

describe('an alert in a language without a voice is still spoken', () => {
  const has = (l: string) => idFor(l) !== undefined;
  const info = (language: string, headline: string): CapInfo => ({
    language,
    category: ['Met'],
    event: 'x',
    responseType: [],
    urgency: 'Immediate',
    severity: 'Severe',
    certainty: 'Likely',
    eventCode: [],
    parameter: [],
    resource: [],
    area: [],
    headline,
  });
  const alert = (...infos: CapInfo[]): CapAlert => ({
    identifier: 'i',
    sender: 's',
    sent: '2025-01-01T00:00:00+07:00',
    status: 'Actual',
    msgType: 'Alert',
    scope: 'Public',
    code: [],
    references: [],
    info: infos,
  });

  it('Filipino text in Latin letters is spoken with the English voice, and the note says so', () => {
    const s = chooseSpeech(alert(info('fil-PH', 'Babala sa bagyo sa Luzon')), has);
    expect(s).toMatchObject({ kind: 'tts', lang: 'en', text: 'Babala sa bagyo sa Luzon' });
    expect(s.kind === 'tts' && s.notes.join(' ')).toContain('no text-to-speech voice for fil-PH: the text is spoken with the en voice');
  });

  it('an info in a language with a voice is preferred to one without; Vietnamese first of all', () => {
    expect(chooseSpeech(alert(info('fil-PH', 'Babala'), info('en-PH', 'Warning')), has)).toMatchObject({ lang: 'en-PH', text: 'Warning' });
    expect(chooseSpeech(alert(info('en-US', 'Warning'), info('vi-VN', 'Cảnh báo')), has)).toMatchObject({ lang: 'vi-VN' });
    expect(chooseSpeech(alert(info('zh-TW', '豪雨特報')), has)).toMatchObject({ lang: 'zh-TW', notes: [] });
  });

  it('text not in Latin letters falls back to Vietnamese', () => {
    expect(fallbackLanguage('ᎠᏍᎦᏯ ᏧᏂᎸᏫᏍᏓᏁᏗ', has)).toBe('vi');
    expect(fallbackLanguage('Babala sa bagyo', has)).toBe('en');
  });
});
