/**
 * User management for admins over HTTP (server/auth/routes.ts): who may
 * do what, where. A user as answered has no password field of any kind: the
 * server keeps only a hash, and these schemas name every field it sends.
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';
import { Password, Role } from './auth.ts';
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN } from './username.ts';

export * from './username.ts';

export const UserView = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  role: Role,
  area: Nullable(Type.String({ description: 'the area key the user is confined to; null: the whole network' })),
  areaName: Nullable(Type.String()),
  createdAt: EpochMs,
  disabledAt: Nullable(EpochMs),
});
export type UserView = Static<typeof UserView>;
export const UserList = Type.Object({ users: Type.Array(UserView) });
export type UserList = Static<typeof UserList>;

/** POST /api/users. */
export const UserCreateRequest = Type.Object(
  {
    username: Type.String({
      minLength: USERNAME_MIN_LENGTH,
      maxLength: USERNAME_MAX_LENGTH,
      pattern: USERNAME_PATTERN,
      description: `${USERNAME_MIN_LENGTH}-${USERNAME_MAX_LENGTH} characters of a-z, 0-9, . _ -`,
    }),
    password: Password('follows the password policy (400 LOANET_PASSWORD_TOO_SHORT, _TOO_LONG, _HAS_USERNAME or _COMMON otherwise)'),
    role: Role,
    area: Type.Optional(Type.String({ maxLength: 100, description: 'area code or key the user is scoped to; omit for the whole network' })),
  },
  { additionalProperties: false },
);
export type UserCreateRequest = Static<typeof UserCreateRequest>;
export const UserCreated = Type.Object({ username: Type.String(), role: Role, area: Nullable(Type.String({ description: 'area key; null: the whole network' })) });
export type UserCreated = Static<typeof UserCreated>;

/** PATCH /api/users/{id}: at least one field. */
export const UserPatchRequest = Type.Object(
  {
    role: Type.Optional(Role),
    area: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()], { description: 'area code or key the user is scoped to; null for the whole network' })),
    disabled: Type.Optional(Type.Boolean()),
    password: Type.Optional(Password("a new password (an admin's reset, following the password policy): the user's sessions and API tokens are revoked")),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UserPatchRequest = Static<typeof UserPatchRequest>;

/** POST /api/users/{id}/unlock. */
export const UserUnlocked = Type.Object({ ok: Type.Literal(true), forgottenFailures: Type.Integer({ description: 'failed attempts forgotten' }) });
export type UserUnlocked = Static<typeof UserUnlocked>;
