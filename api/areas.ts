/** Areas over HTTP (server/registry/area-routes.ts). */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';
import { AreaLevel } from './coverage.ts';

export const AreaView = Type.Object({
  key: Type.String({ description: '{version}.{code}, e.g. 2025.02683' }),
  code: Type.String(),
  version: Type.String(),
  name: Type.String(),
  level: AreaLevel,
  kind: Nullable(Type.String()),
  parent: Nullable(Type.String({ description: "the parent's key" })),
  lat: Nullable(Type.Number()),
  lon: Nullable(Type.Number()),
  retiredAt: Nullable(EpochMs),
});
export type AreaView = Static<typeof AreaView>;
export const AreaList = Type.Object({ areas: Type.Array(AreaView) });
export const AreaImportSummary = Type.Object({ version: Type.String(), created: Type.Integer(), updated: Type.Integer(), unchanged: Type.Integer() });
