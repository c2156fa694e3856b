/**
 * GET /api/stream: live updates for the console as Server-Sent Events, so no
 * page needs a refresh button. Fed by FleetState listeners: a site's condition
 * changed, a command's result came back; and by the alert service: an alert
 * started, its delivery moved (coalesced by the service), it was updated,
 * cancelled or expired; and by the alarms: a technician's alarm raised,
 * changed or cleared (the console's bell). Each client sees only the sites in
 * its user's area subtree. A comment line every 20 s keeps 4G carriers and
 * proxies from closing an idle connection, and re-checks the token: a signed
 * out session stops receiving. Streams are capped per user and in all
 * (LOANET_STREAM_MAX_PER_USER, LOANET_STREAM_MAX): one more is refused with
 * 429 naming the limit (limits.ts says why not the oldest closed instead).
 *
 * Every event goes to up to thousands of consoles at once, so its cost per
 * connection is what counts (an alert storm is when every console is open).
 * Each frame is encoded once and written straight to the socket: the body is
 * delimited by closing the connection (`Connection: close`), not chunked, so
 * one event is one write system call per console, instead of Node's response
 * writer corking three buffers (chunk size, data, CRLF) and flushing them
 * with a writev on the next tick — measured as 38 % of the server's CPU with
 * 1,000 consoles open during an alert storm.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Socket } from 'node:net';
import type { ServerContext } from '../context.ts';
import { fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import { StreamSlots } from '../http/limits.ts';
import { readCookie, SESSION_COOKIE } from '../http/session-cookie.ts';
import { Type } from '@sinclair/typebox';
import type { StreamEventMap } from '../../api/stream.ts';
import { notificationRecord } from '../notifications/routes.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<
  ServerContext,
  'alarms' | 'maintenance' | 'notifications' | 'alerts' | 'commands' | 'config' | 'coverage' | 'fleet' | 'now' | 'users' | 'live' | 'log'
>;

const KEEPALIVE_MS = 20_000;
/** A client this far behind (a phone that lost coverage mid-storm) is dropped: it reconnects and reloads, instead of the server buffering for it. */
const MAX_BACKLOG_BYTES = 1024 * 1024;

/** One SSE frame: `event:` line, the JSON on one `data:` line (JSON never holds a raw line break), blank line. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The response head, written by hand on the hijacked socket: a close-delimited body needs no chunk framing. */
function sseHead(date: Date): string {
  return (
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: text/event-stream; charset=utf-8\r\n' +
    'Cache-Control: no-cache, no-transform\r\n' +
    'X-Accel-Buffering: no\r\n' +
    'X-Content-Type-Options: nosniff\r\n' +
    `Date: ${date.toUTCString()}\r\n` +
    'Connection: close\r\n\r\n'
  );
}

interface StreamClient {
  socket: Socket;
  /** Area ids the user may see; null = the whole network. */
  scope: Set<number> | null;
  /** The user's area and its ancestors: a stream to the province reaches a commune's users. */
  path: Set<number> | null;
  token: string;
  /** The notifications of this user (the bell) go to this stream only. */
  userId: number;
}

export const streamRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const clients = new Set<StreamClient>();
    const slots = new StreamSlots(ctx.config.http);

    /** Writes one encoded frame; a console too far behind is dropped (it reconnects and reloads). */
    const deliver = (c: StreamClient, frame: Buffer) => {
      if (c.socket.writableLength > MAX_BACKLOG_BYTES) {
        clients.delete(c);
        c.socket.destroy();
      } else c.socket.write(frame);
    };

    /** A frame of one of the console's events (api/stream.ts): the shapes the console reads are checked here. */
    const eventFrame = <E extends keyof StreamEventMap>(event: E, data: StreamEventMap[E]) => sseFrame(event, data);

    const send = <E extends keyof StreamEventMap>(siteId: string, event: E, data: StreamEventMap[E]) => {
      if (clients.size === 0) return;
      const areaId = ctx.fleet.observation(siteId)?.areaId;
      const frame = Buffer.from(eventFrame(event, data));
      for (const c of clients) {
        if (c.scope !== null && (areaId === undefined || !c.scope.has(areaId))) continue;
        deliver(c, frame);
      }
    };

    // An alert goes to users whose area overlaps any area the alert reaches.
    const unlistenAlerts = ctx.alerts.service.listen((ch) => {
      if (clients.size === 0) return;
      const { areaIds, ...data } = ch;
      const frame = Buffer.from(eventFrame('alert', data));
      // The counts are network-wide: a scoped user reads its own sites' delivery from GET /api/alerts/{id} instead.
      const { counts: _counts, ...scopedData } = data;
      let scopedFrame: Buffer | undefined;
      for (const c of clients) {
        if (c.scope === null) deliver(c, frame);
        else if (areaIds.some((a) => c.scope!.has(a))) deliver(c, (scopedFrame ??= Buffer.from(eventFrame('alert', scopedData))));
      }
    });

    const unlistenFleet = ctx.fleet.listen({
      conditionChanged: (ch) => {
        send(ch.siteId, 'condition', { siteId: ch.siteId, at: ch.at, from: ch.from, to: ch.to, reasons: ch.verdict.reasons });
      },
    });
    // A stream goes to users whose area it reaches (a target in their subtree) or who hear it from above (a target among their ancestors).
    const unlistenLive = ctx.live.listen((ch) => {
      if (clients.size === 0) return;
      const { areaIds, ...data } = ch;
      const frame = Buffer.from(eventFrame('live', data));
      for (const c of clients) {
        if (c.scope === null || areaIds.some((a) => c.scope!.has(a) || c.path!.has(a))) deliver(c, frame);
      }
    });
    // An alarm goes to users whose subtree holds its site's area; pending and dropped ones were never shown.
    const unlistenAlarms = ctx.alarms.onAlarmEvent((e) => {
      if (clients.size === 0) return;
      const kind = e.type === 'alarm_raised' ? 'raised' : e.type === 'alarm_updated' ? 'changed' : e.type === 'alarm_cleared' ? 'cleared' : null;
      if (kind === null || !('alarm' in e)) return;
      const a = e.alarm;
      const frame = Buffer.from(
        eventFrame('alarm', {
          kind,
          alarmId: a.id,
          siteId: a.siteId,
          alarmKind: a.kind,
          severity: a.severity,
          state: a.state,
          count: a.count,
          incidentId: a.incidentId,
          at: a.updatedAt,
        }),
      );
      for (const c of clients) if (c.scope === null || c.scope.has(a.areaId)) deliver(c, frame);
    });
    // A notification goes to the streams of the one user told, once stored.
    const unlistenNotifications = ctx.notifications.service.listen((n) => {
      if (clients.size === 0) return;
      let frame: Buffer | undefined;
      for (const c of clients) {
        if (c.userId === n.userId) deliver(c, (frame ??= Buffer.from(eventFrame('notification', notificationRecord(n, ctx.fleet.observation(n.siteId)?.name ?? null)))));
      }
    });
    // A work order goes to users whose subtree holds its site's area, once stored.
    const unlistenWorkOrders = ctx.maintenance.onChange(({ order: o, event: e }) => {
      if (clients.size === 0) return;
      const frame = Buffer.from(
        eventFrame('work_order', {
          orderId: o.id,
          siteId: o.siteId,
          alarmId: o.alarmId,
          action: e.action,
          state: o.state,
          assignee: o.assignee?.username ?? null,
          by: e.by,
          at: e.at,
        }),
      );
      for (const c of clients) if (c.scope === null || c.scope.has(o.areaId)) deliver(c, frame);
    });
    // Once stored (a result, or its expiry), whatever order the listeners were registered in.
    const unlistenCommands = ctx.commands.onFinished((c) => send(c.siteId, 'command', c));

    const keepalive = setInterval(() => {
      for (const c of clients) {
        ctx.users.authenticate(c.token).then(
          (principal) => {
            // The stream may have closed while its token was looked up.
            if (!clients.has(c)) return;
            if (!principal) {
              c.socket.end();
              clients.delete(c);
            } else c.socket.write(': keepalive\n\n');
          },
          // The store did not answer: the stream stays until a later keepalive can tell.
          (err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'event stream: checking a token at keepalive failed'),
        );
      }
    }, KEEPALIVE_MS);
    keepalive.unref();

    // preClose, not onClose: an open stream would keep the HTTP server's close() waiting forever.
    app.addHook('preClose', async () => {
      clearInterval(keepalive);
      unlistenAlerts();
      unlistenAlarms();
      unlistenNotifications();
      unlistenWorkOrders();
      unlistenFleet();
      unlistenCommands();
      unlistenLive();
      for (const c of clients) c.socket.end();
      clients.clear();
    });

    app.get(
      '/api/stream',
      {
        schema: {
          tags: ['console'],
          operationId: 'streamEvents',
          summary:
            "Server-Sent Events for your area: condition (a site changed condition), command (a command result came back), alert (an alert started, delivered, updated, cancelled or expired, with its delivery counts), live (a live stream started, ended or had its delay raised), alarm (a technician's alarm raised, changed or cleared), notification (you were told of an alarm: the bell), work_order (a work order made or changed)",
          response: {
            200: {
              description:
                'an endless text/event-stream: `event: hello|condition|command|alert|live|alarm|notification|work_order` and one `data:` line of JSON each (shapes: api/stream.ts HelloEvent, ConditionEvent, CommandEvent, AlertEvent, LiveEvent, AlarmEvent, NotificationEvent, WorkOrderEvent)',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
          },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        const token = bearer ?? readCookie(req.headers.cookie, SESSION_COOKIE) ?? '';
        const refused = slots.take(p.user.id);
        if (refused)
          throw fail('LOANET_TOO_MANY_STREAMS', { text: refused.message, limit: refused.max, variable: refused.variable }, { limit: refused.max, variable: refused.variable });
        // The slot is given back when the connection closes, whoever ends it (the client, a dropped backlog, sign-out, shutdown).
        const socket = req.raw.socket;
        socket.once('close', () => slots.release(p.user.id));
        reply.hijack();
        // Nagle would hold a small frame back waiting for the previous one's ACK: events are tiny and must arrive now.
        socket.setNoDelay(true);
        const client: StreamClient = {
          socket,
          scope: p.user.areaId === null ? null : ctx.coverage.subtreeIds(p.user.areaId),
          path: p.user.areaId === null ? null : new Set(ctx.coverage.areaPath(p.user.areaId)),
          token,
          userId: p.user.id,
        };
        clients.add(client);
        socket.write(sseHead(new Date()) + 'retry: 3000\n\n' + eventFrame('hello', { at: ctx.now(), username: p.user.username }));
        socket.once('close', () => clients.delete(client));
      },
    );
  };
