/** Login, API tokens, the current user, and user management (admin). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { Errors, fail, LoanetError } from '../errors.ts';
import type { Role } from './users.ts';
import { enforceScope, permissionsOf, requirePermission } from '../http/auth.ts';
import { ApiTokenCreated, ApiTokenList, ApiTokenRequest, LoginRequest, LoginResult, Me, PasswordChange, PasswordChanged, type ROLE_VALUES } from '../../api/auth.ts';
import { UserCreated, UserCreateRequest, UserList, UserPatchRequest, UserUnlocked, UserView } from '../../api/users.ts';
import { AuditList, AuditQuery } from '../../api/audit.ts';
import { Ok } from '../../api/common.ts';
import { auditVisible, userChangeRefusal, withinScope } from './scope-policy.ts';
import type { Attempt } from './login-limiter.ts';
import { clearedSessionCookie, cookieShouldBeSecure, csrfTokenFor, readCookie, SESSION_COOKIE, sessionCookie } from '../http/session-cookie.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'areas' | 'audit' | 'config' | 'coverage' | 'loginLimits' | 'now' | 'sites' | 'users'>;

// The contract's roles are the server's, both ways: a role added on one side only fails the typecheck.
const sameRoles: [Role] extends [(typeof ROLE_VALUES)[number]] ? ([(typeof ROLE_VALUES)[number]] extends [Role] ? true : never) : never = true;
void sameRoles;
const IdParam = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export const authRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const secureCookie = (req: FastifyRequest) => cookieShouldBeSecure(ctx.config.cookieSecure, req.protocol, req.headers['x-forwarded-proto']);

    /**
     * Reserve one password guess for `username` from this client before the
     * slow check (server/auth/login-limiter.ts), or refuse with 429 naming the
     * limit reached and when to try again (also in Retry-After).
     */
    const reserveGuess = async (username: string, req: FastifyRequest, reply: FastifyReply): Promise<Attempt> => {
      const a = await ctx.loginLimits.attempt(username, req.ip, ctx.now());
      if (a.ok) return a;
      const retryAfterS = Math.max(1, Math.ceil(a.retryAfterMs / 1000));
      const windowMinutes = ctx.config.login.windowMs / 60_000;
      reply.header('retry-after', String(retryAfterS));
      const limit = { limit: a.kind, max: a.limit, windowMinutes, retryAfterS };
      throw fail('LOANET_RATE_LIMITED', { what: 'login', ...limit }, limit);
    };

    app.post(
      '/api/auth/login',
      {
        config: { public: true },
        schema: {
          tags: ['auth'],
          operationId: 'login',
          summary: "Log in with username and password; answers a bearer token (or, with cookie: true, sets the console's HttpOnly session cookie and answers its CSRF token)",
          description:
            '400 names the field at fault; 401 wrong username or password; 429 too many failed logins (Retry-After); 503 too many password checks at once (try again: not counted as a guess).',
          security: [],
          body: LoginRequest,
          response: { 200: LoginResult },
        },
      },
      async (req, reply) => {
        const guess = await reserveGuess(req.body.username, req, reply);
        let r: Awaited<ReturnType<typeof ctx.users.login>>;
        try {
          r = await ctx.users.login(req.body.username, req.body.password, ctx.config.sessionTtlH * 3600 * 1000);
        } catch (e) {
          // Busy (503): no password was checked, so it is no guess.
          if (e instanceof LoanetError && e.statusCode === 503) await guess.release();
          else await guess.fail();
          throw e;
        }
        await guess.succeed();
        await ctx.audit.record(r.user, 'auth.login', r.user.username, req.body.cookie ? { via: 'cookie' } : undefined);
        const user = { username: r.user.username, role: r.user.role };
        if (req.body.cookie) {
          reply.header('set-cookie', sessionCookie(r.token, (r.expiresAt - ctx.now()) / 1000, secureCookie(req)));
          return { csrfToken: csrfTokenFor(r.token), expiresAt: r.expiresAt, user };
        }
        return { token: r.token, expiresAt: r.expiresAt, user };
      },
    );

    app.get('/api/auth/me', { schema: { tags: ['auth'], operationId: 'getMe', summary: 'The authenticated user', response: { 200: Me } } }, async (req) => {
      const p = requirePermission(req, 'read');
      const area = p.user.areaId !== null ? await ctx.areas.byId(p.user.areaId) : undefined;
      const cookieToken = req.authVia === 'cookie' ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
      return {
        username: p.user.username,
        role: p.user.role,
        area: area ? area.key : null,
        areaName: area ? area.name : null,
        tokenKind: p.tokenKind,
        permissions: [...permissionsOf(p.user.role)],
        // The console reloads: it gets its CSRF token again from the cookie session it still has.
        ...(cookieToken ? { csrfToken: csrfTokenFor(cookieToken) } : {}),
      };
    });

    app.get(
      '/api/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          operationId: 'listApiTokens',
          summary: 'Your own API tokens (names and dates; a token itself is shown only once, when made), and the lifetime a new one gets by default and at most (days)',
          response: { 200: ApiTokenList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        return { tokens: await ctx.users.listApiTokens(p.user.id), defaultDays: ctx.config.apiTokenDays, maxDays: ctx.config.apiTokenMaxDays };
      },
    );

    app.delete(
      '/api/auth/tokens/:id',
      {
        schema: {
          tags: ['auth'],
          operationId: 'revokeApiToken',
          summary: 'Revoke one of your own API tokens (404 for a token that is not yours)',
          params: IdParam,
          response: { 200: Ok },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        if (!(await ctx.users.revokeApiToken(p.user.id, req.params.id))) throw Errors.notFound('api_token', req.params.id, p.user.username);
        await ctx.audit.record(p.user, 'auth.token.revoke', String(req.params.id));
        return { ok: true as const };
      },
    );

    app.post(
      '/api/auth/tokens',
      {
        schema: {
          tags: ['auth'],
          operationId: 'createApiToken',
          summary:
            'Create an API token for a script (shown once). It expires: after LOANET_API_TOKEN_DAYS (90) days unless expiresInDays says otherwise, never later than LOANET_API_TOKEN_MAX_DAYS (365); changing your password revokes it unless keepTokens',
          // The contract's request, with the lifetime this deployment allows.
          body: Type.Object(
            {
              ...ApiTokenRequest.properties,
              expiresInDays: Type.Optional(
                Type.Integer({
                  minimum: 1,
                  maximum: ctx.config.apiTokenMaxDays,
                  description: `days until it expires (default ${ctx.config.apiTokenDays}, at most ${ctx.config.apiTokenMaxDays})`,
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: ApiTokenCreated },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const days = req.body.expiresInDays ?? ctx.config.apiTokenDays;
        const expiresAt = ctx.now() + days * 86_400_000;
        const { token, id } = await ctx.users.createApiToken(p.user.id, req.body.name, expiresAt);
        await ctx.audit.record(p.user, 'auth.token.create', String(id), { name: req.body.name, expiresInDays: days });
        return reply.status(201).send({ id, token, expiresAt });
      },
    );

    app.post(
      '/api/auth/password',
      {
        schema: {
          tags: ['auth'],
          operationId: 'changePassword',
          summary: 'Change your own password; your other sessions are signed out, and your API tokens revoked unless keepTokens',
          description:
            'Wrong current passwords count against the same limits as failed logins (429 when reached). The new password must follow the password policy: 400 with code LOANET_PASSWORD_TOO_SHORT, _TOO_LONG, _HAS_USERNAME or _COMMON, naming the rule and its limit.',
          body: PasswordChange,
          response: { 200: PasswordChanged },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        const { currentPassword, newPassword } = req.body;
        const guess = await reserveGuess(p.user.username, req, reply);
        try {
          ctx.users.assertPasswordAllowed(newPassword, p.user.username, 'newPassword');
          if (newPassword === currentPassword) throw fail('LOANET_PASSWORD_UNCHANGED', { field: 'newPassword' });
        } catch (e) {
          await guess.release();
          throw e;
        }
        const right = await ctx.users.verifyPassword(p.user.id, currentPassword).catch(async (e: unknown) => {
          await guess.release();
          throw e;
        });
        if (!right) {
          await guess.fail();
          throw fail('LOANET_PASSWORD_WRONG', { field: 'currentPassword' });
        }
        await guess.succeed();
        const hash = await ctx.users.preparePassword(newPassword, p.user.username, 'newPassword');
        const keepTokens = req.body.keepTokens === true;
        const revokedTokens = await ctx.users.setOwnPassword(p.user.id, hash, p.tokenId, keepTokens);
        await ctx.audit.record(p.user, 'auth.password.change', p.user.username, { revokedTokens, keepTokens });
        return { ok: true as const, revokedTokens };
      },
    );

    app.post(
      '/api/auth/logout',
      { schema: { tags: ['auth'], operationId: 'logout', summary: 'Revoke the token used for this call (and clear the session cookie)', response: { 200: Ok } } },
      async (req, reply) => {
        const p = requirePermission(req, 'read');
        await ctx.users.revokeToken(p.tokenId);
        await ctx.audit.record(p.user, 'auth.logout', p.user.username);
        if (req.authVia === 'cookie') reply.header('set-cookie', clearedSessionCookie(secureCookie(req)));
        return { ok: true as const };
      },
    );

    app.post(
      '/api/users',
      {
        schema: {
          tags: ['users'],
          operationId: 'createUser',
          summary: 'Create a user with a role, scoped to an area subtree (admin)',
          description: 'An admin scoped to an area creates users only inside it (403 naming `area` otherwise, and for a network-wide user).',
          body: UserCreateRequest,
          response: { 201: UserCreated },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'users.manage');
        const area = req.body.area ? ctx.coverage.resolveArea(req.body.area) : undefined;
        enforceScope(userChangeRefusal({ id: p.user.id, scope: p.user.areaId }, undefined, area?.id ?? null, ctx.coverage.areaIndex()));
        const u = await ctx.users.create({ username: req.body.username, password: req.body.password, role: req.body.role, areaId: area?.id ?? null });
        await ctx.audit.record(p.user, 'user.create', u.username, { role: u.role, area: area?.key ?? null });
        return reply.status(201).send({ username: u.username, role: u.role, area: area?.key ?? null });
      },
    );

    app.patch(
      '/api/users/:id',
      {
        schema: {
          tags: ['users'],
          operationId: 'updateUser',
          summary: "Change a user's role, area scope, or disable/enable them (admin); disabling ends their sessions and tokens",
          description:
            'An admin scoped to an area changes only users inside it (404 for others) and only to an area inside it (403 naming `area`): it can never make a user network-wide, nor clear or widen its own area.',
          params: IdParam,
          body: UserPatchRequest,
          response: { 200: UserView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const target = await ctx.users.byId(req.params.id);
        if (!target) throw Errors.notFound('user', req.params.id);
        const scopeCheck = (areaId: number | null | undefined) =>
          enforceScope(userChangeRefusal({ id: p.user.id, scope: p.user.areaId }, target, areaId, ctx.coverage.areaIndex()));
        scopeCheck(undefined);
        // An admin locking themselves out would leave nobody to undo it (the bootstrap reset needs a restart).
        if (req.body.disabled === true && target.id === p.user.id) throw fail('LOANET_SELF_DISABLE', { field: 'disabled' });
        const area = req.body.area === undefined ? undefined : req.body.area === null ? null : ctx.coverage.resolveArea(req.body.area);
        scopeCheck(area === undefined ? undefined : (area?.id ?? null));
        const passwordHash = req.body.password === undefined ? undefined : await ctx.users.preparePassword(req.body.password, target.username);
        const u = await ctx.users.update(target.id, {
          role: req.body.role,
          areaId: area === undefined ? undefined : (area?.id ?? null),
          disabled: req.body.disabled,
          passwordHash,
        });
        const areaOut = u.areaId !== null ? await ctx.areas.byId(u.areaId) : undefined;
        await ctx.audit.record(p.user, 'user.update', u.username, {
          role: req.body.role,
          area: area === undefined ? undefined : (area?.key ?? null),
          disabled: req.body.disabled,
          ...(passwordHash ? { password: 'reset' } : {}),
        });
        return { id: u.id, username: u.username, role: u.role, area: areaOut?.key ?? null, areaName: areaOut?.name ?? null, createdAt: u.createdAt, disabledAt: u.disabledAt };
      },
    );

    app.post(
      '/api/users/:id/unlock',
      {
        schema: {
          tags: ['users'],
          operationId: 'unlockUser',
          summary: "Forget a user's failed logins and password changes, so they may try again at once (admin; audited)",
          description:
            'Clears the per-user and per-(user, address) counts of the guessing limits; the per-address count stays (an address guessing many accounts is not forgiven by unlocking one).',
          params: IdParam,
          response: { 200: UserUnlocked },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const target = await ctx.users.byId(req.params.id);
        if (!target) throw Errors.notFound('user', req.params.id);
        enforceScope(userChangeRefusal({ id: p.user.id, scope: p.user.areaId }, target, undefined, ctx.coverage.areaIndex()));
        const forgotten = await ctx.loginLimits.unlock(target.username, ctx.now());
        await ctx.audit.record(p.user, 'user.unlock', target.username, { forgottenFailures: forgotten });
        return { ok: true as const, forgottenFailures: forgotten };
      },
    );

    app.get(
      '/api/users',
      {
        schema: {
          tags: ['users'],
          operationId: 'listUsers',
          summary: 'Every user with role and area scope (admin); an admin scoped to an area sees only the users inside it',
          response: { 200: UserList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const idx = ctx.coverage.areaIndex();
        return {
          users: await Promise.all(
            (await ctx.users.list())
              .filter((u) => withinScope(p.user.areaId, u.areaId, idx))
              .map(async (u) => {
                const area = u.areaId !== null ? await ctx.areas.byId(u.areaId) : undefined;
                return { id: u.id, username: u.username, role: u.role, area: area?.key ?? null, areaName: area?.name ?? null, createdAt: u.createdAt, disabledAt: u.disabledAt };
              }),
          ),
        };
      },
    );

    app.get(
      '/api/audit',
      {
        schema: {
          tags: ['audit'],
          operationId: 'listAudit',
          summary: 'The audit log, newest first (admin)',
          description:
            "An admin scoped to an area reads only the entries whose actor is a user inside that area (by the user's current area) or whose target is a user, site or area inside it; entries of network-wide users about other things, and of the system, are not shown to it. Its read looks at the newest 20,000 entries of the filter at most (a few tens of milliseconds): use `to` for older ones.",
          querystring: AuditQuery,
          response: { 200: AuditList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'audit.read');
        if (p.user.areaId === null) return { entries: await ctx.audit.list(req.query) };
        const idx = ctx.coverage.areaIndex();
        const users = await ctx.users.list();
        const userArea = new Map(users.map((u) => [u.id, u.areaId]));
        const userAreaByName = new Map(users.map((u) => [u.username, u.areaId]));
        const siteArea = new Map<string, number | undefined>();
        const targetArea = (action: string, target: string | null): number | null | undefined => {
          if (target === null) return undefined;
          if (action.startsWith('user.') || action.startsWith('auth.')) return userAreaByName.get(target);
          if (action.startsWith('site.')) {
            if (!siteArea.has(target)) siteArea.set(target, ctx.sites.entry(target)?.areaId);
            return siteArea.get(target);
          }
          if (action.startsWith('area.')) return idx.get(target)?.id;
          return undefined;
        };
        const visible = (e: { userId: number | null; action: string; target: string | null }) =>
          auditVisible(p.user.areaId, { actorAreaId: e.userId === null ? undefined : userArea.get(e.userId), targetAreaId: targetArea(e.action, e.target) }, idx);
        return { entries: await ctx.audit.list(req.query, visible) };
      },
    );
  };
