/**
 * What distributing playlists costs the server: PlaylistDistributor over a
 * real SQLite store on a synthetic province (3,000 sites, and 30,000 without
 * --quick) with a realistic schedule (a province bulletin every day at 06:00
 * and 17:00, a priority item per district, a weekly item per commune, one
 * emergency). The broker is a counter (the embedded broker's own cost is in
 * heartbeat-ingest), so the figures are the server's event-loop time:
 *
 * - first: every site computed, published and recorded (server start);
 * - unchanged: a periodic recompute that publishes nothing;
 * - approval: one more province-wide item, every playlist changes (what an
 *   approve request waits for).
 *
 * Each size runs twice on fresh stores, side by side: sliced as the server
 * runs it (the event loop served every DEFAULT_SLICE_MS) and in one piece
 * (`sliceMs: Infinity`), with the ratios sliced / one piece; the sliced run
 * also times one synchronous `computePlaylists` call, the piece that held the
 * loop before the computation was cut in steps. longestBlockMs is what an
 * alert's dispatch, a heartbeat or an HTTP answer could wait behind.
 *
 *   npx tsx tests/bench/playlist-distribution.ts [--quick]
 */
import fs from 'node:fs';
import os from 'node:os';
import { openStore } from '../../server/store/database.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import { BroadcastItemStore, startBounds, type ScheduledItem } from '../../server/schedule/items-store.ts';
import { SentEntryStore } from '../../server/schedule/sent-entries.ts';
import { DEFAULT_SLICE_MS, PlaylistDistributor } from '../../server/schedule/distribution.ts';
import { computePlaylists } from '../../server/schedule/playlist.ts';
import { SiteDirectory } from '../../server/schedule/resolve.ts';
import { DAY0, H, publishingBroker, scheduledItem } from '../helpers/schedule-fixture.ts';
import { tempDir } from '../helpers/server.ts';
import { syntheticProvince } from './coverage-compute.ts';
import { printTable, type BenchResult } from './lib/result.ts';

/** A 5-minute item at 08:00 on DAY0, stored approved; each item overrides what it is about. */
const item = (id: string, over: Partial<ScheduledItem>): ScheduledItem => scheduledItem({ durationMs: 5 * 60_000, start: { at: DAY0 + 8 * H }, queue: false, ...over, id });

/**
 * How long the main thread (the event loop's) has run on a core, and waited
 * for one (runnable but not running), so far, ms: Linux schedstat; zeros
 * where that is not readable.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadMs = (): { ran: number; waited: number } => {
  try {
    const [ran, waited] = fs.readFileSync(SCHEDSTAT, 'utf8').split(' ');
    return { ran: Number(ran) / 1e6, waited: Number(waited) / 1e6 };
  } catch {
    return { ran: 0, waited: 0 };
  }
};

async function runOne(villages: number, siteCount: number, sliceMs: number): Promise<BenchResult> {
  const dir = tempDir('loanet-bench-dist-');
  const store = await openStore({ dataDir: dir, databaseUrl: null });
  const db = store.db;
  try {
    const prov = syntheticProvince(villages, siteCount);
    const index = AreaIndex.build(prov.nodes);
    const sites = prov.sites.map((s) => ({ siteId: s.siteId, areaId: s.areaId }));
    const items = new BroadcastItemStore(db);
    const save = (i: ScheduledItem) => items.save(i, startBounds(i, i.start && 'dtstart' in i.start ? DAY0 : undefined), []);
    await save(item('province-daily', { targets: { areaKeys: [prov.rootKey], siteIds: [] }, start: { dtstart: '2026-11-27T06:00', rrule: 'FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0' } }));
    const districts = prov.nodes.filter((n) => n.level === 'district');
    const communes = prov.nodes.filter((n) => n.level === 'commune');
    for (const [k, d] of districts.entries()) {
      await save(item(`district-${k}`, { targets: { areaKeys: [d.key], siteIds: [] }, priority: 'priority', start: { at: DAY0 + (9 + (k % 8)) * H } }));
    }
    for (const [k, c] of communes.entries()) {
      await save(
        item(`commune-${k}`, {
          targets: { areaKeys: [c.key], siteIds: [] },
          start: { dtstart: `2026-11-27T${String(11 + (k % 6)).padStart(2, '0')}:30`, rrule: 'FREQ=WEEKLY;BYDAY=FR,SA' },
        }),
      );
    }
    await save(item('emergency', { targets: { areaKeys: [districts[0]!.key], siteIds: [] }, priority: 'emergency', start: { at: DAY0 + 6 * H + 60_000 } }));

    let messages = 0;
    let bytes = 0;
    const broker = publishingBroker(async (_topic, payload) => {
      messages++;
      bytes += payload.length;
    });
    const media = () => ({ sha256: 'a'.repeat(64), bytes: 900_000 });
    const now = DAY0 + 5 * H;
    const dist = new PlaylistDistributor({
      db,
      items,
      sent: new SentEntryStore(db),
      directory: () => new SiteDirectory(index, sites),
      media,
      broker,
      held: () => undefined,
      log: { info() {}, warn() {}, error() {} },
      now: () => now,
      horizonMs: 48 * H,
      recomputeMs: 60_000,
      sliceMs,
    });
    const sliced = Number.isFinite(sliceMs);
    // The computation alone, in one synchronous piece, as the refresh called it before it was cut in steps.
    let computeOnePieceMs: number | undefined;
    if (sliced) {
      const dir = new SiteDirectory(index, sites);
      const live = await items.live(now - 10 * 60_000);
      const t = performance.now();
      computePlaylists(live, dir, media, { from: now - 10 * 60_000, to: now + 48 * H });
      computeOnePieceMs = performance.now() - t;
    }
    // Total time, and the longest the event loop was held at once (what a heartbeat or an HTTP answer waits for).
    // A 1 ms timer chain measures the gaps between its turns; the last gap is taken when the refresh has ended.
    // On a machine loaded by other work a gap also holds the time the event loop's thread waited for a core,
    // which no slicing can shorten: each gap is also taken without it (its own part: running, or blocked in
    // GC or I/O), and as the time the thread ran in it (the work done without serving the loop, GC included).
    const time = async (reason: string) => {
      let blockMs = 0;
      let blockOwnMs = 0;
      let blockRunMs = 0;
      let last = performance.now();
      let lastSched = mainThreadMs();
      const gap = () => {
        const t = performance.now();
        const sched = mainThreadMs();
        blockMs = Math.max(blockMs, t - last);
        blockOwnMs = Math.max(blockOwnMs, t - last - (sched.waited - lastSched.waited));
        blockRunMs = Math.max(blockRunMs, sched.ran - lastSched.ran);
        last = t;
        lastSched = sched;
      };
      let timer: NodeJS.Timeout;
      const probe = () => {
        gap();
        timer = setTimeout(probe, 1);
      };
      timer = setTimeout(probe, 1);
      const t0 = performance.now();
      const r = await dist.refresh(reason);
      const ms = performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 5));
      clearTimeout(timer);
      gap();
      return { ms, blockMs, blockOwnMs, blockRunMs, r };
    };
    const first = await time('start');
    const firstBytes = bytes / Math.max(1, messages);
    const played = await db
      .selectFrom('playlist_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('plan', '=', 'play')
      .executeTakeFirstOrThrow();
    const entries = first.r.sites ? Number(played.n) / first.r.sites : 0;
    const unchanged = await time('horizon');
    await save(item('province-extra', { targets: { areaKeys: [prov.rootKey], siteIds: [] }, start: { at: DAY0 + 20 * H } }));
    const approval = await time('approved');
    return {
      scenario: sliced ? 'schedule/playlist-distribution' : 'schedule/playlist-distribution/one-piece',
      params: { sites: siteCount, items: 2 + districts.length + communes.length, slicing: sliced ? `${sliceMs} ms` : 'one piece', loadAvg1m: Number(os.loadavg()[0]!.toFixed(1)) },
      figures: {
        ...(computeOnePieceMs !== undefined ? { computeOnePieceMs } : {}),
        firstMs: first.ms,
        unchangedMs: unchanged.ms,
        approvalMs: approval.ms,
        longestBlockMs: Math.max(first.blockMs, unchanged.blockMs, approval.blockMs),
        longestBlockOwnMs: Math.max(first.blockOwnMs, unchanged.blockOwnMs, approval.blockOwnMs),
        longestBlockRunMs: Math.max(first.blockRunMs, unchanged.blockRunMs, approval.blockRunMs),
        publishedOnApproval: approval.r.published,
        entriesPerSite: entries,
        bytesPerPlaylist: firstBytes,
      },
      ...(sliced
        ? {
            note: 'event-loop time of PlaylistDistributor.refresh (compute, publish to a counting broker, record sent entries in SQLite); longestBlockMs: the longest single hold of the event loop over the three (gaps in a 1 ms timer chain), longestBlockOwnMs: the same without the time the thread waited for a core (other work on the machine); longestBlockRunMs: the most the thread ran within one gap; computeOnePieceMs: one synchronous computePlaylists call',
          }
        : {}),
    };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Sliced / one piece for every figure both runs have (below 1: slicing holds the loop less, or costs less). */
function ratio(sliced: BenchResult, onePiece: BenchResult): BenchResult {
  const figures: Record<string, number> = {};
  for (const [k, a] of Object.entries(onePiece.figures)) {
    const b = sliced.figures[k];
    if (b !== undefined && a !== 0) figures[k] = b / a;
  }
  return { scenario: 'schedule/playlist-distribution/ratio', params: { sites: sliced.params.sites!, of: 'sliced / one piece' }, figures };
}

export async function runPlaylistDistributionBench({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const sizes: Array<[number, number]> = quick
    ? [[2000, 3000]]
    : [
        [2000, 3000],
        [20_000, 30_000],
      ];
  const out: BenchResult[] = [];
  const ratios: BenchResult[] = [];
  for (const [villages, siteCount] of sizes) {
    const onePiece = await runOne(villages, siteCount, Number.POSITIVE_INFINITY);
    const sliced = await runOne(villages, siteCount, DEFAULT_SLICE_MS);
    out.push(onePiece, sliced);
    ratios.push(ratio(sliced, onePiece));
  }
  return [...out, ...ratios];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runPlaylistDistributionBench({ quick: process.argv.includes('--quick') }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
