/**
 * Who may read /metrics. Prometheus scrapes without a console login, so the
 * rule is not a user's role: with LOANET_METRICS_TOKEN set, a request must
 * carry `Authorization: Bearer <that token>` (from anywhere); without it,
 * only the machine itself may (a loopback client address: a Prometheus or
 * node agent on the server, or a tunnel). The figures name no site, but
 * they do say how many villages cannot hear an alert right now, which is
 * not for everyone on the network.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';

export type MetricsRefusal = 'token' | 'not_loopback';

export function isLoopback(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (net.isIPv4(a)) return a.startsWith('127.');
  return a === '::1';
}

/** Null: allowed. `clientAddress` is the client's address (Fastify's req.ip: the TCP peer, or what a trusted proxy says). */
export function metricsRefusal(token: string | undefined, authorization: string | undefined, clientAddress: string): MetricsRefusal | null {
  if (token === undefined) return isLoopback(clientAddress) ? null : 'not_loopback';
  const sent = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
  // Compared as digests, so neither the length nor the first differing byte shows in the time taken.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(sent), digest(token)) ? null : 'token';
}
