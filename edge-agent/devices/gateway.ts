/**
 * The agent's one view of the local hardware (the device firmware gateway).
 *
 * Every driver implements this: `sim` talks the device protocol to
 * firmware-sim over TCP or any byte stream; `board` drives a real board
 * (ALSA playback via aplay, relays via libgpiod's gpioset). The agent's MQTT
 * side depends on nothing else, so a new board is a new driver, not a change
 * to the agent.
 */
import type { DeviceReport, SpeakerLineReport } from '../../protocol/index.ts';
import type { AudioSink } from '../audio/types.ts';

export type LinkKind = 'ethernet' | 'fiber' | 'wifi' | '4g' | '3g' | '2g' | 'unknown';
export type PowerSourceKind = 'mains' | 'battery' | 'solar' | 'unknown';
export type AmplifierFaultKind = 'none' | 'overheat' | 'overload' | 'no_response';

export interface AmplifierStatus {
  on: boolean;
  volume: number; // 0..100
  fault: AmplifierFaultKind;
  temperatureC: number | null;
}

export interface DeviceStatus {
  amplifier: AmplifierStatus | null;
  lines: SpeakerLineReport[];
  power: { source: PowerSourceKind; mainsOk: boolean | null; batteryPct: number | null };
  /** The modem's view of the uplink; `up: false` means the cellular link is lost. */
  link: { type: LinkKind; signalDbm: number | null; operator?: string; up: boolean };
  boardTemperatureC: number | null;
  monitorMic: boolean;
  devices: DeviceReport[];
  /** Firmware version of the main device, when it reports one. */
  firmware?: string;
}

export interface DeviceFaultNotice {
  device: string;
  fault: string;
  cleared: boolean;
  detail?: string;
}

export interface ToneRequest {
  hz: number;
  durationMs: number;
  level: number; // 0..100
}

export interface SoundCheckResult {
  /** What the monitoring microphone heard while the tone played; null when nothing could be measured. */
  levelDb: number | null;
}

/** Thrown by a driver when the device refuses or cannot do what was asked. */
export class DeviceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}

export interface DeviceGateway {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Current status of every device; a device that does not answer is reported unreachable, not thrown. */
  status(): Promise<DeviceStatus>;
  setVolume(level: number): Promise<number>;
  setAmplifier(on: boolean): Promise<void>;
  playTestTone(tone: ToneRequest): Promise<void>;
  /** Play a tone and measure it with the monitoring microphone. Throws DeviceError('no_monitor_mic') without one. */
  soundCheck(tone: ToneRequest): Promise<SoundCheckResult>;
  reboot(): Promise<void>;
  /** Faults raised or cleared by devices between heartbeats. Returns an unsubscribe function. */
  onFault(listener: (notice: DeviceFaultNotice) => void): () => void;
  /**
   * The audio output that belongs to this device, when the driver has one: the
   * board's sound card (ALSA via aplay), or the simulated amplifier reached
   * over the device protocol. Optional, so a gateway without audio (or a test
   * double) needs nothing; the agent's sink factory (edge-agent/audio/sinks/
   * factory.ts) asks for it when the config says `audio.sink: "device"`.
   * Each call makes a new, unopened sink.
   */
  audioSink?(options?: GatewayAudioSinkOptions): AudioSink;
  /**
   * How long the amplifier takes from power-on to stable output (ms), as the
   * device says (the firmware's `hello`) or the board config sets; undefined
   * when unknown. The playout engine switches the amplifier on this long
   * (plus a margin) before sound. Known after start().
   */
  amplifierWarmupMs?(): number | undefined;
  /**
   * What the monitoring microphone heard while the audio due in [from, to)
   * played (the playout engine's local clock, ms): dBFS, the ambient floor
   * when nothing came out; null when the site has no microphone or the driver
   * cannot measure. The alert handler puts it in the delivery proof.
   */
  micLevel?(from: number, to: number): Promise<number | null>;
  /** How long the amplifier should stay on after the last sound, as the device's profile says; undefined when it does not say. */
  amplifierHoldMs?(): number | undefined;
}

/** What the agent may tune on a device's own sink. */
export interface GatewayAudioSinkOptions {
  /** Output buffer (ALSA) or batch length (simulated amplifier), ms. */
  bufferMs?: number;
  /** The engine's local clock, so underruns and flushes are judged on the same time base. */
  now?: () => number;
}
