/** Login, API tokens, the current user, and user management (admin). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../../context.ts';
import { Errors } from '../../errors.ts';
import { ROLES, type Role } from '../../auth/users.ts';
import { requirePermission } from '../auth.ts';
import type { LoginLimiter } from '../../auth/login-limiter.ts';

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const authRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/auth/login',
      {
        config: { public: true },
        schema: {
          tags: ['auth'],
          summary: 'Log in with username and password; answers a bearer token',
          security: [],
          body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        },
      },
      async (req) => {
        const t = ctx.now();
        const limits: Array<[LoginLimiter, string]> = [
          [ctx.loginLimits.byUser, req.body.username],
          [ctx.loginLimits.byAddress, req.ip],
        ];
        const wait = Math.max(...limits.map(([l, k]) => l.retryAfter(k, t)));
        if (wait > 0) throw Errors.tooManyRequests(`too many failed logins; try again in ${Math.ceil(wait / 60000)} minutes`);
        try {
          const r = await ctx.users.login(req.body.username, req.body.password, ctx.config.sessionTtlH * 3600 * 1000);
          // Only the user's own count is forgiven: one good account must not reset an address that is guessing others.
          ctx.loginLimits.byUser.succeed(req.body.username);
          ctx.audit.record(r.user, 'auth.login', r.user.username);
          return { token: r.token, expiresAt: r.expiresAt, user: { username: r.user.username, role: r.user.role } };
        } catch (e) {
          limits.forEach(([l, k]) => l.fail(k, t));
          throw e;
        }
      },
    );

    app.get('/api/auth/me', { schema: { tags: ['auth'], summary: 'The authenticated user' } }, async (req) => {
      const p = requirePermission(req, 'read');
      const area = p.user.areaId !== null ? ctx.areas.byId(p.user.areaId) : undefined;
      return { username: p.user.username, role: p.user.role, area: area ? area.key : null, tokenKind: p.tokenKind };
    });

    app.post(
      '/api/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          summary: 'Create a long-lived API token for a script (shown once)',
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 80 }), expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) }, { additionalProperties: false }),
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const expiresAt = req.body.expiresInDays ? ctx.now() + req.body.expiresInDays * 86_400_000 : null;
        const { token, id } = ctx.users.createApiToken(p.user.id, req.body.name, expiresAt);
        ctx.audit.record(p.user, 'auth.token.create', String(id), { name: req.body.name });
        return reply.status(201).send({ id, token, expiresAt });
      },
    );

    app.post(
      '/api/auth/password',
      {
        schema: {
          tags: ['auth'],
          summary: 'Change your own password; your other sessions are signed out',
          body: Type.Object({ currentPassword: Type.String({ minLength: 1, maxLength: 200 }), newPassword: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        await ctx.users.changePassword(p.user.id, req.body.currentPassword, req.body.newPassword, p.tokenId);
        ctx.audit.record(p.user, 'auth.password.change', p.user.username);
        return { ok: true };
      },
    );

    app.post(
      '/api/auth/logout',
      { schema: { tags: ['auth'], summary: 'Revoke the token used for this call' } },
      async (req) => {
        const p = requirePermission(req, 'read');
        ctx.users.revokeToken(p.tokenId);
        ctx.audit.record(p.user, 'auth.logout', p.user.username);
        return { ok: true };
      },
    );

    app.post(
      '/api/users',
      {
        schema: {
          tags: ['users'],
          summary: 'Create a user with a role, scoped to an area subtree (admin)',
          body: Type.Object(
            { username: Type.String(), password: Type.String(), role: RoleSchema, area: Type.Optional(Type.String({ description: 'area code or key the user is scoped to; omit for the whole network' })) },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'users.manage');
        const area = req.body.area ? ctx.coverage.resolveArea(req.body.area) : undefined;
        const u = ctx.users.create({ username: req.body.username, password: req.body.password, role: req.body.role as Role, areaId: area?.id ?? null });
        ctx.audit.record(p.user, 'user.create', u.username, { role: u.role, area: area?.key ?? null });
        return reply.status(201).send({ username: u.username, role: u.role, area: area?.key ?? null });
      },
    );

    app.get(
      '/api/audit',
      {
        schema: {
          tags: ['audit'],
          summary: 'The audit log, newest first (admin)',
          querystring: Type.Object({ from: Type.Optional(Type.Integer()), to: Type.Optional(Type.Integer()), username: Type.Optional(Type.String()), action: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000 })) }),
        },
      },
      async (req) => {
        requirePermission(req, 'audit.read');
        return { entries: ctx.audit.list(req.query) };
      },
    );
  };
