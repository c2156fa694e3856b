/**
 * Turns area lists (CSV) into area drafts, parents before children. Pure.
 *
 * Three layouts are understood, recognised by their header:
 * - the GSO three-level list (province_code, district_code, commune_code, …),
 *   as in vn-admin/lao-cai-2020.csv;
 * - the GSO two-level list since the July 2025 reform (province_code,
 *   commune_code, …, no district), as in vn-admin/lao-cai-2025.csv;
 * - loanet's own layout for any depth, villages included:
 *   `code,name,level,parent_code[,kind,lat,lon]`.
 * Codes are kept as strings: "080" and "80" are different codes.
 * Any layout may add a `languages` column: the area's own languages in order,
 * BCP 47 tags separated by `;` (`hmn;ium;vi`), an empty cell for "as its
 * parent" (area-languages.ts); in a GSO list it is the commune's.
 */
import type { AreaLevel } from './model.ts';
import { parseCsv, CsvError } from './csv.ts';
import type { AreaCsvParams } from '../../api/error-catalogue.ts';
import { normaliseLanguageList } from './area-languages.ts';

export interface AreaDraft {
  code: string;
  name: string;
  level: AreaLevel;
  kind: string | null;
  parentCode: string | null;
  lat: number | null;
  lon: number | null;
  /** The area's own languages (null: as its parent); absent when the file has no languages column (left as stored). */
  languages?: string[] | null;
}

/**
 * What is wrong and where, for the console to word (LOANET_AREA_CSV); the
 * message stays the English of it. A languages cell has problems of its own
 * (LOANET_NOT_A_LANGUAGE_TAG, LOANET_TOO_MANY_TAGS at the route).
 */
export type AreaImportProblem =
  | Omit<AreaCsvParams, 'text' | 'field'>
  | { problem: 'language'; line: number; column: 'languages'; value: string }
  | { problem: 'too_many_languages'; line: number; column: 'languages'; max: number };

export class AreaImportError extends Error {
  constructor(
    message: string,
    readonly problem: AreaImportProblem,
  ) {
    super(message);
    this.name = 'AreaImportError';
  }
}

const LEVELS: readonly AreaLevel[] = ['province', 'district', 'commune', 'village'];
export const AREA_CODE_PATTERN = /^[0-9A-Za-z-]{1,32}$/;

function coord(raw: string | undefined, what: 'lat' | 'lon', line: number): number | null {
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  const limit = what === 'lat' ? 90 : 180;
  if (!Number.isFinite(n) || Math.abs(n) > limit)
    throw new AreaImportError(`line ${line}: ${what} "${raw}" is not a valid coordinate`, { problem: 'coordinate', line, column: what, value: raw });
  return n;
}

function code(raw: string | undefined, column: string, line: number): string {
  if (raw === undefined || !AREA_CODE_PATTERN.test(raw)) {
    throw new AreaImportError(`line ${line}: ${column} "${raw ?? ''}" is not a valid area code (letters, digits and -)`, { problem: 'code', line, column, value: raw ?? '' });
  }
  return raw;
}

/** A languages cell → canonical tags (null for an empty cell); a bad tag names its line and itself. */
function languages(raw: string | undefined, line: number): string[] | null {
  const cell = (raw ?? '').trim();
  if (cell === '') return null;
  const r = normaliseLanguageList(
    cell
      .split(';')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
  );
  if (r.ok) return r.languages;
  if (r.problem === 'too_many') {
    throw new AreaImportError(`line ${line}: languages lists more than ${r.max} languages`, { problem: 'too_many_languages', line, column: 'languages', max: r.max });
  }
  const value = r.problem === 'not_a_tag' ? r.value : cell;
  throw new AreaImportError(`line ${line}: languages "${value}" is not a BCP 47 language tag (e.g. vi, hmn, ium)`, { problem: 'language', line, column: 'languages', value });
}

function required(row: Record<string, string>, column: string, line: number): string {
  const v = row[column];
  if (v === undefined || v === '') throw new AreaImportError(`line ${line}: ${column} is empty`, { problem: 'empty', line, column });
  return v;
}

export function parseAreaCsv(text: string): AreaDraft[] {
  let table: ReturnType<typeof parseCsv>;
  try {
    table = parseCsv(text);
  } catch (e) {
    if (e instanceof CsvError) throw new AreaImportError(e.message, { problem: 'csv', line: e.line });
    throw e;
  }
  const h = new Set(table.header);
  const withLanguages = h.has('languages');
  const langs = (r: Record<string, string>, line: number) => (withLanguages ? { languages: languages(r.languages, line) } : {});
  const out = new Map<string, AreaDraft>();
  const add = (d: AreaDraft, line: number) => {
    const prev = out.get(d.code);
    if (prev && (prev.name !== d.name || prev.level !== d.level || prev.parentCode !== d.parentCode)) {
      throw new AreaImportError(`line ${line}: code ${d.code} appears twice with different content ("${prev.name}" and "${d.name}")`, {
        problem: 'duplicate',
        line,
        column: 'code',
        value: d.code,
      });
    }
    if (!prev) out.set(d.code, d);
  };

  if (h.has('province_code') && h.has('commune_code')) {
    const threeLevel = h.has('district_code');
    table.rows.forEach((r, i) => {
      const line = i + 2;
      const p = code(r.province_code, 'province_code', line);
      add({ code: p, name: required(r, 'province_name', line), level: 'province', kind: 'tỉnh', parentCode: null, lat: null, lon: null }, line);
      let parent = p;
      if (threeLevel) {
        const d = code(r.district_code, 'district_code', line);
        add({ code: d, name: required(r, 'district_name', line), level: 'district', kind: r.district_type || null, parentCode: p, lat: null, lon: null }, line);
        parent = d;
      }
      add(
        {
          code: code(r.commune_code, 'commune_code', line),
          name: required(r, 'commune_name', line),
          level: 'commune',
          kind: r.commune_type || null,
          parentCode: parent,
          lat: coord(r.lat, 'lat', line),
          lon: coord(r.lon, 'lon', line),
          ...langs(r, line),
        },
        line,
      );
    });
  } else if (h.has('code') && h.has('name') && h.has('level')) {
    table.rows.forEach((r, i) => {
      const line = i + 2;
      const level = r.level as AreaLevel;
      if (!LEVELS.includes(level))
        throw new AreaImportError(`line ${line}: level "${r.level}" must be one of ${LEVELS.join(', ')}`, { problem: 'level', line, column: 'level', value: r.level ?? '' });
      add(
        {
          code: code(r.code, 'code', line),
          name: required(r, 'name', line),
          level,
          kind: r.kind || null,
          parentCode: r.parent_code ? code(r.parent_code, 'parent_code', line) : null,
          lat: coord(r.lat, 'lat', line),
          lon: coord(r.lon, 'lon', line),
          ...langs(r, line),
        },
        line,
      );
    });
  } else {
    throw new AreaImportError(
      `unrecognised header (${table.header.join(',')}): expected a GSO list (province_code, [district_code,] commune_code, …) or code,name,level,parent_code`,
      { problem: 'header', line: 1, value: table.header.join(',') },
    );
  }
  return orderParentsFirst([...out.values()]);
}

/** Parents before children; a parent code missing from the file must already exist (the caller checks). */
export function orderParentsFirst(drafts: AreaDraft[]): AreaDraft[] {
  const byCode = new Map(drafts.map((d) => [d.code, d]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: AreaDraft[] = [];
  const visit = (d: AreaDraft) => {
    if (done.has(d.code)) return;
    if (visiting.has(d.code)) throw new AreaImportError(`area ${d.code} is its own ancestor`, { problem: 'cycle', value: d.code });
    visiting.add(d.code);
    const parent = d.parentCode ? byCode.get(d.parentCode) : undefined;
    if (parent) visit(parent);
    visiting.delete(d.code);
    done.add(d.code);
    out.push(d);
  };
  drafts.forEach(visit);
  return out;
}
