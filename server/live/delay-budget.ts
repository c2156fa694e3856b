/**
 * The live delay budget: how the capture → play-at delay a stream is stamped
 * with (stream_start.delayMs) splits into what each stage needs. Pure.
 *
 *   capture ──► grouping ──► server pacing ──► network ──► jitter buffer ──► output ──► horn
 *              packets×20 ms     ~10 ms          (varies)   target (210 ms)   write-ahead
 *
 * - Grouping: a message carries `packetsPerMessage` packets, so its first
 *   packet leaves only when the last one is captured: (N) × frame ms.
 * - Pacing: the server's real-time loop and encoder, ~10 ms.
 * - Jitter buffer target (default 210 ms): the time a message may be
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
 * Default: 100 + 10 + 210 + 180 = 500 ms from the operator's mouth to the
 * horns, of which 210 ms is jitter margin. Five packets per message (100 ms)
 * rather than three: each message costs its topic and header on every 4G
 * link, and the 40 ms more of grouping came out of the jitter target, so the
 * total is what it was (a slow link still gets the adaptive delay below). A per-stream `delayMs` (or
 * LOANET_LIVE_DELAY_MS) overrides the total, e.g. lower on a fleet of wired
 * sites with small ALSA buffers.
 */

import { AUDIO_FRAME_DEFAULT_PACKETS } from '../../protocol/audio-frame.ts';

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

export const DEFAULT_LIVE_JITTER_MS = 210;
/** Opus packets per live message (protocol/audio-frame.ts). */
export const DEFAULT_LIVE_PACKETS = AUDIO_FRAME_DEFAULT_PACKETS;
export const DEFAULT_LIVE_OUTPUT_MS = 180;
export const LIVE_PACING_MS = 10;
/**
 * How often a stream's start is re-announced on the control channels (QoS 0), for a site that
 * missed it or a raise of its delay: a site that subscribes late has it from the audio channel's
 * retained copy, so this is a backstop, and on a 4G link each announcement is ~400 bytes.
 */
export const DEFAULT_LIVE_ANNOUNCE_MS = 15_000;

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

// ------------------------------------------------------ adaptive delay ----
// A mountain link adds hundreds of ms and a jitter of a second (a 300 ms +
// 0–1000 ms path lost 99 % at the 500 ms default, and played everything at
// 3,000 ms). Every site plays a stream at the same server time, so the delay
// is one number per stream: the one the slowest targeted site needs, within a
// ceiling the operator sees before going live. Sites measure their transit
// (edge-agent/live/transit.ts, reported in stream_stats.transit); the server
// remembers each site's last measure for the next stream and, while a stream
// plays, raises its delay when a site's measure asks for more. Never lowered
// while a stream plays (that would cut audio); the next stream starts from
// the sites' latest measures.

/** Headroom over a site's measured p99 transit: the p99 of the next seconds is not the last ones'. */
export const LIVE_TRANSIT_MARGIN_MS = 100;
/** Default ceiling of the adaptive delay (LOANET_LIVE_MAX_DELAY_MS): 3 s played everything on a 300 + 0–1000 ms path. */
export const DEFAULT_LIVE_MAX_DELAY_MS = 3000;
/** Delays are whole packets, so a raise inserts whole packets of silence. */
const STEP_MS = 20;

/** One site's measured link: the p99 of its messages' transit (server send → arrival), ms. */
export interface SiteLink {
  siteId: string;
  transitP99Ms: number;
}

export interface DelayChoice {
  /** The stream's delay: at least the floor, at most the ceiling. */
  delayMs: number;
  /** The effective ceiling (never below the floor). */
  ceilingMs: number;
  /** What the slowest site needs (may exceed the ceiling); the floor with no measured site. */
  neededMs: number;
  /** Each measured site's need, slowest first. */
  sites: Array<{ siteId: string; transitP99Ms: number; neededMs: number; withinCeiling: boolean }>;
}

/**
 * The delay a site's link needs: its messages' grouping + their p99 transit
 * (pacing included) + headroom + the output write-ahead, in whole packets.
 */
export function siteNeededDelayMs(transitP99Ms: number, b: Omit<LiveDelayBudget, 'jitterMs' | 'pacingMs'>, marginMs = LIVE_TRANSIT_MARGIN_MS): number {
  const raw = b.packetsPerMessage * b.frameMs + Math.max(0, transitP99Ms) + marginMs + b.outputMs;
  return Math.ceil(raw / STEP_MS) * STEP_MS;
}

/**
 * The stream's delay from its sites' measured links: the largest need, not
 * below `floorMs` (the configured or requested delay) nor `currentMs` (a
 * playing stream's delay is only raised), not above the ceiling. A site whose
 * need is above the ceiling cannot keep up at any allowed delay: it is named,
 * and the others are served.
 */
export function chooseLiveDelay(o: {
  floorMs: number;
  ceilingMs: number;
  currentMs?: number;
  links: readonly SiteLink[];
  budget: Omit<LiveDelayBudget, 'jitterMs' | 'pacingMs'>;
  marginMs?: number;
}): DelayChoice {
  const floor = Math.max(0, o.floorMs, o.currentMs ?? 0);
  const ceiling = Math.max(floor, o.ceilingMs);
  const sites = o.links
    .filter((l) => Number.isFinite(l.transitP99Ms))
    .map((l) => {
      const neededMs = siteNeededDelayMs(l.transitP99Ms, o.budget, o.marginMs);
      return { siteId: l.siteId, transitP99Ms: l.transitP99Ms, neededMs, withinCeiling: neededMs <= ceiling };
    })
    .sort((a, b) => b.neededMs - a.neededMs || a.siteId.localeCompare(b.siteId));
  const neededMs = Math.max(floor, ...sites.map((s) => s.neededMs));
  return { delayMs: Math.min(ceiling, neededMs), ceilingMs: ceiling, neededMs, sites };
}

/** A stream's adaptive delay as the operator sees it, while it plays and, kept with its record, after it ended. */
export interface LiveDelayView {
  /** The delay the stream started with. */
  initialMs: number;
  /** The ceiling: the delay is never raised above it. */
  ceilingMs: number;
  /** Raises while it played: when, from, to. */
  raises: Array<{ at: number; fromMs: number; toMs: number }>;
  /** Sites that cannot keep up: their link needs more than the ceiling, or they report being behind. */
  behind: Array<{ siteId: string; neededMs: number | null; reason: 'beyond_ceiling' | 'late_packets' }>;
}
