/**
 * PCM waiting to be encoded: byte chunks of any size in (a WebSocket message,
 * an ffmpeg pipe read), whole 20 ms frames out. Pure. It measures what it
 * holds so the stream can pace its source: a file or relay is paused above
 * the high-water mark (the source must never run ahead of real time), and a
 * live voice, which cannot be paused, loses its oldest audio beyond
 * `maxMs` (latency would otherwise grow without bound when the browser's
 * sound card runs a little fast).
 */
import { LIVE_FRAME_BYTES, LIVE_FRAME_MS } from './opus-encoder.ts';

export interface PcmQueueOptions {
  /** Beyond this much audio the oldest is dropped (default: unbounded). */
  maxMs?: number;
}

export class PcmQueue {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private head = 0;
  private readonly maxBytes: number;
  /** Audio dropped by `maxMs`, ms. */
  droppedMs = 0;
  /** Audio ever pushed, bytes. */
  receivedBytes = 0;

  constructor(options: PcmQueueOptions = {}) {
    this.maxBytes = options.maxMs === undefined ? Infinity : Math.max(1, Math.round(options.maxMs / LIVE_FRAME_MS)) * LIVE_FRAME_BYTES;
  }

  /** Audio held, ms (whole frames and a partial one). */
  get levelMs(): number {
    return (this.bytes / LIVE_FRAME_BYTES) * LIVE_FRAME_MS;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.receivedBytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      // Drop whole frames from the front, so what stays keeps its frame alignment.
      const excess = Math.ceil((this.bytes - this.maxBytes) / LIVE_FRAME_BYTES) * LIVE_FRAME_BYTES;
      this.skip(Math.min(excess, this.bytes - (this.bytes % LIVE_FRAME_BYTES)));
      this.droppedMs += (excess / LIVE_FRAME_BYTES) * LIVE_FRAME_MS;
    }
  }

  /** The next whole 20 ms frame, or undefined when less than one is held. */
  take(): Buffer | undefined {
    if (this.bytes < LIVE_FRAME_BYTES) return undefined;
    const out = Buffer.allocUnsafe(LIVE_FRAME_BYTES);
    let filled = 0;
    while (filled < LIVE_FRAME_BYTES) {
      const c = this.chunks[0]!;
      const n = Math.min(c.length - this.head, LIVE_FRAME_BYTES - filled);
      c.copy(out, filled, this.head, this.head + n);
      filled += n;
      this.advance(n);
    }
    return out;
  }

  /** Whatever is left, zero-padded to a whole frame (the tail of a file), or undefined when empty. */
  takeRest(): Buffer | undefined {
    if (this.bytes === 0) return undefined;
    if (this.bytes >= LIVE_FRAME_BYTES) return this.take();
    const out = Buffer.alloc(LIVE_FRAME_BYTES);
    let filled = 0;
    while (this.bytes > 0) {
      const c = this.chunks[0]!;
      const n = c.length - this.head;
      c.copy(out, filled, this.head);
      filled += n;
      this.advance(n);
    }
    return out;
  }

  /** Forget what is held (a fallback's audio when the relay it stood in for is back). Not counted as dropped. */
  clear(): void {
    this.chunks = [];
    this.bytes = 0;
    this.head = 0;
  }

  private skip(n: number): void {
    while (n > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(n, c.length - this.head);
      this.advance(k);
      n -= k;
    }
  }

  private advance(n: number): void {
    this.head += n;
    this.bytes -= n;
    if (this.head >= this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
