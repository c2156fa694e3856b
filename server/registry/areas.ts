/**
 * The area tree (province → [district →] commune → village) in the store.
 * Areas are keyed by structure version + official code (`2025.02647`),
 * because the 2025 reform reused codes for different communes.
 */
import type { Db } from '../store/db.ts';
import type { AreaLevel, AreaNode } from './model.ts';
import { Errors, fail } from '../errors.ts';
import { type AreaDraft, AREA_CODE_PATTERN } from './area-import.ts';

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

interface AreaRow {
  id: number;
  version: string;
  code: string;
  name: string;
  level: AreaLevel;
  kind: string | null;
  parent_id: number | null;
  parent_key: string | null;
  lat: number | null;
  lon: number | null;
  source: string | null;
  created_at: number;
  updated_at: number;
  retired_at: number | null;
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

const SELECT = `SELECT a.*, CASE WHEN p.id IS NULL THEN NULL ELSE p.version || '.' || p.code END AS parent_key
  FROM areas a LEFT JOIN areas p ON p.id = a.parent_id`;

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
    parentKey: r.parent_key,
    lat: r.lat,
    lon: r.lon,
    source: r.source,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    retiredAt: r.retired_at,
  };
}

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
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string, defaultVersion: string): Area | undefined {
    const { version, code } = parseAreaKey(key, defaultVersion);
    const r = this.db.prepare(`${SELECT} WHERE a.version = ? AND a.code = ?`).get(version, code) as AreaRow | undefined;
    return r && toArea(r);
  }

  require(key: string, defaultVersion: string): Area {
    const a = this.get(key, defaultVersion);
    if (!a) throw Errors.notFound('area', key);
    return a;
  }

  byId(id: number): Area | undefined {
    const r = this.db.prepare(`${SELECT} WHERE a.id = ?`).get(id) as AreaRow | undefined;
    return r && toArea(r);
  }

  list(filter: { version?: string; parentId?: number; level?: AreaLevel; includeRetired?: boolean } = {}): Area[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    if (filter.version) where.push('a.version = ?'), args.push(filter.version);
    if (filter.parentId !== undefined) where.push('a.parent_id = ?'), args.push(filter.parentId);
    if (filter.level) where.push('a.level = ?'), args.push(filter.level);
    if (!filter.includeRetired) where.push('a.retired_at IS NULL');
    const sql = `${SELECT} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY a.version, a.code`;
    return (this.db.prepare(sql).all(...args) as AreaRow[]).map(toArea);
  }

  /** Every active area: the input of the coverage index. */
  active(): Area[] {
    return this.list({});
  }

  create(input: AreaInput): Area {
    if (this.get(areaKey(input.version, input.code), input.version)) {
      throw fail('LOANET_NAME_TAKEN', { thing: 'area', name: areaKey(input.version, input.code) });
    }
    const parent = this.checkParent(input.version, input.level, input.parentKey ?? null);
    const t = this.now();
    const info = this.db
      .prepare(
        `INSERT INTO areas (version, code, name, level, kind, parent_id, lat, lon, source, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(input.version, input.code, input.name, input.level, input.kind ?? null, parent?.id ?? null, input.lat ?? null, input.lon ?? null, input.source ?? null, t, t);
    return this.byId(Number(info.lastInsertRowid))!;
  }

  update(key: string, defaultVersion: string, patch: Partial<Pick<AreaInput, 'name' | 'kind' | 'lat' | 'lon' | 'parentKey'>>): Area {
    const a = this.require(key, defaultVersion);
    if (a.retiredAt) throw fail('LOANET_RETIRED', { thing: 'area', id: a.key });
    let parentId = a.parentId;
    if (patch.parentKey !== undefined) {
      const parent = this.checkParent(a.version, a.level, patch.parentKey);
      if (parent && this.isInSubtree(parent.id, a.id)) throw fail('LOANET_AREA_CYCLE', { field: 'parentKey', key: a.key, parentKey: patch.parentKey ?? '' });
      parentId = parent?.id ?? null;
    }
    this.db
      .prepare('UPDATE areas SET name = ?, kind = ?, lat = ?, lon = ?, parent_id = ?, updated_at = ? WHERE id = ?')
      .run(
        patch.name ?? a.name,
        patch.kind !== undefined ? patch.kind : a.kind,
        patch.lat !== undefined ? patch.lat : a.lat,
        patch.lon !== undefined ? patch.lon : a.lon,
        parentId,
        this.now(),
        a.id,
      );
    return this.byId(a.id)!;
  }

  /** Retire an area; refused while it still has active child areas or sites, so nothing is orphaned. */
  retire(key: string, defaultVersion: string): Area {
    const a = this.require(key, defaultVersion);
    if (a.retiredAt) return a;
    const children = (this.db.prepare('SELECT COUNT(*) AS n FROM areas WHERE parent_id = ? AND retired_at IS NULL').get(a.id) as { n: number }).n;
    const sites = (this.db.prepare('SELECT COUNT(*) AS n FROM sites WHERE area_id = ? AND retired_at IS NULL').get(a.id) as { n: number }).n;
    if (children > 0 || sites > 0) {
      throw fail('LOANET_AREA_NOT_EMPTY', { key: a.key, children, sites });
    }
    this.db.prepare('UPDATE areas SET retired_at = ?, updated_at = ? WHERE id = ?').run(this.now(), this.now(), a.id);
    return this.byId(a.id)!;
  }

  /** Upsert a parsed list in one transaction: all of it or nothing. */
  import(version: string, drafts: AreaDraft[], source: string): ImportSummary {
    const summary: ImportSummary = { version, created: 0, updated: 0, unchanged: 0 };
    this.db.transaction(() => {
      for (const d of drafts) {
        const existing = this.get(areaKey(version, d.code), version);
        const parentKey = d.parentCode ? areaKey(version, d.parentCode) : null;
        if (!existing) {
          this.create({ version, code: d.code, name: d.name, level: d.level, kind: d.kind, parentKey, lat: d.lat, lon: d.lon, source });
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
          existing.retiredAt === null;
        if (same) {
          summary.unchanged++;
          continue;
        }
        this.db.prepare('UPDATE areas SET retired_at = NULL WHERE id = ?').run(existing.id);
        this.update(existing.key, version, { name: d.name, kind: d.kind, parentKey, lat: d.lat, lon: d.lon });
        summary.updated++;
      }
    })();
    return summary;
  }

  private isInSubtree(candidateId: number, rootId: number): boolean {
    let cur: Area | undefined = this.byId(candidateId);
    while (cur) {
      if (cur.id === rootId) return true;
      cur = cur.parentId !== null ? this.byId(cur.parentId) : undefined;
    }
    return false;
  }

  private checkParent(version: string, level: AreaLevel, parentKey: string | null): Area | undefined {
    if (parentKey === null) {
      if (level !== 'province') throw fail('LOANET_AREA_NEEDS_PARENT', { field: 'parentKey', level });
      return undefined;
    }
    const parent = this.get(parentKey, version);
    if (!parent) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: 'parentKey', thing: 'area', id: parentKey });
    if (parent.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'parentKey', thing: 'area', id: parent.key });
    if (parent.version !== version) throw fail('LOANET_AREA_VERSION_MISMATCH', { field: 'parentKey', parentKey: parent.key, parentVersion: parent.version, version });
    if (LEVEL_RANK[parent.level] >= LEVEL_RANK[level]) {
      throw fail('LOANET_AREA_NESTING', { field: 'parentKey', level, parentLevel: parent.level, parentKey: parent.key });
    }
    return parent;
  }
}
