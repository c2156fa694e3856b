/**
 * A CAP alert in several languages, pure: the Vietnamese `<info>` is the
 * message; every other language's first `<info>` becomes a version of it
 * (its audio, else its text where a voice exists, else missing, never a
 * refusal), and another language's audio is never taken for the message.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CapAlert } from '../../server/alerts/cap/model.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { chooseSpeech, chooseVersions, languageOf, pickInfo } from '../../server/alerts/cap/speech.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cap');
function load(name: string, edit: (s: string) => string = (s) => s): CapAlert {
  const r = parseCap(edit(readFileSync(path.join(FIXTURES, name), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.alert;
}
/** The voices of espeak-ng that matter here: Vietnamese and English, none for H'Mông or Dao. */
const hasVoice = (lang: string) => ['vi', 'en'].includes(languageOf(lang) ?? '');

describe('a CAP alert in several languages', () => {
  const cap = load('vn-lu-quet-bat-xat-ngon-ngu.xml');

  it('speaks the Vietnamese info as the message, not the H\u2019Mông audio', () => {
    const main = pickInfo(cap, hasVoice)!;
    expect(main.language).toBe('vi-VN');
    const s = chooseSpeech(cap, hasVoice);
    expect(s).toMatchObject({ kind: 'tts', lang: 'vi-VN' });
  });

  it('makes the H\u2019Mông info a version from its audio, and keeps Dao, which has neither audio nor a voice, as missing', () => {
    const notes: string[] = [];
    const v = chooseVersions(cap, pickInfo(cap, hasVoice)!, hasVoice, notes);
    expect(v.map((x) => [x.language, x.kind])).toEqual([
      ['hmn', 'audio'],
      ['ium', 'missing'],
    ]);
    const hmn = v[0]!;
    expect(hmn.kind === 'audio' && Buffer.from(hmn.bytes.subarray(0, 4)).toString('latin1')).toBe('RIFF');
    expect(v[1]!.kind === 'missing' && v[1]!.reason).toMatch(/no audio resource and there is no text-to-speech voice/);
    expect(notes).toEqual([]);
  });

  it('speaks an info without audio when its language has a voice', () => {
    const en = load('vn-lu-quet-bat-xat-ngon-ngu.xml', (s) => s.replace('<language>ium</language>', '<language>en-GB</language>'));
    const v = chooseVersions(en, pickInfo(en, hasVoice)!, hasVoice);
    expect(v[1]).toEqual({ language: 'en', kind: 'tts', lang: 'en-GB', text: 'Wuom ndoqv Bát Xát. Tiuv mingh gauv ndaamv.' });
  });

  it('an audio whose digest does not match is not used: the version falls back to its voice or goes missing', () => {
    const bad = load('vn-lu-quet-bat-xat-ngon-ngu.xml', (s) => s.replace('9e940dd10279464265efd168292b88c30825cbd0', '0'.repeat(40)));
    const notes: string[] = [];
    const v = chooseVersions(bad, pickInfo(bad, hasVoice)!, hasVoice, notes);
    expect(v[0]).toMatchObject({ language: 'hmn', kind: 'missing' });
    expect(notes.join(' ')).toMatch(/not used/);
  });

  it('one version per language (the first info in it), the message language never twice, tags reduced to their language', () => {
    const twice = load('vn-lu-quet-bat-xat-ngon-ngu.xml', (s) => s.replace('<language>ium</language>', '<language>HMN</language>'));
    expect(chooseVersions(twice, pickInfo(twice, hasVoice)!, hasVoice).map((x) => x.language)).toEqual(['hmn']);
    const vi = load('vn-lu-quet-bat-xat-ngon-ngu.xml', (s) => s.replace('<language>ium</language>', '<language>vi</language>'));
    expect(chooseVersions(vi, pickInfo(vi, hasVoice)!, hasVoice).map((x) => x.language)).toEqual(['hmn']);
  });

  it('a single-language alert has no versions', () => {
    const one = load('vn-lu-quet-bat-xat-alert.xml');
    expect(chooseVersions(one, pickInfo(one, hasVoice)!, hasVoice)).toEqual([]);
  });
});
