import { describe, expect, it } from 'vitest';
import type { ScheduleSite } from '../../server/schedule/model.ts';
import { SiteDirectory, resolveOccurrences, targetSites } from '../../server/schedule/resolve.ts';
import { H, DAY0, index, provinceSites, broadcastItem } from '../helpers/schedule-fixture.ts';

const sites: ScheduleSite[] = [...provinceSites, { siteId: 'orphan', areaId: 9999 }];
const dir = new SiteDirectory(index, sites);

const item = broadcastItem;
const horizon = { from: DAY0, to: DAY0 + 48 * H };

describe('targetSites', () => {
  it('an area target covers every active site in its subtree, and no retired one', () => {
    const r = targetSites(item({ id: 'a', targets: { areaKeys: ['2025.02683'], siteIds: [] } }), dir);
    expect(r.siteIds).toEqual(['bx-1a', 'bx-1b', 'bx-2', 'bx-station']);
    expect(r.problems).toEqual([]);
    expect(targetSites(item({ id: 'a', targets: { areaKeys: ['2025.10'], siteIds: [] } }), dir).siteIds).toEqual(['bx-1a', 'bx-1b', 'bx-2', 'bx-station', 'qk-3']);
  });

  it('areas and sites together are merged without duplicates; a site outside the area tree is reachable by name', () => {
    const r = targetSites(item({ id: 'a', targets: { areaKeys: ['2025.0268301', '2025.0268601'], siteIds: ['bx-1a', 'orphan'] } }), dir);
    expect(r.siteIds).toEqual(['bx-1a', 'bx-1b', 'orphan', 'qk-3']);
  });

  it('unknown areas, unknown and retired sites are reported, the rest still resolves', () => {
    const r = targetSites(item({ id: 'a', title: 'Bản tin', targets: { areaKeys: ['2025.99999', '2025.0268602'], siteIds: ['nope', 'bx-1-old', 'bx-2'] } }), dir);
    expect(r.siteIds).toEqual(['bx-2']);
    expect(r.problems.map((p) => p.code)).toEqual(['unknown_area', 'unknown_area', 'unknown_site', 'retired_site']);
    expect(r.problems[0]!.message).toBe('"Bản tin" targets area 2025.99999, which is not a current area');
  });
});

describe('resolveOccurrences', () => {
  const everywhere = { areaKeys: ['2025.10'], siteIds: [] };

  it('only approved items go out: drafts wait, cancelled never play', () => {
    const r = resolveOccurrences(
      [item({ id: 'ok', targets: everywhere }), item({ id: 'draft', status: 'draft', targets: everywhere }), item({ id: 'gone', status: 'cancelled', targets: everywhere })],
      dir,
      horizon,
    );
    expect(new Set(r.occurrences.map((o) => o.itemId))).toEqual(new Set(['ok']));
    expect(r.occurrences).toHaveLength(5);
  });

  it('a daily 06:00 and 17:00 bulletin gives four plays per targeted site in 48 h, at the right instants', () => {
    const r = resolveOccurrences(
      [item({ id: 'daily', targets: { areaKeys: ['2025.0268301'], siteIds: [] }, start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' } })],
      dir,
      horizon,
    );
    const atSite = r.occurrences.filter((o) => o.siteId === 'bx-1a').map((o) => new Date(o.startAt).toISOString());
    expect(atSite).toEqual(['2026-11-26T23:00:00.000Z', '2026-11-27T10:00:00.000Z', '2026-11-27T23:00:00.000Z', '2026-11-28T10:00:00.000Z']);
    expect(r.occurrences.filter((o) => o.siteId === 'bx-1b')).toHaveLength(4);
    expect(r.occurrences[0]).toMatchObject({ itemId: 'daily', priority: 'normal', endAt: r.occurrences[0]!.startAt + 10 * 60_000 });
  });

  it('validity: nothing starts before validFrom or at/after validUntil', () => {
    const r = resolveOccurrences(
      [
        item({
          id: 'v',
          targets: { areaKeys: [], siteIds: ['bx-2'] },
          start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17' },
          validFrom: DAY0 + 6 * H + 1,
          validUntil: DAY0 + 30 * H,
        }),
      ],
      dir,
      horizon,
    );
    // 06:00 on day 1 is 1 ms too early; 06:00 on day 2 is exactly validUntil.
    expect(r.occurrences.map((o) => o.startAt)).toEqual([DAY0 + 17 * H]);
  });

  it('an occurrence that began before the horizon and still plays is included; one that has ended is not', () => {
    const r = resolveOccurrences(
      [
        item({ id: 'playing', targets: { areaKeys: [], siteIds: ['bx-2'] }, start: { at: DAY0 - 5 * 60_000 } }),
        item({ id: 'over', targets: { areaKeys: [], siteIds: ['bx-2'] }, start: { at: DAY0 - 10 * 60_000 } }),
        item({ id: 'after', targets: { areaKeys: [], siteIds: ['bx-2'] }, start: { at: horizon.to } }),
      ],
      dir,
      horizon,
    );
    expect(r.occurrences.map((o) => o.itemId)).toEqual(['playing']);
  });

  it('an item with a bad rule is reported and left out; the others still resolve', () => {
    const r = resolveOccurrences(
      [item({ id: 'bad', title: 'Sai', targets: everywhere, start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY;BYHOUR=25' } }), item({ id: 'good', targets: everywhere })],
      dir,
      horizon,
    );
    expect(r.problems).toEqual([{ itemId: 'bad', code: 'invalid_recurrence', message: '"Sai": RRULE: BYHOUR=25 is out of range 0–23' }]);
    expect(r.occurrences.every((o) => o.itemId === 'good')).toBe(true);
  });
});
