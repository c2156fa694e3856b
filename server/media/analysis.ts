/**
 * Pure decisions of the ingest pipeline: reading ffprobe and ffmpeg output,
 * judging silence and damage, and building the ffmpeg filter chains. No I/O,
 * so every rule here is unit-tested with text captured from real runs.
 */

/**
 * An upload refused for what it contains: a stable code, an HTTP status, the
 * parameters the console words it from (a limit, a duration, a level, a
 * format) and the English reason (technical detail for the console).
 */
export class MediaRejected extends Error {
  /** The code's parameters with the English as `text`: what crosses a worker and becomes the answer's params. */
  readonly params: Record<string, string | number>;
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    more: Record<string, string | number> = {},
  ) {
    super(message);
    this.name = 'MediaRejected';
    // JSON has no infinities (a silent file's loudness is -∞): such a value is left out, its words fall back.
    const finite = Object.entries(more).filter(([, v]) => typeof v !== 'number' || Number.isFinite(v));
    this.params = { ...Object.fromEntries(finite), text: message };
  }
}

export const Rejections = {
  empty: () => new MediaRejected('LOANET_MEDIA_EMPTY', 422, 'the file is empty (0 bytes)'),
  tooLarge: (maxBytes: number) =>
    new MediaRejected('LOANET_MEDIA_TOO_LARGE', 413, `the file is larger than the limit of ${Math.round(maxBytes / 1024 / 1024)} MB (LOANET_MEDIA_MAX_MB)`, {
      limitMb: Math.round(maxBytes / 1024 / 1024),
    }),
  notMedia: (detail: string) => new MediaRejected('LOANET_MEDIA_NOT_AUDIO', 422, `not an audio file ffmpeg can read (${detail})`),
  noAudio: (streams: string) => new MediaRejected('LOANET_MEDIA_NOT_AUDIO', 422, `the file has no audio stream (found: ${streams || 'nothing'})`),
  damaged: (detail: string) => new MediaRejected('LOANET_MEDIA_DAMAGED', 422, `the file is damaged or truncated: ${detail}`),
  silent: (i: number, tp: number) =>
    new MediaRejected('LOANET_MEDIA_SILENT', 422, `the audio is silent (integrated loudness ${fmtDb(i)} LUFS, peak ${fmtDb(tp)} dBTP)`, { lufs: i, peakDb: tp }),
  tooLong: (s: number, max: number) =>
    new MediaRejected('LOANET_MEDIA_TOO_LONG', 422, `the audio lasts ${fmtDuration(s)}, longer than the limit of ${fmtDuration(max)} (LOANET_MEDIA_MAX_DURATION_S)`, {
      seconds: s,
      limitS: max,
    }),
  tooShort: () => new MediaRejected('LOANET_MEDIA_DAMAGED', 422, 'the file decodes to no audio at all'),
  format: (detected: string) =>
    new MediaRejected(
      'LOANET_MEDIA_FORMAT',
      415,
      `the file is ${detected === 'unknown' ? 'in a format' : `"${detected}"`} loanet does not accept; upload ${ACCEPTED_FORMATS.map((f) => f.label).join(', ')}`,
    ),
} as const;

// ---------------------------------------------------------------- what ffmpeg may read

/**
 * The only demuxers ffmpeg may use on an uploaded or embedded file: plain
 * audio and audio/video containers that read their own bytes and nothing
 * else. Playlists (hls, m3u), concat lists (concat, ffconcat), image
 * sequences (image2), manifests (dash, imf), SDP/RTP and their like open other
 * files or URLs named inside the upload, so an upload could make the server
 * read its own disk; they are never probed, let alone opened.
 */
export const ACCEPTED_FORMATS = [
  { demuxer: 'mp3', label: 'MP3' },
  { demuxer: 'wav', label: 'WAV' },
  { demuxer: 'ogg', label: 'Ogg (Opus, Vorbis)' },
  { demuxer: 'matroska', label: 'WebM/MKV' },
  { demuxer: 'mov', label: 'MP4/M4A/MOV/3GP' },
  { demuxer: 'aac', label: 'AAC (ADTS)' },
  { demuxer: 'flac', label: 'FLAC' },
] as const;

export type Demuxer = (typeof ACCEPTED_FORMATS)[number]['demuxer'];

const DEMUXERS: readonly string[] = ACCEPTED_FORMATS.map((f) => f.demuxer);

/**
 * The accepted demuxer behind ffprobe's format_name ("mov,mp4,m4a,3gp,3g2,mj2"
 * → "mov", "matroska,webm" → "matroska"), or undefined for any other format.
 */
export function acceptedDemuxer(formatName: string): Demuxer | undefined {
  return formatName.split(',').find((n): n is Demuxer => DEMUXERS.includes(n));
}

/**
 * ffmpeg/ffprobe input options for a file loanet itself names: only the
 * `file` protocol (the path cannot be read as a URL, a `subfile,` or a
 * `concat:`), only the given demuxer (or, before the probe, one of the
 * accepted ones), and the MP4 demuxer's external references ("drefs") off.
 * None of the accepted demuxers opens a second input, so whatever an upload
 * names inside itself is never opened.
 */
export function inputArgs(file: string, demuxer?: Demuxer): string[] {
  return [
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    demuxer ?? DEMUXERS.join(','),
    ...(demuxer ? ['-f', demuxer] : []),
    // ffmpeg refuses an option the forced demuxer lacks; ffprobe ignores it.
    ...(demuxer === undefined || demuxer === 'mov' ? ['-enable_drefs', '0'] : []),
    '-i',
    `file:${file}`,
  ];
}

/**
 * The format ffmpeg detected when it refused to open a file because its
 * demuxer is not allowed: "[hls @ 0x55…] Format not on whitelist 'mp3,…'" →
 * "hls"; undefined when the output says nothing of the kind.
 */
export function refusedFormat(stderr: string): string | undefined {
  if (!/Format not on whitelist/.test(stderr)) return undefined;
  const m = /\[([A-Za-z0-9_,]{1,60}) @ (?:0x)?[0-9a-f]+\] Format not on whitelist/.exec(stderr);
  return m ? m[1]! : 'unknown';
}

function fmtDb(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : '-∞';
}

export function fmtDuration(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h} h ${m} min ${sec} s` : m ? `${m} min ${sec} s` : `${s < 10 ? s.toFixed(1) : sec} s`;
}

// ---------------------------------------------------------------- ffprobe

export interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  disposition?: { attached_pic?: number };
}

export interface ProbeResult {
  streams?: ProbeStream[];
  format?: { format_name?: string; duration?: string; bit_rate?: string };
}

export interface ProbeSummary {
  format: string;
  /** What the container declares (may be an estimate; undefined when it says nothing). */
  declaredDurationS: number | undefined;
  audio: { codec: string; sampleRate: number; channels: number } | undefined;
  /** Every stream, for the "no audio" message: "video (png)". */
  streams: string;
}

export function summarizeProbe(p: ProbeResult): ProbeSummary {
  const streams = p.streams ?? [];
  const a = streams.find((s) => s.codec_type === 'audio');
  const dur = Number(a?.duration ?? p.format?.duration);
  return {
    format: p.format?.format_name ?? 'unknown',
    declaredDurationS: Number.isFinite(dur) && dur > 0 ? dur : undefined,
    audio: a ? { codec: a.codec_name ?? 'unknown', sampleRate: Number(a.sample_rate ?? 0), channels: a.channels ?? 0 } : undefined,
    streams: streams.map((s) => `${s.codec_type ?? 'unknown'} (${s.codec_name ?? '?'})`).join(', '),
  };
}

/** The last line of ffprobe/ffmpeg's error output, without the "[demuxer @ 0x…]" noise. */
export function lastError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => cleanLine(l))
    .filter((l) => l && !/^(ffmpeg|ffprobe) version|^\s*(built with|configuration:|lib\w+\s)/.test(l));
  return lines.at(-1)?.slice(0, 300) ?? 'no detail';
}

function cleanLine(l: string): string {
  return l
    .replace(/\[[^\]]*@ 0x[0-9a-f]+\]\s*/g, '')
    .replace(/^\[(?:panic|fatal|error|warning|info|verbose|debug)\]\s*/, '')
    .replace(/^(?:file:)?\/\S+: /, '')
    .trim();
}

// ---------------------------------------------------------------- loudness

/** What ffmpeg's loudnorm filter measured (print_format=json). */
export interface LoudnessMeasure {
  /** Integrated loudness (LUFS); -Infinity for digital silence. */
  i: number;
  /** True peak (dBTP). */
  tp: number;
  /** Loudness range (LU). */
  lra: number;
  /** Gating threshold (LUFS). */
  thresh: number;
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  const s = String(v).trim();
  if (s === '-inf') return -Infinity;
  if (s === 'inf' || s === '+inf') return Infinity;
  const n = Number(s);
  return Number.isFinite(n) ? n : NaN;
}

/** The input_* figures of the JSON block loudnorm prints at the end of its run. */
export function parseLoudnorm(stderr: string): LoudnessMeasure | undefined {
  const start = stderr.lastIndexOf('"input_i"');
  if (start < 0) return undefined;
  const open = stderr.lastIndexOf('{', start);
  const close = stderr.indexOf('}', start);
  if (open < 0 || close < 0) return undefined;
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(stderr.slice(open, close + 1)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const m = { i: num(obj.input_i), tp: num(obj.input_tp), lra: num(obj.input_lra), thresh: num(obj.input_thresh) };
  return Number.isNaN(m.i) || Number.isNaN(m.tp) ? undefined : m;
}

/** Below these, nothing a loudspeaker could make audible: digital silence, a dead microphone, a muted export. */
export const SILENCE = { maxIntegratedLufs: -70, maxPeakDbtp: -60 } as const;

export function isSilent(m: LoudnessMeasure): boolean {
  return !(m.i >= SILENCE.maxIntegratedLufs) || !(m.tp >= SILENCE.maxPeakDbtp);
}

/**
 * Demuxer and decoder complaints that mean the file is broken (cut off,
 * corrupt packets), picked from ffmpeg's `-loglevel level+warning` output.
 * Harmless notes (guessed channel layout, duration estimated from bitrate,
 * skipped ID3 junk) are not in the list.
 */
const DAMAGE = [
  /packet corrupt/i,
  /truncat/i,
  /invalid data found/i,
  /error while decoding/i,
  /filesize and duration do not match/i,
  /premature end/i,
  /unexpected end/i,
  /corrupt (?:input|frame|packet)/i,
  /invalid (?:frame|packet) (?:size|header)/i,
  /header missing/i,
];

export function damageReports(stderr: string): string[] {
  const out: string[] = [];
  for (const raw of stderr.split('\n')) {
    if (!/\[(warning|error|fatal|panic)\]/.test(raw)) continue;
    const line = cleanLine(raw);
    if (DAMAGE.some((re) => re.test(line)) && !out.includes(line)) out.push(line.slice(0, 200));
  }
  return out;
}

/**
 * Cut off: the header promised clearly more than decodes (an MP3's Xing
 * frame count, a WAV's data size). Tolerates encoder padding and estimates.
 */
export function looksTruncated(declaredS: number | undefined, decodedS: number): boolean {
  if (declaredS === undefined) return false;
  return declaredS - decodedS > Math.max(0.5, declaredS * 0.05);
}

// ---------------------------------------------------------------- filter chains

/** Decode to what is stored before anything is measured: 48 kHz mono, so the measured loudness is the stored signal's. */
export const TO_MONO_48K = 'aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=mono';

/**
 * Ceiling of the (sample-peak) limiter, dBFS. EBU R128 allows −1 dBTP; the
 * Opus encoder and inter-sample peaks add about 1 dB on espeak-ng speech
 * (measured: a −1.5 dBFS ceiling came out at −0.5 dBTP), so the ceiling sits
 * 1.5 dB lower and the amplifier never clips on what we send.
 */
export const PEAK_CEILING_DBFS = -2.5;

export function measureChain(): string {
  return `${TO_MONO_48K},loudnorm=print_format=json`;
}

/**
 * Pass two: one linear gain for the whole item (what was measured once at
 * ingest, so the speech keeps its own dynamics), then a fast peak limiter
 * that only touches the rare peaks the gain would push past the ceiling.
 * loudnorm's own linear mode falls back to dynamic compression whenever
 * peaks would exceed the target (espeak-ng's output always does: it peaks
 * at 0 dBFS), and its dynamic mode misses the target on short clips.
 */
export function normaliseChain(gainDb: number): string {
  const ceiling = Math.pow(10, PEAK_CEILING_DBFS / 20).toFixed(4);
  return `${TO_MONO_48K},volume=${gainDb.toFixed(2)}dB,alimiter=limit=${ceiling}:attack=5:release=50:level=disabled`;
}

/** Gain to reach the target from a measured integrated loudness. */
export function gainFor(targetLufs: number, measuredLufs: number): number {
  return targetLufs - measuredLufs;
}

/** Close enough: the output is re-measured and re-encoded (with the gain corrected) only when off by more than this. */
export const LOUDNESS_TOLERANCE_LU = 0.5;

// ---------------------------------------------------------------- progress

/** Seconds of media processed, from one `-progress` line ("out_time_us=1234567"); undefined for other lines. */
export function progressSeconds(line: string): number | undefined {
  const m = /^out_time_(us|ms)=(\d+)$/.exec(line.trim());
  // ffmpeg's out_time_ms is in microseconds too (a long-standing quirk).
  return m ? Number(m[2]) / 1e6 : undefined;
}
