/**
 * ffmpeg reads only what it is given. An upload (the media library, an
 * alert's recording, a CAP document's embedded resource) is probed with the
 * accepted demuxers only, so a playlist or a concat list that names other
 * files or URLs is refused before anything it names is opened: nothing is
 * stored, and the answer is the same whether what it names exists or not
 * (no way to learn what is on the server's disk). Every accepted format still
 * ingests. Real server, real uploads over HTTP, real ffmpeg.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg, libraryFiles, postMultipart } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');

/** One server for the file: each test counts what it added itself, and the accepted formats add items of their own. */
let t: TestServer;
beforeAll(async () => {
  if (canRun) t = await startTestServer();
});
afterAll(async () => t?.stop());

describe.skipIf(!canRun)('uploads ffmpeg must not follow', () => {
  let dir: string;
  /** A real media file elsewhere on the server's disk: what a playlist would make ffmpeg read. */
  let secret: string;
  /** The same path without the file. */
  let absent: string;
  /** An HTTP server that counts requests: what a playlist naming a URL would make ffmpeg fetch. */
  let web: http.Server;
  let webHits = 0;
  let webBase: string;
  let officialToken: string;

  const rowCount = async () =>
    Number(
      (
        await t.server.ctx.store.db
          .selectFrom('media')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const upload = (data: string | Buffer, name: string) => postMultipart(t, '/api/media', { title: 'thử' }, { data: typeof data === 'string' ? Buffer.from(data) : data, name });
  /** What a person sees of a refusal: status, code and message (the job id differs). */
  const answer = (r: { status: number; body: any }) => ({ status: r.status, error: r.body.error, message: r.body.message });

  beforeAll(async () => {
    dir = tempDir('loanet-formats-');
    secret = path.join(dir, 'secret', 'ghi-am-noi-bo.mp3');
    absent = path.join(dir, 'secret', 'khong-co.mp3');
    fs.mkdirSync(path.dirname(secret));
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', secret);
    web = http.createServer((_req, res) => {
      webHits++;
      res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(fs.readFileSync(secret));
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webBase = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    await importLaoCai2025(t);
    const site = await t.api('POST', '/api/sites', { name: 'Cụm loa thử', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
    expect(site.status, JSON.stringify(site.body)).toBe(201);
    const u = await t.api('POST', '/api/users', { username: 'khan-cap-thu', password: 'password-of-khan-cap-thu', role: 'emergency' });
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    officialToken = (await t.api('POST', '/api/auth/login', { username: 'khan-cap-thu', password: 'password-of-khan-cap-thu' }, { token: null })).body.token;
  }, 60_000);
  afterAll(async () => {
    web?.closeAllConnections();
    await new Promise((r) => web?.close(r));
  });

  /** Documents that name another input, each as it would point at `target`. */
  const hls = (target: string) => `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${target}\n#EXT-X-ENDLIST\n`;
  const ffconcat = (target: string) => `ffconcat version 1.0\nfile '${target}'\n`;
  const m3u = (target: string) => `#EXTM3U\n#EXTINF:-1,Đài tỉnh\n${target}\n`;
  const KINDS: Record<string, (target: string) => string> = {
    'an HLS playlist': hls,
    'an HLS playlist with a file: URL': (p) => hls(`file:${p}`),
    'an HLS playlist with a subfile, reference': (p) => hls(`subfile,,start,0,end,0,,:${p}`),
    'an HLS playlist with a concat: reference': (p) => hls(`concat:${p}|${p}`),
    'an ffconcat list': ffconcat,
    'an ffconcat list with a file: URL': (p) => ffconcat(`file:${p}`),
    'an ffconcat list with a subfile, reference': (p) => ffconcat(`subfile,,start,0,end,0,,:${p}`),
    'an m3u list': m3u,
  };

  it('refuses playlists and concat lists naming a file on the server, the same whether it exists or not, keeping nothing', async () => {
    const before = { rows: await rowCount(), files: libraryFiles(t.dataDir).stored };
    for (const [kind, make] of Object.entries(KINDS)) {
      for (const name of ['tin-tuc.mp3', 'playlist.m3u8', 'danh-sach.ffconcat', 'ban-tin']) {
        const present = await upload(make(secret), name);
        const gone = await upload(make(absent), name);
        expect(present.status, `${kind} as ${name}: ${JSON.stringify(present.body)}`).toBeGreaterThanOrEqual(415);
        expect(answer(present), `${kind} as ${name}: the answer must not depend on the file`).toEqual(answer(gone));
        if (present.body.error === 'LOANET_MEDIA_FORMAT') {
          expect(present.status).toBe(415);
          // It names what it found and what to send instead.
          expect(present.body.message).toMatch(/^the file is "[a-z0-9_,]+" loanet does not accept; upload MP3, WAV/);
        } else {
          // Not even a playlist to ffmpeg (a bare m3u): not audio.
          expect(present.body.error, `${kind} as ${name}`).toBe('LOANET_MEDIA_NOT_AUDIO');
        }
        expect(present.body.message, 'no path in the answer').not.toContain(dir);
      }
    }
    // The HLS playlist in particular is named as such.
    const named = await upload(hls(secret), 'tin-tuc.mp3');
    expect(answer(named)).toEqual({ status: 415, error: 'LOANET_MEDIA_FORMAT', message: expect.stringContaining('"hls"') });
    const concat = await upload(ffconcat(secret), 'tin-tuc.mp3');
    expect(answer(concat)).toEqual({ status: 415, error: 'LOANET_MEDIA_FORMAT', message: expect.stringContaining('"concat"') });
    expect(await rowCount()).toBe(before.rows);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: before.files, tmp: [] });
    // 66 uploads, each probed by ffmpeg: over 120 s under the stress load.
  }, 300_000);

  it('property: no generated playlist or list is ever stored, fetched, or answered differently for a missing target', async () => {
    const before = { rows: await rowCount(), files: libraryFiles(t.dataDir).stored };
    const hitsBefore = webHits;
    const target = fc.constantFrom<(p: string) => string>(
      (p) => p,
      (p) => `file:${p}`,
      (p) => `file://${p}`,
      (p) => `subfile,,start,0,end,0,,:${p}`,
      (p) => `concat:${p}|${p}`,
      (p) => `cache:file:${p}`,
      (p) => path.relative(path.join(t.dataDir, 'media', 'tmp'), p),
      (p) => `${webBase}/${path.basename(p)}`,
    );
    const document = fc.constantFrom(...Object.values(KINDS), (p: string) => `#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n${p}\n#EXTINF:4.0,\n${p}\n`);
    const name = fc.constantFrom('a.mp3', 'a.wav', 'a.m3u8', 'a.m3u', 'a.ogg', 'a.txt', 'a');
    await fc.assert(
      fc.asyncProperty(document, target, name, fc.constantFrom('', '\r\n', '\n\n'), async (doc, ref, file, trailer) => {
        const present = await upload(doc(ref(secret)) + trailer, file);
        const gone = await upload(doc(ref(absent)) + trailer, file);
        expect(present.status).not.toBe(201);
        expect(present.status).not.toBe(202);
        expect(answer(present)).toEqual(answer(gone));
      }),
      { numRuns: 25, seed: 20261204 },
    );
    // Both answers came after ffprobe had finished: a fetch it made would have been counted by now.
    expect(webHits).toBe(hitsBefore);
    expect(await rowCount()).toBe(before.rows);
    expect(libraryFiles(t.dataDir)).toEqual({ stored: before.files, tmp: [] });
  }, 240_000);

  it('refuses a playlist as an alert recording, before any alert starts', async () => {
    const alertCount = async () =>
      Number(
        (
          await t.server.ctx.store.db
            .selectFrom('alerts')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const alertsBefore = await alertCount();
    const answers = [];
    for (const target of [secret, absent]) {
      const r = await postMultipart(
        t,
        '/api/alerts/upload',
        { alert: JSON.stringify({ areas: ['02683'], title: 'Ghi âm' }) },
        { data: Buffer.from(hls(target)), name: 'ghi-am.mp3' },
        officialToken,
      );
      answers.push(answer(r));
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]!.status).toBe(415);
    expect(answers[0]!.message).toContain('"hls"');
    expect(await alertCount()).toBe(alertsBefore);
  }, 60_000);

  it("never plays a CAP document's embedded playlist: the same outcome whether the file it names exists or not", async () => {
    const cap = (target: string, id: string) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>LC-THU-${id}</identifier>
  <sender>thu@laocai.gov.vn</sender>
  <sent>${new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, '+00:00')}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>vi-VN</language>
    <category>Met</category>
    <event>Lũ quét</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <expires>${new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00')}</expires>
    <headline>Cảnh báo lũ quét</headline>
    <resource>
      <resourceDesc>Ghi âm</resourceDesc>
      <mimeType>audio/mpeg</mimeType>
      <derefUri>${Buffer.from(hls(target)).toString('base64')}</derefUri>
    </resource>
    <area>
      <areaDesc>Xã Bát Xát</areaDesc>
      <geocode><valueName>VN-ADMIN</valueName><value>02683</value></geocode>
    </area>
  </info>
</alert>`;
    /** The outcome as a person sees it: the refusal, or the alert's message audio once it has settled. */
    const outcome = async (target: string, id: string) => {
      // Posted by the network-wide admin, who may use any sender: only the audio is at stake here.
      const r = await t.api('POST', '/api/alerts/cap', cap(target, id), { contentType: 'application/cap+xml' });
      if (r.status >= 400) return { refused: answer(r) };
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const alertId: string = r.body.id;
      // The alert may start before its message audio is made: wait for the audio to settle.
      const settled = await waitFor(
        `alert ${alertId}'s message audio`,
        async () => {
          const a = (await t.api('GET', `/api/alerts/${alertId}`)).body.alert;
          return a.media?.mediaId || a.messageState === 'failed' ? a : undefined;
        },
        60_000,
      );
      await t.api('POST', `/api/alerts/${alertId}/cancel`);
      let played: unknown = null;
      if (settled.media?.mediaId) {
        const m = (await t.api('GET', `/api/media/${settled.media.mediaId}`)).body;
        played = { origin: m.origin, format: m.source?.format ?? null };
      }
      return { message: { kind: settled.message?.kind, state: settled.messageState ?? null, reason: settled.messageReason ?? null }, played };
    };
    const present = await outcome(secret, 'co');
    const gone = await outcome(absent, 'khong');
    expect(present).toEqual(gone);
    // The document itself was fine: the alert stands (its siren), only its audio was refused, naming the format.
    expect(present).toMatchObject({ message: { kind: 'cap_audio', state: 'failed', reason: expect.stringContaining('"hls"') }, played: null });
    // Whatever was played, it was not the file on the server's disk read through the playlist.
    expect(JSON.stringify(present)).not.toMatch(/"format":"mp3"/);
  }, 180_000);
});

describe.skipIf(!canRun)('every accepted format still ingests', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('loanet-formats-ok-');
  });

  const tone = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '1'];
  const CASES: Array<[string, string[], string]> = [
    ['tone.mp3', ['-c:a', 'libmp3lame', '-b:a', '64k'], 'mp3'],
    ['tone.wav', [], 'wav'],
    ['tone.ogg', ['-c:a', 'libvorbis'], 'ogg'],
    ['tone.opus', ['-c:a', 'libopus', '-b:a', '32k'], 'ogg'],
    ['tone.webm', ['-c:a', 'libopus', '-b:a', '32k'], 'matroska,webm'],
    ['tone.mkv', ['-c:a', 'flac'], 'matroska,webm'],
    // MP4/M4A as ffmpeg and most phones write it: the index (moov) after the audio, so reading it needs seeking.
    ['tone.m4a', ['-c:a', 'aac', '-b:a', '64k'], 'mov,mp4,m4a,3gp,3g2,mj2'],
    ['tone-faststart.m4a', ['-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart'], 'mov,mp4,m4a,3gp,3g2,mj2'],
    ['tone.3gp', ['-c:a', 'aac', '-b:a', '32k', '-ar', '16000'], 'mov,mp4,m4a,3gp,3g2,mj2'],
    ['tone.aac', ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'], 'aac'],
    ['tone.flac', ['-c:a', 'flac'], 'flac'],
  ];

  it.each(CASES)(
    '%s',
    async (name, args, format) => {
      const file = path.join(dir, name);
      ffmpeg(...tone, ...args, file);
      const r = await postMultipart(t, '/api/media', { title: name }, { data: fs.readFileSync(file), name });
      expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(201);
      expect(r.body).toMatchObject({ status: 'ready', codec: 'opus' });
      expect(Math.abs(r.body.durationMs - 3000), name).toBeLessThan(150);
      expect(r.body.source.format, name).toBe(format);
    },
    // The suite's own deadline: a case waits on ffmpeg three times, in the server's bulk lane at nice 10, which a
    // loaded machine starves first (tone.flac passed 60 s under test:stress with five files at once).
  );
});
