/**
 * The area tree (province → [district →] commune → village) in the store.
 * Areas are keyed by structure version + official code (`2025.02647`),
 * because the 2025 reform reused codes for different communes.
 *
 * On the Kysely store (SQLite or PostgreSQL), async. The active areas are
 * also held in memory (`active()`), because the coverage index is built from
 * them on synchronous paths; the copy is read at `load()` and again after
 * every area write of this repository has committed, and after another server
 * sharing a PostgreSQL store changed an area (server/cluster/registry-watch.ts).
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AreasTable, Database } from '../store/schema.ts';
import type { AreaLevel, AreaNode } from './model.ts';
import { Errors, fail } from '../errors.ts';
import { type AreaDraft, AREA_CODE_PATTERN } from './area-import.ts';
import { noteRegistryChanges } from './changes.ts';
import { parseStoredLanguages } from './area-languages.ts';

export interface Area extends AreaNode {
  kind: string | null;
  lat: number | null;
  lon: number | null;
  parentKey: string | null;
  source: string | null;
  createdAt: number;
  updatedAt: number;
  retiredAt: number | null;
}

export const LEVEL_RANK: Record<AreaLevel, number> = { province: 0, district: 1, commune: 2, village: 3 };

export function areaKey(version: string, code: string): string {
  return `${version}.${code}`;
}

/** `2025.02647` → {version, code}; a bare code takes the default structure version. */
export function parseAreaKey(input: string, defaultVersion: string): { version: string; code: string } {
  const dot = input.indexOf('.');
  const version = dot >= 0 ? input.slice(0, dot) : defaultVersion;
  const code = dot >= 0 ? input.slice(dot + 1) : input;
  if (!/^[0-9a-z]{1,16}$/.test(version) || !AREA_CODE_PATTERN.test(code)) {
    throw fail('LOANET_AREA_NOT_A_CODE', { field: 'area', value: input });
  }
  return { version, code };
}

type AreaRow = Selectable<AreasTable> & { parent_version: string | null; parent_code: string | null };

function toArea(r: AreaRow): Area {
  return {
    id: r.id,
    key: areaKey(r.version, r.code),
    code: r.code,
    version: r.version,
    name: r.name,
    level: r.level,
    kind: r.kind,
    parentId: r.parent_id,
    parentKey: r.parent_version !== null && r.parent_code !== null ? areaKey(r.parent_version, r.parent_code) : null,
    lat: r.lat,
    lon: r.lon,
    source: r.source,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    retiredAt: r.retired_at,
    languages: parseStoredLanguages(r.languages),
  };
}

/** By version, then code, in code-unit order: SQLite's BINARY order, whatever collation a PostgreSQL database has. */
function byVersionAndCode(x: Area, y: Area): number {
  if (x.version !== y.version) return x.version < y.version ? -1 : 1;
  return x.code < y.code ? -1 : x.code > y.code ? 1 : 0;
}

type Executor = Kysely<Database> | Transaction<Database>;

export interface AreaInput {
  version: string;
  code: string;
  name: string;
  level: AreaLevel;
  kind?: string | null;
  parentKey?: string | null;
  lat?: number | null;
  lon?: number | null;
  source?: string | null;
}

export interface ImportSummary {
  version: string;
  created: number;
  updated: number;
  unchanged: number;
}

export class AreaRepository {
  /** The active areas, in list order: read by load(), again after each area write here commits. */
  private activeAreas: Area[] | undefined;
  /** Reloads started and the newest applied: a reload that finishes after a newer one must not put older areas back. */
  private reloads = 0;
  private appliedReload = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the active areas into memory; the server awaits it before anything asks for `active()`. */
  async load(): Promise<void> {
    const n = ++this.reloads;
    const areas = await this.list({});
    if (n > this.appliedReload) {
      this.appliedReload = n;
      this.activeAreas = areas;
    }
  }

  async get(key: string, defaultVersion: string): Promise<Area | undefined> {
    const { version, code } = parseAreaKey(key, defaultVersion);
    return this.getIn(this.db, version, code);
  }

  async require(key: string, defaultVersion: string): Promise<Area> {
    const a = await this.get(key, defaultVersion);
    if (!a) throw Errors.notFound('area', key);
    return a;
  }

  async byId(id: number): Promise<Area | undefined> {
    return this.byIdIn(this.db, id);
  }

  async list(filter: { version?: string; parentId?: number; level?: AreaLevel; includeRetired?: boolean } = {}): Promise<Area[]> {
    let q = this.select(this.db);
    if (filter.version) q = q.where('a.version', '=', filter.version);
    if (filter.parentId !== undefined) q = q.where('a.parent_id', '=', filter.parentId);
    if (filter.level) q = q.where('a.level', '=', filter.level);
    if (!filter.includeRetired) q = q.where('a.retired_at', 'is', null);
    return (await q.execute()).map(toArea).sort(byVersionAndCode);
  }

  /**
   * Every active area: the input of the coverage index, which is built on
   * synchronous paths, hence from the copy in memory (see load()).
   */
  active(): Area[] {
    if (!this.activeAreas) throw new Error('AreaRepository.active() before load(): the server loads the areas at start');
    return this.activeAreas;
  }

  async create(input: AreaInput): Promise<Area> {
    const id = await this.db.transaction().execute(async (trx) => {
      const id = await this.createIn(trx, input);
      await noteRegistryChanges(trx, 'area', [id]);
      return id;
    });
    await this.load();
    return (await this.byId(id))!;
  }

  async update(key: string, defaultVersion: string, patch: Partial<Pick<AreaInput, 'name' | 'kind' | 'lat' | 'lon' | 'parentKey'>>): Promise<Area> {
    const { version, code } = parseAreaKey(key, defaultVersion);
    const id = await this.db.transaction().execute(async (trx) => {
      const a = await this.getIn(trx, version, code);
      if (!a) throw Errors.notFound('area', key);
      await this.updateIn(trx, a, patch);
      await noteRegistryChanges(trx, 'area', [a.id]);
      return a.id;
    });
    await this.load();
    return (await this.byId(id))!;
  }

  /**
   * Set an area's own languages (canonical tags, in order: area-languages.ts
   * checked them), or clear them (null) so it speaks its parent's. Noted as an
   * area change, so the other servers re-read the areas.
   */
  async setLanguages(key: string, defaultVersion: string, languages: readonly string[] | null): Promise<Area> {
    const { version, code } = parseAreaKey(key, defaultVersion);
    const id = await this.db.transaction().execute(async (trx) => {
      const a = await this.getIn(trx, version, code);
      if (!a) throw Errors.notFound('area', key);
      const r = await trx
        .updateTable('areas')
        .set({ languages: languages === null ? null : JSON.stringify(languages), updated_at: this.now() })
        .where('id', '=', a.id)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) throw fail('LOANET_RETIRED', { thing: 'area', id: a.key });
      await noteRegistryChanges(trx, 'area', [a.id]);
      return a.id;
    });
    await this.load();
    return (await this.byId(id))!;
  }

  /** Retire an area; refused while it still has active child areas or sites, so nothing is orphaned. */
  async retire(key: string, defaultVersion: string): Promise<Area> {
    const a = await this.require(key, defaultVersion);
    if (a.retiredAt) return a;
    const t = this.now();
    await this.db.transaction().execute(async (trx) => {
      // Retired first, counted after, in one transaction: the update holds the area's row, and a child area or a
      // site being added under it takes that row first (lockArea), so on PostgreSQL one of the two waits for the
      // other and then sees it; counting first would let both commit and leave a site under a retired area.
      const r = await trx.updateTable('areas').set({ retired_at: t, updated_at: t }).where('id', '=', a.id).where('retired_at', 'is', null).executeTakeFirst();
      if (r.numUpdatedRows === 0n) return;
      const children = await countIn(trx, 'areas', a.id);
      const sites = await countIn(trx, 'sites', a.id);
      if (children > 0 || sites > 0) throw fail('LOANET_AREA_NOT_EMPTY', { key: a.key, children, sites });
      await noteRegistryChanges(trx, 'area', [a.id]);
    });
    await this.load();
    return (await this.byId(a.id))!;
  }

  /** Upsert a parsed list in one transaction: all of it or nothing. */
  async import(version: string, drafts: AreaDraft[], source: string): Promise<ImportSummary> {
    const summary: ImportSummary = { version, created: 0, updated: 0, unchanged: 0 };
    await this.db.transaction().execute(async (trx) => {
      // One generation for the whole import: the other servers re-read the areas once, not once per area.
      const changed: number[] = [];
      for (const d of drafts) {
        const existing = await this.getIn(trx, version, d.code);
        const parentKey = d.parentCode ? areaKey(version, d.parentCode) : null;
        const languages = d.languages === undefined ? undefined : d.languages === null ? null : JSON.stringify(d.languages);
        if (!existing) {
          const id = await this.createIn(trx, { version, code: d.code, name: d.name, level: d.level, kind: d.kind, parentKey, lat: d.lat, lon: d.lon, source });
          if (languages) await trx.updateTable('areas').set({ languages }).where('id', '=', id).execute();
          changed.push(id);
          summary.created++;
          continue;
        }
        if (existing.level !== d.level) {
          throw fail('LOANET_AREA_LEVEL_MISMATCH', { key: existing.key, stored: existing.level, file: d.level });
        }
        const same =
          existing.name === d.name &&
          existing.kind === d.kind &&
          existing.parentKey === parentKey &&
          existing.lat === d.lat &&
          existing.lon === d.lon &&
          (languages === undefined || (existing.languages ? JSON.stringify(existing.languages) : null) === languages) &&
          existing.retiredAt === null;
        if (same) {
          summary.unchanged++;
          continue;
        }
        // A file with a languages column says each area's list (an empty cell: inherited); one without leaves them be.
        await trx
          .updateTable('areas')
          .set({ retired_at: null, ...(languages !== undefined ? { languages } : {}) })
          .where('id', '=', existing.id)
          .execute();
        await this.updateIn(trx, { ...existing, retiredAt: null }, { name: d.name, kind: d.kind, parentKey, lat: d.lat, lon: d.lon });
        changed.push(existing.id);
        summary.updated++;
      }
      if (changed.length > 0) await noteRegistryChanges(trx, 'area', changed);
    });
    await this.load();
    return summary;
  }

  private select(db: Executor) {
    return db.selectFrom('areas as a').leftJoin('areas as p', 'p.id', 'a.parent_id').selectAll('a').select(['p.version as parent_version', 'p.code as parent_code']);
  }

  private async getIn(db: Executor, version: string, code: string): Promise<Area | undefined> {
    const r = await this.select(db).where('a.version', '=', version).where('a.code', '=', code).executeTakeFirst();
    return r && toArea(r);
  }

  private async byIdIn(db: Executor, id: number): Promise<Area | undefined> {
    const r = await this.select(db).where('a.id', '=', id).executeTakeFirst();
    return r && toArea(r);
  }

  /** Inserts the area; its id. */
  private async createIn(trx: Transaction<Database>, input: AreaInput): Promise<number> {
    const key = areaKey(input.version, input.code);
    if (await this.getIn(trx, input.version, input.code)) throw fail('LOANET_NAME_TAKEN', { thing: 'area', name: key });
    const parent = await this.checkParent(trx, input.version, input.level, input.parentKey ?? null);
    if (parent) await lockArea(trx, parent, 'parentKey');
    const t = this.now();
    // ON CONFLICT: the same key made by a racing request after the check above is the same refusal, not a failed transaction.
    const row = await trx
      .insertInto('areas')
      .values({
        version: input.version,
        code: input.code,
        name: input.name,
        level: input.level,
        kind: input.kind ?? null,
        parent_id: parent?.id ?? null,
        lat: input.lat ?? null,
        lon: input.lon ?? null,
        source: input.source ?? null,
        created_at: t,
        updated_at: t,
      })
      .onConflict((oc) => oc.columns(['version', 'code']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!row) throw fail('LOANET_NAME_TAKEN', { thing: 'area', name: key });
    return row.id;
  }

  private async updateIn(trx: Transaction<Database>, a: Area, patch: Partial<Pick<AreaInput, 'name' | 'kind' | 'lat' | 'lon' | 'parentKey'>>): Promise<void> {
    if (a.retiredAt) throw fail('LOANET_RETIRED', { thing: 'area', id: a.key });
    let parentId = a.parentId;
    if (patch.parentKey !== undefined) {
      const parent = await this.checkParent(trx, a.version, a.level, patch.parentKey);
      if (parent && (await this.isInSubtree(trx, parent.id, a.id))) throw fail('LOANET_AREA_CYCLE', { field: 'parentKey', key: a.key, parentKey: patch.parentKey ?? '' });
      if (parent) await lockArea(trx, parent, 'parentKey');
      parentId = parent?.id ?? null;
    }
    // Only while still active: an area retired since it was read is refused, not revived.
    const r = await trx
      .updateTable('areas')
      .set({
        name: patch.name ?? a.name,
        kind: patch.kind !== undefined ? patch.kind : a.kind,
        lat: patch.lat !== undefined ? patch.lat : a.lat,
        lon: patch.lon !== undefined ? patch.lon : a.lon,
        parent_id: parentId,
        updated_at: this.now(),
      })
      .where('id', '=', a.id)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (r.numUpdatedRows === 0n) throw fail('LOANET_RETIRED', { thing: 'area', id: a.key });
  }

  private async isInSubtree(db: Executor, candidateId: number, rootId: number): Promise<boolean> {
    let cur: Area | undefined = await this.byIdIn(db, candidateId);
    while (cur) {
      if (cur.id === rootId) return true;
      cur = cur.parentId !== null ? await this.byIdIn(db, cur.parentId) : undefined;
    }
    return false;
  }

  private async checkParent(db: Executor, version: string, level: AreaLevel, parentKey: string | null): Promise<Area | undefined> {
    if (parentKey === null) {
      if (level !== 'province') throw fail('LOANET_AREA_NEEDS_PARENT', { field: 'parentKey', level });
      return undefined;
    }
    const { version: pv, code: pc } = parseAreaKey(parentKey, version);
    const parent = await this.getIn(db, pv, pc);
    if (!parent) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: 'parentKey', thing: 'area', id: parentKey });
    if (parent.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'parentKey', thing: 'area', id: parent.key });
    if (parent.version !== version) throw fail('LOANET_AREA_VERSION_MISMATCH', { field: 'parentKey', parentKey: parent.key, parentVersion: parent.version, version });
    if (LEVEL_RANK[parent.level] >= LEVEL_RANK[level]) {
      throw fail('LOANET_AREA_NESTING', { field: 'parentKey', level, parentLevel: parent.level, parentKey: parent.key });
    }
    return parent;
  }
}

/**
 * Holds an active area's row until the transaction ends (an update that
 * changes nothing), refusing it if it was retired meanwhile. Whatever is put
 * under an area (a child area, a site) takes it first, and retire() takes it
 * too: on PostgreSQL, where transactions run side by side, the later one
 * waits and then sees the earlier one's outcome. On SQLite transactions never
 * overlap.
 */
export async function lockArea(trx: Transaction<Database>, area: Pick<Area, 'id' | 'key'>, field: string): Promise<void> {
  const r = await trx
    .updateTable('areas')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', area.id)
    .where('retired_at', 'is', null)
    .executeTakeFirst();
  if (r.numUpdatedRows === 0n) throw fail('LOANET_REFERS_TO_RETIRED', { field, thing: 'area', id: area.key });
}

/** Active rows under an area: child areas or sites. */
async function countIn(trx: Transaction<Database>, table: 'areas' | 'sites', areaId: number): Promise<number> {
  const r =
    table === 'areas'
      ? await trx
          .selectFrom('areas')
          .where('parent_id', '=', areaId)
          .where('retired_at', 'is', null)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      : await trx
          .selectFrom('sites')
          .where('area_id', '=', areaId)
          .where('retired_at', 'is', null)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
  // The pool reads PostgreSQL's BIGINT count as a number; Number() only guards a driver that would not.
  return Number(r.n);
}
