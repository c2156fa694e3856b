/**
 * What one HTTP client may hold, pure: how long a request may take to arrive,
 * how long an idle connection is kept, how many connections one address and
 * the whole server keep, and how many live-update streams (SSE) one user and
 * the whole server keep. The shells are connection-guards.ts (sockets and
 * request hooks) and console/stream-routes.ts.
 */

export interface HttpLimits {
  /** The request line and headers must arrive within this (Node's headersTimeout); slow-header clients are answered 408 and closed. */
  headersTimeoutMs: number;
  /** A request body must be whole within this after its headers (login, JSON, CSV, any unauthenticated body): 408 and closed. */
  bodyTimeoutMs: number;
  /** The same for an authenticated upload (multipart, CAP XML): a 200 MB audio file over a slow 4G link. Also Node's requestTimeout backstop. */
  uploadTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way (a client that stopped reading a download) is closed after this; 0 = never. */
  idleTimeoutMs: number;
  /** Connections the HTTP server keeps at once (file descriptors are shared with the MQTT broker); more are dropped. */
  maxConnections: number;
  /** Connections one client address keeps at once; 0 = no cap. The machine itself (a TLS proxy on it) is not capped. */
  maxConnectionsPerAddress: number;
  /** Live-update streams (GET /api/stream) one user keeps open at once. */
  streamsPerUser: number;
  /** Live-update streams the server keeps open at once. */
  streamsTotal: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 20_000,
  bodyTimeoutMs: 30_000,
  // 200 MB (LOANET_MEDIA_MAX_MB) in an hour is 470 kbit/s: slower than a poor 4G uplink.
  uploadTimeoutMs: 3_600_000,
  keepAliveTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  // An alert makes every site download its audio at once (3,000 in a province): the cap guards the process's file descriptors, not the fleet.
  maxConnections: 10_000,
  maxConnectionsPerAddress: 256,
  // A browser opens at most 6 HTTP/1.1 connections to one host, so 10 is one browser's every tab plus a phone.
  streamsPerUser: 10,
  streamsTotal: 2000,
};

/** Bodies that may legitimately take long: files and documents (a release's package is raw bytes), sent by a logged-in user. */
const UPLOAD_TYPES = /^\s*(multipart\/form-data|application\/octet-stream|application\/xml|text\/xml|application\/cap\+xml)\s*(;|$)/i;

/**
 * How long the body of a request may take to arrive (from the end of its
 * headers). Only an authenticated upload gets the long budget: the login, any
 * public route and every JSON body get the short one, so a client that is not
 * logged in can never hold a connection open by trickling a body.
 */
export function bodyBudgetMs(limits: HttpLimits, req: { contentType: string | undefined; authenticated: boolean }): number {
  return req.authenticated && UPLOAD_TYPES.test(req.contentType ?? '') ? limits.uploadTimeoutMs : limits.bodyTimeoutMs;
}

/** Node http.Server settings from the limits (Fastify passes `http` to createServer). */
export function nodeServerTimeouts(limits: HttpLimits): {
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  // Node's own deadline for a whole request is the backstop behind the per-route body budget (connection-guards.ts).
  const requestTimeout = limits.headersTimeoutMs + limits.uploadTimeoutMs;
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout,
      // Node checks header and request deadlines on this period (default 30 s): a quarter of the header budget keeps the cut close to it.
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(limits.headersTimeoutMs / 4))),
    },
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Open connections per client address. The machine's own loopback address is
 * not capped: a TLS proxy in front of loanet on the same machine brings every
 * user from there (the global cap still holds).
 */
export class AddressCounter {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts the connection and says yes, or says no and counts nothing. */
  admit(address: string): boolean {
    if (this.max <= 0 || LOOPBACK.has(address)) return true;
    const n = this.open.get(address) ?? 0;
    if (n >= this.max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    if (this.max <= 0 || LOOPBACK.has(address)) return;
    const n = (this.open.get(address) ?? 0) - 1;
    if (n <= 0) this.open.delete(address);
    else this.open.set(address, n);
  }

  countOf(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

export interface StreamRefusal {
  limit: 'user' | 'total';
  max: number;
  variable: string;
  message: string;
}

/**
 * Live-update streams per user and in all. A stream over the limit is
 * refused (not the oldest closed): a browser's EventSource does not retry
 * after a refusal, while one whose stream was closed reconnects within
 * seconds, so closing the oldest would make a user's tabs evict each other
 * in a loop; and a user's open tabs keep working.
 */
export class StreamSlots {
  private readonly byUser = new Map<number, number>();
  private total = 0;

  constructor(private readonly limits: Pick<HttpLimits, 'streamsPerUser' | 'streamsTotal'>) {}

  /** Takes a slot for the user, or says which limit refuses it. */
  take(userId: number): StreamRefusal | null {
    const mine = this.byUser.get(userId) ?? 0;
    if (mine >= this.limits.streamsPerUser) {
      const max = this.limits.streamsPerUser;
      return {
        limit: 'user',
        max,
        variable: 'LOANET_STREAM_MAX_PER_USER',
        message: `you already have ${max} live-update streams open (at most ${max} per user, LOANET_STREAM_MAX_PER_USER); close a console tab or window and reload`,
      };
    }
    if (this.total >= this.limits.streamsTotal) {
      const max = this.limits.streamsTotal;
      return { limit: 'total', max, variable: 'LOANET_STREAM_MAX', message: `the server already serves ${max} live-update streams (LOANET_STREAM_MAX); try again later` };
    }
    this.byUser.set(userId, mine + 1);
    this.total++;
    return null;
  }

  release(userId: number): void {
    const mine = this.byUser.get(userId) ?? 0;
    if (mine <= 0) return;
    if (mine === 1) this.byUser.delete(userId);
    else this.byUser.set(userId, mine - 1);
    this.total--;
  }

  counts(userId: number): { user: number; total: number } {
    return { user: this.byUser.get(userId) ?? 0, total: this.total };
  }
}
