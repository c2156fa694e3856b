/**
 * What each of the six commands does at the site (protocol/messages.ts
 * COMMAND_TYPES): volume, amplifier power, test tone, sound check, reboot and
 * the acoustic delay. A command that fails throws (a DeviceError carries its
 * code); command-queue.ts turns that into the one answer.
 */
import { PROTOCOL_VERSION, type CommandMessage, type CommandResultEvent, type SiteEventMessage, type SoundCheckEvent, type TelemetryMessage } from '../../protocol/index.ts';
import type { DeviceGateway, ToneRequest } from '../devices/gateway.ts';
import { SPEED_OF_SOUND_MPS } from '../playout/jitter-buffer.ts';
import { round3, type AgentLogger, type NoteLevel } from '../agent-log.ts';
import type { SiteSettings } from '../site-settings.ts';

export const DEFAULT_TONE = { hz: 1000, durationMs: 3000 } as const;
const DEFAULT_TONE_LEVEL = 60;

/** What a command produced: its result, and what to do once the answer is out (a reboot). */
export type CommandOutcome = { result?: NonNullable<CommandResultEvent['result']>; after?: () => Promise<void> };

export interface SiteCommandsOptions {
  siteId: string;
  gateway: DeviceGateway;
  settings: SiteSettings;
  /** The sound check's pass mark (dBFS). */
  soundCheckThresholdDb: number;
  /** The agent's clock for `at`. */
  now: () => number;
  publishEvent: (event: SiteEventMessage) => Promise<boolean>;
  /** Live streams that start from now on use the new delay; absent when the agent does not play. */
  setLiveAcousticDelayM?: (metres: number) => void;
  /** Leave, reboot, come back: run after the ok answer went out. */
  reboot: () => Promise<void>;
  log: AgentLogger;
  note: (message: string, level?: NoteLevel) => void;
}

export class SiteCommands {
  private soundChecked: TelemetryMessage['lastSoundCheck'] = null;

  constructor(private readonly o: SiteCommandsOptions) {}

  /** The last sound check run by command, for the heartbeat. */
  get lastSoundCheck(): TelemetryMessage['lastSoundCheck'] {
    return this.soundChecked;
  }

  async execute(command: CommandMessage): Promise<CommandOutcome> {
    const { gateway } = this.o;
    switch (command.type) {
      case 'set_volume':
        return { result: { volume: await gateway.setVolume(command.params.level) } };
      case 'amp_power':
        await gateway.setAmplifier(command.params.on);
        return { result: { on: command.params.on } };
      case 'test_tone': {
        const tone: ToneRequest = {
          hz: command.params.hz ?? DEFAULT_TONE.hz,
          durationMs: command.params.durationMs ?? DEFAULT_TONE.durationMs,
          level: command.params.level ?? (await this.currentVolume()),
        };
        await this.withAmplifierOn(() => gateway.playTestTone(tone));
        return { result: { ...tone } };
      }
      case 'sound_check':
        return { result: await this.withAmplifierOn(() => this.soundCheck()) };
      case 'reboot':
        return { after: () => this.o.reboot() };
      case 'set_acoustic_delay': {
        // Saved first: an ok answer means a restart keeps it. Streams that start from now on use it.
        await this.o.settings.setAcousticDelayM(command.params.metres);
        this.o.setLiveAcousticDelayM?.(command.params.metres);
        this.o.log.info(`acoustic delay set to ${command.params.metres} m for live streams starting from now on`);
        return { result: { acousticDelayM: command.params.metres, delayMs: round3((command.params.metres / SPEED_OF_SOUND_MPS) * 1000) } };
      }
      default: {
        const unknown: never = command;
        throw new Error(`unknown command type ${(unknown as { type: string }).type}`);
      }
    }
  }

  /**
   * A tone needs the amplifier powered: switch it on (the driver waits out the
   * profile's warm-up) and, if it was off before, off again afterwards, so a
   * test never leaves a cluster's amplifier burning power all night.
   */
  private async withAmplifierOn<T>(fn: () => Promise<T>): Promise<T> {
    const { gateway } = this.o;
    let wasOn = true;
    try {
      wasOn = (await gateway.status()).amplifier?.on ?? true;
    } catch {
      /* unknown: leave the amplifier as it is */
    }
    if (!wasOn) await gateway.setAmplifier(true);
    try {
      return await fn();
    } finally {
      if (!wasOn) await gateway.setAmplifier(false).catch((e: unknown) => this.o.note(`amplifier did not switch off after a tone: ${(e as Error).message}`));
    }
  }

  private async currentVolume(): Promise<number> {
    try {
      return (await this.o.gateway.status()).amplifier?.volume ?? DEFAULT_TONE_LEVEL;
    } catch {
      return DEFAULT_TONE_LEVEL;
    }
  }

  private async soundCheck(): Promise<NonNullable<CommandResultEvent['result']>> {
    const tone: ToneRequest = { ...DEFAULT_TONE, level: await this.currentVolume() };
    const { levelDb } = await this.o.gateway.soundCheck(tone);
    const thresholdDb = this.o.soundCheckThresholdDb;
    const passed = levelDb !== null && levelDb >= thresholdDb;
    const at = this.o.now();
    this.soundChecked = { at, ok: passed, levelDb };
    const event: SoundCheckEvent = {
      v: PROTOCOL_VERSION,
      siteId: this.o.siteId,
      at,
      type: 'sound_check',
      ok: passed,
      levelDb,
      thresholdDb,
      toneHz: tone.hz,
      durationMs: tone.durationMs,
      trigger: 'command',
    };
    await this.o.publishEvent(event);
    return { passed, levelDb, thresholdDb };
  }
}
