/**
 * DeviceGateway for a plain board (Raspberry Pi / Orange Pi class) with no
 * device firmware: the amplifier's mains relay on a GPIO line via libgpiod's
 * `gpioset`, the test tone generated here as a WAV and piped to `aplay`,
 * optional hardware volume via `amixer`, the SoC temperature from sysfs.
 * With a monitoring microphone (`mic`, captured by arecord in board-mic.ts) it
 * answers sound checks and alerts' delivery proof; without one a sound check
 * is refused. A speaker line with a current-sense input (`lines[].sense`,
 * read by `gpioget`) is supervised; one without reads 'unknown'.
 *
 * Every external command goes through an injected CommandRunner, so the
 * command lines are unit-tested and the real spawn path is tested against a
 * null sink. See hardware/boards.md for wiring.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import {
  DeviceError,
  type DeviceFaultNotice,
  type DeviceGateway,
  type DeviceStatus,
  type GatewayAudioSinkOptions,
  type LinkKind,
  type PowerSourceKind,
  type SoundCheckResult,
  type ToneRequest,
} from './gateway.ts';
import { AlsaSink } from '../audio/sinks/alsa.ts';
import { heardToneDb } from '../audio/tone-level.ts';
import { BoardMic, type MicConfig } from './board-mic.ts';

// ---------------------------------------------------------- commands ----

export interface CommandSpec {
  file: string;
  args: readonly string[];
  /** Written to the process's stdin, which is then closed. */
  stdin?: Uint8Array;
  /** Killed (SIGKILL) after this long; run() only. */
  timeoutMs?: number;
}

export interface CommandResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started, e.g. 'ENOENT' (command not installed). */
  spawnError?: string;
}

export interface RunningCommand {
  readonly exited: Promise<CommandResult>;
  /** SIGTERM, then resolve when it has exited. */
  stop(): Promise<CommandResult>;
}

export interface CommandRunner {
  /** Run to completion. Never rejects: failures are in the result. */
  run(spec: CommandSpec): Promise<CommandResult>;
  /** Start a long-running process (a gpioset holding a line). */
  start(spec: CommandSpec): RunningCommand;
  /** Start a process whose stdout is handed over as it comes (arecord), never buffered here. */
  stream(spec: CommandSpec, onStdout: (chunk: Buffer) => void): RunningCommand;
}

const MAX_CAPTURE = 16 * 1024;

function launch(spec: CommandSpec, onStdout?: (chunk: Buffer) => void): { exited: Promise<CommandResult>; kill: (signal: NodeJS.Signals) => void } {
  const child = spawn(spec.file, [...spec.args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let spawnError: string | undefined;
  child.stdout.on('data', (d: Buffer) => {
    if (onStdout) onStdout(d);
    else if (stdout.length < MAX_CAPTURE) stdout += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < MAX_CAPTURE) stderr += d.toString('utf8');
  });
  // EPIPE when the process exits before reading all of stdin; its exit code tells the story.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<CommandResult>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code ?? e.message;
    });
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr, ...(spawnError ? { spawnError } : {}) });
    });
  });
  child.stdin.end(spec.stdin ? Buffer.from(spec.stdin) : undefined);
  return { exited, kill: (signal) => void child.kill(signal) };
}

/** The real runner: child_process.spawn, no shell (arguments are never re-parsed). */
export const spawnRunner: CommandRunner = {
  async run(spec) {
    const { exited, kill } = launch(spec);
    const timer = spec.timeoutMs ? setTimeout(() => kill('SIGKILL'), spec.timeoutMs) : undefined;
    try {
      return await exited;
    } finally {
      if (timer) clearTimeout(timer);
    }
  },
  start(spec) {
    const { exited, kill } = launch(spec);
    return { exited, stop: () => (kill('SIGTERM'), exited) };
  },
  stream(spec, onStdout) {
    const { exited, kill } = launch(spec, onStdout);
    return { exited, stop: () => (kill('SIGTERM'), exited) };
  },
};

// ------------------------------------------------------------ config ----

export interface GpioLineConfig {
  /** e.g. 'gpiochip0' */
  chip: string;
  /** Offset or line name, e.g. 17 or 'GPIO17'. */
  line: number | string;
  /** The relay closes when the line is low (many relay HATs). */
  activeLow?: boolean;
  /** libgpiod tools version: v1 `gpioset CHIP LINE=1`, v2 `gpioset -c CHIP LINE=1`. Default 'v2'. */
  syntax?: 'v1' | 'v2';
  /**
   * 'hold' (default) keeps a gpioset running that holds the line: the kernel
   * reverts a line when its last holder exits, so "set and exit" leaves the
   * relay undefined. 'exit' sets and exits, for boards where the value is known to stick.
   */
  mode?: 'hold' | 'exit';
  /** Path of gpioset; default 'gpioset'. */
  command?: string;
}

/** A digital input that reads active while current flows in a speaker line (hardware/boards.md). */
export interface SenseInputConfig {
  chip: string;
  /** Offset (v1 takes offsets only) or, with v2, a line name. */
  line: number | string;
  /** The input is low while current flows (an open-collector comparator output with a pull-up). */
  activeLow?: boolean;
  /** libgpiod tools version, as for gpioset. Default 'v2'. */
  syntax?: 'v1' | 'v2';
  /** Path of gpioget; default 'gpioget'. */
  command?: string;
}

export interface BoardDriverConfig {
  deviceId?: string;
  amplifier?: { gpio: GpioLineConfig; warmupMs?: number; holdMs?: number };
  audio?: {
    /** ALSA PCM for aplay -D, e.g. 'default', 'hw:1,0', 'null'. Default 'default'. */
    device?: string;
    /** Replace aplay entirely: argv of a command reading a WAV on stdin, e.g. ['sh', '-c', 'cat > /dev/null']. */
    command?: readonly string[];
    /** Default 48000. */
    sampleRate?: number;
  };
  /** Hardware volume via `amixer [-c card] sset CONTROL N%`; without it the tone is scaled in software. */
  mixer?: { card?: string; control: string };
  /** Default /sys/class/thermal/thermal_zone0/temp (millidegrees C). */
  thermalPath?: string;
  /** The speaker lines wired to this board; 'unknown' unless the line has a current-sense input. */
  lines?: readonly { id: number; nominalOhm?: number | null; sense?: SenseInputConfig }[];
  /** The monitoring microphone; without it a sound check is refused and micLevel answers null. */
  mic?: MicConfig;
  power?: { source: PowerSourceKind; mainsOk?: boolean | null };
  link?: { type: LinkKind };
  /** e.g. ['sudo', 'systemctl', 'reboot']; without it reboot() is refused. */
  rebootCommand?: readonly string[];
  /** Limit for each command beyond a tone's own length. Default 10000 ms. */
  commandTimeoutMs?: number;
}

export interface BoardDriverDeps {
  runner?: CommandRunner;
  sleep?: (ms: number) => Promise<void>;
  /** The playout engine's local clock, which micLevel windows are on. Default: monotonic epoch ms, as the agent's. */
  now?: () => number;
}

/** The gpioset command line that drives `gpio` to `value` (logical: 1 = relay on). */
export function gpiosetCommand(gpio: GpioLineConfig, value: 0 | 1): CommandSpec {
  const activeLow = gpio.activeLow ? ['--active-low'] : [];
  const target = `${gpio.line}=${value}`;
  const hold = (gpio.mode ?? 'hold') === 'hold';
  const args =
    (gpio.syntax ?? 'v2') === 'v1'
      ? [...activeLow, ...(hold ? ['--mode=signal'] : []), gpio.chip, target]
      : // v2 holds by default; -t0 = "toggle period 0": set and exit.
        [...activeLow, ...(hold ? [] : ['-t0']), '-c', gpio.chip, target];
  return { file: gpio.command ?? 'gpioset', args };
}

/** The gpioget command line that reads a sense input; it prints 1 (active) or 0. */
export function gpiogetCommand(sense: SenseInputConfig): CommandSpec {
  const activeLow = sense.activeLow ? ['--active-low'] : [];
  const args =
    (sense.syntax ?? 'v2') === 'v1'
      ? [...activeLow, sense.chip, String(sense.line)]
      : // v2 prints "LINE"=active unless asked for numbers.
        [...activeLow, '--numeric', '-c', sense.chip, String(sense.line)];
  return { file: sense.command ?? 'gpioget', args };
}

/** gpioget's answer: true (active), false, or undefined when it is not one (v2 without --numeric prints "17"=active). */
export function parseGpioValue(stdout: string): boolean | undefined {
  const t = stdout.trim();
  if (t === '1' || /=active$/.test(t)) return true;
  if (t === '0' || /=inactive$/.test(t)) return false;
  return undefined;
}

/** The playback command for a WAV on stdin. */
export function playbackCommand(audio: BoardDriverConfig['audio'] = {}): CommandSpec {
  if (audio.command && audio.command.length > 0) {
    const [file, ...args] = audio.command as [string, ...string[]];
    return { file, args };
  }
  return { file: 'aplay', args: ['-q', '-D', audio.device ?? 'default', '-t', 'wav', '-'] };
}

export function amixerCommand(mixer: NonNullable<BoardDriverConfig['mixer']>, level: number): CommandSpec {
  return { file: 'amixer', args: ['-q', ...(mixer.card ? ['-c', mixer.card] : []), 'sset', mixer.control, `${level}%`] };
}

/**
 * A sine tone as a mono S16LE WAV. 10 ms raised-cosine ramps at both ends:
 * a hard start is a click, and on a 100 V line a click pops every speaker in the village.
 */
export function toneWav(tone: ToneRequest, sampleRate = 48000, gain = 1): Buffer {
  const n = Math.max(1, Math.round((sampleRate * tone.durationMs) / 1000));
  const ramp = Math.min(Math.round(sampleRate * 0.01), Math.floor(n / 2));
  const amplitude = 32767 * Math.min(1, Math.max(0, (tone.level / 100) * gain));
  const wav = Buffer.alloc(44 + n * 2);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(36 + n * 2, 4);
  wav.write('WAVEfmt ', 8, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(n * 2, 40);
  const w = (2 * Math.PI * tone.hz) / sampleRate;
  for (let i = 0; i < n; i++) {
    const edge = Math.min(i, n - 1 - i);
    const env = ramp > 0 && edge < ramp ? 0.5 - 0.5 * Math.cos((Math.PI * edge) / ramp) : 1;
    wav.writeInt16LE(Math.round(amplitude * env * Math.sin(w * i)), 44 + i * 2);
  }
  return wav;
}

// ------------------------------------------------------------ driver ----

/** A sound check captures this much beyond the tone: aplay's start and ALSA's buffers on both sides. */
const SOUND_CHECK_MARGIN_MS = 750;

export class BoardDriver implements DeviceGateway {
  private readonly runner: CommandRunner;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly deviceId: string;
  private readonly timeoutMs: number;
  private readonly listeners = new Set<(notice: DeviceFaultNotice) => void>();
  private ampOn = false;
  private volume = 70;
  private holder: RunningCommand | undefined;
  private heldValue: 0 | 1 | undefined;
  private readonly mic: BoardMic | undefined;
  /** Per sensed line, what the last test tone (or current since) showed: a silent line says nothing new. */
  private readonly sensed = new Map<number, 'ok' | 'open'>();

  constructor(
    private readonly config: BoardDriverConfig,
    deps: BoardDriverDeps = {},
  ) {
    this.runner = deps.runner ?? spawnRunner;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.deviceId = config.deviceId ?? 'board';
    this.timeoutMs = config.commandTimeoutMs ?? 10_000;
    if (config.mic) {
      this.mic = new BoardMic(config.mic, {
        runner: this.runner,
        // The agent's engine clock (monotonicEpochMs): micLevel windows come on it.
        now: deps.now ?? (() => performance.timeOrigin + performance.now()),
        fail: (spec, r, code) => this.commandError(spec, r, code),
        timeoutMs: this.timeoutMs,
      });
    }
  }

  async start(): Promise<void> {
    // Drive the relay to a known state (off): after a reboot the line is whatever the kernel left.
    if (this.config.amplifier) await this.driveRelay(0);
  }

  async stop(): Promise<void> {
    const holder = this.holder;
    this.holder = undefined;
    if (holder) await holder.stop();
    await this.mic?.close();
  }

  async status(): Promise<DeviceStatus> {
    const { config } = this;
    return {
      amplifier: config.amplifier ? { on: this.ampOn, volume: this.volume, fault: 'none', temperatureC: null } : null,
      lines: await Promise.all((config.lines ?? []).map(async (l) => ({ id: l.id, status: await this.lineStatus(l), impedanceOhm: null, nominalOhm: l.nominalOhm ?? null }))),
      power: { source: config.power?.source ?? 'unknown', mainsOk: config.power?.mainsOk ?? null, batteryPct: null },
      // No modem telemetry on a plain board; the link is up as far as we know (we are running).
      link: { type: config.link?.type ?? 'unknown', signalDbm: null, up: true },
      boardTemperatureC: await this.readTemperature(),
      monitorMic: this.mic !== undefined,
      devices: [{ id: this.deviceId, kind: 'board', reachable: true }],
    };
  }

  async setVolume(level: number): Promise<number> {
    const v = Math.round(Math.min(100, Math.max(0, level)));
    if (this.config.mixer) await this.exec(amixerCommand(this.config.mixer, v), 'mixer_failed');
    this.volume = v;
    return v;
  }

  /** The configured warm-up; 0 without a relay (the amplifier is always on, or there is none to switch). */
  amplifierWarmupMs(): number {
    return this.config.amplifier ? (this.config.amplifier.warmupMs ?? 2000) : 0;
  }

  /** The configured hold after the last sound; undefined without a relay (nothing to switch off). */
  amplifierHoldMs(): number | undefined {
    return this.config.amplifier ? (this.config.amplifier.holdMs ?? 5000) : undefined;
  }

  async setAmplifier(on: boolean): Promise<void> {
    // The engine switches the amplifier around every programme, relay or not: the microphone listens while it is on.
    if (!this.config.amplifier) {
      await this.listen(on);
      throw new DeviceError('not_supported', 'no amplifier relay configured (set amplifier.gpio)');
    }
    const wasOn = this.ampOn;
    if (!on) await this.listen(false);
    await this.driveRelay(on ? 1 : 0);
    this.ampOn = on;
    if (on) await this.listen(true);
    // Power sequencing: the amplifier's output is not stable (and thumps) until it has warmed up.
    if (on && !wasOn) await this.sleep(this.config.amplifier.warmupMs ?? 2000);
  }

  async playTestTone(tone: ToneRequest): Promise<void> {
    if (this.config.amplifier && !this.ampOn) throw new DeviceError('amp_off', 'amplifier is off; switch it on before a test tone');
    const gain = this.config.mixer ? 1 : this.volume / 100;
    const wav = toneWav(tone, this.config.audio?.sampleRate ?? 48000, gain);
    const played = this.exec({ ...playbackCommand(this.config.audio), stdin: wav, timeoutMs: tone.durationMs + this.timeoutMs }, 'playback_failed');
    // Halfway through the tone the sense inputs show whether current flows in each line.
    const sensed = this.senseDuringTone(tone.durationMs / 2);
    await Promise.all([played, sensed]);
  }

  /**
   * The tone played while the microphone captures it (tone + margin), and the
   * tone's own frequency measured in what was heard: dBFS (RMS), compared by
   * the agent with the site's threshold.
   */
  async soundCheck(tone: ToneRequest): Promise<SoundCheckResult> {
    const mic = this.mic;
    if (!mic) throw new DeviceError('no_monitor_mic', `${this.deviceId} has no monitoring microphone; a sound check needs a device with one`);
    if (this.config.amplifier && !this.ampOn) throw new DeviceError('amp_off', 'amplifier is off; switch it on before a sound check');
    const samples = await mic.capture(tone.durationMs + SOUND_CHECK_MARGIN_MS, () => this.playTestTone(tone));
    const db = heardToneDb(samples, { hz: tone.hz, sampleRate: mic.sampleRate, toneMs: tone.durationMs });
    return { levelDb: Math.round(db * 10) / 10 };
  }

  /**
   * The loudest second the microphone heard in [from, to) (engine clock): it
   * listens while the amplifier is on, so an alert's window is covered.
   * null without a microphone or when no capture covered the window.
   */
  async micLevel(from: number, to: number): Promise<number | null> {
    return this.mic ? this.mic.level(from, to) : null;
  }

  async reboot(): Promise<void> {
    const argv = this.config.rebootCommand;
    if (!argv || argv.length === 0) throw new DeviceError('not_supported', 'reboot is not configured (set rebootCommand)');
    const [file, ...args] = argv as [string, ...string[]];
    await this.exec({ file, args, timeoutMs: this.timeoutMs }, 'reboot_failed');
  }

  onFault(listener: (notice: DeviceFaultNotice) => void): () => void {
    // A plain board senses no faults; kept so the agent's wiring is driver-agnostic.
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The board's sound card: raw PCM into aplay on the configured ALSA device (the one the test tone uses). */
  audioSink(options: GatewayAudioSinkOptions = {}): AlsaSink {
    return new AlsaSink({
      device: this.config.audio?.device ?? 'default',
      ...(options.bufferMs !== undefined ? { bufferMs: options.bufferMs } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  private async listen(on: boolean): Promise<void> {
    if (!this.mic) return;
    if (on) this.mic.startMonitor();
    else await this.mic.stopMonitor();
  }

  /** A sensed line: current flowing now is 'ok'; no current says only what the last tone showed. */
  private async lineStatus(l: NonNullable<BoardDriverConfig['lines']>[number]): Promise<'ok' | 'open' | 'unknown'> {
    if (!l.sense) return 'unknown';
    const flowing = await this.readSense(l.sense);
    if (flowing) this.sensed.set(l.id, 'ok');
    return flowing === undefined ? 'unknown' : (this.sensed.get(l.id) ?? 'unknown');
  }

  private async senseDuringTone(afterMs: number): Promise<void> {
    const lines = (this.config.lines ?? []).filter((l) => l.sense);
    if (lines.length === 0) return;
    await this.sleep(afterMs);
    await Promise.all(
      lines.map(async (l) => {
        const flowing = await this.readSense(l.sense!);
        if (flowing !== undefined) this.sensed.set(l.id, flowing ? 'ok' : 'open');
      }),
    );
  }

  /** true while current flows; undefined when gpioget fails (status never throws). */
  private async readSense(sense: SenseInputConfig): Promise<boolean | undefined> {
    const r = await this.runner.run({ ...gpiogetCommand(sense), timeoutMs: this.timeoutMs });
    return r.spawnError || r.code !== 0 ? undefined : parseGpioValue(r.stdout);
  }

  private async driveRelay(value: 0 | 1): Promise<void> {
    const gpio = this.config.amplifier!.gpio;
    const spec = gpiosetCommand(gpio, value);
    if ((gpio.mode ?? 'hold') === 'exit') {
      await this.exec({ ...spec, timeoutMs: this.timeoutMs }, 'gpio_failed');
      return;
    }
    if (this.holder && this.heldValue === value) return;
    // The line is busy while the old holder runs, so it must go first (a few ms release gap).
    const old = this.holder;
    this.holder = undefined;
    if (old) await old.stop();
    const holder = this.runner.start(spec);
    const early = await Promise.race([holder.exited, this.sleep(150).then(() => undefined)]);
    if (early) throw this.commandError(spec, early, 'gpio_failed');
    this.holder = holder;
    this.heldValue = value;
  }

  private async exec(spec: CommandSpec, code: string): Promise<void> {
    const result = await this.runner.run(spec);
    if (result.spawnError || result.code !== 0) throw this.commandError(spec, result, code);
  }

  private commandError(spec: CommandSpec, r: CommandResult, code: string): DeviceError {
    if (r.spawnError === 'ENOENT') {
      const hint =
        spec.file === 'aplay'
          ? 'install alsa-utils or set audio.command'
          : spec.file === 'arecord'
            ? 'install alsa-utils'
            : /^gpio(set|get)$/.test(spec.file)
              ? 'install gpiod'
              : 'check the path';
      return new DeviceError('command_not_found', `${spec.file} not found: ${hint}`);
    }
    const how = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`);
    return new DeviceError(code, `${spec.file} ${spec.args.join(' ')}: ${how}${r.stderr ? ` — ${r.stderr.trim().slice(0, 200)}` : ''}`);
  }

  private async readTemperature(): Promise<number | null> {
    try {
      const milli = Number((await readFile(this.config.thermalPath ?? '/sys/class/thermal/thermal_zone0/temp', 'utf8')).trim());
      return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null;
    } catch {
      return null; // no thermal zone (container, some SBCs): unknown, not an error
    }
  }
}
