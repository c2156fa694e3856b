/**
 * Distribution of a bulletin with language versions over a real store
 * (SQLite, and PostgreSQL when one is known) and a recording broker: the
 * versions survive the store, each site is sent parts in its area's language
 * order only when its agent takes them, what each site was planned to hear
 * is recorded for the as-run, and a playlist grown large by parts is cut to
 * fit MAX_PLAYLIST_BYTES rather than refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import { BroadcastItemStore, startBounds, type ScheduledItem } from '../../server/schedule/items-store.ts';
import { SentEntryStore } from '../../server/schedule/sent-entries.ts';
import { PlaylistDistributor } from '../../server/schedule/distribution.ts';
import { SiteDirectory } from '../../server/schedule/resolve.ts';
import { MAX_PLAYLIST_BYTES, type PlaylistMessage } from '../../protocol/index.ts';
import type { ScheduleSite } from '../../server/schedule/model.ts';
import { DAY0, H, MIN, batXatDistrict, laoCai, publishingBroker, scheduledItem, thon1, thon2, thon3, xaBatXat, xaQuangKim } from '../helpers/schedule-fixture.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const S = 1000;
const LANGS = ['hmn', 'ium', 'mji', 'tyz', 'pcc', 'nut', 'hni'];
const sha = (m: string) => Buffer.from(m).toString('hex').padEnd(64, '0').slice(0, 64);

let store: TestStore;
let items: BroadcastItemStore;
let published: Array<{ topic: string; payload: Buffer }>;
let sites: ScheduleSite[];
let dist: PlaylistDistributor;
let generation: number;

// Thôn 1 speaks [hmn, vi], Thôn 2 [tyz], Thôn 3 every language of LANGS and vi.
const idx = AreaIndex.build([
  laoCai,
  batXatDistrict,
  xaBatXat,
  { ...thon1, languages: ['hmn', 'vi'] },
  { ...thon2, languages: ['tyz'] },
  xaQuangKim,
  { ...thon3, languages: [...LANGS, 'vi'] },
]);
const broker = publishingBroker(async (topic, payload) => {
  published.push({ topic, payload });
});
const lastFor = (siteId: string) =>
  published
    .filter((p) => p.topic.includes(`/${siteId}/`) && p.payload.length > 0)
    .map((p) => JSON.parse(p.payload.toString()) as PlaylistMessage)
    .at(-1);

function save(over: Partial<ScheduledItem> & { id: string }): Promise<void> {
  const item = scheduledItem(over);
  return items.save(item, startBounds(item, undefined), [xaBatXat.id]);
}

describe.each(storeDialects())('distributing a bulletin with language versions on %s', (dialect) => {
  beforeEach(async () => {
    store = await openTestStore(dialect);
    items = new BroadcastItemStore(store.db);
    published = [];
    generation = 0;
    sites = [
      { siteId: 't1-new', areaId: thon1.id, canPlayParts: true },
      { siteId: 't1-old', areaId: thon1.id },
      { siteId: 't2', areaId: thon2.id, canPlayParts: true },
      { siteId: 't3', areaId: thon3.id, canPlayParts: true },
    ];
    dist = new PlaylistDistributor({
      db: store.db,
      items,
      sent: new SentEntryStore(store.db),
      directory: () => new SiteDirectory(idx, sites),
      media: (id) => ({ sha256: sha(id), bytes: 40_000 }),
      broker,
      held: () => undefined,
      featuresGeneration: () => generation,
      log: { info() {}, warn() {}, error() {} },
      now: () => DAY0,
      horizonMs: 48 * H,
      recomputeMs: 60_000,
    });
  });

  afterEach(async () => {
    dist.stop();
    await store.close();
  });

  it('versions survive the store; each site is sent what its languages and its agent call for, and it is recorded', async () => {
    const versions = [
      { language: 'hmn', mediaId: 'm-hmn', durationMs: 70 * S },
      { language: 'ium', mediaId: 'm-ium', durationMs: 80 * S },
    ];
    await save({ id: 'bt', mediaId: 'm-vi', durationMs: 60 * S, language: 'vi', versions, targets: { areaKeys: [xaBatXat.key, xaQuangKim.key], siteIds: [] } });
    const stored = await items.get('bt');
    expect(stored).toMatchObject({ language: 'vi', versions });
    expect((await items.live(DAY0)).find((i) => i.id === 'bt')?.versions).toEqual(versions);
    expect((await items.usingMedia('m-ium', DAY0)).map((i) => i.id)).toEqual(['bt']);

    await dist.refresh('test');
    const entry = (s: string) => lastFor(s)!.entries[0]!;
    expect(entry('t1-new').parts?.map((p) => [p.language, p.mediaId, p.sha256, p.bytes])).toEqual([
      ['hmn', 'm-hmn', sha('m-hmn'), 40_000],
      ['vi', 'm-vi', sha('m-vi'), 40_000],
    ]);
    expect(entry('t1-new')).toMatchObject({ mediaId: 'm-hmn', durationMs: 130 * S });
    expect(entry('t1-old')).toMatchObject({ mediaId: 'm-vi', durationMs: 60 * S });
    expect(entry('t1-old')).not.toHaveProperty('parts');
    expect(entry('t2')).toMatchObject({ mediaId: 'm-vi', durationMs: 60 * S });
    expect(entry('t3').parts?.map((p) => p.language)).toEqual(['hmn', 'ium', 'vi']);

    const recorded = await new SentEntryStore(store.db).list({ siteIds: ['t1-new', 't1-old', 't2', 't3'], from: DAY0, to: DAY0 + 48 * H });
    const plan = (s: string) => recorded.find((r) => r.siteId === s)?.languages;
    expect(plan('t1-new')).toEqual({ site: ['hmn', 'vi'], played: ['hmn', 'vi'], missing: [], fallback: null });
    expect(plan('t1-old')).toEqual({ site: ['hmn', 'vi'], played: ['vi'], missing: [], fallback: 'agent_without_parts' });
    expect(plan('t2')).toEqual({ site: ['tyz'], played: ['vi'], missing: ['tyz'], fallback: 'no_version' });
    expect(plan('t3')).toMatchObject({ played: ['hmn', 'ium', 'vi'], missing: ['mji', 'tyz', 'pcc', 'nut', 'hni'] });

    // The old agent is upgraded and declares playlist_parts: the next refresh sends it parts.
    sites = sites.map((s) => (s.siteId === 't1-old' ? { ...s, canPlayParts: true } : s));
    generation++;
    await dist.refresh('features');
    expect(lastFor('t1-old')!.entries[0]!.parts?.map((p) => p.language)).toEqual(['hmn', 'vi']);
  });

  it('a playlist grown past MAX_PLAYLIST_BYTES by parts is cut to its first entries, not refused', async () => {
    // Eight versions every six minutes for two days, to a village speaking all eight: about 480 entries of eight parts.
    const versions = LANGS.map((language) => ({ language, mediaId: `m-${language}-with-a-long-identifier-to-weigh`, durationMs: 30 * S }));
    await save({
      id: 'often',
      mediaId: 'm-vi-with-a-long-identifier-to-weigh',
      durationMs: 30 * S,
      language: 'vi',
      versions,
      title: 'Bản tin phát nhiều lần trong ngày bằng tám thứ tiếng',
      start: {
        dtstart: '2026-11-27T00:00',
        rrule: `FREQ=DAILY;BYHOUR=${Array.from({ length: 24 }, (_, h) => h).join(',')};BYMINUTE=${Array.from({ length: 10 }, (_, m) => m * 6).join(',')}`,
      },
      targets: { areaKeys: [xaQuangKim.key], siteIds: [] },
    });
    const summary = await dist.refresh('test');
    const payload = published.filter((p) => p.topic.includes('/t3/') && p.payload.length > 0).at(-1)!.payload;
    expect(payload.length).toBeLessThanOrEqual(MAX_PLAYLIST_BYTES);
    const msg = JSON.parse(payload.toString()) as PlaylistMessage;
    expect(msg.entries.length).toBeGreaterThan(100);
    expect(msg.entries.every((e) => e.parts?.length === 8)).toBe(true);
    expect(summary.problems.map((p) => p.code)).toContain('playlist_too_large');
    expect(summary.failed).toBe(0);
    // Cut entries wait for a later version: the entries sent are the earliest.
    expect(msg.entries.map((e) => e.startAt)).toEqual([...msg.entries.map((e) => e.startAt)].sort((a, b) => a - b));
    expect(msg.entries[0]!.startAt).toBeLessThan(DAY0 + 10 * MIN);
  });
});
