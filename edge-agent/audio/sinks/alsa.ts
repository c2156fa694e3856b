/**
 * The ALSA sink of a board: raw PCM piped into `aplay` (alsa-utils), which is
 * on every Pi-class image, needs no native Node module, and lets ALSA's own
 * buffer carry the audio across event-loop pauses (a GC, a burst of MQTT).
 *
 *   aplay -q -t raw -f S16_LE -r 48000 -c 1 -D <device> --buffer-time=<µs> -
 *
 * Latency. ALSA plays a frame once everything before it in its buffer has
 * played, so the engine writes each frame `latencyMs` = the configured buffer
 * before its play-at, and the pipe and ALSA buffer together hold about that
 * much audio. Backpressure: write() resolves when the pipe takes the bytes
 * (Node's stream 'drain'), so a stalled aplay stalls the engine instead of
 * growing memory.
 *
 * Flush (pre-emption). Bytes in a pipe and in ALSA's buffer cannot be taken
 * back, so flush() kills aplay (SIGKILL: the kernel closes the PCM, which
 * drops its buffer; SIGTERM is not enough, since aplay blocked reading an idle
 * pipe does not wake to it) and starts a fresh one; the next frames are heard after the new
 * process opens the device (a few ms on a Pi), which the engine's one-frame
 * budget absorbs. Underruns are counted from the engine's timing (a frame
 * written after its own play-at: ALSA ran dry before it), since aplay -q
 * reports none.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { AudioSinkError, CHANNELS, FRAME_MS, SAMPLE_RATE, type AudioSink, type AudioSinkStats } from '../types.ts';
import { defaultSinkClock, SinkStatsKeeper } from './stats.ts';

export interface AlsaSinkOptions {
  /** ALSA PCM for aplay -D: 'default', 'hw:1,0', 'plughw:0,0', 'null' (tests). Default 'default'. */
  device?: string;
  /** ALSA buffer, ms (default 200: rides out a 100 ms event-loop stall on a Pi). */
  bufferMs?: number;
  /** Replace 'aplay' (a path, or a wrapper for tests); it must take aplay's arguments. */
  command?: string;
  now?: () => number;
}

/** The aplay command line for a config: pure, unit-tested. */
export function aplayArgs(options: Pick<AlsaSinkOptions, 'device' | 'bufferMs'> = {}): string[] {
  const bufferUs = Math.round((options.bufferMs ?? 200) * 1000);
  return [
    '-q', '-t', 'raw', '-f', 'S16_LE', '-r', String(SAMPLE_RATE), '-c', String(CHANNELS),
    '-D', options.device ?? 'default',
    `--buffer-time=${bufferUs}`, `--period-time=${Math.round(bufferUs / 4)}`,
    '-',
  ];
}

type Aplay = ChildProcessByStdio<Writable, null, Readable>;

export class AlsaSink implements AudioSink {
  readonly kind = 'alsa' as const;
  readonly latencyMs: number;
  private readonly now: () => number;
  private readonly stats_ = new SinkStatsKeeper('alsa');
  private child: Aplay | undefined;
  private exitInfo: string | undefined;
  private stderr = '';
  /** Play-at of frames handed to aplay and not yet due (for counting what a flush drops). */
  private ahead: number[] = [];
  /** aplay processes started, for statistics (1 + flushes + restarts). */
  spawns = 0;

  constructor(private readonly options: AlsaSinkOptions = {}) {
    this.latencyMs = Math.max(FRAME_MS, options.bufferMs ?? 200);
    this.now = options.now ?? defaultSinkClock;
  }

  async open(): Promise<void> {
    if (!this.child) await this.start();
  }

  async write(frame: Int16Array, playAtLocalMs: number): Promise<void> {
    if (!this.child) throw new AudioSinkError('alsa', 'not_open', this.exitInfo ? `aplay is not running (${this.exitInfo})` : 'write() before open()');
    if (this.exitInfo) throw this.failure();
    const now = this.now();
    this.stats_.written(frame, playAtLocalMs, now);
    this.ahead = this.ahead.filter((t) => t > now);
    this.ahead.push(playAtLocalMs);
    const child = this.child;
    // Int16Array is host-endian; every board we run on (ARM, x86) is little-endian like S16_LE.
    const bytes = Buffer.from(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength));
    if (!child.stdin.write(bytes)) await this.writable(child);
    if (this.exitInfo && this.child === child) throw this.failure();
  }

  async flush(): Promise<void> {
    const now = this.now();
    this.stats_.flushed(this.ahead.filter((t) => t > now).length);
    this.ahead = [];
    if (!this.child) return;
    await this.kill();
    await this.start();
  }

  async close(): Promise<void> {
    const child = this.child;
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
    this.ahead = [];
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
