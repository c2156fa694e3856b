/**
 * An ffmpeg child that turns any input ffmpeg reads — an HTTP/Icecast URL, a
 * media file, WebM/Opus from a browser's MediaRecorder on stdin — into
 * 48 kHz mono s16le PCM on stdout, for a live stream. Spawned without a
 * shell (the URL is one argument, never interpolated). Pausing stdout is the
 * pacing: the pipe fills, ffmpeg blocks on write, and stops reading its input.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { PcmSource } from './live-stream.ts';

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** We closed it (stop), so the exit says nothing about the source. */
  closedByUs: boolean;
  /** The end of ffmpeg's diagnostics, for the stop reason. */
  stderrTail: string;
}

export interface FfmpegSourceHandlers {
  data(chunk: Buffer): void;
  exit(e: FfmpegExit): void;
}

/** ffmpeg input arguments for relaying an HTTP(S)/Icecast URL: a stalled connection ends after 10 s (then the stream reports source_lost). */
export function relayInput(url: string): string[] {
  return ['-rw_timeout', '10000000', '-i', url];
}

export class FfmpegPcmSource implements PcmSource {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private closedByUs = false;
  private stderr = '';

  constructor(ffmpegPath: string, input: readonly string[], handlers: FfmpegSourceHandlers) {
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...input, '-vn', '-f', 's16le', '-acodec', 'pcm_s16le', '-ac', '1', '-ar', '48000', 'pipe:1'];
    // -nostdin would stop ffmpeg reading pipe:0; drop it when the input is stdin.
    const finalArgs = input.includes('pipe:0') ? args.filter((a) => a !== '-nostdin') : args;
    this.child = spawn(ffmpegPath, finalArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (c: Buffer) => handlers.data(c));
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-2000);
    });
    this.child.stdin.on('error', () => {
      /* ffmpeg exited while we wrote: the exit handler reports it */
    });
    let reported = false;
    const report = (code: number | null, signal: NodeJS.Signals | null) => {
      if (reported) return;
      reported = true;
      handlers.exit({ code, signal, closedByUs: this.closedByUs, stderrTail: this.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 280) });
    };
    this.child.on('error', (err) => {
      this.stderr += err.message;
      report(null, null);
    });
    this.child.on('close', report);
  }

  /** Bytes for an stdin input (WebM from a browser). */
  write(chunk: Buffer): void {
    if (!this.child.stdin.destroyed) this.child.stdin.write(chunk);
  }

  endInput(): void {
    this.child.stdin.end();
  }

  pause(): void {
    this.child.stdout.pause();
  }

  resume(): void {
    this.child.stdout.resume();
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.child.stdout.destroy();
    this.child.stdin.destroy();
    this.child.kill('SIGKILL');
  }
}
