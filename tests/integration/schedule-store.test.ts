/**
 * The schedule's and the media library's stores, the same on SQLite and on
 * PostgreSQL: broadcast items read back as saved and filter alike, the
 * schedule's read-then-write steps never overlap (`exclusive`), what each
 * site was sent is recorded, withdrawn and listed in one order, and the
 * library's search (words, language, tag, hidden ids) finds the same items.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit.ts';
import type { MediaConfig } from '../../server/config.ts';
import { MediaLibrary } from '../../server/media/library.ts';
import type { SitePlan } from '../../server/schedule/conflicts.ts';
import { BroadcastItemStore, type ScheduledItem } from '../../server/schedule/items-store.ts';
import type { SitePlaylist } from '../../server/schedule/playlist.ts';
import { SentEntryStore } from '../../server/schedule/sent-entries.ts';
import { DAY0, H, MIN, scheduledItem } from '../helpers/schedule-fixture.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

/** A stored item targeting Xã Bát Xát, as the store's tests save it. */
const scheduled = (over: Partial<ScheduledItem> & { id: string }): ScheduledItem =>
  scheduledItem({ mediaId: 'med-1', targets: { areaKeys: ['2025.02683'], siteIds: [] }, queue: false, ...over });

const once = (i: ScheduledItem) => {
  const at = 'at' in i.start ? i.start.at : DAY0;
  return { firstAt: at, lastAt: at };
};

/** Entries as scheduled at `at` (their id), starting `shift` later (a queue shift). */
function playlist(siteId: string, version: string, entries: Array<{ item: string; at: number; shift?: number; priority?: 'normal' | 'emergency' }>): SitePlaylist {
  return {
    siteId,
    version,
    entries: entries.map((e) => ({
      id: `${e.item}@${e.at}`,
      itemId: e.item,
      mediaId: `m-${e.item}`,
      sha256: 'a'.repeat(64),
      startAt: e.at + (e.shift ?? 0),
      durationMs: 10 * MIN,
      priority: e.priority ?? 'normal',
    })),
  };
}

describe.each(storeDialects())('the schedule and media stores on %s', (dialect) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
  });
  afterEach(() => store.close());

  describe('broadcast items', () => {
    it('reads back what was saved, one-off and recurring, and a second save changes all but who created it', async () => {
      const items = new BroadcastItemStore(store.db);
      const a = scheduled({ id: 'bi-a', note: 'Ghi chú', queue: true, validUntil: DAY0 + 48 * H, targets: { areaKeys: ['2025.02683'], siteIds: ['bx-1a'] } });
      const r = scheduled({
        id: 'bi-r',
        status: 'draft',
        approvedBy: undefined,
        approvedById: null,
        approvedAt: null,
        start: { dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY', exdates: ['2026-11-28T06:00'], zone: 'Asia/Ho_Chi_Minh' },
        validFrom: DAY0,
      });
      await items.save(a, once(a), [7, 7, 9]);
      await items.save(r, { firstAt: DAY0, lastAt: null }, [9]);
      expect(await items.get('bi-a')).toEqual(a);
      expect(await items.get('bi-r')).toEqual(r);
      expect(await items.get('nope')).toBeUndefined();

      const edited = { ...a, title: 'Bản tin đã sửa', createdBy: 'someone else', createdAt: DAY0 + H, updatedAt: DAY0 + 2 * H };
      await items.save(edited, once(edited), [11]);
      expect(await items.get('bi-a')).toEqual({ ...edited, createdBy: 'op', createdAt: DAY0 });
      // The area rows follow the last save.
      expect((await items.list({ areaIds: [7] })).total).toBe(0);
      expect((await items.list({ areaIds: [11] })).items.map((i) => i.id)).toEqual(['bi-a']);
    });

    it('filters by status, media, period and area, counts all and pages in start order', async () => {
      const items = new BroadcastItemStore(store.db);
      const specs: Array<[string, number, ScheduledItem['status'], string, number[]]> = [
        ['bi-3', DAY0 + 9 * H, 'approved', 'med-1', [1]],
        ['bi-1', DAY0 + 6 * H, 'draft', 'med-2', [1, 2]],
        ['bi-2', DAY0 + 6 * H, 'approved', 'med-1', [2]],
        ['bi-4', DAY0 + 30 * H, 'cancelled', 'med-1', [3]],
      ];
      for (const [id, at, status, mediaId, areas] of specs) {
        const i = scheduled({ id, start: { at }, status, mediaId });
        await items.save(i, once(i), areas);
      }
      const ids = async (f: Parameters<BroadcastItemStore['list']>[0]) => (await items.list(f)).items.map((i) => i.id);
      expect(await ids({})).toEqual(['bi-1', 'bi-2', 'bi-3', 'bi-4']);
      expect(await ids({ status: 'approved' })).toEqual(['bi-2', 'bi-3']);
      expect(await ids({ mediaId: 'med-2' })).toEqual(['bi-1']);
      expect(await ids({ from: DAY0 + 6 * H + 10 * MIN, to: DAY0 + 24 * H })).toEqual(['bi-3']);
      expect(await ids({ areaIds: [2, 3] })).toEqual(['bi-1', 'bi-2', 'bi-4']);
      expect(await ids({ areaIds: [] })).toEqual([]);
      expect(await items.list({ limit: 2, offset: 1 })).toMatchObject({ total: 4, items: [{ id: 'bi-2' }, { id: 'bi-3' }] });

      expect((await items.live(DAY0 + 7 * H)).map((i) => i.id)).toEqual(['bi-3']);
      expect((await items.usingMedia('med-1', DAY0)).map((i) => i.id)).toEqual(['bi-2', 'bi-3']);
      expect(await items.usingMedia('med-1', DAY0 + 10 * H)).toEqual([]);
    });

    it('runs exclusive steps one at a time: of two that check then approve, only the first approves', async () => {
      const items = new BroadcastItemStore(store.db);
      const approveIfNone = (id: string) =>
        items.exclusive(async (tx) => {
          const live = await tx.live(DAY0);
          // Another query between the read and the write: where a concurrent step could slip in.
          await tx.get(id);
          if (live.length > 0) return false;
          const i = scheduled({ id });
          await tx.save(i, once(i), [1]);
          return true;
        });
      const results = await Promise.all([approveIfNone('bi-x'), approveIfNone('bi-y'), approveIfNone('bi-z')]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await items.live(DAY0)).toHaveLength(1);
      // A step that throws leaves nothing behind.
      await expect(
        items.exclusive(async (tx) => {
          const i = scheduled({ id: 'bi-fail' });
          await tx.save(i, once(i), [1]);
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(await items.get('bi-fail')).toBeUndefined();
    });
  });

  describe('sent entries', () => {
    const horizon = { from: DAY0, to: DAY0 + 48 * H };
    const mediaOf = (itemId: string) => `m-${itemId}`;

    it('records entries and skipped occurrences, withdraws what left a playlist, and brings it back when it returns', async () => {
      const sent = new SentEntryStore(store.db);
      const plan = {
        skipped: [
          { id: `skip@${DAY0 + 6 * H}`, itemId: 'skip', startAt: DAY0 + 6 * H, endAt: DAY0 + 6 * H + 10 * MIN, priority: 'normal', reason: 'higher_priority', blockedBy: 'em' },
          // Outside the horizon: not recorded.
          { id: `skip@${DAY0 + 50 * H}`, itemId: 'skip', startAt: DAY0 + 50 * H, endAt: DAY0 + 50 * H + MIN, priority: 'normal', reason: 'higher_priority', blockedBy: 'em' },
        ],
      } as unknown as SitePlan;
      await sent.recordSent(
        [
          {
            playlist: playlist('s-1', 'v1', [
              { item: 'em', at: DAY0 + 6 * H, priority: 'emergency' },
              { item: 'later', at: DAY0 + 20 * H },
            ]),
            plan,
          },
          { playlist: playlist('s-2', 'v1', [{ item: 'later', at: DAY0 + 20 * H }]), plan: undefined },
        ],
        horizon,
        DAY0,
        mediaOf,
      );
      const all = await sent.list({ siteIds: ['s-1', 's-2'], from: DAY0, to: DAY0 + 48 * H });
      expect(all.map((e) => [e.siteId, e.itemId, e.plan, e.skipReason, e.blockedBy, e.priority])).toEqual([
        ['s-1', 'em', 'play', null, null, 'emergency'],
        ['s-1', 'skip', 'skipped', 'higher_priority', 'em', 'normal'],
        ['s-1', 'later', 'play', null, null, 'normal'],
        ['s-2', 'later', 'play', null, null, 'normal'],
      ]);
      expect(all[1]).toMatchObject({ mediaId: 'm-skip', durationMs: 10 * MIN, firstSentAt: DAY0, sentAt: DAY0, version: 'v1', withdrawnAt: null });

      // At 07:00 s-1's playlist no longer holds `later`: withdrawn; `em` has started and stays owed though it left too.
      const t1 = DAY0 + 7 * H;
      await sent.recordSent([{ playlist: playlist('s-1', 'v2', []), plan: undefined }], horizon, t1, mediaOf);
      expect((await sent.list({ siteIds: ['s-1'], from: DAY0, to: DAY0 + 48 * H })).map((e) => e.itemId)).toEqual(['em', 'skip']);
      const withdrawn = await sent.list({ siteIds: ['s-1'], from: DAY0, to: DAY0 + 48 * H, includeWithdrawn: true, itemId: 'later' });
      expect(withdrawn).toMatchObject([{ withdrawnAt: t1, version: 'v1' }]);

      // Back in the next playlist: no longer withdrawn, first sent when it first was.
      const t2 = DAY0 + 8 * H;
      await sent.recordSent([{ playlist: playlist('s-1', 'v3', [{ item: 'later', at: DAY0 + 20 * H, shift: MIN }]), plan: undefined }], horizon, t2, mediaOf);
      const back = await sent.list({ siteIds: ['s-1'], from: DAY0, to: DAY0 + 48 * H, itemId: 'later' });
      expect(back).toMatchObject([{ withdrawnAt: null, firstSentAt: DAY0, sentAt: t2, version: 'v3', startAt: DAY0 + 20 * H + MIN, scheduledAt: DAY0 + 20 * H }]);

      await sent.withdrawAll('s-2', t2);
      expect(await sent.list({ siteIds: ['s-2'], from: DAY0, to: DAY0 + 48 * H })).toEqual([]);
      expect(await sent.list({ siteIds: ['s-2'], from: DAY0, to: DAY0 + 48 * H, includeWithdrawn: true })).toMatchObject([{ withdrawnAt: t2 }]);
    });

    it("lists a province's sites in one order, by time, then site and entry, more ids than one statement carries", async () => {
      const sent = new SentEntryStore(store.db);
      const siteIds = Array.from({ length: 12_000 }, (_, i) => `lc-${String(i).padStart(5, '0')}`);
      const recorded = [siteIds[11_999]!, siteIds[3]!, siteIds[6_000]!, 'b-ORDER', 'a-order', 'B-order'];
      await sent.recordSent(
        recorded.map((s, k) => ({
          playlist: playlist(s, 'v', [
            { item: 'daily', at: DAY0 + 6 * H },
            { item: `own-${k % 2}`, at: DAY0 + (10 + (k % 2)) * H },
          ]),
          plan: undefined,
        })),
        horizon,
        DAY0,
        mediaOf,
      );
      const listed = await sent.list({ siteIds: [...siteIds, 'a-order', 'B-order', 'b-ORDER'], from: DAY0, to: DAY0 + 24 * H });
      const sorted = [...recorded].sort();
      expect(listed.map((e) => `${e.scheduledAt - DAY0}/${e.siteId}`)).toEqual([
        ...sorted.map((s) => `${6 * H}/${s}`),
        ...recorded
          .map((s, k) => [s, k] as const)
          .filter(([, k]) => k % 2 === 0)
          .map(([s]) => s)
          .sort()
          .map((s) => `${10 * H}/${s}`),
        ...recorded
          .map((s, k) => [s, k] as const)
          .filter(([, k]) => k % 2 === 1)
          .map(([s]) => s)
          .sort()
          .map((s) => `${11 * H}/${s}`),
      ]);
    }, 60_000);
  });

  describe('the media library', () => {
    let dataDir: string;
    let library: MediaLibrary;
    const config: MediaConfig = {
      maxBytes: 1e8,
      maxDurationS: 3600,
      bitrateKbps: 24,
      loudnessLufs: -16,
      ffmpegPath: undefined,
      ffprobePath: undefined,
      espeakPath: 'espeak-ng',
      queueMax: 4,
    } as MediaConfig;

    beforeEach(async () => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-media-store-'));
      library = new MediaLibrary(store.db, dataDir, config, new AuditLog(store.db));
      const user = await store.db
        .insertInto('users')
        .values({ username: 'bien-tap', password_hash: 'x', role: 'operator', area_id: null, created_at: DAY0, disabled_at: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      const rows: Array<[string, string, string, string[], string | null, 'bulletin' | 'alert', number | null]> = [
        ['med-1', 'Bản tin SÁNG thứ hai', 'vi', ['sang', 'thoi-su'], 'Kính thưa bà con', 'bulletin', null],
        ['med-2', 'Phòng chống lũ quét', 'hmn-VN', ['lu'], null, 'bulletin', null],
        ['med-3', 'Giảm 50% phí_dịch vụ', 'hmn', ['Sang'], null, 'bulletin', null],
        ['med-4', 'Cảnh báo lũ', 'vi', ['alert'], 'Lũ quét ở Bát Xát', 'alert', null],
        ['med-5', 'Bản tin cũ', 'vi', ['sang'], null, 'bulletin', DAY0 + H],
      ];
      for (const [k, [id, title, lang, tags, transcript, purpose, retiredAt]] of rows.entries()) {
        await store.db
          .insertInto('media')
          .values({
            id,
            title,
            lang,
            tags: JSON.stringify(tags),
            origin: 'upload',
            purpose,
            original_name: null,
            source: '{}',
            transcript,
            tts: null,
            sha256: `${k}`.repeat(64),
            bytes: 1000 + k,
            duration_ms: 60_000,
            codec: 'opus',
            sample_rate: 48_000,
            channels: 1,
            bitrate_kbps: 24,
            target_lufs: -16,
            input_lufs: -20,
            input_tp: -3,
            input_lra: 5,
            input_thresh: -30,
            gain_db: 4,
            output_lufs: -16,
            output_tp: -1.5,
            created_by: k === 0 ? user.id : null,
            created_at: DAY0 + k * MIN,
            updated_at: DAY0 + k * MIN,
            retired_at: retiredAt,
          })
          .execute();
      }
    });
    afterEach(async () => {
      await library.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const ids = async (f: Parameters<MediaLibrary['list']>[0]) => (await library.list(f)).items.map((i) => i.id);

    it('reads an item with who made it, and lists newest first, retired ones only when asked', async () => {
      const one = await library.get('med-1');
      expect(one).toMatchObject({ id: 'med-1', status: 'ready', tags: ['sang', 'thoi-su'], createdBy: 'bien-tap', purpose: 'bulletin', retiredAt: null, bytes: 1000 });
      expect(await library.item('med-2')).toMatchObject({ createdBy: null, lang: 'hmn-VN' });
      expect(await library.get('nope')).toBeUndefined();
      expect(await ids({})).toEqual(['med-4', 'med-3', 'med-2', 'med-1']);
      expect(await ids({ includeRetired: true, purpose: 'bulletin' })).toEqual(['med-5', 'med-3', 'med-2', 'med-1']);
      expect(await library.list({ purpose: 'bulletin', limit: 1, offset: 1 })).toMatchObject({ total: 3, items: [{ id: 'med-2' }] });
      expect(await ids({ hide: new Set(['med-4', 'med-2']) })).toEqual(['med-3', 'med-1']);
    });

    it('searches words in the title or transcript case-blind, % and _ as letters; a language with its subtags; an exact tag', async () => {
      // ASCII letters fold in both dialects; Vietnamese ones only in PostgreSQL, whose lower() knows them (SQLite's is ASCII only).
      expect(await ids({ q: 'bản tin sáng' })).toEqual(dialect === 'postgres' ? ['med-1'] : []);
      expect(await ids({ q: 'SÁNG' })).toEqual(['med-1']);
      expect(await ids({ q: 'bản TIN' })).toEqual(['med-1']);
      expect(await ids({ q: 'kính thưa' })).toEqual(['med-1']);
      expect(await ids({ q: '50%' })).toEqual(['med-3']);
      expect(await ids({ q: '%' })).toEqual(['med-3']);
      expect(await ids({ q: 'phí_' })).toEqual(['med-3']);
      expect(await ids({ q: 'n_' })).toEqual([]);
      expect(await ids({ lang: 'hmn' })).toEqual(['med-3', 'med-2']);
      expect(await ids({ lang: 'hmn-VN' })).toEqual(['med-2']);
      expect(await ids({ lang: 'vi', purpose: 'bulletin' })).toEqual(['med-1']);
      expect(await ids({ tag: 'sang' })).toEqual(['med-1']);
      expect(await ids({ tag: 'Sang' })).toEqual(['med-3']);
      expect(await ids({ tag: 'san' })).toEqual([]);
    });

    it('edits metadata and retires an item once, the file removed when no live item shares it', async () => {
      const actor = { id: 1, username: 'bien-tap' };
      expect(await library.update('med-2', { title: 'Lũ quét', tags: ['lu', 'mua'] }, actor)).toMatchObject({ title: 'Lũ quét', tags: ['lu', 'mua'], lang: 'hmn-VN' });
      const file = library.fileOf('2'.repeat(64));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, 'opus');
      const [a, b] = await Promise.all([library.retire('med-3', actor), library.retire('med-3', actor)]);
      expect(a.retiredAt).not.toBeNull();
      expect(b.retiredAt).toBe(a.retiredAt);
      const audit = await new AuditLog(store.db).list({ action: 'media.' });
      expect(audit.map((e) => `${e.action} ${e.target}`)).toEqual(['media.retire med-3', 'media.update med-2']);
      await library.retire('med-2', actor);
      expect(fs.existsSync(file)).toBe(false);
    });
  });
});
