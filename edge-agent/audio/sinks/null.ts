/**
 * The null sink: plays nothing, counts everything. For tests and for the
 * fleet runner's timing-only sites. Frames written ahead of their play-at are
 * "in the buffer" until their time comes, so flush() counts what a real
 * output would have dropped.
 */
import { AudioSinkError, type AudioSink, type AudioSinkStats } from '../types.ts';
import { defaultSinkClock, SinkStatsKeeper } from './stats.ts';

export interface NullSinkOptions {
  /** How far ahead the engine writes, ms (default 60: three frames). */
  latencyMs?: number;
  now?: () => number;
}

export class NullSink implements AudioSink {
  readonly kind = 'null' as const;
  readonly latencyMs: number;
  private readonly now: () => number;
  private readonly stats_ = new SinkStatsKeeper('null');
  /** Play-at of frames written and not yet due, in order. */
  private ahead: number[] = [];
  private isOpen = false;

  constructor(options: NullSinkOptions = {}) {
    this.latencyMs = options.latencyMs ?? 60;
    this.now = options.now ?? defaultSinkClock;
  }

  async open(): Promise<void> {
    this.isOpen = true;
  }

  async write(frame: Int16Array, playAtLocalMs: number): Promise<void> {
    if (!this.isOpen) throw new AudioSinkError('null', 'not_open', 'write() before open()');
    const now = this.now();
    this.stats_.written(frame, playAtLocalMs, now);
    this.ahead = this.ahead.filter((t) => t > now);
    this.ahead.push(playAtLocalMs);
  }

  async flush(): Promise<void> {
    const now = this.now();
    this.stats_.flushed(this.ahead.filter((t) => t > now).length);
    this.ahead = [];
  }

  async close(): Promise<void> {
    this.isOpen = false;
    this.ahead = [];
  }

  stats(): AudioSinkStats {
    return this.stats_.snapshot();
  }
}
