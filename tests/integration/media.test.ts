/**
 * The media library end to end, with real ffmpeg, ffprobe and espeak-ng:
 * uploads become Ogg Opus mono 48 kHz at the loudness target, bad files are
 * refused with their reason and leave nothing behind, downloads resume with
 * Range, text and Word documents become speech, roles are enforced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import { startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { download, ffmpeg, libraryFiles, loudness, makeInputs, postMultipart, probe, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng');
const TARGET = -16;
const VI_TEXT = 'Thông báo khẩn: mưa lớn, đề phòng lũ quét và sạt lở đất';
/** The long upload that shows a job's progress, seconds of audio. */
const LONG_S = 60;

describe.skipIf(!canRun)('media library', () => {
  let t: TestServer;
  let input: (name: string) => string;
  const tokens: Record<string, string> = {};

  async function userToken(username: string, role: string, area?: string): Promise<string> {
    const r = await t.api('POST', '/api/users', { username, password: 'password-of-' + username, role, ...(area ? { area } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return (await t.api('POST', '/api/auth/login', { username, password: 'password-of-' + username }, { token: null })).body.token;
  }

  const rowCount = async () =>
    Number(
      (
        await t.server.ctx.store.db
          .selectFrom('media')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await startTestServer();
    input = makeInputs(tempDir('loanet-media-in-'));
    const areas = await t.api('POST', '/api/areas', { code: '99', name: 'Tỉnh thử', level: 'province' });
    expect(areas.status, JSON.stringify(areas.body)).toBe(201);
    await t.api('POST', '/api/areas', { code: '99001', name: 'Xã thử', level: 'commune', parent: '99' });
    tokens.operator = await userToken('op-commune', 'operator', '99001');
    tokens.technician = await userToken('tech', 'technician');
    tokens.viewer = await userToken('viewer', 'viewer');
  });
  afterAll(async () => t?.stop());

  let sine: any;

  it('turns a WAV into Ogg Opus mono 48 kHz at the loudness target, with duration and SHA-256', async () => {
    const r = await uploadFile(t, input('sine.wav'), { title: 'Sine 440', lang: 'vi', tags: 'test,tone' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    sine = r.body;
    expect(sine).toMatchObject({
      status: 'ready',
      title: 'Sine 440',
      lang: 'vi',
      tags: ['test', 'tone'],
      origin: 'upload',
      codec: 'opus',
      sampleRate: 48000,
      channels: 1,
      bitrateKbps: 24,
      createdBy: 'admin',
    });
    expect(sine.durationMs).toBeGreaterThan(2900);
    expect(sine.durationMs).toBeLessThan(3100);
    expect(sine.loudness.targetLufs).toBe(TARGET);
    expect(sine.loudness.inputLufs).toBeCloseTo(-21.7, 0);
    expect(Math.abs(sine.loudness.outputLufs - TARGET)).toBeLessThanOrEqual(0.5);

    // The stored file, probed and measured independently.
    const stored = path.join(t.dataDir, 'media', `${sine.sha256}.opus`);
    const p = probe(stored);
    expect(p.format.format_name).toBe('ogg');
    expect(p.streams).toHaveLength(1);
    expect(p.streams[0]).toMatchObject({ codec_type: 'audio', codec_name: 'opus', channels: 1, sample_rate: '48000' });
    expect(Math.abs(Number(p.format.duration) - 3)).toBeLessThan(0.1);
    const measured = loudness(stored);
    expect(Math.abs(measured.i - TARGET), `measured ${measured.i} LUFS`).toBeLessThanOrEqual(1);
    expect(measured.tp).toBeLessThanOrEqual(-1);

    // What is served is what was hashed.
    const got = await download(t, `/api/media/${sine.id}/audio`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('audio/ogg');
    expect(got.headers.get('accept-ranges')).toBe('bytes');
    expect(Number(got.headers.get('content-length'))).toBe(sine.bytes);
    expect(createHash('sha256').update(got.data).digest('hex')).toBe(sine.sha256);

    const audit = await t.api('GET', '/api/audit?action=media.');
    expect(audit.body.entries.some((e: any) => e.action === 'media.create' && e.target === sine.id)).toBe(true);
  });

  it('takes an MP3 (stereo), a video file (its audio track) and a WAV made by espeak-ng', async () => {
    const espeakWav = path.join(path.dirname(input('x')), 'espeak.wav');
    const { execFileSync } = await import('node:child_process');
    execFileSync('espeak-ng', ['-v', 'vi', '-w', espeakWav, VI_TEXT]);
    for (const [file, lang] of [
      ['sine.mp3', 'vi'],
      ['video.mp4', 'hmn'],
      ['espeak.wav', 'vi'],
    ] as const) {
      const r = await uploadFile(t, file === 'espeak.wav' ? espeakWav : input(file), { lang });
      expect(r.status, `${file}: ${JSON.stringify(r.body)}`).toBe(201);
      expect(r.body).toMatchObject({ codec: 'opus', channels: 1, sampleRate: 48000, lang, title: path.parse(file).name });
      const m = loudness(path.join(t.dataDir, 'media', `${r.body.sha256}.opus`));
      expect(Math.abs(m.i - TARGET), `${file}: ${m.i} LUFS`).toBeLessThanOrEqual(1);
    }
  });

  it('serves byte ranges: 206 with Content-Range, resumed pieces add up to the whole, 416 past the end', async () => {
    const url = `/api/media/${sine.id}/audio`;
    const whole = (await download(t, url)).data;
    const size = whole.length;
    const a = await download(t, url, { range: 'bytes=0-999' });
    expect(a.status).toBe(206);
    expect(a.headers.get('content-range')).toBe(`bytes 0-999/${size}`);
    expect(a.data.length).toBe(1000);
    // A dropped download resumes where it stopped, only if the file is still the same one.
    const b = await download(t, url, { range: `bytes=${a.data.length}-`, 'if-range': `"${sine.sha256}"` });
    expect(b.status).toBe(206);
    expect(b.headers.get('content-range')).toBe(`bytes 1000-${size - 1}/${size}`);
    expect(Buffer.concat([a.data, b.data]).equals(whole)).toBe(true);
    const tail = await download(t, url, { range: 'bytes=-100' });
    expect(tail.status).toBe(206);
    expect(tail.data.equals(whole.subarray(size - 100))).toBe(true);
    const past = await download(t, url, { range: `bytes=${size}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    const changed = await download(t, url, { range: 'bytes=0-9', 'if-range': '"another-file"' });
    expect(changed.status).toBe(200);
    expect(changed.data.length).toBe(size);
  });

  it('refuses empty, non-audio, damaged, truncated and silent files with the reason, leaving no file and no row', async () => {
    const before = { rows: await rowCount(), files: libraryFiles(t.dataDir).stored };
    const cases: Array<[string, number, string, RegExp]> = [
      ['empty.mp3', 422, 'LOANET_MEDIA_EMPTY', /empty/],
      ['text.mp3', 422, 'LOANET_MEDIA_NOT_AUDIO', /not an audio file/],
      // An image is not one of the accepted formats: refused by its format before anything else.
      ['image.png', 415, 'LOANET_MEDIA_FORMAT', /the file is "png_pipe" loanet does not accept; upload MP3, WAV/],
      ['truncated.mp3', 422, 'LOANET_MEDIA_DAMAGED', /damaged or truncated/],
      ['truncated.wav', 422, 'LOANET_MEDIA_DAMAGED', /damaged or truncated/],
      ['silent.wav', 422, 'LOANET_MEDIA_SILENT', /silent/],
    ];
    for (const [file, status, code, reason] of cases) {
      const r = await uploadFile(t, input(file));
      expect(r.status, `${file}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error, file).toBe(code);
      expect(r.body.message, file).toMatch(reason);
      // The refused job says the same when asked later.
      if (r.body.id) expect((await t.api('GET', `/api/media/${r.body.id}`)).body).toMatchObject({ status: 'failed', code, reason: r.body.message });
    }
    expect(await rowCount()).toBe(before.rows);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: before.files, tmp: [] });
  });

  it('refuses a request without a file, with a bad language tag, or not multipart', async () => {
    const noFile = await postMultipart(t, '/api/media', { title: 'x' });
    expect(noFile.status).toBe(400);
    expect(noFile.body.message).toMatch(/file: required/);
    const badLang = await uploadFile(t, input('sine.wav'), { lang: 'Vietnamese!' });
    expect(badLang.status).toBe(400);
    expect(badLang.body.message).toMatch(/BCP 47/);
    const json = await t.api('POST', '/api/media', { file: 'x' });
    expect(json.status).toBe(415);
    expect(libraryFiles(t.dataDir).tmp).toEqual([]);
  });

  it('answers 202 at once with waitMs=0 and reports progress until the item is ready', async () => {
    const long = path.join(path.dirname(input('x')), 'long.mp3');
    // A minute: long enough that a poll every 20 ms sees the job between its stages on any machine (each stage moves
    // the percent), short enough not to spend the suite's time encoding (240 s took 36 s of a loaded machine).
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=300:duration=${LONG_S}`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '32k', long);
    const started = Date.now();
    const r = await uploadFile(t, long, { title: 'Mười phút' }, { query: '?waitMs=0' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.headers.get('location')).toBe(`/api/media/${r.body.id}`);
    expect(r.body).toMatchObject({ status: 'processing', title: 'Mười phút' });
    const seen: number[] = [];
    const done = await waitFor(
      'ready',
      async () => {
        const g = (await t.api('GET', `/api/media/${r.body.id}`)).body;
        if (g.status === 'processing') seen.push(g.percent);
        return g.status === 'ready' ? g : g.status === 'failed' ? Promise.reject(new Error(g.reason)) : null;
      },
      120_000,
      20,
    );
    const elapsed = (Date.now() - started) / 1000;
    console.log(`ingest of ${LONG_S} s of audio: ${elapsed.toFixed(1)} s wall, ${(LONG_S / elapsed).toFixed(0)}× real time; progress seen: ${[...new Set(seen)].join(' ')}`);
    expect(done.durationMs).toBeGreaterThan(LONG_S * 1000 - 1000);
    expect(
      seen.some((p) => p > 0 && p < 100),
      `percents seen: ${seen.join(',')}`,
    ).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const listed = await t.api('GET', '/api/media?q=M%C6%B0%E1%BB%9Di');
    expect(listed.body.items.map((i: any) => i.id)).toEqual([r.body.id]);
    // The test's own bound covers its wait for the item (120 s): on a loaded machine 240 s of audio once took 104 s to ingest.
  }, 240_000);

  it('speaks Vietnamese text with the Vietnamese voice into a ready item of plausible length', async () => {
    const r = await t.api('POST', '/api/media/tts', { text: VI_TEXT, title: 'Cảnh báo lũ quét', lang: 'vi', tags: ['khẩn'] });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ status: 'ready', origin: 'tts', lang: 'vi', transcript: VI_TEXT, tts: { engine: 'espeak-ng', voice: 'vi' }, codec: 'opus' });
    // 13 words at 145 words a minute: about 5 s; silence or a skipped text would be far shorter.
    expect(r.body.durationMs).toBeGreaterThan(2500);
    expect(r.body.durationMs).toBeLessThan(12_000);
    const m = loudness(path.join(t.dataDir, 'media', `${r.body.sha256}.opus`));
    expect(Math.abs(m.i - TARGET), `${m.i} LUFS`).toBeLessThanOrEqual(1);
    const south = await t.api('POST', '/api/media/tts', { text: VI_TEXT, title: 'Miền Nam', voice: 'vi-vn-x-south', rate: 120 });
    expect(south.status).toBe(201);
    expect(south.body.tts).toMatchObject({ voice: 'vi-vn-x-south', rate: 120 });
    expect(south.body.durationMs).toBeGreaterThan(r.body.durationMs);
  });

  it('refuses a voice the engine lacks, or one of another language', async () => {
    const hmn = await t.api('POST', '/api/media/tts', { text: 'Nyob zoo', title: "H'Mông", lang: 'hmn' });
    expect(hmn.status).toBe(422);
    expect(hmn.body.message).toMatch(/no voice for hmn/);
    const wrong = await t.api('POST', '/api/media/tts', { text: VI_TEXT, title: 'x', lang: 'vi', voice: 'en-us' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.message).toMatch(/speaks en-us, not vi/);
    const voices = await t.api('GET', '/api/media/tts/voices');
    expect(voices.body.voices.map((v: any) => v.id)).toEqual(expect.arrayContaining(['vi', 'vi-vn-x-central', 'vi-vn-x-south']));
  });

  it('speaks a Word document: the paragraphs of word/document.xml', async () => {
    const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
    const para = (...runs: string[]) =>
      `<w:p><w:pPr><w:jc w:val="both"/></w:pPr>${runs.map((r) => `<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">${r}</w:t></w:r>`).join('')}</w:p>`;
    const xml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W}><w:body>${para('THÔNG BÁO ')}${para('Mưa lớn &amp; gió mạnh, ', 'đề phòng lũ quét.')}<w:p/>${para('Ủy ban nhân dân xã')}<w:sectPr/></w:body></w:document>`;
    const docx = zipSync({
      '[Content_Types].xml': strToU8(
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ),
      'word/document.xml': strToU8(xml),
    });
    const r = await postMultipart(t, '/api/media/tts/docx', { lang: 'vi' }, { data: docx, name: 'Thông báo mưa lũ.docx' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ title: 'Thông báo mưa lũ', origin: 'tts', transcript: 'THÔNG BÁO\n\nMưa lớn & gió mạnh, đề phòng lũ quét.\n\nỦy ban nhân dân xã' });
    expect(r.body.durationMs).toBeGreaterThan(3000);
    const notDocx = await postMultipart(t, '/api/media/tts/docx', {}, { data: fs.readFileSync(input('sine.wav')), name: 'x.docx' });
    expect(notDocx.status).toBe(422);
    expect(notDocx.body.message).toMatch(/not a Word document/);
  });

  it('edits metadata, retires (file removed, audio gone), and refuses to retire what a guard protects', async () => {
    const up = await uploadFile(t, input('sine.wav'), { title: 'Để sửa' });
    // The same audio as the first test: one file, two items.
    expect(up.body.sha256).toBe(sine.sha256);
    const p = await t.api('PATCH', `/api/media/${up.body.id}`, { title: 'Đã sửa', lang: 'ium', tags: ['dao'] });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ title: 'Đã sửa', lang: 'ium', tags: ['dao'] });
    expect((await t.api('GET', '/api/media?lang=ium')).body.items.map((i: any) => i.id)).toEqual([up.body.id]);
    expect((await t.api('GET', '/api/media?tag=dao')).body.items.map((i: any) => i.id)).toEqual([up.body.id]);

    t.server.ctx.media.library.addRetireGuard((id) => (id === sine.id ? 'scheduled in "Bản tin sáng" (test guard)' : null));
    const guarded = await t.api('DELETE', `/api/media/${sine.id}`);
    expect(guarded.status).toBe(409);
    expect(guarded.body.message).toMatch(/Bản tin sáng/);

    const del = await t.api('DELETE', `/api/media/${up.body.id}`);
    expect(del.status).toBe(200);
    expect(del.body.retiredAt).toBeGreaterThan(0);
    // The file is shared with a live item: it stays.
    expect(fs.existsSync(path.join(t.dataDir, 'media', `${sine.sha256}.opus`))).toBe(true);
    expect((await download(t, `/api/media/${up.body.id}/audio`)).status).toBe(410);
    expect((await t.api('GET', '/api/media')).body.items.map((i: any) => i.id)).not.toContain(up.body.id);
    const audit = (await t.api('GET', '/api/audit?action=media.')).body.entries.map((e: any) => `${e.action} ${e.target}`);
    expect(audit).toEqual(expect.arrayContaining([`media.update ${up.body.id}`, `media.retire ${up.body.id}`]));
  });

  it('lets admins and operators change the library; technicians and viewers only read; nobody without a token', async () => {
    for (const who of ['technician', 'viewer']) {
      const token = tokens[who]!;
      expect((await uploadFile(t, input('sine.wav'), {}, { token })).status, who).toBe(403);
      expect((await t.api('POST', '/api/media/tts', { text: 'x', title: 'x' }, { token })).status, who).toBe(403);
      expect((await t.api('PATCH', `/api/media/${sine.id}`, { title: 'x' }, { token })).status, who).toBe(403);
      expect((await t.api('DELETE', `/api/media/${sine.id}`, undefined, { token })).status, who).toBe(403);
      expect((await t.api('GET', `/api/media/${sine.id}`, undefined, { token })).status, who).toBe(200);
    }
    expect((await uploadFile(t, input('sine.wav'), {}, { token: null })).status).toBe(401);
    expect((await t.api('GET', '/api/media', undefined, { token: null })).status).toBe(401);
    expect((await download(t, `/api/media/${sine.id}/audio`, { authorization: '' })).status).toBe(401);

    // A commune operator adds to the province-wide library, and changes only what they made.
    const own = await uploadFile(t, input('sine.mp3'), { title: 'Của xã' }, { token: tokens.operator! });
    expect(own.status).toBe(201);
    expect(own.body.createdBy).toBe('op-commune');
    expect((await t.api('PATCH', `/api/media/${sine.id}`, { title: 'x' }, { token: tokens.operator! })).status).toBe(403);
    expect((await t.api('PATCH', `/api/media/${own.body.id}`, { title: 'Của xã (sửa)' }, { token: tokens.operator! })).status).toBe(200);
    expect((await t.api('DELETE', `/api/media/${own.body.id}`, undefined, { token: tokens.operator! })).status).toBe(200);
  });
});

describe.skipIf(!canRun)('media limits and missing programs', () => {
  let t: TestServer;
  let input: (name: string) => string;
  beforeAll(async () => {
    t = await startTestServer({ LOANET_MEDIA_MAX_MB: '1', LOANET_MEDIA_MAX_DURATION_S: '2', LOANET_ESPEAK: '/nonexistent/espeak-ng' });
    input = makeInputs(tempDir('loanet-media-in-'));
  });
  afterAll(async () => t?.stop());

  it('cuts off an upload over the size limit while streaming: 413, nothing kept', async () => {
    const big = path.join(path.dirname(input('x')), 'big.wav');
    ffmpeg('-f', 'lavfi', '-i', 'anoisesrc=duration=40:amplitude=0.3', '-ac', '1', '-ar', '48000', big); // ~3.8 MB
    const r = await uploadFile(t, big);
    expect(r.status, JSON.stringify(r.body)).toBe(413);
    expect(r.body.error).toBe('LOANET_MEDIA_TOO_LARGE');
    expect(r.body.message).toMatch(/larger than the limit of 1 MB \(LOANET_MEDIA_MAX_MB\)/);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: [], tmp: [] });
  });

  it('refuses audio longer than the limit', async () => {
    const r = await uploadFile(t, input('sine.wav'));
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ error: 'LOANET_MEDIA_TOO_LONG' });
    expect(r.body.message).toMatch(/lasts 3\.0 s, longer than the limit of 2\.0 s/);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: [], tmp: [] });
  });

  it('without a text-to-speech engine answers 503 saying how to install one', async () => {
    const r = await t.api('POST', '/api/media/tts', { text: VI_TEXT, title: 'x' });
    expect(r.status).toBe(503);
    expect(r.body.message).toMatch(/no text-to-speech engine: install espeak-ng \(apt-get install espeak-ng\)/);
    expect((await t.api('GET', '/api/media/tts/voices')).status).toBe(503);
  });
});

describe('media without ffmpeg', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ LOANET_FFMPEG: '/nonexistent/ffmpeg', LOANET_FFPROBE: '/nonexistent/ffprobe' });
  });
  afterAll(async () => t?.stop());

  it('answers 503 to an upload, saying how to install ffmpeg, and keeps nothing', async () => {
    const r = await postMultipart(t, '/api/media', { title: 'x' }, { data: new Uint8Array(1000), name: 'x.mp3' });
    expect(r.status).toBe(503);
    expect(r.body.message).toMatch(/LOANET_FFMPEG=\/nonexistent\/ffmpeg is not an executable file.*apt-get install ffmpeg/);
    expect(libraryFiles(t.dataDir).tmp).toEqual([]);
  });
});
