/**
 * Enrolment of boards with a one-time code (server/enrolment/): a technician
 * or admin makes a code for a site (POST /api/sites/{id}/enrolment); a board
 * trades it, without any login, for the site's credential (POST /api/enrol),
 * limited per address and overall, with a bounded body.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { siteFor } from '../registry/site-access.ts';
import { fail } from '../errors.ts';
import { EnrolmentService, type EnrolRefusalReason } from './service.ts';
import { EnrolLimiter } from './limiter.ts';
import { GuessStore } from '../auth/guess-store.ts';
import { loadEnrolmentKey } from './key.ts';
import { EnrolmentCreated, EnrolmentStatus, Enrolled, EnrolRefused, EnrolRequest } from '../../api/enrolment.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'audit' | 'broker' | 'config' | 'coverage' | 'store' | 'fleet' | 'now' | 'sites'>;

/** The request's code field is at most 32 characters: nothing a board sends needs more than this. */
const ENROL_BODY_LIMIT = 1024;

const REFUSAL_TEXT: Record<EnrolRefusalReason, string> = {
  unknown: "no such enrolment code: check it (8 characters, XXXX-XXXX) or make a new one on the site's page",
  expired: "this enrolment code has expired: make a new one on the site's page",
  used: "this enrolment code was already used (each code enrols one board once): make a new one on the site's page",
  replaced: 'a newer enrolment code was made for this site, and only the newest works: use that one',
  site_retired: 'the site of this enrolment code is retired: it cannot be enrolled',
};

export const enrolmentRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const service = new EnrolmentService({
      db: ctx.store.db,
      sites: ctx.sites,
      audit: ctx.audit,
      now: () => ctx.now(),
      key: loadEnrolmentKey(ctx.config.dataDir),
      ttlMs: ctx.config.enrolment.ttlMs,
      // Counted in the store: every server on one database draws on the same limits.
      limiter: new EnrolLimiter(new GuessStore(ctx.store.db, ctx.store.dialect), ctx.config.enrolment.limits),
    });

    /** The site, if the caller may enrol its board (registry/site-access.ts, as on every site route). */
    const siteToEnrol = (req: FastifyRequest, id: string) => siteFor(ctx, req, id, 'site.enrol');

    app.get(
      '/api/sites/:id/enrolment',
      {
        schema: {
          tags: ['sites'],
          operationId: 'getEnrolmentStatus',
          summary: "The site's enrolment code waiting to be used (when made, by whom, until when; never the code) and its last enrolment",
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 200: EnrolmentStatus },
        },
      },
      async (req) => service.status((await siteToEnrol(req, req.params.id)).site.id),
    );

    app.post(
      '/api/sites/:id/enrolment',
      {
        schema: {
          tags: ['sites'],
          operationId: 'createEnrolmentCode',
          summary: "Make a one-time enrolment code for the site's board (technicians, admins); answers it ONCE",
          description:
            'The code is valid for LOANET_ENROL_TTL_H hours (24 by default), once; a new code replaces the one not used yet. Trading it (POST /api/enrol) rotates the site credential, so a board enrolled before is disconnected then. 409 for a retired site.',
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 201: EnrolmentCreated },
        },
      },
      async (req, reply) => {
        const { site, user } = await siteToEnrol(req, req.params.id);
        const made = await service.create(site.id, user);
        const server = serverUrl(req);
        return reply.status(201).send({
          ...made,
          server,
          qr: `server=${server}\ncode=${made.code}\n`,
          replacesBoard: ctx.fleet.observation(site.id)?.firstSeenAt != null,
        });
      },
    );

    app.post(
      '/api/enrol',
      {
        config: { public: true },
        bodyLimit: ENROL_BODY_LIMIT,
        schema: {
          tags: ['sites'],
          operationId: 'enrol',
          summary: "A board trades a one-time enrolment code for its site's credential (no login; rate-limited)",
          description:
            'Answers the site id, a NEW secret (the board enrolled before is refused from now on), the broker URL as boards reach it and the area channels. 403 LOANET_ENROL_REFUSED with `reason` (unknown, expired, used, replaced, site_retired); 429 when too many codes were refused from this address or overall (LOANET_ENROL_FAILURES_ADDRESS, LOANET_ENROL_FAILURES_TOTAL per LOANET_ENROL_WINDOW_MIN), with Retry-After.',
          security: [],
          body: EnrolRequest,
          response: { 200: Enrolled, 403: EnrolRefused },
        },
      },
      async (req, reply) => {
        const r = await service.enrol(req.body.code, req.ip);
        if (!r.ok && r.kind === 'limited') {
          const retryAfterS = Math.max(1, Math.ceil(r.limit.retryAfterMs / 1000));
          const windowMinutes = ctx.config.enrolment.limits.windowMs / 60_000;
          reply.header('retry-after', String(retryAfterS));
          const limit = {
            limit: r.limit.kind,
            max: r.limit.limit,
            windowMinutes,
            retryAfterS,
            variable: r.limit.kind === 'address' ? 'LOANET_ENROL_FAILURES_ADDRESS' : 'LOANET_ENROL_FAILURES_TOTAL',
          };
          throw fail('LOANET_RATE_LIMITED', { what: 'enrolment', ...limit }, limit);
        }
        if (!r.ok) return reply.status(403).send({ error: 'LOANET_ENROL_REFUSED', message: REFUSAL_TEXT[r.reason], reason: r.reason });
        // The board enrolled before (if any) holds a secret that no longer works: close its connection now.
        ctx.broker.disconnectSite(r.siteId);
        const site = await ctx.sites.require(r.siteId);
        return {
          siteId: r.siteId,
          secret: r.secret,
          mqttUrl: ctx.config.enrolment.agentMqttUrl ?? `mqtt://${bracketed(req.hostname)}:${ctx.broker.status().port ?? ctx.config.mqttPort}`,
          areaChannels: ctx.coverage.channelKeysOfArea(site.areaId),
          heartbeatIntervalS: ctx.config.heartbeatIntervalS,
        };
      },
    );
  };

/** The server as this request reached it (behind a trusted proxy, as the proxy was asked). */
function serverUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

/** A host name for a URL: an IPv6 address in brackets (Fastify gives it either way). */
function bracketed(hostname: string): string {
  return hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
}
