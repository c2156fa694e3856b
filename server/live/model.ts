/**
 * The live feature's nouns: where a stream goes (areas), who starts it, what
 * it plays from, how it is tuned, and the defaults. Shared by the service,
 * its routes and the views; no logic.
 */
import type { AudioPriority } from '../../protocol/index.ts';
import {
  DEFAULT_LIVE_ANNOUNCE_MS,
  DEFAULT_LIVE_JITTER_MS,
  DEFAULT_LIVE_MAX_DELAY_MS,
  DEFAULT_LIVE_PACKETS,
  DEFAULT_LIVE_OUTPUT_MS,
  LIVE_PACING_MS,
  liveDelayMs,
} from './delay-budget.ts';

export interface LiveArea {
  id: number;
  key: string;
  /** Ids of the area and its ancestors. */
  path: readonly number[];
}

export interface LiveActor {
  id: number;
  username: string;
}

export type LiveSourceSpec = { kind: 'relay'; url: string } | { kind: 'media'; mediaId: string; title: string } | { kind: 'browser'; format: 'pcm' | 'webm' };

export interface LiveStartInput {
  source: LiveSourceSpec;
  areas: LiveArea[];
  priority: AudioPriority;
  whenPreempted?: 'resume' | 'end';
  label?: string;
  delayMs?: number;
  /** Ceiling of the adaptive delay (default the config's maxDelayMs, or delayMs when that is given); at or below delayMs, the delay is fixed. */
  maxDelayMs?: number;
  packetsPerMessage?: number;
  bitrate?: number;
  actor: LiveActor;
}

export interface LiveConfig {
  delayMs: number;
  packetsPerMessage: number;
  bitrate: number;
  expectedLossPct: number;
  /** Re-send each live stream's start this often, not retained (ms; 0 = never). */
  announceMs: number;
  markerEvery: number;
  keepEnded: number;
  /** Site reports and running counters are written to the store at most this often (ms). */
  flushMs: number;
  /**
   * Ceiling of the adaptive delay (delay-budget.ts chooseLiveDelay): a stream
   * starts at the delay its sites' last measured links need and is raised
   * while it plays when a site's link asks for more, up to this. At or below
   * delayMs: every stream keeps its delay.
   */
  maxDelayMs: number;
  /** The slowest site output's write-ahead, ms (part of what a site's link needs). */
  outputMs: number;
}

/**
 * Default capture → play-at delay: the delay budget's sum (delay-budget.ts):
 * 100 ms grouping + 10 ms pacing + 210 ms jitter buffer target + 180 ms for the
 * sites' output write-ahead = 500 ms. LOANET_LIVE_JITTER_MS / _OUTPUT_MS /
 * _DELAY_MS (server/config.ts), or delayMs per stream, change it.
 */
export const DEFAULT_LIVE_CONFIG: LiveConfig = {
  delayMs: liveDelayMs({ jitterMs: DEFAULT_LIVE_JITTER_MS, outputMs: DEFAULT_LIVE_OUTPUT_MS, packetsPerMessage: DEFAULT_LIVE_PACKETS, frameMs: 20, pacingMs: LIVE_PACING_MS }),
  packetsPerMessage: DEFAULT_LIVE_PACKETS,
  bitrate: 24_000,
  expectedLossPct: 10,
  announceMs: DEFAULT_LIVE_ANNOUNCE_MS,
  // One message in 30: every 3 s at 100 ms a message.
  markerEvery: 30,
  keepEnded: 50,
  flushMs: 1000,
  maxDelayMs: DEFAULT_LIVE_MAX_DELAY_MS,
  outputMs: DEFAULT_LIVE_OUTPUT_MS,
};
