import { describe, expect, it } from 'vitest';
import {
  DEFAULT_AREA_LANGUAGES,
  effectiveLanguages,
  effectiveLanguagesOf,
  type LanguageNode,
  normaliseLanguageList,
  parseStoredLanguages,
} from '../../server/registry/area-languages.ts';
import { AreaImportError, parseAreaCsv } from '../../server/registry/area-import.ts';

const tree = (nodes: LanguageNode[]) => new Map(nodes.map((n) => [n.id, n]));
// province 1 → commune 2 → villages 3, 4; commune 5 → village 6
const base: LanguageNode[] = [
  { id: 1, parentId: null },
  { id: 2, parentId: 1 },
  { id: 3, parentId: 2 },
  { id: 4, parentId: 2 },
  { id: 5, parentId: 1 },
  { id: 6, parentId: 5 },
];
const withLists = (lists: Record<number, string[] | null>) => tree(base.map((n) => ({ ...n, languages: lists[n.id] ?? null })));

describe('the languages an area speaks', () => {
  it('a tree where no area says anything speaks Vietnamese', () => {
    expect(effectiveLanguages(3, withLists({}))).toEqual({ languages: DEFAULT_AREA_LANGUAGES, fromAreaId: null });
    expect(DEFAULT_AREA_LANGUAGES).toEqual(['vi']);
  });

  it('a village with no list speaks its commune’s, a commune with none its province’s', () => {
    const t = withLists({ 1: ['vi', 'tyz'], 2: ['hmn', 'vi'] });
    expect(effectiveLanguages(3, t)).toEqual({ languages: ['hmn', 'vi'], fromAreaId: 2 });
    expect(effectiveLanguages(6, t)).toEqual({ languages: ['vi', 'tyz'], fromAreaId: 1 });
  });

  it('a village’s own list wins over its commune’s, in its own order', () => {
    const t = withLists({ 2: ['hmn', 'vi'], 4: ['ium', 'hmn', 'vi'] });
    expect(effectiveLanguages(4, t)).toEqual({ languages: ['ium', 'hmn', 'vi'], fromAreaId: 4 });
    expect(effectiveLanguages(3, t).languages).toEqual(['hmn', 'vi']);
  });

  it('an empty list counts as none (inherits), an unknown area or a parent cycle ends at the default', () => {
    expect(effectiveLanguages(3, withLists({ 3: [], 2: ['hmn'] })).languages).toEqual(['hmn']);
    expect(effectiveLanguages(42, withLists({ 1: ['hmn'] })).fromAreaId).toBeNull();
    const cycle = tree([
      { id: 1, parentId: 2 },
      { id: 2, parentId: 1 },
    ]);
    expect(effectiveLanguages(1, cycle).languages).toEqual(['vi']);
  });

  it('many areas at once give what each asked alone', () => {
    const t = withLists({ 1: ['vi', 'tyz'], 2: ['hmn', 'vi'], 4: ['ium', 'hmn', 'vi'] });
    const all = effectiveLanguagesOf([6, 4, 3, 2, 1, 5, 99], t);
    for (const id of [1, 2, 3, 4, 5, 6, 99]) expect(all.get(id), `area ${id}`).toEqual(effectiveLanguages(id, t).languages);
  });
});

describe('a list as typed or imported', () => {
  it('is normalised to the media library’s tags, each once, in the given order', () => {
    expect(normaliseLanguageList(['HMN', ' ium', 'vi', 'hmn'])).toEqual({ ok: true, languages: ['hmn', 'ium', 'vi'] });
  });
  it('names the first tag that is not BCP 47, and refuses none or more than eight', () => {
    expect(normaliseLanguageList(['hmn', 'not a tag'])).toEqual({ ok: false, problem: 'not_a_tag', index: 1, value: 'not a tag' });
    expect(normaliseLanguageList([])).toEqual({ ok: false, problem: 'empty' });
    expect(normaliseLanguageList(['vi', 'hmn', 'ium', 'mji', 'tyz', 'pcc', 'nut', 'blt', 'hni'])).toMatchObject({ ok: false, problem: 'too_many' });
  });
  it('as stored: JSON text, anything unreadable counts as no list', () => {
    expect(parseStoredLanguages('["hmn","vi"]')).toEqual(['hmn', 'vi']);
    expect(parseStoredLanguages(null)).toBeNull();
    expect(parseStoredLanguages('[]')).toBeNull();
    expect(parseStoredLanguages('{oops')).toBeNull();
  });
});

describe('an area list with a languages column', () => {
  const header = 'code,name,level,parent_code,languages';
  it('gives each area its own list, and an empty cell inherits', () => {
    const drafts = parseAreaCsv(`${header}\n10,Lào Cai,province,,vi\n02647,Xã A,commune,10,hmn;VI\n0264701,Thôn 1,village,02647,\n`);
    expect(Object.fromEntries(drafts.map((d) => [d.code, d.languages]))).toEqual({ '10': ['vi'], '02647': ['hmn', 'vi'], '0264701': null });
  });
  it('leaves the lists alone when the file has no such column', () => {
    const drafts = parseAreaCsv('code,name,level,parent_code\n10,Lào Cai,province,\n');
    expect(drafts[0]).not.toHaveProperty('languages');
  });
  it('refuses a bad tag naming its line and the tag', () => {
    let err: unknown;
    try {
      parseAreaCsv(`${header}\n10,Lào Cai,province,,vi\n02647,Xã A,commune,10,hmn;h@mong\n`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AreaImportError);
    expect((err as AreaImportError).problem).toEqual({ problem: 'language', line: 3, column: 'languages', value: 'h@mong' });
    expect((err as Error).message).toContain('line 3');
  });
  it('reads the column in a GSO list as the commune’s', () => {
    const gso = 'province_code,province_name,commune_code,commune_name,commune_type,languages\n10,Tỉnh Lào Cai,02647,Xã Bát Xát,Xã,hmn;ium;vi\n10,Tỉnh Lào Cai,02650,Xã Khác,Xã,\n';
    const drafts = parseAreaCsv(gso);
    expect(drafts.find((d) => d.code === '02647')?.languages).toEqual(['hmn', 'ium', 'vi']);
    expect(drafts.find((d) => d.code === '02650')?.languages).toBeNull();
    expect(drafts.find((d) => d.code === '10')).not.toHaveProperty('languages');
  });
});
