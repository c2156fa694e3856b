/**
 * Ingest speed of the media library (issue 3, "measure and report"): ONE HOUR
 * of speech uploaded through the API (multipart, streamed to disk), probed,
 * loudness-measured, encoded to Ogg Opus and verified, until the item is
 * ready. Reported as × real time (audio duration / wall time) and the
 * ffmpeg CPU seconds per audio hour (children's CPU from /proc/self/stat).
 *
 * The speech is made at bench time: espeak-ng reads a Vietnamese text
 * (a few minutes), ffmpeg loops it to an hour, as a WAV (what text to speech
 * gives) and as a 64 kbps MP3 (what operators upload). `--quick` uses 30
 * seconds and the MP3 only.
 *
 *   npx tsx tests/bench/media-ingest.ts [--quick]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { procStatFields, STAT_FIELD } from '../../server/proc-stat.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const TEXT =
  'Thông báo của Ủy ban nhân dân xã. Sáng mai, từ bảy giờ, trạm y tế xã tổ chức tiêm chủng cho trẻ em dưới năm tuổi. ' +
  'Đề nghị các gia đình mang theo sổ tiêm chủng. Mùa mưa lũ đang đến, bà con không đi qua suối khi nước lên, ' +
  'không ở lại trong nhà gần sườn đồi khi có mưa lớn kéo dài. Mọi thông tin xin liên hệ trưởng thôn. ';

const ticks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds of waited-for child processes (cutime + cstime). */
function childCpuS(): number {
  const f = procStatFields('/proc/self/stat')!;
  return (Number(f[STAT_FIELD.cutime]) + Number(f[STAT_FIELD.cstime])) / ticks;
}

/**
 * Upload with waitMs=0 (202 at once, as a client does for long files: an
 * hour of audio takes minutes, longer than fetch waits for headers), then
 * poll until the item is ready or refused.
 */
async function ingest(baseUrl: string, token: string, file: string, title: string): Promise<{ status: string; durationMs?: number; reason?: string }> {
  const fd = new FormData();
  fd.append('title', title);
  fd.append('file', new Blob([fs.readFileSync(file)]), path.basename(file));
  const auth = { authorization: `Bearer ${token}` };
  const res = await fetch(`${baseUrl}/api/media?waitMs=0`, { method: 'POST', headers: auth, body: fd });
  const created = (await res.json()) as { id?: string; status?: string; message?: string };
  if (!created.id || (res.status !== 201 && res.status !== 202)) throw new Error(`upload answered ${res.status}: ${JSON.stringify(created)}`);
  for (;;) {
    const r = (await (await fetch(`${baseUrl}/api/media/${created.id}`, { headers: auth })).json()) as { status: string; durationMs?: number; reason?: string };
    if (r.status !== 'processing') return r;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function runMediaIngestBench({ quick, log = console.log }: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const found = findMediaTools({});
  if (!('tools' in found) || !which('espeak-ng')) {
    return [
      { scenario: 'media/ingest-speech', params: {}, figures: {}, note: `not measured: needs ffmpeg and espeak-ng (${'tools' in found ? 'espeak-ng' : found.missing} missing)` },
    ];
  }
  const ffmpeg = found.tools.ffmpeg.path;
  const seconds = quick ? 30 : 3600;
  const dir = tempDir('loanet-bench-ingest-');
  const t = await startTestServer({ LOANET_LOG_LEVEL: 'silent', LOANET_MEDIA_MAX_DURATION_S: String(seconds + 60) });
  const results: BenchResult[] = [];
  try {
    const seed = path.join(dir, 'seed.wav');
    execFileSync('espeak-ng', ['-v', 'vi', '-s', '145', '-w', seed, TEXT.repeat(quick ? 1 : 6)], { stdio: 'ignore' });
    const ff = (...args: string[]) => execFileSync(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { stdio: 'ignore' });
    const inputs: Array<{ name: string; file: string }> = [];
    const wav = path.join(dir, 'speech.wav');
    ff('-stream_loop', '-1', '-i', seed, '-t', String(seconds), '-ac', '1', wav);
    if (!quick) inputs.push({ name: 'wav (espeak-ng, 22.05 kHz)', file: wav });
    const mp3 = path.join(dir, 'speech.mp3');
    ff('-i', wav, '-c:a', 'libmp3lame', '-b:a', '64k', mp3);
    inputs.push({ name: 'mp3 64 kbps', file: mp3 });

    for (const input of inputs) {
      const bytes = fs.statSync(input.file).size;
      log(`media-ingest: uploading ${seconds} s of speech as ${input.name} (${(bytes / 2 ** 20).toFixed(1)} MiB)…`);
      const cpu0 = childCpuS();
      const t0 = performance.now();
      const r = await ingest(t.baseUrl, t.token, input.file, `bench ${input.name}`);
      const wallMs = performance.now() - t0;
      const cpuS = childCpuS() - cpu0;
      if (r.status !== 'ready') throw new Error(`ingest ended ${r.status}: ${r.reason ?? ''}`);
      const audioMs = r.durationMs ?? seconds * 1000;
      results.push({
        scenario: 'media/ingest-speech',
        params: { input: input.name, audioS: Math.round(audioMs / 1000), inputMiB: Number((bytes / 2 ** 20).toFixed(1)) },
        figures: {
          wallS: wallMs / 1000,
          xRealTime: audioMs / wallMs,
          ffmpegCpuSPerAudioHour: (cpuS * 3_600_000) / audioMs,
        },
        note: `× real time = audio duration / wall time from upload start to ready (probe, EBU R128 measure, Opus encode at 24 kbps, verify) on ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the end`,
      });
    }
  } finally {
    await t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(t.dataDir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runMediaIngestBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
