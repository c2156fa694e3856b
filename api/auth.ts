/** Accounts over HTTP (server/http/routes/auth.ts). */
import { Type, type Static } from '@sinclair/typebox';

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('technician'), Type.Literal('emergency'), Type.Literal('viewer')]);

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
