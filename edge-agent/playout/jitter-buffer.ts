/**
 * The jitter buffer of one live stream at one site: holds decoded audio
 * messages (protocol/audio-frame.ts) until their play-at time and hands the
 * sink one Opus packet at a time, so every site plays a packet at the same
 * server-clock instant. Pure: no timers, no clock of its own — the shell
 * passes server times (ClockSync.serverNow) in; decoding and output are the
 * sink's. Snapcast's client `Stream` is the model: a time-aware buffer that
 * drops late chunks and tells the player how far off it is.
 *
 * Timeline. Every packet's play-at is on the server clock (the message's
 * play-at + k × packet duration), so packets are kept by **slot**: their
 * index on the stream's grid of packet durations, counted from the first
 * packet this buffer saw. Slots have no wrap-around (sequence numbers do),
 * give each of a message's N packets its place, and are the same instants at
 * every site. Sequence numbers identify messages: duplicates, reordering.
 *
 * The sink's contract: call `pull(serverNowMs)` with the server time at which
 * the first sample of what it returns will leave the speaker (the sink adds
 * its own output latency); play `durationMs − skipMs` of it (decode the whole
 * packet, drop the first `skipMs`); call again when that is consumed. The
 * answer is the packet due, a concealment instruction when it is missing
 * (Opus PLC, or FEC from the next packet when the encoder sent it), or
 * silence before the stream starts and after it ends. `errorMs` says how far
 * the sink is from the schedule (+ late); below `resyncThresholdMs` the sink
 * corrects it smoothly (drop/insert samples), beyond it the buffer corrects
 * by skipping or by silence. `driftPpm` is the rate the error grows at: the
 * sink's consumption rate against the server clock, for a resampler.
 *
 * Target delay. Play-at times are authoritative (the server stamps capture
 * time + the stream's delay, 250 ms by default), so a site cannot choose its
 * own delay without leaving sync. `targetDelayMs` is that delay as the stream
 * start announced it; it bounds how early a message may arrive
 * (targetDelayMs + maxEarlyMs ahead of its play-at, else 'too_early': a
 * clock not yet synced, or a sender running ahead) and so the memory held.
 *
 * Acoustic delay. Two horns in sync at the wire are out of step where a
 * listener stands nearer one: a technician delays a horn by the extra
 * distance its neighbour's sound travels, `acousticDelayM` metres → metres /
 * 343 m/s, added to every play-at at this site (signed: a negative value
 * plays earlier, out of the buffer's margin).
 */
import { seqDelta, type AudioFrame } from '../../protocol/audio-frame.ts';

export const SPEED_OF_SOUND_MPS = 343;

export interface JitterBufferOptions {
  /** The stream's delay between capture and play-at (default 250 ms). */
  targetDelayMs?: number;
  /** How much earlier than targetDelayMs a message may arrive before it is refused (default 1000 ms). */
  maxEarlyMs?: number;
  /** Signed distance to add as delay at this site, metres (default 0). */
  acousticDelayM?: number;
  speedOfSoundMps?: number;
  /** Schedule error beyond which the buffer skips or inserts silence itself (default 30 ms). */
  resyncThresholdMs?: number;
  /** Consecutive missing packets concealed before output turns to silence (default 10 = 200 ms; Opus PLC fades out by then). */
  maxConcealPackets?: number;
  /** Pulls the drift estimate is fitted over (default 500 = 10 s of 20 ms packets). */
  driftWindow?: number;
  /** Sequence numbers remembered for duplicate detection (default 1024 messages). */
  seqMemory?: number;
  /**
   * The stream start message's play-at of the first packet and packet
   * duration. Without it the timeline starts at the first packet received;
   * with it a site that lost the first messages still starts on time and
   * conceals them.
   */
  start?: { atMs: number; frameMs: number };
}

export type PushResult =
  | { status: 'accepted'; packets: number; latePackets: number }
  | { status: 'late'; lateByMs: number }
  | { status: 'duplicate' }
  | { status: 'too_early'; leadMs: number }
  | { status: 'rejected'; reason: 'other_stream' | 'codec_changed' | 'after_end' };

export type SilenceReason = 'not_started' | 'waiting' | 'resync' | 'underrun' | 'ended';

interface Timed {
  /** The packet's index on this buffer's grid (0 = the first packet it received; the same instant at every site is the same playAtMs). */
  slot: number;
  /** When it starts, server clock, acoustic delay included. */
  playAtMs: number;
  durationMs: number;
  /** Drop this much of the decoded packet's start (a late start, or a resync). */
  skipMs: number;
  /** Sink time − schedule after the skip: + the sink is late. What the sink corrects smoothly. */
  errorMs: number;
}

export type PlayoutInstruction =
  | ({ kind: 'packet'; data: Uint8Array; seq: number; marker: boolean } & Timed)
  | ({ kind: 'conceal'; useFecFrom?: Uint8Array } & Timed)
  | { kind: 'silence'; reason: SilenceReason; durationMs: number };

export interface JitterBufferStats {
  /** Messages pushed for this stream, whatever became of them. */
  received: number;
  accepted: number;
  /** Messages every packet of which was past its play time on arrival. */
  late: number;
  /** Packets of accepted messages that were past their time (the rest played). */
  latePackets: number;
  duplicates: number;
  tooEarly: number;
  rejected: number;
  /** Messages that arrived after one with a higher sequence number. */
  reordered: number;
  /** Packets played as received. */
  played: number;
  /** Packets missing when due: concealed + fecRecovered + those past maxConcealPackets. */
  lost: number;
  concealed: number;
  fecRecovered: number;
  /** Packets passed over by a late start or a resync. */
  skipped: number;
  /** Audio held, not yet played. */
  bufferLevelMs: number;
  /** See JitterBuffer.driftPpm. */
  driftPpm: number | null;
}

interface Entry {
  data: Uint8Array;
  playAtUs: number;
  seq: number;
  marker: boolean;
  fec: boolean;
}

const DEFAULT_PACKET_US = 20_000;

export class JitterBuffer {
  private targetDelayMs: number;
  private readonly maxEarlyMs: number;
  private readonly acousticUs: number;
  private readonly resyncUs: number;
  private readonly maxConceal: number;
  private readonly driftWindow: number;
  private readonly seqMemory: number;

  private streamId: number | undefined;
  private durUs = DEFAULT_PACKET_US;
  private originUs: number | undefined;
  /** The origin came from the stream start, so the first slot is known even if its packet is not. */
  private readonly startKnown: boolean;
  private endSlot: number | undefined;
  private readonly packets = new Map<number, Entry>();
  private started = false;
  private cursor = 0;
  private missingRun = 0;
  private highestSeq: number | undefined;
  private readonly seen = new Set<number>();
  private readonly seenOrder: number[] = [];
  /**
   * The last `driftWindow` pulls' (sink time, error) in a ring: drift[k] for k in
   * [driftStart, driftStart + driftCount) mod driftWindow. Not an array of pairs: every
   * pair lived 10 s, long enough to reach V8's old generation, 50 of them a second.
   */
  private readonly driftX: Float64Array;
  private readonly driftY: Float64Array;
  private driftStart = 0;
  private driftCount = 0;
  private readonly counts = {
    received: 0,
    accepted: 0,
    late: 0,
    latePackets: 0,
    duplicates: 0,
    tooEarly: 0,
    rejected: 0,
    reordered: 0,
    played: 0,
    lost: 0,
    concealed: 0,
    fecRecovered: 0,
    skipped: 0,
  };

  constructor(options: JitterBufferOptions = {}) {
    this.targetDelayMs = options.targetDelayMs ?? 250;
    this.maxEarlyMs = options.maxEarlyMs ?? 1000;
    this.acousticUs = ((options.acousticDelayM ?? 0) / (options.speedOfSoundMps ?? SPEED_OF_SOUND_MPS)) * 1e6;
    this.resyncUs = (options.resyncThresholdMs ?? 30) * 1000;
    this.maxConceal = options.maxConcealPackets ?? 10;
    this.driftWindow = Math.max(2, options.driftWindow ?? 500);
    this.driftX = new Float64Array(this.driftWindow);
    this.driftY = new Float64Array(this.driftWindow);
    this.seqMemory = Math.max(1, options.seqMemory ?? 1024);
    this.startKnown = options.start !== undefined;
    if (options.start) {
      this.originUs = options.start.atMs * 1000;
      this.durUs = options.start.frameMs * 1000;
    }
  }

  /**
   * The stream's delay was raised while it plays (the server moved its
   * capture origin back: later messages arrive further ahead of their
   * play-at): accept them as early as the new delay allows. Never lowered.
   */
  raiseTargetDelayMs(ms: number): void {
    if (Number.isFinite(ms) && ms > this.targetDelayMs) this.targetDelayMs = ms;
  }

  /** The acoustic offset added to every play-at here, ms. */
  get acousticDelayMs(): number {
    return this.acousticUs / 1000;
  }

  /** Take one message that arrived at `arrivalServerTimeMs` (server clock). */
  push(frame: AudioFrame, arrivalServerTimeMs: number): PushResult {
    if (this.streamId !== undefined && frame.streamId !== this.streamId) {
      this.counts.rejected++;
      return { status: 'rejected', reason: 'other_stream' };
    }
    this.counts.received++;
    if (this.originUs !== undefined && frame.packetDurationUs !== this.durUs) {
      this.counts.rejected++;
      return { status: 'rejected', reason: 'codec_changed' };
    }
    if (this.seen.has(frame.seq)) {
      this.counts.duplicates++;
      return { status: 'duplicate' };
    }
    const arrivalUs = arrivalServerTimeMs * 1000;
    const leadMs = (frame.playAtUs - arrivalUs) / 1000;
    if (leadMs > this.targetDelayMs + this.maxEarlyMs) {
      this.counts.tooEarly++;
      return { status: 'too_early', leadMs };
    }
    this.streamId ??= frame.streamId;
    if (this.originUs === undefined) {
      this.durUs = frame.packetDurationUs;
      this.originUs = frame.playAtUs;
    }
    const firstSlot = this.slotOf(frame.playAtUs);
    if (this.endSlot !== undefined && firstSlot > this.endSlot) {
      this.counts.rejected++;
      return { status: 'rejected', reason: 'after_end' };
    }

    this.remember(frame.seq);
    if (this.highestSeq === undefined || seqDelta(this.highestSeq, frame.seq) > 0) this.highestSeq = frame.seq;
    else this.counts.reordered++;
    if (!this.started) this.dropPassed(arrivalUs);

    let stored = 0;
    let late = 0;
    frame.packets.forEach((data, k) => {
      const playAtUs = frame.playAtUs + k * this.durUs;
      const slot = firstSlot + k;
      const passed = (this.started && slot < this.cursor) || playAtUs + this.acousticUs + this.durUs <= arrivalUs;
      if (passed) late++;
      else if (!this.packets.has(slot)) {
        this.packets.set(slot, { data, playAtUs, seq: frame.seq, marker: frame.marker && k === 0, fec: frame.fec });
        stored++;
      }
    });
    if (frame.endOfStream) this.endSlot = firstSlot + frame.packets.length - 1;
    if (stored === 0 && late > 0) {
      this.counts.late++;
      const lastEndUs = frame.playAtUs + frame.packets.length * this.durUs + this.acousticUs;
      return { status: 'late', lateByMs: (arrivalUs - lastEndUs) / 1000 };
    }
    this.counts.accepted++;
    this.counts.latePackets += late;
    return { status: 'accepted', packets: stored, latePackets: late };
  }

  /** What the sink plays next, when its next sample leaves the speaker at `serverNowMs`. */
  pull(serverNowMs: number): PlayoutInstruction {
    const now = serverNowMs * 1000;
    const dur = this.durUs;
    if (this.originUs === undefined) return silence('not_started', dur);

    if (!this.started) {
      // A late joiner starts with the packet due now, not the first it holds.
      this.dropPassed(now);
      let first: number | undefined;
      for (const slot of this.packets.keys()) if (first === undefined || slot < first) first = slot;
      if (this.startKnown) {
        // The stream's timeline is known: start with the slot due now, even if its packet was lost.
        const due = Math.floor((now - this.acousticUs - this.originUs) / dur);
        if (due >= 0 && (first === undefined || first > due) && (this.endSlot === undefined || due <= this.endSlot)) {
          this.started = true;
          this.cursor = due;
          return this.emit(now - this.sched(due), 0, false);
        }
        if (due < 0 && first === undefined) return silence('waiting', Math.min(this.sched(0) - now, dur));
      }
      if (first === undefined) return silence(this.endSlot !== undefined ? 'ended' : 'not_started', dur);
      const t = this.sched(first);
      if (t > now) return silence('waiting', Math.min(t - now, dur));
      this.started = true;
      this.cursor = first;
      return this.emit(now - t, 0, false);
    }

    if (this.isEnded()) return silence('ended', dur);
    const err = now - this.sched(this.cursor);
    if (err <= -this.resyncUs) {
      // The sink is early by more than it can absorb smoothly: fill the gap with silence (at most 1 s at a time).
      this.driftCount = 0;
      return silence('resync', Math.min(-err, 1_000_000));
    }
    if (err >= this.resyncUs) {
      // The sink is late: skip what it should already have played.
      this.driftCount = 0;
      while (!this.isEnded() && this.sched(this.cursor) + dur <= now) {
        if (this.packets.delete(this.cursor)) this.counts.skipped++;
        this.cursor++;
      }
      if (this.isEnded()) return silence('ended', dur);
      const e = now - this.sched(this.cursor);
      return this.emit(Math.max(0, e), Math.min(0, e), false);
    }
    return this.emit(0, err, true);
  }

  /**
   * How fast the sink's schedule error grows, in µs per second (ppm) over the
   * last `driftWindow` pulls, or null until there are 50 of them spanning a
   * second. Positive: the sink plays slower than the server clock runs and
   * should drop samples (or resample faster); negative: insert. Zero once the
   * sink's correction matches.
   */
  get driftPpm(): number | null {
    const n = this.driftCount;
    if (n < 50) return null;
    const w = this.driftWindow;
    const xs = this.driftX;
    const ys = this.driftY;
    const x0 = xs[this.driftStart]!;
    if (xs[(this.driftStart + n - 1) % w]! - x0 < 1e6) return null;
    let sx = 0;
    let sy = 0;
    for (let k = 0, i = this.driftStart; k < n; k++, i = (i + 1) % w) {
      sx += xs[i]! - x0;
      sy += ys[i]!;
    }
    const mx = sx / n;
    const my = sy / n;
    let sxy = 0;
    let sxx = 0;
    for (let k = 0, i = this.driftStart; k < n; k++, i = (i + 1) % w) {
      const dx = xs[i]! - x0 - mx;
      sxy += dx * (ys[i]! - my);
      sxx += dx * dx;
    }
    return sxx === 0 ? null : (sxy / sxx) * 1e6;
  }

  get stats(): JitterBufferStats {
    let held = 0;
    for (const slot of this.packets.keys()) if (!this.started || slot >= this.cursor) held++;
    return { ...this.counts, bufferLevelMs: (held * this.durUs) / 1000, driftPpm: this.driftPpm };
  }

  /** True once the end-of-stream message's last packet has been played. */
  get ended(): boolean {
    return this.started && this.isEnded();
  }

  private isEnded(): boolean {
    return this.endSlot !== undefined && this.cursor > this.endSlot;
  }

  private slotOf(playAtUs: number): number {
    return Math.round((playAtUs - this.originUs!) / this.durUs);
  }

  /** Start of a slot on the server clock, acoustic delay included, µs. */
  private sched(slot: number): number {
    const e = this.packets.get(slot);
    return (e ? e.playAtUs : this.originUs! + slot * this.durUs) + this.acousticUs;
  }

  /** Before playout starts: forget packets that ended before `nowUs`; they can never play in sync. */
  private dropPassed(nowUs: number): void {
    for (const slot of [...this.packets.keys()]) {
      if (this.sched(slot) + this.durUs <= nowUs) {
        this.packets.delete(slot);
        this.counts.skipped++;
      }
    }
  }

  /** Play (or conceal) the slot at the cursor and move on. */
  private emit(skipUs: number, errUs: number, track: boolean): PlayoutInstruction {
    // errUs is what remains after the skip; the sink corrects it smoothly.
    const slot = this.cursor;
    const startUs = this.sched(slot);
    const e = this.packets.get(slot);
    this.packets.delete(slot);
    this.cursor++;
    if (track) this.trackDrift(startUs + errUs, errUs);
    if (e) {
      this.missingRun = 0;
      this.counts.played++;
      // Spelt out, not spread from `timed`: one object per packet, 50 a second.
      const { data, seq, marker } = e;
      return { kind: 'packet', data, seq, marker, slot, playAtMs: startUs / 1000, durationMs: this.durUs / 1000, skipMs: skipUs / 1000, errorMs: errUs / 1000 };
    }
    this.counts.lost++;
    this.missingRun++;
    if (this.missingRun > this.maxConceal) return silence('underrun', this.durUs);
    const timed: Timed = { slot, playAtMs: startUs / 1000, durationMs: this.durUs / 1000, skipMs: skipUs / 1000, errorMs: errUs / 1000 };
    const next = this.packets.get(slot + 1);
    if (next?.fec) {
      this.counts.fecRecovered++;
      return { kind: 'conceal', useFecFrom: next.data, ...timed };
    }
    this.counts.concealed++;
    return { kind: 'conceal', ...timed };
  }

  /** One pull into the drift window, the oldest forgotten once it is full. */
  private trackDrift(x: number, y: number): void {
    const w = this.driftWindow;
    if (this.driftCount === 0) this.driftStart = 0;
    const i = (this.driftStart + this.driftCount) % w;
    this.driftX[i] = x;
    this.driftY[i] = y;
    if (this.driftCount < w) this.driftCount++;
    else this.driftStart = (this.driftStart + 1) % w;
  }

  private remember(seq: number): void {
    this.seen.add(seq);
    this.seenOrder.push(seq);
    if (this.seenOrder.length > this.seqMemory) this.seen.delete(this.seenOrder.shift()!);
  }
}

function silence(reason: SilenceReason, durationUs: number): PlayoutInstruction {
  return { kind: 'silence', reason, durationMs: durationUs / 1000 };
}
