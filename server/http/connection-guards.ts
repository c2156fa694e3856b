/**
 * What keeps one HTTP client from holding the server's connections (the
 * limits and their reasons are in limits.ts):
 * - connections per client address and in all, counted at accept;
 * - a request body must be whole within its budget after the headers, not
 *   reset by each byte: else 408 and the connection is closed;
 * - a connection silent both ways for the idle time is closed, except while
 *   the server itself is still working on the answer;
 * - a response sent before its request body was read closes the connection,
 *   so the rest of a trickled body is never waited for;
 * - an upgrade request (WebSocket) that was answered instead of upgraded
 *   (401, 403, 404, any other route) is closed at once: Node hands such a
 *   socket over to the application, and nothing else would ever close it.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { AddressCounter, bodyBudgetMs, type HttpLimits } from './limits.ts';

/** How long a refused upgrade's socket may take to close after our FIN before it is destroyed. */
const UPGRADE_LINGER_MS = 2000;

/** Call after registerAuth (the body budget depends on who is asking). */
export function installConnectionGuards(app: FastifyInstance, limits: HttpLimits): void {
  const server = app.server;
  server.maxConnections = limits.maxConnections;
  const perAddress = new AddressCounter(limits.maxConnectionsPerAddress);
  /** Sets a socket's idle deadline (a request injected in tests has a stand-in socket without one). */
  const idle = (socket: Socket | undefined, ms: number) => {
    if (limits.idleTimeoutMs > 0 && typeof socket?.setTimeout === 'function') socket.setTimeout(ms);
  };
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy();
      return;
    }
    if (!perAddress.admit(address)) {
      const body = JSON.stringify({
        error: 'LOANET_TOO_MANY_CONNECTIONS',
        message: `too many connections from ${address}: at most ${limits.maxConnectionsPerAddress} at once (LOANET_HTTP_MAX_CONNECTIONS_PER_ADDRESS)`,
      });
      socket.on('error', () => socket.destroy());
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        () => socket.destroy(),
      );
      return;
    }
    socket.once('close', () => perAddress.release(address));
  });

  app.addHook('onRequest', async (req, reply) => {
    // The idle deadline is for a client that stops talking or reading, not for a server still working on its
    // answer (an upload waits up to waitMs for its processing): off until the response starts (onSend).
    idle(req.raw.socket, 0);
    if (req.raw.complete) return;
    const budget = bodyBudgetMs(limits, { contentType: req.headers['content-type'], authenticated: req.principal !== null || req.site !== null });
    const timer = setTimeout(() => {
      if (req.raw.complete || reply.raw.headersSent) return;
      void reply
        .code(408)
        .header('connection', 'close')
        .send({
          error: 'LOANET_REQUEST_TIMEOUT',
          message: `the request body did not arrive within ${budget / 1000} s (LOANET_HTTP_${budget === limits.bodyTimeoutMs ? 'BODY' : 'UPLOAD'}_TIMEOUT_S)`,
        });
    }, budget);
    timer.unref();
    reply.raw.once('close', () => clearTimeout(timer));
  });

  app.addHook('onSend', async (req, reply) => {
    idle(req.raw.socket, limits.idleTimeoutMs);
    // The body was not read (refused before it, or timed out): do not wait for the rest of it on this connection.
    if (!req.raw.complete) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (req) => {
    // Node marks a request that came with Connection: upgrade (not in its typings).
    if (!(req.raw as { upgrade?: boolean }).upgrade) return;
    const socket = req.raw.socket;
    if (socket.destroyed) return;
    socket.end();
    const linger = setTimeout(() => socket.destroy(), UPGRADE_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  });
}
