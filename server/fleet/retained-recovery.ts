/**
 * Has an external broker kept what the server retained on it, and how fast
 * to publish it all again when not. Pure: no sockets, no timers.
 *
 * Mosquitto writes its retained messages to disk only at autosave or a clean
 * stop: after a crash (kill -9, power cut) it comes back with an older
 * snapshot, or none. The server cannot ask the broker which of its retained
 * messages survived, so after every retained publish it also publishes a
 * retained canary `{epoch, seq}` (epoch: this server process, seq: counts
 * up). The broker handles one client's publishes in order and saves its whole
 * state at once, so a canary found with this process's epoch and the last
 * acknowledged seq proves every retained message published before it is
 * there too; a canary missing, older, or from an earlier process proves
 * something may be gone, and everything retained is published again.
 */
import type { RetainedCanary } from '../../protocol/index.ts';

/**
 * What a retained-state check concludes:
 * - `intact`: the canary this process last had acknowledged (or a newer one) is there;
 * - `lost`: it is missing, older, or from another process: publish everything retained again;
 * - `unknown`: no canary of ours was acknowledged yet, nothing to compare with.
 */
export type RetainedVerdict = 'intact' | 'lost' | 'unknown';

/**
 * `expected`: this process's epoch, the last canary seq the broker
 * acknowledged (0: none yet), and whether retained messages were acknowledged
 * after the canary that covers them was (a crash in that window may have taken
 * them, and no canary can vouch for them). `seen`: the retained canary the
 * broker sent back, null when none came.
 */
export function judgeCanary(expected: { epoch: string; seq: number; uncovered: boolean }, seen: RetainedCanary | null): RetainedVerdict {
  if (expected.uncovered) return 'lost';
  if (expected.seq === 0) return 'unknown';
  if (!seen || seen.epoch !== expected.epoch || seen.seq < expected.seq) return 'lost';
  return 'intact';
}

/**
 * After a reconnect: a broker that lost our session (a clean start) lost its
 * retained messages too, or may have; so may one that got retained messages
 * no acknowledged canary covers yet. Otherwise read the canary back.
 */
export function judgeReconnect(sessionPresent: boolean, uncovered: boolean): 'lost' | 'check' {
  return sessionPresent && !uncovered ? 'check' : 'lost';
}

/**
 * How long to wait before the publish that would be the `sent`-th of a
 * paced run begun at `startedAt`, to stay at `ratePerS` on average (ms, ≥ 0).
 * Catches up after a slow stretch rather than adding delay on top of it.
 */
export function paceDelayMs(sent: number, startedAt: number, now: number, ratePerS: number): number {
  if (!(ratePerS > 0) || !Number.isFinite(ratePerS)) return 0;
  return Math.max(0, Math.ceil(startedAt + (sent * 1000) / ratePerS - now));
}

/** Retained payloads re-published per second after the broker lost them: 3,000 playlists in ~10 s. */
export const DEFAULT_REPUBLISH_PER_S = 300;
