import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { AreaLevel, AreaNode } from '../../server/registry/model.ts';
import type { BroadcastItem, ScheduleSite } from '../../server/schedule/model.ts';
import { computePlaylists, defaultHorizon, diffPlaylists, makePlaylist, mediaNeeded, type MediaLookup, type PlaylistEntry } from '../../server/schedule/playlist.ts';
import { SiteDirectory } from '../../server/schedule/resolve.ts';

const H = 3_600_000;
const MIN = 60_000;
/** 2026-11-27 00:00 local (Asia/Ho_Chi_Minh). */
const DAY0 = Date.parse('2026-11-26T17:00:00Z');

let nextId = 1;
function area(code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextId++, key: `2025.${code}`, code, version: '2025', name, level, parentId: parent?.id ?? null };
}
const xaBatXat = area('02683', 'Xã Bát Xát', 'commune', null);
const thon1 = area('0268301', 'Thôn 1', 'village', xaBatXat);
const thon2 = area('0268302', 'Thôn 2', 'village', xaBatXat);
const index = AreaIndex.build([xaBatXat, thon1, thon2]);
const sites: ScheduleSite[] = [
  { siteId: 'bx-1', areaId: thon1.id },
  { siteId: 'bx-2', areaId: thon2.id },
  { siteId: 'bx-old', areaId: thon2.id, retired: true },
];
const dir = new SiteDirectory(index, sites);
const library = new Map([
  ['m-news', { sha256: 'a'.repeat(64) }],
  ['m-flood', { sha256: 'f'.repeat(64) }],
  ['m-new', { sha256: 'b'.repeat(64) }],
]);
const media: MediaLookup = (id) => library.get(id);

function item(over: Partial<BroadcastItem> & Pick<BroadcastItem, 'id'>): BroadcastItem {
  return {
    mediaId: 'm-news',
    durationMs: 10 * MIN,
    title: over.id,
    targets: { areaKeys: ['2025.02683'], siteIds: [] },
    start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' },
    priority: 'normal',
    status: 'approved',
    createdBy: 'op',
    approvedBy: 'chief',
    ...over,
  };
}
const horizon = defaultHorizon(DAY0);
const schedule = [
  item({ id: 'daily' }),
  item({
    id: 'flood',
    mediaId: 'm-flood',
    priority: 'emergency',
    start: { at: DAY0 + 17 * H + 5 * MIN },
    durationMs: 5 * MIN,
    targets: { areaKeys: ['2025.0268302'], siteIds: [] },
  }),
];

describe('computePlaylists', () => {
  it('gives each active site its sorted entries for the next 48 h, after arbitration', () => {
    const { playlists, problems } = computePlaylists(schedule, dir, media, horizon);
    expect(problems).toEqual([]);
    expect([...playlists.keys()].sort()).toEqual(['bx-1', 'bx-2']);
    expect(playlists.get('bx-1')!.entries.map((e) => e.startAt)).toEqual([DAY0 + 6 * H, DAY0 + 17 * H, DAY0 + 30 * H, DAY0 + 41 * H]);
    const bx2 = playlists.get('bx-2')!.entries;
    expect(bx2.map((e) => [e.itemId, e.startAt - DAY0])).toEqual([
      ['daily', 6 * H],
      ['flood', 17 * H + 5 * MIN],
      ['daily', 30 * H],
      ['daily', 41 * H],
    ]);
    expect(bx2[1]).toEqual({
      id: `flood@${DAY0 + 17 * H + 5 * MIN}`,
      itemId: 'flood',
      mediaId: 'm-flood',
      sha256: 'f'.repeat(64),
      startAt: DAY0 + 17 * H + 5 * MIN,
      durationMs: 5 * MIN,
      priority: 'emergency',
    });
  });

  it('cuts at the horizon: nothing at or after its end, an entry still playing at its start is kept', () => {
    const { playlists } = computePlaylists(schedule, dir, media, { from: DAY0 + 6 * H + 5 * MIN, to: DAY0 + 17 * H });
    expect(playlists.get('bx-1')!.entries.map((e) => e.startAt)).toEqual([DAY0 + 6 * H]);
  });

  it('a site with nothing to play gets an empty playlist with a version of its own', () => {
    const { playlists } = computePlaylists([], dir, media, horizon);
    expect(playlists.get('bx-1')).toEqual({ siteId: 'bx-1', version: makePlaylist('x', []).version, entries: [] });
  });

  it('an item whose media is missing is reported once and left out', () => {
    const { playlists, problems } = computePlaylists([item({ id: 'ghost', title: 'Ma', mediaId: 'm-gone' })], dir, media, horizon);
    expect(problems).toEqual([{ itemId: 'ghost', code: 'unknown_media', message: '"Ma" plays media m-gone, which is not in the library' }]);
    expect(playlists.get('bx-1')!.entries).toEqual([]);
  });
});

describe('version', () => {
  const entries = (): PlaylistEntry[] => computePlaylists(schedule, dir, media, horizon).playlists.get('bx-2')!.entries;

  it('is the same whatever the order of the items or the entries', () => {
    const a = computePlaylists(schedule, dir, media, horizon).playlists.get('bx-2')!;
    const b = computePlaylists([...schedule].reverse(), dir, media, horizon).playlists.get('bx-2')!;
    expect(b.version).toBe(a.version);
    fc.assert(
      fc.property(fc.shuffledSubarray(entries(), { minLength: 4, maxLength: 4 }), (shuffled) => {
        expect(makePlaylist('bx-2', shuffled).version).toBe(a.version);
      }),
    );
  });

  it('changes when the content changes: media, start, or an entry more or less', () => {
    const base = makePlaylist('bx-2', entries()).version;
    const e = entries();
    expect(makePlaylist('bx-2', [{ ...e[0]!, sha256: 'c'.repeat(64) }, ...e.slice(1)]).version).not.toBe(base);
    expect(makePlaylist('bx-2', [{ ...e[0]!, startAt: e[0]!.startAt + 1 }, ...e.slice(1)]).version).not.toBe(base);
    expect(makePlaylist('bx-2', e.slice(1)).version).not.toBe(base);
  });
});

describe('diffPlaylists', () => {
  it('says what was added, removed and changed, and nothing for an unchanged schedule', () => {
    const before = computePlaylists(schedule, dir, media, horizon).playlists.get('bx-2')!;
    expect(diffPlaylists(before, computePlaylists(schedule, dir, media, horizon).playlists.get('bx-2')!)).toEqual({ same: true, added: [], removed: [], changed: [] });

    const edited = [
      item({ id: 'daily', mediaId: 'm-new', start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0', exdates: ['2026-11-28T17:00'] } }),
      item({ id: 'extra', start: { at: DAY0 + 20 * H } }),
    ];
    const after = computePlaylists(edited, dir, media, horizon).playlists.get('bx-2')!;
    const d = diffPlaylists(before, after);
    expect(d.same).toBe(false);
    // The 17:00 bulletin was pre-empted at bx-2 by the flood warning, which is gone now.
    expect(d.added.map((e) => [e.itemId, e.startAt - DAY0])).toEqual([
      ['daily', 17 * H],
      ['extra', 20 * H],
    ]);
    expect(d.removed.map((e) => [e.itemId, e.startAt - DAY0])).toEqual([
      ['flood', 17 * H + 5 * MIN],
      ['daily', 41 * H],
    ]);
    expect(d.changed.map((c) => [c.before.sha256[0], c.after.sha256[0]])).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
  });
});

describe('mediaNeeded', () => {
  it('is every SHA-256 some entry plays: anything else may be evicted', () => {
    const { playlists } = computePlaylists(schedule, dir, media, horizon);
    expect(mediaNeeded(playlists.get('bx-1')!)).toEqual(new Set(['a'.repeat(64)]));
    expect(mediaNeeded(playlists.values())).toEqual(new Set(['a'.repeat(64), 'f'.repeat(64)]));
  });
});
