/**
 * The ingest pipeline, one audio file in, one stored Ogg Opus file out:
 *
 *   probe (ffprobe)  → one of the accepted formats? is it audio? how long does it say it is?
 *   measure (ffmpeg) → decode all of it at 48 kHz mono: EBU R128 integrated
 *                      loudness, true peak, range; damage reports; real length
 *   encode (ffmpeg)  → one linear gain to the target + peak limiter → Opus
 *   verify           → probe and measure what was written; if the limiter cost
 *                      more than the tolerance, correct the gain and encode again
 *
 * Everything is written under the caller's temp folder; the caller renames
 * the result into the library only when this resolves. Progress (0–1) is
 * reported from ffmpeg's `-progress` output against the item's length.
 */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { MediaTools } from './tools.ts';
import { run } from './tools.ts';
import {
  LOUDNESS_TOLERANCE_LU,
  Rejections,
  acceptedDemuxer,
  inputArgs,
  refusedFormat,
  type Demuxer,
  damageReports,
  gainFor,
  isSilent,
  lastError,
  looksTruncated,
  measureChain,
  normaliseChain,
  parseLoudnorm,
  progressSeconds,
  summarizeProbe,
  type LoudnessMeasure,
  type ProbeResult,
  type ProbeSummary,
} from './analysis.ts';

export interface IngestSettings {
  targetLufs: number;
  bitrateKbps: number;
  maxDurationS: number;
}

export interface IngestResult {
  /** The finished Opus file (in the temp folder). */
  file: string;
  sha256: string;
  bytes: number;
  durationMs: number;
  source: { format: string; codec: string; sampleRate: number; channels: number; durationS: number };
  /** Measured once on the input (48 kHz mono). */
  input: LoudnessMeasure;
  /** Measured on the stored Opus file. */
  output: LoudnessMeasure;
  gainDb: number;
  encodes: number;
  stored: { codec: string; sampleRate: number; channels: number; bitrateKbps: number };
  /** Wall time spent (ms), for the speed figure. */
  elapsedMs: number;
}

export type Stage = 'probing' | 'measuring' | 'encoding' | 'verifying';

export interface IngestHooks {
  signal?: AbortSignal;
  progress?: (stage: Stage, fraction: number) => void;
}

/**
 * What ffprobe says of a file, reading it only with an accepted demuxer (the
 * given one, or any of them before the first probe). A file of another format
 * answers `refused` with the format ffmpeg detected, before that format's
 * demuxer has read anything, so a playlist's entries are never opened.
 */
export async function ffprobe(
  tools: MediaTools,
  file: string,
  signal?: AbortSignal,
  demuxer?: Demuxer,
): Promise<{ ok: true; probe: ProbeSummary } | { ok: false; error: string; refused?: string }> {
  const r = await run(tools.ffprobe.path, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...inputArgs(file, demuxer)], { signal, timeoutMs: 60_000 });
  if (r.code !== 0) {
    const refused = refusedFormat(r.stderr);
    return refused === undefined ? { ok: false, error: lastError(r.stderr) } : { ok: false, error: lastError(r.stderr), refused };
  }
  try {
    return { ok: true, probe: summarizeProbe(JSON.parse(r.stdout) as ProbeResult) };
  } catch {
    return { ok: false, error: 'ffprobe gave no readable answer' };
  }
}

/** Decode one audio stream through a filter chain to nothing (measurement), or to `out`; reports progress in seconds. */
async function ffmpegPass(
  tools: MediaTools,
  input: string,
  demuxer: Demuxer,
  chain: string,
  output: { file: string; bitrateKbps: number } | null,
  onSeconds: (s: number) => void,
  signal?: AbortSignal,
): Promise<{ code: number | null; stderr: string; decodedS: number }> {
  let decodedS = 0;
  const args = [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'level+info',
    '-progress',
    'pipe:1',
    ...inputArgs(input, demuxer),
    '-map',
    '0:a:0',
    '-vn',
    '-sn',
    '-dn',
    '-map_metadata',
    '-1',
    '-af',
    chain,
  ];
  if (output) {
    args.push(
      // Broadcast speech, not a phone call: 'audio' keeps the full band and music
      // beds intact ('voip' emphasises intelligibility for calls and colours both).
      '-c:a',
      'libopus',
      '-b:a',
      `${output.bitrateKbps}k`,
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
      // Bit-exact output: the same input always gives the same bytes (and SHA-256).
      '-fflags',
      '+bitexact',
      '-flags:a',
      '+bitexact',
      '-f',
      'ogg',
      '-y',
      output.file,
    );
  } else {
    args.push('-f', 'null', '-');
  }
  const r = await run(tools.ffmpeg.path, args, {
    signal,
    onStdoutLine: (line) => {
      const s = progressSeconds(line);
      if (s !== undefined) {
        decodedS = s;
        onSeconds(s);
      }
    },
  });
  return { code: r.code, stderr: r.stderr, decodedS };
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function ingestAudio(tools: MediaTools, input: string, outFile: string, s: IngestSettings, hooks: IngestHooks = {}): Promise<IngestResult> {
  const started = Date.now();
  const signal = hooks.signal;
  const report = hooks.progress ?? (() => {});

  report('probing', 0);
  const st = fs.statSync(input);
  if (st.size === 0) throw Rejections.empty();
  const probed = await ffprobe(tools, input, signal);
  if (!probed.ok) throw probed.refused !== undefined ? Rejections.format(probed.refused) : Rejections.notMedia(probed.error);
  const probe = probed.probe;
  // Every later pass reads the file with the demuxer the probe found, and only that one.
  const demuxer = acceptedDemuxer(probe.format);
  if (!demuxer) throw Rejections.format(probe.format);
  if (!probe.audio) throw Rejections.noAudio(probe.streams);
  if (probe.declaredDurationS !== undefined && probe.declaredDurationS > s.maxDurationS + 0.05) throw Rejections.tooLong(probe.declaredDurationS, s.maxDurationS);
  const expectedS = probe.declaredDurationS;

  // Pass one: measure.
  report('measuring', 0);
  const m = await ffmpegPass(tools, input, demuxer, measureChain(), null, (sec) => expectedS && report('measuring', Math.min(1, sec / expectedS)), signal);
  const damage = damageReports(m.stderr);
  if (m.code !== 0) throw Rejections.damaged(damage[0] ?? lastError(m.stderr));
  if (m.decodedS <= 0) throw Rejections.tooShort();
  if (looksTruncated(expectedS, m.decodedS)) {
    throw Rejections.damaged(`the header says ${expectedS!.toFixed(2)} s but only ${m.decodedS.toFixed(2)} s decode`);
  }
  if (damage.length) throw Rejections.damaged(damage[0]!);
  if (m.decodedS > s.maxDurationS + 0.05) throw Rejections.tooLong(m.decodedS, s.maxDurationS);
  const measured = parseLoudnorm(m.stderr);
  if (!measured) throw Rejections.damaged('its loudness could not be measured');
  if (isSilent(measured)) throw Rejections.silent(measured.i, measured.tp);

  // Pass two: linear gain + limiter → Opus; verify; correct the gain when the limiter cost too much.
  let gainDb = gainFor(s.targetLufs, measured.i);
  let output: LoudnessMeasure | undefined;
  let encodes = 0;
  let prev: { gainDb: number; lufs: number } | undefined;
  // The limiter takes some loudness away, so a first encode of limited speech
  // lands under the target; the gain is raised by the secant through the last
  // two encodes (the first step assumes half a dB of gain gives a third of a dB
  // less, which is what espeak-ng speech does). The last encode is the closest.
  for (;;) {
    encodes++;
    report('encoding', 0);
    const e = await ffmpegPass(
      tools,
      input,
      demuxer,
      normaliseChain(gainDb),
      { file: outFile, bitrateKbps: s.bitrateKbps },
      (sec) => report('encoding', Math.min(1, sec / m.decodedS)),
      signal,
    );
    if (e.code !== 0) throw new Error(`ffmpeg could not encode: ${lastError(e.stderr)}`);
    report('verifying', 0);
    const v = await ffmpegPass(tools, outFile, 'ogg', 'loudnorm=print_format=json', null, (sec) => report('verifying', Math.min(1, sec / m.decodedS)), signal);
    output = parseLoudnorm(v.stderr);
    if (v.code !== 0 || !output) throw new Error(`the encoded file does not decode: ${lastError(v.stderr)}`);
    const error = s.targetLufs - output.i;
    if (Math.abs(error) <= LOUDNESS_TOLERANCE_LU || encodes >= 3) break;
    const slope = prev ? (output.i - prev.lufs) / (gainDb - prev.gainDb) : 2 / 3;
    prev = { gainDb, lufs: output.i };
    gainDb += error / Math.min(1, Math.max(0.2, Number.isFinite(slope) ? slope : 1));
  }
  const sp = await ffprobe(tools, outFile, signal, 'ogg');
  if (!sp.ok || !sp.probe.audio) throw new Error(`the encoded file does not probe: ${sp.ok ? 'no audio' : sp.error}`);
  const stored = sp.probe;
  const bytes = fs.statSync(outFile).size;
  const durationS = stored.declaredDurationS ?? m.decodedS;
  report('verifying', 1);
  return {
    file: outFile,
    sha256: await sha256File(outFile),
    bytes,
    durationMs: Math.round(durationS * 1000),
    source: { format: probe.format, codec: probe.audio.codec, sampleRate: probe.audio.sampleRate, channels: probe.audio.channels, durationS: m.decodedS },
    input: measured,
    output: output!,
    gainDb,
    encodes,
    stored: { codec: stored.audio!.codec, sampleRate: stored.audio!.sampleRate, channels: stored.audio!.channels, bitrateKbps: s.bitrateKbps },
    elapsedMs: Date.now() - started,
  };
}
