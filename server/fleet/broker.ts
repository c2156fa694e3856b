/**
 * The server's link to MQTT. `BrokerLink` is the seam, so nothing else in the
 * server knows which broker carries its messages: the embedded aedes broker
 * (`EmbeddedBroker`, here) or an external one (Mosquitto, EMQX) reached by
 * URL with the server as an ordinary client (`ExternalBroker`,
 * external-broker.ts).
 */
import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { createRequire } from 'node:module';
import { withRetainedIndex, type RetainedStore } from './retained-index.ts';

// aedes-persistence is CommonJS whose module.exports IS the factory; its typings declare an ES default export instead.
const memoryPersistence = createRequire(import.meta.url)('aedes-persistence') as () => RetainedStore;
import { SERVER_SUBSCRIPTIONS, parseTopic, type SiteChannel } from '../../protocol/index.ts';
import { StartupError } from '../errors.ts';
import { logSafe } from '../log-safe.ts';
import { authorize, type Actor } from './acl.ts';
import { ConnectionAdmission, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limit.ts';
import { PacketSizeGuard, SITE_PACKET_LIMITS, packetName, type PacketLimits, type PacketRefusal } from './packet-limit.ts';

export interface SiteMessage {
  siteId: string;
  channel: SiteChannel;
  payload: Buffer;
  retain: boolean;
}

export interface BrokerStatus {
  kind: 'embedded' | 'external';
  up: boolean;
  clients: number;
  port: number | null;
  refusedConnects: number;
  deniedPublishes: number;
  deniedSubscribes: number;
  /** What the embedded broker refused, by reason; absent for an external broker (its own log has them). */
  refusals?: BrokerRefusals;
}

/** Connections and packets the embedded broker refused since start, by reason. */
export interface BrokerRefusals {
  /** A packet before login (the CONNECT, or anything sent before it is accepted) over the limit: connection closed. */
  packetTooLargeBeforeAuth: number;
  /** A logged-in site's packet over its topic's limit: connection closed, the packet never parsed, nothing retained. */
  packetTooLargeAfterAuth: number;
  /** A fixed header that is not MQTT (Remaining Length over 4 bytes): connection closed. */
  malformedPackets: number;
  /** TCP connections refused at accept: the address already had the maximum open. */
  connectionsPerAddress: number;
  /** TCP connections refused at accept: the address connected faster than its bucket allows. */
  connectRate: number;
  /** CONNECTs refused: username other than the client id, or a wrong, rotated or retired credential. */
  authFailures: number;
  /** PUBLISH and SUBSCRIBE refused by the ACL. */
  aclDeniedPublishes: number;
  aclDeniedSubscribes: number;
}

export interface BrokerLink {
  start(): Promise<void>;
  stop(): Promise<void>;
  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  onSiteMessage(handler: (m: SiteMessage) => void): void;
  /** Close a site's connection at once (credential rotated or site retired). */
  disconnectSite(siteId: string): void;
  status(): BrokerStatus;
}

/** What the broker needs to know about sites to authenticate and authorize them. */
export interface SiteAuthority {
  verifyCredential(siteId: string, secret: string): Promise<boolean>;
  /** Area keys of the site's area and all its ancestors; undefined for an unknown or retired site. */
  areaKeysOf(siteId: string): readonly string[] | undefined;
}

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export class EmbeddedBroker implements BrokerLink {
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private readonly handlers: Array<(m: SiteMessage) => void> = [];
  private readonly actors = new Map<string, Actor>();
  private boundPort: number | null = null;
  private counters = { refusedConnects: 0, deniedPublishes: 0, deniedSubscribes: 0 };
  private refusals = { packetTooLargeBeforeAuth: 0, packetTooLargeAfterAuth: 0, malformedPackets: 0, connectionsPerAddress: 0, connectRate: 0 };
  private readonly admission: ConnectionAdmission;
  private readonly packetLimits: PacketLimits;
  /** Each open socket's packet guard, so a successful login can switch it to the site limits. */
  private readonly guards = new WeakMap<object, PacketSizeGuard>();
  /** Refusal log lines per reason in the current minute: a flood is counted in full but logged in part. */
  private readonly logWindow = new Map<string, { start: number; lines: number; suppressed: number }>();

  constructor(
    private readonly opts: { port: number; host: string; connections?: ConnectionLimits; packetLimits?: PacketLimits },
    private readonly authority: SiteAuthority,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.admission = new ConnectionAdmission(opts.connections ?? DEFAULT_CONNECTION_LIMITS, now);
    this.packetLimits = opts.packetLimits ?? SITE_PACKET_LIMITS;
  }

  async start(): Promise<void> {
    const aedes = await Aedes.createBroker({
      id: 'loanet',
      // aedes' memory store, with retained messages looked up by exact topic on SUBSCRIBE (retained-index.ts):
      // otherwise every agent's subscribe scans every site's retained playlist.
      persistence: withRetainedIndex(memoryPersistence()),
      maxClientsIdLength: 64,
      // A CONNECT must arrive soon after the TCP connection, or the socket is dropped.
      connectTimeout: 15_000,
      authenticate: (client, username, password, done) => {
        const siteId = client.id;
        const secret = password?.toString('utf8') ?? '';
        if (!username || username !== siteId) {
          this.counters.refusedConnects++;
          this.refusalLog(
            'auth',
            { clientId: logSafe(siteId, 80), username: logSafe(username, 80), address: logSafe(client.conn && (client.conn as net.Socket).remoteAddress) },
            'mqtt connect refused: username must equal the client id (the site id)',
          );
          done(authError('username must equal client id', 4), false);
          return;
        }
        this.authority.verifyCredential(siteId, secret).then(
          (ok) => {
            const areaKeys = ok ? this.authority.areaKeysOf(siteId) : undefined;
            if (!ok || !areaKeys) {
              this.counters.refusedConnects++;
              this.refusalLog(
                'auth',
                { siteId: logSafe(siteId, 80), address: logSafe((client.conn as net.Socket | undefined)?.remoteAddress) },
                'mqtt connect refused: wrong, rotated or retired credential',
              );
              done(authError('bad credentials', 4), false);
              return;
            }
            this.actors.set(siteId, { kind: 'site', siteId, areaKeys });
            // From the CONNACK on, the site may send its own messages: the guard switches to their limits.
            this.guards.get(client.conn)?.authenticate();
            done(null, true);
          },
          (err: unknown) => {
            this.log.error({ siteId: logSafe(siteId, 80), err }, 'credential check failed');
            done(authError('server error', 5), false);
          },
        );
      },
      authorizePublish: (client, packet, cb) => {
        // client === null is the server itself publishing through aedes.publish().
        if (!client) return cb(null);
        const actor = this.actors.get(client.id);
        const d = actor ? authorize(actor, 'publish', packet.topic) : { allow: false as const, reason: 'not authenticated' };
        if (d.allow) return cb(null);
        this.counters.deniedPublishes++;
        this.refusalLog('acl', { siteId: logSafe(client.id, 80), topic: logSafe(packet.topic) }, `publish denied: ${logSafe(d.reason, 300)}`);
        cb(new Error(d.reason));
      },
      authorizeSubscribe: (client, sub, cb) => {
        const actor = this.actors.get(client.id);
        const d = actor ? authorize(actor, 'subscribe', sub.topic) : { allow: false as const, reason: 'not authenticated' };
        if (d.allow) return cb(null, sub);
        this.counters.deniedSubscribes++;
        this.refusalLog('acl', { siteId: logSafe(client.id, 80), topic: logSafe(sub.topic) }, `subscribe denied: ${logSafe(d.reason, 300)}`);
        // [MQTT-3.9.3] a refused subscription is answered with return code 0x80, not a disconnect.
        cb(null, null);
      },
    });
    aedes.on('clientError', (client, err) => this.refusalLog('client-error', { siteId: logSafe(client.id, 80), err: logSafe(err.message) }, 'mqtt client error'));
    this.aedes = aedes;

    for (const filter of SERVER_SUBSCRIPTIONS) {
      await new Promise<void>((resolve) =>
        aedes.subscribe(
          filter,
          (packet, done) => {
            const t = parseTopic(packet.topic);
            if (t && t.kind === 'site') {
              const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
              const m: SiteMessage = { siteId: t.siteId, channel: t.channel, payload, retain: packet.retain };
              for (const h of this.handlers) {
                try {
                  h(m);
                } catch (err) {
                  // A handler bug must never take the broker down.
                  this.log.error({ siteId: t.siteId, err }, 'site message handler failed');
                }
              }
            }
            // Not done() here: mqemitter drains its queue by calling the next message from
            // the previous one's done, so thousands of site messages queued behind a publish
            // to thousands of subscribers (a province-wide alert, all sites answering) would
            // recurse once per message and overflow the stack. A microtask lets the stack unwind.
            queueMicrotask(done);
          },
          resolve,
        ),
      );
    }

    const server = net.createServer((socket) => this.accept(socket, aedes));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new StartupError('LOANET_MQTT_PORT_IN_USE', `MQTT port ${this.opts.port} is in use; set LOANET_MQTT_PORT to a free port`)
            : new StartupError(
                'LOANET_MQTT_LISTEN_FAILED',
                `cannot listen for MQTT on ${this.opts.host}:${this.opts.port} (${err.code ?? err.message}); check LOANET_MQTT_HOST and LOANET_MQTT_PORT`,
              ),
        );
      });
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    const addr = server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    const aedes = this.aedes;
    this.server = undefined;
    this.aedes = undefined;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  publish(topic: string, payload: Buffer, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker is not running'));
    return new Promise((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic, payload, qos: opts.qos, retain: opts.retain ?? false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  onSiteMessage(handler: (m: SiteMessage) => void): void {
    this.handlers.push(handler);
  }

  /**
   * A new TCP connection: admitted per address (open connections, connect
   * rate) before aedes sees it, then read through a packet size guard.
   */
  private accept(socket: net.Socket, aedes: Aedes): void {
    const admission = this.admission.admit(socket.remoteAddress);
    if (!admission.ok) {
      this.refusals[admission.reason === 'rate' ? 'connectRate' : 'connectionsPerAddress']++;
      this.refusalLog(`admission-${admission.reason}`, { address: logSafe(socket.remoteAddress) }, `mqtt connection refused: ${admission.message}`);
      socket.destroy();
      return;
    }
    socket.once('close', () => this.admission.release(admission.key));
    const guard = new PacketSizeGuard(this.packetLimits);
    this.guards.set(socket, guard);
    // aedes (lib/client.js) takes the socket's bytes only with conn.read() on 'readable' and hands them to
    // mqtt-packet's parser, which buffers a packet until its declared Remaining Length has arrived. Wrapping
    // read() puts the guard in front of that parser: a packet's size is checked from its fixed header, before
    // its body is buffered, and the socket is closed at once when it is over the limit. (A 'data' listener would
    // bypass this: Node emits 'data' inside the original read(). Nothing here adds one.)
    const read = socket.read.bind(socket);
    socket.read = ((n?: number) => {
      if (guard.refusal) return null;
      const chunk = read(n) as Buffer | string | null;
      if (chunk === null) return null;
      const r = guard.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (r.refused) {
        this.refusePacket(socket, r.refused);
        return null;
      }
      return r.pass;
    }) as typeof socket.read;
    aedes.handle(socket);
  }

  private refusePacket(socket: net.Socket, r: PacketRefusal): void {
    if (r.reason === 'malformed') this.refusals.malformedPackets++;
    else if (r.stage === 'before-auth') this.refusals.packetTooLargeBeforeAuth++;
    else this.refusals.packetTooLargeAfterAuth++;
    const clientId = (socket as net.Socket & { client?: { id?: string | null } }).client?.id;
    this.refusalLog(
      `packet-${r.reason}-${r.stage}`,
      {
        address: logSafe(socket.remoteAddress),
        ...(clientId ? { siteId: logSafe(clientId, 80) } : {}),
        packet: packetName(r.packetType),
        ...(r.bytes !== undefined ? { bytes: r.bytes, limit: r.limit } : {}),
        ...(r.topic !== undefined ? { topic: logSafe(r.topic) } : {}),
      },
      `mqtt connection closed: ${logSafe(r.message, 300)}`,
    );
    socket.destroy();
  }

  /**
   * A warning about something refused, at most 20 lines per kind and minute
   * (then one line saying how many were not logged): the counters in
   * status() count every refusal, the log must not grow with a flood.
   */
  private refusalLog(kind: string, obj: object, msg: string): void {
    const t = this.now();
    let w = this.logWindow.get(kind);
    if (!w || t - w.start >= 60_000) {
      if (w && w.suppressed > 0) this.log.warn({ kind, suppressed: w.suppressed }, `${w.suppressed} more refusals of this kind were not logged in the last minute`);
      w = { start: t, lines: 0, suppressed: 0 };
      this.logWindow.set(kind, w);
    }
    if (w.lines < 20) {
      w.lines++;
      this.log.warn(obj, msg);
    } else w.suppressed++;
  }

  disconnectSite(siteId: string): void {
    this.actors.delete(siteId);
    const clients = (this.aedes as unknown as { clients?: Record<string, { close(): void }> } | undefined)?.clients;
    clients?.[siteId]?.close();
  }

  /** The payload the broker holds retained on `topic` (exact topic), if any: what a subscriber would get. */
  async retained(topic: string): Promise<Buffer | undefined> {
    const persistence = (this.aedes as unknown as { persistence?: RetainedStore } | undefined)?.persistence;
    if (!persistence) return undefined;
    let found: Buffer | undefined;
    for await (const p of persistence.createRetainedStreamCombi([topic]) as AsyncIterable<{ topic: string; payload: Buffer | Uint8Array | string }>) {
      if (p.topic === topic) found = Buffer.from(p.payload as Uint8Array);
    }
    return found;
  }

  /** Open MQTT connections counted for `address` (IPv6: its /64) by the per-address cap. */
  openConnectionsFrom(address: string): number {
    return this.admission.openFor(address);
  }

  /** The port actually bound (useful when configured as 0). */
  get port(): number | null {
    return this.boundPort;
  }

  status(): BrokerStatus {
    return {
      kind: 'embedded',
      up: this.aedes !== undefined && !this.aedes.closed,
      clients: this.aedes?.connectedClients ?? 0,
      port: this.boundPort,
      ...this.counters,
      refusals: {
        ...this.refusals,
        authFailures: this.counters.refusedConnects,
        aclDeniedPublishes: this.counters.deniedPublishes,
        aclDeniedSubscribes: this.counters.deniedSubscribes,
      },
    };
  }
}
