/**
 * gzip for the API's larger JSON and CSV answers, when the client accepts it:
 * the console runs on phones over 4G, and a province's coverage or site list
 * is hundreds of kilobytes of very repetitive JSON (~10× smaller gzipped).
 * Compressed on the libuv thread pool (async zlib), so the loop that takes in
 * heartbeats is not blocked. Streams (media, SSE) and small answers pass as they are.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

const gzipAsync = promisify(gzip);
/** Below this a gzip header and a thread hop cost more than they save. */
export const MIN_COMPRESS_BYTES = 8 * 1024;

/** Whether an answer of this type and size is worth compressing for this Accept-Encoding. */
export function shouldCompress(acceptEncoding: string | undefined, contentType: string | undefined, alreadyEncoded: boolean, bytes: number): boolean {
  if (alreadyEncoded || bytes < MIN_COMPRESS_BYTES) return false;
  if (!/\bgzip\b/i.test(acceptEncoding ?? '')) return false;
  return /^(application\/json|text\/csv|text\/plain)\b/i.test(contentType ?? '');
}

export function registerCompression(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const type = reply.getHeader('content-type');
    if (!shouldCompress(req.headers['accept-encoding'], typeof type === 'string' ? type : undefined, reply.hasHeader('content-encoding'), bytes)) return payload;
    reply.header('content-encoding', 'gzip');
    reply.header('vary', 'accept-encoding');
    reply.removeHeader('content-length');
    return gzipAsync(payload);
  });
}
