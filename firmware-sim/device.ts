/**
 * A simulated site device (the firmware behind the device protocol) built
 * from a hardware profile: amplifier, speaker lines, power supply with
 * battery, modem and, when fitted, a monitoring microphone.
 *
 * Pure model: no timers and no sockets. Time enters only as numbers — the
 * injected `now()` and `tick(now)` — so a fleet of thousands is advanced by
 * one timer, and tests step hours of battery drain in microseconds. Faults
 * are injected and cleared through one API; every change to the set of
 * active faults is announced once, as a `fault` / `fault_cleared` event, by
 * diffing the fault set before and after each mutation (so physics-driven
 * faults, like a battery running low, are announced the same way).
 */
import type { DeviceEvent, DeviceHelloResult, DeviceLineStatus, DeviceOp, DeviceReply, DeviceRequest, DeviceResultOf, DeviceStatusPayload } from '../protocol/index.ts';
import { AUDIO_LEVEL_FLOOR_DB, DEVICE_PROTOCOL_VERSION } from '../protocol/index.ts';
import type { DeviceProfile } from '../hardware/profiles.ts';
import { AmplifierRecord, type AmplifierRecordSnapshot, type SilentReason } from './amplifier-record.ts';
import type { SimFlash } from './flash.ts';

export type LineFaultKind = 'line_open' | 'line_short';
export type FaultSpec = { kind: LineFaultKind; line: number } | { kind: 'amp_overheat' } | { kind: 'mains_lost' } | { kind: 'modem_link_lost' };

/** What an open line reads: the impedance meter's ceiling (JSON has no Infinity). */
export const OPEN_LINE_OHM = 1_000_000;
export const SHORT_LINE_OHM = 0.3;
/** What the monitoring mic hears with no tone: wind, roosters, motorbikes. */
export const MIC_NOISE_FLOOR_DB = -72;
/** Mic level of a full-scale tone at full volume with every line healthy. */
export const MIC_FULL_SCALE_DB = -20;
export const BATTERY_LOW_PCT = 20;
/** Amplifier thermal time constant: minutes, not seconds. */
const THERMAL_TAU_MS = 10 * 60_000;
const AMP_RISE_C = 20;

export interface SimDeviceOptions {
  /** Clock for calls that do not pass `now`; default Date.now. */
  now?: () => number;
  /** Seed of the noise generator, so a test's mic levels and impedances repeat. */
  seed?: number;
  /** Initial volume 0..100; default 70. */
  volume?: number;
  /** Its firmware flash and bootloader (flash.ts); without one the device cannot be updated and says no fw state. */
  flash?: SimFlash;
  /** The hardware id it says in hello; default its flash's, else the profile's name (as device-main decides for the flash). */
  hardware?: string;
}

export type SimReplyOutcome = {
  reply: DeviceReply;
  /** How long the firmware takes before it answers (tone length, amplifier warm-up). */
  busyMs: number;
};

/** Classify a line from its measured impedance, as the firmware's line monitor does. */
export function classifyLine(ohm: number, nominalOhm: number): DeviceLineStatus['status'] {
  if (ohm > nominalOhm * 10) return 'open';
  if (ohm < nominalOhm / 10) return 'short';
  return 'ok';
}

function faultKey(device: string, fault: string): string {
  return `${device}:${fault}`;
}

export class SimDevice {
  readonly profile: DeviceProfile;
  private readonly clock: () => number;
  private rngState: number;
  private readonly listeners = new Set<(event: DeviceEvent) => void>();

  private lastTick: number;
  private bootedAt: number;
  /** While now < awakeAt the firmware is booting and answers nothing. */
  private awakeAt = 0;
  private ampOn = false;
  private ampReadyAt = 0;
  private volume: number;
  private ampTempC: number;
  private batteryPct: number;
  private depleted = false;
  private readonly injected = {
    lines: new Map<number, LineFaultKind>(),
    ampOverheat: false,
    supplyLost: false,
    linkLost: false,
  };
  private readonly flash: SimFlash | undefined;
  private readonly hardware: string;
  /** What came out of the speakers (audio messages). */
  private readonly played = new AmplifierRecord();
  /** Faults last announced; compared after each mutation. */
  private announced = new Map<string, DeviceEvent>();

  constructor(profile: DeviceProfile, options: SimDeviceOptions = {}) {
    this.profile = profile;
    this.clock = options.now ?? Date.now;
    this.rngState = (options.seed ?? 0x10a7e7) >>> 0;
    this.volume = options.volume ?? 70;
    this.ampTempC = profile.ambientTempC;
    this.batteryPct = profile.power.battery ? 100 : 0;
    this.lastTick = this.clock();
    this.bootedAt = this.lastTick;
    this.flash = options.flash;
    this.hardware = (options.hardware ?? options.flash?.hardware ?? profile.name).slice(0, 64);
    // Powering up is a boot: a test image not confirmed before the power went is given up now.
    this.flash?.boot();
  }

  onEvent(listener: (event: DeviceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True while the device answers nothing: battery empty with no supply, or rebooting. */
  isDark(now = this.clock()): boolean {
    return this.depleted || now < this.awakeAt;
  }

  get batteryPercent(): number | null {
    return this.profile.power.battery ? this.batteryPct : null;
  }

  activeFaults(): FaultSpec[] {
    const out: FaultSpec[] = [...this.injected.lines].map(([line, kind]) => ({ kind, line }));
    if (this.injected.ampOverheat) out.push({ kind: 'amp_overheat' });
    if (this.injected.supplyLost) out.push({ kind: 'mains_lost' });
    if (this.injected.linkLost) out.push({ kind: 'modem_link_lost' });
    return out;
  }

  /** Advance the physics to `now` (battery charge/drain, amplifier temperature) and announce fault changes. */
  tick(now = this.clock()): void {
    this.advance(now);
    this.announce(now);
  }

  private advance(now: number): void {
    const dt = Math.max(0, now - this.lastTick);
    this.lastTick = Math.max(this.lastTick, now);
    const { power } = this.profile;
    const hours = dt / 3_600_000;
    if (!this.injected.supplyLost) {
      if (power.battery) this.batteryPct = Math.min(100, this.batteryPct + power.chargePctPerHour * hours);
      if (this.depleted) {
        // Supply back: the board powers up and boots; the relay comes up off.
        this.depleted = false;
        this.restart(now);
      }
    } else if (!this.depleted) {
      const capacityWh = power.battery ? power.battery.capacityAh * power.battery.volts : 0;
      const drawW = this.profile.board.idleW + this.profile.modem.idleW + (this.ampOn ? this.profile.amplifier.idleW : 0);
      this.batteryPct = capacityWh > 0 ? Math.max(0, this.batteryPct - ((drawW * hours) / capacityWh) * 100) : 0;
      if (this.batteryPct <= 0) {
        // Dying gasp: the firmware's last words (battery_low) go out before the power does.
        this.announce(now);
        this.goDark();
      }
    }
    if (this.injected.ampOverheat) {
      this.ampTempC = this.profile.amplifier.maxTempC + 5;
    } else {
      const target = this.profile.ambientTempC + (this.ampOn ? AMP_RISE_C : 0);
      this.ampTempC = target + (this.ampTempC - target) * Math.exp(-dt / THERMAL_TAU_MS);
    }
  }

  injectFault(fault: FaultSpec, now = this.clock()): DeviceEvent[] {
    return this.setFault(fault, true, now);
  }

  clearFault(fault: FaultSpec, now = this.clock()): DeviceEvent[] {
    return this.setFault(fault, false, now);
  }

  /** Set the battery level directly (a test or scenario starting mid-outage). */
  setBatteryPct(pct: number, now = this.clock()): void {
    this.tick(now);
    this.batteryPct = Math.min(100, Math.max(0, pct));
  }

  /** Handle one request; null when the device is dark and answers nothing. */
  handle(request: DeviceRequest, now = this.clock()): SimReplyOutcome | null {
    this.tick(now);
    if (this.isDark(now)) return null;
    const outcome = this.dispatch(request, now);
    this.announce(now);
    return outcome;
  }

  status(now = this.clock()): DeviceStatusPayload {
    const { profile } = this;
    const supplyOk = !this.injected.supplyLost;
    const linkUp = !this.injected.linkLost;
    const signal = profile.modem.typicalSignalDbm;
    return {
      amp: {
        on: this.ampOn,
        volume: this.volume,
        fault: this.overheated() ? 'overheat' : 'none',
        tempC: round1(this.ampTempC),
        ...(this.ampOn && now < this.ampReadyAt ? { warming: true } : {}),
      },
      lines: profile.lines.map((l) => {
        const ohm = this.lineOhm(l.id, l.nominalOhm);
        return { id: l.id, status: classifyLine(ohm, l.nominalOhm), ohm, nominalOhm: l.nominalOhm };
      }),
      power: {
        source: supplyOk ? (profile.power.mains ? 'mains' : 'solar') : profile.power.battery ? 'battery' : 'unknown',
        mainsOk: profile.power.mains ? supplyOk : null,
        batteryPct: profile.power.battery ? round1(this.batteryPct) : null,
      },
      link: {
        type: profile.modem.type,
        up: linkUp,
        dbm: linkUp && signal !== null ? Math.round(signal + this.noise(3)) : null,
        ...(profile.modem.operator ? { operator: profile.modem.operator } : {}),
      },
      boardTempC: round1(profile.ambientTempC + 14 + this.noise(0.5)),
      mic: profile.monitorMic,
      uptimeS: Math.max(0, Math.floor((now - this.bootedAt) / 1000)),
    };
  }

  // ------------------------------------------------------------ private ----

  private dispatch(request: DeviceRequest, now: number): SimReplyOutcome {
    const { amplifier } = this.profile;
    switch (request.type) {
      case 'hello':
        return done('hello', this.hello());
      case 'get_status':
        return done('get_status', this.status(now));
      case 'set_volume':
        this.volume = request.level;
        return done('set_volume', { volume: this.volume });
      case 'amp_power': {
        // Power sequencing: the firmware answers once the amplifier has warmed up.
        if (request.on && !this.ampOn) {
          this.ampOn = true;
          this.ampReadyAt = now + amplifier.warmupMs;
        } else if (!request.on) {
          this.ampOn = false;
        }
        return done('amp_power', { on: this.ampOn }, this.ampOn ? Math.max(0, this.ampReadyAt - now) : 0);
      }
      case 'play_tone': {
        const refusal = this.refuseTone('play_tone');
        if (refusal) return refusal;
        return done('play_tone', {}, this.toneBusyMs(request.durationMs, now));
      }
      case 'sound_check': {
        if (!this.profile.monitorMic) return failed('sound_check', 'no_monitor_mic', `${this.profile.name} has no monitoring microphone`);
        // An amplifier that is off or in thermal shutdown is not an error here:
        // hearing nothing is exactly what a sound check exists to report.
        const busyMs = this.ampOn ? this.toneBusyMs(request.durationMs, now) : request.durationMs;
        return done('sound_check', { levelDb: this.micLevel(request.level) }, busyMs);
      }
      case 'reboot':
        this.restart(now);
        return done('reboot', {});
      case 'audio':
        return done('audio', { heard: this.played.add(request, this.silentBecause(now), this.airGainDb()) });
      case 'audio_flush':
        return done('audio_flush', { dropped: this.played.flush(request.session, request.fromSeq) });
      case 'mic_level':
        return done('mic_level', { levelDb: this.profile.monitorMic ? this.heardLevel(request.from, request.to) : null });
      case 'fw_begin':
      case 'fw_chunk':
      case 'fw_verify':
      case 'fw_activate':
      case 'fw_confirm':
        return this.firmware(request, now);
    }
  }

  /** The firmware update requests, answered by the flash (flash.ts); fw_activate reboots into the test image. */
  private firmware(request: Extract<DeviceRequest, { type: `fw_${string}` }>, now: number): SimReplyOutcome {
    const flash = this.flash;
    if (!flash) return failed(request.type, 'not_updatable', `${this.profile.name}'s firmware cannot be updated over this link`);
    const answer = <O extends DeviceOp>(op: O, a: ({ ok: true } & DeviceResultOf<O>) | { ok: false; code: string; message: string }) => {
      if (!a.ok) return failed(op, a.code, a.message);
      const { ok: _ok, ...result } = a;
      return done(op, result as unknown as DeviceResultOf<O>);
    };
    switch (request.type) {
      case 'fw_begin':
        return answer('fw_begin', flash.begin({ sha256: request.sha256, size: request.size, version: request.version, hardware: request.hardware }));
      case 'fw_chunk': {
        const bytes = strictBase64(request.data);
        if (!bytes) return failed('fw_chunk', 'bad_chunk', 'data is not base64');
        return answer('fw_chunk', flash.chunk(request.offset, bytes, request.crc));
      }
      case 'fw_verify': {
        const v = flash.verify();
        return v.ok ? done('fw_verify', { ok: v.verified, sha256: v.sha256 }) : failed('fw_verify', v.code, v.message);
      }
      case 'fw_activate': {
        const a = flash.activate();
        if (!a.ok) return failed('fw_activate', a.code, a.message);
        // Answered, then the reboot into the test image: the agent sees the device dark for bootMs.
        this.restart(now);
        return done('fw_activate', {});
      }
      case 'fw_confirm':
        return answer('fw_confirm', flash.confirm());
    }
  }

  /** A reboot: the amplifier comes up off, the bootloader decides which image runs, then bootMs of silence. */
  private restart(now: number): void {
    this.ampOn = false;
    this.bootedAt = now;
    this.awakeAt = now + this.profile.board.bootMs;
    this.flash?.boot();
  }

  /**
   * Why audio arriving now would make no sound, or null when it is heard. The
   * state at arrival stands for the batch's play time: a sink sends a batch at
   * most its latency (a few hundred ms) ahead.
   */
  private silentBecause(now: number): SilentReason | null {
    if (!this.ampOn) return 'amp_off';
    if (now < this.ampReadyAt) return 'warming';
    if (this.overheated()) return 'overheat';
    if (this.volume === 0) return 'volume_zero';
    const healthy = this.profile.lines.some((l) => classifyLine(this.lineOhm(l.id, l.nominalOhm), l.nominalOhm) === 'ok');
    return healthy ? null : 'lines_fault';
  }

  /** What the amplifier played (device protocol `audio` messages): for tests and the fleet runner. */
  playedAudio(): AmplifierRecordSnapshot {
    return this.played.snapshot();
  }

  /** Frames heard with play-at (agent clock) in [from, to). */
  heardFramesBetween(from: number, to: number): number {
    return this.played.heardBetween(from, to);
  }

  private hello(): DeviceHelloResult {
    const p = this.profile;
    return {
      model: p.board.model.slice(0, 64),
      firmware: this.flash?.version ?? p.firmware,
      hardware: this.hardware,
      protocol: DEVICE_PROTOCOL_VERSION,
      profile: p.name,
      mic: p.monitorMic,
      lines: p.lines.length,
      warmupMs: p.amplifier.warmupMs,
      holdMs: p.amplifier.holdMs,
      ...(this.flash ? { fw: this.flash.info() } : {}),
    };
  }

  private refuseTone(op: 'play_tone'): SimReplyOutcome | null {
    if (!this.ampOn) return failed(op, 'amp_off', 'amplifier is off; send amp_power {on:true} first');
    if (this.overheated()) {
      return failed(op, 'amp_overheat', `amplifier at ${round1(this.ampTempC)} °C is in thermal shutdown (max ${this.profile.amplifier.maxTempC} °C)`);
    }
    return null;
  }

  /** A tone requested during warm-up starts when the amplifier is ready. */
  private toneBusyMs(durationMs: number, now: number): number {
    return Math.max(0, this.ampReadyAt - now) + durationMs;
  }

  private micLevel(toneLevel: number): number {
    const lines = this.profile.lines;
    const healthy = lines.filter((l) => classifyLine(this.lineOhm(l.id, l.nominalOhm), l.nominalOhm) === 'ok').length;
    const audible = this.ampOn && !this.overheated() && healthy > 0 && this.volume > 0 && toneLevel > 0;
    if (!audible) return round1(MIC_NOISE_FLOOR_DB + this.noise(1.5));
    const db = MIC_FULL_SCALE_DB + 20 * Math.log10(this.volume / 100) + 20 * Math.log10(toneLevel / 100) + 10 * Math.log10(healthy / lines.length) + this.noise(0.5);
    return round1(Math.max(db, MIC_NOISE_FLOOR_DB + this.noise(1.5)));
  }

  /**
   * What a heard frame's level becomes in the air: the volume, and the share
   * of the speaker lines still carrying it (an open line's horns are silent).
   */
  private airGainDb(): number {
    const lines = this.profile.lines;
    const healthy = lines.filter((l) => classifyLine(this.lineOhm(l.id, l.nominalOhm), l.nominalOhm) === 'ok').length;
    if (healthy === 0 || this.volume === 0) return AUDIO_LEVEL_FLOOR_DB;
    return 20 * Math.log10(this.volume / 100) + 10 * Math.log10(healthy / lines.length);
  }

  /**
   * The monitoring microphone over the audio due in [from, to): the loudest
   * second of what came out, on the same scale as a sound check (a full-scale
   * tone, RMS −3 dBFS, at full volume reads MIC_FULL_SCALE_DB), over the
   * ambient noise floor. Nothing came out (amplifier off or faulted, every
   * line open, no audio sent): the noise floor.
   */
  private heardLevel(from: number, to: number): number {
    const floor = MIC_NOISE_FLOOR_DB + this.noise(1.5);
    const air = this.played.airBetween(from, to);
    if (air.heardFrames === 0 || air.loudestSecondDb === null || air.loudestSecondDb <= AUDIO_LEVEL_FLOOR_DB) return round1(floor);
    const signal = MIC_FULL_SCALE_DB + 3 + air.loudestSecondDb + this.noise(0.5);
    return round1(10 * Math.log10(10 ** (signal / 10) + 10 ** (floor / 10)));
  }

  private lineOhm(id: number, nominalOhm: number): number {
    const fault = this.injected.lines.get(id);
    if (fault === 'line_open') return OPEN_LINE_OHM;
    if (fault === 'line_short') return SHORT_LINE_OHM;
    return round1(nominalOhm * (1 + this.noise(0.01)));
  }

  private overheated(): boolean {
    return this.injected.ampOverheat || this.ampTempC >= this.profile.amplifier.maxTempC;
  }

  private goDark(): void {
    this.depleted = true;
    this.ampOn = false;
  }

  private setFault(fault: FaultSpec, on: boolean, now: number): DeviceEvent[] {
    this.advance(now);
    switch (fault.kind) {
      case 'line_open':
      case 'line_short':
        if (!this.profile.lines.some((l) => l.id === fault.line)) {
          throw new RangeError(`${this.profile.name} has no speaker line ${fault.line}`);
        }
        if (on) this.injected.lines.set(fault.line, fault.kind);
        else if (this.injected.lines.get(fault.line) === fault.kind) this.injected.lines.delete(fault.line);
        break;
      case 'amp_overheat':
        this.injected.ampOverheat = on;
        if (on) this.ampTempC = this.profile.amplifier.maxTempC + 5;
        else this.ampTempC = Math.min(this.ampTempC, this.profile.amplifier.maxTempC - 10);
        break;
      case 'mains_lost':
        this.injected.supplyLost = on;
        if (on && !this.profile.power.battery) this.goDark();
        break;
      case 'modem_link_lost':
        this.injected.linkLost = on;
        break;
      default: {
        const never: never = fault;
        throw new Error(`unknown fault ${JSON.stringify(never)}`);
      }
    }
    this.advance(now); // settle consequences (a battery-less site goes dark, a restored one boots)
    return this.announce(now);
  }

  private currentFaults(): Map<string, DeviceEvent> {
    const out = new Map<string, DeviceEvent>();
    const add = (device: string, fault: string, detail: string) => out.set(faultKey(device, fault), { type: 'fault', device, fault, detail });
    for (const l of this.profile.lines) {
      const status = classifyLine(this.lineOhm(l.id, l.nominalOhm), l.nominalOhm);
      if (status !== 'ok') add(`line-${l.id}`, `line_${status}`, `line ${l.id} (${l.label}) reads ${status}`.slice(0, 300));
    }
    if (this.overheated()) add('amplifier', 'amp_overheat', `amplifier at ${round1(this.ampTempC)} °C, max ${this.profile.amplifier.maxTempC} °C; muted`);
    if (this.injected.supplyLost) {
      add('power', 'mains_lost', this.profile.power.mains ? 'mains supply lost; running on battery' : 'solar charge input lost; running on battery');
      if (this.profile.power.battery && this.batteryPct < BATTERY_LOW_PCT) add('power', 'battery_low', `battery at ${Math.floor(this.batteryPct)} %`);
    }
    if (this.injected.linkLost) add('modem', 'modem_link_lost', `${this.profile.modem.type} link down`);
    return out;
  }

  /** Emit the difference between the announced and the current fault set (only while awake to send it). */
  private announce(now: number): DeviceEvent[] {
    if (this.isDark(now)) return [];
    const current = this.currentFaults();
    const events: DeviceEvent[] = [];
    for (const [key, event] of current) if (!this.announced.has(key)) events.push(event);
    for (const [key, event] of this.announced) {
      if (!current.has(key)) events.push({ type: 'fault_cleared', device: event.device, fault: event.fault });
    }
    this.announced = current;
    for (const e of events) for (const l of this.listeners) l(e);
    return events;
  }

  /** Uniform noise in ±amplitude from a small seeded PRNG (mulberry32). */
  private noise(amplitude: number): number {
    let t = (this.rngState = (this.rngState + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return (u * 2 - 1) * amplitude;
  }
}

function done<O extends DeviceOp>(op: O, result: DeviceResultOf<O>, busyMs = 0): SimReplyOutcome {
  return { reply: { type: 'reply', op, ok: true, result } as DeviceReply, busyMs };
}

function failed(op: DeviceOp, code: string, message: string): SimReplyOutcome {
  return { reply: { type: 'reply', op, ok: false, error: { code, message: message.slice(0, 300) } }, busyMs: 0 };
}

/** Base64 that round-trips exactly, or undefined: Buffer.from would skip what is not base64 and answer shorter bytes. */
function strictBase64(text: string): Uint8Array | undefined {
  const b = Buffer.from(text, 'base64');
  return b.length > 0 && b.toString('base64') === text ? b : undefined;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
