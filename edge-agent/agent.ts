/**
 * The edge agent's link to the server: one MQTT client per site that keeps a
 * retained `state` (with a last will), sends heartbeats built from the device
 * gateway, runs commands exactly once and answers each on `event`, and
 * reports device faults as they happen. Reconnects are driven here with
 * jittered backoff (common/backoff.ts), not by mqtt.js's fixed period.
 *
 * Session choice: clean session = false. A 4G link drops for seconds many
 * times a day; with a persistent session the broker keeps our `cmd`
 * subscription and queues QoS 1 commands sent during the gap, and delivers
 * them on reconnect. That is safe because every command carries `expiresAt`
 * (checked here before running) and an id (duplicates are answered from the
 * ledger, never re-run). The cost is one small session per site on the broker.
 *
 * Clock: the agent measures its offset to the server clock with the NTP-style
 * exchange (protocol/audio-control.ts; docs/protocol.md, "Clocks"):
 * it subscribes to its `time` topic, sends `{id, t0}` on `clock` at connect
 * and then when `ClockSync.nextRequestInMs()` says (a burst of a few 250 ms
 * apart, then every 30 s), and reports the estimate in every heartbeat
 * (`clockOffsetMs`, `clockUncertaintyMs`; null until the first answer).
 * t0 and t3 come from the agent's sync time base: `clock.now()` when a clock
 * is injected (tests, simulations), else `performance.timeOrigin +
 * performance.now()` — the epoch at process start plus a monotonic clock, so
 * an NTP step of the board's wall clock mid-run cannot corrupt a sample (a
 * step inside one exchange would otherwise be read as network delay or
 * offset). The offset is "server clock − that time base".
 *
 * Memory: the fleet runner runs ~3,000 agents in one process, so per agent
 * there is one client, two small mqtt.js stores, a bounded ledger of command
 * results, a bounded outbox and a clock window of at most 32 samples; no
 * per-agent timers beyond the heartbeat and the next clock request.
 */
import { markRun, readRunHistory } from './run-marker.ts';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as mqttConnect, MqttClient, Store, type IClientOptions } from 'mqtt';
import {
  COMMAND_TYPES,
  PROTOCOL_VERSION,
  decodeClockRequest,
  decodeClockResponse,
  decodeCommand,
  decodeEvent,
  decodeEventAck,
  decodeState,
  decodePlaylist,
  decodeTelemetry,
  encodeJson,
  MAX_PLAYLIST_BYTES,
  siteTopic,
  areaControlTopic,
  areaAudioTopic,
  parseTopic,
  isAcknowledgedEvent,
  type AcknowledgedEvent,
  type ClockRequest,
  type CommandMessage,
  type CommandResultEvent,
  type CommandType,
  type FaultEvent,
  type SiteEventMessage,
  type SiteStateMessage,
  type SoundCheckEvent,
  type TelemetryMessage,
} from '../protocol/index.ts';
import { DeviceError, type DeviceFaultNotice, type DeviceGateway, type ToneRequest } from './devices/gateway.ts';
import { Backoff } from '../common/backoff.ts';
import { ClockSync } from './playout/clock-sync.ts';
import { PlayoutEngine } from './playout/engine.ts';
import { openOggOpusFile } from './playout/file-source.ts';
import { PlaylistExecutor, type PlaylistExecutorStats } from './playout/playlist-executor.ts';
import { ReceiptJournal, type ReceiptStats } from './playout/receipts.ts';
import { SPEED_OF_SOUND_MPS } from './playout/jitter-buffer.ts';
import type { AudioSink } from './audio/types.ts';
import type { MediaCache } from './media-cache/types.ts';
import { AlertHandler } from './alerts/handler.ts';
import { askAlertDelivery } from './alerts/server-word.ts';
import { LiveReceiver } from './live/receiver.ts';
import { createOpusDecoder } from './audio/opus.ts';
import { SharedMediaNeeds } from './alerts/media-needs.ts';
import type { AgentConfig } from './config.ts';
import { clip, consoleLogger, round3, withTimeout, type AgentLogger } from './agent-log.ts';
import { SiteSettings, SETTINGS_FILE } from './site-settings.ts';
import { CommandLedger, LEDGER_FILE } from './commands/ledger.ts';

export interface Clock {
  now(): number;
}

/**
 * Clock exchange pacing: a burst at start (ClockSync asks every 250 ms until
 * it has 5 samples), then one request per 30 s — 100 requests/s for 3,000
 * agents — or every 5 s while the estimate's bound is wider than 5 ms (a
 * burst taken while the board or the link was busy; live streams play off
 * by up to that bound). Without answers (a server that predates the
 * exchange, or a link losing them) the agent falls back to the steady
 * interval after a few tries.
 */
const CLOCK_SYNC_OPTIONS = { windowSize: 32, burstSamples: 5, burstIntervalMs: 250, intervalMs: 30_000, targetUncertaintyMs: 5, refineIntervalMs: 5000 } as const;
const CLOCK_MAX_UNANSWERED_BURST = 8;
const CLOCK_MAX_PENDING = 4;
/**
 * An agent whose clock is not verified (just started: a board without a
 * battery-backed clock boots with whatever time it has) holds non-urgent
 * playlist entries this long while its link is up or coming up, so a bulletin
 * plays on the server's time rather than the board's; alerts are never held,
 * and with the link down it plays at once on its own clock (the receipt says
 * "clock not verified"). 20 s covers a 4G attach and the first exchange.
 */
const CLOCK_HOLD_MS = 20_000;
/** How long a receipt waits for the clock check made when its programme ended (a lost answer must not hold it). */
const CLOCK_CONFIRM_MS = 3000;
/** A clock check asked for within this long of the previous request is not sent again. */
const CLOCK_CHECK_MIN_GAP_MS = 1000;

/** The default sync time base: the epoch at process start plus a monotonic clock (never steps). */
export const monotonicEpochMs = (): number => performance.timeOrigin + performance.now();

export type { AgentLogger } from './agent-log.ts';

/** Runs after the site has said "offline, reboot"; when it resolves, the agent reconnects. */
export type RebootHook = (gateway: DeviceGateway) => Promise<void>;

/**
 * What the agent plays through (issue 3): without it the agent neither plays
 * nor subscribes to its playlist. The caller builds the parts (main.ts from
 * the config, the fleet runner per simulated site); the logic is in
 * edge-agent/playout/ (engine, playlist executor, receipt journal).
 */
export interface PlayoutSetup {
  sink: AudioSink;
  /** Media for playlist entries; absent: every entry is skipped 'no_media'. */
  cache?: MediaCache;
  /**
   * Amplifier on this long before sound: the profile's warm-up plus a margin.
   * Absent: the warm-up the device reports once started (DeviceGateway.amplifierWarmupMs)
   * + 500 ms, and 3.5 s until it has (the longest warm-up in hardware/profiles, 3 s, + 500 ms).
   */
  leadMs?: number;
  /**
   * And off this long after the last programme. Absent: the hold the device
   * reports once started (DeviceGateway.amplifierHoldMs, the profile's
   * power sequencing), and 5 s until it has.
   */
  tailMs?: number;
  /** Hand an entry to the engine this long before its start (default lead + 3 s). */
  prepareAheadMs?: number;
  lateToleranceMs?: number;
  /**
   * Simulation only: every live audio message passes through this before the
   * receiver (the fleet runner delays or drops some, as a 4G link would).
   */
  liveAudioLink?: (deliver: () => void) => void;
}

export interface EdgeAgentOptions {
  config: AgentConfig;
  gateway: DeviceGateway;
  playout?: PlayoutSetup;
  log?: AgentLogger;
  /** Builds the byte stream to the broker (e.g. a simulated 4G link); default: connect to `config.server.mqttUrl`. */
  mqttStream?: (() => Duplex) | undefined;
  /**
   * Default: reboot the devices through the gateway, then reconnect. On a real
   * board pass a hook that reboots the machine; systemd starts the agent again.
   */
  onReboot?: RebootHook;
  /**
   * The agent's clock (default the wall clock, `Date`) stamps `at` fields; when
   * given, it is also the time base of the clock exchange (t0, t3), whose
   * default is monotonic (see the header).
   */
  clock?: Clock;
  /** Uniform [0,1) source for backoff and heartbeat phase jitter. */
  random?: () => number;
  /** Command results remembered for duplicate detection (default 200). */
  ledgerCapacity?: number;
  /** Events kept while offline (default 100; the oldest is dropped first). */
  outboxCapacity?: number;
  /** Commands waiting behind the running one before new ones are refused 'busy' (default 16). */
  maxQueuedCommands?: number;
  /** Give up on a CONNACK after this long (default 30 s). */
  connectTimeoutMs?: number;
}

export interface AgentStats {
  readonly connected: boolean;
  /** Successful CONNACKs. */
  readonly connects: number;
  readonly connectAttempts: number;
  /** CONNACKs refusing us (bad credential, not authorised). */
  readonly refusedConnects: number;
  readonly heartbeatsSent: number;
  /** Heartbeats not sent because the link was down (telemetry is never queued: it would be stale). */
  readonly heartbeatsDropped: number;
  /** Commands actually executed against the devices (not refusals or duplicates). */
  readonly commandsRun: number;
  readonly commandsRefused: number;
  readonly duplicateCommands: number;
  /** Payloads on `cmd` that were not a valid command. */
  readonly invalidCommands: number;
  readonly outboxSize: number;
  readonly eventsDropped: number;
  /** Clock requests sent and answers used (a stale, duplicate or impossible answer is not used). */
  readonly clockRequests: number;
  readonly clockSamples: number;
  /** Playlist payloads that were not a valid playlist (counted and dropped). */
  readonly invalidPlaylists: number;
  readonly lastError: string | null;
}

export interface StopOptions {
  /** true (default): say offline 'shutdown' and disconnect cleanly; false: drop the link so the broker publishes the will. */
  graceful?: boolean;
}

export const DEFAULT_TONE = { hz: 1000, durationMs: 3000 } as const;
const DEFAULT_TONE_LEVEL = 60;
const ACK_TIMEOUT_MS = 3000;
/** A receipt not acknowledged by then is sent again after the next reconnect (the server dedupes). */
const RECEIPT_ACK_TIMEOUT_MS = 60_000;
const RECEIPT_JOURNAL_FILE = 'asrun.journal';
const DEFAULT_AMP_LEAD_MS = 3500;
/** Until the device says its hold (profile amplifier.holdMs): a following item within it does not cycle the relay. */
const DEFAULT_AMP_TAIL_MS = 5000;
/** Added to the device's warm-up: the amp_power round trip and the relay. */
const AMP_LEAD_MARGIN_MS = 500;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type CommandOutcome = { result?: NonNullable<CommandResultEvent['result']>; after?: () => Promise<void> };


export type { SiteSettingsFile } from './site-settings.ts';

export class EdgeAgent {
  private readonly config: AgentConfig;
  private readonly gateway: DeviceGateway;
  private readonly clock: Clock;
  private readonly log: AgentLogger;
  private readonly mqttStream: (() => Duplex) | undefined;
  private readonly onReboot: RebootHook;
  private readonly random: () => number;
  private readonly outboxCapacity: number;
  private readonly maxQueuedCommands: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: Backoff;
  private readonly ledger: CommandLedger;
  private readonly settings: SiteSettings;
  private readonly topics: { state: string; telemetry: string; event: string; cmd: string; clock: string; time: string; playlist: string; ack: string };
  private readonly syncNow: () => number;
  private readonly clockSync = new ClockSync(CLOCK_SYNC_OPTIONS);
  private clockTimer: NodeJS.Timeout | undefined;
  private clockId = 0;
  private clockUnanswered = 0;
  /** Requests in flight (at most CLOCK_MAX_PENDING): an answer slower than the request interval still counts. */
  private clockPending: Array<{ id: number; t0: number }> = [];
  /** Until then (sync time base), non-urgent entries wait for a verified clock (see CLOCK_HOLD_MS); 0: no hold. */
  private clockHoldUntil = 0;
  private clockLastRequestAt = -Infinity;
  /** Receipts waiting for an answer to a request sent at or after `fromId`. */
  private clockWaiters: Array<{ fromId: number; resolve: () => void }> = [];
  private readonly counters: Mutable<AgentStats>;
  private readonly playoutSetup: PlayoutSetup | undefined;
  private engine: PlayoutEngine | undefined;
  private journal: ReceiptJournal | undefined;
  private executor: PlaylistExecutor | undefined;
  /** Emergency alerts from the area control channels (issue 5): edge-agent/alerts/. */
  private alerts: AlertHandler | undefined;
  private live: LiveReceiver | undefined;

  private client: MqttClient | undefined;
  private stores = { incomingStore: new Store(), outgoingStore: new Store() };
  private started = false;
  private stopped = false;
  private rebooting = false;
  private refusedLast = false;
  private startedAt = 0;
  private willAt = 0;
  private seq = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatRunning = false;
  private heartbeatAgain = false;
  private commandChain: Promise<void> = Promise.resolve();
  private queuedCommands = 0;
  private outbox: SiteEventMessage[] = [];
  private lastSoundCheck: TelemetryMessage['lastSoundCheck'] = null;
  private unsubscribeFaults: (() => void) | undefined;

  constructor(options: EdgeAgentOptions) {
    this.config = options.config;
    this.gateway = options.gateway;
    this.clock = options.clock ?? Date;
    const injected = options.clock;
    this.syncNow = injected ? () => injected.now() : monotonicEpochMs;
    this.log = options.log ?? consoleLogger(options.config.siteId);
    this.mqttStream = options.mqttStream;
    this.onReboot = options.onReboot ?? ((gateway) => gateway.reboot());
    this.random = options.random ?? Math.random;
    this.outboxCapacity = options.outboxCapacity ?? 100;
    this.maxQueuedCommands = options.maxQueuedCommands ?? 16;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.backoff = new Backoff({ ...options.config.reconnect, random: this.random });
    const stateFile = options.config.stateDir ? join(options.config.stateDir, LEDGER_FILE) : undefined;
    this.ledger = new CommandLedger(options.ledgerCapacity ?? 200, stateFile, this.log);
    this.settings = new SiteSettings(options.config.stateDir ? join(options.config.stateDir, SETTINGS_FILE) : undefined, this.log);
    const id = options.config.siteId;
    this.topics = {
      state: siteTopic(id, 'state'), telemetry: siteTopic(id, 'telemetry'), event: siteTopic(id, 'event'), cmd: siteTopic(id, 'cmd'),
      clock: siteTopic(id, 'clock'), time: siteTopic(id, 'time'), playlist: siteTopic(id, 'playlist'), ack: siteTopic(id, 'ack'),
    };
    this.counters = {
      connected: false, connects: 0, connectAttempts: 0, refusedConnects: 0, heartbeatsSent: 0, heartbeatsDropped: 0,
      commandsRun: 0, commandsRefused: 0, duplicateCommands: 0, invalidCommands: 0, outboxSize: 0, eventsDropped: 0,
      clockRequests: 0, clockSamples: 0, invalidPlaylists: 0, lastError: null,
    };
    this.playoutSetup = options.playout;
    if (options.playout) this.buildPlayout(options.playout);
    // Alert statuses and command results are journaled like receipts, so an agent without playout has one too.
    const stateDir = options.config.stateDir;
    this.journal ??= new ReceiptJournal({ ...(stateDir ? { file: join(stateDir, RECEIPT_JOURNAL_FILE) } : {}), now: () => this.now(), log: this.log });
  }

  /** Engine, playlist executor and receipt journal (issue 3); their logic lives in edge-agent/playout/. */
  private buildPlayout(setup: PlayoutSetup): void {
    const offsetMs = (): number | undefined => this.clockSync.estimate()?.offsetMs;
    const serverNow = (): number => this.syncNow() + (offsetMs() ?? 0);
    const log = { info: (m: string) => this.log.debug?.(m), warn: (m: string) => this.log.warn(m), error: (m: string) => this.log.error(m) };
    const engine = new PlayoutEngine({
      sink: setup.sink,
      clock: { now: this.syncNow, offsetMs },
      amplifier: this.gateway,
      leadMs: setup.leadMs ?? DEFAULT_AMP_LEAD_MS,
      tailMs: setup.tailMs ?? DEFAULT_AMP_TAIL_MS,
      ...(setup.lateToleranceMs !== undefined ? { lateToleranceMs: setup.lateToleranceMs } : {}),
      log,
    });
    this.engine = engine;
    const stateDir = this.config.stateDir;
    this.journal = new ReceiptJournal({ ...(stateDir ? { file: join(stateDir, RECEIPT_JOURNAL_FILE) } : {}), now: serverNow, log });
    // The playlist and the alerts share the cache: each declares its own needs, the cache gets the union.
    const needs = setup.cache ? new SharedMediaNeeds(setup.cache) : undefined;
    this.executor = new PlaylistExecutor({
      siteId: this.siteId,
      engine: this.engine,
      serverNow,
      clockUncertaintyMs: () => this.clockSync.estimate()?.uncertaintyMs ?? null,
      clock: {
        state: () => this.clockSync.state(),
        gate: () => this.clockGate(),
        check: () => this.checkClock(),
        confirm: () => this.confirmClock(),
      },
      ...(setup.cache && needs ? { cache: needs.viewFor('playlist', setup.cache) } : {}),
      journal: this.journal,
      ...(stateDir ? { stateDir } : {}),
      openSource: (path, entry) => openOggOpusFile(path, entry.repeats ?? 1),
      prepareAheadMs: setup.prepareAheadMs ?? (() => engine.leadMs + 3000),
      log,
    });
    const cache = setup.cache;
    this.alerts = new AlertHandler({
      siteId: this.siteId,
      engine: this.engine,
      serverNow,
      clockUncertaintyMs: () => this.clockSync.estimate()?.uncertaintyMs ?? null,
      ...(cache && needs ? { media: { need: (refs) => needs.set('alerts', refs), pathOf: (sha) => cache.pathOf(sha), failureOf: (sha) => needs.failureOf(sha) } } : {}),
      openMessage: (path) => openOggOpusFile(path, 1),
      publish: (event) => void this.publishEvent(event),
      // The device's microphone window is on the engine's local clock; the handler speaks server clock.
      ...(this.gateway.micLevel ? { micLevelDb: (from: number, to: number) => this.gateway.micLevel!(from - (offsetMs() ?? 0), to - (offsetMs() ?? 0)) } : {}),
      levelThresholdDb: this.config.soundCheckThresholdDb,
      ...(stateDir ? { stateDir } : {}),
      // With its alert memory lost, the agent asks the server before playing an alert again (decide.ts).
      ...(this.config.server.httpUrl ? { askServer: (alertId: string) => askAlertDelivery({ httpUrl: this.config.server.httpUrl!, siteId: this.siteId, secret: this.config.credential.secret }, alertId) } : {}),
      log,
    });
    this.live = new LiveReceiver({
      siteId: this.siteId,
      engine: this.engine,
      serverNow,
      now: () => this.now(),
      clockUncertaintyMs: () => this.clockSync.estimate()?.uncertaintyMs ?? null,
      publish: (event) => void this.publishEvent(event),
      createDecoder: createOpusDecoder,
      clockOffsetMs: () => offsetMs() ?? 0,
      acousticDelayM: this.acousticDelayM,
      log,
    });
  }

  /**
   * This site's acoustic delay for live streams (metres; ÷ 343 m/s): the last
   * set_acoustic_delay command's, kept in stateDir, else the config file's.
   */
  get acousticDelayM(): number {
    return this.settings.acousticDelayM ?? this.config.audio.acousticDelayM;
  }

  /** The live-stream receiver (issue 4), when the agent plays: for tests and simulations. */
  get liveReceiver(): LiveReceiver | undefined {
    return this.live;
  }

  /** The playout parts, for the fleet runner, alerts and live streams (which add programmes to the engine), and tests. */
  get playout(): { engine: PlayoutEngine; executor: PlaylistExecutor; journal: ReceiptJournal; stats: { executor: PlaylistExecutorStats; receipts: ReceiptStats } } | undefined {
    if (!this.engine || !this.executor || !this.journal) return undefined;
    return { engine: this.engine, executor: this.executor, journal: this.journal, stats: { executor: this.executor.stats, receipts: this.journal.stats() } };
  }

  get siteId(): string {
    return this.config.siteId;
  }

  /** The event journal's counters: receipts, alert statuses and command results the server has not acknowledged yet among them. */
  get journalStats(): ReceiptStats | undefined {
    return this.journal?.stats();
  }

  /** A snapshot; changing it changes nothing. */
  get stats(): AgentStats {
    return { ...this.counters, outboxSize: this.outbox.length };
  }

  /** Starts the devices and the link; resolves without waiting for the broker (the agent works offline). */
  async start(): Promise<void> {
    if (this.started) throw new Error(`agent ${this.siteId} already started`);
    this.started = true;
    this.startedAt = this.now();
    await this.ledger.load();
    await this.settings.load();
    this.live?.setAcousticDelayM(this.acousticDelayM);
    // Receipts and the saved playlist first: the agent plays from disk whether or not the link comes up.
    // A journal missing from a folder the agent ran in before was lost (wiped, a card that came back
    // empty): the executor then says `unknown` for what may have played, never a guessed skip.
    const stateDir = this.config.stateDir;
    const run = stateDir ? await readRunHistory(stateDir, this.journal ? [RECEIPT_JOURNAL_FILE] : [], this.log) : undefined;
    if (run?.lost.has(RECEIPT_JOURNAL_FILE)) this.log.warn(`the receipt journal ${RECEIPT_JOURNAL_FILE} is missing from ${stateDir}, where this agent ran before: entries due before now are reported unknown`);
    await this.journal?.open();
    if (this.journal && this.executor) {
      await this.playoutSetup?.cache?.open();
    }
    if (stateDir && run) await markRun(stateDir, run, this.now(), this.log);
    try {
      await this.gateway.start();
    } catch (e) {
      // Devices that do not answer are reported unreachable in telemetry; the link still comes up.
      this.noteError(`device gateway did not start: ${(e as Error).message}`, 'warn');
    }
    this.unsubscribeFaults = this.gateway.onFault((notice) => this.onFault(notice));
    // The amplifier lead follows the device's own warm-up when the caller did not fix it.
    const warmupMs = this.playoutSetup && this.playoutSetup.leadMs === undefined ? this.gateway.amplifierWarmupMs?.() : undefined;
    if (warmupMs !== undefined) this.engine?.setLeadMs(warmupMs + AMP_LEAD_MARGIN_MS);
    const holdMs = this.playoutSetup && this.playoutSetup.tailMs === undefined ? this.gateway.amplifierHoldMs?.() : undefined;
    if (holdMs !== undefined) this.engine?.setTailMs(holdMs);
    // Until the first clock answer (or the link is found down), bulletins wait for the server's time.
    this.clockHoldUntil = this.syncNow() + CLOCK_HOLD_MS;
    // Deleted, or emptied (`fresh`: absent or empty at open) in a folder the agent ran in before.
    await this.executor?.start({ journalLost: run !== undefined && run.ranBefore && (run.lost.has(RECEIPT_JOURNAL_FILE) || (this.journal?.fresh ?? false)) });
    await this.alerts?.start();
    this.client = this.createClient();
    this.connectNow();
  }

  async stop({ graceful = true }: StopOptions = {}): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.stopHeartbeats();
    this.stopClockRequests();
    this.releaseClockWaiters();
    this.unsubscribeFaults?.();
    this.executor?.stop();
    await this.alerts?.stop();
    this.live?.close();
    this.journal?.detach();
    await this.engine?.stop();
    await this.journal?.close();
    await this.playoutSetup?.cache?.close().catch(() => {});
    const client = this.client;
    if (client) {
      if (graceful) {
        if (client.connected) await this.publishState('offline', 'shutdown');
        await withTimeout(new Promise<void>((res) => client.end(false, {}, () => res())), ACK_TIMEOUT_MS);
      } else {
        // No DISCONNECT packet: to the broker this is a lost link, so it publishes our will.
        client.end(true);
      }
    }
    this.counters.connected = false;
    await this.ledger.flush();
    await this.settings.flush();
    try {
      await this.gateway.stop();
    } catch (e) {
      this.noteError(`device gateway did not stop cleanly: ${(e as Error).message}`, 'warn');
    }
  }

  // ------------------------------------------------------------ link ----

  private createClient(): MqttClient {
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: this.siteId,
      username: this.siteId,
      password: this.config.credential.secret,
      keepalive: this.config.keepaliveS,
      clean: false,
      reconnectPeriod: 0, // reconnects are ours, with jittered backoff
      connectTimeout: this.connectTimeoutMs,
      manualConnect: true,
      resubscribe: false, // we subscribe on every CONNACK ourselves
      queueQoSZero: false, // telemetry while offline is stale: drop it
      ...this.stores,
      will: this.will(),
    };
    const stream = this.mqttStream;
    const client = stream ? new MqttClient(() => stream(), options) : mqttConnect(this.config.server.mqttUrl, options);
    client.on('connect', () => this.onConnected());
    client.on('close', () => this.onClosed());
    client.on('error', (err) => this.onClientError(err));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    return client;
  }

  private will(): NonNullable<IClientOptions['will']> {
    // `at` is the time the will was registered (this CONNECT); the server stamps when it arrived.
    this.willAt = this.now();
    const message: SiteStateMessage = { v: PROTOCOL_VERSION, siteId: this.siteId, state: 'offline', at: this.willAt, reason: 'last-will' };
    return { topic: this.topics.state, payload: encodeJson(message), qos: 1, retain: true };
  }

  private connectNow(): void {
    const client = this.client;
    if (!client || this.stopped) return;
    this.reconnectTimer = undefined;
    this.counters.connectAttempts++;
    client.options.will = this.will();
    if (this.counters.connectAttempts === 1) client.connect();
    // Same stores: QoS 1 events not yet acknowledged are resent on the new connection.
    else client.reconnect(this.stores as unknown as Parameters<MqttClient['reconnect']>[0]);
  }

  private onConnected(): void {
    const client = this.client;
    if (!client) return;
    this.counters.connected = true;
    this.counters.connects++;
    this.refusedLast = false;
    if (!this.clockSync.synced) this.clockHoldUntil = this.syncNow() + CLOCK_HOLD_MS;
    this.backoff.reset();
    this.log.info(`connected to ${this.config.server.mqttUrl} (connect #${this.counters.connects})`);
    client.subscribe(this.topics.cmd, { qos: 1 }, (err) => {
      if (err) this.noteError(`cannot subscribe to ${this.topics.cmd}: ${err.message}`);
    });
    client.subscribe(this.topics.time, { qos: 0 }, (err, granted) => {
      // A server that predates the clock exchange refuses the subscription (0x80): then do not ask.
      if (err || granted?.[0]?.qos === 128) this.noteError(`cannot subscribe to ${this.topics.time}: ${err?.message ?? 'refused'}; clock offset stays unknown`, 'warn');
      else if (client === this.client && client.connected) this.startClockRequests();
    });
    if (this.executor) {
      // Retained: the broker hands over the newest playlist at once, however long we were away.
      client.subscribe(this.topics.playlist, { qos: 1 }, (err) => {
        if (err) this.noteError(`cannot subscribe to ${this.topics.playlist}: ${err.message}`);
      });
      // Alerts: retained while valid, so a site that (re)connects gets a valid alert at once.
      for (const key of this.config.areaChannels) {
        client.subscribe(areaControlTopic(key), { qos: 1 }, (err, granted) => {
          if (err || granted?.[0]?.qos === 128) this.noteError(`cannot subscribe to ${areaControlTopic(key)}: ${err?.message ?? 'refused'}; alerts for ${key} will not arrive`);
        });
      }
      // Live streams: frames QoS 0 (a late frame is useless, a lost one is concealed); the start is retained here.
      for (const key of this.config.areaChannels) {
        client.subscribe(areaAudioTopic(key), { qos: 0 }, (err, granted) => {
          if (err || granted?.[0]?.qos === 128) this.noteError(`cannot subscribe to ${areaAudioTopic(key)}: ${err?.message ?? 'refused'}; live streams for ${key} will not arrive`);
        });
      }
    }
    // Back-fill: every receipt, alert status and command result the server has not acknowledged goes out
    // again, once its acks can reach us (a server that predates acks refuses the topic: they go out anyway,
    // again after each back-off, and the server keeps one of each).
    client.subscribe(this.topics.ack, { qos: 1 }, (err, granted) => {
      if (err || granted?.[0]?.qos === 128) this.noteError(`cannot subscribe to ${this.topics.ack}: ${err?.message ?? 'refused'}; events are sent again until a server acknowledges them`, 'warn');
      if (client === this.client && client.connected) this.journal?.attach(this.sendJournaled);
    });
    void this.publishState('online');
    const pending = this.outbox;
    this.outbox = [];
    for (const event of pending) void this.publishEvent(event);
    this.startHeartbeats();
  }

  private onClosed(): void {
    const wasConnected = this.counters.connected;
    this.counters.connected = false;
    this.stopHeartbeats();
    this.stopClockRequests();
    this.clockHoldUntil = 0; // link down: what is due plays on the board's own clock, said so in its receipt
    this.releaseClockWaiters();
    this.journal?.detach();
    if (this.stopped || this.rebooting || this.reconnectTimer) return;
    const delay = this.refusedLast ? this.backoff.atCap() : this.backoff.next();
    if (wasConnected) this.log.warn(`link to ${this.config.server.mqttUrl} lost; reconnecting in ${delay} ms`);
    else this.log.debug?.(`connect failed; retrying in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => this.connectNow(), delay);
    this.reconnectTimer.unref();
  }

  private onClientError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number' && code >= 1 && code <= 5) {
      // CONNACK refused: retrying soon cannot help (a wrong secret stays wrong), so wait near the backoff cap.
      this.refusedLast = true;
      this.counters.refusedConnects++;
      const hint = code === 4 || code === 5 ? `check credential for site ${this.siteId} in the agent config and the server's site registry` : 'check the broker';
      this.noteError(`broker refused the connection: ${err.message} (code ${code}); ${hint}; retrying in ${this.backoff.refusedCapMs / 2}-${this.backoff.refusedCapMs} ms`);
      return;
    }
    this.noteError(`mqtt: ${err.message}`, this.counters.connected ? 'warn' : 'debug');
  }

  private noteError(message: string, level: 'error' | 'warn' | 'debug' = 'error'): void {
    this.counters.lastError = message;
    if (level === 'debug') this.log.debug?.(message);
    else this.log[level](message);
  }

  /** QoS 1 publish that resolves when acknowledged (or after a timeout/close); never rejects. */
  private publish(topic: string, payload: Buffer, retain: boolean): Promise<boolean> {
    const client = this.client;
    if (!client) return Promise.resolve(false);
    const acked = new Promise<boolean>((res) => {
      client.publish(topic, payload, { qos: 1, retain }, (err) => {
        if (err) this.noteError(`publish to ${topic} failed: ${err.message}`, 'warn');
        res(!err);
      });
    });
    return withTimeout(acked, ACK_TIMEOUT_MS).then((ok) => ok === true);
  }

  /**
   * A journaled event (receipt, alert status, command result), QoS 1: true once the broker has it (PUBACK).
   * The journal keeps it until the server's own ack on `ack`: a broker's PUBACK does not mean stored.
   */
  private readonly sendJournaled = (event: AcknowledgedEvent): Promise<boolean> => {
    const client = this.client;
    if (!client?.connected) return Promise.resolve(false);
    const checked = decodeEvent.check(event);
    if (!checked.ok) {
      this.noteError(`bug: not publishing invalid ${event.type} event: ${checked.error.reason}`);
      return Promise.resolve(false);
    }
    const acked = new Promise<boolean>((res) => {
      client.publish(this.topics.event, encodeJson(event), { qos: 1 }, (err) => res(!err));
    });
    return withTimeout(acked, RECEIPT_ACK_TIMEOUT_MS).then((ok) => ok === true);
  };

  private publishState(state: 'online' | 'offline', reason?: string): Promise<boolean> {
    const message: SiteStateMessage = { v: PROTOCOL_VERSION, siteId: this.siteId, state, at: state === 'online' ? this.willAt : this.now(), agentVersion: clip(this.config.agentVersion, 40) };
    if (reason) message.reason = reason;
    const checked = decodeState.check(message);
    if (!checked.ok) {
      this.noteError(`bug: not publishing invalid state: ${checked.error.reason}`);
      return Promise.resolve(false);
    }
    return this.publish(this.topics.state, encodeJson(message), true);
  }

  /**
   * Events are validated, then published. Receipts, alert statuses and command results go through the
   * journal (on disk until the server acknowledges them); the others are kept in the bounded outbox while
   * the link is down (a fault, a sound check or a stream report is superseded by the next one).
   */
  private async publishEvent(event: SiteEventMessage): Promise<boolean> {
    const checked = decodeEvent.check(event);
    if (!checked.ok) {
      this.noteError(`bug: not publishing invalid ${event.type} event: ${checked.error.reason}`);
      return false;
    }
    if (isAcknowledgedEvent(event) && this.journal) {
      if (await this.journal.recordEvent(event)) return true;
      // Held already (a command redelivered: the server lacks its answer, or the answer crossed it): once
      // more now, directly; the journal goes on sending it until it is acknowledged.
      return this.client?.connected ? this.publish(this.topics.event, encodeJson(event), false) : true;
    }
    if (!this.client?.connected) {
      this.outbox.push(event);
      if (this.outbox.length > this.outboxCapacity) {
        this.outbox.shift();
        this.counters.eventsDropped++;
      }
      return Promise.resolve(false);
    }
    return this.publish(this.topics.event, encodeJson(event), false);
  }

  // ------------------------------------------------------- heartbeat ----

  private startHeartbeats(): void {
    this.stopHeartbeats();
    this.requestHeartbeat();
    const intervalMs = this.config.heartbeatIntervalS * 1000;
    // First periodic beat at 75-100% of the interval, so agents that connected together drift apart.
    const phase = Math.round(intervalMs * (1 - 0.25 * this.random()));
    this.heartbeatTimer = setTimeout(() => {
      this.requestHeartbeat();
      this.heartbeatTimer = setInterval(() => this.requestHeartbeat(), intervalMs);
      this.heartbeatTimer.unref();
    }, phase);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeats(): void {
    // clearTimeout also clears an interval in Node.
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Send a heartbeat now; if one is being built, send another right after it (status may have changed). */
  private requestHeartbeat(): void {
    if (this.heartbeatRunning) {
      this.heartbeatAgain = true;
      return;
    }
    this.heartbeatRunning = true;
    void this.sendHeartbeat().finally(() => {
      this.heartbeatRunning = false;
      if (this.heartbeatAgain && !this.stopped) {
        this.heartbeatAgain = false;
        this.requestHeartbeat();
      }
    });
  }

  private async sendHeartbeat(): Promise<void> {
    let message: TelemetryMessage;
    try {
      message = await this.buildTelemetry();
    } catch (e) {
      this.noteError(`cannot read device status for heartbeat: ${(e as Error).message}`);
      return;
    }
    const checked = decodeTelemetry.check(message);
    if (!checked.ok) {
      this.noteError(`bug: not publishing invalid telemetry: ${checked.error.reason}`);
      return;
    }
    const client = this.client;
    if (!client?.connected) {
      this.counters.heartbeatsDropped++;
      return;
    }
    client.publish(this.topics.telemetry, encodeJson(message), { qos: 0 });
    this.seq++;
    this.counters.heartbeatsSent++;
  }

  private async buildTelemetry(): Promise<TelemetryMessage> {
    const s = await this.gateway.status();
    const now = this.now();
    const amp = s.amplifier;
    const clock = this.clockSync.estimate();
    return {
      v: PROTOCOL_VERSION,
      siteId: this.siteId,
      at: now,
      seq: this.seq,
      intervalS: this.config.heartbeatIntervalS,
      uptimeS: Math.max(0, Math.floor((now - this.startedAt) / 1000)),
      versions: { agent: clip(this.config.agentVersion, 40), protocol: PROTOCOL_VERSION, ...(s.firmware ? { firmware: clip(s.firmware, 40) } : {}) },
      link: {
        type: s.link.type === 'unknown' ? this.config.link.type : s.link.type,
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
      lastSoundCheck: this.lastSoundCheck,
      ...(this.executor ? { playlist: this.executor.report() } : {}),
    };
  }

  // ----------------------------------------------------------- clock ----

  private startClockRequests(): void {
    this.stopClockRequests();
    this.clockUnanswered = 0;
    this.clockPending = [];
    this.sendClockRequest();
  }

  private stopClockRequests(): void {
    clearTimeout(this.clockTimer);
    this.clockTimer = undefined;
  }

  private sendClockRequest(): void {
    clearTimeout(this.clockTimer);
    this.clockTimer = undefined;
    const client = this.client;
    if (!client?.connected || this.stopped) return;
    this.clockLastRequestAt = this.syncNow();
    this.clockId = (this.clockId + 1) >>> 0;
    const request: ClockRequest = { v: PROTOCOL_VERSION, siteId: this.siteId, id: this.clockId, t0: this.syncNow() };
    const checked = decodeClockRequest.check(request);
    if (!checked.ok) {
      this.noteError(`bug: not publishing invalid clock request: ${checked.error.reason}`);
      return;
    }
    this.clockPending.push({ id: request.id, t0: request.t0 });
    if (this.clockPending.length > CLOCK_MAX_PENDING) this.clockPending.shift();
    this.clockUnanswered++;
    this.counters.clockRequests++;
    client.publish(this.topics.clock, encodeJson(request), { qos: 0 });
    // Unanswered for a while: stop bursting (an old server, or answers being lost), keep asking slowly.
    const delay = this.clockUnanswered > CLOCK_MAX_UNANSWERED_BURST ? CLOCK_SYNC_OPTIONS.intervalMs : this.clockSync.nextRequestInMs();
    this.clockTimer = setTimeout(() => this.sendClockRequest(), delay);
    this.clockTimer.unref();
  }

  private onClockResponse(payload: Buffer): void {
    const t3 = this.syncNow();
    const decoded = decodeClockResponse.decode(payload);
    if (!decoded.ok) {
      this.log.debug?.(`dropped an invalid clock answer: ${clip(decoded.error.reason, 200)}`);
      return;
    }
    const r = decoded.value;
    const i = this.clockPending.findIndex((p) => p.id === r.id && p.t0 === r.t0);
    if (r.siteId !== this.siteId || i < 0) return; // not ours, a duplicate, or older than the requests we remember
    this.clockPending.splice(i, 1);
    this.clockUnanswered = 0;
    const added = this.clockSync.add({ t0: r.t0, t1: r.t1, t2: r.t2, t3 });
    if (added.accepted) {
      this.counters.clockSamples++;
      if (added.step) this.log.warn(`clock step: offset to the server clock is now ${added.offsetMs.toFixed(1)} ms`);
      const waiting = this.clockWaiters;
      this.clockWaiters = waiting.filter((w) => r.id < w.fromId);
      for (const w of waiting) if (r.id >= w.fromId) w.resolve();
    } else if (added.reason === 'step_pending') {
      // The server's clock may have stepped: settle it now, not a steady interval from now.
      this.log.debug?.(`clock: ${added.detail}`);
      clearTimeout(this.clockTimer);
      this.clockTimer = setTimeout(() => this.sendClockRequest(), this.clockSync.nextRequestInMs());
      this.clockTimer.unref();
    }
  }

  /**
   * Whether the playlist may start non-urgent entries now: yes once the clock
   * is verified, or when the hold is over (link down, or no answer in
   * CLOCK_HOLD_MS); the entries wait meanwhile (see CLOCK_HOLD_MS).
   */
  private clockGate(): 'ok' | 'hold' {
    return this.clockSync.synced || this.syncNow() >= this.clockHoldUntil ? 'ok' : 'hold';
  }

  /** Ask the server's time now (before a bulletin starts): a stepped server clock is then caught before the play, not after it. */
  private checkClock(): void {
    if (!this.client?.connected || this.stopped || !this.clockTimer) return;
    if (this.syncNow() - this.clockLastRequestAt < CLOCK_CHECK_MIN_GAP_MS) return;
    this.sendClockRequest();
  }

  /**
   * Resolves once a clock answer to a request sent from now on was used (the
   * clock a receipt's times are checked against), at once with the link down,
   * and after CLOCK_CONFIRM_MS at the latest.
   */
  private confirmClock(): Promise<void> {
    if (!this.client?.connected || this.stopped || !this.clockTimer) return Promise.resolve();
    const fromId = (this.clockId + 1) >>> 0;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), CLOCK_CONFIRM_MS);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        this.clockWaiters = this.clockWaiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter = { fromId, resolve: done };
      this.clockWaiters.push(waiter);
      if (this.syncNow() - this.clockLastRequestAt >= CLOCK_CHECK_MIN_GAP_MS / 4) this.sendClockRequest();
      else waiter.fromId = this.clockId; // one just went out: its answer will do
    });
  }

  private releaseClockWaiters(): void {
    for (const w of this.clockWaiters.splice(0)) w.resolve();
  }

  // ------------------------------------------------------------- ack ----

  /** The server stored (or refused for good) these journaled events: the journal may forget them. */
  private onAck(payload: Buffer): void {
    const decoded = decodeEventAck.decode(payload);
    if (!decoded.ok || decoded.value.siteId !== this.siteId) {
      this.log.warn(`dropped an invalid event ack (${payload.length} bytes): ${clip(decoded.ok ? `for site ${decoded.value.siteId}` : decoded.error.reason, 200)}`);
      return;
    }
    this.journal?.acknowledge(decoded.value);
  }

  // -------------------------------------------------------- playlist ----

  private onPlaylist(payload: Buffer): void {
    if (!this.executor || payload.length === 0) return; // an empty retained payload clears the topic: nothing to do
    const decoded = decodePlaylist.decode(payload, MAX_PLAYLIST_BYTES);
    if (!decoded.ok) {
      this.counters.invalidPlaylists++;
      this.log.warn(`dropped an invalid playlist (${payload.length} bytes): ${clip(decoded.error.reason, 200)}`);
      return;
    }
    void this.executor.accept(decoded.value).then((r) => {
      if (r === 'wrong_site') this.counters.invalidPlaylists++;
      if (r === 'new') this.requestHeartbeat(); // tell the server at once which version we hold
    });
  }

  // ---------------------------------------------------------- faults ----

  private onFault(notice: DeviceFaultNotice): void {
    // A fault that silences the output fails what plays (a partial receipt rather than a false 'played').
    if (!notice.cleared && this.engine) {
      if (notice.fault === 'amp_overheat' || notice.fault === 'amp_no_response') this.engine.deviceFault('amp_fault', `${notice.device}: ${notice.fault}${notice.detail ? ` (${notice.detail})` : ''}`);
      else if (notice.fault === 'device_unreachable') this.engine.deviceFault('device_off', `${notice.device} unreachable${notice.detail ? `: ${notice.detail}` : ''}`);
    }
    const event: FaultEvent = {
      v: PROTOCOL_VERSION,
      siteId: this.siteId,
      at: this.now(),
      type: notice.cleared ? 'fault_cleared' : 'fault',
      device: clip(notice.device, 64),
      fault: clip(notice.fault, 64),
      ...(notice.detail ? { detail: clip(notice.detail, 300) } : {}),
    };
    void this.publishEvent(event);
    if (this.client?.connected) this.requestHeartbeat();
  }

  // -------------------------------------------------------- commands ----

  /** A message on an area audio channel: to the live receiver, through the simulated link when there is one. */
  private onLiveAudio(payload: Buffer): void {
    const live = this.live;
    if (!live) return;
    const link = this.playoutSetup?.liveAudioLink;
    if (link) link(() => live.onAudio(payload));
    else live.onAudio(payload);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.time) return this.onClockResponse(payload);
    if (topic === this.topics.ack) return this.onAck(payload);
    if (topic === this.topics.playlist) return this.onPlaylist(payload);
    const area = parseTopic(topic)?.kind;
    if (area === 'area-control') {
      this.live?.onControl(payload);
      return this.alerts?.onControl(payload);
    }
    if (area === 'area-audio') return this.onLiveAudio(payload);
    if (topic !== this.topics.cmd) return; // area audio channels: later
    const decoded = decodeCommand.decode(payload);
    if (!decoded.ok) {
      this.onInvalidCommand(payload, decoded.error.code === 'unknown_version' ? 'unsupported_version' : 'invalid', decoded.error.reason);
      return;
    }
    const command = decoded.value;
    if (this.queuedCommands >= this.maxQueuedCommands) {
      void this.publishEvent(this.resultOf(command, false, undefined, { code: 'busy', message: `${this.queuedCommands} commands already waiting; retry later` }));
      this.counters.commandsRefused++;
      return;
    }
    // Commands run one at a time: the hardware does one thing at once, and a
    // duplicate that arrives while its original runs finds the stored result.
    this.queuedCommands++;
    this.commandChain = this.commandChain
      .then(() => this.handleCommand(command))
      .catch((e: unknown) => this.noteError(`bug: command ${command.id} handling failed: ${(e as Error).message}`))
      .finally(() => {
        this.queuedCommands--;
      });
  }

  /** Answer a bad command if we can tell the sender which one it was; otherwise count and drop it. */
  private onInvalidCommand(payload: Buffer, code: string, reason: string): void {
    this.counters.invalidCommands++;
    let id: unknown;
    let type: unknown;
    try {
      ({ id, type } = JSON.parse(payload.toString('utf8')) as { id?: unknown; type?: unknown });
    } catch {
      /* not JSON: nothing to answer */
    }
    const answerable = typeof id === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(id) && COMMAND_TYPES.includes(type as CommandType);
    if (!answerable) {
      this.log.warn(`dropped an invalid command payload (${payload.length} bytes): ${clip(reason, 200)}`);
      return;
    }
    const event: CommandResultEvent = {
      v: PROTOCOL_VERSION, siteId: this.siteId, at: this.now(), type: 'cmd_result',
      cmdId: id as string, cmdType: type as CommandType, ok: false, error: { code, message: clip(reason, 500) },
    };
    void this.publishEvent(event);
  }

  private resultOf(command: CommandMessage, ok: boolean, result?: CommandResultEvent['result'], error?: { code: string; message: string }): CommandResultEvent {
    const event: CommandResultEvent = { v: PROTOCOL_VERSION, siteId: this.siteId, at: this.now(), type: 'cmd_result', cmdId: command.id, cmdType: command.type, ok };
    if (result) event.result = result;
    if (error) event.error = { code: clip(error.code, 64), message: clip(error.message, 500) };
    return event;
  }

  private async handleCommand(command: CommandMessage): Promise<void> {
    const prior = this.ledger.get(command.id);
    if (prior) {
      // Redelivered (QoS 1, persistent session, or the server retrying): answer again, never run twice.
      this.counters.duplicateCommands++;
      await this.publishEvent(prior);
      return;
    }
    let answer: CommandResultEvent;
    let after: (() => Promise<void>) | undefined;
    if (command.siteId !== this.siteId) {
      this.counters.commandsRefused++;
      answer = this.resultOf(command, false, undefined, { code: 'wrong_site', message: `command is for site ${command.siteId}, this is ${this.siteId}` });
    } else if (command.expiresAt < this.now()) {
      this.counters.commandsRefused++;
      answer = this.resultOf(command, false, undefined, { code: 'expired', message: `command expired at ${new Date(command.expiresAt).toISOString()}; not run` });
    } else {
      try {
        this.counters.commandsRun++;
        const outcome = await this.execute(command);
        answer = this.resultOf(command, true, outcome.result);
        after = outcome.after;
      } catch (e) {
        // The one place a failed command becomes an answer.
        const code = e instanceof DeviceError ? e.code : 'internal';
        answer = this.resultOf(command, false, undefined, { code, message: (e as Error)?.message || String(e) });
        if (code === 'internal') this.noteError(`command ${command.id} (${command.type}) failed: ${answer.error?.message}`);
      }
    }
    await this.ledger.put(answer);
    await this.publishEvent(answer);
    if (after) await after();
  }

  private async execute(command: CommandMessage): Promise<CommandOutcome> {
    switch (command.type) {
      case 'set_volume':
        return { result: { volume: await this.gateway.setVolume(command.params.level) } };
      case 'amp_power':
        await this.gateway.setAmplifier(command.params.on);
        return { result: { on: command.params.on } };
      case 'test_tone': {
        const tone: ToneRequest = {
          hz: command.params.hz ?? DEFAULT_TONE.hz,
          durationMs: command.params.durationMs ?? DEFAULT_TONE.durationMs,
          level: command.params.level ?? (await this.currentVolume()),
        };
        await this.withAmplifierOn(() => this.gateway.playTestTone(tone));
        return { result: { ...tone } };
      }
      case 'sound_check':
        return { result: await this.withAmplifierOn(() => this.soundCheck()) };
      case 'reboot':
        return { after: () => this.reboot() };
      case 'set_acoustic_delay': {
        // Saved first: an ok answer means a restart keeps it. Streams that start from now on use it.
        await this.settings.setAcousticDelayM(command.params.metres);
        this.live?.setAcousticDelayM(command.params.metres);
        this.log.info(`acoustic delay set to ${command.params.metres} m for live streams starting from now on`);
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
    let wasOn = true;
    try {
      wasOn = (await this.gateway.status()).amplifier?.on ?? true;
    } catch {
      /* unknown: leave the amplifier as it is */
    }
    if (!wasOn) await this.gateway.setAmplifier(true);
    try {
      return await fn();
    } finally {
      if (!wasOn) await this.gateway.setAmplifier(false).catch((e: unknown) => this.noteError(`amplifier did not switch off after a tone: ${(e as Error).message}`));
    }
  }

  private async currentVolume(): Promise<number> {
    try {
      return (await this.gateway.status()).amplifier?.volume ?? DEFAULT_TONE_LEVEL;
    } catch {
      return DEFAULT_TONE_LEVEL;
    }
  }

  private async soundCheck(): Promise<NonNullable<CommandResultEvent['result']>> {
    const tone: ToneRequest = { ...DEFAULT_TONE, level: await this.currentVolume() };
    const { levelDb } = await this.gateway.soundCheck(tone);
    const thresholdDb = this.config.soundCheckThresholdDb;
    const passed = levelDb !== null && levelDb >= thresholdDb;
    const at = this.now();
    this.lastSoundCheck = { at, ok: passed, levelDb };
    const event: SoundCheckEvent = {
      v: PROTOCOL_VERSION, siteId: this.siteId, at, type: 'sound_check', ok: passed, levelDb, thresholdDb,
      toneHz: tone.hz, durationMs: tone.durationMs, trigger: 'command',
    };
    await this.publishEvent(event);
    return { passed, levelDb, thresholdDb };
  }

  /** After the ok answer: say offline 'reboot', leave cleanly (no will), run the hook, come back. */
  private async reboot(): Promise<void> {
    const client = this.client;
    if (!client || this.stopped) return;
    this.rebooting = true;
    try {
      if (client.connected) {
        await this.publishState('offline', 'reboot');
        await withTimeout(new Promise<void>((res) => client.end(false, {}, () => res())), ACK_TIMEOUT_MS);
      }
      // end() closed the stores; a clean DISCONNECT left nothing in flight to carry over.
      this.stores = { incomingStore: new Store(), outgoingStore: new Store() };
      this.stopHeartbeats();
      try {
        await this.onReboot(this.gateway);
      } catch (e) {
        this.noteError(`reboot failed: ${(e as Error).message}`);
      }
    } finally {
      this.rebooting = false;
    }
    if (!this.stopped && !this.reconnectTimer) {
      this.backoff.reset();
      this.connectNow();
    }
  }

  private now(): number {
    return Math.floor(this.clock.now());
  }
}
