/**
 * The PCM of one alert at one site, as a programme source for the playout
 * engine, pure: the attention signal (made locally, so it sounds at once),
 * then silence while the alert's audio is still downloading, then the message
 * `repeats` times with a short gap between repeats.
 *
 * The engine may ask again for frames it already had (a pre-emption retracts
 * frames written ahead but not heard), so the index → frame mapping never
 * changes once given: the message starts at the first index asked for after
 * its file arrived, and every index before that stays silence.
 *
 * `onSound(repeat, atServerMs)` fires the first time a part is asked for:
 * repeat 0 = the attention signal, 1…repeats = the message. That is when sound
 * comes out (the engine asks for a frame just before its slot, which is on the
 * server clock), so it is what the site reports as "playing".
 */
import { FRAME_SAMPLES } from '../audio/types.ts';
import type { ProgrammeSource } from '../playout/engine.ts';

/** The alert's decoded message (a FileSource over the cached Ogg Opus file). */
export interface MessageFrames {
  readonly framesPerPass: number;
  frame(index: number): Int16Array | null;
  close?(): void;
}

export interface AlertSourceOptions {
  signal: readonly Int16Array[];
  repeats: number;
  /** Silence between two repeats of the message (frames; default 50 = 1 s). */
  gapFrames?: number;
  onSound?: (repeat: number, atServerMs: number) => void;
}

const silence = () => new Int16Array(FRAME_SAMPLES);

export class AlertSource implements ProgrammeSource {
  private message: MessageFrames | undefined;
  private none = false;
  private messageStart: number | undefined;
  private announced = -1;
  private closed = false;
  private readonly gap: number;

  constructor(private readonly o: AlertSourceOptions) {
    this.gap = Math.max(0, o.gapFrames ?? 50);
  }

  /** The message's frames are ready (downloaded, verified, opened). */
  attach(message: MessageFrames): void {
    if (this.closed) {
      message.close?.();
      return;
    }
    this.message = message;
  }

  /** There will be no message (the server could not make it): the programme ends after the signal. */
  noMessage(): void {
    if (!this.message) this.none = true;
  }

  get waitingForMessage(): boolean {
    return this.message === undefined && !this.none;
  }

  /** Repeats of the message heard so far (started), 0 while the signal plays or the file is awaited. */
  get repeatsStarted(): number {
    return Math.max(0, this.announced);
  }

  frame(index: number, atServerMs: number): Int16Array | null {
    const sig = this.o.signal;
    if (index < sig.length) {
      this.announce(0, atServerMs);
      return sig[index]!;
    }
    if (this.none) return null;
    const m = this.message;
    if (!m || m.framesPerPass === 0) return silence();
    this.messageStart ??= Math.max(index, sig.length);
    if (index < this.messageStart) return silence();
    const period = m.framesPerPass + this.gap;
    const rel = index - this.messageStart;
    const r = Math.floor(rel / period);
    const k = rel % period;
    if (r >= this.o.repeats || (r === this.o.repeats - 1 && k >= m.framesPerPass)) return null;
    if (k >= m.framesPerPass) return silence();
    this.announce(r + 1, atServerMs);
    return m.frame(k) ?? silence();
  }

  close(): void {
    this.closed = true;
    this.message?.close?.();
  }

  private announce(repeat: number, at: number): void {
    if (repeat <= this.announced) return;
    this.announced = repeat;
    this.o.onSound?.(repeat, at);
  }
}
