/**
 * What the agent's audio path costs per second of programme: reading an Ogg
 * Opus bulletin (ogg.ts), decoding it with libopus (opus.ts), and what the
 * simulated amplifier's summaries cost on the device link against PCM
 * (sinks/device.ts: why the fleet runner can simulate hundreds of sites).
 * The input is made by real ffmpeg with the media library's encoding profile.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { encodeDeviceFrame } from '../../protocol/index.ts';
import { readOggOpus } from '../../edge-agent/audio/ogg.ts';
import { createOpusDecoder } from '../../edge-agent/audio/opus.ts';
import { frameLevelDb } from '../../edge-agent/audio/sinks/stats.ts';
import { FRAME_BYTES, FRAME_MS, FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import { findMediaTools } from '../../server/media/tools.ts';
import { tempDir } from '../helpers/server.ts';
import { printTable, type BenchResult } from './lib/result.ts';

export async function runAgentAudioBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  const found = findMediaTools({});
  if (!('tools' in found)) return [{ scenario: 'agent/audio-cost', params: {}, figures: {}, note: 'skipped: needs ffmpeg' }];
  const seconds = opts.quick ? 20 : 600;
  const dir = tempDir('loanet-bench-audio-');
  try {
    const file = path.join(dir, 'speechlike.opus');
    // Speech-like: pink noise shaped by a 3 Hz syllable envelope over a voiced 140 Hz tone.
    execFileSync(found.tools.ffmpeg.path, [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `anoisesrc=color=pink:amplitude=0.3:duration=${seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=140:duration=${seconds}`,
      '-filter_complex',
      "[0][1]amix=inputs=2,volume='0.5+0.5*sin(2*PI*3*t)':eval=frame",
      '-c:a',
      'libopus',
      '-b:a',
      '24k',
      '-vbr',
      'on',
      '-application',
      'audio',
      '-frame_duration',
      '20',
      '-ac',
      '1',
      '-ar',
      '48000',
      '-f',
      'ogg',
      file,
    ]);
    const bytes = fs.readFileSync(file);
    const rounds = 3;
    let parseMs = 0;
    let decodeMs = 0;
    let levelMs = 0;
    let frames = 0;
    let summaryBytes = 0;
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const stream = readOggOpus(bytes);
      parseMs += performance.now() - t0;
      const decoder = createOpusDecoder();
      const pcm: Int16Array[] = [];
      t0 = performance.now();
      for (const p of stream.packets) pcm.push(decoder.decode(p));
      decodeMs += performance.now() - t0;
      t0 = performance.now();
      const levels = pcm.map((f) => frameLevelDb(f));
      levelMs += performance.now() - t0;
      frames = pcm.length;
      if (r === 0) {
        // What the device sink sends: batches of 10 frames, as device-protocol frames.
        for (let i = 0; i < levels.length; i += 10) {
          summaryBytes += encodeDeviceFrame(i & 0xff, {
            type: 'audio',
            session: 123456,
            seq: i,
            playAt: 1_764_237_000_000 + i * FRAME_MS,
            frameMs: FRAME_MS,
            levels: levels.slice(i, i + 10),
          }).length;
        }
      }
      if (pcm[0]!.length !== FRAME_SAMPLES) throw new Error('expected 20 ms packets');
    }
    const audioS = (frames * FRAME_MS) / 1000;
    return [
      {
        scenario: 'agent/audio-cost',
        params: { audioS: Math.round(audioS), rounds, bitrate: '24k' },
        figures: {
          'ogg read, ms per audio min': (parseMs / rounds / audioS) * 60,
          'decode × real time': (audioS * 1000) / (decodeMs / rounds),
          'decode, % of a core': (decodeMs / rounds / (audioS * 1000)) * 100,
          'level per frame, µs': ((levelMs / rounds) * 1000) / frames,
          'device summaries, B/s': summaryBytes / audioS,
          'PCM, B/s': (FRAME_BYTES * 1000) / FRAME_MS,
          'summaries / PCM': summaryBytes / audioS / ((FRAME_BYTES * 1000) / FRAME_MS),
        },
        note: 'on the bench machine (not measured on a Pi yet). Summaries = device-protocol `audio` frames of 10 frames each (what a simulated site sends per second).',
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runAgentAudioBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
