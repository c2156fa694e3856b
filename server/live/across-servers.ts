/**
 * A server's live streams among other servers' on one store (migration 31):
 * it vouches for the streams it runs while they are on air, carries out the
 * stops asked through other servers, waits for the owner of a stream it was
 * asked to stop, and closes the streams nobody vouches for any more (their
 * server died), telling their sites to stop. The service (service.ts) owns
 * the streams; this is what it does about the others'.
 */
import { PROTOCOL_VERSION } from '../../protocol/index.ts';
import type { AuditLog } from '../audit.ts';
import { Errors } from '../errors.ts';
import type { Logger } from '../fleet/broker.ts';
import type { Entry } from './entry.ts';
import type { LiveActor, LiveArea } from './model.ts';
import { firstClash, liveBusy } from './area-overlap.ts';
import type { AudioPriority } from '../../protocol/index.ts';
import type { LivePublisher } from './publisher.ts';
import type { LiveSiteReports } from './site-reports.ts';
import type { LiveStreamRecord, LiveStreamStore, NewLiveStream } from './store.ts';
import { recordView, type LiveStreamView } from './views.ts';

type Retry = { retries?: number; retryMs?: number };

const DETAIL = {
  server_restart: 'server_restart: the server restarted while the stream was on air / máy chủ khởi động lại khi luồng đang phát',
  server_lost: 'server_lost: the server that ran the stream stopped answering / máy chủ phát luồng đã ngừng hoạt động',
} as const;

export interface LiveAcrossServersDeps {
  store: LiveStreamStore | undefined;
  now(): number;
  log: Logger;
  audit: AuditLog;
  reports: Pick<LiveSiteReports, 'noteRecovered'>;
  wire: Pick<LivePublisher, 'stopLeftOver'>;
  /** How often the owner vouches and reads stops asked elsewhere (ms); a stop asked waits a few of them. */
  ownerTickMs: number | undefined;
  /** Ids of an area and its ancestors: another server's stream is known here by its area ids. */
  areaPath: ((areaId: number) => readonly number[]) | undefined;
  /** A stream this server runs now. */
  running(id: number): Entry | undefined;
  /** Ends one of this server's streams as a person's stop. */
  finish(e: Entry, by: LiveActor): Promise<void>;
}

export class LiveAcrossServers {
  constructor(private readonly d: LiveAcrossServersDeps) {}

  /**
   * Records a new stream unless a stream of its priority that another server
   * runs is on air over its areas (LOANET_LIVE_BUSY, as for this server's own
   * in refuseOverlap): asked in the transaction that inserts, so two
   * operators starting through two servers at once cannot both go on air.
   * False when the id is taken (draw another).
   */
  async insertUnlessBusy(r: NewLiveStream, areas: readonly LiveArea[], priority: AudioPriority): Promise<boolean> {
    const { store, areaPath } = this.d;
    if (!store) return true;
    if (!areaPath) return store.insert(r);
    const res = await store.insertUnlessClash(r, (onAir) =>
      firstClash(
        areas,
        priority,
        onAir.map((o) => ({ id: o.id, priority: o.priority, label: o.source.label ?? o.source.kind, areas: o.areaIds.map((a) => ({ id: a, key: '', path: areaPath(a) })) })),
      ),
    );
    if (res.clash) throw liveBusy(res.clash, priority);
    return res.inserted;
  }

  /** Streams on air whose server stopped vouching for them, closed as server_lost (this server's own never are). */
  async closeOrphans(opts: Retry = {}): Promise<number[]> {
    const store = this.d.store;
    if (!store) return [];
    // This server's own are never orphans while it runs: it renews them (a stall long enough to lapse would end them here).
    const orphans = (await store.orphans()).filter((r) => !this.d.running(r.id));
    return orphans.length === 0 ? [] : this.closeLeftOver(orphans, 'server_lost', opts);
  }

  /** Closes streams nobody sends any more; tells their areas stream_stop and clears the retained start. */
  async closeLeftOver(open: readonly LiveStreamRecord[], reason: keyof typeof DETAIL, opts: Retry): Promise<number[]> {
    const store = this.d.store;
    if (!store) return [];
    const detail = DETAIL[reason];
    const now = this.d.now();
    const sends: Array<Promise<void>> = [];
    const closed: number[] = [];
    for (const r of open) {
      // Another server (or a stop on this one) may end it first: only the end that closed it is audited and told.
      if (!(await store.end(r.id, { endedAt: now, reason, detail, by: null }))) continue;
      closed.push(r.id);
      this.d.reports.noteRecovered(r.id, r.areaIds);
      await this.d.audit.record(null, 'live.stop', String(r.id), { reason });
      this.d.log.warn({ streamId: r.id, areas: r.areas, reason }, `live stream ended: ${reason}`);
      sends.push(this.d.wire.stopLeftOver(r.areas, { v: PROTOCOL_VERSION, type: 'stream_stop', streamId: r.id, reason: 'error', detail, at: now }, opts));
    }
    await Promise.all(sends);
    return closed;
  }

  /** Vouches for this server's streams, and stops those a person asked another server to stop. */
  async ownerTick(): Promise<void> {
    const store = this.d.store;
    if (!store) return;
    await store.renew();
    for (const req of await store.stopRequests()) {
      const e = this.d.running(req.id);
      if (e && e.endedAt === null) await this.d.finish(e, { id: req.by.id, username: req.by.name });
    }
  }

  /** Streams on air that other servers run, from the record, within `areaIds` and started before `before`. */
  async othersOnAir(q: { areaIds?: ReadonlySet<number>; before?: number }): Promise<LiveStreamView[]> {
    const store = this.d.store;
    if (!store) return [];
    const seen = (ids: readonly number[]) => !q.areaIds || ids.some((id) => q.areaIds!.has(id));
    const others = (await store.open()).filter((r) => !this.d.running(r.id) && seen(r.areaIds) && (q.before === undefined || r.startedAt < q.before));
    return Promise.all(others.map(async (r) => recordView(r, await store.sites(r.id))));
  }

  /** A stop asked of another server: its end as recorded, once the owner (or the orphans' sweep) closed it. */
  async awaitStop(id: number): Promise<LiveStreamView> {
    const store = this.d.store!;
    const deadline = this.d.now() + 4 * (this.d.ownerTickMs ?? 2000) + 2000;
    for (;;) {
      if (!(await store.isOpen(id))) {
        const r = await store.get(id);
        if (r) return recordView(r, await store.sites(id));
      }
      if (this.d.now() > deadline) throw Errors.unavailable('stream_owner', `the server running stream ${id} did not stop it in time; it is closed once that server is found gone`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
