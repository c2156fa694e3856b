/**
 * Fetching a relay's stream in Node, so that the address checked is the
 * address connected to: the host name is resolved here, each address judged
 * (relay-destination.ts), and the request made with a `lookup` that answers
 * only the checked address, so nothing resolves the name a second time (a
 * DNS answer that changes between the check and the connection cannot move
 * the relay onto the server's own network). Redirects are followed by hand,
 * each hop checked the same way. ffmpeg then reads the body on its stdin and
 * never opens a connection itself.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { parseIp, relaySchemeProblem, relayVerdict, type RelayAllow } from './relay-destination.ts';

/** The URL points somewhere a relay may not go: refused with the reason (for the person who asked, and the log). */
export class RelayRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RelayRefused';
  }
}

export interface RelayTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/** Resolve the URL's host and pick the first address the relay may use; RelayRefused when there is none. */
export async function checkRelayUrl(url: URL, allow: RelayAllow, resolve: Resolver = systemResolver): Promise<RelayTarget> {
  const scheme = relaySchemeProblem(url);
  if (scheme) throw new RelayRefused(scheme);
  const host = url.hostname;
  const literal = parseIp(host);
  let addresses: Array<{ address: string; family: number }>;
  if (literal) {
    addresses = [{ address: host.replace(/^\[|\]$/g, ''), family: literal.family }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (e) {
      throw new RelayRefused(`${host} could not be resolved (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (addresses.length === 0) throw new RelayRefused(`${host} could not be resolved (no address)`);
  }
  const refusals: string[] = [];
  for (const a of addresses) {
    const v = relayVerdict(host, a.address, allow);
    if (v.ok) return { url, address: a.address, family: a.family === 6 ? 6 : 4 };
    refusals.push(v.reason);
  }
  throw new RelayRefused(refusals.join('; '));
}

/** A lookup that answers one address whatever it is asked: the one that was checked. */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_host: string, options: { all?: boolean } | number | undefined, cb: (...args: unknown[]) => void) => {
    const all = typeof options === 'object' && options !== null && options.all;
    if (all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  }) as unknown as LookupFunction;
}

export interface RelayFetchOptions {
  signal?: AbortSignal;
  /** A connection that sends nothing for this long is dropped (ms). */
  idleTimeoutMs?: number;
  maxRedirects?: number;
  resolve?: Resolver;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GET the stream, following at most `maxRedirects` redirects to allowed
 * destinations only. Resolves with the 2xx response (its body is the
 * stream); rejects with RelayRefused for a destination refused on the way,
 * or an Error for the network or HTTP failure.
 */
export async function fetchRelay(first: RelayTarget, allow: RelayAllow, o: RelayFetchOptions = {}): Promise<http.IncomingMessage> {
  const maxRedirects = o.maxRedirects ?? 5;
  let target = first;
  for (let hop = 0; ; hop++) {
    const res = await get(target, o);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    res.resume();
    res.destroy();
    if (REDIRECTS.has(status) && res.headers.location) {
      if (hop >= maxRedirects) throw new Error(`more than ${maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(res.headers.location, target.url);
      } catch {
        throw new Error(`HTTP ${status} to an invalid location`);
      }
      try {
        target = await checkRelayUrl(next, allow, o.resolve);
      } catch (e) {
        if (e instanceof RelayRefused) throw new RelayRefused(`redirected (HTTP ${status}) to ${next.protocol}//${next.host}: ${e.message}`);
        throw e;
      }
      continue;
    }
    throw new Error(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`);
  }
}

/**
 * SHOUTcast v1 servers answer "ICY 200 OK", a status line Node's HTTP parser
 * refuses; the stream behind it is plain HTTP/1.0, so it is read as one.
 */
function icyTolerant<T extends net.Socket>(socket: T): T {
  const push = socket.push.bind(socket);
  let first = true;
  socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (first && Buffer.isBuffer(chunk) && chunk.length > 0) {
      first = false;
      if (chunk.length >= 4 && chunk.toString('latin1', 0, 4) === 'ICY ') return push(Buffer.concat([Buffer.from('HTTP/1.0 '), chunk.subarray(4)]), encoding);
    }
    return push(chunk, encoding);
  };
  return socket;
}

function get(t: RelayTarget, o: RelayFetchOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = t.url.protocol === 'https:' ? https : http;
    const req = lib.request(t.url, {
      method: 'GET',
      // The host name stays in the URL (Host header, TLS name and certificate check); only the address is pinned.
      lookup: pinnedLookup(t.address, t.family),
      createConnection: (args: http.ClientRequestArgs) => {
        const opts = args as net.TcpNetConnectOpts & tls.ConnectionOptions;
        return icyTolerant(t.url.protocol === 'https:' ? tls.connect({ ...opts, ...(parseIp(t.url.hostname) ? {} : { servername: t.url.hostname }) }) : net.connect(opts));
      },
      headers: { 'user-agent': 'loanet-relay', accept: 'audio/*, application/ogg, */*;q=0.5' },
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const idle = o.idleTimeoutMs ?? 10_000;
    req.setTimeout(idle, () => req.destroy(new Error(`no data for ${Math.round(idle / 1000)} s`)));
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}
