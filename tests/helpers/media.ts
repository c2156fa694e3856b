/**
 * Test helpers for the media library: real ffmpeg/ffprobe/espeak-ng (found as
 * the server finds them), inputs generated at test time (no binary fixtures),
 * multipart uploads, loudness measured independently of the server.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { parseLoudnorm, type LoudnessMeasure } from '../../server/media/analysis.ts';
import type { TestServer } from './server.ts';

const found = findMediaTools({});
export const tools = 'tools' in found ? found.tools : undefined;
export const espeak = which('espeak-ng');

/**
 * The bound on a set-up hook that uploads media: each upload waits on ffmpeg
 * in the server's bulk lane at nice 10, which a loaded machine starves first
 * (two uploads passed 60 s under test:stress). It only bounds a hang.
 */
export const UPLOAD_HOOK_TIMEOUT_MS = 180_000;

export function ffmpeg(...args: string[]): void {
  execFileSync(tools!.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function probe(file: string): {
  streams: Array<{ codec_name: string; codec_type: string; channels?: number; sample_rate?: string }>;
  format: { duration: string; format_name: string };
} {
  return JSON.parse(execFileSync(tools!.ffprobe.path, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { encoding: 'utf8' }));
}

/** EBU R128 integrated loudness and true peak of a file, measured here with ffmpeg's loudnorm. */
export function loudness(file: string): LoudnessMeasure {
  const r = spawnSync(tools!.ffmpeg.path, ['-hide_banner', '-nostdin', '-i', file, '-af', 'loudnorm=print_format=json', '-f', 'null', '-'], { encoding: 'utf8' });
  const m = r.status === 0 ? parseLoudnorm(r.stderr) : undefined;
  if (!m) throw new Error(`ffmpeg could not measure ${file}: ${r.stderr.slice(-500)}`);
  return m;
}

/** Inputs generated with ffmpeg into `dir`. */
export function makeInputs(dir: string) {
  const f = (name: string) => path.join(dir, name);
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '1', f('sine.wav'));
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '64k', f('sine.mp3'));
  ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=mono', '-t', '3', f('silent.wav'));
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=660:duration=3', '-t', '3', '-c:v', 'mpeg4', '-c:a', 'aac', f('video.mp4'));
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=1', '-frames:v', '1', f('image.png'));
  const mp3 = fs.readFileSync(f('sine.mp3'));
  fs.writeFileSync(f('truncated.mp3'), mp3.subarray(0, Math.floor(mp3.length * 0.6)));
  const wav = fs.readFileSync(f('sine.wav'));
  fs.writeFileSync(f('truncated.wav'), wav.subarray(0, Math.floor(wav.length * 0.4)));
  fs.writeFileSync(f('text.mp3'), 'Thông báo: đây không phải là tệp âm thanh.\n'.repeat(50));
  fs.writeFileSync(f('empty.mp3'), '');
  return f;
}

export interface Upload {
  status: number;
  body: any;
  headers: Headers;
}

export async function postMultipart(
  t: TestServer,
  url: string,
  fields: Record<string, string>,
  file?: { data: Uint8Array; name: string; type?: string },
  token: string | null = t.token,
): Promise<Upload> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  if (file) fd.append('file', new Blob([file.data], { type: file.type ?? 'application/octet-stream' }), file.name);
  const res = await fetch(`${t.baseUrl}${url}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body: fd });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}

export async function uploadFile(t: TestServer, file: string, fields: Record<string, string> = {}, opts: { token?: string | null; query?: string } = {}): Promise<Upload> {
  return postMultipart(t, `/api/media${opts.query ?? ''}`, fields, { data: fs.readFileSync(file), name: path.basename(file) }, opts.token === undefined ? t.token : opts.token);
}

/**
 * A sine tone of `seconds`, made with ffmpeg in `dir` and uploaded to the library as `title`: its
 * media id, for the tests that need something to schedule or to alert with rather than a file's
 * processing. Fails with the server's answer when the upload is refused.
 */
export async function uploadTone(t: TestServer, dir: string, o: { title: string; seconds: number; hz?: number }): Promise<string> {
  const hz = o.hz ?? 440;
  const wav = path.join(dir, `tone-${hz}-${o.seconds}s-${fs.readdirSync(dir).length}.wav`);
  ffmpeg('-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${o.seconds}`, '-ac', '1', wav);
  const up = await uploadFile(t, wav, { title: o.title });
  if (up.status !== 201) throw new Error(`upload of '${o.title}' refused: ${up.status} ${JSON.stringify(up.body)}`);
  return up.body.id as string;
}

export async function download(t: TestServer, url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; data: Buffer }> {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${t.token}`, ...headers } });
  return { status: res.status, headers: res.headers, data: Buffer.from(await res.arrayBuffer()) };
}

/** Files in the library folder (excluding tmp/) and in tmp/. */
export function libraryFiles(dataDir: string): { stored: string[]; tmp: string[] } {
  const dir = path.join(dataDir, 'media');
  const stored = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f !== 'tmp')
        .sort()
    : [];
  const tmp = fs.existsSync(path.join(dir, 'tmp')) ? fs.readdirSync(path.join(dir, 'tmp')).sort() : [];
  return { stored, tmp };
}
