/**
 * The simulated amplifier as a sink: the audio goes to firmware-sim over the
 * device protocol as per-frame summaries (play-at and RMS level, batched
 * `audio` messages; protocol/device.ts), not as PCM, so a fleet of hundreds of
 * simulated sites stays cheap while each simulated device still knows what
 * came out of its speakers, when, how loud, and whether the amplifier was on.
 *
 * Batching: frames are sent in runs of up to `batchFrames` consecutive frames
 * (default 10 = 200 ms; the agent's default output buffer of 100 ms makes
 * it 5). A batch leaves when it is full, when the next frame
 * does not follow on, or when its first frame is due within `sendAheadMs`
 * (checked at each write, and by a timer when writes stop: a programme's end);
 * so latencyMs = batch length + sendAheadMs. The device answers each batch
 * with how many frames it heard; those counts are kept here (`heardFrames`,
 * `silentFrames`) so the engine can tell "played to a dead amplifier".
 *
 * Flush: frames not yet sent are dropped here; frames sent but not yet due are
 * withdrawn with `audio_flush` from the first undue frame's seq.
 */
import { AUDIO_BATCH_MAX_FRAMES } from '../../../protocol/index.ts';
import { AudioSinkError, FRAME_MS, type AudioSink, type AudioSinkStats } from '../types.ts';
import { defaultSinkClock, frameLevelDb, SinkStatsKeeper } from './stats.ts';

/** What the sink needs from the device link (edge-agent/devices/sim-driver.ts implements it). */
export interface DeviceAudioLink {
  sendAudio(batch: { session: number; seq: number; playAt: number; frameMs: number; levels: number[] }): Promise<{ heard: number }>;
  flushAudio(session: number, fromSeq: number): Promise<{ dropped: number }>;
}

export interface DeviceSinkOptions {
  /** Frames per audio message, 1..50 (default 10). */
  batchFrames?: number;
  /** Send a batch when its first frame is due within this, ms (default 40: link and firmware time on a board's local link). */
  sendAheadMs?: number;
  now?: () => number;
}

interface Pending {
  seq: number;
  playAt: number;
  level: number;
}

let sessions = Math.floor(Math.random() * 0x7fff_ffff);

export class DeviceSink implements AudioSink {
  readonly kind = 'device' as const;
  readonly latencyMs: number;
  private readonly batchFrames: number;
  private readonly sendAheadMs: number;
  private readonly now: () => number;
  private readonly stats_ = new SinkStatsKeeper('device');
  private isOpen = false;
  private session = 0;
  private nextSeq = 0;
  private batch: Pending[] = [];
  /** Frames sent, not yet due: [seq, playAt]. */
  private sent: Array<{ seq: number; playAt: number }> = [];
  private inFlight = new Set<Promise<void>>();
  private lastError: string | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** Frames the device says came out of the speakers / made no sound. */
  heardFrames = 0;
  silentFrames = 0;
  /** Messages the device did not answer or refused (link down, old firmware). */
  failedBatches = 0;

  constructor(
    private readonly link: DeviceAudioLink,
    options: DeviceSinkOptions = {},
  ) {
    this.batchFrames = Math.max(1, Math.min(AUDIO_BATCH_MAX_FRAMES, options.batchFrames ?? 10));
    this.sendAheadMs = options.sendAheadMs ?? 40;
    this.latencyMs = this.batchFrames * FRAME_MS + this.sendAheadMs;
    this.now = options.now ?? defaultSinkClock;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    this.isOpen = true;
    this.session = sessions = (sessions + 1) >>> 0;
    this.nextSeq = 0;
  }

  async write(frame: Int16Array, playAtLocalMs: number): Promise<void> {
    if (!this.isOpen) throw new AudioSinkError('device', 'not_open', 'write() before open()');
    const now = this.now();
    this.stats_.written(frame, playAtLocalMs, now);
    const last = this.batch[this.batch.length - 1];
    if (last && Math.abs(playAtLocalMs - (last.playAt + FRAME_MS)) > FRAME_MS / 2) this.send();
    this.batch.push({ seq: this.nextSeq, playAt: playAtLocalMs, level: frameLevelDb(frame) });
    this.nextSeq = (this.nextSeq + 1) >>> 0;
    if (this.batch.length >= this.batchFrames || this.batch[0]!.playAt - now <= this.sendAheadMs) this.send();
    else this.armDeadline(now);
    // Backpressure: at most a few batches unanswered (a stalled link stalls the engine, not memory).
    if (this.inFlight.size >= 4) await Promise.race(this.inFlight);
  }

  async flush(): Promise<void> {
    const now = this.now();
    const unsent = this.batch.length;
    this.batch = [];
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    const undue = this.sent.filter((f) => f.playAt > now);
    this.sent = [];
    this.stats_.flushed(unsent + undue.length);
    if (undue.length > 0) {
      try {
        await this.link.flushAudio(this.session, undue[0]!.seq);
      } catch (e) {
        this.failedBatches++;
        this.lastError = (e as Error).message;
      }
    }
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.send();
    await Promise.allSettled([...this.inFlight]);
    this.isOpen = false;
  }

  stats(): AudioSinkStats {
    return this.stats_.snapshot();
  }

  /** The latest link failure, for the agent's log. */
  get error(): string | undefined {
    return this.lastError;
  }

  /**
   * A partial batch must not wait for a next write that may not come (the
   * programme ended): send it when its first frame is due within sendAheadMs.
   */
  private armDeadline(now: number): void {
    if (this.deadline || this.batch.length === 0) return;
    const delay = Math.max(0, Math.min(this.latencyMs, this.batch[0]!.playAt - this.sendAheadMs - now));
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.send();
    }, delay);
    this.deadline.unref();
  }

  private send(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const now = this.now();
    this.sent = this.sent.filter((f) => f.playAt > now);
    for (const f of batch) this.sent.push({ seq: f.seq, playAt: f.playAt });
    const p = this.link
      .sendAudio({ session: this.session, seq: batch[0]!.seq, playAt: batch[0]!.playAt, frameMs: FRAME_MS, levels: batch.map((f) => f.level) })
      .then(
        ({ heard }) => {
          this.heardFrames += heard;
          this.silentFrames += batch.length - heard;
        },
        (e: Error) => {
          this.failedBatches++;
          this.lastError = e.message;
        },
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }
}
