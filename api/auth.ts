/**
 * Logging in, the signed-in user, API tokens and one's own password over HTTP
 * (server/auth/routes.ts). A secret leaves the server in two answers
 * only, once each, when it is made: the bearer token of a login without a
 * cookie, and a new API token. No other shape here has a field that could
 * carry one (the server keeps only digests and password hashes, and answers
 * through these schemas, which drop any field they do not name).
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';

export const ROLE_VALUES = ['admin', 'operator', 'technician', 'emergency', 'viewer'] as const;
export const Role = Type.Union(ROLE_VALUES.map((r) => Type.Literal(r)));
export type Role = Static<typeof Role>;

/** Unicode code points, as JSON Schema's maxLength counts them (server/auth/password-policy.ts applies the rest of the policy). */
export const PASSWORD_MAX_LENGTH = 200;
/** Every password field: refused here before anything is hashed. */
export const Password = (description?: string) => Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH, ...(description ? { description } : {}) });

/** GET /api/auth/me. */
export const Me = Type.Object({
  username: Type.String(),
  role: Role,
  area: Type.Union([Type.String(), Type.Null()], { description: 'the area key the user is confined to; null: the whole network' }),
  areaName: Type.Union([Type.String(), Type.Null()]),
  tokenKind: Type.Union([Type.Literal('session'), Type.Literal('api')]),
  permissions: Type.Array(Type.String()),
  csrfToken: Type.Optional(Type.String({ description: 'for a cookie session: send it as X-CSRF-Token on unsafe requests' })),
});
export type Me = Static<typeof Me>;

/** POST /api/auth/login. */
export const LoginRequest = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 100 }),
    password: Password(),
    cookie: Type.Optional(Type.Boolean({ description: 'browser login: the token goes in an HttpOnly cookie, never in the answer' })),
  },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequest>;

const LoginUser = Type.Object({ username: Type.String(), role: Role });
/** Without `cookie`: the session's bearer token, answered this once. */
export const BearerLogin = Type.Object({
  token: Type.String({ description: 'send as Authorization: Bearer <token>; shown only in this answer' }),
  expiresAt: EpochMs,
  user: LoginUser,
});
/** With `cookie: true`: the token is in the HttpOnly cookie set alongside, only its CSRF token here. */
export const CookieLogin = Type.Object({
  csrfToken: Type.String({ description: 'send as X-CSRF-Token on unsafe requests' }),
  expiresAt: EpochMs,
  user: LoginUser,
});
export const LoginResult = Type.Union([BearerLogin, CookieLogin]);
export type LoginResult = Static<typeof LoginResult>;
export type CookieLogin = Static<typeof CookieLogin>;

/** One of your API tokens as listed: names and dates, never the token (only its digest is kept). */
export const ApiToken = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: EpochMs,
  expiresAt: Nullable(EpochMs),
  revokedAt: Nullable(EpochMs),
});
export type ApiToken = Static<typeof ApiToken>;
export const ApiTokenList = Type.Object({
  tokens: Type.Array(ApiToken),
  defaultDays: Type.Integer({ description: 'lifetime of a new token unless expiresInDays says otherwise (LOANET_API_TOKEN_DAYS)' }),
  maxDays: Type.Integer({ description: 'the longest expiresInDays accepted (LOANET_API_TOKEN_MAX_DAYS)' }),
});
export type ApiTokenList = Static<typeof ApiTokenList>;

/** POST /api/auth/tokens; the server tightens expiresInDays to its configured maximum. */
export const ApiTokenRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, description: 'days until it expires' })),
  },
  { additionalProperties: false },
);
export type ApiTokenRequest = Static<typeof ApiTokenRequest>;
/** The new token, answered this once. */
export const ApiTokenCreated = Type.Object({
  id: Type.Integer(),
  token: Type.String({ description: 'send as Authorization: Bearer <token>; shown only in this answer' }),
  expiresAt: EpochMs,
});
export type ApiTokenCreated = Static<typeof ApiTokenCreated>;

/** POST /api/auth/password. */
export const PasswordChange = Type.Object(
  {
    currentPassword: Password(),
    newPassword: Password(),
    keepTokens: Type.Optional(Type.Boolean({ description: 'keep your API tokens (default: revoke them, as whoever knew the old password may have made some)' })),
  },
  { additionalProperties: false },
);
export type PasswordChange = Static<typeof PasswordChange>;
export const PasswordChanged = Type.Object({ ok: Type.Literal(true), revokedTokens: Type.Integer({ description: 'API tokens revoked with the change' }) });
export type PasswordChanged = Static<typeof PasswordChanged>;
