/**
 * The WAV file sink: what the site would have played, as a file — for tests
 * (compare durations, listen to a pre-emption) and for a board with no sound
 * card. Mono 48 kHz s16 WAV.
 *
 * Timeline: frames are held until their play-at has passed on the sink's
 * clock (or more than a latency's worth is waiting), so flush() drops exactly
 * what a real output would not yet have played. With `fillGaps` (default) a
 * jump in play-at between frames is written as silence, so position in the
 * file = time since the first frame, and a gap between two programmes shows.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { AudioSinkError, CHANNELS, FRAME_MS, SAMPLE_RATE, type AudioSink, type AudioSinkStats } from '../types.ts';
import { defaultSinkClock, SinkStatsKeeper } from './stats.ts';

export interface FileSinkOptions {
  path: string;
  /** How far ahead the engine writes, ms (default 100). */
  latencyMs?: number;
  /** Write silence for jumps in play-at (default true). At most `maxGapMs` (default 10 min) per jump. */
  fillGaps?: boolean;
  maxGapMs?: number;
  now?: () => number;
}

const HEADER_BYTES = 44;

/** A 44-byte canonical WAV header for `dataBytes` of mono s16 at 48 kHz. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(CHANNELS, 22);
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * CHANNELS * 2, 28);
  h.writeUInt16LE(CHANNELS * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

export class FileSink implements AudioSink {
  readonly kind = 'file' as const;
  readonly latencyMs: number;
  private readonly now: () => number;
  private readonly stats_ = new SinkStatsKeeper('file');
  private file: FileHandle | undefined;
  private dataBytes = 0;
  private queue: Array<{ pcm: Buffer; playAt: number }> = [];
  /** Play-at the next committed frame would have if contiguous; null before the first. */
  private nextPlayAt: number | null = null;
  private readonly maxQueue: number;
  private created = false;

  constructor(private readonly options: FileSinkOptions) {
    this.latencyMs = options.latencyMs ?? 100;
    this.now = options.now ?? defaultSinkClock;
    this.maxQueue = Math.ceil(this.latencyMs / FRAME_MS) + 2;
  }

  /** Bytes of PCM in the file so far (excluding the header). */
  get pcmBytes(): number {
    return this.dataBytes;
  }

  /**
   * The first open creates the file; a later one (the engine closes the sink
   * when the amplifier goes off, and opens it for the next programme)
   * continues it, so one file holds the whole session on one timeline.
   */
  async open(): Promise<void> {
    if (this.file) return;
    const first = !this.created;
    try {
      this.file = await open(this.options.path, first ? 'w' : 'r+');
      if (first) await this.file.write(wavHeader(0), 0, HEADER_BYTES, 0);
    } catch (e) {
      throw new AudioSinkError('file', 'output_failed', `cannot write ${this.options.path}: ${(e as Error).message}`);
    }
    this.created = true;
  }

  async write(frame: Int16Array, playAtLocalMs: number): Promise<void> {
    if (!this.file) throw new AudioSinkError('file', 'not_open', 'write() before open()');
    const now = this.now();
    this.stats_.written(frame, playAtLocalMs, now);
    // Copy: the engine may reuse its frame buffers.
    this.queue.push({ pcm: Buffer.from(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength)), playAt: playAtLocalMs });
    let due = 0;
    while (due < this.queue.length && (this.queue[due]!.playAt <= now || this.queue.length - due > this.maxQueue)) due++;
    if (due > 0) await this.commit(this.queue.splice(0, due));
  }

  async flush(): Promise<void> {
    const now = this.now();
    const due = this.queue.filter((f) => f.playAt <= now);
    this.stats_.flushed(this.queue.length - due.length);
    this.queue = [];
    if (due.length) await this.commit(due);
  }

  async close(): Promise<void> {
    const file = this.file;
    if (!file) return;
    try {
      await this.commit(this.queue.splice(0));
      await file.write(wavHeader(this.dataBytes), 0, HEADER_BYTES, 0);
    } finally {
      this.file = undefined;
      await file.close();
    }
  }

  stats(): AudioSinkStats {
    return this.stats_.snapshot();
  }

  private async commit(frames: Array<{ pcm: Buffer; playAt: number }>): Promise<void> {
    const file = this.file!;
    const parts: Buffer[] = [];
    for (const f of frames) {
      if (this.options.fillGaps !== false && this.nextPlayAt !== null && f.playAt - this.nextPlayAt >= FRAME_MS / 2) {
        const gapMs = Math.min(f.playAt - this.nextPlayAt, this.options.maxGapMs ?? 600_000);
        parts.push(Buffer.alloc(Math.round((gapMs * SAMPLE_RATE) / 1000) * 2 * CHANNELS));
      }
      parts.push(f.pcm);
      this.nextPlayAt = f.playAt + FRAME_MS;
    }
    const buf = Buffer.concat(parts);
    try {
      await file.write(buf, 0, buf.length, HEADER_BYTES + this.dataBytes);
    } catch (e) {
      throw new AudioSinkError('file', 'output_failed', `cannot write ${this.options.path}: ${(e as Error).message}`);
    }
    this.dataBytes += buf.length;
  }
}
