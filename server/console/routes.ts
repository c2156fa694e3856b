/**
 * The operator console (web/, built by Vite into web/dist) served at /: the
 * built files with cache headers (hashed assets cached for a year, the page
 * itself revalidated every time so a new build shows at once), gzip when the
 * browser takes it (a phone on 4G), and the page for every other path so the
 * console's own routes (/sites/abc) survive a reload. No CDN: everything the
 * console needs comes from here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../errors.ts';
import { CONSOLE_DIST } from '../files.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.webmanifest', '.txt']);

interface CachedFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  mtimeMs: number;
}

/** Where a URL path points inside `root`, or undefined when it would leave it. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return full === root || full.startsWith(root + path.sep) ? full : undefined;
}

export const consoleRoutes =
  (dist: string = CONSOLE_DIST): FastifyPluginAsync =>
  async (app) => {
    const cache = new Map<string, CachedFile>();

    const load = (file: string): CachedFile | undefined => {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        return undefined;
      }
      if (!st.isFile()) return undefined;
      const hit = cache.get(file);
      if (hit && hit.mtimeMs === st.mtimeMs) return hit;
      const ext = path.extname(file);
      const body = fs.readFileSync(file);
      const entry: CachedFile = {
        body,
        gzip: COMPRESSIBLE.has(ext) && body.length > 512 ? gzipSync(body, { level: 9 }) : null,
        type: TYPES[ext] ?? 'application/octet-stream',
        mtimeMs: st.mtimeMs,
      };
      cache.set(file, entry);
      return entry;
    };

    const send = (req: FastifyRequest, reply: FastifyReply, f: CachedFile, immutable: boolean) => {
      reply.header('content-type', f.type);
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      reply.header('x-content-type-options', 'nosniff');
      reply.header('vary', 'accept-encoding');
      if (f.type.startsWith('text/html')) {
        // The page loads only its own files and talks only to this server.
        reply.header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        );
        reply.header('referrer-policy', 'same-origin');
      }
      if (f.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        reply.header('content-encoding', 'gzip');
        return reply.send(f.gzip);
      }
      return reply.send(f.body);
    };

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const urlPath = req.url.split('?')[0]!;
      if (urlPath.startsWith('/api/') || urlPath === '/api') throw Errors.notFound('route', `${req.method} ${urlPath}`);
      const index = load(path.join(dist, 'index.html'));
      if (!index) {
        return reply
          .status(503)
          .type('text/plain; charset=utf-8')
          .send('Bảng điều khiển chưa được dựng (console not built): chạy / run `npm run build:web` (npm install and npm start do it).\n');
      }
      const file = resolveInside(dist, urlPath);
      const f = file && urlPath !== '/' ? load(file) : undefined;
      if (f) return send(req, reply, f, urlPath.startsWith('/assets/'));
      // A missing asset is a 404, not the page (a stale cached page asking for an old bundle must fail clearly).
      if (urlPath.startsWith('/assets/') || path.extname(urlPath) !== '') return reply.status(404).send({ error: 'LOANET_NOT_FOUND', message: `no file ${urlPath}` });
      return send(req, reply, index, false);
    };

    app.get('/', { schema: { hide: true } }, handler);
    app.get('/*', { schema: { hide: true } }, handler);
  };
