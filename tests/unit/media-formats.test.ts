/**
 * What ffmpeg may read of an upload (server/media/analysis.ts): the accepted
 * demuxers, the input options that pin the protocol and the demuxer, and the
 * format named when ffmpeg refused one.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ACCEPTED_FORMATS, Rejections, acceptedDemuxer, inputArgs, lastError, refusedFormat } from '../../server/media/analysis.ts';

describe('accepted demuxers', () => {
  it('maps ffprobe format names to the accepted demuxer, and nothing else', () => {
    expect(acceptedDemuxer('mov,mp4,m4a,3gp,3g2,mj2')).toBe('mov');
    expect(acceptedDemuxer('matroska,webm')).toBe('matroska');
    for (const f of ['mp3', 'wav', 'ogg', 'aac', 'flac']) expect(acceptedDemuxer(f)).toBe(f);
    for (const f of ['hls', 'concat', 'image2', 'png_pipe', 'dash', 'sdp', 'rtp', 'imf', 'mpegts', 'avi', 'lavfi', 'tee', '', 'mp3x', 'MP3', 'mov ', 'webm']) {
      expect(acceptedDemuxer(f), f).toBeUndefined();
    }
  });

  it('property: a format name is accepted exactly when one of its comma-separated names is an accepted demuxer', () => {
    const names = fc.constantFrom('mp3', 'wav', 'ogg', 'matroska', 'mov', 'aac', 'flac', 'hls', 'concat', 'image2', 'mp4', 'webm', 'dash', 'applehttp', 'm4a');
    fc.assert(
      fc.property(fc.array(fc.oneof(names, fc.stringMatching(/^[a-z0-9_]{0,8}$/)), { minLength: 1, maxLength: 6 }), (parts) => {
        const accepted = ACCEPTED_FORMATS.map((f) => f.demuxer as string);
        const got = acceptedDemuxer(parts.join(','));
        expect(got).toBe(parts.find((p) => accepted.includes(p)));
      }),
    );
  });
});

describe('input options', () => {
  it('reads the path with the file protocol only, the accepted demuxers only, MP4 external references off', () => {
    expect(inputArgs('/data/media/tmp/x.upload')).toEqual([
      '-protocol_whitelist',
      'file',
      '-format_whitelist',
      'mp3,wav,ogg,matroska,mov,aac,flac',
      '-enable_drefs',
      '0',
      '-i',
      'file:/data/media/tmp/x.upload',
    ]);
    expect(inputArgs('/d/a.opus', 'ogg')).toEqual(['-protocol_whitelist', 'file', '-format_whitelist', 'ogg', '-f', 'ogg', '-i', 'file:/d/a.opus']);
    expect(inputArgs('/d/a.m4a', 'mov')).toEqual(['-protocol_whitelist', 'file', '-format_whitelist', 'mov', '-f', 'mov', '-enable_drefs', '0', '-i', 'file:/d/a.m4a']);
  });

  it('a path that looks like a URL or a protocol chain stays a file name', () => {
    for (const p of ['subfile,,start,0,end,0,,:/etc/passwd', 'concat:/a|/b', 'http://127.0.0.1/', 'pipe:0']) {
      expect(inputArgs(p).at(-1)).toBe(`file:${p}`);
    }
  });
});

describe('the refused format', () => {
  it("is read from ffmpeg's complaint, whatever else is around it", () => {
    expect(refusedFormat("[hls @ 0x55e2d6536280] Format not on whitelist 'mp3,wav,ogg,matroska,mov,aac,flac'\nfile:/tmp/x: Invalid argument\n")).toBe('hls');
    expect(refusedFormat("[png_pipe @ 0x5561e49ff280] Format not on whitelist 'mp3'")).toBe('png_pipe');
    expect(refusedFormat('Format not on whitelist')).toBe('unknown');
    expect(refusedFormat('file:/tmp/x: Invalid data found when processing input')).toBeUndefined();
  });

  it('is named in a 415 that lists what to send instead', () => {
    const r = Rejections.format('hls');
    expect(r).toMatchObject({ code: 'LOANET_MEDIA_FORMAT', statusCode: 415 });
    expect(r.message).toBe('the file is "hls" loanet does not accept; upload MP3, WAV, Ogg (Opus, Vorbis), WebM/MKV, MP4/M4A/MOV/3GP, AAC (ADTS), FLAC');
    expect(Rejections.format('unknown').message).toMatch(/^the file is in a format loanet does not accept/);
  });

  it('the error shown for an unreadable file does not carry the temp path', () => {
    expect(lastError('file:/srv/loanet/data/media/tmp/abc.upload: Invalid data found when processing input\n')).toBe('Invalid data found when processing input');
  });
});
