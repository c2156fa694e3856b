/**
 * The ALSA sink of a board: raw PCM piped into `aplay` (alsa-utils), which is
 * on every Pi-class image, needs no native Node module, and lets ALSA's own
 * buffer carry the audio across event-loop pauses (a GC, a burst of MQTT).
 *
 *   aplay -q -t raw -f S16_LE -r 48000 -c 1 -D <device> --buffer-time=<µs> -
 *
 * Latency. The engine writes each frame `latencyMs` = the configured buffer
 * before its play-at; the sink queues it and hands it to aplay one frame
 * later than that, on a timer (alsa-feed.ts says why: ALSA starts a stream
 * when its buffer is full, so feeding on schedule makes the first frame heard
 * at its play-at instead of early), with silence in the gaps and after the
 * last programme for as long as the sink is open. Backpressure: write() resolves when the pipe takes the bytes
 * (Node's stream 'drain'), so a stalled aplay stalls the engine instead of
 * growing memory. Not corrected: the sound card's own clock drifting against
 * the agent's (tens of ppm; a few ms per minute of continuous programme).
 *
 * Flush (pre-emption). Bytes in a pipe and in ALSA's buffer cannot be taken
 * back, so flush() drops the queue and, when audio is still in ALSA's buffer,
 * kills aplay (SIGKILL: the kernel closes the PCM, which drops its buffer;
 * SIGTERM is not enough, since aplay blocked reading an idle pipe does not
 * wake to it) and starts a fresh one; the next frames are fed on schedule
 * as before (their play-at is a buffer ahead, longer than a process start). Underruns are counted from the engine's timing (a frame
 * written after its own play-at: ALSA ran dry before it), since aplay -q
 * reports none.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { AudioSinkError, CHANNELS, DEFAULT_OUTPUT_BUFFER_MS, FRAME_BYTES, FRAME_MS, SAMPLE_RATE, type AudioSink, type AudioSinkStats } from '../types.ts';
import { planFeed } from './alsa-feed.ts';
import { defaultSinkClock, SinkStatsKeeper } from './stats.ts';

export interface AlsaSinkOptions {
  /** ALSA PCM for aplay -D: 'default', 'hw:1,0', 'plughw:0,0', 'null' (tests). Default 'default'. */
  device?: string;
  /** ALSA buffer, ms (default 100: rides out an 80 ms event-loop stall on a Pi, and leaves a live stream's 250 ms jitter target intact: server/live/delay-budget.ts). */
  bufferMs?: number;
  /** Replace 'aplay' (a path, or a wrapper for tests); it must take aplay's arguments. */
  command?: string;
  now?: () => number;
}

/** The aplay command line for a config: pure, unit-tested. */
export function aplayArgs(options: Pick<AlsaSinkOptions, 'device' | 'bufferMs'> = {}): string[] {
  const bufferUs = Math.round((options.bufferMs ?? DEFAULT_OUTPUT_BUFFER_MS) * 1000);
  return [
    '-q',
    '-t',
    'raw',
    '-f',
    'S16_LE',
    '-r',
    String(SAMPLE_RATE),
    '-c',
    String(CHANNELS),
    '-D',
    options.device ?? 'default',
    `--buffer-time=${bufferUs}`,
    `--period-time=${Math.round(bufferUs / 4)}`,
    '-',
  ];
}

type Aplay = ChildProcessByStdio<Writable, null, Readable>;

export class AlsaSink implements AudioSink {
  readonly kind = 'alsa' as const;
  readonly latencyMs: number;
  private readonly now: () => number;
  private readonly stats_ = new SinkStatsKeeper('alsa');
  private readonly feedAheadMs: number;
  private readonly padDelayMs: number;
  private child: Aplay | undefined;
  private exitInfo: string | undefined;
  private stderr = '';
  /** Frames written by the engine and not yet handed to aplay (see alsa-feed.ts). */
  private queue: Array<{ bytes: Buffer; playAt: number }> = [];
  /** Play-at of real frames handed to aplay, kept until due (for counting what a flush drops). */
  private fed: number[] = [];
  private fedEnd: number | null = null;
  private filledMs = 0;
  private timer: NodeJS.Timeout | undefined;
  /** aplay processes started, for statistics (1 + flushes that had audio in ALSA's buffer). */
  spawns = 0;

  constructor(private readonly options: AlsaSinkOptions = {}) {
    this.latencyMs = Math.max(2 * FRAME_MS, options.bufferMs ?? DEFAULT_OUTPUT_BUFFER_MS);
    this.now = options.now ?? defaultSinkClock;
    this.feedAheadMs = this.latencyMs - FRAME_MS;
    this.padDelayMs = Math.min(2 * FRAME_MS, this.feedAheadMs / 2);
  }

  async open(): Promise<void> {
    if (!this.child) await this.start();
  }

  async write(frame: Int16Array, playAtLocalMs: number): Promise<void> {
    if (!this.child) throw new AudioSinkError('alsa', 'not_open', this.exitInfo ? `aplay is not running (${this.exitInfo})` : 'write() before open()');
    if (this.exitInfo) throw this.failure();
    this.stats_.written(frame, playAtLocalMs, this.now());
    // Copy: the engine may reuse its frame. Int16Array is host-endian; every board we run on (ARM, x86) is little-endian like S16_LE.
    this.queue.push({ bytes: Buffer.from(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength)), playAt: playAtLocalMs });
    const child = this.child;
    // Backpressure: a pipe that aplay does not empty (a wedged card) stalls the engine instead of growing memory.
    if (!this.pump()) await this.writable(child);
    if (this.exitInfo && this.child === child) throw this.failure();
  }

  async flush(): Promise<void> {
    const now = this.now();
    this.fed = this.fed.filter((t) => t > now);
    this.stats_.flushed(this.queue.length + this.fed.length);
    this.queue = [];
    this.fed = [];
    this.clearTimer();
    const inAlsa = this.fedEnd !== null && this.fedEnd > now;
    this.fedEnd = null;
    this.filledMs = 0;
    // Audio already in the pipe and ALSA's buffer cannot be taken back: restart aplay to drop it.
    if (!this.child || !inAlsa) return;
    await this.kill();
    await this.start();
  }

  async close(): Promise<void> {
    this.clearTimer();
    if (this.child && !this.exitInfo) this.pump(Number.POSITIVE_INFINITY); // the rest, whatever its time: closing means play it out
    const child = this.child;
    this.queue = [];
    this.fed = [];
    this.fedEnd = null;
    this.filledMs = 0;
    if (!child) return;
    this.child = undefined;
    // End of input: aplay plays what it holds, then exits. A wedged device must not hang the agent's shutdown.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), this.latencyMs + 2000);
      await exited;
      clearTimeout(timer);
    }
  }

  /**
   * Hand aplay what is due (planFeed) and set the timer for the next. Returns
   * false when the pipe is full. `feedAheadMs` = Infinity feeds everything.
   */
  private pump(feedAheadMs = this.feedAheadMs): boolean {
    this.clearTimer();
    const child = this.child;
    if (!child) return true;
    const now = this.now();
    const plan = planFeed({
      queued: this.queue.map((f) => f.playAt),
      fedEnd: this.fedEnd,
      filledMs: this.filledMs,
      now,
      feedAheadMs,
      padDelayMs: this.padDelayMs,
      frameMs: FRAME_MS,
    });
    const parts: Buffer[] = [];
    for (const step of plan.steps) {
      if ('silence' in step) {
        parts.push(Buffer.alloc(step.silence * FRAME_BYTES));
      } else {
        for (const f of this.queue.splice(0, step.frames)) {
          parts.push(f.bytes);
          this.fed.push(f.playAt);
        }
      }
    }
    this.fedEnd = plan.fedEnd;
    this.filledMs = plan.filledMs;
    this.fed = this.fed.filter((t) => t > now);
    let ok = true;
    if (parts.length > 0) ok = child.stdin.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    if (plan.wakeAt !== null && Number.isFinite(plan.wakeAt)) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, plan.wakeAt - now));
      this.timer.unref();
    }
    return ok;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  stats(): AudioSinkStats {
    return this.stats_.snapshot();
  }

  private async start(): Promise<void> {
    const command = this.options.command ?? 'aplay';
    const child = spawn(command, aplayArgs(this.options), { stdio: ['pipe', 'ignore', 'pipe'] });
    this.spawns++;
    this.exitInfo = undefined;
    this.stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-500);
    });
    // EPIPE on a dying aplay surfaces as an exit; it must not become an uncaught error.
    child.stdin.on('error', () => {});
    child.on('exit', (code, signal) => {
      if (this.child === child) this.exitInfo = signal ? `killed by ${signal}` : `exit code ${code}`;
    });
    const spawned = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    });
    if (spawned) {
      const hint = spawned.code === 'ENOENT' ? ` (${command} not found: apt-get install alsa-utils, or set audio.device / the sink to 'file' or 'null')` : '';
      throw new AudioSinkError('alsa', 'output_failed', `cannot start ${command}: ${spawned.code ?? spawned.message}${hint}`);
    }
    this.child = child;
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.stdin.destroy();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Resolves when the pipe can take more, or the process is gone (never rejects: EPIPE is reported as the exit). */
  private writable(child: Aplay): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        child.stdin.off('drain', done);
        child.stdin.off('close', done);
        child.off('exit', done);
        resolve();
      };
      child.stdin.on('drain', done);
      child.stdin.on('close', done);
      child.on('exit', done);
      if (child.exitCode !== null || child.signalCode !== null || child.stdin.destroyed) done();
    });
  }

  private failure(): AudioSinkError {
    const why = this.stderr.trim().split('\n').pop() ?? '';
    return new AudioSinkError('alsa', 'output_failed', `aplay on ${this.options.device ?? 'default'} stopped (${this.exitInfo})${why ? `: ${why}` : ''}`);
  }
}
