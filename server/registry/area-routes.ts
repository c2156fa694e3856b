/** The area tree: list, read, create, update, retire, the languages each area speaks, and import from CSV. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { Errors, fail } from '../errors.ts';
import { enforceScope, requirePermission } from '../http/auth.ts';
import { AreaImportSummary, AreaLanguages, AreaLanguagesUpdate, AreaList, AreaView } from '../../api/areas.ts';
import { areaChangeRefusal, areaCreateRefusal, withinScope } from '../auth/scope-policy.ts';
import { parseAreaCsv, AreaImportError } from './area-import.ts';
import type { Area } from './areas.ts';
import { effectiveLanguages, normaliseLanguageList } from './area-languages.ts';
import type { AreaIndex } from '../coverage/coverage.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'areas' | 'audit' | 'broker' | 'config' | 'coverage' | 'fleet'>;

const Level = Type.Union([Type.Literal('province'), Type.Literal('district'), Type.Literal('commune'), Type.Literal('village')]);
const Lat = Type.Union([Type.Number({ minimum: -90, maximum: 90 }), Type.Null()]);
const Lon = Type.Union([Type.Number({ minimum: -180, maximum: 180 }), Type.Null()]);
const Code = Type.String({ pattern: '^[0-9A-Za-z-]{1,32}$', description: 'official administrative code, or a local code for villages' });
const Version = Type.String({ pattern: '^[0-9a-z]{1,16}$', description: 'structure version, e.g. 2020 or 2025' });

const view = (a: Area) => ({
  key: a.key,
  code: a.code,
  version: a.version,
  name: a.name,
  level: a.level,
  kind: a.kind,
  parent: a.parentKey,
  lat: a.lat,
  lon: a.lon,
  retiredAt: a.retiredAt,
});

/** An import refused: the catalogue error of its problem, naming the line (and for a languages cell, the tag). */
function importRefusal(e: AreaImportError) {
  const p = e.problem;
  if (p.problem === 'language') return fail('LOANET_NOT_A_LANGUAGE_TAG', { field: 'body', value: p.value, line: p.line });
  if (p.problem === 'too_many_languages') return fail('LOANET_TOO_MANY_TAGS', { field: 'body', max: p.max, maxLength: 35 });
  return fail('LOANET_AREA_CSV', { text: e.message, field: 'body', ...p });
}

/** An area's languages as the routes show them: its own list, what it speaks, and from where. */
export function areaLanguagesView(a: Area, idx: AreaIndex) {
  // An area outside the index (retired) inherits through its stored parent when that one is active.
  const byId = idx.byId.has(a.id) ? idx.byId : new Map([...idx.byId, [a.id, a]]);
  const eff = effectiveLanguages(a.id, byId);
  const from = eff.fromAreaId !== null && eff.fromAreaId !== a.id ? byId.get(eff.fromAreaId) : undefined;
  return {
    area: { key: a.key, name: a.name, level: a.level },
    own: a.languages ? [...a.languages] : null,
    effective: [...eff.languages],
    source: eff.fromAreaId === null ? ('default' as const) : eff.fromAreaId === a.id ? ('own' as const) : ('inherited' as const),
    inheritedFrom: from ? { key: from.key, name: from.name } : null,
  };
}

export const areaRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const dv = ctx.config.areaVersion;
    const changed = () => ctx.coverage.invalidate();
    /** Where an area sits in the active tree: itself, or for a retired one its nearest active ancestor (null: none). */
    const placeOf = async (a: Area): Promise<number | null> => {
      const idx = ctx.coverage.areaIndex();
      let cur: Area | undefined = a;
      for (let hops = 0; cur && hops < 16; hops++) {
        if (idx.byId.has(cur.id)) return cur.id;
        cur = cur.parentId !== null ? await ctx.areas.byId(cur.parentId) : undefined;
      }
      return null;
    };

    app.get(
      '/api/areas',
      {
        schema: {
          tags: ['areas'],
          operationId: 'listAreas',
          summary: 'List areas (optionally the children of one, or one level)',
          querystring: Type.Object({
            version: Type.Optional(Version),
            parent: Type.Optional(Type.String({ description: 'area code or key whose children to list' })),
            level: Type.Optional(Level),
            includeRetired: Type.Optional(Type.Boolean()),
          }),
          response: { 200: AreaList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const parent = req.query.parent ? await ctx.areas.require(req.query.parent, dv) : undefined;
        let list = await ctx.areas.list({ version: req.query.version, parentId: parent?.id, level: req.query.level, includeRetired: req.query.includeRetired });
        if (p.user.areaId !== null) {
          const idx = ctx.coverage.areaIndex();
          const within: Area[] = [];
          for (const a of list) if (withinScope(p.user.areaId, await placeOf(a), idx)) within.push(a);
          list = within;
        }
        return { areas: list.map(view) };
      },
    );

    app.get(
      '/api/areas/:key',
      {
        schema: {
          tags: ['areas'],
          operationId: 'getArea',
          summary: 'One area (404 outside your area, retired or not)',
          params: Type.Object({ key: Type.String() }),
          response: { 200: AreaView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const a = await ctx.areas.require(req.params.key, dv);
        if (!withinScope(p.user.areaId, await placeOf(a), ctx.coverage.areaIndex())) throw Errors.notFound('area', req.params.key);
        return view(a);
      },
    );

    app.post(
      '/api/areas',
      {
        schema: {
          tags: ['areas'],
          operationId: 'createArea',
          summary: 'Create an area',
          description: 'An admin scoped to an area creates areas only inside it (the parent may be its own root; 403 naming `parent` otherwise).',
          body: Type.Object(
            {
              version: Type.Optional(Version),
              code: Code,
              name: Type.String({ minLength: 1, maxLength: 200 }),
              level: Level,
              kind: Type.Optional(Type.String({ maxLength: 40 })),
              parent: Type.Optional(Type.String()),
              lat: Type.Optional(Lat),
              lon: Type.Optional(Lon),
            },
            { additionalProperties: false },
          ),
          response: { 201: AreaView },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'registry.write');
        const b = req.body;
        const parent = b.parent ? await ctx.areas.require(b.parent, b.version ?? dv) : undefined;
        enforceScope(areaCreateRefusal(p.user.areaId, parent ? await placeOf(parent) : null, ctx.coverage.areaIndex()));
        const a = await ctx.areas.create({
          version: b.version ?? dv,
          code: b.code,
          name: b.name,
          level: b.level,
          kind: b.kind ?? null,
          parentKey: b.parent ?? null,
          lat: b.lat ?? null,
          lon: b.lon ?? null,
          source: 'api',
        });
        changed();
        await ctx.audit.record(p.user, 'area.create', a.key, { name: a.name, level: a.level });
        return reply.status(201).send(view(a));
      },
    );

    app.patch(
      '/api/areas/:key',
      {
        schema: {
          tags: ['areas'],
          operationId: 'updateArea',
          summary: 'Update an area (name, kind, coordinates, parent)',
          description:
            'An admin scoped to an area changes only areas strictly inside it (never its own root: 403), and moves them only under a parent inside it (403 naming `parent`); areas outside it are 404.',
          params: Type.Object({ key: Type.String() }),
          body: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              kind: Type.Optional(Type.String({ maxLength: 40 })),
              parent: Type.Optional(Type.String()),
              lat: Type.Optional(Lat),
              lon: Type.Optional(Lon),
            },
            { additionalProperties: false },
          ),
          response: { 200: AreaView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'registry.write');
        const before = await ctx.areas.require(req.params.key, dv);
        const newParent = req.body.parent !== undefined ? await ctx.areas.require(req.body.parent, before.version) : undefined;
        enforceScope(areaChangeRefusal(p.user.areaId, await placeOf(before), newParent ? await placeOf(newParent) : undefined, ctx.coverage.areaIndex(), req.params.key));
        const a = await ctx.areas.update(req.params.key, dv, { name: req.body.name, kind: req.body.kind, parentKey: req.body.parent, lat: req.body.lat, lon: req.body.lon });
        changed();
        if (a.parentId !== before.parentId) {
          // The sites below now belong to other ancestors: make them reconnect so the broker grants the new channels.
          const moved = ctx.coverage.subtreeIds(a.id);
          for (const o of ctx.fleet.observations()) if (moved.has(o.areaId)) ctx.broker.disconnectSite(o.siteId);
        }
        await ctx.audit.record(p.user, 'area.update', a.key, req.body);
        return view(a);
      },
    );

    app.delete(
      '/api/areas/:key',
      {
        schema: {
          tags: ['areas'],
          operationId: 'retireArea',
          summary: 'Retire an area (refused while it has active children or sites); a scoped admin only strictly inside its area',
          params: Type.Object({ key: Type.String() }),
          response: { 200: AreaView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'registry.write');
        enforceScope(areaChangeRefusal(p.user.areaId, await placeOf(await ctx.areas.require(req.params.key, dv)), undefined, ctx.coverage.areaIndex(), req.params.key));
        const a = await ctx.areas.retire(req.params.key, dv);
        changed();
        await ctx.audit.record(p.user, 'area.retire', a.key);
        return view(a);
      },
    );

    app.get(
      '/api/areas/:key/languages',
      {
        schema: {
          tags: ['areas'],
          operationId: 'getAreaLanguages',
          summary: 'The languages an area speaks: its own list, or the nearest ancestor’s, else Vietnamese (404 outside your area)',
          params: Type.Object({ key: Type.String() }),
          response: { 200: AreaLanguages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const a = await ctx.areas.require(req.params.key, dv);
        if (!withinScope(p.user.areaId, await placeOf(a), ctx.coverage.areaIndex())) throw Errors.notFound('area', req.params.key);
        return areaLanguagesView(a, ctx.coverage.areaIndex());
      },
    );

    app.put(
      '/api/areas/:key/languages',
      {
        schema: {
          tags: ['areas'],
          operationId: 'setAreaLanguages',
          summary: 'Set the languages an area speaks, in the order its bulletins are heard; the areas below it without a list of their own follow',
          description: 'Authorised as other area changes: an admin scoped to an area changes only areas strictly inside it (403 for its own root); areas outside it are 404.',
          params: Type.Object({ key: Type.String() }),
          body: AreaLanguagesUpdate,
          response: { 200: AreaLanguages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'registry.write');
        const before = await ctx.areas.require(req.params.key, dv);
        enforceScope(areaChangeRefusal(p.user.areaId, await placeOf(before), undefined, ctx.coverage.areaIndex(), req.params.key));
        const list = normaliseLanguageList(req.body.languages);
        if (!list.ok) {
          if (list.problem === 'not_a_tag') throw fail('LOANET_NOT_A_LANGUAGE_TAG', { field: `languages[${list.index}]`, value: list.value });
          throw fail('LOANET_TOO_MANY_TAGS', { field: 'languages', max: list.problem === 'too_many' ? list.max : 8, maxLength: 35 });
        }
        const a = await ctx.areas.setLanguages(req.params.key, dv, list.languages);
        changed();
        await ctx.audit.record(p.user, 'area.languages', a.key, { languages: list.languages, languagesBefore: before.languages ?? null });
        return areaLanguagesView(a, ctx.coverage.areaIndex());
      },
    );

    app.delete(
      '/api/areas/:key/languages',
      {
        schema: {
          tags: ['areas'],
          operationId: 'clearAreaLanguages',
          summary: 'Clear an area’s own languages: it speaks its parent’s again',
          description: 'Authorised as other area changes (see setAreaLanguages).',
          params: Type.Object({ key: Type.String() }),
          response: { 200: AreaLanguages },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'registry.write');
        const before = await ctx.areas.require(req.params.key, dv);
        enforceScope(areaChangeRefusal(p.user.areaId, await placeOf(before), undefined, ctx.coverage.areaIndex(), req.params.key));
        const a = await ctx.areas.setLanguages(req.params.key, dv, null);
        changed();
        await ctx.audit.record(p.user, 'area.languages', a.key, { languages: null, languagesBefore: before.languages ?? null });
        return areaLanguagesView(a, ctx.coverage.areaIndex());
      },
    );

    app.post(
      '/api/areas/import',
      {
        bodyLimit: 10 * 1024 * 1024,
        schema: {
          tags: ['areas'],
          operationId: 'importAreas',
          summary: 'Import areas from CSV (GSO lists or code,name,level,parent_code); all or nothing; network-wide admins only',
          description: 'Send the CSV as the body with Content-Type text/csv. Rows are upserted by (version, code).',
          querystring: Type.Object({ version: Version }),
          consumes: ['text/csv'],
          response: { 200: AreaImportSummary },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'registry.write');
        // An import upserts rows anywhere in the tree by code: only an admin over the whole network may.
        if (p.user.areaId !== null) throw Errors.forbidden({ rule: 'network_admin', action: 'import_areas' }, { field: 'version' });
        if (typeof req.body !== 'string') throw Errors.badRequest('send the CSV as the body with Content-Type: text/csv', 'body');
        let drafts: ReturnType<typeof parseAreaCsv>;
        try {
          drafts = parseAreaCsv(req.body);
        } catch (e) {
          if (e instanceof AreaImportError) throw importRefusal(e);
          throw e;
        }
        const summary = await ctx.areas.import(req.query.version, drafts, 'csv-import');
        changed();
        await ctx.audit.record(p.user, 'area.import', req.query.version, { ...summary });
        return summary;
      },
    );
  };
