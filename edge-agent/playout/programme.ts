/**
 * What the playout engine plays and what it says about it: a programme, its
 * source, and the engine's events. Types only, in a module of their own so
 * the engine (the shell, engine.ts) and its pure decisions (timeline.ts) both
 * import them and neither imports the other for them. engine.ts re-exports
 * them, since its callers (playlist executor, alerts, live) think in terms of
 * the engine.
 */
import type { PlaylistPriority } from '../../protocol/playlist.ts';

export type ProgrammeKind = 'bulletin' | 'alert' | 'live' | 'tone';
/** normal < priority < emergency. */
export type ProgrammePriority = PlaylistPriority;
export type WhenPreempted = 'resume' | 'end';

/**
 * Where a programme's PCM comes from. The engine asks for frame `index` (this
 * programme's own count of frames heard: 0, 1, 2, …) due at server time
 * `atServerMs`. A file source answers by index and may be asked again for an
 * index it gave before (after a pre-emption flushed frames not yet heard: keep
 * the last ~1 s decoded); a live source answers by `atServerMs`.
 * `null` means the programme has ended.
 */
export interface ProgrammeSource {
  frame(index: number, atServerMs: number): Int16Array | null;
  /** Called once when the engine is done with the programme (ended, failed, cancelled). */
  close?(): void;
}

export interface Programme {
  /** Unique among programmes the engine holds (a playlist entry id, an alert id, `live:<streamId>`). */
  id: string;
  kind: ProgrammeKind;
  priority: ProgrammePriority;
  /** First sound, server clock (ms since the epoch). */
  startAt: number;
  /** What happens when a higher priority takes over: wait and continue, or stop for good. */
  whenPreempted: WhenPreempted;
  /** Amplifier volume (0–100) while this programme plays; the previous volume comes back after. */
  volume?: number;
  /** Expected length, if known: lets the engine plan the amplifier tail. */
  durationMs?: number;
  /** Do not start after this (server clock): a start past it fails with 'expired' (or 'preempted' when a higher priority held the site). */
  notAfter?: number;
  source: ProgrammeSource;
}

/** Why a programme did not start, or stopped before its end. */
export type PlayoutFailure = 'amp_fault' | 'device_off' | 'expired' | 'preempted' | 'cancelled' | 'error';

/**
 * What the engine reports; times are on the server clock as the agent estimates it.
 * 'started' comes once, when the first frame is written. If a pre-emption or a cancel
 * then withdraws every frame of it before any was heard, the programme plays later
 * ('preempted', 'resumed'), and the real first sound is the startedAt of its 'ended'
 * or 'failed' event — which is what receipts use.
 */
export type EngineEvent =
  | { type: 'started'; id: string; kind: ProgrammeKind; scheduledAt: number; at: number; startErrorMs: number; late: boolean }
  | { type: 'preempted'; id: string; at: number; by: string; frames: number }
  | { type: 'resumed'; id: string; at: number; frames: number }
  | { type: 'ended'; id: string; at: number; frames: number; startedAt: number; late: boolean; startErrorMs: number }
  | {
      type: 'failed';
      id: string;
      at: number;
      reason: PlayoutFailure;
      detail: string;
      frames: number;
      /** Present when it had started (a partial play). */
      startedAt?: number;
      startErrorMs?: number;
    }
  | { type: 'amplifier'; on: boolean; at: number; ok: boolean; detail?: string };
