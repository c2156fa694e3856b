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

/** A BCP 47 tag as the media library stores it (server/media/languages.ts): vi, hmn, ium, tyz … */
export const LanguageTag = Type.String({ minLength: 2, maxLength: 35, description: 'BCP 47 language tag in canonical case, e.g. vi, hmn, ium' });

/** The languages an area speaks (server/registry/area-languages.ts): its own list, or its nearest ancestor's, else Vietnamese. */
export const AreaLanguages = Type.Object({
  area: Type.Object({ key: Type.String(), name: Type.String(), level: AreaLevel }),
  own: Nullable(Type.Array(LanguageTag, { description: "the area's own list, in order; null: it speaks its parent's" })),
  effective: Type.Array(LanguageTag, { description: 'what its sites hear bulletins in, in this order' }),
  source: Type.Union([Type.Literal('own'), Type.Literal('inherited'), Type.Literal('default')], {
    description: 'own: its own list; inherited: from `inheritedFrom`; default: no area above it says, so Vietnamese',
  }),
  inheritedFrom: Nullable(Type.Object({ key: Type.String(), name: Type.String() })),
});
export type AreaLanguages = Static<typeof AreaLanguages>;

export const AreaLanguagesUpdate = Type.Object(
  {
    languages: Type.Array(Type.String({ minLength: 1, maxLength: 35 }), {
      minItems: 1,
      maxItems: 8,
      description: 'in the order bulletins are heard; each is normalised (HMN → hmn), a tag given twice counts once',
    }),
  },
  { additionalProperties: false },
);
export type AreaLanguagesUpdate = Static<typeof AreaLanguagesUpdate>;
