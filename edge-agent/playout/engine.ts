/**
 * The playout engine: the one writer of the site's AudioSink. Everything that
 * makes sound at a site — scheduled bulletins (playlist-executor.ts), alerts
 * (alerts/handler.ts), live streams (live/receiver.ts), tones — is a *programme* handed to this
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
import { DeviceError } from '../devices/gateway.ts';
import { PlayoutTimeline, type ProgrammeMeta } from './timeline.ts';
import type { EngineEvent, PlayoutFailure, Programme, ProgrammeKind, ProgrammePriority, ProgrammeSource } from './programme.ts';

export type {
  EngineEvent,
  PlayoutFailure,
  Programme,
  ProgrammeKind,
  ProgrammePriority,
  ProgrammeSource,
  WhenPreempted,
} from './programme.ts';

export type AddResult = { ok: true } | { ok: false; reason: 'duplicate' | 'expired'; detail: string };

/** The amplifier as the engine drives it: the device gateway's calls (edge-agent/devices/gateway.ts). */
export interface AmplifierControl {
  /** Resolves when the amplifier is on and warmed up (the sim driver waits out the warm-up), or throws DeviceError. */
  setAmplifier(on: boolean): Promise<void>;
  setVolume(level: number): Promise<number>;
  /**
   * The site's volume (restored after a programme with its own) and the
   * amplifier's fault: an amplifier in thermal shutdown switches on but stays
   * mute, so a programme would "play" to nobody. DeviceGateway.status fits.
   */
  status?(): Promise<{ amplifier: { volume: number; fault?: string } | null }>;
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
  /** A start later than this is 'late' in the receipt (default 100 ms: the bound a `played` receipt promises, docs/protocol.md). */
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
  /** Stop everything (what plays fails with `reason`, default 'error' "agent stopped"), close the sink, switch the amplifier off. */
  stop(reason?: PlayoutFailure, detail?: string): Promise<void>;
}

type AmpState = 'off' | 'switching_on' | 'on' | 'switching_off';

/** Which failure a device error means for a programme: unreachable device, or an amplifier that refused. */
/** A board without an amplifier relay cannot switch it: the amplifier is simply always on. */
const cannotSwitch = (e: unknown): boolean => e instanceof DeviceError && e.code === 'not_supported';

function failureOf(e: unknown): { reason: PlayoutFailure; detail: string } {
  const message = (e as Error)?.message ?? String(e);
  if (e instanceof DeviceError && (e.code === 'device_unreachable' || e.code === 'device_off' || e.code === 'powered_off')) return { reason: 'device_off', detail: message };
  return { reason: 'amp_fault', detail: message };
}

export class PlayoutEngine implements PlayoutEngineApi {
  private readonly sink: AudioSink;
  private readonly clock: EngineClock;
  private readonly amplifier: AmplifierControl | undefined;
  private readonly tl: PlayoutTimeline;
  private readonly onFrame: PlayoutEngineOptions['onFrame'];
  private readonly log: NonNullable<PlayoutEngineOptions['log']>;
  private readonly sources = new Map<string, ProgrammeSource>();
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  private again = false;
  private needFlush = false;
  /** Bumped by every retraction: a frame whose write straddled one is not counted (the flush dropped it). */
  private generation = 0;
  private amp: AmpState = 'off';
  private sinkOpen = false;
  private siteVolume: number | undefined;
  private appliedVolume: number | undefined;
  private volumeChain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(o: PlayoutEngineOptions) {
    this.sink = o.sink;
    this.clock = o.clock;
    this.amplifier = o.amplifier;
    this.onFrame = o.onFrame;
    this.log = o.log ?? { warn: () => {}, error: () => {} };
    this.tl = new PlayoutTimeline({
      latencyMs: o.sink.latencyMs,
      leadMs: o.amplifier ? o.leadMs : 0,
      tailMs: o.tailMs,
      ...(o.lateToleranceMs !== undefined ? { lateToleranceMs: o.lateToleranceMs } : {}),
    });
  }

  get onAir(): string | null {
    return this.tl.onAir;
  }

  get leadMs(): number {
    return this.tl.leadMs;
  }

  /** Switch the amplifier on this long before sound from now on (the device said its warm-up after start). */
  setLeadMs(ms: number): void {
    if (this.amplifier && Number.isFinite(ms) && ms >= 0) this.tl.leadMs = ms;
  }

  get tailMs(): number {
    return this.tl.tailMs;
  }

  /** Keep the amplifier on this long after the last sound from now on (the device said its hold after start). */
  setTailMs(ms: number): void {
    if (this.amplifier && Number.isFinite(ms) && ms >= 0) this.tl.tailMs = ms;
  }

  /** The sink's counters (frames written, underruns, flushed): statistics and benchmarks. */
  sinkStats(): ReturnType<AudioSink['stats']> {
    return this.sink.stats();
  }

  /** The server clock as this agent estimates it (its own clock until the first exchange). */
  serverNow(): number {
    return this.clock.now() + (this.clock.offsetMs() ?? 0);
  }

  add(programme: Programme): AddResult {
    if (this.stopped) return { ok: false, reason: 'expired', detail: 'the playout engine is stopped' };
    const { source, ...meta } = programme;
    const r = this.tl.add(meta satisfies ProgrammeMeta, this.serverNow());
    if (!r.ok) return r;
    this.sources.set(programme.id, source);
    if (r.flush) this.retracted();
    this.kick();
    return { ok: true };
  }

  cancel(id: string, reason: PlayoutFailure = 'cancelled', detail = 'cancelled'): boolean {
    const r = this.tl.cancel(id, this.serverNow(), reason, detail);
    if (r.flush) this.retracted();
    this.publish();
    this.kick();
    return r.found;
  }

  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  programmes(): ReturnType<PlayoutEngineApi['programmes']> {
    return this.tl.list();
  }

  /**
   * The device reported a fault that silences the output (amplifier overheat,
   * device unreachable): what plays and what is due within the lead fails
   * with `reason` (a partial receipt, not a false 'played'); later programmes
   * try again when their time comes.
   */
  deviceFault(reason: Extract<PlayoutFailure, 'amp_fault' | 'device_off'>, detail: string): void {
    if (this.stopped) return;
    const now = this.serverNow();
    if (this.tl.onAir !== null) this.retracted();
    this.tl.failAll(now, reason, detail, now + this.tl.leadMs);
    this.publish();
    this.kick();
  }

  async stop(reason: PlayoutFailure = 'error', detail = 'agent stopped'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.tl.failAll(this.serverNow(), reason, detail);
    this.publish();
    while (this.pumping) await new Promise((r) => setTimeout(r, 5));
    if (this.sinkOpen) {
      this.sinkOpen = false;
      await this.sink.flush().catch(() => {});
      await this.sink.close().catch(() => {});
    }
    await this.volumeChain;
    if (this.amplifier && this.amp !== 'off') await this.amplifier.setAmplifier(false).catch(() => {});
    this.amp = 'off';
  }

  // ------------------------------------------------------------- shell ----

  private retracted(): void {
    this.needFlush = true;
    this.generation++;
  }

  private publish(): void {
    for (const event of this.tl.drain()) {
      if (event.type === 'ended' || event.type === 'failed') {
        const source = this.sources.get(event.id);
        this.sources.delete(event.id);
        try {
          source?.close?.();
        } catch (e) {
          this.log.warn(`closing the source of ${event.id} failed: ${(e as Error).message}`);
        }
      }
      for (const l of this.listeners) {
        try {
          l(event);
        } catch (e) {
          this.log.error(`playout listener failed on ${event.type} ${'id' in event ? event.id : ''}: ${(e as Error).message}`);
        }
      }
    }
  }

  private emitAmp(on: boolean, ok: boolean, detail?: string): void {
    const event: EngineEvent = { type: 'amplifier', on, at: this.serverNow(), ok, ...(detail ? { detail } : {}) };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        /* a listener's problem is not the engine's */
      }
    }
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((e: unknown) => this.log.error(`bug: playout step failed: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        this.pumping = false;
        this.schedule();
      });
  }

  private async pump(): Promise<void> {
    do {
      this.again = false;
      await this.step();
    } while (this.again && !this.stopped);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const now = this.serverNow();
    const at = this.tl.nextWakeAt(now, this.amp === 'on' || this.amp === 'switching_on');
    if (at === null) return;
    // Look again at least every second: the clock estimate moves, and it costs nothing.
    this.timer = setTimeout(() => this.kick(), Math.max(0, Math.min(at - now, 1000)));
    this.timer.unref();
  }

  private async step(): Promise<void> {
    this.tl.advance(this.serverNow());
    this.publish();
    if (this.needFlush) {
      this.needFlush = false;
      if (this.sinkOpen) await this.sink.flush().catch((e: unknown) => this.log.warn(`sink flush failed: ${(e as Error).message}`));
    }
    this.driveAmplifier();
    for (;;) {
      if (this.stopped || this.needFlush) return;
      const now = this.serverNow();
      const w = this.tl.next(now);
      this.publish();
      if (!w) return;
      const source = this.sources.get(w.id);
      let frame: Int16Array | null;
      try {
        frame = source ? source.frame(w.index, w.slot) : null;
      } catch (e) {
        this.tl.sourceFailed(w, now, `source failed: ${(e as Error).message}`);
        this.publish();
        continue;
      }
      if (frame === null) {
        this.tl.sourceEnded(w);
        this.publish();
        continue;
      }
      this.applyVolume();
      const generation = this.generation;
      const offset = this.clock.offsetMs() ?? 0;
      try {
        if (!this.sinkOpen) {
          await this.sink.open();
          this.sinkOpen = true;
        }
        await this.sink.write(frame, w.slot - offset);
      } catch (e) {
        const t = this.serverNow();
        this.tl.failAll(t, 'device_off', `audio output failed: ${(e as Error).message}`, t + this.tl.leadMs + this.tl.latencyMs);
        this.publish();
        this.sinkOpen = false;
        await this.sink.close().catch(() => {});
        return;
      }
      if (generation !== this.generation) continue; // retracted while writing: the coming flush drops it
      this.tl.wrote(w);
      this.onFrame?.(w.id, w.index, w.slot, w.slot - offset);
    }
  }

  /** Amplifier on when the timeline wants it (lead before the first start), off after the tail. */
  private driveAmplifier(): void {
    const now = this.serverNow();
    const isOn = this.amp === 'on' || this.amp === 'switching_on';
    const want = this.tl.ampWanted(now, isOn);
    if (want && this.amp === 'off') {
      this.amp = 'switching_on';
      const amplifier = this.amplifier;
      if (!amplifier) {
        this.amp = 'on';
        this.tl.ampReady = true;
        return;
      }
      void this.readSiteVolume()
        .then(() =>
          amplifier.setAmplifier(true).catch((e: unknown) => {
            if (!cannotSwitch(e)) throw e;
          }),
        )
        .then(() => this.checkAmplifierFault())
        .then(
          () => {
            if (this.amp !== 'switching_on') return;
            this.amp = 'on';
            this.tl.ampReady = true;
            this.emitAmp(true, true);
            this.kick();
          },
          (e: unknown) => {
            this.amp = 'off';
            const f = failureOf(e);
            this.emitAmp(true, false, f.detail);
            this.log.warn(`amplifier did not switch on: ${f.detail}`);
            const t = this.serverNow();
            this.tl.failAll(t, f.reason, f.detail, t + this.tl.leadMs);
            this.publish();
            this.kick();
          },
        );
    } else if (!want && this.amp === 'on') {
      this.amp = 'switching_off';
      this.tl.ampReady = false;
      void (async () => {
        if (this.sinkOpen) {
          this.sinkOpen = false;
          await this.sink.close().catch((e: unknown) => this.log.warn(`sink close failed: ${(e as Error).message}`));
        }
        this.restoreVolume();
        await this.volumeChain;
        if (this.amplifier) {
          await this.amplifier.setAmplifier(false).then(
            () => this.emitAmp(false, true),
            (e: unknown) => {
              if (cannotSwitch(e)) return;
              this.emitAmp(false, false, (e as Error).message);
              this.log.warn(`amplifier did not switch off: ${(e as Error).message}`);
            },
          );
        }
        this.amp = 'off';
        this.kick();
      })();
    }
  }

  /** After switching on: an amplifier that reports a fault is mute, which is a failure, not a start. */
  private async checkAmplifierFault(): Promise<void> {
    if (!this.amplifier?.status) return;
    let fault: string | undefined;
    try {
      fault = (await this.amplifier.status()).amplifier?.fault;
    } catch {
      return; // unknown: play, and let the device's fault events say otherwise
    }
    if (fault && fault !== 'none') throw new DeviceError(`amp_${fault}`, `the amplifier reports ${fault}: it is on but mute`);
  }

  private async readSiteVolume(): Promise<void> {
    if (!this.amplifier?.status) return;
    try {
      const v = (await this.amplifier.status()).amplifier?.volume;
      if (v !== undefined) {
        this.siteVolume = v;
        this.appliedVolume = v;
      }
    } catch {
      /* unknown: a programme volume is then not restored */
    }
  }

  /** The owner's volume, or the site's when it has none; changes go out in order. */
  private applyVolume(): void {
    const wanted = this.tl.wantedVolume() ?? this.siteVolume;
    if (wanted === undefined || wanted === this.appliedVolume || !this.amplifier) return;
    this.appliedVolume = wanted;
    const amplifier = this.amplifier;
    this.volumeChain = this.volumeChain.then(() =>
      amplifier.setVolume(wanted).then(
        () => undefined,
        (e: unknown) => this.log.warn(`volume ${wanted} not set: ${(e as Error).message}`),
      ),
    );
  }

  private restoreVolume(): void {
    if (this.siteVolume === undefined || this.appliedVolume === this.siteVolume || !this.amplifier) return;
    const amplifier = this.amplifier;
    const v = this.siteVolume;
    this.appliedVolume = v;
    this.volumeChain = this.volumeChain.then(() =>
      amplifier.setVolume(v).then(
        () => undefined,
        () => undefined,
      ),
    );
  }
}
