/**
 * Live audio on the wire, per listening site: the same minute of speech,
 * encoded by the server's own live encoder (LiveOpusEncoder, 24 kbit/s CBR,
 * 20 ms, FEC) and grouped by its FrameAssembler, then framed two ways and
 * wrapped in the MQTT PUBLISH packets a site receives (mqtt-packet, QoS 0):
 *
 *   first format   3 packets a message, the 22-byte header with a 2-byte
 *                  length per packet, on `loanet/v1/areas/{key}/audio`
 *                  (what loanet sent until the compact format);
 *   compact        5 packets a message, the 11-byte header with one length
 *                  for CBR packets (protocol/audio-frame.ts), on `la/{key}`.
 *
 * Side by side in one run, each against the Opus payload (24 kbit/s). Only
 * the audio channel: the control messages, statistics and heartbeats of a
 * live minute are in the data-usage benchmark, which measures a whole site.
 * The first format is re-stated here as a reference (20 lines), since the
 * protocol no longer speaks it.
 */
import path from 'node:path';
import mqttPacket from 'mqtt-packet';
import { encodeAudioFrame, type AudioFrame } from '../../protocol/index.ts';
import { FrameAssembler } from '../../server/live/frame-assembler.ts';
import { LiveOpusEncoder, LIVE_FRAME_BYTES } from '../../server/live/opus-encoder.ts';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { tempDir } from '../helpers/server.ts';
import { ffmpeg } from '../helpers/media.ts';
import { printTable, type BenchResult } from './lib/result.ts';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

/** A village area key of the Lào Cai tree (its length is what a topic costs). */
const AREA_KEY = '2025.02683-01';
const PAYLOAD_BYTES_PER_MINUTE = (24_000 / 8) * 60;

/** The first format's layout (22-byte header, u16 length per packet), as it was on the wire. */
function encodeFirstFormat(f: AudioFrame): Buffer {
  const head = Buffer.alloc(22);
  head[0] = 0x4c;
  head[1] = 0x41;
  head[2] = 1;
  head[3] = (f.fec ? 1 : 0) | (f.marker ? 2 : 0) | (f.endOfStream ? 4 : 0);
  head[4] = 0x03;
  head[5] = f.packets.length;
  head.writeUInt32BE(f.streamId >>> 0, 6);
  head.writeUInt32BE(f.seq >>> 0, 10);
  head.writeUInt32BE(Math.floor(f.playAtUs / 2 ** 32), 14);
  head.writeUInt32BE(f.playAtUs % 2 ** 32, 18);
  const parts: Buffer[] = [head];
  for (const p of f.packets) {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(p.length);
    parts.push(l, Buffer.from(p));
  }
  return Buffer.concat(parts);
}

/** Bytes of the PUBLISH a site receives for one message (QoS 0: no packet id). */
function publishBytes(topic: string, payload: Buffer): number {
  return mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false }).length;
}

/** A minute of speech as the live encoder's 20 ms packets (espeak-ng through ffmpeg to 48 kHz mono s16le). */
function speechPackets(seconds: number, dir: string): Uint8Array[] {
  const wav = path.join(dir, 'speech.wav');
  const text = 'Thông báo của Ủy ban nhân dân xã Bát Xát về lịch tiêm chủng và phòng chống lũ quét mùa mưa năm nay. '.repeat(12);
  execFileSync('espeak-ng', ['-v', 'vi', '-w', wav, text]);
  const pcm = path.join(dir, 'speech.raw');
  ffmpeg('-stream_loop', '-1', '-i', wav, '-t', String(seconds), '-ar', '48000', '-ac', '1', '-f', 's16le', pcm);
  const bytes = fs.readFileSync(pcm);
  const enc = new LiveOpusEncoder({ bitrate: 24_000 });
  const out: Uint8Array[] = [];
  for (let o = 0; o + LIVE_FRAME_BYTES <= bytes.length; o += LIVE_FRAME_BYTES) out.push(enc.encode(bytes.subarray(o, o + LIVE_FRAME_BYTES)));
  return out;
}

function frames(packets: readonly Uint8Array[], perMessage: number): AudioFrame[] {
  const a = new FrameAssembler({ streamId: 0x5eed_0001, startAtMs: 1_765_000_000_000, packetsPerMessage: perMessage, fec: true });
  const out = packets.flatMap((p, slot) => a.add(slot, p));
  return out;
}

export async function runLiveFramingBench(opts: { quick: boolean }): Promise<BenchResult[]> {
  if (!('tools' in findMediaTools({})) || !which('espeak-ng')) {
    return [{ scenario: 'live/framing', params: {}, figures: {}, note: 'skipped: needs ffmpeg and espeak-ng' }];
  }
  const seconds = opts.quick ? 10 : 60;
  const dir = tempDir('loanet-bench-framing-');
  try {
    const packets = speechPackets(seconds, dir);
    const opusBytes = packets.reduce((n, p) => n + p.length, 0);
    const perMinute = (n: number) => (n * 60) / seconds;
    const first = frames(packets, 3).reduce((n, f) => n + publishBytes(`loanet/v1/areas/${AREA_KEY}/audio`, encodeFirstFormat(f)), 0);
    const compactFrames = frames(packets, 5);
    const compact = compactFrames.reduce((n, f) => n + publishBytes(`la/${AREA_KEY}`, encodeAudioFrame(f)), 0);
    return [
      {
        scenario: 'live/framing',
        params: { seconds, areaKey: AREA_KEY, packets: packets.length },
        figures: {
          'Opus payload bytes/minute (measured)': perMinute(opusBytes),
          'first format bytes/minute': perMinute(first),
          'compact bytes/minute': perMinute(compact),
          'first format / 24 kbit/s payload': perMinute(first) / PAYLOAD_BYTES_PER_MINUTE,
          'compact / 24 kbit/s payload': perMinute(compact) / PAYLOAD_BYTES_PER_MINUTE,
          'compact / first format': compact / first,
          'compact messages/second': compactFrames.length / seconds,
        },
        note: 'the audio channel alone, MQTT PUBLISH bytes a site receives (QoS 0); a whole live minute (control, statistics, heartbeats) is in data-usage',
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runLiveFramingBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
