/** Login, API tokens, the current user, and user management (admin). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../../context.ts';
import { Errors } from '../../errors.ts';
import { ROLES, type Role } from '../../auth/users.ts';
import { permissionsOf, requirePermission } from '../auth.ts';
import type { LoginLimiter } from '../../auth/login-limiter.ts';
import { clearedSessionCookie, cookieShouldBeSecure, csrfTokenFor, readCookie, SESSION_COOKIE, sessionCookie } from '../session-cookie.ts';

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const authRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const secureCookie = (req: FastifyRequest) => cookieShouldBeSecure(ctx.config.cookieSecure, req.protocol, req.headers['x-forwarded-proto']);

    app.post(
      '/api/auth/login',
      {
        config: { public: true },
        schema: {
          tags: ['auth'],
          summary: 'Log in with username and password; answers a bearer token (or, with cookie: true, sets the console\'s HttpOnly session cookie and answers its CSRF token)',
          security: [],
          body: Type.Object(
            {
              username: Type.String({ minLength: 1, maxLength: 100 }),
              password: Type.String({ minLength: 1, maxLength: 200 }),
              cookie: Type.Optional(Type.Boolean({ description: 'browser login: the token goes in an HttpOnly cookie, never in the answer' })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
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
          ctx.audit.record(r.user, 'auth.login', r.user.username, req.body.cookie ? { via: 'cookie' } : undefined);
          const user = { username: r.user.username, role: r.user.role };
          if (req.body.cookie) {
            reply.header('set-cookie', sessionCookie(r.token, (r.expiresAt - ctx.now()) / 1000, secureCookie(req)));
            return { csrfToken: csrfTokenFor(r.token), expiresAt: r.expiresAt, user };
          }
          return { token: r.token, expiresAt: r.expiresAt, user };
        } catch (e) {
          limits.forEach(([l, k]) => l.fail(k, t));
          throw e;
        }
      },
    );

    app.get('/api/auth/me', { schema: { tags: ['auth'], summary: 'The authenticated user' } }, async (req) => {
      const p = requirePermission(req, 'read');
      const area = p.user.areaId !== null ? ctx.areas.byId(p.user.areaId) : undefined;
      const cookieToken = req.authVia === 'cookie' ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
      return {
        username: p.user.username,
        role: p.user.role,
        area: area ? area.key : null,
        areaName: area ? area.name : null,
        tokenKind: p.tokenKind,
        permissions: permissionsOf(p.user.role),
        // The console reloads: it gets its CSRF token again from the cookie session it still has.
        ...(cookieToken ? { csrfToken: csrfTokenFor(cookieToken) } : {}),
      };
    });

    app.get('/api/auth/tokens', { schema: { tags: ['auth'], summary: 'Your own API tokens (names and dates; a token itself is shown only once, when made)' } }, async (req) => {
      const p = requirePermission(req, 'read');
      return { tokens: ctx.users.listApiTokens(p.user.id) };
    });

    app.delete(
      '/api/auth/tokens/:id',
      { schema: { tags: ['auth'], summary: 'Revoke one of your own API tokens', params: Type.Object({ id: Type.Integer({ minimum: 1 }) }) } },
      async (req) => {
        const p = requirePermission(req, 'read');
        if (!ctx.users.revokeApiToken(p.user.id, req.params.id)) throw Errors.notFound(`API token ${req.params.id} of ${p.user.username}`);
        ctx.audit.record(p.user, 'auth.token.revoke', String(req.params.id));
        return { ok: true };
      },
    );

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
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        ctx.users.revokeToken(p.tokenId);
        ctx.audit.record(p.user, 'auth.logout', p.user.username);
        if (req.authVia === 'cookie') reply.header('set-cookie', clearedSessionCookie(secureCookie(req)));
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

    app.patch(
      '/api/users/:id',
      {
        schema: {
          tags: ['users'],
          summary: "Change a user's role, area scope, or disable/enable them (admin); disabling ends their sessions and tokens",
          params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
          body: Type.Object(
            {
              role: Type.Optional(RoleSchema),
              area: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'area code or key the user is scoped to; null for the whole network' })),
              disabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const target = ctx.users.byId(req.params.id);
        if (!target) throw Errors.notFound(`user ${req.params.id}`);
        // An admin locking themselves out would leave nobody to undo it (the bootstrap reset needs a restart).
        if (req.body.disabled === true && target.id === p.user.id) throw Errors.badRequest('disabled: you cannot disable your own account / không thể tự khóa tài khoản của chính mình', 'disabled');
        const area = req.body.area === undefined ? undefined : req.body.area === null ? null : ctx.coverage.resolveArea(req.body.area);
        const u = ctx.users.update(target.id, { role: req.body.role as Role | undefined, areaId: area === undefined ? undefined : (area?.id ?? null), disabled: req.body.disabled });
        const areaOut = u.areaId !== null ? ctx.areas.byId(u.areaId) : undefined;
        ctx.audit.record(p.user, 'user.update', u.username, { role: req.body.role, area: area === undefined ? undefined : (area?.key ?? null), disabled: req.body.disabled });
        return { id: u.id, username: u.username, role: u.role, area: areaOut?.key ?? null, areaName: areaOut?.name ?? null, createdAt: u.createdAt, disabledAt: u.disabledAt };
      },
    );

    app.get('/api/users', { schema: { tags: ['users'], summary: 'Every user with role and area scope (admin)' } }, async (req) => {
      requirePermission(req, 'users.manage');
      return {
        users: ctx.users.list().map((u) => {
          const area = u.areaId !== null ? ctx.areas.byId(u.areaId) : undefined;
          return { id: u.id, username: u.username, role: u.role, area: area?.key ?? null, areaName: area?.name ?? null, createdAt: u.createdAt, disabledAt: u.disabledAt };
        }),
      };
    });

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
