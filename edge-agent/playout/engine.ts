/**
 * The playout engine: the one writer of the site's AudioSink. Everything that
 * makes sound at a site — scheduled bulletins (playlist-executor.ts), alerts
 * (issue 5), live streams (issue 4), tones — is a *programme* handed to this
 * engine, which decides frame by frame which programme owns the loudspeakers.
 *
 * Time. A programme starts at a time on the SERVER clock. The engine lays
 * 20 ms slots on the server clock, converts each slot to the local clock with
 * the ClockSync offset at the moment it writes, and writes the frame
 * `sink.latencyMs` before that local instant. Slots come from an absolute
 * timeline (start + k × 20 ms), never from accumulated timer delays, so a late
 * timer makes the engine write several frames at once, not drift.
 *
 * Priority. normal < priority < emergency (Circular 39, the same names as the
 * playlist and audio control). A higher programme takes the next slot not yet
 * heard: frames of the lower one already written ahead are flushed from the
 * sink and given back to it, so it resumes exactly where the listener lost it
 * (policy 'resume') or ends there (policy 'end').
 *
 * Amplifier. Switched on `leadMs` before the first sound (the profile's
 * warm-up plus a margin: sound sooner thumps and clips the first words) and
 * off `tailMs` after the last programme ends, unless another starts soon.
 *
 * The decisions (which programme owns the next slot, amplifier on/off, late
 * start) are pure, in timeline.ts; this file is the thin shell of timers and
 * sink/amplifier I/O around them.
 */
import type { AudioSink } from '../audio/types.ts';
import type { PlaylistPriority } from '../../protocol/playlist.ts';

export type ProgrammeKind = 'bulletin' | 'alert' | 'live' | 'tone';
/** normal < priority < emergency. */
export type ProgrammePriority = PlaylistPriority;
export const PROGRAMME_PRIORITIES: readonly ProgrammePriority[] = ['normal', 'priority', 'emergency'];
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

/** What the engine reports; times are on the server clock as the agent estimates it. */
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

export type AddResult = { ok: true } | { ok: false; reason: 'duplicate' | 'expired'; detail: string };

/** The amplifier as the engine drives it: the device gateway's calls (edge-agent/devices/gateway.ts). */
export interface AmplifierControl {
  /** Resolves when the amplifier is on and warmed up (the sim driver waits out the warm-up), or throws DeviceError. */
  setAmplifier(on: boolean): Promise<void>;
  setVolume(level: number): Promise<number>;
}

/** The agent's time base and its estimate of the server clock. */
export interface EngineClock {
  /** Local clock, ms (the agent's sync time base). */
  now(): number;
  /** Server clock − local clock, ms; undefined before the first clock exchange (then the local clock is trusted). */
  offsetMs(): number | undefined;
}

export interface PlayoutEngineOptions {
  sink: AudioSink;
  clock: EngineClock;
  /** Absent: no amplifier to switch (a file or null sink in tests). */
  amplifier?: AmplifierControl;
  /** Switch the amplifier on this long before sound (profile warm-up + margin). */
  leadMs: number;
  /** Keep it on this long after the last programme (a following one within it does not cycle the relay). */
  tailMs: number;
  /** A start later than this is 'late' in the receipt (default 100 ms: issue 3's bound). */
  lateToleranceMs?: number;
  /** Called for every frame written (live statistics); keep it cheap. */
  onFrame?: (id: string, index: number, atServerMs: number, playAtLocalMs: number) => void;
  log?: { warn(message: string): void; error(message: string): void };
}

/** The engine's public face: what alerts (H4) and live streams (H5) plug into. */
export interface PlayoutEngineApi {
  /** Hand over a programme. Its source is closed by the engine when done with it. */
  add(programme: Programme): AddResult;
  /** Stop a programme (stream stop, alert cancel, entry removed): ends it on the next slot not yet heard. */
  cancel(id: string, reason?: PlayoutFailure, detail?: string): boolean;
  /** Listen to events; returns an unsubscribe function. */
  on(listener: (event: EngineEvent) => void): () => void;
  /** Programmes held (pending, playing, suspended), the one on air first. */
  programmes(): Array<{ id: string; kind: ProgrammeKind; priority: ProgrammePriority; state: 'pending' | 'playing' | 'suspended'; frames: number }>;
  /** The id of the programme on air now, or null. */
  readonly onAir: string | null;
  /** Stop everything (cancels what plays), close the sink, switch the amplifier off. */
  stop(): Promise<void>;
}
