/**
 * The agent's estimate of the server clock: what a frame's play-at time means
 * on this board. Pure: samples in, estimate out; the shell sends the clock
 * requests (protocol/audio-control.ts ClockRequest/ClockResponse), stamps t0
 * and t3 with its own clock, and asks `serverNow(localNow)` when it plays.
 *
 * One exchange gives (RFC 5905 §8)
 *   offset θ = ((t1 − t0) + (t2 − t3)) / 2      server clock − local clock
 *   delay  δ = (t3 − t0) − (t2 − t1)            round trip on the wire
 * and θ is wrong by exactly half the difference between the uplink and
 * downlink delays, so |error| ≤ δ/2: the true offset lies in
 * [t2 − t3, t1 − t0] (neither delay is negative). On 4G the jitter (0–150 ms) dwarfs the
 * base delay, so we filter as Snapcast does: keep a window of recent samples
 * and take the median offset of the fastest fraction of round trips — those
 * crossed the network with the least queueing, in both directions, so their
 * errors are small and the median drops the odd asymmetric one.
 *
 * `uncertaintyMs` is a worst case, not a statistic: every sample confines the
 * true offset to its interval above, the window to their intersection, and
 * the estimate (clamped into it) is at most the distance to the far end of
 * it. A constant path asymmetry (uplink slower than downlink by a fixed
 * amount) is invisible to any two-way exchange and stays in the estimate;
 * the bound covers it. (Should the intersection be empty — the clock drifted
 * across the window — the bound falls back to half the fastest round trip.)
 *
 * Use a local clock that does not step (a monotonic clock anchored to the
 * epoch once): a stepped local clock looks like a stepped server clock, and
 * costs a resync. Both are detected: a sample whose offset cannot be
 * explained by its own round trip (it lies outside the estimate by more than
 * δ/2 + uncertainty + stepThresholdMs), confirmed by `stepConfirmSamples`
 * such samples in a row that agree with each other, clears the window.
 */

export interface ClockSample {
  /** Local clock, request sent (ms). */
  t0: number;
  /** Server clock, request received. */
  t1: number;
  /** Server clock, response sent. */
  t2: number;
  /** Local clock, response received. */
  t3: number;
}

export interface ClockEstimate {
  /** Server clock − local clock, ms. */
  offsetMs: number;
  /** Worst-case error: the true offset lies within offsetMs ± uncertaintyMs if the clocks did not drift across the window. */
  uncertaintyMs: number;
  /** Median absolute deviation of the offsets the estimate was taken from: how well they agree. */
  spreadMs: number;
  /** Fastest round trip in the window. */
  minRttMs: number;
  /** Samples in the window. */
  samples: number;
  /** Samples the median was taken over (the fastest fraction). */
  used: number;
}

export interface ClockSyncOptions {
  /** Samples kept (default 100). */
  windowSize?: number;
  /** Fraction of the window, fastest round trips first, the median is taken over (default 0.1; at least one sample). */
  fastestFraction?: number;
  /** Samples older than this (by local t3) leave the window, so slow drift is followed (default 15 min). */
  maxSampleAgeMs?: number;
  /**
   * A sample whose round trip took longer than this is refused (default 10 s;
   * chrony's maxdelay does the same): it bounds the offset only to ± half of
   * it, and after a silence longer than maxSampleAgeMs it would be the whole
   * window, so one answer held up on a stalled link for minutes (or one that
   * crossed a jump of a faked clock) set the clock that many minutes off.
   */
  maxRttMs?: number;
  /** Margin beyond what round trips explain before a sample counts as a clock step (default 50 ms). */
  stepThresholdMs?: number;
  /** Consecutive step samples, agreeing within stepThresholdMs, that confirm a step (default 2). */
  stepConfirmSamples?: number;
  /** Below this many samples, ask again quickly (default 8). */
  burstSamples?: number;
  /** Request interval while bursting (default 250 ms) and after (default 5000 ms). */
  burstIntervalMs?: number;
  intervalMs?: number;
  /**
   * After the burst, while the estimate's uncertainty is above this (ms), ask every
   * `refineIntervalMs` instead of `intervalMs`: a burst taken while the link or the
   * board was busy leaves a wide bound, and live streams play off by up to it
   * (default: no target, the steady interval at once).
   */
  targetUncertaintyMs?: number;
  refineIntervalMs?: number;
}

/** The clock a programme was (or is being) played under: the agent's estimate of the server clock at that moment. */
export interface ClockState {
  /** At least one clock exchange succeeded in this run of the agent. */
  synced: boolean;
  /** Server clock − local clock used (ms); null before the first exchange (the local clock was trusted as is). */
  offsetMs: number | null;
  uncertaintyMs: number | null;
  /** A disagreeing sample was waiting for confirmation: the clock was in question. */
  stepPending: boolean;
}

/** What an as-run receipt says of the clock (protocol/playlist.ts AsRunEvent). */
export interface ReceiptClock {
  /** The clock was verified when the programme started: synchronised, and not in question. */
  clockSynced: boolean;
  /** Uncertainty of the clock the times are on (the best one when corrected). */
  clockUncertaintyMs?: number;
  /**
   * The clock played under minus the best clock known when the receipt is written (ms):
   * positive, it ran ahead and the programme played early by this much. Present when a
   * verified clock is known at that moment; the receipt's times are then moved onto it.
   */
  clockErrorMs?: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/**
 * The clock fields of a receipt, and the correction its times need. `atPlay` is
 * the clock state when the programme started; `best` the state when the receipt
 * is written, after the agent has checked its clock once more. Both must be on
 * the same local time base (the same run of the agent): then a local instant
 * read as `local + atPlay.offsetMs` was really `local + best.offsetMs` on the
 * best clock known, and the difference is the error the play carried. An agent
 * whose clock was never verified (no link since boot) has no best clock: the
 * receipt says so and its times stay as the board's clock read them.
 */
export function receiptClock(atPlay: ClockState, best: ClockState): ReceiptClock {
  const clockSynced = atPlay.synced && !atPlay.stepPending;
  if (!best.synced || best.offsetMs === null || best.stepPending) {
    return { clockSynced, ...(atPlay.uncertaintyMs !== null ? { clockUncertaintyMs: round3(atPlay.uncertaintyMs) } : {}) };
  }
  return {
    clockSynced,
    ...(best.uncertaintyMs !== null ? { clockUncertaintyMs: round3(best.uncertaintyMs) } : {}),
    clockErrorMs: round3((atPlay.offsetMs ?? 0) - best.offsetMs),
  };
}

export type ClockAddResult = { accepted: true; offsetMs: number; rttMs: number; step: boolean } | { accepted: false; reason: 'invalid' | 'slow' | 'step_pending'; detail: string };

interface Sample {
  offset: number;
  rtt: number;
  at: number;
}

export class ClockSync {
  private readonly windowSize: number;
  private readonly fastestFraction: number;
  private readonly maxSampleAgeMs: number;
  private readonly maxRttMs: number;
  private readonly stepThresholdMs: number;
  private readonly stepConfirmSamples: number;
  private readonly burstSamples: number;
  private readonly burstIntervalMs: number;
  private readonly intervalMs: number;
  private readonly targetUncertaintyMs: number;
  private readonly refineIntervalMs: number;
  private window: Sample[] = [];
  private pendingStep: Sample[] = [];
  private current: ClockEstimate | null = null;
  /** Confirmed clock steps since construction. */
  steps = 0;

  constructor(options: ClockSyncOptions = {}) {
    this.windowSize = Math.max(1, Math.floor(options.windowSize ?? 100));
    this.fastestFraction = Math.min(1, Math.max(0, options.fastestFraction ?? 0.1));
    this.maxSampleAgeMs = options.maxSampleAgeMs ?? 15 * 60_000;
    this.maxRttMs = options.maxRttMs ?? 10_000;
    this.stepThresholdMs = options.stepThresholdMs ?? 50;
    this.stepConfirmSamples = Math.max(1, Math.floor(options.stepConfirmSamples ?? 2));
    this.burstSamples = options.burstSamples ?? 8;
    this.burstIntervalMs = options.burstIntervalMs ?? 250;
    this.intervalMs = options.intervalMs ?? 5000;
    this.targetUncertaintyMs = options.targetUncertaintyMs ?? Infinity;
    this.refineIntervalMs = options.refineIntervalMs ?? 2000;
  }

  /** Add one exchange. A sample the clocks cannot have produced is refused, not thrown. */
  add(s: ClockSample): ClockAddResult {
    if (![s.t0, s.t1, s.t2, s.t3].every(Number.isFinite)) return { accepted: false, reason: 'invalid', detail: 'a timestamp is not a finite number' };
    if (s.t3 < s.t0) return { accepted: false, reason: 'invalid', detail: `answer received (t3 ${s.t3}) before the request was sent (t0 ${s.t0}): the local clock went backwards` };
    if (s.t2 < s.t1) return { accepted: false, reason: 'invalid', detail: `server answered (t2 ${s.t2}) before it received (t1 ${s.t1})` };
    const rtt = s.t3 - s.t0 - (s.t2 - s.t1);
    if (rtt < 0) return { accepted: false, reason: 'invalid', detail: `server held the request ${s.t2 - s.t1} ms, longer than the round trip ${s.t3 - s.t0} ms` };
    if (rtt > this.maxRttMs)
      return { accepted: false, reason: 'slow', detail: `round trip ${rtt.toFixed(0)} ms, over ${this.maxRttMs} ms: it says the offset only to ± ${(rtt / 2).toFixed(0)} ms` };
    const sample: Sample = { offset: (s.t1 - s.t0 + (s.t2 - s.t3)) / 2, rtt, at: s.t3 };

    let step = false;
    if (this.current && this.isStep(sample, this.current)) {
      const first = this.pendingStep[0];
      if (first && Math.abs(first.offset - sample.offset) > this.stepThresholdMs + (first.rtt + sample.rtt) / 2) this.pendingStep = [];
      this.pendingStep.push(sample);
      if (this.pendingStep.length < this.stepConfirmSamples) {
        return {
          accepted: false,
          reason: 'step_pending',
          detail: `offset ${sample.offset.toFixed(1)} ms is ${(sample.offset - this.current.offsetMs).toFixed(1)} ms from the estimate; waiting for confirmation`,
        };
      }
      this.window = this.pendingStep;
      this.steps++;
      step = true;
    } else {
      this.window.push(sample);
    }
    this.pendingStep = [];
    const oldest = sample.at - this.maxSampleAgeMs;
    this.window = this.window.filter((w) => w.at >= oldest);
    if (this.window.length > this.windowSize) this.window.splice(0, this.window.length - this.windowSize);
    this.current = this.compute();
    return { accepted: true, offsetMs: sample.offset, rttMs: rtt, step };
  }

  /** The current estimate, or null before the first sample (and after reset). */
  estimate(): ClockEstimate | null {
    return this.current;
  }

  get synced(): boolean {
    return this.current !== null;
  }

  /** The server clock at local time `localNow`, or undefined before the first sample: never guess. */
  serverNow(localNow: number): number | undefined {
    return this.current ? localNow + this.current.offsetMs : undefined;
  }

  /** The local time at which the server clock reads `serverTime`, or undefined before the first sample. */
  localAt(serverTime: number): number | undefined {
    return this.current ? serverTime - this.current.offsetMs : undefined;
  }

  /**
   * A sample disagreed with the estimate by more than round trips explain and
   * waits for confirmation: the clock in use is in question (the server's clock
   * may have stepped) until the next answer settles it.
   */
  get stepPending(): boolean {
    return this.pendingStep.length > 0;
  }

  /** What a receipt says of the clock a programme is played under (see `receiptClock`). */
  state(): ClockState {
    const e = this.current;
    return { synced: e !== null, offsetMs: e ? e.offsetMs : null, uncertaintyMs: e ? e.uncertaintyMs : null, stepPending: this.pendingStep.length > 0 };
  }

  /**
   * When to send the next request: quickly until the window has a few samples,
   * or at once while a step waits for its confirmation (waiting a steady
   * interval for it is what kept agents on a stepped server clock's old time
   * for ~45 s: up to one interval before the first disagreeing sample, then a
   * whole one more), sooner while the bound is wide, then at the steady interval.
   */
  nextRequestInMs(): number {
    if (this.window.length < this.burstSamples || this.pendingStep.length > 0) return this.burstIntervalMs;
    const u = this.estimate()?.uncertaintyMs ?? Infinity;
    return u > this.targetUncertaintyMs ? Math.min(this.refineIntervalMs, this.intervalMs) : this.intervalMs;
  }

  reset(): void {
    this.window = [];
    this.pendingStep = [];
    this.current = null;
  }

  private isStep(s: Sample, est: ClockEstimate): boolean {
    return Math.abs(s.offset - est.offsetMs) > s.rtt / 2 + est.uncertaintyMs + this.stepThresholdMs;
  }

  private compute(): ClockEstimate {
    const byRtt = [...this.window].sort((a, b) => a.rtt - b.rtt);
    const used = Math.max(1, Math.ceil(byRtt.length * this.fastestFraction));
    const offsets = byRtt.slice(0, used).map((s) => s.offset);
    const minRttMs = byRtt[0]!.rtt;
    // Intersection of the per-sample intervals [θ − δ/2, θ + δ/2] = [t2 − t3, t1 − t0].
    let low = -Infinity;
    let high = Infinity;
    for (const s of this.window) {
      low = Math.max(low, s.offset - s.rtt / 2);
      high = Math.min(high, s.offset + s.rtt / 2);
    }
    let offsetMs = median(offsets);
    let uncertaintyMs = minRttMs / 2;
    if (low <= high) {
      offsetMs = Math.min(high, Math.max(low, offsetMs));
      uncertaintyMs = Math.max(offsetMs - low, high - offsetMs);
    }
    return {
      offsetMs,
      uncertaintyMs,
      spreadMs: median(offsets.map((o) => Math.abs(o - offsetMs))),
      minRttMs,
      samples: this.window.length,
      used,
    };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
