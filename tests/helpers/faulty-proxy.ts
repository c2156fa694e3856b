/**
 * A tiny HTTP proxy in front of a test server that can misbehave on purpose,
 * one scripted behaviour per request: cut the connection after N body bytes
 * (a 4G link dropping mid-download), or flip a byte (a corrupting middlebox),
 * or pass through. Real sockets both ways; records what it saw (Range
 * headers, body bytes sent) so tests and benchmarks can count the cost.
 * startDelayingTcpProxy: a TCP link as slow and jittery as a mountain one.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** How long a cut connection stalls, after its last bytes, before it drops. */
const CUT_STALL_MS = 250;

export type ProxyBehaviour = { kind: 'pass' } | { kind: 'cut'; afterBytes: number } | { kind: 'flip'; atByte: number };

export interface ProxiedRequest {
  method: string;
  url: string;
  range: string | undefined;
  status: number;
  /** Body bytes this proxy forwarded to the client. */
  bodyBytes: number;
  /** Response header bytes (status line and headers, approximately as sent). */
  headerBytes: number;
  /** Request line and header bytes the client sent. */
  requestHeaderBytes: number;
  behaviour: ProxyBehaviour['kind'];
}

export interface FaultyProxy {
  url: string;
  /** Drop Range and If-Range from requests: a server (or middlebox) without resume support. */
  stripRange: boolean;
  /** Behaviours for the next requests, consumed in order; then 'pass'. */
  script: ProxyBehaviour[];
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const proxy: FaultyProxy = { url: '', stripRange: false, script: [], requests: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    const behaviour = proxy.script.shift() ?? { kind: 'pass' };
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: upstream.host };
    if (proxy.stripRange) {
      delete headers.range;
      delete headers['if-range'];
    }
    const requestHeaderBytes = `${req.method} ${req.url} HTTP/1.1\r\n`.length + req.rawHeaders.reduce((n, h) => n + h.length + 2, 2);
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (upRes) => {
      const record: ProxiedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '',
        range: req.headers.range,
        status: upRes.statusCode ?? 0,
        bodyBytes: 0,
        headerBytes: 0,
        requestHeaderBytes,
        behaviour: behaviour.kind,
      };
      proxy.requests.push(record);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      record.headerBytes =
        `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n`.length + Object.entries(upRes.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 2);
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        let out = chunk;
        if (behaviour.kind === 'cut' && sent + out.length > behaviour.afterBytes) {
          const keep = Math.max(0, behaviour.afterBytes - sent);
          record.bodyBytes += keep;
          sent += keep;
          upRes.destroy();
          // Let the kept bytes reach the client, then drop the connection without finishing
          // the response, as a dying 4G link does: it stalls first, then the session is gone.
          // The pause matters: a client's fetch discards body bytes it has received but not
          // yet handed to its reader when the error arrives in the same instant.
          res.write(out.subarray(0, keep), () => setTimeout(() => socket.destroy(), CUT_STALL_MS));
          return;
        }
        if (behaviour.kind === 'flip' && behaviour.atByte >= sent && behaviour.atByte < sent + out.length) {
          out = Buffer.from(out);
          out[behaviour.atByte - sent]! ^= 0xff;
        }
        sent += out.length;
        record.bodyBytes += out.length;
        res.write(out);
      });
      upRes.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

/**
 * A TCP proxy that delays what crosses it as a slow, jittery mountain link
 * does: every chunk, in each direction, is held `baseMs` + a uniform
 * 0..`jitterMs` (seeded), but never overtakes the chunk before it — TCP
 * delivers in order, so a late segment holds back those behind it (head-of-
 * line blocking), which is what an agent's MQTT connection sees. In front of
 * a broker: agents connect to `port` instead. `net` user-space, so it works
 * where the kernel has no netem (tc qdisc … netem).
 */
export interface DelayingTcpProxy {
  port: number;
  /** Change the delay for chunks from now on. */
  set(delay: { baseMs: number; jitterMs: number }): void;
  /** Chunks forwarded and their applied delays (ms), both directions. */
  stats(): { chunks: number; delayP50Ms: number; delayMaxMs: number };
  close(): Promise<void>;
}

/**
 * `random` draws the jitter; give each direction its own seeded stream
 * (`{ up, down }`) so that what a site sends never changes the delays of what
 * it receives: with one stream for both, an extra heartbeat upstream moves
 * every later downstream delay, and a test's outcome with it.
 */
export async function startDelayingTcpProxy(
  target: { host: string; port: number },
  delay: { baseMs: number; jitterMs: number },
  random: (() => number) | { up: () => number; down: () => number } = Math.random,
): Promise<DelayingTcpProxy> {
  const draw = typeof random === 'function' ? { up: random, down: random } : random;
  let current = { ...delay };
  const applied: number[] = [];
  const sockets = new Set<net.Socket>();
  /** Forward `from` → `to`, each chunk delayed, in order. */
  const pipe = (from: net.Socket, to: net.Socket, random: () => number) => {
    let lastRelease = 0;
    from.on('data', (chunk: Buffer) => {
      const now = performance.now();
      const release = Math.max(lastRelease, now + current.baseMs + random() * current.jitterMs);
      lastRelease = release;
      applied.push(release - now);
      if (applied.length > 100_000) applied.splice(0, 50_000);
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, release - now);
    });
    // An end or a reset goes after the data in flight, as it would on the wire.
    const close = () => setTimeout(() => to.destroy(), Math.max(0, lastRelease - performance.now()));
    from.on('end', close);
    from.on('error', close);
    from.on('close', close);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream, draw.up);
    pipe(upstream, client, draw.down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    set: (d) => {
      current = { ...d };
    },
    stats: () => {
      const sorted = [...applied].sort((a, b) => a - b);
      return { chunks: applied.length, delayP50Ms: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0, delayMaxMs: sorted.length ? sorted[sorted.length - 1]! : 0 };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TCP relay to a local port (the broker) that can lose its carrier, as a board's link does: `down()` drops every connection and refuses new ones. */
export class CuttableTcpRelay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: number) {}
  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((res) => server.listen(this.port, '127.0.0.1', () => res()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((res) => server.close(() => res()));
  }
}
