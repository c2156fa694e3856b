/** The audit log over HTTP (GET /api/audit, server/auth/routes.ts; kept by server/audit.ts). */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable, OpenMap } from './common.ts';

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  at: EpochMs,
  userId: Nullable(Type.Integer({ description: 'null: the system' })),
  username: Nullable(Type.String()),
  action: Type.String({ description: 'what was done, e.g. user.create, site.command, auth.login' }),
  target: Nullable(Type.String({ description: 'what it was done to: a username, site id, area key …' })),
  detail: Nullable({ ...OpenMap, description: 'what the action carried (by action)' }),
});
export type AuditEntry = Static<typeof AuditEntry>;
export const AuditList = Type.Object({ entries: Type.Array(AuditEntry, { description: 'newest first' }) });
export type AuditList = Static<typeof AuditList>;

export const AuditQuery = Type.Object({
  from: Type.Optional(EpochMs),
  to: Type.Optional({ ...EpochMs, description: 'before this (epoch ms)' }),
  username: Type.Optional(Type.String({ maxLength: 100 })),
  action: Type.Optional(Type.String({ maxLength: 100, description: 'a prefix: site. for every site action' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, description: 'default 200' })),
});
export type AuditQuery = Static<typeof AuditQuery>;
