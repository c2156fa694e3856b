/**
 * Live broadcast over HTTP (issue 4):
 *   POST /api/live/streams            start a relay of a radio URL, or a media item played now
 *   GET  /api/live/streams            on air and past streams, newest first, paged (limit, before), scoped to the caller's area
 *   GET  /api/live/streams/{id}       one stream (on air or past, from the record) with its server and site
 *                                     statistics, the play-time skew, each site's latest report, and its end
 *   POST /api/live/streams/{id}/stop  stop it
 *   GET  /api/live/delay              before going live: the delay a stream to these areas would start
 *                                     with, the ceiling it may be raised to, the sites too slow for it
 *   GET  /api/live/voice (WebSocket)  a live voice: PCM s16le 48 kHz mono binary messages (the
 *                                     console's AudioWorklet), or ?format=webm for MediaRecorder's WebM/Opus
 *
 * Going live needs 'live.broadcast' in every target area (operators and
 * admins, within their area subtree); every start and stop is audited. The
 * WebSocket is authenticated as every /api route is (bearer header, or the
 * console's session cookie) before it is upgraded.
 *
 * Sources and why:
 * - relay: the URL (HTTP, Icecast) is fetched in Node from an address
 *   checked first (public, or allowed by LOANET_RELAY_ALLOW; redirects
 *   checked hop by hop) and piped into ffmpeg, which writes PCM; the stream
 *   re-encodes it. It goes on air only once the source delivered decodable
 *   audio (else 422 with a coded reason); a source lost later is tried again
 *   for LOANET_RELAY_RECONNECT_S with silence or a fallback item meanwhile
 *   (server/live/relay-source.ts), then the stream ends with source_lost and
 *   a generic reason; the network detail goes to the server log.
 * - media: the stored Ogg Opus is decoded and re-encoded (ffmpeg → PCM →
 *   the live encoder), not re-packetised: the library stores VBR Opus without
 *   in-band FEC at whatever bitrate the upload got, and on lossy 4G links the
 *   live stream needs FEC and one known bitrate per site; one pipeline for
 *   every source also means one pacing and one set of statistics. The cost
 *   is one Opus encode per stream (a few % of a core), not per site.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { Errors, fail, failWithText } from '../errors.ts';
import { AUDIO_PRIORITIES, type AudioPriority } from '../../protocol/index.ts';
import { findMediaTools } from '../media/tools.ts';
import { FfmpegPcmSource, webmInput } from './ffmpeg-source.ts';
import { probeRelay, RelayProbeFailed, RelaySource, type ProbedRelay, type RelayFallback } from './relay-source.ts';
import { relaySchemeProblem } from './relay-destination.ts';
import { redactUrl, type LiveStreamView as LiveStreamViewT } from './service.ts';
import { publicUrl } from './store.ts';
import { inputArgs } from '../media/analysis.ts';
import type { LiveArea, LiveStartInput } from './model.ts';
import type { Principal } from '../auth/users.ts';
import { silentSites } from './silent-sites.ts';
import { LiveDelayPreview, LiveStreamDetail, LiveStreamList, LiveStreamView } from '../../api/live.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'audit' | 'config' | 'coverage' | 'fleet' | 'live' | 'log' | 'media' | 'sites'>;

const Priority = Type.Union(AUDIO_PRIORITIES.map((p) => Type.Literal(p)));
const Areas = Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { minItems: 1, maxItems: 64, description: 'area keys or codes: each subtree hears the stream' });
const Tuning = {
  priority: Type.Optional(Priority),
  whenPreempted: Type.Optional(Type.Union([Type.Literal('resume'), Type.Literal('end')])),
  label: Type.Optional(Type.String({ maxLength: 120 })),
  delayMs: Type.Optional(
    Type.Integer({
      minimum: 100,
      maximum: 5000,
      description:
        "capture to play-at, ms (default LOANET_LIVE_DELAY_MS, 500): fixed when given alone; with maxDelayMs, the least, raised for the targeted sites' measured links up to maxDelayMs",
    }),
  ),
  maxDelayMs: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 10000,
      description: 'ceiling of the adaptive delay, ms (default LOANET_LIVE_MAX_DELAY_MS, 3000, or delayMs when that is given); at or below delayMs the delay is fixed',
    }),
  ),
  packetsPerMessage: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: '20 ms Opus packets per MQTT message (default 3)' })),
  bitrate: Type.Optional(Type.Integer({ minimum: 8000, maximum: 128000, description: 'Opus bitrate, bit/s (default 24000)' })),
};
const StartBody = Type.Object(
  {
    source: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('relay'),
          url: Type.String({
            minLength: 8,
            maxLength: 2000,
            description: 'http(s) URL of a radio stream (Icecast, MP3, AAC, Ogg); it must deliver decodable audio within 8 s, else 422',
          }),
          fallbackMediaId: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 64,
              description: 'a media item played, looped, while a lost source is tried again (LOANET_RELAY_RECONNECT_S); without it the sites hear silence',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      Type.Object({ kind: Type.Literal('media'), mediaId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
    ]),
    areas: Areas,
    ...Tuning,
  },
  { additionalProperties: false },
);
const StreamId = Type.Object({ id: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }) });
const VoiceQuery = Type.Object(
  {
    areas: Type.String({ minLength: 1, maxLength: 2000, description: 'comma-separated area keys or codes' }),
    format: Type.Optional(Type.Union([Type.Literal('pcm'), Type.Literal('webm')])),
    ...Tuning,
  },
  { additionalProperties: false },
);

/** How long a refused voice socket may take to answer our close frame. */
const REFUSED_CLOSE_MS = 2000;
/** The voice a browser sends while its stream is being recorded, kept at most: 2 s of 48 kHz 16-bit mono PCM. */
const EARLY_VOICE_BYTES = 192_000;

export const liveRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
    // An upgrade refused before it became a WebSocket (401, 403) leaves its raw socket open,
    // and the HTTP server would wait for it forever on close: end them all when closing.
    const upgrades = new Set<import('node:stream').Duplex>();
    app.server.on('upgrade', (_req, socket: import('node:stream').Duplex) => {
      upgrades.add(socket);
      socket.once('close', () => upgrades.delete(socket));
    });
    app.addHook('preClose', async () => {
      for (const s of upgrades) s.destroy();
    });

    /** Resolve target areas and check the caller may go live in each. */
    const targets = (req: FastifyRequest, raw: readonly string[]): { areas: LiveArea[]; principal: Principal } => {
      let principal = requirePermission(req, 'live.broadcast');
      const areas = raw.map((k) => {
        const node = ctx.coverage.resolveArea(k.trim());
        const path = ctx.coverage.areaPath(node.id);
        principal = requirePermission(req, 'live.broadcast', path);
        return { id: node.id, key: node.key, path };
      });
      return { areas, principal };
    };

    const ffmpegPath = (): string => {
      const found = findMediaTools({ ffmpegPath: ctx.config.media.ffmpegPath, ffprobePath: ctx.config.media.ffprobePath });
      if ('missing' in found) throw Errors.unavailable('tool_missing', `live relay and media streams need ffmpeg: ${found.missing}`);
      return found.tools.ffmpeg.path;
    };

    const tuning = (b: {
      priority?: AudioPriority | undefined;
      whenPreempted?: 'resume' | 'end' | undefined;
      label?: string | undefined;
      delayMs?: number | undefined;
      maxDelayMs?: number | undefined;
      packetsPerMessage?: number | undefined;
      bitrate?: number | undefined;
    }) => ({
      priority: b.priority ?? 'normal',
      ...(b.whenPreempted ? { whenPreempted: b.whenPreempted } : {}),
      ...(b.label ? { label: b.label } : {}),
      ...(b.delayMs ? { delayMs: b.delayMs } : {}),
      ...(b.maxDelayMs !== undefined ? { maxDelayMs: b.maxDelayMs } : {}),
      ...(b.packetsPerMessage ? { packetsPerMessage: b.packetsPerMessage } : {}),
      ...(b.bitrate ? { bitrate: b.bitrate } : {}),
    });

    app.post(
      '/api/live/streams',
      {
        schema: {
          tags: ['live'],
          operationId: 'startLiveStream',
          summary: 'Start a live stream: relay a radio URL or play a media item now',
          description:
            "A relay goes on air only once its source delivered decodable audio; else 422 LOANET_RELAY_REFUSED (destination or redirect not allowed), LOANET_RELAY_UNREACHABLE (connection, HTTP error, no answer) or LOANET_RELAY_NOT_AUDIO, with `reason` (and `detail`: an errno code or HTTP status line) that the console words. A source lost later is tried again for LOANET_RELAY_RECONNECT_S (the stream's `relay` says so), with silence or the fallback item meanwhile.",
          body: StartBody,
          response: { 201: LiveStreamView },
        },
      },
      async (req, reply) => {
        const { areas, principal } = targets(req, req.body.areas);
        const src = req.body.source;
        const ffmpeg = ffmpegPath();
        /** Why a stream's source failed, in full: for the server log only (it maps the network it came from). */
        const logCause = (id: number, what: string, detail: string, url?: string) =>
          ctx.log.warn({ streamId: id, source: src.kind, ...(url ? { url: publicUrl(url) } : {}), detail: (url ? redactUrl(detail, url) : detail).slice(0, 500) }, what);
        let streamId = -1;
        let view: LiveStreamViewT;
        if (src.kind === 'relay') {
          let url: URL;
          try {
            url = new URL(src.url);
          } catch {
            throw fail('LOANET_RELAY_URL', { field: 'source.url', text: 'source.url: not a URL' });
          }
          // Only network streams: a file: or other URL would let a caller read the server's disk through ffmpeg.
          const scheme = relaySchemeProblem(url);
          if (scheme) throw fail('LOANET_RELAY_URL', { field: 'source.url', text: `source.url: ${scheme}` });
          let fallback: RelayFallback | undefined;
          if (src.fallbackMediaId !== undefined) {
            const item = await ctx.media.library.item(src.fallbackMediaId);
            if (!item || item.retiredAt !== null) throw Errors.notFound('media', src.fallbackMediaId, undefined, 'source.fallbackMediaId');
            fallback = { mediaId: item.id, title: item.title, input: inputArgs(ctx.media.library.fileOf(item.sha256), 'ogg') };
          }
          const input: LiveStartInput = { source: { kind: 'relay', url: url.toString() }, areas, actor: principal.user, ...tuning(req.body) };
          // A same-priority stream on air is refused before the source is tried, which takes seconds.
          ctx.live.refuseOverlap(areas, input.priority);
          // Only public addresses unless the administrator allowed more (the address checked is the one connected to),
          // and only a source that delivers decodable audio goes on air.
          const allow = ctx.config.live.relayAllow;
          let probed: ProbedRelay;
          try {
            probed = await probeRelay({ ffmpegPath: ffmpeg, url, allow });
          } catch (e) {
            if (!(e instanceof RelayProbeFailed)) throw e;
            ctx.log.warn({ source: 'relay', url: publicUrl(url.toString()), reason: e.reason, detail: redactUrl(e.logDetail, url.toString()).slice(0, 500) }, 'live relay refused');
            // The reason code (and how long the source had) is what the console words; the errno or HTTP status is technical detail.
            const words = { reason: e.reason, ...(e.detail ? { detail: e.detail } : {}), ...(e.withinS !== undefined ? { withinS: e.withinS } : {}) };
            throw failWithText(e.code, 'LOANET_RELAY_REFUSED', e.message, { field: 'source.url', ...words }, words);
          }
          const windowMs = ctx.config.live.relayReconnectS * 1000;
          try {
            view = await ctx.live.start(
              input,
              (stream) =>
                new RelaySource(
                  {
                    ffmpegPath: ffmpeg,
                    url,
                    allow,
                    now: Date.now,
                    windowMs,
                    ...(fallback ? { fallback } : {}),
                    push: (c) => stream.push(c),
                    dropQueued: () => stream.dropQueued(),
                    // Plays out what it had, then ends as source_lost, with a reason that names no address.
                    lost: (detail) => stream.sourceFinished('source_lost', detail),
                    log: (what, detail) => logCause(streamId, what, detail, url.toString()),
                    // Who hears dead air asks the audit log when and for how long: each loss and each return is recorded.
                    changed: (c) =>
                      c.kind === 'lost'
                        ? ctx.audit.recordDetached(null, 'live.relay.lost', String(streamId), { reason: c.reason, giveUpAt: c.giveUpAt, fallback: c.fallback })
                        : ctx.audit.recordDetached(null, 'live.relay.reconnected', String(streamId), { lostAt: c.lostAt, attempts: c.attempts }),
                  },
                  probed,
                ),
            );
          } catch (e) {
            probed.close();
            throw e;
          }
        } else {
          const item = await ctx.media.library.item(src.mediaId);
          if (!item || item.retiredAt !== null) throw Errors.notFound('media', src.mediaId, undefined, 'source.mediaId');
          const input: LiveStartInput = { source: { kind: 'media', mediaId: item.id, title: item.title }, areas, actor: principal.user, ...tuning(req.body) };
          // The library's own Ogg Opus, read as Ogg and nothing else.
          const ffmpegArgs = inputArgs(ctx.media.library.fileOf(item.sha256), 'ogg');
          view = await ctx.live.start(input, (stream, end) => {
            const child = new FfmpegPcmSource(ffmpeg, ffmpegArgs, {
              data: (c) => stream.push(c),
              exit: (e) => {
                if (e.closedByUs) return;
                if (e.code === 0) return stream.sourceFinished();
                logCause(streamId, 'live media source failed', `ffmpeg exited (${e.code ?? e.signal})${e.stderrTail ? `: ${e.stderrTail}` : ''}`);
                end('error', 'the media item could not be decoded');
              },
            });
            return child;
          });
        }
        streamId = view.id;
        return reply.status(201).header('location', `/api/live/streams/${view.id}`).send(view);
      },
    );

    app.get(
      '/api/live/delay',
      {
        schema: {
          tags: ['live'],
          operationId: 'previewLiveDelay',
          summary:
            'Before going live: the delay a stream to these areas starts with, the ceiling it may be raised to while it plays, and the targeted sites whose measured link needs more',
          description:
            'Each site measures its link while it plays a stream (stream_stats.transit); a new stream starts at what the slowest targeted site needs (not below delayMs), and is raised while it plays when a site asks for more, never above the ceiling. `sites`: the measured targeted sites, slowest first (at most 50), each with what it needs and whether that fits under the ceiling.',
          querystring: Type.Object(
            {
              areas: Type.String({ minLength: 1, maxLength: 2000, description: 'comma-separated area keys or codes' }),
              delayMs: Tuning.delayMs,
              maxDelayMs: Tuning.maxDelayMs,
              packetsPerMessage: Tuning.packetsPerMessage,
            },
            { additionalProperties: false },
          ),
          response: { 200: LiveDelayPreview },
        },
      },
      async (req) => {
        const q = req.query;
        const { areas } = targets(
          req,
          q.areas
            .split(',')
            .filter((k) => k.trim())
            .slice(0, 64),
        );
        return ctx.live.previewDelay(areas, {
          ...(q.delayMs !== undefined ? { delayMs: q.delayMs } : {}),
          ...(q.maxDelayMs !== undefined ? { maxDelayMs: q.maxDelayMs } : {}),
          ...(q.packetsPerMessage !== undefined ? { packetsPerMessage: q.packetsPerMessage } : {}),
        });
      },
    );

    /** Area ids whose streams the caller may see: streams reaching their area (its subtree or an ancestor); undefined = every stream. */
    const scopeOf = (areaId: number | null): Set<number> | undefined =>
      areaId === null ? undefined : new Set([...ctx.coverage.subtreeIds(areaId), ...ctx.coverage.areaPath(areaId)]);

    app.get(
      '/api/live/streams',
      {
        schema: {
          tags: ['live'],
          operationId: 'listLiveStreams',
          summary: 'Live streams on air and past, newest first (by start), with their statistics; paged with limit and before',
          description:
            "Only streams that reach the caller's area (a target inside it, or above it); `area` narrows to the streams that reached that area. `next`: pass it as `before` for the next page (null: no more). `state=live`: only those on air.",
          querystring: Type.Object(
            {
              state: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('all')])),
              area: Type.Optional(Type.String({ minLength: 1, maxLength: 60, description: 'area code or key: streams that reached it' })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'default 50' })),
              before: Type.Optional(Type.Integer({ minimum: 0, description: 'only streams started before this time (epoch ms): the `next` of the previous page' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: LiveStreamList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        let areaIds = scopeOf(p.user.areaId);
        if (q.area) {
          const area = ctx.coverage.resolveArea(q.area);
          requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
          areaIds = scopeOf(area.id);
        }
        return await ctx.live.list({ state: q.state ?? 'all', limit: q.limit ?? 50, ...(q.before !== undefined ? { before: q.before } : {}), ...(areaIds ? { areaIds } : {}) });
      },
    );

    app.get(
      '/api/live/streams/:id',
      {
        schema: {
          tags: ['live'],
          operationId: 'getLiveStream',
          summary:
            "One live stream, on air or past, with statistics: server pacing, sites (received, late, lost, concealed), play-time skew between sites, each site's latest report, and how it ended",
          description:
            "`silent`: the targeted sites (inside the caller's area) that sent no report on this stream, with their condition now and why, in English and Vietnamese; `silent.total` counts them all, `silent.sites` lists at most `silentLimit` (default 500).",
          params: StreamId,
          querystring: Type.Object({ silentLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })) }, { additionalProperties: false }),
          response: { 200: LiveStreamDetail },
        },
      },
      async (req) => {
        const areaIds = await ctx.live.areaIdsOf(req.params.id);
        const view = areaIds && (await ctx.live.get(req.params.id));
        if (!areaIds || !view) throw Errors.notFound('live_stream', req.params.id);
        const p = requirePermission(req, 'read');
        const scope = scopeOf(p.user.areaId);
        // Another commune's stream is not found, as the other reads of one thing outside the caller's area.
        if (scope && !areaIds.some((a) => scope.has(a))) throw Errors.notFound('live_stream', req.params.id);
        // Which villages heard it: each reporting site's name and area (of the caller's area only).
        const index = ctx.coverage.areaIndex();
        const inScope = (siteId: string) => {
          const s = ctx.sites.entry(siteId);
          return s !== undefined && scope!.has(s.areaId);
        };
        const reportsInScope = scope ? view.siteReports.filter((r) => inScope(r.siteId)) : view.siteReports;
        const siteReports = reportsInScope.map((r) => {
          const site = ctx.sites.entry(r.siteId);
          const area = site ? index.byId.get(site.areaId) : undefined;
          return { ...r, siteName: site?.name ?? null, areaKey: site?.areaKey ?? null, areaName: area?.name ?? null };
        });
        // …and which did not: every targeted site (within the caller's area) that never reported.
        const within = p.user.areaId === null ? undefined : ctx.coverage.subtreeIds(p.user.areaId);
        const targetedAreas = new Set<number>();
        for (const a of areaIds) for (const id of ctx.coverage.subtreeIds(a)) if (!within || within.has(id)) targetedAreas.add(id);
        const targeted = (await ctx.sites.list({ areaIds: targetedAreas })).map((s) => ({ siteId: s.id, name: s.name, areaName: index.byId.get(s.areaId)?.name ?? null }));
        const silent = silentSites(targeted, new Set(view.siteReports.map((r) => r.siteId)), (id) => ctx.fleet.classify(id), req.query.silentLimit ?? 500);
        return { ...view, siteReports, targetedSites: targeted.length, silent };
      },
    );

    app.post(
      '/api/live/streams/:id/stop',
      {
        schema: {
          tags: ['live'],
          operationId: 'stopLiveStream',
          summary: 'Stop a live stream: every site falls silent and switches its amplifier off as its profile says',
          params: StreamId,
          response: { 200: LiveStreamView },
        },
      },
      async (req) => {
        const areas = ctx.live.areasOf(req.params.id);
        if (!areas) {
          requirePermission(req, 'live.broadcast');
          // On air through another server: the same scope, over the areas in the record; its server carries the stop out.
          const elsewhere = await ctx.live.areaIdsElsewhere(req.params.id);
          if (elsewhere) {
            let principal = requirePermission(req, 'live.broadcast');
            for (const id of elsewhere) principal = requirePermission(req, 'live.broadcast', ctx.coverage.areaPath(id));
            return await ctx.live.stop(req.params.id, principal.user);
          }
          // A past stream known only from the record.
          if (await ctx.live.areaIdsOf(req.params.id)) throw fail('LOANET_STREAM_ENDED', { id: String(req.params.id) });
          throw Errors.notFound('live_stream', req.params.id);
        }
        let principal = requirePermission(req, 'live.broadcast');
        for (const a of areas) principal = requirePermission(req, 'live.broadcast', a.path);
        return await ctx.live.stop(req.params.id, principal.user);
      },
    );

    app.get(
      '/api/live/voice',
      {
        websocket: true,
        schema: {
          tags: ['live'],
          operationId: 'liveVoice',
          summary: 'WebSocket: a live voice (binary PCM s16le 48 kHz mono, or WebM/Opus with ?format=webm)',
          description:
            "Open with an HTTP GET carrying `Connection: Upgrade` and `Upgrade: websocket` (RFC 6455), authenticated like every /api route (bearer header, or the console's session cookie) before the upgrade. " +
            "The client then sends binary messages: raw PCM, signed 16-bit little-endian, 48 kHz, mono (the console's AudioWorklet), or with ?format=webm the chunks of MediaRecorder's WebM/Opus. " +
            'The stream starts when the socket opens and stops when the client closes it; the server closes it with 1000 when the stream ends, and refuses after the upgrade with a close frame naming why (4403 not allowed in a target area, 4404 unknown area).',
          querystring: VoiceQuery,
          response: { 101: { description: 'Switching Protocols: the WebSocket is open; audio flows from the client as binary messages' } },
        },
      },
      (socket, req) => {
        const q = req.query as typeof VoiceQuery.static;
        let started: { id: number } | undefined;
        let principal: Principal | undefined;
        let push: ((c: Buffer) => void) | undefined;
        let finishInput = () => {};
        let closed = false;
        let stopAsked = false;
        // What the browser sends while the stream is being recorded (a few ms): kept, in order, up to a bound.
        const early: Buffer[] = [];
        let earlyBytes = 0;
        const format = q.format ?? 'pcm';
        const ffmpeg = format === 'webm' ? ffmpegPath() : undefined;
        /** An operator's stop (or the socket closing): a stream that ended meanwhile has nothing left to stop. */
        const stopStream = () => {
          if (started && principal) ctx.live.stop(started.id, principal.user).catch(() => undefined);
        };
        const onClose = () => {
          finishInput();
          // A voice ends with its socket: for PCM at once, for WebM when ffmpeg has drained.
          if (!ffmpeg) stopStream();
        };
        socket.on('message', (data: Buffer, isBinary: boolean) => {
          if (!isBinary) {
            // A text message {"type":"stop"} ends the stream as an operator's stop.
            let stop = false;
            try {
              stop = (JSON.parse(data.toString('utf8')) as { type?: unknown }).type === 'stop';
            } catch {
              /* not JSON */
            }
            if (stop && started) stopStream();
            else if (stop) stopAsked = true;
            return;
          }
          if (push) push(data);
          else if (earlyBytes + data.length <= EARLY_VOICE_BYTES) {
            early.push(data);
            earlyBytes += data.length;
          }
        });
        socket.on('close', () => {
          closed = true;
          if (started) onClose();
        });
        const refuse = (err: unknown) => {
          const e = err as { statusCode?: number; code?: string; message?: string; params?: unknown };
          if (socket.readyState !== socket.OPEN) return;
          // The code and its parameters, as an HTTP error answer has them: the console words them.
          socket.send(JSON.stringify({ type: 'error', error: e.code ?? 'LOANET_INTERNAL', message: e.message ?? 'internal error', ...(e.params ? { params: e.params } : {}) }));
          // 4000 + HTTP status: the console shows why (4403 forbidden, 4409 same priority on air).
          socket.close(4000 + ((e.statusCode ?? 500) % 1000), (e.message ?? '').slice(0, 120));
          // A browser answers the close at once; a client that never does is cut instead of held for ws' 30 s close timeout.
          setTimeout(() => socket.terminate(), REFUSED_CLOSE_MS).unref();
        };
        let areas: LiveArea[];
        try {
          ({ areas, principal } = targets(req, q.areas.split(',')));
        } catch (err) {
          refuse(err);
          return;
        }
        let pushToStream: (c: Buffer) => void = () => {};
        ctx.live
          .start({ source: { kind: 'browser', format }, areas, actor: principal.user, ...tuning(q) }, (stream, end) => {
            const closeSocket = () => {
              if (socket.readyState === socket.OPEN) socket.close(1000, 'stream ended');
            };
            if (ffmpeg) {
              const child = new FfmpegPcmSource(ffmpeg, webmInput(), {
                data: (c) => stream.push(c),
                exit: (e) => {
                  if (!e.closedByUs) end('source_lost', e.code === 0 ? 'the browser stopped sending' : `WebM decoding failed (${e.code ?? e.signal}): ${e.stderrTail}`);
                  closeSocket();
                },
              });
              pushToStream = (c) => child.write(c);
              finishInput = () => child.endInput();
              return { pause() {}, resume() {}, close: () => (child.close(), closeSocket()) };
            }
            pushToStream = (c) => {
              // PCM s16le: an odd byte count cannot be samples.
              if (c.length % 2 !== 0) {
                end('error', `a binary message of ${c.length} bytes is not 16-bit PCM`);
                return;
              }
              stream.push(c);
            };
            finishInput = () => end('source_lost', 'the browser disconnected');
            return { pause() {}, resume() {}, close: closeSocket };
          })
          .then((view) => {
            started = view;
            if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'started', stream: view }));
            push = pushToStream;
            for (const c of early.splice(0)) push(c);
            if (closed) onClose();
            else if (stopAsked) stopStream();
          }, refuse);
      },
    );
  };
