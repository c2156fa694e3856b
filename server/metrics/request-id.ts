/**
 * The request id of every HTTP request: Fastify puts it on each log line of
 * the request (`reqId`), and the server sends it back as `x-request-id`, so
 * a user's report ("it failed at 14:02, request id …") finds its log lines.
 * A proxy's or a client's own id is kept when it is a short safe token (it
 * goes into logs and a header: no spaces, quotes or control characters, at
 * most 64 characters); anything else is replaced by one of ours.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

const SAFE = /^[A-Za-z0-9._:-]{1,64}$/;

export function isSafeRequestId(v: unknown): v is string {
  return typeof v === 'string' && SAFE.test(v);
}

/** Fastify's `genReqId`: the incoming x-request-id when safe, else 16 random hex digits. */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers[REQUEST_ID_HEADER];
  return isSafeRequestId(sent) ? sent : randomBytes(8).toString('hex');
}
