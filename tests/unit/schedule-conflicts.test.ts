import { describe, expect, it } from 'vitest';
import { arbitrate, arbitrateSite, checkNewItem, firstOverlap, placesOf } from '../../server/schedule/conflicts.ts';
import type { BroadcastItem, Occurrence, Priority, ScheduleSite } from '../../server/schedule/model.ts';
import { SiteDirectory, resolveOccurrences } from '../../server/schedule/resolve.ts';
import { H, MIN, DAY0, index, provinceSites, broadcastItem } from '../helpers/schedule-fixture.ts';

const sites: ScheduleSite[] = provinceSites;
const dir = new SiteDirectory(index, sites);
const horizon = { from: DAY0, to: DAY0 + 48 * H };

const item = (over: Partial<BroadcastItem> & Pick<BroadcastItem, 'id'>): BroadcastItem => broadcastItem({ targets: { areaKeys: ['2025.10'], siteIds: [] }, ...over });

function occ(itemId: string, priority: Priority, startAt: number, durationMs: number, siteId = 's1'): Occurrence {
  return { itemId, siteId, startAt, endAt: startAt + durationMs, priority };
}

describe('arbitration at a site', () => {
  it('emergency pre-empts priority, which pre-empts normal; the lower ones are skipped whole for higher_priority', () => {
    const t = DAY0 + 6 * H;
    const plan = arbitrateSite(
      's1',
      [occ('news', 'normal', t, 30 * MIN), occ('vaccination', 'priority', t + 5 * MIN, 10 * MIN), occ('flood', 'emergency', t + 10 * MIN, 5 * MIN)],
      new Map(),
    );
    expect(plan.plays.map((p) => p.itemId)).toEqual(['flood']);
    expect(plan.skipped.map((s) => [s.itemId, s.reason, s.blockedBy])).toEqual([
      ['news', 'higher_priority', `flood@${t + 10 * MIN}`],
      ['vaccination', 'higher_priority', `flood@${t + 10 * MIN}`],
    ]);
  });

  it('a lower item that does not overlap the higher one still plays, and plays never overlap', () => {
    const t = DAY0 + 6 * H;
    const plan = arbitrateSite(
      's1',
      [occ('news', 'normal', t, 10 * MIN), occ('flood', 'emergency', t + 10 * MIN, 5 * MIN), occ('music', 'normal', t + 15 * MIN, 5 * MIN)],
      new Map(),
    );
    expect(plan.plays.map((p) => [p.itemId, p.startAt - t])).toEqual([
      ['news', 0],
      ['flood', 10 * MIN],
      ['music', 15 * MIN],
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it('arbitration is per site: an emergency for one village does not silence the others', () => {
    const t = DAY0 + 6 * H;
    const items = [
      item({ id: 'news', start: { at: t } }),
      item({ id: 'flood', priority: 'emergency', start: { at: t + MIN }, targets: { areaKeys: ['2025.0268601'], siteIds: [] } }),
    ];
    const { occurrences } = resolveOccurrences(items, dir, horizon);
    const plans = arbitrate(occurrences, new Map(items.map((i) => [i.id, i])));
    expect(plans.get('qk-3')!.plays.map((p) => p.itemId)).toEqual(['flood']);
    expect(plans.get('qk-3')!.skipped.map((s) => s.reason)).toEqual(['higher_priority']);
    for (const s of ['bx-station', 'bx-1a', 'bx-1b', 'bx-2']) expect(plans.get(s)!.plays.map((p) => p.itemId)).toEqual(['news']);
  });

  it('queue=true shifts the item to start right after the one blocking it, keeping its id', () => {
    const t = DAY0 + 6 * H;
    const items = new Map([['news', { queue: true }]]);
    const plan = arbitrateSite(
      's1',
      [occ('news', 'normal', t, 10 * MIN), occ('flood', 'emergency', t + 2 * MIN, 5 * MIN), occ('alert2', 'emergency', t + 7 * MIN, 4 * MIN)],
      items,
    );
    const news = plan.plays.find((p) => p.itemId === 'news')!;
    expect(news).toMatchObject({ id: `news@${t}`, scheduledAt: t, startAt: t + 11 * MIN, endAt: t + 21 * MIN, shiftedMs: 11 * MIN });
    expect(plan.skipped).toEqual([]);
  });

  it('a queued item that would end after its validUntil is skipped queue_no_room', () => {
    const t = DAY0 + 6 * H;
    const plan = arbitrateSite('s1', [occ('news', 'normal', t, 10 * MIN), occ('flood', 'emergency', t, 30 * MIN)], new Map([['news', { queue: true, validUntil: t + 35 * MIN }]]));
    expect(plan.skipped.map((s) => s.reason)).toEqual(['queue_no_room']);
  });

  it('same priority: a queued item waits behind a non-queued one even if it was scheduled first', () => {
    const t = DAY0 + 6 * H;
    const plan = arbitrateSite('s1', [occ('early', 'normal', t, 10 * MIN), occ('late', 'normal', t + 5 * MIN, 10 * MIN)], new Map([['early', { queue: true }]]));
    expect(plan.plays.map((p) => [p.itemId, p.startAt - t])).toEqual([
      ['late', 5 * MIN],
      ['early', 15 * MIN],
    ]);
  });

  it('two same-priority items that still meet (saved before the check): the first scheduled plays, the other is skipped same_priority', () => {
    const t = DAY0 + 6 * H;
    const plan = arbitrateSite('s1', [occ('b', 'normal', t + 5 * MIN, 10 * MIN), occ('a', 'normal', t, 10 * MIN)], new Map());
    expect(plan.plays.map((p) => p.itemId)).toEqual(['a']);
    expect(plan.skipped.map((s) => [s.itemId, s.reason])).toEqual([['b', 'same_priority']]);
  });
});

describe('checkNewItem: same-priority overlaps are refused before saving', () => {
  const morning = item({ id: 'sang', title: 'Bản tin sáng', start: { dtstart: '2026-11-01T06:00', rrule: 'FREQ=DAILY' }, durationMs: 15 * MIN });

  it('refuses, naming the item, the sites (as whole areas) and the first overlap in local time', () => {
    const mine = item({ id: 'new', title: 'Thông báo tiêm chủng', status: 'draft', start: { at: DAY0 + 6 * H + 5 * MIN }, targets: { areaKeys: ['2025.02683'], siteIds: [] } });
    const r = checkNewItem(mine, [morning], dir, horizon);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toBe('"Thông báo tiêm chủng" overlaps "Bản tin sáng" at 4 sites in Xã Bát Xát from 06:05 27/11. Move it, or ask to queue it behind.');
    expect(r).not.toHaveProperty('messageVi');
    expect(r.conflicts).toEqual([
      {
        itemId: 'sang',
        title: 'Bản tin sáng',
        siteIds: ['bx-1a', 'bx-1b', 'bx-2', 'bx-station'],
        places: { areas: [{ key: '2025.02683', name: 'Xã Bát Xát', sites: 4 }], siteIds: [] },
        firstOverlapAt: DAY0 + 6 * H + 5 * MIN,
      },
    ]);
  });

  it('names loose sites when they are not a whole area', () => {
    const mine = item({ id: 'new', title: 'X', start: { at: DAY0 + 6 * H }, targets: { areaKeys: ['2025.0268302'], siteIds: ['bx-1a'] } });
    const r = checkNewItem(mine, [morning], dir, horizon);
    expect(!r.ok && r.message).toBe('"X" overlaps "Bản tin sáng" at 2 sites in Thôn 2 and 1 other site (bx-1a) from 06:00 27/11. Move it, or ask to queue it behind.');
  });

  it('lists every conflicting item, earliest overlap first', () => {
    const evening = item({ id: 'chieu', title: 'Bản tin chiều', start: { at: DAY0 + 17 * H } });
    const mine = item({ id: 'new', title: 'Dài', start: { at: DAY0 + 5 * H }, durationMs: 13 * H, targets: { areaKeys: [], siteIds: ['qk-3'] } });
    const r = checkNewItem(mine, [evening, morning], dir, horizon);
    expect(!r.ok && r.conflicts.map((c) => [c.itemId, c.firstOverlapAt])).toEqual([
      ['sang', DAY0 + 6 * H],
      ['chieu', DAY0 + 17 * H],
    ]);
    expect(!r.ok && r.message).toBe(
      '"Dài" overlaps "Bản tin sáng" at 1 site in Xã Quang Kim from 06:00 27/11; overlaps "Bản tin chiều" at 1 site in Xã Quang Kim from 17:00 27/11. Move it, or ask to queue it behind.',
    );
  });

  it('accepts it when the operator asks to queue, saying what it will wait behind', () => {
    const r = checkNewItem(item({ id: 'new', queue: true, start: { at: DAY0 + 6 * H } }), [morning], dir, horizon);
    expect(r.ok).toBe(true);
    expect(r.ok && r.queuedBehind.map((c) => c.itemId)).toEqual(['sang']);
  });

  it('back-to-back items of the same priority are fine', () => {
    expect(checkNewItem(item({ id: 'new', start: { at: DAY0 + 6 * H + 15 * MIN } }), [morning], dir, horizon).ok).toBe(true);
    expect(checkNewItem(item({ id: 'new', start: { at: DAY0 + 5 * H + 50 * MIN } }), [morning], dir, horizon).ok).toBe(true);
  });

  it('overlapping in time at different sites is fine', () => {
    const a = item({ id: 'a', targets: { areaKeys: ['2025.02683'], siteIds: [] } });
    expect(checkNewItem(item({ id: 'new', targets: { areaKeys: ['2025.02686'], siteIds: [] } }), [a], dir, horizon).ok).toBe(true);
  });

  it('other priorities, drafts, cancelled items, queued items and the item itself never refuse', () => {
    const mine = item({ id: 'new', start: { at: DAY0 + 6 * H } });
    const others = [
      item({ id: 'p', priority: 'priority' }),
      item({ id: 'e', priority: 'emergency' }),
      item({ id: 'd', status: 'draft' }),
      item({ id: 'c', status: 'cancelled' }),
      item({ id: 'q', queue: true }),
      item({ id: 'new' }),
    ];
    expect(checkNewItem(mine, others, dir, horizon).ok).toBe(true);
  });
});

describe('helpers', () => {
  it('firstOverlap finds the earliest overlapping instant', () => {
    expect(firstOverlap([0, 100, 200], 10, [105, 205], 10)).toBe(105);
    expect(firstOverlap([0, 100], 10, [10, 90], 10)).toBeUndefined();
    expect(firstOverlap([50], 100, [0, 60, 120], 20)).toBe(60);
    expect(firstOverlap([], 10, [0], 10)).toBeUndefined();
  });

  it('placesOf names the largest whole areas and lists the rest', () => {
    expect(placesOf(['bx-station', 'bx-1a', 'bx-1b', 'bx-2', 'qk-3'], dir).areas.map((a) => a.name)).toEqual(['Tỉnh Lào Cai']);
    expect(placesOf(['bx-1a', 'bx-1b', 'qk-3'], dir)).toEqual({
      areas: [
        { key: '2025.0268301', name: 'Thôn 1', sites: 2 },
        { key: '2025.02686', name: 'Xã Quang Kim', sites: 1 },
      ],
      siteIds: [],
    });
  });
});
