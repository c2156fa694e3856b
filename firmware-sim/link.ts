/**
 * A simulated uplink (4G modem, fibre) between an agent and the broker.
 *
 * The agent gets a byte stream from `open()`; underneath is a real TCP
 * connection to the broker. The link can be:
 * - `up`: bytes flow;
 * - `blackhole`: the connection stays open but nothing gets through either
 *   way, as when a 4G cell drops a session without a FIN; neither side sees
 *   a close, only silence (this is what the server's liveness rule must catch);
 * - `down`: no carrier: the current connection is silently black-holed and
 *   new connection attempts fail after a short delay, like a modem searching.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';

export type LinkMode = 'up' | 'blackhole' | 'down';

export class SimulatedLink {
  private mode: LinkMode = 'up';
  private current: LinkStream | undefined;
  /** Real sockets of black-holed connections: kept open so no FIN or RST reaches the broker. */
  private readonly zombies = new Set<net.Socket>();
  opened = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  get state(): LinkMode {
    return this.mode;
  }

  setMode(mode: LinkMode): void {
    this.mode = mode;
    if (mode !== 'up') this.current?.blackhole();
  }

  /** Tear everything down (end of simulation). */
  close(): void {
    this.current?.destroy();
    for (const z of this.zombies) z.destroy();
    this.zombies.clear();
  }

  /** The stream builder handed to the agent (mqtt.js calls it on every (re)connect). */
  open = (): Duplex => {
    this.opened++;
    const s = new LinkStream(this.mode === 'down' ? undefined : net.connect(this.port, this.host), (z) => {
      this.zombies.add(z);
      z.once('close', () => this.zombies.delete(z));
    });
    if (this.mode !== 'up') s.blackhole();
    this.current = s;
    return s;
  };
}

class LinkStream extends Duplex {
  private silent = false;

  constructor(
    private readonly socket: net.Socket | undefined,
    private readonly abandon: (socket: net.Socket) => void,
  ) {
    super();
    if (!socket) {
      // No carrier: fail the attempt as a modem would, after a moment.
      setTimeout(() => this.destroy(Object.assign(new Error('simulated link down: no carrier'), { code: 'ENETUNREACH' })), 200).unref();
      return;
    }
    socket.setNoDelay(true);
    socket.on('connect', () => this.emit('connect'));
    socket.on('data', (chunk: Buffer) => {
      if (!this.silent && !this.push(chunk)) socket.pause();
    });
    socket.on('end', () => {
      if (!this.silent) this.push(null);
    });
    socket.on('error', (err) => {
      if (!this.silent) this.destroy(err);
    });
    socket.on('close', () => {
      if (!this.silent) this.destroy();
    });
  }

  /** From now on nothing passes, and no close is seen by either end. */
  blackhole(): void {
    this.silent = true;
  }

  override _read(): void {
    this.socket?.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    if (this.silent || !this.socket) return cb();
    this.socket.write(chunk, cb);
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (this.silent || !this.socket) return cb();
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    // When the agent gives up on a black-holed connection, nothing may reach
    // the broker: the real socket is abandoned open (the broker's keepalive
    // will drop it, as it would on a dead 4G session).
    if (this.socket && !this.socket.destroyed) {
      if (this.silent) this.abandon(this.socket);
      else this.socket.destroy();
    }
    cb(err);
  }
}
