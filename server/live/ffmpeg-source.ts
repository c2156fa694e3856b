/**
 * An ffmpeg child that turns its input — a stored media file, a relayed
 * radio stream fetched in Node, WebM/Opus from a browser's MediaRecorder —
 * into 48 kHz mono s16le PCM on stdout, for a live stream. Spawned without a
 * shell. Pausing stdout is the pacing: the pipe fills, ffmpeg blocks on
 * write, and stops reading its input (for a relay, the HTTP body then stops
 * being read too).
 *
 * ffmpeg never opens a network connection or a file it was not given: a
 * relay's body arrives on stdin (relay-fetch.ts connects, to a checked
 * address), the input protocols are restricted to that pipe or that file,
 * and the demuxers to plain audio containers, so nothing a stream contains
 * can make ffmpeg read anything else.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { PcmSource } from './live-stream.ts';
import { ACCEPTED_FORMATS } from '../media/analysis.ts';
import { fetchRelay, RelayRefused, type RelayFetchOptions, type RelayTarget } from './relay-fetch.ts';
import type { RelayAllow } from './relay-destination.ts';

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

/** ffmpeg input arguments for a relayed stream: its body on stdin, read only as a plain audio stream (no playlist, no second input). */
export function relayInput(): string[] {
  return ['-protocol_whitelist', 'pipe', '-format_whitelist', ACCEPTED_FORMATS.map((f) => f.demuxer).join(','), '-i', 'pipe:0'];
}

/** ffmpeg input arguments for a browser's MediaRecorder WebM/Opus on stdin. */
export function webmInput(): string[] {
  return ['-protocol_whitelist', 'pipe', '-format_whitelist', 'matroska', '-f', 'webm', '-i', 'pipe:0'];
}

/** What readers of a stream are told when a relay ends by itself; the cause goes to the server log. */
export const RELAY_UNREACHABLE = 'the source could not be reached';
export const RELAY_ENDED = 'the source ended';

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

  /** ffmpeg's stdin, for piping a stream into it with backpressure. */
  get input(): Writable {
    return this.child.stdin;
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

export interface RelayEnd {
  /** `unreachable`: no audio ever came (refused redirect, connection or HTTP error, not audio); `ended`: it came, then stopped. */
  kind: 'unreachable' | 'ended';
  /**
   * Where it stopped: `refused`, a redirect to a destination a relay may not
   * reach; `connect`, the connection or the HTTP answer failed; `decode`, the
   * source answered and its body ended, broke or was not audio ffmpeg could read.
   */
  stage: 'refused' | 'connect' | 'decode';
  /** For `connect`: the errno code (ECONNREFUSED …) or fetchRelay's own words (HTTP 404 Not Found, no data for 10 s): never an address. */
  short?: string;
  /** The cause, for the server log only: network and ffmpeg detail maps the network it came from. */
  detail: string;
}

/** What the source answered with, once it answered 2xx. */
export interface RelayAnswer {
  contentType: string | null;
}

/**
 * A relay: the stream fetched in Node from the checked address (redirects
 * checked hop by hop) and piped into ffmpeg's stdin. `end` is called once
 * when the relay stops by itself, never after close().
 */
export function startRelaySource(
  ffmpegPath: string,
  first: RelayTarget,
  allow: RelayAllow,
  handlers: { data(chunk: Buffer): void; end(e: RelayEnd): void; answered?(a: RelayAnswer): void },
  o: Omit<RelayFetchOptions, 'signal'> = {},
): PcmSource {
  const abort = new AbortController();
  let pcmBytes = 0;
  let cause: string | undefined;
  let answered = false;
  let failed: { stage: 'refused' | 'connect'; short: string } | undefined;
  const child = new FfmpegPcmSource(ffmpegPath, relayInput(), {
    data: (c) => {
      pcmBytes += c.length;
      handlers.data(c);
    },
    exit: (e) => {
      abort.abort();
      if (e.closedByUs) return;
      const ffmpeg = e.code === 0 ? undefined : `ffmpeg exited (${e.code ?? e.signal})${e.stderrTail ? `: ${e.stderrTail}` : ''}`;
      const detail = [cause, ffmpeg].filter(Boolean).join('; ') || 'the stream ended';
      const where = failed && !answered ? failed : { stage: 'decode' as const };
      handlers.end({ kind: pcmBytes > 0 ? 'ended' : 'unreachable', ...where, detail });
    },
  });
  fetchRelay(first, allow, { ...o, signal: abort.signal }).then(
    (res) => {
      answered = true;
      const type = res.headers['content-type'];
      handlers.answered?.({ contentType: typeof type === 'string' ? type.slice(0, 100) : null });
      res.once('end', () => (cause ??= 'the source closed the connection'));
      res.once('error', (err) => {
        cause ??= `the connection broke: ${err.message}`;
        child.endInput();
      });
      res.once('aborted', () => (cause ??= 'the connection was cut'));
      res.pipe(child.input);
    },
    (err: Error) => {
      if (abort.signal.aborted) return;
      cause = err.message;
      // An errno code or fetchRelay's own sentence: neither names the address (Node's connect errors do).
      failed = { stage: err instanceof RelayRefused ? 'refused' : 'connect', short: (err as NodeJS.ErrnoException).code ?? err.message };
      child.endInput();
    },
  );
  return {
    pause: () => child.pause(),
    resume: () => child.resume(),
    close: () => {
      abort.abort();
      child.close();
    },
  };
}
