/**
 * A board's monitoring microphone: `arecord` from an ALSA capture PCM (a USB
 * sound card's input, see hardware/boards.md), raw S16LE mono on stdout.
 *
 * One arecord at a time, because a hw: capture device opens once. It runs
 * (a) while the driver says sound may come out (the amplifier is switched on
 * around every programme, relay or not), feeding a ring of 100 ms levels that
 * micLevel() answers from, and (b) for a sound check, bounded by `-s` to the
 * tone's length plus a margin. A sound check during (a) copies from the
 * running capture instead of opening the device twice.
 *
 * Memory is bounded: the ring (20 minutes of 100 ms blocks, ~190 KB), one
 * partial block, and a sound check's own samples (tone + margin).
 */
import type { CommandResult, CommandRunner, CommandSpec, RunningCommand } from './board-driver.ts';
import { DeviceError } from './gateway.ts';
import { LevelRing } from '../audio/level-ring.ts';
import { meanSquare, s16le } from '../audio/tone-level.ts';

export interface MicConfig {
  /** ALSA capture PCM for arecord -D, e.g. 'plughw:1,0' (plughw converts rate and format; hw: must support S16_LE mono at the rate). */
  device: string;
  /** Default 48000. */
  sampleRate?: number;
  /** Path of arecord; default 'arecord'. */
  command?: string;
}

export const MIC_BLOCK_MS = 100;
const RING_BLOCKS = (20 * 60 * 1000) / MIC_BLOCK_MS;

/** The arecord command line: raw S16LE mono to stdout; `samples` bounds it (arecord exits after that many). */
export function arecordCommand(mic: MicConfig, samples?: number): CommandSpec {
  return {
    file: mic.command ?? 'arecord',
    args: [
      '-q',
      '-D',
      mic.device,
      '-f',
      'S16_LE',
      '-c',
      '1',
      '-r',
      String(mic.sampleRate ?? 48000),
      '-t',
      'raw',
      // 50 ms periods: blocks reach us (and are time-stamped) within ~50 ms of being heard.
      '-F',
      '50000',
      ...(samples !== undefined ? ['-s', String(samples)] : []),
    ],
  };
}

export interface BoardMicDeps {
  runner: CommandRunner;
  /** The playout engine's local clock (ms): micLevel windows are on it. */
  now: () => number;
  /** Turns a failed command into the driver's DeviceError (with what to install). */
  fail: (spec: CommandSpec, result: CommandResult, code: string) => DeviceError;
  /** Limit beyond a capture's own length. */
  timeoutMs: number;
}

interface Tap {
  buf: Buffer;
  filled: number;
  done: (error?: DeviceError) => void;
}

interface Session {
  proc: RunningCommand;
  spec: CommandSpec;
  bounded: boolean;
  taps: Set<Tap>;
  stopping: boolean;
  ended: Promise<void>;
}

export class BoardMic {
  private readonly rate: number;
  private readonly blockBytes: number;
  private readonly pending: Buffer;
  private pendingLen = 0;
  private lastEnd = 0;
  private session: Session | undefined;
  private monitorWanted = false;
  private readonly ring = new LevelRing(RING_BLOCKS, MIC_BLOCK_MS);
  /** Why the last capture stopped on its own, for status and tests. */
  lastError: DeviceError | undefined;

  constructor(
    private readonly config: MicConfig,
    private readonly deps: BoardMicDeps,
  ) {
    this.rate = config.sampleRate ?? 48000;
    this.blockBytes = Math.round((this.rate * MIC_BLOCK_MS) / 1000) * 2;
    this.pending = Buffer.alloc(this.blockBytes);
  }

  get sampleRate(): number {
    return this.rate;
  }

  /** Whether a capture runs now. */
  get capturing(): boolean {
    return this.session !== undefined;
  }

  /** Listen from now on (sound may come out). A sound check's bounded capture finishes first. */
  startMonitor(): void {
    this.monitorWanted = true;
    if (!this.session) this.open(undefined);
  }

  /** Stop listening; what was heard stays in the ring for micLevel. */
  async stopMonitor(): Promise<void> {
    this.monitorWanted = false;
    const s = this.session;
    if (!s || s.bounded) return;
    if (s.taps.size > 0) {
      // A sound check is copying from it: let that finish, then stop.
      await Promise.all([...s.taps].map((t) => new Promise<void>((resolve) => (t.done = wrapDone(t.done, resolve)))));
      if (this.monitorWanted || this.session !== s) return;
    }
    s.stopping = true;
    await s.proc.stop();
    await s.ended;
  }

  /** The loudest second heard in [from, to) (dBFS), null when no capture covered it. */
  level(from: number, to: number): number | null {
    return this.ring.loudestDb(from, to);
  }

  /**
   * Capture `ms` of audio while `during` runs (the tone plays): from the
   * running capture when there is one, else from a bounded arecord of its own.
   * Resolves with what was captured (shorter when the capture ended early),
   * after `during` has finished; rejects when the capture failed to start.
   */
  async capture(ms: number, during: () => Promise<void>): Promise<Int16Array> {
    const samples = Math.round((this.rate * ms) / 1000);
    const tap: Tap = { buf: Buffer.alloc(samples * 2), filled: 0, done: () => undefined };
    const finished = new Promise<DeviceError | undefined>((resolve) => (tap.done = resolve));
    while (this.session?.bounded) await this.session.ended; // another sound check: one at a time
    if (this.session) this.session.taps.add(tap);
    else this.open(samples, tap);
    const session = this.session!;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms + this.deps.timeoutMs);
    });
    try {
      const played = during();
      // A tone that fails to play fails the capture at once, not after the capture's whole length.
      const outcome = await Promise.race([finished, limit, played.then(() => new Promise<never>(() => undefined))]);
      await played;
      if (outcome === 'timeout') {
        session.taps.delete(tap);
        if (session.bounded) await this.kill(session);
        if (tap.filled === 0) throw new DeviceError('mic_failed', `${this.config.device}: no audio captured in ${ms + this.deps.timeoutMs} ms`);
      } else if (outcome) {
        throw outcome;
      }
      return s16le(tap.buf.subarray(0, tap.filled - (tap.filled % 2)));
    } catch (e) {
      session.taps.delete(tap);
      if (session.bounded && this.session === session) await this.kill(session);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.monitorWanted = false;
    const s = this.session;
    if (s) await this.kill(s);
  }

  private async kill(s: Session): Promise<void> {
    s.stopping = true;
    await s.proc.stop();
    await s.ended;
  }

  private open(samples: number | undefined, tap?: Tap): void {
    const spec = arecordCommand(this.config, samples);
    this.pendingLen = 0;
    this.lastEnd = this.deps.now();
    const proc = this.deps.runner.stream(spec, (chunk) => this.onData(chunk));
    const session: Session = { proc, spec, bounded: samples !== undefined, taps: new Set(tap ? [tap] : []), stopping: false, ended: Promise.resolve() };
    session.ended = proc.exited.then((result) => {
      if (this.session === session) this.session = undefined;
      const failed = !session.stopping && (result.spawnError !== undefined || result.code !== 0);
      const error = failed ? this.deps.fail(spec, result, 'mic_failed') : undefined;
      if (error) this.lastError = error;
      for (const t of session.taps) t.done(t.filled > 0 ? undefined : (error ?? new DeviceError('mic_failed', `${spec.file} ended before capturing anything`)));
      session.taps.clear();
      // A monitor asked for while a sound check held the device starts now.
      if (session.bounded && this.monitorWanted && !this.session) this.open(undefined);
    });
    this.session = session;
  }

  private onData(chunk: Buffer): void {
    const s = this.session;
    if (!s) return;
    for (const tap of s.taps) {
      const n = Math.min(chunk.length, tap.buf.length - tap.filled);
      chunk.copy(tap.buf, tap.filled, 0, n);
      tap.filled += n;
      if (tap.filled === tap.buf.length) {
        s.taps.delete(tap);
        tap.done();
      }
    }
    const at = this.deps.now();
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.blockBytes - this.pendingLen, chunk.length - off);
      chunk.copy(this.pending, this.pendingLen, off, off + n);
      this.pendingLen += n;
      off += n;
      if (this.pendingLen < this.blockBytes) break;
      // Heard before the rest of this chunk; never before the block before it (a burst after a stall).
      const end = Math.max(this.lastEnd, at - ((chunk.length - off) / 2 / this.rate) * 1000);
      this.lastEnd = end;
      this.ring.push(end, meanSquare(s16le(this.pending)));
      this.pendingLen = 0;
    }
  }
}

function wrapDone(done: Tap['done'], also: () => void): Tap['done'] {
  return (error) => {
    done(error);
    also();
  };
}
