/**
 * Serves a SimDevice over the device protocol, as the real firmware would
 * over its UART or TCP port: on a TCP listener, and on any Node Duplex
 * stream. The fleet runner uses in-memory stream pairs (`createDevicePair`)
 * so thousands of simulated sites cost no file descriptors.
 *
 * This is the thin shell around the pure model: it owns the sockets, the
 * reply delays (a 3 s tone is answered after 3 s, like the firmware that
 * plays it) and an optional physics ticker.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { DEVICE_OPS, DeviceFrameDecoder, encodeDeviceFrame, type DeviceMessage, type DeviceOp } from '../protocol/index.ts';
import type { SimDevice } from './device.ts';

export interface DeviceServerOptions {
  /** Wait the firmware's busy time (tone length, amplifier warm-up) before replying. Default true. */
  realTime?: boolean;
  /**
   * Advance the device's physics (battery, temperature) every this many ms so
   * faults like a battery running low are announced without a request.
   * 0 = only on requests (a fleet runner ticks all devices from one timer). Default 1000.
   */
  tickIntervalMs?: number;
}

export interface DeviceServerStats {
  connections: number;
  requests: number;
  /** Requests ignored because the device was dark (battery empty, rebooting). */
  unanswered: number;
  rejected: number;
  crcErrors: number;
  droppedBytes: number;
}

interface Connection {
  stream: Duplex;
  decoder: DeviceFrameDecoder<'to_device'>;
  timers: Set<NodeJS.Timeout>;
}

export class DeviceServer {
  private readonly realTime: boolean;
  private readonly tickIntervalMs: number;
  private readonly connections = new Set<Connection>();
  private readonly servers = new Set<Server>();
  private ticker: NodeJS.Timeout | undefined;
  private eventSeq = 0;
  private readonly unsubscribe: () => void;
  private readonly counters = { requests: 0, unanswered: 0 };
  private readonly closedDecoderStats = { rejected: 0, crcErrors: 0, droppedBytes: 0 };

  constructor(
    readonly device: SimDevice,
    options: DeviceServerOptions = {},
  ) {
    this.realTime = options.realTime ?? true;
    this.tickIntervalMs = options.tickIntervalMs ?? 1000;
    // Events go to every attached agent; the firmware numbers its own frames.
    this.unsubscribe = device.onEvent((event) => {
      for (const c of this.connections) this.send(c, this.nextEventSeq(), event);
    });
  }

  get stats(): DeviceServerStats {
    const s = { ...this.closedDecoderStats };
    for (const c of this.connections) {
      s.rejected += c.decoder.stats.rejected;
      s.crcErrors += c.decoder.stats.crcErrors;
      s.droppedBytes += c.decoder.stats.droppedBytes;
    }
    return { connections: this.connections.size, ...this.counters, ...s };
  }

  /** Listen on TCP; resolves with the bound port (pass 0 for an ephemeral one). */
  listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      this.attach(socket);
    });
    this.servers.add(server);
    this.startTicker();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Serve the device on a byte stream. Returns a function that detaches (and destroys) it. */
  attach(stream: Duplex): () => void {
    const conn: Connection = { stream, decoder: new DeviceFrameDecoder('to_device'), timers: new Set() };
    this.connections.add(conn);
    this.startTicker();
    const onData = (chunk: Buffer) => this.receive(conn, chunk);
    stream.on('data', onData);
    // A peer vanishing is normal (agent restart); errors must not escape as uncaught.
    stream.on('error', () => this.drop(conn));
    stream.on('close', () => this.drop(conn));
    stream.on('end', () => this.drop(conn));
    return () => this.drop(conn);
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.unsubscribe();
    for (const c of [...this.connections]) this.drop(c);
    await Promise.all([...this.servers].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.clear();
  }

  private receive(conn: Connection, chunk: Buffer): void {
    const { frames, rejected } = conn.decoder.push(chunk);
    for (const r of rejected) {
      // Answer an invalid request whose op we recognise, so the agent fails fast instead of timing out.
      if (r.messageType && (DEVICE_OPS as readonly string[]).includes(r.messageType)) {
        this.send(conn, r.seq, { type: 'reply', op: r.messageType as DeviceOp, ok: false, error: { code: 'bad_request', message: r.reason } });
      }
    }
    for (const { seq, message } of frames) {
      this.counters.requests++;
      const outcome = this.device.handle(message);
      if (!outcome) {
        this.counters.unanswered++;
        continue;
      }
      if (!this.realTime || outcome.busyMs <= 0) {
        this.send(conn, seq, outcome.reply);
        continue;
      }
      const timer = setTimeout(() => {
        conn.timers.delete(timer);
        this.send(conn, seq, outcome.reply);
      }, outcome.busyMs);
      conn.timers.add(timer);
    }
  }

  private send(conn: Connection, seq: number, message: DeviceMessage): void {
    if (!conn.stream.writable || conn.stream.destroyed) return;
    conn.stream.write(encodeDeviceFrame(seq, message));
  }

  private drop(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    for (const t of conn.timers) clearTimeout(t);
    this.closedDecoderStats.rejected += conn.decoder.stats.rejected;
    this.closedDecoderStats.crcErrors += conn.decoder.stats.crcErrors;
    this.closedDecoderStats.droppedBytes += conn.decoder.stats.droppedBytes;
    conn.stream.destroy();
  }

  private nextEventSeq(): number {
    this.eventSeq = (this.eventSeq + 1) & 0xff;
    return this.eventSeq;
  }

  private startTicker(): void {
    if (this.ticker || this.tickIntervalMs <= 0) return;
    this.ticker = setInterval(() => this.device.tick(), this.tickIntervalMs);
    this.ticker.unref();
  }
}

/** One end of an in-memory byte pipe: what one side writes, the other reads. */
class PipeEnd extends Duplex {
  peer: PipeEnd | undefined;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Data is pushed by the peer's _write; nothing to pull.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) {
      callback(new Error('in-memory device pipe: the other end is closed'));
      return;
    }
    peer.push(Buffer.from(chunk));
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Closing one end closes the other, as a TCP reset would: the agent must see the device go away.
    const peer = this.peer;
    if (peer && !peer.destroyed) {
      peer.push(null);
      peer.destroy();
    }
    callback(error);
  }
}

/** Two connected in-memory streams: give `agent` to the driver and `device` to `DeviceServer.attach`. */
export function createDevicePair(): { agent: Duplex; device: Duplex } {
  const agent = new PipeEnd();
  const device = new PipeEnd();
  agent.peer = device;
  device.peer = agent;
  return { agent, device };
}
