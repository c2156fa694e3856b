/** The pure parts of the media library: ffmpeg output, silence and damage rules, Range, language tags, .docx text, voices, tool lookup, configuration. */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import {
  damageReports,
  fmtDuration,
  gainFor,
  isSilent,
  lastError,
  looksTruncated,
  normaliseChain,
  parseLoudnorm,
  progressSeconds,
  summarizeProbe,
} from '../../server/media/analysis.ts';
import { parseRange } from '../../server/media/range.ts';
import { normaliseLanguageTag, primaryLanguage } from '../../server/media/languages.ts';
import { docxText, documentXmlText } from '../../server/media/docx.ts';
import { parseVoices, pickVoice } from '../../server/media/tts/espeak.ts';
import { findMediaTools } from '../../server/media/tools.ts';
import { loadConfig } from '../../server/config.ts';

// Captured from ffmpeg 5.1 (Debian 12) runs.
const LOUDNORM_SINE = `[Parsed_loudnorm_1 @ 0x55d73cc8f200] [info] 
{
	"input_i" : "-21.75",
	"input_tp" : "-18.06",
	"input_lra" : "0.00",
	"input_thresh" : "-31.75",
	"output_i" : "-15.95",
	"output_tp" : "-12.27",
	"output_lra" : "0.00",
	"output_thresh" : "-25.95",
	"normalization_type" : "dynamic",
	"target_offset" : "-0.05"
}`;
const LOUDNORM_SILENCE = LOUDNORM_SINE.replace('"-21.75"', '"-inf"').replace('"-18.06"', '"-inf"');

describe('loudness and silence', () => {
  it("reads loudnorm's measurement, -inf included", () => {
    expect(parseLoudnorm(`noise before\n${LOUDNORM_SINE}\nsize=N/A`)).toEqual({ i: -21.75, tp: -18.06, lra: 0, thresh: -31.75 });
    expect(parseLoudnorm(LOUDNORM_SILENCE)).toMatchObject({ i: -Infinity, tp: -Infinity });
    expect(parseLoudnorm('no json here')).toBeUndefined();
  });
  it('calls silent what is below -70 LUFS or peaks below -60 dBTP', () => {
    expect(isSilent({ i: -Infinity, tp: -Infinity, lra: 0, thresh: -70 })).toBe(true);
    expect(isSilent({ i: -72, tp: -40, lra: 0, thresh: -82 })).toBe(true);
    expect(isSilent({ i: -50, tp: -61, lra: 0, thresh: -60 })).toBe(true);
    expect(isSilent({ i: -45, tp: -20, lra: 3, thresh: -55 })).toBe(false);
  });
  it('gains linearly to the target, limited at -2.5 dBFS', () => {
    expect(gainFor(-16, -21.75)).toBeCloseTo(5.75);
    expect(normaliseChain(5.75)).toMatch(/volume=5\.75dB,alimiter=limit=0\.7499/);
  });
});

describe('damage', () => {
  it('picks the complaints that mean a broken file, not harmless notes', () => {
    const stderr = [
      '[wav @ 0x561e013ae900] [warning] Packet corrupt (stream = 0, dts = NOPTS).',
      '[wav @ 0x561e013ae900] [warning] Estimating duration from bitrate, this may be inaccurate',
      '[info] Guessed Channel Layout for Input Stream #0.0 : mono',
      '[mp3 @ 0x5] [warning] filesize and duration do not match (growing file?)',
    ].join('\n');
    expect(damageReports(stderr)).toEqual(['Packet corrupt (stream = 0, dts = NOPTS).', 'filesize and duration do not match (growing file?)']);
    expect(damageReports('[info] Packet corrupt but only informational')).toEqual([]);
  });
  it('calls truncated a file that decodes clearly shorter than its header says', () => {
    expect(looksTruncated(3.03, 2.46)).toBe(true);
    expect(looksTruncated(3.03, 3.0)).toBe(false);
    expect(looksTruncated(3600, 3590)).toBe(false);
    expect(looksTruncated(3600, 3400)).toBe(true);
    expect(looksTruncated(undefined, 1)).toBe(false);
  });
  it('takes the last meaningful line of an error output', () => {
    expect(lastError('[mp3 @ 0x55b9e4ffa9c0] Failed to read frame size: Could not seek to 31023.\n/tmp/x/rand.mp3: Invalid argument\n')).toBe('Invalid argument');
  });
  it('summarises a probe: first audio stream, declared duration, every stream', () => {
    const s = summarizeProbe({
      streams: [
        { index: 0, codec_type: 'video', codec_name: 'mpeg4' },
        { index: 1, codec_type: 'audio', codec_name: 'aac', sample_rate: '44100', channels: 2, duration: '3.02' },
      ],
      format: { format_name: 'mov,mp4', duration: '3.1' },
    });
    expect(s).toEqual({ format: 'mov,mp4', declaredDurationS: 3.02, audio: { codec: 'aac', sampleRate: 44100, channels: 2 }, streams: 'video (mpeg4), audio (aac)' });
    expect(summarizeProbe({ streams: [{ index: 0, codec_type: 'video', codec_name: 'png' }], format: { duration: 'N/A' } })).toMatchObject({
      audio: undefined,
      declaredDurationS: undefined,
      streams: 'video (png)',
    });
  });
  it('reads progress lines in microseconds (out_time_ms is microseconds too)', () => {
    expect(progressSeconds('out_time_us=1500000')).toBe(1.5);
    expect(progressSeconds('out_time_ms=2000000')).toBe(2);
    expect(progressSeconds('progress=continue')).toBeUndefined();
    expect(fmtDuration(3)).toBe('3.0 s');
    expect(fmtDuration(3725)).toBe('1 h 2 min 5 s');
  });
});

describe('HTTP Range', () => {
  it('answers single byte ranges, suffixes and open ends; refuses past the end; ignores what it does not understand', () => {
    expect(parseRange(undefined, 100)).toEqual({ kind: 'whole' });
    expect(parseRange('bytes=0-9', 100)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ kind: 'partial', start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ kind: 'partial', start: 0, end: 99 });
    expect(parseRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-1,5-9', 100)).toEqual({ kind: 'whole' });
    expect(parseRange('items=0-9', 100)).toEqual({ kind: 'whole' });
    expect(parseRange('bytes=9-0', 100)).toEqual({ kind: 'whole' });
  });
});

describe('language tags', () => {
  it('accepts well-formed BCP 47 tags in canonical case and refuses others', () => {
    expect(normaliseLanguageTag('vi')).toBe('vi');
    expect(normaliseLanguageTag('VI-vn')).toBe('vi-VN');
    expect(normaliseLanguageTag('hmn')).toBe('hmn');
    expect(normaliseLanguageTag('ium')).toBe('ium');
    expect(normaliseLanguageTag('vi_VN')).toBe('vi-VN');
    expect(normaliseLanguageTag('zh-hant-tw')).toBe('zh-Hant-TW');
    expect(normaliseLanguageTag('vi-vn-x-south')).toBe('vi-VN-x-south');
    expect(normaliseLanguageTag('Vietnamese!')).toBeUndefined();
    expect(normaliseLanguageTag('')).toBeUndefined();
    expect(normaliseLanguageTag('v')).toBeUndefined();
    expect(primaryLanguage('vi-VN')).toBe('vi');
  });
});

describe('.docx text', () => {
  it('reads <w:t> runs, one paragraph per <w:p>, tabs and breaks; skips deleted text and field codes', () => {
    const xml =
      '<w:body><w:p><w:r><w:t>Thông</w:t></w:r><w:r><w:t xml:space="preserve"> báo</w:t></w:r></w:p><w:p/><w:p><w:r><w:t>A</w:t><w:tab/><w:t>B</w:t><w:br/><w:t>C &amp; D &#x1EA0;</w:t></w:r><w:del><w:r><w:delText>xoá</w:delText></w:r></w:del><w:r><w:instrText>PAGE</w:instrText></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>ô</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body>';
    expect(documentXmlText(xml)).toBe('Thông báo\n\nA B\nC & D Ạ\n\nô');
  });
  it('opens the zip and refuses what is not a .docx', () => {
    const docx = zipSync({ 'word/document.xml': strToU8('<w:p><w:r><w:t>Xin chào</w:t></w:r></w:p>') });
    expect(docxText(docx)).toBe('Xin chào');
    expect(() => docxText(new Uint8Array())).toThrow(/empty/);
    expect(() => docxText(strToU8('{\\rtf1 not a docx}'))).toThrow(/not a zip file/);
    expect(() => docxText(zipSync({ 'other.xml': strToU8('<x/>') }))).toThrow(/no word\/document.xml/);
  });
});

describe('espeak-ng voices', () => {
  const out = `Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  vi              --/M      Vietnamese_(Northern) aav/vi
 5  vi-vn-x-central --/M      Vietnamese_(Central) aav/vi-VN-x-central
 5  vi-vn-x-south   --/M      Vietnamese_(Southern) aav/vi-VN-x-south
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
`;
  const voices = parseVoices(out);
  it('parses the voice list', () => {
    expect(voices.map((v) => v.id)).toEqual(['vi', 'vi-vn-x-central', 'vi-vn-x-south', 'en-gb']);
    expect(voices[0]!.name).toBe('Vietnamese (Northern)');
  });
  it('picks the voice of the language, or the one named if it speaks it', () => {
    expect(pickVoice(voices, 'vi')).toMatchObject({ id: 'vi' });
    expect(pickVoice(voices, 'vi-VN')).toMatchObject({ id: 'vi' });
    expect(pickVoice(voices, 'vi', 'vi-vn-x-south')).toMatchObject({ id: 'vi-vn-x-south' });
    expect(pickVoice(voices, 'vi', 'en-gb')).toBe('voice "en-gb" speaks en-gb, not vi');
    expect(pickVoice(voices, 'vi', 'nope')).toMatch(/no voice "nope"; voices for vi: vi, vi-vn-x-central, vi-vn-x-south/);
    expect(pickVoice(voices, 'hmn')).toMatch(/no voice for hmn/);
  });
});

describe('finding ffmpeg', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-tools-'));
  const exe = (name: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    return p;
  };
  it('takes LOANET_FFMPEG/LOANET_FFPROBE first, then PATH; a wrong configured path is reported, not replaced', () => {
    const ffmpeg = exe('ffmpeg');
    const ffprobe = exe('ffprobe');
    expect(findMediaTools({ ffmpegPath: ffmpeg, ffprobePath: ffprobe, envPath: '' })).toEqual({
      tools: { ffmpeg: { path: ffmpeg, source: 'env' }, ffprobe: { path: ffprobe, source: 'env' } },
    });
    expect(findMediaTools({ envPath: dir, usePackages: false })).toEqual({ tools: { ffmpeg: { path: ffmpeg, source: 'path' }, ffprobe: { path: ffprobe, source: 'path' } } });
    const wrong = findMediaTools({ ffmpegPath: '/nonexistent/ffmpeg', envPath: dir });
    expect(wrong).toEqual({ missing: expect.stringMatching(/^LOANET_FFMPEG=\/nonexistent\/ffmpeg is not an executable file: install ffmpeg \(apt-get install ffmpeg\)/) });
    const none = findMediaTools({ envPath: '/nonexistent', usePackages: false });
    expect(none).toEqual({ missing: expect.stringMatching(/ffmpeg not found on PATH.*ffprobe not found on PATH.*apt-get install ffmpeg/) });
  });
  it('falls back to the npm installer packages when they are installed', () => {
    const r = findMediaTools({ envPath: '/nonexistent' });
    if ('missing' in r) return; // optional dependencies not installed on this machine
    expect(r.tools.ffmpeg.source).toBe('package');
    expect(r.tools.ffmpeg.path).toMatch(/@ffmpeg-installer/);
    expect(r.tools.ffprobe.path).toMatch(/@ffprobe-installer/);
  });
});

describe('media configuration', () => {
  it('has the documented defaults and reads its variables', () => {
    expect(loadConfig({}).media).toEqual({
      maxBytes: 200 * 1024 * 1024,
      maxDurationS: 10800,
      bitrateKbps: 24,
      loudnessLufs: -16,
      ffmpegPath: undefined,
      ffprobePath: undefined,
      espeakPath: 'espeak-ng',
      queueMax: 8,
    });
    const c = loadConfig({
      LOANET_MEDIA_MAX_MB: '5',
      LOANET_MEDIA_MAX_DURATION_S: '60',
      LOANET_MEDIA_BITRATE_KBPS: '32',
      LOANET_LOUDNESS_LUFS: '-23',
      LOANET_FFMPEG: '/opt/ffmpeg',
      LOANET_FFPROBE: '/opt/ffprobe',
      LOANET_ESPEAK: '/opt/espeak-ng',
    });
    expect(c.media).toEqual({
      maxBytes: 5 * 1024 * 1024,
      maxDurationS: 60,
      bitrateKbps: 32,
      loudnessLufs: -23,
      ffmpegPath: '/opt/ffmpeg',
      ffprobePath: '/opt/ffprobe',
      espeakPath: '/opt/espeak-ng',
      queueMax: 8,
    });
  });
  it('refuses invalid values naming the variable', () => {
    expect(() => loadConfig({ LOANET_LOUDNESS_LUFS: '-3' })).toThrow(/^LOANET_LOUDNESS_LUFS=-3 is out of range/);
    expect(() => loadConfig({ LOANET_MEDIA_MAX_MB: 'lots' })).toThrow(/LOANET_MEDIA_MAX_MB="lots" is not a whole number/);
    expect(() => loadConfig({ LOANET_MEDIA_BITRATE_KBPS: '2' })).toThrow(/LOANET_MEDIA_BITRATE_KBPS/);
  });
});
