/**
 * PlaylistDistributor over a real store (SQLite, and PostgreSQL when one is
 * known: tests/helpers/store.ts) and a recording broker:
 * publishes only what changed, retained QoS 1; retries what failed; clears a
 * retired site; follows the sliding horizon; records what was sent and
 * withdraws what was cancelled; compares desired with what the agent holds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BroadcastItemStore, startBounds, type ScheduledItem } from '../../server/schedule/items-store.ts';
import { SentEntryStore } from '../../server/schedule/sent-entries.ts';
import { KEEP_ENDED_MS, PlaylistDistributor } from '../../server/schedule/distribution.ts';
import { SiteDirectory } from '../../server/schedule/resolve.ts';
import type { PlaylistMessage, PlaylistReport } from '../../protocol/index.ts';
import type { ScheduleSite } from '../../server/schedule/model.ts';
import { DAY0, H, index, provinceSites, publishingBroker, scheduledItem, xaBatXat } from '../helpers/schedule-fixture.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const SHA = 'a'.repeat(64);

interface Published {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
}

let store: TestStore;
let items: BroadcastItemStore;
let sent: SentEntryStore;
let sites: ScheduleSite[];
let now: number;
let published: Published[];
let failing: boolean;
const held = new Map<string, PlaylistReport>();
let dist: PlaylistDistributor;

const broker = publishingBroker(async (topic, payload, opts) => {
  if (failing) throw new Error('broker link down');
  published.push({ topic, payload, qos: opts.qos, retain: opts.retain ?? false });
});

function save(over: Partial<ScheduledItem> & { id: string }): Promise<void> {
  const item = scheduledItem(over);
  return items.save(item, startBounds(item, undefined), [xaBatXat.id]);
}

const messages = () => published.filter((p) => p.payload.length > 0).map((p) => JSON.parse(p.payload.toString()) as PlaylistMessage);
const sitesPublished = () => published.map((p) => p.topic.split('/')[3]).sort();

describe.each(storeDialects())('PlaylistDistributor on %s', (dialect) => {
  beforeEach(async () => {
    store = await openTestStore(dialect);
    items = new BroadcastItemStore(store.db);
    sent = new SentEntryStore(store.db);
    sites = provinceSites.map((s) => ({ ...s }));
    now = DAY0;
    published = [];
    failing = false;
    held.clear();
    dist = new PlaylistDistributor({
      db: store.db,
      items,
      sent,
      directory: () => new SiteDirectory(index, sites),
      media: (id) => (id === 'm1' ? { sha256: SHA, bytes: 12_345 } : undefined),
      broker,
      held: (id) => held.get(id),
      log: { info() {}, warn() {}, error() {} },
      now: () => now,
      horizonMs: 48 * H,
      recomputeMs: 60_000,
    });
  });

  afterEach(async () => {
    dist.stop();
    await store.close();
  });

  it('publishes every active site once, retained QoS 1, then only what changed', async () => {
    const first = await dist.refresh('start');
    expect(first).toMatchObject({ sites: 5, published: 5, failed: 0 });
    expect(published.every((p) => p.qos === 1 && p.retain)).toBe(true);
    expect(sitesPublished()).toEqual(['bx-1a', 'bx-1b', 'bx-2', 'bx-station', 'qk-3']);
    expect(messages().every((m) => m.entries.length === 0 && m.horizonEnd === now + 48 * H)).toBe(true);

    published = [];
    expect((await dist.refresh('again')).published).toBe(0);

    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] }, title: 'Thông báo' });
    published = [];
    await dist.refresh('approved bt-1');
    expect(sitesPublished()).toEqual(['bx-1a', 'bx-1b', 'bx-2', 'bx-station']);
    const e = messages()[0]!.entries[0]!;
    expect(e).toEqual({
      id: `bt-1@${DAY0 + 6 * H}`,
      kind: 'bulletin',
      itemId: 'bt-1',
      mediaId: 'm1',
      sha256: SHA,
      bytes: 12_345,
      startAt: DAY0 + 6 * H,
      durationMs: 600_000,
      priority: 'normal',
      title: 'Thông báo',
    });
  });

  it('retries a failed publish at the next refresh', async () => {
    failing = true;
    expect(await dist.refresh('start')).toMatchObject({ published: 0, failed: 5 });
    failing = false;
    expect(await dist.refresh('retry')).toMatchObject({ published: 5, failed: 0 });
  });

  it('clears the retained playlist of a retired site and withdraws its future entries', async () => {
    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] } });
    await dist.refresh('start');
    sites.find((s) => s.siteId === 'bx-2')!.retired = true;
    published = [];
    expect(await dist.refresh('registry')).toMatchObject({ cleared: 1, published: 0 });
    expect(published).toEqual([{ topic: 'loanet/v1/sites/bx-2/playlist', payload: Buffer.alloc(0), qos: 1, retain: true }]);
    expect(await sent.list({ siteIds: ['bx-2'], from: DAY0, to: DAY0 + 48 * H })).toEqual([]);
    expect((await sent.list({ siteIds: ['bx-2'], from: DAY0, to: DAY0 + 48 * H, includeWithdrawn: true }))[0]!.withdrawnAt).toBe(now);
  });

  it('follows the horizon as it slides', async () => {
    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] } });
    now = DAY0 + 6 * H - 49 * H;
    await dist.refresh('start');
    expect(messages().every((m) => m.entries.length === 0)).toBe(true);
    now += 2 * H;
    published = [];
    await dist.refresh('horizon');
    expect(messages().map((m) => m.entries.length)).toEqual([1, 1, 1, 1]);
  });

  it('keeps an entry 10 minutes past its end (a late start is still playing), then drops it', async () => {
    await save({ id: 'bt-1', targets: { areaKeys: [], siteIds: ['qk-3'] } });
    const end = DAY0 + 6 * H + 600_000;
    now = end + KEEP_ENDED_MS - 1000;
    await dist.refresh('start');
    expect(dist.status('qk-3').desired!.entries.map((e) => e.itemId)).toEqual(['bt-1']);
    now = end + KEEP_ENDED_MS;
    await dist.refresh('horizon');
    expect(dist.status('qk-3').desired!.entries).toEqual([]);
  });

  it('records what was sent, also what arbitration skipped, and withdraws a cancelled entry', async () => {
    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] } });
    await save({ id: 'bt-9', targets: { areaKeys: [], siteIds: ['bx-1a'] }, priority: 'emergency', start: { at: DAY0 + 6 * H + 60_000 } });
    await dist.refresh('start');
    const a = await sent.list({ siteIds: ['bx-1a'], from: DAY0, to: DAY0 + DAY0 });
    expect(a.map((e) => [e.itemId, e.plan, e.skipReason])).toEqual([
      ['bt-1', 'skipped', 'higher_priority'],
      ['bt-9', 'play', null],
    ]);
    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] }, status: 'cancelled' });
    now += 60_000;
    await dist.refresh('cancelled');
    expect(await sent.list({ siteIds: ['bx-1b'], from: DAY0, to: DAY0 + 48 * H })).toEqual([]);
    expect((await sent.list({ siteIds: ['bx-1b'], from: DAY0, to: DAY0 + 48 * H, includeWithdrawn: true }))[0]!.withdrawnAt).toBe(now);
  });

  it('compares the desired version with the one the agent reports', async () => {
    await save({ id: 'bt-1', targets: { areaKeys: [xaBatXat.key], siteIds: [] } });
    await dist.refresh('start');
    const desired = dist.status('bx-1a').desired!;
    expect(dist.status('bx-1a').converged).toBe(false);
    held.set('bx-1a', { version: desired.version, entries: 1, missing: 0, cacheBytes: 0, cacheLimitBytes: 1 });
    expect(dist.status('bx-1a').converged).toBe(true);
    const c = dist.convergence(['bx-1a', 'bx-1b', 'nope']);
    expect(c).toMatchObject({ sites: 2, converged: 1 });
    expect(c.notConverged.map((n) => n.siteId)).toEqual(['bx-1b']);
  });

  it('runs concurrent refreshes one after the other', async () => {
    const [a, b, c] = await Promise.all([dist.refresh('a'), dist.refresh('b'), dist.refresh('c')]);
    expect(a.published).toBe(5);
    expect(b).toBe(c);
    expect(b.published).toBe(0);
  });
});
