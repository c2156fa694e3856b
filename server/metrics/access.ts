/**
 * Who may read /metrics. Prometheus scrapes without a console login, so the
 * rule is not a user's role: with LOANET_METRICS_TOKEN set, a request must
 * carry `Authorization: Bearer <that token>` (from anywhere); without it,
 * only the machine itself may (a loopback client address: a Prometheus or
 * node agent on the server, or a tunnel). The figures name no site, but
 * they do say how many villages cannot hear an alert right now, which is
 * not for everyone on the network.
 *
 * A reverse proxy on the same machine (TLS in front, docs/operations.md)
 * connects from loopback on behalf of every client on the internet. Unless
 * LOANET_TRUST_PROXY names it (then req.ip is the real client), a loopback
 * request that carries forwarding headers is treated as coming from outside.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

export type MetricsRefusal = 'token' | 'not_loopback' | 'forwarded';

export function isLoopback(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (net.isIPv4(a)) return a.startsWith('127.');
  return a === '::1';
}

/** Headers a proxy adds to say whom it forwards for. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/**
 * Null: allowed. `clientAddress` is the client's address (Fastify's req.ip:
 * the TCP peer, or what a trusted proxy says); `untrustedForwarding` is true
 * when the request carries forwarding headers that no trusted proxy resolved
 * (see forwardedByUntrustedProxy).
 */
export function metricsRefusal(token: string | undefined, authorization: string | undefined, clientAddress: string, untrustedForwarding = false): MetricsRefusal | null {
  if (token === undefined) {
    if (!isLoopback(clientAddress)) return 'not_loopback';
    return untrustedForwarding ? 'forwarded' : null;
  }
  const sent = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
  // Compared as digests, so neither the length nor the first differing byte shows in the time taken.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(sent), digest(token)) ? null : 'token';
}

/**
 * True when the request names a client it was forwarded for, yet the address
 * Fastify resolved is still the TCP peer: no trusted proxy stood in between,
 * so the peer (loopback, for a proxy on this machine) is not the client.
 */
export function forwardedByUntrustedProxy(headers: Readonly<Record<string, string | string[] | undefined>>, peerAddress: string | undefined, clientAddress: string): boolean {
  const forwarded = FORWARDING_HEADERS.some((h) => headers[h] !== undefined);
  return forwarded && peerAddress === clientAddress;
}
