/**
 * Heartbeats: every `heartbeatIntervalS` (first one at a jittered phase, so
 * agents that connected together drift apart) and whenever something changed
 * (a fault, a new playlist), the agent reads the devices' status and sends a
 * `telemetry` message, QoS 0. Telemetry is never queued while the link is
 * down: it would be stale when it arrived.
 */
import { PROTOCOL_VERSION, type TelemetryMessage } from '../../protocol/index.ts';
import type { DeviceGateway } from '../devices/gateway.ts';
import type { AgentConfig } from '../config.ts';
import type { ClockEstimate } from '../playout/clock-sync.ts';
import { clip, round3, type NoteLevel } from '../agent-log.ts';
import type { SiteLink } from './site-link.ts';

export interface HeartbeatsOptions {
  config: AgentConfig;
  gateway: DeviceGateway;
  link: SiteLink;
  /** The agent's clock for `at`. */
  now: () => number;
  random: () => number;
  note: (message: string, level?: NoteLevel) => void;
  /** When the agent started (agent clock), for `uptimeS`. */
  startedAt: () => number;
  clock: () => ClockEstimate | null;
  lastSoundCheck: () => TelemetryMessage['lastSoundCheck'];
  /** Whether the agent has an audio output and plays (telemetry canPlay): the server never counts one that cannot operational. */
  canPlay: boolean;
  /** Which playlist version the site holds and what it can play; absent when the agent does not play. */
  playlist?: () => NonNullable<TelemetryMessage['playlist']>;
  /** The site configuration applied (revision and hash), null while agent.json alone applies. */
  siteConfig?: () => NonNullable<TelemetryMessage['config']> | null;
  /** What the site plays now (playout/now-playing.ts); absent when the agent does not play. */
  playing?: () => NonNullable<TelemetryMessage['playing']> | null;
  /** Where the site stands with its latest software update order; absent when the agent takes none. */
  update?: () => TelemetryMessage['update'];
}

export class Heartbeats {
  readonly stats = { heartbeatsSent: 0, heartbeatsDropped: 0 };
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private soon: NodeJS.Timeout | undefined;

  constructor(private readonly o: HeartbeatsOptions) {}

  /** Link up: one now, then periodic. */
  start(): void {
    this.stop();
    this.request();
    const intervalMs = this.o.config.heartbeatIntervalS * 1000;
    // First periodic beat at 75-100% of the interval, so agents that connected together drift apart.
    const phase = Math.round(intervalMs * (1 - 0.25 * this.o.random()));
    this.timer = setTimeout(() => {
      this.request();
      this.timer = setInterval(() => this.request(), intervalMs);
      this.timer.unref();
    }, phase);
    this.timer.unref();
  }

  stop(): void {
    // clearTimeout also clears an interval in Node.
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.soon);
    this.soon = undefined;
  }

  /**
   * A heartbeat a moment from now, once however often asked meanwhile: for
   * what is worth telling soon but must not compete with what happens now.
   * A programme's start is the case: its heartbeat reads the devices' status
   * over the same device link that carries the first frames, at the instant
   * they must go out (with 500 agents in one simulator process, every site
   * started 40–120 ms late; docs/BENCHMARKS.md, on-time playout).
   */
  requestSoon(delayMs: number): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      if (!this.o.link.stopped) this.request();
    }, delayMs);
    this.soon.unref();
  }

  /** Send a heartbeat now; if one is being built, send another right after it (status may have changed). */
  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.send().finally(() => {
      this.running = false;
      if (this.again && !this.o.link.stopped) {
        this.again = false;
        this.request();
      }
    });
  }

  private async send(): Promise<void> {
    let message: TelemetryMessage;
    try {
      message = await this.build();
    } catch (e) {
      this.o.note(`cannot read device status for heartbeat: ${(e as Error).message}`);
      return;
    }
    const sent = this.o.link.publish('telemetry', message, { qos: 0, offline: 'drop' });
    if (sent.status === 'offline') this.stats.heartbeatsDropped++;
    if (sent.status !== 'sent') return;
    this.seq++;
    this.stats.heartbeatsSent++;
  }

  private async build(): Promise<TelemetryMessage> {
    const { config } = this.o;
    const s = await this.o.gateway.status();
    const now = this.o.now();
    const amp = s.amplifier;
    const clock = this.o.clock();
    const playlist = this.o.playlist;
    return {
      v: PROTOCOL_VERSION,
      siteId: config.siteId,
      at: now,
      seq: this.seq,
      intervalS: config.heartbeatIntervalS,
      uptimeS: Math.max(0, Math.floor((now - this.o.startedAt()) / 1000)),
      versions: { agent: clip(config.agentVersion, 40), protocol: PROTOCOL_VERSION, ...(s.firmware ? { firmware: clip(s.firmware, 40) } : {}) },
      link: {
        type: s.link.type === 'unknown' ? config.link.type : s.link.type,
        signalDbm: s.link.signalDbm,
        ...(s.link.operator ? { operator: clip(s.link.operator, 40) } : {}),
      },
      power: { source: s.power.source, mainsOk: s.power.mainsOk, batteryPct: s.power.batteryPct },
      amplifier: amp ? { on: amp.on, volume: Math.round(amp.volume), fault: amp.fault, temperatureC: amp.temperatureC } : null,
      lines: s.lines.map((l) => ({ id: l.id, status: l.status, impedanceOhm: l.impedanceOhm, nominalOhm: l.nominalOhm })),
      temperatureC: s.boardTemperatureC,
      clockOffsetMs: clock ? round3(clock.offsetMs) : null,
      clockUncertaintyMs: clock ? round3(clock.uncertaintyMs) : null,
      devices: s.devices,
      monitorMic: s.monitorMic,
      canPlay: this.o.canPlay,
      lastSoundCheck: this.o.lastSoundCheck(),
      ...(playlist ? { playlist: playlist() } : {}),
      ...(this.o.siteConfig ? { config: this.o.siteConfig() } : {}),
      ...(this.o.playing ? { playing: this.o.playing() } : {}),
      ...(this.o.update ? { update: this.o.update() ?? null } : {}),
    };
  }
}
