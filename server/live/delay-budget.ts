/**
 * The live delay budget: how the capture → play-at delay a stream is stamped
 * with (stream_start.delayMs) splits into what each stage needs. Pure.
 *
 *   capture ──► grouping ──► server pacing ──► network ──► jitter buffer ──► output ──► horn
 *              packets×20 ms     ~10 ms          (varies)   target (250 ms)   write-ahead
 *
 * - Grouping: a message carries `packetsPerMessage` packets, so its first
 *   packet leaves only when the last one is captured: (N) × frame ms.
 * - Pacing: the server's real-time loop and encoder, ~10 ms.
 * - Jitter buffer target (default 250 ms, issue 4): the time a message may be
 *   late over its fastest path and still play — what absorbs a 4G link's
 *   jitter and a broker's queueing. Every site plays at the same server time,
 *   so this is one number for the whole stream, not per site.
 * - Output write-ahead: a site writes a frame to its sink `latency + 40 ms`
 *   (the engine's batch) before it is heard, so the packet must be in hand by
 *   then: 140 ms with the default 100 ms ALSA buffer, 180 ms with the
 *   simulated amplifier's default (5-frame batches sent 40 ms ahead). The
 *   server does not know each site's sink, so this is a configured allowance
 *   for the slowest output in the fleet (LOANET_LIVE_OUTPUT_MS, default 180);
 *   a site with a faster output simply has more jitter margin.
 *
 * Default: 60 + 10 + 250 + 180 = 500 ms from the operator's mouth to the
 * horns, of which 250 ms is jitter margin. A per-stream `delayMs` (or
 * LOANET_LIVE_DELAY_MS) overrides the total, e.g. lower on a fleet of wired
 * sites with small ALSA buffers.
 */

export interface LiveDelayBudget {
  /** Jitter buffer target: how late a message may arrive over its fastest path and still play, ms. */
  jitterMs: number;
  /** Opus packets per message. */
  packetsPerMessage: number;
  /** Duration of one packet, ms. */
  frameMs: number;
  /** The server's pacing and encoding, ms. */
  pacingMs: number;
  /** The slowest site output's write-ahead (sink latency + engine batch), ms. */
  outputMs: number;
}

export const DEFAULT_LIVE_JITTER_MS = 250;
export const DEFAULT_LIVE_OUTPUT_MS = 180;
export const LIVE_PACING_MS = 10;

/** capture → play-at, ms: the sum of the stages. */
export function liveDelayMs(b: LiveDelayBudget): number {
  for (const [k, v] of Object.entries(b)) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`live delay budget: ${k} must be a non-negative number, got ${v}`);
  }
  return Math.round(b.packetsPerMessage * b.frameMs + b.pacingMs + b.jitterMs + b.outputMs);
}

/**
 * What is left for the network's jitter at a site, given the stream's total
 * delay and that site's output write-ahead: negative means every message
 * arrives too late to play there, whatever the link.
 */
export function jitterMarginMs(delayMs: number, b: Omit<LiveDelayBudget, 'jitterMs'>): number {
  return Math.round(delayMs - b.packetsPerMessage * b.frameMs - b.pacingMs - b.outputMs);
}
