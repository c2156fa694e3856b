/**
 * The counters every sink keeps (AudioSinkStats), and the rules they share:
 * a frame written after its own play-at is an underrun (the output had
 * nothing to play when that frame was due), and a frame flushed before its
 * play-at was never heard. Pure; the clock is passed in.
 */
import { AudioSinkError, FRAME_SAMPLES, type AudioSinkKind, type AudioSinkStats } from '../types.ts';

export class SinkStatsKeeper {
  private s: AudioSinkStats = { framesWritten: 0, underruns: 0, framesFlushed: 0, firstPlayAtLocalMs: null, lastPlayAtLocalMs: null };

  constructor(private readonly kind: AudioSinkKind) {}

  /** Check and count one write at local time `now`. Throws AudioSinkError('bad_frame') for a frame that is not 20 ms of mono PCM. */
  written(frame: Int16Array, playAtLocalMs: number, now: number): void {
    if (frame.length !== FRAME_SAMPLES) {
      throw new AudioSinkError(this.kind, 'bad_frame', `a frame is ${FRAME_SAMPLES} samples (20 ms mono at 48 kHz), got ${frame.length}`);
    }
    if (!Number.isFinite(playAtLocalMs)) throw new AudioSinkError(this.kind, 'bad_frame', `play-at ${playAtLocalMs} is not a time`);
    if (now > playAtLocalMs) this.s.underruns++;
    this.s.framesWritten++;
    this.s.firstPlayAtLocalMs ??= playAtLocalMs;
    this.s.lastPlayAtLocalMs = playAtLocalMs;
  }

  flushed(frames: number): void {
    this.s.framesFlushed += frames;
  }

  snapshot(): AudioSinkStats {
    return { ...this.s };
  }
}

/** RMS level of a frame in dBFS (full scale = 32768), one decimal; -120 for digital silence. */
export function frameLevelDb(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i]! * frame[i]!;
  if (sum === 0) return -120;
  const db = 10 * Math.log10(sum / frame.length / (32768 * 32768));
  return Math.max(-120, Math.min(0, Math.round(db * 10) / 10));
}

/** The local clock sinks use unless given the engine's: wall time in ms. */
export const defaultSinkClock = (): number => Date.now();
