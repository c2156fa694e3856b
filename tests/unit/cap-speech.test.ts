import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CapAlert } from '../../server/alerts/cap/model.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { chooseSpeech } from '../../server/alerts/cap/speech.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cap');
function load(name: string, edit: (s: string) => string = (s) => s): CapAlert {
  const r = parseCap(edit(readFileSync(path.join(FIXTURES, name), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.alert;
}

describe('what to play for a CAP alert', () => {
  it('an IPAWS message with an embedded MP3 plays that audio', () => {
    const s = chooseSpeech(load('ipaws-5e6dd964023f1930ef638846.xml'));
    expect(s.kind).toBe('audio');
    if (s.kind !== 'audio') return;
    expect(s.mimeType).toBe('audio/x-ipaws-audio-mp3');
    expect(Buffer.from(s.bytes.subarray(0, 3)).toString('latin1')).toBe('ID3');
    const s2 = chooseSpeech(load('ipaws-5ea321f39fc226a7b44b6874.xml'));
    expect(s2.kind === 'audio' && s2.bytes[0] === 0xff && (s2.bytes[1]! & 0xe0) === 0xe0).toBe(true);
  });

  it('audio whose digest does not match is not played: the text is spoken instead', () => {
    const s = chooseSpeech(load('ipaws-5e6ddbad023f1930ef6c1a5a.xml'));
    expect(s).toMatchObject({ kind: 'tts', lang: 'en-US', text: 'Required Monthly Test. This is an RMT of the Emergency Alert System. THIS IS ONLY A TEST - ESTO ES UNA PRUEBA' });
    expect(s.kind === 'tts' && s.notes[0]).toContain('does not match');
  });

  it('a JPEG resource is not audio', () => {
    expect(chooseSpeech(load('ipaws-5e7e0fc5023f1930efcf3deb.xml')).kind).toBe('tts');
  });

  it('Vietnamese text: headline + ". " + instruction', () => {
    expect(chooseSpeech(load('vn-lu-quet-bat-xat-alert.xml'))).toEqual({
      kind: 'tts',
      lang: 'vi-VN',
      notes: [],
      text: 'Cảnh báo khẩn cấp: nguy cơ lũ quét rất cao tại xã Bát Xát. Người dân ở ven suối và vùng trũng khẩn trương sơ tán lên vùng cao an toàn ngay. Không qua ngầm, tràn, suối đang có nước chảy xiết. Liên hệ Ủy ban nhân dân xã khi cần hỗ trợ.',
    });
  });

  it('description when there is no instruction; event when there is no headline', () => {
    const noInstr = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace(/<instruction>.*<\/instruction>/, ''));
    expect(chooseSpeech(noInstr)).toMatchObject({ kind: 'tts', text: expect.stringMatching(/xã Bát Xát\. Mưa lớn kéo dài/) });
    const bare = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace(/<(headline|instruction|description)>.*<\/\1>/g, ''));
    expect(chooseSpeech(bare)).toMatchObject({ kind: 'tts', text: 'Lũ quét' });
  });

  it('prefers the Vietnamese info, else the first', () => {
    const two = load('vn-lu-quet-bat-xat-alert.xml', (s) => {
      const info = /<info>[\s\S]*<\/info>/.exec(s)![0];
      const en = info.replace('<language>vi-VN</language>', '<language>en-US</language>').replace(/<headline>.*<\/headline>/, '<headline>Flash flood warning</headline>');
      return s.replace(info, en + info);
    });
    expect(chooseSpeech(two)).toMatchObject({ kind: 'tts', lang: 'vi-VN', text: expect.stringMatching(/^Cảnh báo khẩn cấp/) });
    expect(chooseSpeech(load('v1dot2_appendix_adot4.xml'))).toMatchObject({ kind: 'tts', lang: 'en-US', text: expect.stringMatching(/^Amber Alert in Los Angeles County\. DATE/) });
  });

  it('a Cancel without info has nothing to play', () => {
    expect(chooseSpeech(load('ipaws-5e6dd9de023f1930ef6548d9.xml'))).toEqual({ kind: 'none', reason: 'the alert has no <info>' });
  });
});
