/**
 * The server's link to MQTT. `BrokerLink` is the seam: the embedded aedes
 * broker implements it now; an external broker (Mosquitto, EMQX) reached by
 * URL will implement it later with the server as an ordinary client.
 */
import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { createRequire } from 'node:module';
import { withRetainedIndex, type RetainedStore } from './retained-index.ts';

// aedes-persistence is CommonJS whose module.exports IS the factory; its typings declare an ES default export instead.
const memoryPersistence = createRequire(import.meta.url)('aedes-persistence') as () => RetainedStore;
import { SERVER_SUBSCRIPTIONS, parseTopic, type SiteChannel } from '../../protocol/index.ts';
import { StartupError } from '../errors.ts';
import { authorize, type Actor } from './acl.ts';

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

  constructor(
    private readonly opts: { port: number; host: string },
    private readonly authority: SiteAuthority,
    private readonly log: Logger,
  ) {}

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
          this.log.warn({ clientId: siteId, username }, 'mqtt connect refused: username must equal the client id (the site id)');
          done(authError('username must equal client id', 4), false);
          return;
        }
        this.authority.verifyCredential(siteId, secret).then(
          (ok) => {
            const areaKeys = ok ? this.authority.areaKeysOf(siteId) : undefined;
            if (!ok || !areaKeys) {
              this.counters.refusedConnects++;
              this.log.warn({ siteId }, 'mqtt connect refused: wrong, rotated or retired credential');
              done(authError('bad credentials', 4), false);
              return;
            }
            this.actors.set(siteId, { kind: 'site', siteId, areaKeys });
            done(null, true);
          },
          (err: unknown) => {
            this.log.error({ siteId, err }, 'credential check failed');
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
        this.log.warn({ siteId: client.id, topic: packet.topic }, `publish denied: ${d.reason}`);
        cb(new Error(d.reason));
      },
      authorizeSubscribe: (client, sub, cb) => {
        const actor = this.actors.get(client.id);
        const d = actor ? authorize(actor, 'subscribe', sub.topic) : { allow: false as const, reason: 'not authenticated' };
        if (d.allow) return cb(null, sub);
        this.counters.deniedSubscribes++;
        this.log.warn({ siteId: client.id, topic: sub.topic }, `subscribe denied: ${d.reason}`);
        // [MQTT-3.9.3] a refused subscription is answered with return code 0x80, not a disconnect.
        cb(null, null);
      },
    });
    aedes.on('clientError', (client, err) => this.log.warn({ siteId: client.id, err: err.message }, 'mqtt client error'));
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

    const server = net.createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new StartupError('LOANET_MQTT_PORT_IN_USE', `MQTT port ${this.opts.port} is in use; set LOANET_MQTT_PORT to a free port`)
            : new StartupError('LOANET_MQTT_LISTEN_FAILED', `cannot listen for MQTT on ${this.opts.host}:${this.opts.port} (${err.code ?? err.message}); check LOANET_MQTT_HOST and LOANET_MQTT_PORT`),
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

  disconnectSite(siteId: string): void {
    this.actors.delete(siteId);
    const clients = (this.aedes as unknown as { clients?: Record<string, { close(): void }> } | undefined)?.clients;
    clients?.[siteId]?.close();
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
    };
  }
}
