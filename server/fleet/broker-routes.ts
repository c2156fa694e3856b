/**
 * What an external broker needs from loanet:
 * - Mosquitto: a password file and an ACL file generated from the registry,
 *   for a province-wide admin (they hold every site's hash), audited.
 * - EMQX: HTTP authentication and authorization hooks, called by the broker
 *   (not by people), so they take no bearer token but a shared secret header
 *   (`x-loanet-hook-secret` = LOANET_BROKER_HOOK_SECRET), compared in constant
 *   time. Unset secret = hooks off (503).
 * docs/operations.md shows both set-ups.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { logSafe } from '../log-safe.ts';
import { Errors, fail } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import { authorize, type Actor } from './acl.ts';
import { EmqxAuthnResult, EmqxAuthzResult, TextFile } from '../../api/broker.ts';
import { mosquittoAclFile, mosquittoPasswdFile, mosquittoPasswordHash, type MosquittoSite } from './mosquitto-files.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'audit' | 'config' | 'coverage' | 'now' | 'siteAuthority' | 'sites'>;

export const HOOK_SECRET_HEADER = 'x-loanet-hook-secret';
/** Response header of the password file: how many active sites have no Mosquitto hash yet (listed in `# rotate:` lines). */
export const WITHOUT_HASH_HEADER = 'x-loanet-sites-without-mosquitto-hash';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string equality (hashing first makes the lengths equal). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export const brokerRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const requireProvinceAdmin = (req: FastifyRequest) => {
      const p = requirePermission(req, 'registry.write');
      if (p.user.role !== 'admin' || p.user.areaId !== null) throw Errors.forbidden({ rule: 'network_admin', action: 'read_broker_files' });
      return p;
    };

    const mosquittoSites = async (): Promise<MosquittoSite[]> =>
      (await ctx.sites.brokerCredentials()).map((c) => ({ siteId: c.siteId, areaKeys: ctx.coverage.channelKeysOfArea(c.areaId), passwordHash: c.mosquittoHash }));

    const textSchema = (operationId: string, summary: string, file: string) => ({
      tags: ['broker'],
      operationId,
      summary,
      response: { 200: TextFile(file) },
    });

    app.get(
      '/api/broker/mosquitto/passwd',
      {
        schema: textSchema(
          'getMosquittoPasswd',
          'Mosquitto password file for every active site and the server user (admin; audited). Sites whose credential predates Mosquitto hashes are listed in "# rotate:" lines and counted in a response header.',
          'the password_file of mosquitto.conf',
        ),
      },
      async (req, reply) => {
        const p = requireProvinceAdmin(req);
        // Every server's user (they share LOANET_MQTT_PASSWORD), each hashed with its own salt.
        const servers = ctx.config.mqttServerUsers.map((username) => ({
          username,
          passwordHash: ctx.config.mqttPassword ? mosquittoPasswordHash(ctx.config.mqttPassword) : null,
        }));
        const { text, withoutHash } = mosquittoPasswdFile(await mosquittoSites(), servers, new Date(ctx.now()).toISOString());
        await ctx.audit.record(p.user, 'broker.mosquitto.passwd', null, { withoutHash: withoutHash.length });
        return reply.header('content-type', 'text/plain; charset=utf-8').header(WITHOUT_HASH_HEADER, String(withoutHash.length)).send(text);
      },
    );

    app.get(
      '/api/broker/mosquitto/acl',
      {
        schema: textSchema(
          'getMosquittoAcl',
          "Mosquitto ACL file: each site its own topics and its areas' audio, the server user loanet/v1/# and la/# (admin; audited)",
          'the acl_file of mosquitto.conf',
        ),
      },
      async (req, reply) => {
        const p = requireProvinceAdmin(req);
        const text = mosquittoAclFile(await mosquittoSites(), ctx.config.mqttServerUsers, new Date(ctx.now()).toISOString());
        await ctx.audit.record(p.user, 'broker.mosquitto.acl', null);
        return reply.header('content-type', 'text/plain; charset=utf-8').send(text);
      },
    );

    const checkHookSecret = (req: FastifyRequest) => {
      const expected = ctx.config.brokerHookSecret;
      if (!expected)
        throw Errors.unavailable('hooks_off', 'the broker hooks are off: set LOANET_BROKER_HOOK_SECRET on the loanet server and send it in the x-loanet-hook-secret header');
      const given = req.headers[HOOK_SECRET_HEADER];
      if (typeof given !== 'string' || !sameSecret(given, expected)) {
        throw fail('LOANET_UNAUTHENTICATED', { header: HOOK_SECRET_HEADER });
      }
    };

    const hookConfig = { public: true };

    app.post(
      '/api/broker/emqx/authn',
      {
        config: hookConfig,
        schema: {
          tags: ['broker'],
          operationId: 'emqxAuthn',
          summary: `EMQX HTTP authentication hook (called by the broker; ${HOOK_SECRET_HEADER} header, no token)`,
          security: [],
          body: Type.Object({ clientid: Type.String({ maxLength: 256 }), username: Type.String({ maxLength: 256 }), password: Type.String({ maxLength: 1024 }) }),
          response: { 200: EmqxAuthnResult },
        },
      },
      async (req) => {
        checkHookSecret(req);
        const { clientid, username, password } = req.body;
        const serverPassword = ctx.config.mqttPassword;
        if (ctx.config.mqttServerUsers.includes(username)) {
          const ok = serverPassword !== undefined && sameSecret(password, serverPassword);
          return { result: ok ? ('allow' as const) : ('deny' as const), is_superuser: false };
        }
        // The same rule as the embedded broker: client id = username = site id, a valid current secret, an active site.
        let ok = false;
        if (username === clientid) {
          try {
            ok = (await ctx.siteAuthority.verifyCredential(username, password)) && ctx.siteAuthority.areaKeysOf(username) !== undefined;
          } catch (err) {
            req.log.error({ err, siteId: logSafe(username, 80) }, 'credential check failed');
            throw Errors.unavailable('check_failed', 'credential check failed');
          }
        }
        return { result: ok ? ('allow' as const) : ('deny' as const), is_superuser: false };
      },
    );

    app.post(
      '/api/broker/emqx/authz',
      {
        config: hookConfig,
        schema: {
          tags: ['broker'],
          operationId: 'emqxAuthz',
          summary: `EMQX HTTP authorization hook (called by the broker; ${HOOK_SECRET_HEADER} header, no token)`,
          security: [],
          body: Type.Object({
            username: Type.String({ maxLength: 256 }),
            topic: Type.String({ maxLength: 1024 }),
            action: Type.Union([Type.Literal('publish'), Type.Literal('subscribe')]),
          }),
          response: { 200: EmqxAuthzResult },
        },
      },
      async (req) => {
        checkHookSecret(req);
        const { username, topic, action } = req.body;
        let actor: Actor | undefined;
        if (ctx.config.mqttServerUsers.includes(username)) actor = { kind: 'server' };
        else {
          const areaKeys = ctx.siteAuthority.areaKeysOf(username);
          if (areaKeys) actor = { kind: 'site', siteId: username, areaKeys };
        }
        const d = actor ? authorize(actor, action, topic) : { allow: false as const, reason: `unknown or retired site ${username}` };
        if (!d.allow) req.log.warn({ username: logSafe(username, 80), topic: logSafe(topic), action }, `broker hook denied: ${logSafe(d.reason, 300)}`);
        return { result: d.allow ? ('allow' as const) : ('deny' as const) };
      },
    );
  };
