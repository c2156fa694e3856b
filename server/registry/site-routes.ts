/**
 * Sites: registry (register with a one-time credential, update, retire,
 * rotate), their live status with reasons, history, uptime, and commands.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { COMMAND_TYPES, type CommandType } from '../../protocol/index.ts';
import { requirePermission, type Permission } from '../http/auth.ts';
import { Errors } from '../errors.ts';
import type { Site } from './sites.ts';
import { siteFor as siteAccess } from './site-access.ts';
import { itemIdOfEntry, sitePlaying, type PlayingNames } from './site-playing.ts';
import { conditionShares } from '../coverage/uptime.ts';
import { SITE_CONDITIONS } from '../coverage/model.ts';
import { CommandList, CommandRecord, ExpectedDevice, SiteCreated, SiteCredential, SiteDetail, SiteEvents, SiteList, SiteRetired, SiteUptime, SiteView } from '../../api/sites.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'alerts' | 'audit' | 'broker' | 'commands' | 'config' | 'coverage' | 'live' | 'schedule' | 'siteHistory' | 'fleet' | 'now' | 'sites'>;

const Kind = Type.Union([Type.Literal('station'), Type.Literal('cluster')]);
const Lat = Type.Union([Type.Number({ minimum: -90, maximum: 90 }), Type.Null()]);
const Lon = Type.Union([Type.Number({ minimum: -180, maximum: 180 }), Type.Null()]);
const SiteId = Type.Object({ id: Type.String({ maxLength: 64 }) });

export const siteRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const view = (s: Site) => {
      const verdict = ctx.fleet.classify(s.id);
      const obs = ctx.fleet.observation(s.id);
      const cached = ctx.fleet.verdict(s.id);
      return {
        id: s.id,
        name: s.name,
        kind: s.kind,
        area: s.areaKey,
        lat: s.lat,
        lon: s.lon,
        profile: s.profile,
        expectedDevices: s.expectedDevices,
        monitorMic: s.monitorMic,
        retiredAt: s.retiredAt,
        status: obs
          ? {
              condition: verdict?.condition ?? 'unverified',
              since: cached && cached.condition === verdict?.condition ? cached.since : null,
              reasons: verdict?.reasons ?? [],
              connected: obs.connected,
              firstSeenAt: obs.firstSeenAt,
              lastSeenAt: obs.lastSeenAt,
              lastSoundVerifiedAt: obs.lastSoundVerifiedAt,
              lastSoundCheck: obs.lastSoundCheck,
              telemetry: obs.telemetry,
            }
          : null,
      };
    };

    /** A bulletin's title is read from the schedule's (async) store before naming (the site's route below). */
    const playingNames: Omit<PlayingNames, 'itemTitle'> = {
      alertTitle: (alertId) => ctx.alerts.service.get(alertId)?.title,
      live: (streamId) => {
        const s = ctx.live.recent(streamId);
        return s ? { label: s.source.label, kind: s.source.kind } : undefined;
      },
    };

    /**
     * Load a site and check the caller may do `p` where it is (and, for a move,
     * where it goes). A site outside the caller's area is not found (404), so
     * site ids of other communes cannot be probed.
     */
    const siteFor = (req: FastifyRequest, id: string, p: Permission, newAreaId?: number) => siteAccess(ctx, req, id, p, newAreaId);

    app.get(
      '/api/sites',
      {
        schema: {
          tags: ['sites'],
          operationId: 'listSites',
          summary: 'List sites with their condition; filter by area subtree, kind, condition or text',
          querystring: Type.Object({
            area: Type.Optional(Type.String()),
            kind: Type.Optional(Kind),
            condition: Type.Optional(Type.Union(SITE_CONDITIONS.map((c) => Type.Literal(c)))),
            q: Type.Optional(Type.String({ maxLength: 100 })),
            includeRetired: Type.Optional(Type.Boolean()),
            brief: Type.Optional(Type.Boolean({ description: 'only id, name, kind, area, lat, lon and condition (a map of a province without every telemetry)' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50_000 })),
            offset: Type.Optional(Type.Integer({ minimum: 0 })),
          }),
          response: { 200: SiteList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const area = req.query.area ? ctx.coverage.resolveArea(req.query.area) : undefined;
        if (area) requirePermission(req, 'read', ctx.coverage.areaPath(area.id));
        const scopeId = area?.id ?? p.user.areaId;
        const areaIds = scopeId !== null && scopeId !== undefined ? ctx.coverage.subtreeIds(scopeId) : undefined;
        let list = (await ctx.sites.list({ areaIds, kind: req.query.kind, q: req.query.q, includeRetired: req.query.includeRetired })).map(view);
        if (req.query.condition) list = list.filter((s) => s.status?.condition === req.query.condition);
        const offset = req.query.offset ?? 0;
        const limit = req.query.limit ?? 1000;
        const page = list.slice(offset, offset + limit);
        if (req.query.brief) {
          return {
            total: list.length,
            sites: page.map((s) => ({ id: s.id, name: s.name, kind: s.kind, area: s.area, lat: s.lat, lon: s.lon, condition: s.status?.condition ?? 'unverified' })),
          };
        }
        return { total: list.length, sites: page };
      },
    );

    app.get(
      '/api/sites/:id',
      { schema: { tags: ['sites'], operationId: 'getSite', summary: 'One site with its live status and reasons', params: SiteId, response: { 200: SiteDetail } } },
      async (req) => {
        const { site } = await siteFor(req, req.params.id, 'read');
        // areaChannels: what the board hears alerts and live streams on (its area and every ancestor), delivered in its site configuration.
        const obs = ctx.fleet.observation(site.id);
        const playingNow = obs?.telemetry?.playing;
        // An item deleted since (or an id the agent made up): played, but unnamed.
        const item = playingNow?.kind === 'bulletin' ? await ctx.schedule.service.get(itemIdOfEntry(playingNow.id)).catch(() => undefined) : undefined;
        const playing = sitePlaying(obs?.connected ?? false, playingNow, { ...playingNames, itemTitle: () => item?.title });
        return { ...view(site), areaChannels: ctx.coverage.channelKeysOfArea(site.areaId), pendingCommands: await ctx.commands.pendingFor(site.id), playing };
      },
    );

    app.post(
      '/api/sites',
      {
        schema: {
          tags: ['sites'],
          operationId: 'createSite',
          summary: 'Register a site; answers its credential ONCE (only a hash is kept)',
          body: Type.Object(
            {
              id: Type.Optional(Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$' })),
              name: Type.String({ minLength: 1, maxLength: 200 }),
              kind: Kind,
              area: Type.String({ description: 'area code or key (2025.02647)' }),
              lat: Type.Optional(Lat),
              lon: Type.Optional(Lon),
              profile: Type.Optional(Type.String({ maxLength: 64 })),
              expectedDevices: Type.Optional(Type.Array(ExpectedDevice, { maxItems: 32 })),
              monitorMic: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 201: SiteCreated },
        },
      },
      async (req, reply) => {
        const area = ctx.coverage.resolveArea(req.body.area);
        const p = requirePermission(req, 'registry.write', ctx.coverage.areaPath(area.id));
        const { site, credential } = await ctx.sites.create({ ...req.body, areaKey: area.key });
        ctx.fleet.upsertSite(site);
        await ctx.audit.record(p.user, 'site.create', site.id, { area: site.areaKey, kind: site.kind });
        return reply.status(201).send({ site: view(site), credential });
      },
    );

    app.patch(
      '/api/sites/:id',
      {
        schema: {
          tags: ['sites'],
          operationId: 'updateSite',
          summary: 'Update a site',
          description: 'A user scoped to an area changes only its own sites (others are 404) and moves them only inside its area (403 naming `area`).',
          params: SiteId,
          body: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              kind: Type.Optional(Kind),
              area: Type.Optional(Type.String()),
              lat: Type.Optional(Lat),
              lon: Type.Optional(Lon),
              profile: Type.Optional(Type.String({ maxLength: 64 })),
              expectedDevices: Type.Optional(Type.Array(ExpectedDevice, { maxItems: 32 })),
              monitorMic: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 200: SiteView },
        },
      },
      async (req) => {
        const newArea = req.body.area ? ctx.coverage.resolveArea(req.body.area) : undefined;
        const { site: before, user } = await siteFor(req, req.params.id, 'registry.write', newArea?.id);
        const areaKey = newArea?.key;
        const site = await ctx.sites.update(before.id, { ...req.body, areaKey });
        ctx.fleet.upsertSite(site);
        // Its channels changed: make it reconnect so the broker applies the new ACL.
        if (site.areaId !== before.areaId) ctx.broker.disconnectSite(site.id);
        await ctx.audit.record(user, 'site.update', site.id, req.body);
        return view(site);
      },
    );

    app.delete(
      '/api/sites/:id',
      {
        schema: {
          tags: ['sites'],
          operationId: 'retireSite',
          summary: 'Retire a site: its credential is revoked at once, its history kept',
          params: SiteId,
          response: { 200: SiteRetired },
        },
      },
      async (req) => {
        const { site, user } = await siteFor(req, req.params.id, 'registry.write');
        const retired = await ctx.sites.retire(site.id);
        ctx.fleet.removeSite(site.id);
        ctx.broker.disconnectSite(site.id);
        await ctx.audit.record(user, 'site.retire', site.id);
        return { id: retired.id, retiredAt: retired.retiredAt };
      },
    );

    app.post(
      '/api/sites/:id/credential',
      {
        schema: {
          tags: ['sites'],
          operationId: 'rotateSiteCredential',
          summary: 'Rotate the site credential; the old one is refused at once. Answers the new one ONCE.',
          params: SiteId,
          response: { 200: SiteCredential },
        },
      },
      async (req) => {
        const { site, user } = await siteFor(req, req.params.id, 'registry.write');
        const credential = await ctx.sites.rotateCredential(site.id);
        ctx.broker.disconnectSite(site.id);
        await ctx.audit.record(user, 'site.credential.rotate', site.id);
        return { credential };
      },
    );

    app.get(
      '/api/sites/:id/events',
      {
        schema: {
          tags: ['sites'],
          operationId: 'listSiteEvents',
          summary: 'History of a site: condition changes, connects, faults, sound checks',
          params: SiteId,
          querystring: Type.Object({
            from: Type.Optional(Type.Integer()),
            to: Type.Optional(Type.Integer()),
            type: Type.Optional(Type.String()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })),
          }),
          response: { 200: SiteEvents },
        },
      },
      async (req) => {
        const { site } = await siteFor(req, req.params.id, 'read');
        return { events: await ctx.siteHistory.events(site.id, req.query) };
      },
    );

    app.get(
      '/api/sites/:id/uptime',
      {
        schema: {
          tags: ['sites'],
          operationId: 'getSiteUptime',
          summary: 'Share of time in each condition over a window (default the last 30 days)',
          params: SiteId,
          querystring: Type.Object({ from: Type.Optional(Type.Integer()), to: Type.Optional(Type.Integer()) }),
          response: { 200: SiteUptime },
        },
      },
      async (req) => {
        const { site } = await siteFor(req, req.params.id, 'read');
        const to = req.query.to ?? ctx.now();
        const from = req.query.from ?? to - 30 * 86_400_000;
        const { before, transitions } = await ctx.siteHistory.conditions(site.id, from, to);
        return { siteId: site.id, ...conditionShares(transitions, { from: Math.max(from, site.createdAt), to }, before ?? 'unverified') };
      },
    );

    app.post(
      '/api/sites/:id/commands',
      {
        schema: {
          tags: ['commands'],
          operationId: 'sendCommand',
          summary: 'Send a command (set_volume, amp_power, test_tone, sound_check, reboot, set_acoustic_delay); waits up to waitMs for the result',
          description:
            'params: set_volume {level 0-100}; amp_power {on}; test_tone {hz?, durationMs?, level?}; sound_check {}; reboot {}; set_acoustic_delay {metres -100..1000} (live streams starting afterwards play metres / 343 m/s later at the site; kept across agent restarts). A command for an offline site waits until it comes back or ttlS runs out.',
          params: SiteId,
          body: Type.Object(
            {
              type: Type.Union(COMMAND_TYPES.map((t) => Type.Literal(t))),
              params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
              ttlS: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
              waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: { ...CommandRecord, description: 'the command ended (succeeded, failed or expired) within waitMs' },
            202: { ...CommandRecord, description: 'the command is queued or sent: follow it at GET /api/commands/{id} or on the event stream' },
          },
        },
      },
      async (req, reply) => {
        const { site, user } = await siteFor(req, req.params.id, 'site.command');
        const cmd = await ctx.commands.issue(site.id, req.body.type as CommandType, req.body.params ?? {}, req.body.ttlS ?? ctx.config.commandTtlS, user.username);
        await ctx.audit.record(user, `site.command.${cmd.type}`, site.id, { commandId: cmd.id, params: cmd.params });
        const final = await ctx.commands.waitFor(cmd.id, req.body.waitMs ?? 0);
        return reply.status(final.status === 'succeeded' || final.status === 'failed' || final.status === 'expired' ? 200 : 202).send(final);
      },
    );

    app.get(
      '/api/sites/:id/commands',
      { schema: { tags: ['commands'], operationId: 'listSiteCommands', summary: 'Recent commands of a site', params: SiteId, response: { 200: CommandList } } },
      async (req) => {
        const { site } = await siteFor(req, req.params.id, 'read');
        return { commands: await ctx.commands.list(site.id) };
      },
    );

    app.get(
      '/api/commands/:id',
      {
        schema: {
          tags: ['commands'],
          operationId: 'getCommand',
          summary: 'A command and its result',
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 200: CommandRecord },
        },
      },
      async (req) => {
        const c = await ctx.commands.get(req.params.id);
        if (!c) throw Errors.notFound('command', req.params.id);
        await siteFor(req, c.siteId, 'read');
        return c;
      },
    );
  };
