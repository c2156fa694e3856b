/**
 * The PCM of one alert at one site, as a programme source for the playout
 * engine, pure: the attention signal (made locally, so it sounds at once),
 * then silence while the alert's audio is still downloading, then `repeats`
 * times the message followed by its language versions in the site's order
 * (Decree 49/2024/NĐ-CP), each item 1 s (`gapFrames`) after the one before.
 *
 * Turns. After the message (which starts at the first index asked for after
 * its file arrived), each item's turn comes when the engine asks for the
 * first frame after the previous item's last. A version whose frames are not
 * attached then is skipped for that repeat, taking no frame: the message and
 * the versions after it never wait for a missing one. A version attached
 * later plays at its next turn. Turns once laid stay, so the index → frame
 * mapping never changes once given (a pre-emption retracts frames written
 * ahead but not heard, and the engine asks for them again); every index
 * before the message stays silence.
 *
 * `onSound(repeat, atServerMs)` fires the first time a part is asked for:
 * repeat 0 = the attention signal, 1…repeats = the message; `onVersion`
 * likewise for each version's turn that plays, `onVersionSkipped` for each
 * that could not. That is when sound comes out (the engine asks for a frame
 * just before its slot, which is on the server clock), so it is what the
 * site reports as "playing".
 */
import { FRAME_SAMPLES } from '../audio/types.ts';
import type { ProgrammeSource } from '../playout/engine.ts';

/** Decoded audio (a FileSource over the cached Ogg Opus file): the message or a version. */
export interface MessageFrames {
  readonly framesPerPass: number;
  frame(index: number): Int16Array | null;
  close?(): void;
}

export interface AlertSourceOptions {
  signal: readonly Int16Array[];
  repeats: number;
  /** Silence between two items (a repeat of the message, a version; frames; default 50 = 1 s). */
  gapFrames?: number;
  onSound?: (repeat: number, atServerMs: number) => void;
  /** A version's turn began (its first frame asked for). */
  onVersion?: (language: string, repeat: number, atServerMs: number) => void;
  /** A version's turn came and its frames were not there: skipped for this repeat. */
  onVersionSkipped?: (language: string, repeat: number) => void;
}

/** One laid stretch of frames: a gap, the message, or a version. */
interface Turn {
  start: number;
  end: number;
  /** Undefined: a gap (silence); null: the message; else a version's language. */
  item: string | null | undefined;
  /** The repeat it belongs to (0: the silence before the message). */
  repeat: number;
  /** A version's turn whose first frame was asked for. */
  heard?: boolean;
}

const silence = () => new Int16Array(FRAME_SAMPLES);

export class AlertSource implements ProgrammeSource {
  private message: MessageFrames | undefined;
  private none = false;
  private readonly versions = new Map<string, MessageFrames>();
  /** Languages of the versions to play after the message, in the site's order. */
  private order: readonly string[] = [];
  private readonly turns: Turn[] = [];
  /** Where laying stands: the repeat being laid (1…), and the languages already considered in it. */
  private repeat = 0;
  private considered = new Set<string>();
  private over = false;
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

  /** The versions to play after the message, in order; may change while the alert plays (for the turns still to come). */
  setVersionOrder(languages: readonly string[]): void {
    this.order = [...languages];
  }

  /** A version's frames are ready: it plays from its next turn. */
  attachVersion(language: string, frames: MessageFrames): void {
    if (this.closed || this.versions.has(language)) {
      frames.close?.();
      return;
    }
    this.versions.set(language, frames);
  }

  hasVersion(language: string): boolean {
    return this.versions.has(language);
  }

  /** There will be no message (the server could not make it): the programme ends after the signal. */
  noMessage(): void {
    if (!this.message) this.none = true;
  }

  get waitingForMessage(): boolean {
    return this.message === undefined && !this.none;
  }

  /** Whether any turn of the message or a version is still to be laid (false once the last repeat's last item is laid). */
  get turnsAhead(): boolean {
    return !this.over && !this.none;
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
    if (this.turns.length === 0) {
      // The message starts at the first index asked for after its file arrived: every index before stays silence.
      const start = Math.max(index, sig.length);
      if (start > sig.length) this.turns.push({ start: sig.length, end: start, item: undefined, repeat: 0 });
      this.layMessage(start);
    }
    if (index < this.turns[0]!.start) return silence();
    while (this.turns[this.turns.length - 1]!.end <= index) {
      if (!this.layNext()) return null;
    }
    // Searched from the newest: a frame asked again (after a retraction) comes from the turn that held it.
    for (let i = this.turns.length - 1; i >= 0; i--) {
      const t = this.turns[i]!;
      if (index >= t.start) return this.play(t, index, atServerMs);
    }
    return silence();
  }

  close(): void {
    this.closed = true;
    this.message?.close?.();
    for (const v of this.versions.values()) v.close?.();
  }

  private play(t: Turn, index: number, at: number): Int16Array {
    if (t.item === undefined) return silence();
    const k = index - t.start;
    if (t.item === null) {
      this.announce(t.repeat, at);
      return this.message!.frame(k) ?? silence();
    }
    if (!t.heard) {
      t.heard = true;
      this.o.onVersion?.(t.item, t.repeat, at);
    }
    return this.versions.get(t.item)!.frame(k) ?? silence();
  }

  private layMessage(start: number): void {
    this.repeat++;
    this.considered = new Set();
    this.turns.push({ start, end: start + this.message!.framesPerPass, item: null, repeat: this.repeat });
  }

  /** Lay the gap and the next item after the last turn; false when every repeat is laid. */
  private layNext(): boolean {
    if (this.over) return false;
    const from = this.turns[this.turns.length - 1]!.end;
    for (const lang of this.order) {
      if (this.considered.has(lang)) continue;
      this.considered.add(lang);
      const v = this.versions.get(lang);
      if (!v || v.framesPerPass === 0) {
        this.o.onVersionSkipped?.(lang, this.repeat);
        continue;
      }
      this.turns.push({ start: from, end: from + this.gap, item: undefined, repeat: this.repeat });
      this.turns.push({ start: from + this.gap, end: from + this.gap + v.framesPerPass, item: lang, repeat: this.repeat });
      return true;
    }
    if (this.repeat >= this.o.repeats) {
      this.over = true;
      return false;
    }
    this.turns.push({ start: from, end: from + this.gap, item: undefined, repeat: this.repeat });
    this.layMessage(from + this.gap);
    return true;
  }

  private announce(repeat: number, at: number): void {
    if (repeat <= this.announced) return;
    this.announced = repeat;
    this.o.onSound?.(repeat, at);
  }
}
