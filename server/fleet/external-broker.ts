/**
 * The server as an ordinary MQTT 3.1.1 client of an external broker
 * (Mosquitto, EMQX) chosen by LOANET_MQTT_URL, instead of the embedded aedes.
 *
 * - It connects with its own user (LOANET_MQTT_USERNAME / LOANET_MQTT_PASSWORD),
 *   client id = username, clean session = false: the broker keeps its
 *   subscriptions to the site uplink topics and queues QoS 1 state and events
 *   while the server restarts.
 * - Commands go out with QoS 1 (resolved on PUBACK). While the link is down a
 *   publish fails at once, so the command stays queued; after a reconnect the
 *   composition root re-sends what waits for online sites (`onReconnect`).
 * - Reconnects use the agent's jittered exponential backoff; a refused
 *   credential waits near the cap, since retrying soon cannot fix it.
 * - The broker authenticates and authorizes the sites (Mosquitto files or
 *   EMQX hooks generated/served by loanet), so `disconnectSite` cannot kick a
 *   client: rotation, retirement and area moves take effect at the site's
 *   next connect, once the broker's files are regenerated (Mosquitto) or at
 *   once for new connections (EMQX hooks). See docs/operations.md.
 * - `status().clients` is 0: the number of clients lives in the broker.
 * - Retained state: a broker that crashed comes back with its last snapshot
 *   of retained messages, or none (Mosquitto saves at autosave or a clean
 *   stop), and keeps no record of what it lost. After the server's retained
 *   publishes are acknowledged it publishes a retained canary (epoch of this
 *   process, seq counting up; retained-recovery.ts) and reads it back after
 *   every reconnect and every `retainedCheckMs`: a new session, a canary
 *   missing, older or from another process, or a retained publish that
 *   failed while the link was down calls `onRetainedLost` handlers, which
 *   publish every playlist and alert slot again (paced, same versions).
 */
import { randomUUID } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { SERVER_SUBSCRIPTIONS, RETAINED_CANARY_TOPIC, decodeRetainedCanary, encodeJson, parseTopic, type RetainedCanary } from '../../protocol/index.ts';
import { Backoff } from '../../common/backoff.ts';
import { StartupError } from '../errors.ts';
import type { BrokerLink, BrokerStatus, Logger, SiteMessage } from './broker.ts';
import { judgeCanary, judgeReconnect } from './retained-recovery.ts';

export interface ExternalBrokerOptions {
  url: string;
  username: string;
  password: string;
  /** How long the first connection may take before start-up fails (ms). */
  connectTimeoutMs?: number;
  keepaliveS?: number;
  reconnect?: { baseMs: number; capMs: number };
  /** How often the retained canary is read back while connected (ms; 0 = only after reconnects). */
  retainedCheckMs?: number;
  /** How long stop() waits for the broker to acknowledge what is in flight before it drops the link (ms). */
  stopGraceMs?: number;
}

/** The canary follows the retained publishes it vouches for by this much, one canary for a burst of them. */
const CANARY_DEBOUNCE_MS = 200;
/** A canary not back this long after the SUBACK is taken as missing. */
const CANARY_WAIT_MS = 10_000;

const CONNACK_TEXT: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorised',
};

export class ExternalBroker implements BrokerLink {
  private client: MqttClient | undefined;
  private readonly handlers: Array<(m: SiteMessage) => void> = [];
  private readonly reconnectHandlers: Array<() => void> = [];
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private connects = 0;
  private refusedLast = false;
  private readonly counters = { refusedConnects: 0, deniedPublishes: 0, deniedSubscribes: 0 };
  private readonly retainedLostHandlers: Array<(why: string) => Promise<void>> = [];
  /**
   * This process's canary: its epoch, the last seq published and the last one
   * the broker acknowledged; retained publishes acknowledged so far, and how
   * many of them the last acknowledged canary was sent after (covers).
   */
  private readonly canary = { epoch: randomUUID(), published: 0, acked: 0, retainedAcks: 0, covered: 0 };
  private canaryTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private check: { expected: { epoch: string; seq: number; uncovered: boolean }; timer: NodeJS.Timeout } | undefined;
  private recovering: Promise<void> | undefined;
  private recoverAgain: string | undefined;
  /** A retained publish failed (link down): the broker may lack it, and its owner may not retry it (alert slots do not). */
  private retainedPublishFailed = false;
  /** Times the broker was found to have lost retained state. */
  retainedRecoveries = 0;

  constructor(
    private readonly opts: ExternalBrokerOptions,
    private readonly log: Logger,
  ) {
    const capMs = opts.reconnect?.capMs ?? 30_000;
    // A refused server credential is retried at the ordinary cap: the operator fixing it wants the server back soon.
    this.backoff = new Backoff({ baseMs: opts.reconnect?.baseMs ?? 500, capMs, refusedCapMs: capMs });
  }

  /** Connects once; an unreachable broker or a refused credential stops start-up with one line naming the variable. */
  async start(): Promise<void> {
    const options: IClientOptions = {
      protocolVersion: 4,
      clientId: this.opts.username,
      username: this.opts.username,
      password: this.opts.password,
      clean: false,
      keepalive: this.opts.keepaliveS ?? 30,
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0, // reconnects are ours, with jittered backoff
      resubscribe: false, // mqtt.js only remembers subscriptions with its own reconnects: onConnected() subscribes
      queueQoSZero: false,
    };
    const client = connect(this.opts.url, options);
    this.client = client;
    try {
      await new Promise<void>((resolve, reject) => {
        let lastError: Error | undefined;
        const onError = (err: Error) => (lastError = err);
        const onClose = () => reject(lastError ?? new Error('connection closed (timeout or broker hung up)'));
        client.on('error', onError);
        client.once('close', onClose);
        client.once('connect', () => {
          client.off('error', onError);
          client.off('close', onClose);
          resolve();
        });
      });
    } catch (e) {
      client.end(true);
      this.client = undefined;
      throw this.startupError(e as Error);
    }
    let granted: Array<{ topic: string; qos: number }>;
    try {
      granted = await client.subscribeAsync(
        SERVER_SUBSCRIPTIONS.map((t) => t),
        { qos: 1 },
      );
    } catch (e) {
      client.end(true);
      this.client = undefined;
      throw new StartupError('LOANET_MQTT_SUBSCRIBE_FAILED', `cannot subscribe to the site topics on LOANET_MQTT_URL=${this.opts.url} (${(e as Error).message})`);
    }
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length) {
      client.end(true);
      this.client = undefined;
      throw new StartupError(
        'LOANET_MQTT_SUBSCRIBE_REFUSED',
        `the broker at LOANET_MQTT_URL=${this.opts.url} refused the subscription to ${refused.join(', ')} for LOANET_MQTT_USERNAME=${this.opts.username}; give that user readwrite on loanet/v1/# and la/# in the broker's ACL`,
      );
    }
    this.connects = 1;
    this.log.info({ url: this.opts.url, username: this.opts.username }, 'connected to the external MQTT broker');

    client.on('message', (topic, payload, packet) => (topic === RETAINED_CANARY_TOPIC ? this.onCanary(payload, packet.retain) : this.dispatch(topic, payload, packet.retain)));
    client.on('connect', (connack) => this.onConnected(connack.sessionPresent));
    client.on('close', () => this.onClosed());
    client.on('error', (err) => this.onError(err));
    const every = this.opts.retainedCheckMs ?? 30_000;
    if (every > 0) {
      this.checkTimer = setInterval(() => this.checkRetained(), every);
      this.checkTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.canaryTimer);
    clearInterval(this.checkTimer);
    clearTimeout(this.check?.timer);
    this.check = undefined;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // A clean DISCONNECT waits until the broker has acknowledged every publish in flight; a broker that is
    // down or stalled never will, so the wait is bounded and what is still unacknowledged is failed, not lost silently.
    await new Promise<void>((resolve) => {
      if (!client.connected) {
        // Its stream may have closed already, and would never say so again: nothing to wait for.
        this.failInFlight(client);
        client.end(true);
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.failInFlight(client);
        client.stream.destroy();
        resolve();
      }, this.opts.stopGraceMs ?? 5_000);
      timer.unref();
      client.end(false, {}, () => (clearTimeout(timer), resolve()));
    });
  }

  /**
   * Fails every QoS 1 publish the broker has not acknowledged: the link that carried it is gone.
   * Our reconnect (client.reconnect()) starts mqtt.js with a new, empty outgoing store, so it would
   * never resend them, and their callbacks (and so the promises of publish()) would wait forever.
   * Failed, their owners know: a retained one is published again after the reconnect, a command stays queued.
   */
  private failInFlight(client: MqttClient): void {
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
  }

  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const client = this.client;
    if (!client?.connected) {
      if (opts.retain) this.retainedPublishFailed = true;
      return Promise.reject(new Error(`not connected to the MQTT broker at ${this.opts.url}`));
    }
    return new Promise((resolve, reject) =>
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) => {
        if (err) {
          if (opts.retain) this.retainedPublishFailed = true;
          return reject(new Error(`the MQTT broker at ${this.opts.url} did not acknowledge ${topic} (${err.message})`));
        }
        // Only once the broker has it: a canary sent before it could vouch for a message lost with the link.
        if (opts.retain && opts.qos === 1) {
          this.canary.retainedAcks++;
          this.scheduleCanary();
        }
        resolve();
      }),
    );
  }

  /**
   * Called when the broker is found to have lost (or may have lost) what the
   * server retained on it; the handler publishes its retained messages again.
   * Handlers run one after the other, never two recoveries at once.
   */
  onRetainedLost(handler: (why: string) => Promise<void>): void {
    this.retainedLostHandlers.push(handler);
  }

  /** Read the canary back now (also runs after every reconnect and periodically). */
  checkRetained(): void {
    const client = this.client;
    if (!client?.connected || this.check || this.recovering || this.stopped) return;
    const expected = { epoch: this.canary.epoch, seq: this.canary.acked, uncovered: this.uncovered() };
    // Nothing of ours acknowledged yet, or a canary on its way (published soon after the retained messages): check later.
    if (expected.seq === 0 || expected.uncovered) return;
    const timer = setTimeout(() => this.finishCheck(null), CANARY_WAIT_MS);
    timer.unref();
    this.check = { expected, timer };
    // A SUBSCRIBE, even one the session already holds, makes the broker send the topic's retained message [MQTT-3.8.4-3].
    client.subscribe(RETAINED_CANARY_TOPIC, { qos: 0 }, (err, granted) => {
      if (err || granted?.[0]?.qos === 128) {
        clearTimeout(timer);
        this.check = undefined;
        this.log.error({ url: this.opts.url, err: err?.message }, 'cannot read the retained canary back; give the server user readwrite on loanet/v1/#');
      }
    });
  }

  private onCanary(payload: Buffer, retain: boolean): void {
    // Our own canaries come back live (retain false) while subscribed: only the retained copy tells what the broker holds.
    if (!retain || !this.check) return;
    const d = decodeRetainedCanary.decode(payload);
    this.finishCheck(d.ok ? d.value : null);
  }

  private finishCheck(seen: RetainedCanary | null): void {
    const check = this.check;
    if (!check) return;
    clearTimeout(check.timer);
    this.check = undefined;
    const verdict = judgeCanary(check.expected, seen);
    if (verdict === 'lost') {
      this.retainedLost(
        seen
          ? `the broker holds an older canary (seq ${seen.seq}${seen.epoch === check.expected.epoch ? '' : ' of another server process'}, expected ${check.expected.seq})`
          : 'the broker holds no retained canary',
      );
    }
  }

  private scheduleCanary(): void {
    if (this.canaryTimer || this.stopped) return;
    this.canaryTimer = setTimeout(() => {
      this.canaryTimer = undefined;
      const client = this.client;
      if (!client?.connected) return; // the next reconnect reads the canary back and finds it old
      const seq = ++this.canary.published;
      const covers = this.canary.retainedAcks;
      const m: RetainedCanary = { v: 1, epoch: this.canary.epoch, seq, at: Date.now() };
      client.publish(RETAINED_CANARY_TOPIC, encodeJson(m), { qos: 1, retain: true }, (err) => {
        if (err) return;
        this.canary.acked = Math.max(this.canary.acked, seq);
        this.canary.covered = Math.max(this.canary.covered, covers);
      });
    }, CANARY_DEBOUNCE_MS);
    this.canaryTimer.unref();
  }

  /** Retained messages the broker acknowledged after the last canary it acknowledged was sent. */
  private uncovered(): boolean {
    return this.canary.retainedAcks > this.canary.covered;
  }

  private retainedLost(why: string): void {
    if (this.recovering) {
      this.recoverAgain = why;
      return;
    }
    this.retainedRecoveries++;
    this.log.warn({ url: this.opts.url, why }, 'the external MQTT broker lost retained messages (or may have): publishing every playlist and alert again');
    this.recovering = (async () => {
      for (let reason: string | undefined = why; reason !== undefined; ) {
        this.recoverAgain = undefined;
        this.retainedPublishFailed = false;
        for (const h of this.retainedLostHandlers) {
          try {
            await h(reason);
          } catch (err) {
            this.log.error({ err }, 'publishing retained messages again failed');
          }
        }
        reason = this.recoverAgain;
      }
    })().finally(() => (this.recovering = undefined));
  }

  onSiteMessage(handler: (m: SiteMessage) => void): void {
    this.handlers.push(handler);
  }

  /** Called after every reconnect (not the first connect): time to re-send what waits. */
  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /**
   * An external broker's clients are not ours to close. The site keeps its
   * current connection; its new credential, retirement or area apply at its
   * next connect (after the Mosquitto files are regenerated and SIGHUPed).
   */
  disconnectSite(siteId: string): void {
    this.log.warn(
      { siteId },
      'external broker: the site keeps its current connection; the change applies at its next connect (Mosquitto: regenerate the broker files and send SIGHUP first; see docs/operations.md)',
    );
  }

  get port(): number | null {
    const u = new URL(this.opts.url);
    return u.port ? Number(u.port) : u.protocol === 'mqtts:' ? 8883 : 1883;
  }

  status(): BrokerStatus {
    return { kind: 'external', up: !this.stopped && this.client?.connected === true, clients: 0, port: this.port, ...this.counters };
  }

  private dispatch(topic: string, payload: Buffer, retain: boolean): void {
    const t = parseTopic(topic);
    if (t?.kind !== 'site') return;
    const m: SiteMessage = { siteId: t.siteId, channel: t.channel, payload, retain };
    for (const h of this.handlers) {
      try {
        h(m);
      } catch (err) {
        this.log.error({ siteId: t.siteId, err }, 'site message handler failed');
      }
    }
  }

  private onConnected(sessionPresent: boolean): void {
    this.connects++;
    this.refusedLast = false;
    this.backoff.reset();
    this.log.info({ url: this.opts.url, connects: this.connects, sessionPresent }, 'reconnected to the external MQTT broker');
    // A broker that kept our session kept our subscriptions (and queued QoS 1 messages for us);
    // one that lost it (restarted without persistence, or expired it) needs them again.
    if (!sessionPresent) {
      this.client?.subscribe(
        SERVER_SUBSCRIPTIONS.map((t) => t),
        { qos: 1 },
        (err, granted) => {
          const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
          if (err || refused.length)
            this.log.error({ url: this.opts.url, err: err?.message, refused }, "cannot subscribe to the site topics again; check the server user's ACL (readwrite on loanet/v1/#)");
        },
      );
    }
    for (const h of this.reconnectHandlers) {
      try {
        h();
      } catch (err) {
        this.log.error({ err }, 'reconnect handler failed');
      }
    }
    // A check begun on the old link will never hear back.
    if (this.check) {
      clearTimeout(this.check.timer);
      this.check = undefined;
    }
    if (judgeReconnect(sessionPresent, this.uncovered()) === 'lost') {
      this.retainedLost(
        sessionPresent
          ? 'retained messages were acknowledged just before the link was lost, after the last canary'
          : 'the broker started a new session for the server (restarted, or lost its state)',
      );
    } else if (this.retainedPublishFailed) {
      this.retainedLost('retained messages could not be published while the link was down');
    } else this.checkRetained();
  }

  private onClosed(): void {
    if (this.stopped) return;
    if (this.client) this.failInFlight(this.client);
    if (this.reconnectTimer) return;
    const delay = this.refusedLast ? this.backoff.atCap() : this.backoff.next();
    this.log.warn({ url: this.opts.url, delayMs: delay }, 'link to the external MQTT broker lost; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) this.client?.reconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private onError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') {
      this.refusedLast = true;
      this.counters.refusedConnects++;
      this.log.error(
        { url: this.opts.url, code },
        `the external MQTT broker refused the server (${CONNACK_TEXT[code] ?? code}); check LOANET_MQTT_USERNAME and LOANET_MQTT_PASSWORD`,
      );
      return;
    }
    this.log.warn({ url: this.opts.url, err: err.message }, 'external MQTT broker link error');
  }

  private startupError(e: Error): StartupError {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') {
      return new StartupError(
        'LOANET_MQTT_REFUSED',
        `the MQTT broker at LOANET_MQTT_URL=${this.opts.url} refused the server's credential (${CONNACK_TEXT[code] ?? `code ${code}`}); check LOANET_MQTT_USERNAME=${this.opts.username} and LOANET_MQTT_PASSWORD, and that the broker knows that user`,
      );
    }
    const why = typeof code === 'string' ? code : e.message;
    return new StartupError(
      'LOANET_MQTT_UNREACHABLE',
      `cannot reach the MQTT broker at LOANET_MQTT_URL=${this.opts.url} (${why}); check LOANET_MQTT_URL and that the broker is running`,
    );
  }
}
