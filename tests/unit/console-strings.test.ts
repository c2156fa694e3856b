/** The console's words are split per page or area (web/src/strings/); merged, no area may silently override another's key. */
import { describe, expect, it } from 'vitest';
import * as account from '../../web/src/strings/account.ts';
import * as common from '../../web/src/strings/common.ts';
import * as coverage from '../../web/src/strings/coverage.ts';
import * as disk from '../../web/src/strings/disk.ts';
import * as emergency from '../../web/src/strings/emergency.ts';
import * as live from '../../web/src/strings/live.ts';
import * as schedule from '../../web/src/strings/schedule.ts';
import * as sites from '../../web/src/strings/sites.ts';
import * as users from '../../web/src/strings/users.ts';

const AREAS = { account, common, coverage, disk, emergency, live, schedule, sites, users };

describe('the console strings', () => {
  it('no key is defined by two areas', () => {
    const owner = new Map<string, string>();
    const twice: string[] = [];
    for (const [area, dict] of Object.entries(AREAS)) {
      for (const key of Object.keys(dict.vi)) {
        if (owner.has(key)) twice.push(`${key} (${owner.get(key)} and ${area})`);
        owner.set(key, area);
      }
    }
    expect(twice).toEqual([]);
  });

  it('every area says each of its words in both languages, none empty', () => {
    for (const [area, dict] of Object.entries(AREAS)) {
      expect(Object.keys(dict.en).sort(), area).toEqual(Object.keys(dict.vi).sort());
      const empty = [...Object.entries(dict.vi), ...Object.entries(dict.en)].filter(([, s]) => s.trim() === '').map(([k]) => k);
      expect(empty, area).toEqual([]);
    }
  });
});
