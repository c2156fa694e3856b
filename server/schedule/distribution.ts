/**
 * Distribution of desired playlists: the shell that runs
 * the pure pipeline (computePlaylistSteps, computePlaylists in steps) over the approved items, the registry
 * and the media library, and publishes each site's playlist RETAINED with
 * QoS 1 on sites/{id}/playlist when its version changed.
 *
 * - When: on every change of approved items (the schedule service awaits
 *   `refresh`), when the registry or the media library changes (a cheap
 *   fingerprint is polled), and every `recomputeMs` as the horizon slides.
 *   Refreshes never overlap: one asked for while another runs is run once after it.
 * - What is remembered: the last published version per site (memory). After
 *   a restart that map is empty, so every site is published again: the
 *   embedded broker's retained store lives in memory and is gone; an external
 *   broker still has it, and the agent ignores a version it already holds.
 * - A publish that fails (external broker down) is not remembered, so the
 *   next refresh tries again.
 * - `republish`: an external broker that crashed may come back without the
 *   retained playlists (external-broker.ts notices), and nothing changed
 *   here, so a refresh alone would send nothing. Every site's playlist is
 *   then published again, same version (the agent ignores a version it
 *   holds), paced at `republishPerS` so a province's playlists do not land on
 *   a broker that 3,000 agents are reconnecting to in one burst.
 * - Every entry sent, and every occurrence arbitration skipped at a site, is
 *   written to playlist_entries (sent-entries.ts): the as-run log accounts
 *   for them.
 * - "Desired vs held": the version the agent reports in telemetry.playlist.
 * - An item with language versions plays, at each site, the versions of its
 *   area's languages (language-plan.ts): several as `parts` only to an agent
 *   that declared PLAYLIST_PARTS_FEATURE. A site whose agent declares it
 *   later gets its playlist again (`featuresGeneration` is watched).
 * - The event loop is shared with the broker, alerts and live audio: a run
 *   holds it at most ~`sliceMs` at a time (computing, building messages,
 *   publishing, recording), then serves it. Runs still never overlap, and a
 *   run publishes only what it computed itself, so a later run's results are
 *   never interleaved with an earlier one's.
 */
import { siteTopic, PROTOCOL_VERSION, MAX_PLAYLIST_BYTES, type PlaylistEntryMessage, type PlaylistMessage, type PlaylistReport } from '../../protocol/index.ts';
import type { BrokerLink, Logger } from '../fleet/broker.ts';
import { DEFAULT_REPUBLISH_PER_S, paceDelayMs } from '../fleet/retained-recovery.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { computePlaylistSteps, type PlaylistEntry, type PlaylistProblem, type PlaylistStep, type SitePlaylist } from './playlist.ts';
import type { SiteDirectory, ResolveProblem } from './resolve.ts';
import type { BroadcastItemStore, ScheduledItem } from './items-store.ts';
import { SentEntryStore, type SiteSent } from './sent-entries.ts';
import type { SitePlan } from './conflicts.ts';

/** What distribution needs of a media item. */
export interface DistributableMedia {
  sha256: string;
  bytes: number;
}

export interface DistributionDeps {
  db: Kysely<Database>;
  items: BroadcastItemStore;
  sent: SentEntryStore;
  /** The registry as the schedule sees it (sync or async: the registry's reads may be either). */
  directory(): SiteDirectory | Promise<SiteDirectory>;
  /** A ready, not retired media item, or undefined (looked up once per media item per run). */
  media(id: string): DistributableMedia | undefined | Promise<DistributableMedia | undefined>;
  broker: BrokerLink;
  /** What the agent last reported of its playlist (telemetry.playlist). */
  held(siteId: string): PlaylistReport | undefined;
  /** Changes whenever some agent's declared features change (the directory's canPlayParts then differ). */
  featuresGeneration?(): number;
  log: Logger;
  now(): number;
  horizonMs: number;
  recomputeMs: number;
  /** How often the registry/media fingerprint is polled. */
  watchMs?: number;
  /** Playlists per second when every site's is published again (`republish`). */
  republishPerS?: number;
  /** The longest a run holds the event loop before serving it (ms, default DEFAULT_SLICE_MS). */
  sliceMs?: number;
}

export interface RefreshSummary {
  at: number;
  reason: string;
  sites: number;
  published: number;
  failed: number;
  cleared: number;
  problems: Array<ResolveProblem | PlaylistProblem | { itemId: string; code: 'too_many_entries' | 'playlist_too_large'; message: string }>;
  /** How long the run took, computing and publishing (wall clock, ms): what /metrics reports as distribution time. */
  tookMs: number;
}

export interface SitePlaylistStatus {
  siteId: string;
  desired: PlaylistMessage | null;
  /** The last version published to the broker (retained), and when. */
  published: { version: string; at: number } | null;
  held: PlaylistReport | null;
  converged: boolean;
}

const MAX_ENTRIES = 500;
const PUBLISH_BATCH = 50;
/**
 * At 30,000 sites a refresh takes seconds of CPU; an alert's dispatch,
 * heartbeats, HTTP answers and live audio must not wait for all of it, so the
 * refresh serves the event loop whenever it has held it this long. Small
 * enough to stay well under the 50 ms bar on a loaded 2-core machine, large
 * enough that the setImmediate per slice costs nothing measurable.
 */
export const DEFAULT_SLICE_MS = 10;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Tells when the current slice of event-loop time is used up, and serves the
 * loop then. `share` < 1 leaves room in the slice for a piece that comes
 * after the check and cannot be cut (a commit, a province-wide item); 0
 * serves the loop whatever was used.
 */
class Slicer {
  private since = performance.now();
  constructor(private readonly sliceMs: number) {}
  due(share = 1): boolean {
    return performance.now() - this.since >= this.sliceMs * share;
  }
  async serve(share = 1): Promise<void> {
    if (!this.due(share)) return;
    await yieldToEventLoop();
    this.since = performance.now();
  }
  /** Drive a stepwise computation to its end, serving the loop between steps whenever a slice is used up. */
  async drive<T>(steps: Generator<PlaylistStep, T, void>): Promise<T> {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await this.serve(r.value === 'wide-next' ? 0.5 : 1);
    }
  }
}
/** Sites recorded in a run's first transaction, before their cost is known. */
const FIRST_RECORD_BATCH = 8;
/** How long an entry stays in the playlist after its scheduled end. */
export const KEEP_ENDED_MS = 10 * 60_000;

export class PlaylistDistributor {
  private readonly published = new Map<string, { version: string; at: number }>();
  private desired = new Map<string, PlaylistMessage>();
  private last: RefreshSummary | undefined;
  private running: Promise<RefreshSummary> | undefined;
  private pending: { reason: string; promise: Promise<RefreshSummary> } | undefined;
  private timers: NodeJS.Timeout[] = [];
  private fingerprint = '';
  /** The next run publishes every site's playlist, not only the changed ones (see `republish`). */
  private everySite = false;

  constructor(private readonly deps: DistributionDeps) {}

  /** The periodic jobs, then the first publish of every site (a failure of which the jobs retry). */
  async start(): Promise<void> {
    this.fingerprint = await this.currentFingerprint();
    const guard = (fn: () => Promise<unknown>) => () => {
      fn().catch((err: unknown) => this.deps.log.error({ err }, 'playlist distribution failed'));
    };
    this.timers.push(
      setInterval(
        guard(() => this.refresh('horizon')),
        this.deps.recomputeMs,
      ),
    );
    this.timers.push(
      setInterval(
        guard(async () => {
          const f = await this.currentFingerprint();
          if (f !== this.fingerprint) {
            this.fingerprint = f;
            await this.refresh('registry or media changed');
          }
        }),
        this.deps.watchMs ?? 2000,
      ),
    );
    for (const t of this.timers) t.unref();
    await this.refresh('start');
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Recompute and publish what changed; concurrent calls share one follow-up run. */
  refresh(reason: string): Promise<RefreshSummary> {
    if (!this.running) {
      this.running = this.run(reason).finally(() => (this.running = undefined));
      return this.running;
    }
    if (!this.pending) {
      const after = this.running.catch(() => undefined);
      const promise = after.then(() => {
        this.pending = undefined;
        return this.refresh(reason);
      });
      this.pending = { reason, promise };
    }
    return this.pending.promise;
  }

  /** Publish every site's playlist again, same versions, paced: the broker lost its retained copies. */
  republish(reason: string): Promise<RefreshSummary> {
    this.everySite = true;
    return this.refresh(reason);
  }

  lastRefresh(): RefreshSummary | undefined {
    return this.last;
  }

  status(siteId: string): SitePlaylistStatus {
    const desired = this.desired.get(siteId) ?? null;
    const held = this.deps.held(siteId) ?? null;
    return { siteId, desired, published: this.published.get(siteId) ?? null, held, converged: !!desired && held?.version === desired.version };
  }

  /** Sites (of `siteIds`, default all) whose agent does not hold the desired version. */
  convergence(siteIds?: Iterable<string>): { sites: number; converged: number; notConverged: Array<{ siteId: string; desired: string; held: string | null }> } {
    const ids = siteIds ? [...siteIds] : [...this.desired.keys()];
    const notConverged: Array<{ siteId: string; desired: string; held: string | null }> = [];
    let sites = 0;
    for (const id of ids) {
      const d = this.desired.get(id);
      if (!d) continue;
      sites++;
      const h = this.deps.held(id)?.version ?? null;
      if (h !== d.version) notConverged.push({ siteId: id, desired: d.version, held: h });
    }
    return { sites, converged: sites - notConverged.length, notConverged };
  }

  /** Changes when a site, an area or a media item is added, changed or retired: three aggregates, read together. */
  private async currentFingerprint(): Promise<string> {
    const db = this.deps.db;
    const [s, a, m] = await Promise.all([
      db
        .selectFrom('sites')
        .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('updated_at').as('u'), eb.fn.max('retired_at').as('r')])
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('areas')
        .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('updated_at').as('u'), eb.fn.max('retired_at').as('r')])
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('media')
        .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('updated_at').as('u')])
        .executeTakeFirstOrThrow(),
    ]);
    // COUNT is a BIGINT in PostgreSQL and MAX of an empty table NULL in both: numbers, 0 for none.
    const part = (...xs: Array<number | string | null>) => xs.map((x) => Number(x ?? 0)).join(':');
    return `${part(s.n, s.u, s.r)}/${part(a.n, a.u, a.r)}/${part(m.n, m.u)}/${this.deps.featuresGeneration?.() ?? 0}`;
  }

  private async run(reason: string): Promise<RefreshSummary> {
    const everySite = this.everySite;
    this.everySite = false;
    const started = performance.now();
    const slice = new Slicer(this.deps.sliceMs ?? DEFAULT_SLICE_MS);
    const now = this.deps.now();
    // Entries stay a while after their end: an agent that started one late is
    // still playing it, and must not see it leave the playlist (it would stop it).
    const horizon = { from: now - KEEP_ENDED_MS, to: now + this.deps.horizonMs };
    const items: ScheduledItem[] = await this.deps.items.live(horizon.from);
    const byId = new Map(items.map((i) => [i.id, i]));
    // Reading the items and building the directory (every site sorted) are one piece each: a slice of their own.
    await slice.serve(0);
    const dir = await this.deps.directory();
    await slice.serve(0);
    // One library lookup per media item per run, not one per entry per site, all before the computation (which is synchronous).
    const mediaCache = new Map<string, DistributableMedia | undefined>();
    for (const id of new Set(items.flatMap((i) => [i.mediaId, ...(i.versions ?? []).map((v) => v.mediaId)]))) mediaCache.set(id, await this.deps.media(id));
    const media = (id: string) => mediaCache.get(id);
    const comp = await slice.drive(computePlaylistSteps(items, dir, media, horizon));
    const problems: RefreshSummary['problems'] = [...comp.problems];
    const desired = new Map<string, PlaylistMessage>();
    for (const [siteId, pl] of comp.playlists) {
      desired.set(siteId, this.message(pl, byId, media, now, horizon.to, problems));
      await slice.serve();
    }
    this.desired = desired;

    let published = 0;
    let failed = 0;
    let cleared = 0;
    const changed = everySite ? [...desired] : [...desired].filter(([siteId, msg]) => this.published.get(siteId)?.version !== msg.version);
    const sentNow: string[] = [];
    const pace = { startedAt: Date.now(), perS: this.deps.republishPerS ?? DEFAULT_REPUBLISH_PER_S };
    const batch = everySite ? Math.max(1, Math.min(PUBLISH_BATCH, Math.round(pace.perS / 10))) : PUBLISH_BATCH;
    // A few publishes in flight at once: with an external broker each QoS 1 publish waits for its PUBACK.
    for (let i = 0; i < changed.length; i += batch) {
      // Publishing may settle without I/O (a counting or fast embedded broker): serve the loop by time, not by awaits.
      await slice.serve();
      if (everySite) {
        const wait = paceDelayMs(i, pace.startedAt, Date.now(), pace.perS);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      await Promise.all(
        changed.slice(i, i + batch).map(async ([siteId, msg]) => {
          try {
            const payload = Buffer.from(JSON.stringify(msg));
            if (payload.length > MAX_PLAYLIST_BYTES) throw new Error(`playlist of ${payload.length} bytes exceeds ${MAX_PLAYLIST_BYTES}`);
            await this.deps.broker.publish(siteTopic(siteId, 'playlist'), payload, { qos: 1, retain: true });
            this.published.set(siteId, { version: msg.version, at: now });
            sentNow.push(siteId);
            published++;
          } catch (err) {
            failed++;
            this.deps.log.warn({ siteId, err: (err as Error).message }, 'playlist not published; retried at the next refresh');
          }
        }),
      );
    }
    // What each site was sent: one transaction per slice of event-loop time, the loop served between slices.
    // On SQLite a transaction's statements run back to back on the one connection (nothing else can be served
    // until it commits), so its size is chosen before it starts: as many sites as the previous ones recorded
    // in half a slice (the commit costs about as much again), from a few, growing at most twofold.
    // A transaction never spans a served turn: other stores share SQLite's connection and would wait for it.
    const mediaOf = (itemId: string) => byId.get(itemId)?.mediaId;
    const budget = (this.deps.sliceMs ?? DEFAULT_SLICE_MS) * 0.5;
    let perTransaction = Number.isFinite(budget) ? FIRST_RECORD_BATCH : sentNow.length;
    for (let i = 0; i < sentNow.length; ) {
      await slice.serve(0.5);
      const part: SiteSent[] = sentNow
        .slice(i, i + perTransaction)
        .map((siteId) => ({ playlist: comp.playlists.get(siteId)!, plan: comp.plans.get(siteId) as SitePlan | undefined }));
      const t = performance.now();
      await this.deps.db.transaction().execute((trx) => new SentEntryStore(trx).recordSent(part, horizon, now, mediaOf));
      i += part.length;
      const perSite = (performance.now() - t) / part.length;
      perTransaction = Math.max(1, Math.min(perTransaction * 2, Math.floor(budget / Math.max(perSite, 1e-3))));
    }
    // Sites gone from the registry (retired, deleted): clear their retained playlist.
    for (const siteId of [...this.published.keys()]) {
      if (desired.has(siteId)) continue;
      await slice.serve();
      try {
        await this.deps.broker.publish(siteTopic(siteId, 'playlist'), Buffer.alloc(0), { qos: 1, retain: true });
        this.published.delete(siteId);
        await this.deps.sent.withdrawAll(siteId, now);
        cleared++;
      } catch (err) {
        this.deps.log.warn({ siteId, err: (err as Error).message }, 'retained playlist of a retired site not cleared');
      }
    }
    const summary: RefreshSummary = { at: now, reason, sites: desired.size, published, failed, cleared, problems, tookMs: Math.round(performance.now() - started) };
    this.last = summary;
    if (published || failed || cleared) this.deps.log.info({ reason, sites: desired.size, published, failed, cleared, problems: problems.length }, 'playlists distributed');
    return summary;
  }

  private message(
    pl: SitePlaylist,
    items: ReadonlyMap<string, ScheduledItem>,
    media: (id: string) => DistributableMedia | undefined,
    at: number,
    horizonEnd: number,
    problems: RefreshSummary['problems'],
  ): PlaylistMessage {
    let entries = pl.entries;
    if (entries.length > MAX_ENTRIES) {
      problems.push({
        itemId: entries[MAX_ENTRIES]!.itemId,
        code: 'too_many_entries',
        message: `site ${pl.siteId} has ${entries.length} entries in the horizon; only the first ${MAX_ENTRIES} are sent`,
      });
      entries = entries.slice(0, MAX_ENTRIES);
    }
    const toEntry = (e: PlaylistEntry): PlaylistEntryMessage => {
      const item = items.get(e.itemId);
      return {
        id: e.id,
        kind: 'bulletin' as const,
        itemId: e.itemId,
        mediaId: e.mediaId,
        sha256: e.sha256,
        bytes: media(e.mediaId)?.bytes ?? 1,
        startAt: e.startAt,
        durationMs: e.durationMs,
        priority: e.priority,
        ...(item ? { title: item.title.slice(0, 200) } : {}),
        ...(e.parts
          ? { parts: e.parts.map((p) => ({ language: p.language, mediaId: p.mediaId, sha256: p.sha256, bytes: media(p.mediaId)?.bytes ?? 1, durationMs: p.durationMs })) }
          : {}),
      };
    };
    let out = entries.map(toEntry);
    // Parts make entries larger: the latest entries wait for a later version rather than the whole playlist being refused.
    const envelope = JSON.stringify({ v: PROTOCOL_VERSION, siteId: pl.siteId, version: 'x'.repeat(16), at, horizonEnd, entries: [] }).length;
    let bytes = envelope + out.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
    if (bytes > MAX_PLAYLIST_BYTES) {
      const total = out.length;
      while (out.length > 0 && bytes > MAX_PLAYLIST_BYTES) bytes -= Buffer.byteLength(JSON.stringify(out.pop())) + 1;
      problems.push({
        itemId: entries[out.length]!.itemId,
        code: 'playlist_too_large',
        message: `the playlist of site ${pl.siteId} would exceed ${MAX_PLAYLIST_BYTES} bytes; only the first ${out.length} of ${total} entries are sent`,
      });
      entries = entries.slice(0, out.length);
      out = out.slice(0, entries.length);
    }
    const version = entries === pl.entries ? pl.version : `${pl.version.slice(0, 12)}t${entries.length}`;
    return { v: PROTOCOL_VERSION, siteId: pl.siteId, version, at, horizonEnd, entries: out };
  }
}
