/**
 * The site's MQTT session with the server: one client, a retained `state`
 * with a last will, reconnects driven here with jittered backoff
 * (common/backoff.ts) rather than by mqtt.js's fixed period, and the one
 * `publish(channel, message)` through which everything the agent sends goes
 * (validated against protocol/ in uplink.ts).
 *
 * Session choice: clean session = false. A 4G link drops for seconds many
 * times a day; with a persistent session the broker keeps our `cmd`
 * subscription and queues QoS 1 commands sent during the gap, and delivers
 * them on reconnect. That is safe because every command carries `expiresAt`
 * (checked before running) and an id (duplicates are answered from the
 * ledger, never re-run). The cost is one small session per site on the broker.
 *
 * What happens when the link comes up or goes down is the agent's
 * (agent.ts wires it through `onUp` / `onDown`); this module only keeps the
 * link and says so.
 */
import type { Duplex } from 'node:stream';
import { connect as mqttConnect, MqttClient, Store, type IClientOptions } from 'mqtt';
import { ALERT_VERSIONS_FEATURE, PLAYLIST_PARTS_FEATURE, PROTOCOL_VERSION, siteTopic, type SiteStateMessage } from '../../protocol/index.ts';
import { Backoff } from '../../common/backoff.ts';
import type { AgentConfig } from '../config.ts';
import { clip, withTimeout, type AgentLogger, type NoteLevel } from '../agent-log.ts';
import { checkUplink, type UplinkChannel, type UplinkMessages } from './uplink.ts';

/** What this agent takes that v1 agents did not always have (state.features): the server sends those fields only to sites that declare them. */
export const AGENT_FEATURES: readonly string[] = [PLAYLIST_PARTS_FEATURE, ALERT_VERSIONS_FEATURE];

/** A QoS 1 publish without PUBACK by then resolves as not acknowledged (it stays in the session's store). */
export const ACK_TIMEOUT_MS = 3000;

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
  /**
   * With the link down: 'drop' refuses at once; 'queue' (QoS 1) hands the
   * message to the session, which sends it on the next connection.
   */
  offline: 'drop' | 'queue';
  /** QoS 1: resolve `acked` false after this long without PUBACK (default ACK_TIMEOUT_MS). */
  ackTimeoutMs?: number;
  /** QoS 1: log a failed publish (default true). */
  logFailure?: boolean;
}

export interface Published {
  /** Known at once: refused as invalid, refused for a link that is down, or handed to the client. */
  status: 'invalid' | 'offline' | 'sent';
  /** QoS 1: true on PUBACK; false on error, timeout or close. QoS 0: whether it was handed over. Never rejects. */
  acked: Promise<boolean>;
}

export interface SiteLinkOptions {
  config: AgentConfig;
  log: AgentLogger;
  note: (message: string, level?: NoteLevel) => void;
  /** The agent's clock for `at` fields. */
  now: () => number;
  random: () => number;
  /** Builds the byte stream to the broker; default: connect to `config.server.mqttUrl`. */
  mqttStream: (() => Duplex) | undefined;
  connectTimeoutMs: number;
  /** After every CONNACK: subscribe and start what needs the link. */
  onUp: (link: SiteLink) => void;
  /** The connection closed (whether or not a reconnect follows). */
  onDown: () => void;
  onMessage: (topic: string, payload: Buffer) => void;
  /** What the state declares the agent takes (default AGENT_FEATURES; fewer only in tests, EdgeAgentOptions.withoutFeatures). */
  features?: readonly string[];
}

export interface LinkStats {
  connected: boolean;
  /** Successful CONNACKs. */
  connects: number;
  connectAttempts: number;
  /** CONNACKs refusing us (bad credential, not authorised). */
  refusedConnects: number;
}

const NOT_PUBLISHED: Promise<boolean> = Promise.resolve(false);

export class SiteLink {
  readonly stats: LinkStats = { connected: false, connects: 0, connectAttempts: 0, refusedConnects: 0 };
  private readonly backoff: Backoff;
  private readonly topics: { readonly [C in UplinkChannel]: string };
  private client: MqttClient | undefined;
  private stores = { incomingStore: new Store(), outgoingStore: new Store() };
  private halted = false;
  private rebooting = false;
  private refusedLast = false;
  private willAt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SiteLinkOptions) {
    this.backoff = new Backoff({ ...o.config.reconnect, random: o.random });
    const id = o.config.siteId;
    this.topics = { state: siteTopic(id, 'state'), telemetry: siteTopic(id, 'telemetry'), event: siteTopic(id, 'event'), clock: siteTopic(id, 'clock') };
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Stopped for good (agent.stop): nothing reconnects, nothing new is asked of the server. */
  get stopped(): boolean {
    return this.halted;
  }

  /** Build the client and make the first attempt; resolves nothing (the agent works offline). */
  open(): void {
    this.client = this.createClient();
    this.connectNow();
  }

  /** First step of stopping: no reconnect from now on; the connection itself ends in `end()`. */
  halt(): void {
    this.halted = true;
    clearTimeout(this.reconnectTimer);
  }

  /** true (graceful): say offline 'shutdown' and disconnect cleanly; false: drop the link so the broker publishes the will. */
  async end(graceful: boolean): Promise<void> {
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
    this.stats.connected = false;
  }

  /**
   * Leave cleanly (offline 'reboot', no will), run `meanwhile`, come back:
   * what a reboot command does after its ok answer.
   */
  async cycle(meanwhile: () => Promise<void>): Promise<void> {
    const client = this.client;
    if (!client || this.halted) return;
    this.rebooting = true;
    try {
      if (client.connected) {
        await this.publishState('offline', 'reboot');
        await withTimeout(new Promise<void>((res) => client.end(false, {}, () => res())), ACK_TIMEOUT_MS);
      }
      // end() closed the stores; a clean DISCONNECT left nothing in flight to carry over.
      this.stores = { incomingStore: new Store(), outgoingStore: new Store() };
      await meanwhile();
    } finally {
      this.rebooting = false;
    }
    if (!this.halted && !this.reconnectTimer) {
      this.backoff.reset();
      this.connectNow();
    }
  }

  /** `refused`: the broker granted 0x80 (a topic its ACL does not give us), which is not an error to mqtt.js. */
  subscribe(topic: string, qos: 0 | 1, done: (err: Error | undefined, refused: boolean) => void): void {
    const client = this.client;
    if (!client) return;
    client.subscribe(topic, { qos }, (err, granted) => done(err ?? undefined, granted?.[0]?.qos === 128));
  }

  /** Stop hearing a topic (an area the site left); a link that is down has nothing to leave. */
  unsubscribe(topic: string, done: (err: Error | undefined) => void): void {
    const client = this.client;
    if (!client?.connected) return;
    client.unsubscribe(topic, (err?: Error) => done(err ?? undefined));
  }

  /** The one way out: every message is validated for its channel (uplink.ts) before it is encoded and sent. */
  publish<C extends UplinkChannel>(channel: C, message: UplinkMessages[C], how: PublishOptions): Published {
    const checked = checkUplink(channel, message);
    if (!checked.ok) {
      this.o.note(checked.problem);
      return { status: 'invalid', acked: NOT_PUBLISHED };
    }
    const client = this.client;
    if (!client || (how.offline === 'drop' && !client.connected)) return { status: 'offline', acked: NOT_PUBLISHED };
    const topic = this.topics[channel];
    if (how.qos === 0) {
      client.publish(topic, checked.payload, { qos: 0, ...(how.retain ? { retain: true } : {}) });
      return { status: 'sent', acked: Promise.resolve(true) };
    }
    const acked = new Promise<boolean>((res) => {
      client.publish(topic, checked.payload, { qos: 1, ...(how.retain !== undefined ? { retain: how.retain } : {}) }, (err) => {
        if (err && how.logFailure !== false) this.o.note(`publish to ${topic} failed: ${err.message}`, 'warn');
        res(!err);
      });
    });
    return { status: 'sent', acked: withTimeout(acked, how.ackTimeoutMs ?? ACK_TIMEOUT_MS).then((ok) => ok === true) };
  }

  /** The retained state; `online` carries the time its will was registered, so the two order on the server. */
  publishState(state: 'online' | 'offline', reason?: string): Promise<boolean> {
    const message: SiteStateMessage = {
      v: PROTOCOL_VERSION,
      siteId: this.o.config.siteId,
      state,
      at: state === 'online' ? this.willAt : this.o.now(),
      agentVersion: clip(this.o.config.agentVersion, 40),
    };
    if (reason) message.reason = reason;
    if (state === 'online') message.features = [...(this.o.features ?? AGENT_FEATURES)];
    return this.publish('state', message, { qos: 1, retain: true, offline: 'queue' }).acked;
  }

  private createClient(): MqttClient {
    const { config } = this.o;
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: config.siteId,
      username: config.siteId,
      password: config.credential.secret,
      keepalive: config.keepaliveS,
      clean: false,
      reconnectPeriod: 0, // reconnects are ours, with jittered backoff
      connectTimeout: this.o.connectTimeoutMs,
      manualConnect: true,
      resubscribe: false, // we subscribe on every CONNACK ourselves
      queueQoSZero: false, // telemetry while offline is stale: drop it
      // mqtt-packet would otherwise build 65,536 two-byte buffers for packet ids at the first write: 6 MiB of a board's heap.
      writeCache: false,
      ...this.stores,
      will: this.will(),
    };
    const stream = this.o.mqttStream;
    const client = stream ? new MqttClient(() => stream(), options) : mqttConnect(config.server.mqttUrl, options);
    client.on('connect', () => this.onConnected());
    client.on('close', () => this.onClosed());
    client.on('error', (err) => this.onClientError(err));
    client.on('message', (topic, payload) => this.o.onMessage(topic, payload));
    return client;
  }

  private will(): NonNullable<IClientOptions['will']> {
    // `at` is the time the will was registered (this CONNECT); the server stamps when it arrived.
    this.willAt = this.o.now();
    const message: SiteStateMessage = { v: PROTOCOL_VERSION, siteId: this.o.config.siteId, state: 'offline', at: this.willAt, reason: 'last-will' };
    const checked = checkUplink('state', message);
    if (!checked.ok) this.o.note(checked.problem);
    return { topic: this.topics.state, payload: checked.ok ? checked.payload : Buffer.from(JSON.stringify(message)), qos: 1, retain: true };
  }

  private connectNow(): void {
    const client = this.client;
    if (!client || this.halted) return;
    this.reconnectTimer = undefined;
    this.stats.connectAttempts++;
    client.options.will = this.will();
    if (this.stats.connectAttempts === 1) client.connect();
    // Same stores: QoS 1 events not yet acknowledged are resent on the new connection.
    else client.reconnect(this.stores as unknown as Parameters<MqttClient['reconnect']>[0]);
  }

  private onConnected(): void {
    if (!this.client) return;
    this.stats.connected = true;
    this.stats.connects++;
    this.refusedLast = false;
    this.backoff.reset();
    this.o.log.info(`connected to ${this.o.config.server.mqttUrl} (connect #${this.stats.connects})`);
    this.o.onUp(this);
  }

  private onClosed(): void {
    const wasConnected = this.stats.connected;
    this.stats.connected = false;
    this.o.onDown();
    if (this.halted || this.rebooting || this.reconnectTimer) return;
    const delay = this.refusedLast ? this.backoff.atCap() : this.backoff.next();
    if (wasConnected) this.o.log.warn(`link to ${this.o.config.server.mqttUrl} lost; reconnecting in ${delay} ms`);
    else this.o.log.debug?.(`connect failed; retrying in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => this.connectNow(), delay);
    this.reconnectTimer.unref();
  }

  private onClientError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number' && code >= 1 && code <= 5) {
      // CONNACK refused: retrying soon cannot help (a wrong secret stays wrong), so wait near the backoff cap.
      this.refusedLast = true;
      this.stats.refusedConnects++;
      const hint = code === 4 || code === 5 ? `check credential for site ${this.o.config.siteId} in the agent config and the server's site registry` : 'check the broker';
      this.o.note(`broker refused the connection: ${err.message} (code ${code}); ${hint}; retrying in ${this.backoff.refusedCapMs / 2}-${this.backoff.refusedCapMs} ms`);
      return;
    }
    this.o.note(`mqtt: ${err.message}`, this.stats.connected ? 'warn' : 'debug');
  }
}
