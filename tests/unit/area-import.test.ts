import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parseAreaCsv, AreaImportError } from '../../server/registry/area-import.ts';
import { parseCsv } from '../../server/registry/csv.ts';

const dir = path.resolve(import.meta.dirname, '../../server/registry/vn-admin');

describe('CSV reader', () => {
  it('handles quotes, doubled quotes, CRLF and a BOM', () => {
    const t = parseCsv('\ufeffcode,name\r\n1,"Thôn ""Mới"", Bản 2"\r\n2,Xã Bát Xát\r\n');
    expect(t.rows).toEqual([
      { code: '1', name: 'Thôn "Mới", Bản 2' },
      { code: '2', name: 'Xã Bát Xát' },
    ]);
  });
  it('names the line of a ragged row or an unterminated quote', () => {
    expect(() => parseCsv('a,b\n1,2\n3\n')).toThrow(/CSV line 3: has 1 fields, the header has 2/);
    expect(() => parseCsv('a,b\n1,"2\n')).toThrow(/unterminated quoted field/);
  });
});

describe('area lists', () => {
  it('reads the official three-level 2020 list: 1 province, 9 districts, 151 communes, parents first', () => {
    const d = parseAreaCsv(fs.readFileSync(path.join(dir, 'lao-cai-2020.csv'), 'utf8'));
    expect(d.filter((a) => a.level === 'province')).toHaveLength(1);
    expect(d.filter((a) => a.level === 'district')).toHaveLength(9);
    expect(d.filter((a) => a.level === 'commune')).toHaveLength(151);
    expect(d.find((a) => a.code === '02647')).toMatchObject({ name: 'Phường Kim Tân', parentCode: '080', kind: 'phường' });
    const seen = new Set<string>();
    for (const a of d) {
      if (a.parentCode) expect(seen.has(a.parentCode), a.code).toBe(true);
      seen.add(a.code);
    }
  });

  it('reads the two-level 2025 list with coordinates, codes kept as strings', () => {
    const d = parseAreaCsv(fs.readFileSync(path.join(dir, 'lao-cai-2025.csv'), 'utf8'));
    expect(d).toHaveLength(100);
    expect(d.find((a) => a.code === '02683')).toMatchObject({ name: 'Xã Bát Xát', level: 'commune', parentCode: '15', lat: 22.51954, lon: 103.85259 });
  });

  it("reads loanet's own layout of any depth, villages included", () => {
    const d = parseAreaCsv('code,name,level,parent_code,kind\n02683-01,Thôn Pho,village,02683,thôn\n02683,Xã Bát Xát,commune,15,xã\n');
    expect(d.map((a) => a.code)).toEqual(['02683', '02683-01']);
  });

  it('refuses bad files with a message naming what is wrong', () => {
    const bad: Array<[string, RegExp]> = [
      ['x,y\n1,2\n', /unrecognised header/],
      ['code,name,level,parent_code\n01,A,hamlet,\n', /line 2: level "hamlet"/],
      ['code,name,level,parent_code\n0 1,A,village,02683\n', /line 2: code "0 1" is not a valid area code/],
      ['code,name,level,parent_code,lat\n01,A,village,02683,123\n', /line 2: lat "123"/],
      ['code,name,level,parent_code\n01,A,village,02\n01,B,village,02\n', /code 01 appears twice/],
      ['code,name,level,parent_code\n01,A,village,02\n02,B,commune,01\n', /its own ancestor/],
      ['code,name,level,parent_code\n01,,village,02\n', /line 2: name is empty/],
    ];
    for (const [csv, msg] of bad) expect(() => parseAreaCsv(csv), csv).toThrow(msg);
    expect(() => parseAreaCsv('x,y\n')).toThrow(AreaImportError);
  });

  it('says what is wrong and where as data, for the console to word (LOANET_AREA_CSV)', () => {
    const problemOf = (csv: string) => {
      try {
        parseAreaCsv(csv);
      } catch (e) {
        if (e instanceof AreaImportError) return e.problem;
        throw e;
      }
      throw new Error('accepted');
    };
    expect(problemOf('x,y\n1,2\n')).toMatchObject({ problem: 'header', line: 1 });
    expect(problemOf('code,name,level,parent_code\n01,A,hamlet,\n')).toEqual({ problem: 'level', line: 2, column: 'level', value: 'hamlet' });
    expect(problemOf('code,name,level,parent_code,lat\n01,A,village,02683,123\n')).toEqual({ problem: 'coordinate', line: 2, column: 'lat', value: '123' });
    expect(problemOf('code,name,level,parent_code\n01,,village,02\n')).toEqual({ problem: 'empty', line: 2, column: 'name' });
    expect(problemOf('code,name,level,parent_code\n01,A,village,02\n02,B,commune,01\n')).toEqual({ problem: 'cycle', value: '01' });
  });
});
