/**
 * The edge agent: one per site. This module assembles its parts and runs
 * their lifecycle; each part owns one concept:
 *
 * - session/site-link.ts: the MQTT session (retained `state`, last will,
 *   reconnects with jittered backoff) and the one validating
 *   `publish(channel, message)` everything the agent sends goes through
 *   (session/uplink.ts: one protocol/ schema per channel);
 * - session/inbound.ts: received topics → one handler each (`inbound` below);
 * - session/heartbeat.ts: telemetry built from the device gateway;
 * - session/clock-exchange.ts: the NTP-style offset to the server clock;
 * - session/site-events.ts: events, journaled (receipts, alert statuses,
 *   command results: kept until the server acknowledges them) or in a
 *   bounded outbox while the link is down;
 * - commands/: commands run once each and answered (command-queue.ts), what
 *   each does (site-commands.ts), the ledger that remembers the answers;
 * - playout-stack.ts: engine, playlist executor, alerts and live receiver;
 * - site-settings.ts: what commands changed, kept across restarts;
 * - site-config.ts: the configuration the server delivered (area channels
 *   among it), applied over agent.json's and kept across restarts.
 *
 * Device faults are reported as they happen and fail what plays when they
 * silence the output.
 *
 * Memory: the fleet runner runs ~3,000 agents in one process, so per agent
 * there is one client, two small mqtt.js stores, a bounded ledger of command
 * results, a bounded outbox and a clock window of at most 32 samples; no
 * per-agent timers beyond the heartbeat and the next clock request.
 */
import { join } from 'node:path';
import { markRun, readRunHistory } from './run-marker.ts';
import {
  ALERT_VERSIONS_FEATURE,
  MAX_PLAYLIST_BYTES,
  PROTOCOL_VERSION,
  areaAudioTopic,
  areaControlTopic,
  decodeEventAck,
  decodePlaylist,
  decodeSiteConfig,
  siteTopic,
  type FaultEvent,
  type SiteEventMessage,
} from '../protocol/index.ts';
import type { DeviceFaultNotice, DeviceGateway } from './devices/gateway.ts';
import type { PlayoutEngine } from './playout/engine.ts';
import type { PlaylistExecutor, PlaylistExecutorStats } from './playout/playlist-executor.ts';
import type { ReceiptJournal, ReceiptStats } from './playout/receipts.ts';
import type { LiveReceiver } from './live/receiver.ts';
import type { AgentConfig } from './config.ts';
import { ProblemLog, clip, consoleLogger, type AgentLogger } from './agent-log.ts';
import { monotonicEpochMs, type AgentStats, type Clock, type EdgeAgentOptions, type PlayoutSetup, type StopOptions } from './agent-options.ts';
import { SiteSettings, SETTINGS_FILE } from './site-settings.ts';
import { HeldSiteConfig, SITE_CONFIG_FILE } from './site-config.ts';
import { AGENT_FEATURES, SiteLink } from './session/site-link.ts';
import { ClockExchange } from './session/clock-exchange.ts';
import { Heartbeats } from './session/heartbeat.ts';
import { followPlaying } from './playout/now-playing.ts';
import { SiteEvents } from './session/site-events.ts';
import { inboundRoute, type InboundHandlers } from './session/inbound.ts';
import { CommandLedger, LEDGER_FILE } from './commands/ledger.ts';
import { CommandQueue } from './commands/command-queue.ts';
import { SiteCommands } from './commands/site-commands.ts';
import { AMP_LEAD_MARGIN_MS, RECEIPT_JOURNAL_FILE, buildPlayoutStack, eventJournalAlone, type PlayoutStack } from './playout-stack.ts';
import { Updater, boardArch } from './update/updater.ts';
import { updateSoundCheck } from './update/sound-check.ts';
import { SLOT_ENV } from './update/slots.ts';
import type { SlotName } from './update/boot-select.ts';
import type { FirmwarePort } from './devices/firmware-update.ts';

export type { AgentLogger } from './agent-log.ts';
export { monotonicEpochMs } from './agent-options.ts';
export type { AgentStats, Clock, EdgeAgentOptions, PlayoutSetup, RebootHook, StopOptions } from './agent-options.ts';
export type { SiteSettingsFile } from './site-settings.ts';
export { DEFAULT_TONE } from './commands/site-commands.ts';

/** A heartbeat saying what plays now goes this long after the programme changed: past the first frames' writes. */
const NOW_PLAYING_HEARTBEAT_DELAY_MS = 500;

export class EdgeAgent {
  private readonly config: AgentConfig;
  private readonly gateway: DeviceGateway;
  private readonly clock: Clock;
  private readonly log: AgentLogger;
  private readonly problems: ProblemLog;
  private readonly playoutSetup: PlayoutSetup | undefined;
  private readonly settings: SiteSettings;
  private readonly siteConfig: HeldSiteConfig;
  /** The area keys whose channels this connection subscribed to (playing agents only). */
  private readonly listening = new Set<string>();
  private invalidConfigs = 0;
  private readonly ledger: CommandLedger;
  private readonly link: SiteLink;
  private readonly clockExchange: ClockExchange;
  private readonly heartbeats: Heartbeats;
  private readonly events: SiteEvents;
  private readonly journal: ReceiptJournal;
  private readonly stack: PlayoutStack | undefined;
  private readonly siteCommands: SiteCommands;
  private readonly commands: CommandQueue;
  /** The agent's whole inbound dispatch: one handler per route (session/inbound.ts). */
  private readonly inbound: InboundHandlers;
  private invalidPlaylists = 0;
  private started = false;
  private stopped = false;
  private startedAt = 0;
  private unsubscribeFaults: (() => void) | undefined;
  /** Software updates (edge-agent/update/), when the caller gave a way to restart into another version. */
  private readonly updater: Updater | undefined;
  /** Site configurations received since this start (the update health check needs one). */
  private configsReceived = 0;
  /** Test only (EdgeAgentOptions.withoutFeatures): an alert_start with versions, or a configuration with languages, is dropped, as an agent without alert_versions does. */
  private readonly refusesVersions: boolean;

  constructor(options: EdgeAgentOptions) {
    const config = options.config;
    this.config = config;
    this.gateway = options.gateway;
    this.clock = options.clock ?? Date;
    const injected = options.clock;
    // The clock exchange's time base: the injected clock, else the monotonic epoch (session/clock-exchange.ts).
    const syncNow = injected ? () => injected.now() : monotonicEpochMs;
    const now = (): number => this.now();
    this.log = options.log ?? consoleLogger(config.siteId);
    this.problems = new ProblemLog(this.log);
    const note = this.problems.note;
    const random = options.random ?? Math.random;
    const stateDir = config.stateDir;
    this.ledger = new CommandLedger(options.ledgerCapacity ?? 200, stateDir ? join(stateDir, LEDGER_FILE) : undefined, this.log);
    this.settings = new SiteSettings(stateDir ? join(stateDir, SETTINGS_FILE) : undefined, this.log);
    this.siteConfig = new HeldSiteConfig(config.siteId, stateDir ? join(stateDir, SITE_CONFIG_FILE) : undefined, this.log);
    this.link = new SiteLink({
      config,
      log: this.log,
      note,
      now,
      random,
      mqttStream: options.mqttStream,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      onUp: () => this.onLinkUp(),
      onDown: () => this.onLinkDown(),
      onMessage: (topic, payload) => this.onMessage(topic, payload),
      ...(options.withoutFeatures ? { features: AGENT_FEATURES.filter((f) => !options.withoutFeatures?.includes(f)) } : {}),
    });
    this.refusesVersions = options.withoutFeatures?.includes(ALERT_VERSIONS_FEATURE) ?? false;
    this.clockExchange = new ClockExchange({ siteId: config.siteId, link: this.link, syncNow, log: this.log });
    const publishEvent = (event: SiteEventMessage): Promise<boolean> => this.events.publish(event);
    this.playoutSetup = options.playout;
    this.stack = options.playout
      ? buildPlayoutStack(options.playout, {
          config,
          gateway: this.gateway,
          clock: this.clockExchange,
          syncNow,
          now,
          publishEvent,
          acousticDelayM: this.acousticDelayM,
          siteLanguages: () => this.siteConfig.languages(),
          log: this.log,
        })
      : undefined;
    // Alert statuses and command results are journaled like receipts, so an agent without playout has one too.
    this.journal = this.stack?.journal ?? eventJournalAlone(stateDir, now, this.log);
    this.events = new SiteEvents({ link: this.link, journal: this.journal, note, outboxCapacity: options.outboxCapacity ?? 100 });
    const live = this.stack?.live;
    const onReboot = options.onReboot ?? ((gateway: DeviceGateway) => gateway.reboot());
    this.siteCommands = new SiteCommands({
      siteId: config.siteId,
      gateway: this.gateway,
      settings: this.settings,
      soundCheckThresholdDb: config.soundCheckThresholdDb,
      now,
      publishEvent,
      ...(live ? { setLiveAcousticDelayM: (metres: number) => live.setAcousticDelayM(metres) } : {}),
      reboot: () =>
        this.link.cycle(async () => {
          this.heartbeats.stop();
          try {
            await onReboot(this.gateway);
          } catch (e) {
            note(`reboot failed: ${(e as Error).message}`);
          }
        }),
      log: this.log,
      note,
    });
    this.commands = new CommandQueue({
      siteId: config.siteId,
      ledger: this.ledger,
      commands: this.siteCommands,
      maxQueued: options.maxQueuedCommands ?? 16,
      now,
      publishEvent,
      log: this.log,
      note,
    });
    const executor = this.stack?.executor;
    this.heartbeats = new Heartbeats({
      config,
      gateway: this.gateway,
      link: this.link,
      now,
      random,
      note,
      startedAt: () => this.startedAt,
      clock: () => this.clockExchange.estimate(),
      lastSoundCheck: () => this.siteCommands.lastSoundCheck,
      canPlay: this.stack !== undefined,
      ...(executor ? { playlist: () => executor.report() } : {}),
      siteConfig: () => this.siteConfig.report(),
      // A heartbeat at once when playback starts or ends (a bulletin, an alert, a live stream), so the site page need not wait an interval.
      // A change of programme is told a moment after it, not at the instant its first frames go out.
      ...(this.stack ? { playing: followPlaying(this.stack.engine, () => this.link.connected && this.heartbeats.requestSoon(NOW_PLAYING_HEARTBEAT_DELAY_MS)) } : {}),
      ...(options.update ? { update: () => this.updater?.report() ?? null } : {}),
    });
    const update = options.update;
    if (update) {
      const envSlot = process.env[SLOT_ENV];
      const slot: SlotName = update.slot ?? (envSlot === 'a' || envSlot === 'b' ? envSlot : 'factory');
      const arch = update.arch ?? boardArch();
      this.updater = new Updater({
        siteId: config.siteId,
        stateDir,
        httpUrl: config.server.httpUrl,
        secret: config.credential.secret,
        version: config.agentVersion,
        arch,
        slot,
        trustedKeys: update.trustedKeys,
        log: this.log,
        now,
        publishEvent: (event) => void this.events.publish(event),
        requestHeartbeat: () => {
          if (this.link.connected) this.heartbeats.request();
        },
        probes: {
          connected: () => this.link.connected,
          heartbeatSent: () => this.heartbeats.stats.heartbeatsSent > 0,
          configReceived: () => this.configsReceived > 0,
          soundCheck: update.soundCheck ?? (() => updateSoundCheck(this.gateway, config.soundCheckThresholdDb)),
        },
        isPlaying: () => {
          const engine = this.stack?.engine;
          return !!engine && (engine.onAir !== null || engine.programmes().some((p) => p.state === 'playing' || p.state === 'suspended'));
        },
        port: update.port,
        // Device firmware: through the driver's fw_* requests, for a device this gateway reports.
        firmwareOf: async (deviceId) => {
          const g = this.gateway as DeviceGateway & { firmware?: () => FirmwarePort };
          if (typeof g.firmware !== 'function') return undefined;
          const known = (await this.gateway.status()).devices.some((d) => d.id === deviceId);
          return known ? g.firmware() : undefined;
        },
        ...(update.get ? { get: update.get } : {}),
        ...(update.backoff ? { backoff: update.backoff } : {}),
        ...(update.sleep ? { sleep: update.sleep } : {}),
        ...(update.pollMs !== undefined ? { pollMs: update.pollMs } : {}),
      });
    }
    this.inbound = {
      time: (payload) => this.clockExchange.onResponse(payload),
      ack: (payload) => this.onAck(payload),
      playlist: (payload) => this.onPlaylist(payload),
      config: (payload) => this.onSiteConfig(payload),
      update: (payload) => this.updater?.onOrder(payload),
      cmd: (payload) => this.commands.onPayload(payload),
      'area-control': (payload) => {
        this.stack?.live.onControl(payload);
        if (this.refusesVersions && carriesVersions(payload)) {
          this.log.warn('dropped an invalid alert control message: must NOT have additional properties (versions); this agent stands in for one without alert_versions');
          return;
        }
        this.stack?.alerts.onControl(payload);
      },
      'area-audio': (payload) => this.stack?.live.onAudio(payload),
    };
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
    return this.stack?.live;
  }

  /** The playout parts, for the fleet runner, alerts and live streams (which add programmes to the engine), and tests. */
  get playout(): { engine: PlayoutEngine; executor: PlaylistExecutor; journal: ReceiptJournal; stats: { executor: PlaylistExecutorStats; receipts: ReceiptStats } } | undefined {
    const s = this.stack;
    if (!s) return undefined;
    return { engine: s.engine, executor: s.executor, journal: s.journal, stats: { executor: s.executor.stats, receipts: s.journal.stats() } };
  }

  get siteId(): string {
    return this.config.siteId;
  }

  /** The area keys whose alerts and live streams this site listens to: the delivered configuration's, else agent.json's. */
  get areaChannels(): readonly string[] {
    return this.siteConfig.areaChannels(this.config.areaChannels);
  }

  /** The site configuration applied (revision, hash), null while agent.json alone applies. */
  get siteConfigApplied(): { revision: number; hash: string } | null {
    return this.siteConfig.report();
  }

  /** The software update report (telemetry.update), null before any order or when the agent takes none. */
  get updateReport(): ReturnType<Updater['report']> {
    return this.updater?.report() ?? null;
  }

  /** The event journal's counters: receipts, alert statuses and command results the server has not acknowledged yet among them. */
  get journalStats(): ReceiptStats | undefined {
    return this.journal.stats();
  }

  /** A snapshot; changing it changes nothing. */
  get stats(): AgentStats {
    return {
      ...this.link.stats,
      ...this.heartbeats.stats,
      ...this.commands.stats,
      ...this.events.stats,
      ...this.clockExchange.stats,
      invalidPlaylists: this.invalidPlaylists,
      invalidConfigs: this.invalidConfigs,
      lastError: this.problems.last,
    };
  }

  /** Starts the devices and the link; resolves without waiting for the broker (the agent works offline). */
  async start(): Promise<void> {
    if (this.started) throw new Error(`agent ${this.siteId} already started`);
    this.started = true;
    this.startedAt = this.now();
    await this.ledger.load();
    await this.settings.load();
    await this.siteConfig.load();
    const kept = this.siteConfig.current;
    // Said at every start: which area the board listens to before (or without) any link, and from where.
    if (kept) this.log.info(`site configuration revision ${kept.revision} kept from the server: area channels ${kept.areaChannels.join(', ')}`);
    else this.log.info(`no site configuration from the server yet: area channels of the config file apply (${this.config.areaChannels.join(', ') || 'none'})`);
    this.stack?.live.setAcousticDelayM(this.acousticDelayM);
    // Receipts and the saved playlist first: the agent plays from disk whether or not the link comes up.
    // A journal missing from a folder the agent ran in before was lost (wiped, a card that came back
    // empty): the executor then says `unknown` for what may have played, never a guessed skip.
    const stateDir = this.config.stateDir;
    const run = stateDir ? await readRunHistory(stateDir, [RECEIPT_JOURNAL_FILE], this.log) : undefined;
    if (run?.lost.has(RECEIPT_JOURNAL_FILE))
      this.log.warn(`the receipt journal ${RECEIPT_JOURNAL_FILE} is missing from ${stateDir}, where this agent ran before: entries due before now are reported unknown`);
    await this.journal.open();
    if (this.stack) await this.playoutSetup?.cache?.open();
    if (stateDir && run) await markRun(stateDir, run, this.now(), this.log);
    try {
      await this.gateway.start();
    } catch (e) {
      // Devices that do not answer are reported unreachable in telemetry; the link still comes up.
      this.problems.note(`device gateway did not start: ${(e as Error).message}`, 'warn');
    }
    this.unsubscribeFaults = this.gateway.onFault((notice) => this.onFault(notice));
    // The amplifier lead follows the device's own warm-up when the caller did not fix it.
    const warmupMs = this.playoutSetup && this.playoutSetup.leadMs === undefined ? this.gateway.amplifierWarmupMs?.() : undefined;
    if (warmupMs !== undefined) this.stack?.engine.setLeadMs(warmupMs + AMP_LEAD_MARGIN_MS);
    const holdMs = this.playoutSetup && this.playoutSetup.tailMs === undefined ? this.gateway.amplifierHoldMs?.() : undefined;
    if (holdMs !== undefined) this.stack?.engine.setTailMs(holdMs);
    this.clockExchange.holdForServerTime();
    // Deleted, or emptied (`fresh`: absent or empty at open) in a folder the agent ran in before.
    await this.stack?.executor.start({ journalLost: run?.ranBefore && (run.lost.has(RECEIPT_JOURNAL_FILE) || this.journal.fresh) });
    await this.stack?.alerts.start();
    await this.updater?.start();
    this.link.open();
  }

  async stop({ graceful = true }: StopOptions = {}): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    await this.updater?.stop();
    this.link.halt();
    this.heartbeats.stop();
    this.clockExchange.stop();
    this.clockExchange.releaseWaiters();
    this.unsubscribeFaults?.();
    this.stack?.executor.stop();
    await this.stack?.alerts.stop();
    this.stack?.live.close();
    this.journal.detach();
    await this.stack?.engine.stop();
    await this.journal.close();
    await this.playoutSetup?.cache?.close().catch(() => {});
    await this.link.end(graceful);
    await this.ledger.flush();
    await this.settings.flush();
    await this.siteConfig.flush();
    try {
      await this.gateway.stop();
    } catch (e) {
      this.problems.note(`device gateway did not stop cleanly: ${(e as Error).message}`, 'warn');
    }
  }

  // ------------------------------------------------------------ link ----

  private onLinkUp(): void {
    const link = this.link;
    const note = this.problems.note;
    this.clockExchange.linkUp();
    const cmd = siteTopic(this.siteId, 'cmd');
    link.subscribe(cmd, 1, (err) => {
      if (err) note(`cannot subscribe to ${cmd}: ${err.message}`);
    });
    const time = siteTopic(this.siteId, 'time');
    link.subscribe(time, 0, (err, refused) => {
      // A server that predates the clock exchange refuses the subscription (0x80): then do not ask.
      if (err || refused) note(`cannot subscribe to ${time}: ${err?.message ?? 'refused'}; clock offset stays unknown`, 'warn');
      else if (link.connected) this.clockExchange.start();
    });
    if (this.stack) {
      // Retained: the broker hands over the newest playlist at once, however long we were away.
      const playlist = siteTopic(this.siteId, 'playlist');
      link.subscribe(playlist, 1, (err) => {
        if (err) note(`cannot subscribe to ${playlist}: ${err.message}`);
      });
      this.listening.clear();
      // agent.json's channels that the delivered configuration dropped are left too: a persistent session
      // (clean: false) may still hold them from a run before the configuration arrived.
      const want = this.areaChannels;
      for (const key of this.config.areaChannels) if (!want.includes(key)) this.listening.add(key);
      this.listenTo(want);
    }
    // Retained: the server's configuration of this site, which may move it to other area channels.
    const config = siteTopic(this.siteId, 'config');
    link.subscribe(config, 1, (err, refused) => {
      // A server that predates delivered configurations refuses it: agent.json's area channels apply.
      if (err || refused) note(`cannot subscribe to ${config}: ${err?.message ?? 'refused'}; the area channels kept or in agent.json apply`, 'warn');
    });
    // Back-fill: every receipt, alert status and command result the server has not acknowledged goes out
    // again, once its acks can reach us (a server that predates acks refuses the topic: they go out anyway,
    // again after each back-off, and the server keeps one of each).
    const ack = siteTopic(this.siteId, 'ack');
    link.subscribe(ack, 1, (err, refused) => {
      if (err || refused) note(`cannot subscribe to ${ack}: ${err?.message ?? 'refused'}; events are sent again until a server acknowledges them`, 'warn');
      if (link.connected) this.journal.attach(this.events.sendJournaled);
    });
    if (this.updater) {
      // Retained: the update this site should be working on, or its cancellation.
      const update = siteTopic(this.siteId, 'update');
      link.subscribe(update, 1, (err, refused) => {
        if (err || refused) note(`cannot subscribe to ${update}: ${err?.message ?? 'refused'}; software updates will not arrive`, 'warn');
      });
    }
    void link.publishState('online');
    this.events.flushOutbox();
    this.heartbeats.start();
  }

  private onLinkDown(): void {
    this.heartbeats.stop();
    this.clockExchange.linkDown();
    this.journal.detach();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const route = inboundRoute(this.siteId, topic);
    if (route) this.inbound[route](payload);
  }

  // ------------------------------------------------------------- ack ----

  /** The server stored (or refused for good) these journaled events: the journal may forget them. */
  private onAck(payload: Buffer): void {
    const decoded = decodeEventAck.decode(payload);
    if (!decoded.ok || decoded.value.siteId !== this.siteId) {
      this.log.warn(`dropped an invalid event ack (${payload.length} bytes): ${clip(decoded.ok ? `for site ${decoded.value.siteId}` : decoded.error.reason, 200)}`);
      return;
    }
    this.journal.acknowledge(decoded.value);
  }

  // -------------------------------------------------------- playlist ----

  private onPlaylist(payload: Buffer): void {
    const executor = this.stack?.executor;
    if (!executor || payload.length === 0) return; // an empty retained payload clears the topic: nothing to do
    const decoded = decodePlaylist.decode(payload, MAX_PLAYLIST_BYTES);
    if (!decoded.ok) {
      this.invalidPlaylists++;
      this.log.warn(`dropped an invalid playlist (${payload.length} bytes): ${clip(decoded.error.reason, 200)}`);
      return;
    }
    void executor.accept(decoded.value).then((r) => {
      if (r === 'wrong_site') this.invalidPlaylists++;
      if (r === 'new') this.heartbeats.request(); // tell the server at once which version we hold
    });
  }

  // ---------------------------------------------------- site config ----

  /** Listen to exactly `keys`' area channels on this connection: leave the others, join the new. */
  private listenTo(keys: readonly string[]): void {
    const link = this.link;
    const note = this.problems.note;
    const want = new Set(keys);
    for (const key of [...this.listening]) {
      if (want.has(key)) continue;
      this.listening.delete(key);
      for (const topic of [areaControlTopic(key), areaAudioTopic(key)]) {
        link.unsubscribe(topic, (err) => {
          if (err) note(`cannot unsubscribe from ${topic}: ${err.message}`, 'warn');
        });
      }
    }
    for (const key of want) {
      if (this.listening.has(key)) continue;
      this.listening.add(key);
      // Alerts: retained while valid, so a site that (re)connects gets a valid alert at once.
      link.subscribe(areaControlTopic(key), 1, (err, refused) => {
        if (err || refused) note(`cannot subscribe to ${areaControlTopic(key)}: ${err?.message ?? 'refused'}; alerts for ${key} will not arrive`);
      });
      // Live streams: frames QoS 0 (a late frame is useless, a lost one is concealed); the start is retained here.
      link.subscribe(areaAudioTopic(key), 0, (err, refused) => {
        if (err || refused) note(`cannot subscribe to ${areaAudioTopic(key)}: ${err?.message ?? 'refused'}; live streams for ${key} will not arrive`);
      });
    }
  }

  private onSiteConfig(payload: Buffer): void {
    // An empty retained payload clears the topic (the site was retired): keep what is held.
    if (payload.length === 0) return;
    const decoded = decodeSiteConfig.decode(payload);
    if (!decoded.ok) {
      this.invalidConfigs++;
      this.log.warn(`dropped an invalid site configuration (${payload.length} bytes): ${clip(decoded.error.reason, 200)}`);
      return;
    }
    const m = decoded.value;
    if (this.refusesVersions && m.languages !== undefined) {
      this.invalidConfigs++;
      this.log.warn('dropped an invalid site configuration: must NOT have additional properties (languages); this agent stands in for one without alert_versions');
      return;
    }
    const before = this.areaChannels;
    const { outcome, kept } = this.siteConfig.accept(m);
    if (outcome === 'wrong_site') this.invalidConfigs++;
    else this.configsReceived++;
    if (outcome !== 'new') return;
    const after = this.areaChannels;
    const moved = before.length !== after.length || before.some((k, i) => k !== after[i]);
    this.log.info(`site configuration revision ${m.revision} applied${moved ? `: area channels ${after.join(', ')} (were ${before.join(', ') || 'none'})` : ''}`);
    if (this.stack && this.link.connected) this.listenTo(after);
    // Tell the server which revision is applied once it is kept.
    void kept.then(() => {
      if (this.link.connected) this.heartbeats.request();
    });
  }

  // ---------------------------------------------------------- faults ----

  private onFault(notice: DeviceFaultNotice): void {
    // A fault that silences the output fails what plays (a partial receipt rather than a false 'played').
    const engine = this.stack?.engine;
    if (!notice.cleared && engine) {
      if (notice.fault === 'amp_overheat' || notice.fault === 'amp_no_response')
        engine.deviceFault('amp_fault', `${notice.device}: ${notice.fault}${notice.detail ? ` (${notice.detail})` : ''}`);
      else if (notice.fault === 'device_unreachable') engine.deviceFault('device_off', `${notice.device} unreachable${notice.detail ? `: ${notice.detail}` : ''}`);
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
    void this.events.publish(event);
    if (this.link.connected) this.heartbeats.request();
  }

  private now(): number {
    return Math.floor(this.clock.now());
  }
}

/** An alert_start carrying language versions (what an agent without alert_versions refuses). */
function carriesVersions(payload: Buffer): boolean {
  try {
    const m = JSON.parse(payload.toString('utf8')) as unknown;
    return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'alert_start' && 'versions' in m;
  } catch {
    return false;
  }
}
