/**
 * GET /api/stream: live updates for the console as Server-Sent Events, so no
 * page needs a refresh button. Fed by FleetState listeners: a site's condition
 * changed, a command's result came back; and by the alert service: an alert
 * started, its delivery moved (coalesced by the service), it was updated,
 * cancelled or expired. Each client sees only the sites in
 * its user's area subtree. A comment line every 20 s keeps 4G carriers and
 * proxies from closing an idle connection, and re-checks the token: a signed
 * out session stops receiving. Streams are capped per user and in all
 * (LOANET_STREAM_MAX_PER_USER, LOANET_STREAM_MAX): one more is refused with
 * 429 naming the limit (limits.ts says why not the oldest closed instead).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import type { ServerContext } from '../../context.ts';
import { LoanetError } from '../../errors.ts';
import { requirePermission } from '../auth.ts';
import { StreamSlots } from '../limits.ts';
import { readCookie, SESSION_COOKIE } from '../session-cookie.ts';

const KEEPALIVE_MS = 20_000;
/** A client this far behind (a phone that lost coverage mid-storm) is dropped: it reconnects and reloads, instead of the server buffering for it. */
const MAX_BACKLOG_BYTES = 1024 * 1024;

/** One SSE frame: `event:` line, the JSON on one `data:` line (JSON never holds a raw line break), blank line. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface StreamClient {
  res: ServerResponse;
  /** Area ids the user may see; null = the whole network. */
  scope: Set<number> | null;
  token: string;
}

export const streamRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const clients = new Set<StreamClient>();
    const slots = new StreamSlots(ctx.config.http);

    const send = (siteId: string, event: string, data: unknown) => {
      if (clients.size === 0) return;
      const areaId = ctx.fleet.observation(siteId)?.areaId;
      const frame = sseFrame(event, data);
      for (const c of clients) {
        if (c.scope !== null && (areaId === undefined || !c.scope.has(areaId))) continue;
        if (c.res.writableLength > MAX_BACKLOG_BYTES) {
          clients.delete(c);
          c.res.destroy();
        } else c.res.write(frame);
      }
    };

    // An alert goes to users whose area overlaps any area the alert reaches.
    const unlistenAlerts = ctx.alerts.service.listen((ch) => {
      if (clients.size === 0) return;
      const { areaIds, ...data } = ch;
      const frame = sseFrame('alert', data);
      // The counts are network-wide: a scoped user reads its own sites' delivery from GET /api/alerts/{id} instead.
      const { counts: _counts, ...scopedData } = data;
      const scopedFrame = sseFrame('alert', scopedData);
      for (const c of clients) {
        if (c.scope !== null && !areaIds.some((a) => c.scope!.has(a))) continue;
        if (c.res.writableLength > MAX_BACKLOG_BYTES) {
          clients.delete(c);
          c.res.destroy();
        } else c.res.write(c.scope === null ? frame : scopedFrame);
      }
    });

    ctx.fleet.listen({
      conditionChanged: (ch) => {
        send(ch.siteId, 'condition', { siteId: ch.siteId, at: ch.at, from: ch.from, to: ch.to, reasons: ch.verdict.reasons });
      },
      siteEvent: (siteId, ev) => {
        // The composition root's listener stored the result first (it registered before this one).
        if (ev.type === 'cmd_result') send(siteId, 'command', ctx.commands.get(ev.cmdId) ?? { id: ev.cmdId, siteId });
      },
    });

    const keepalive = setInterval(() => {
      for (const c of clients) {
        if (!ctx.users.authenticate(c.token)) {
          c.res.end();
          clients.delete(c);
        } else c.res.write(': keepalive\n\n');
      }
    }, KEEPALIVE_MS);
    keepalive.unref();

    // preClose, not onClose: an open stream would keep the HTTP server's close() waiting forever.
    app.addHook('preClose', async () => {
      clearInterval(keepalive);
      unlistenAlerts();
      for (const c of clients) c.res.end();
      clients.clear();
    });

    app.get('/api/stream', { schema: { tags: ['console'], summary: 'Server-Sent Events for your area: condition (a site changed condition), command (a command result came back), alert (an alert started, delivered, updated, cancelled or expired, with its delivery counts)' } }, async (req, reply) => {
      const p = requirePermission(req, 'read');
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const token = bearer ?? readCookie(req.headers.cookie, SESSION_COOKIE) ?? '';
      const refused = slots.take(p.user.id);
      if (refused) throw new LoanetError('LOANET_TOO_MANY_STREAMS', 429, refused.message, { limit: refused.max, variable: refused.variable });
      // The slot is given back when the response closes, whoever ends it (the client, a dropped backlog, sign-out, shutdown).
      reply.raw.once('close', () => slots.release(p.user.id));
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const client: StreamClient = { res, scope: p.user.areaId === null ? null : ctx.coverage.subtreeIds(p.user.areaId), token };
      clients.add(client);
      res.write('retry: 3000\n\n' + sseFrame('hello', { at: ctx.now(), username: p.user.username }));
      req.raw.on('close', () => clients.delete(client));
      res.once('close', () => clients.delete(client));
    });
  };
