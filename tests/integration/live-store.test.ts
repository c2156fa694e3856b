/**
 * The live stream record's contract, the same on SQLite and on PostgreSQL
 * (server/live/store.ts): a stream reads back as stored, with its target
 * areas; pages newest first, narrowed to areas; a site's older report never
 * replaces a newer one. And what a synchronous store gave for free, which two
 * requests (or two servers on one PostgreSQL) could otherwise race: a stream
 * id is taken by its INSERT (two servers drawing the same id both go on air,
 * under different ids), a stream ends once in the record (a stop racing
 * another server's recover() is recorded and audited once), two starts at
 * once on the same areas and priority are one stream and one refusal, and a
 * batch of site reports that fails to be written is counted and written with
 * the next, never dropped.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type StreamStatsEvent } from '../../protocol/index.ts';
import { AuditLog } from '../../server/audit.ts';
import type { BrokerLink } from '../../server/fleet/broker.ts';
import type { LiveArea, LiveStartInput } from '../../server/live/model.ts';
import { LiveService } from '../../server/live/service.ts';
import { LiveStreamStore, type LiveSiteRecord, type NewLiveStream } from '../../server/live/store.ts';
import { LoanetError } from '../../server/errors.ts';
import { liveRecordFamilies } from '../../server/metrics/collect.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const T0 = 1_764_979_200_000;
const COMMUNE: LiveArea = { id: 7, key: '2025.02683', path: [1, 7] };
const OTHER: LiveArea = { id: 8, key: '2025.02686', path: [1, 8] };
/** A village of COMMUNE. */
const VILLAGE: LiveArea = { id: 70, key: '2025.02683-01', path: [1, 7, 70] };
/** What the registry answers for an area id: its ancestors and itself. */
const PATHS = new Map<number, readonly number[]>([COMMUNE, OTHER, VILLAGE].map((a) => [a.id, a.path]));

function stream(id: number, over: Partial<NewLiveStream> = {}): NewLiveStream {
  return {
    id,
    source: { kind: 'relay', label: 'VOV1', ref: 'http://radio.example.vn/vov1', format: null },
    priority: 'normal',
    whenPreempted: 'resume',
    areas: ['2025.02683'],
    areaIds: [1, 7],
    delayMs: 1500,
    codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage: 5, bitrate: 24000, fec: true },
    startAt: T0 + 1500,
    createdBy: null,
    createdByName: 'can-bo',
    startedAt: T0,
    ...over,
  };
}

function site(siteId: string, at: number, received: number, over: Partial<LiveSiteRecord> = {}): LiveSiteRecord {
  return {
    siteId,
    received,
    late: 1,
    lost: 2,
    concealed: 1,
    fecRecovered: 0,
    played: received,
    bufferLevelMs: 412.5,
    marks: 3,
    clockUncertaintyMs: 1.5,
    final: false,
    end: null,
    at,
    receivedAt: at + 40,
    ...over,
  };
}

describe.each(storeDialects())('the live stream record on %s', (dialect) => {
  let store: TestStore;
  let record: LiveStreamStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    record = new LiveStreamStore(store.db, () => T0);
  });
  afterEach(() => store.close());

  it('reads a stream back as stored, with its target areas; open until it ends, and ended once', async () => {
    expect(await record.insert(stream(70_001))).toBe(true);
    const got = await record.get(70_001);
    expect(got).toEqual({
      ...stream(70_001),
      endedAt: null,
      endReason: null,
      endDetail: null,
      endedBy: null,
      endedByName: null,
      serverStats: null,
      skew: null,
      adaptive: null,
    });
    expect(await record.exists(70_001)).toBe(true);
    expect(await record.exists(70_002)).toBe(false);
    expect((await record.open()).map((r) => r.id)).toEqual([70_001]);

    const end = { endedAt: T0 + 60_000, reason: 'operator' as const, detail: 'stopped by can-bo', by: { id: null, name: 'can-bo' } };
    expect(await record.end(70_001, end)).toBe(true);
    expect(await record.end(70_001, { ...end, reason: 'server_restart', detail: 'later' })).toBe(false);
    expect(await record.get(70_001)).toMatchObject({ endedAt: T0 + 60_000, endReason: 'operator', endDetail: 'stopped by can-bo', endedByName: 'can-bo' });
    expect(await record.open()).toEqual([]);
  });

  it('a taken id is refused, and nothing of the second stream is written', async () => {
    expect(await record.insert(stream(70_001))).toBe(true);
    expect(await record.insert(stream(70_001, { areas: ['2025.02686'], areaIds: [1, 8], createdByName: 'other' }))).toBe(false);
    expect(await record.get(70_001)).toMatchObject({ areas: ['2025.02683'], areaIds: [1, 7], createdByName: 'can-bo' });
  });

  it('two ends at once: exactly one closes the stream, and its end is the one kept', async () => {
    await record.insert(stream(70_001));
    const ends = await Promise.all(
      (['operator', 'server_restart', 'source_lost'] as const).map((reason) => record.end(70_001, { endedAt: T0 + 1000, reason, detail: reason, by: null })),
    );
    expect(ends.filter(Boolean)).toHaveLength(1);
    const winner = (['operator', 'server_restart', 'source_lost'] as const)[ends.indexOf(true)];
    expect(await record.get(70_001)).toMatchObject({ endReason: winner, endDetail: winner });
  });

  it('pages newest first, narrowed to streams with a target among given areas', async () => {
    for (let i = 0; i < 5; i++) await record.insert(stream(70_000 + i, { startedAt: T0 + i * 1000, ...(i % 2 ? { areas: ['2025.02686'], areaIds: [1, 8] } : {}) }));
    expect((await record.list({ limit: 3 })).map((r) => r.id)).toEqual([70_004, 70_003, 70_002]);
    expect((await record.list({ limit: 3, before: T0 + 2000 })).map((r) => r.id)).toEqual([70_001, 70_000]);
    expect((await record.list({ limit: 10, areaIds: [8] })).map((r) => r.id)).toEqual([70_003, 70_001]);
    expect((await record.list({ limit: 10, areaIds: [8, 99] })).map((r) => r.areaIds)).toEqual([
      [1, 8],
      [1, 8],
    ]);
    expect(await record.list({ limit: 10, areaIds: [] })).toEqual([]);
  });

  it("keeps each site's latest report: an older one delivered late never replaces it; the streams' counters go with them", async () => {
    await record.insert(stream(70_001));
    await record.write({ sites: [{ streamId: 70_001, site: site('lc-a', T0 + 5000, 250) }], streams: [] });
    await record.write({
      sites: [
        { streamId: 70_001, site: site('lc-a', T0 + 4000, 200) },
        { streamId: 70_001, site: site('lc-b', T0 + 4000, 190, { final: true, end: { reason: 'preempted', detail: 'alert' } }) },
      ],
      streams: [{ id: 70_001, serverStats: null, skew: { marks: 4, sites: 2, p50Ms: 3, p99Ms: 9, maxMs: 9 } }],
    });
    expect(await record.sites(70_001)).toEqual([site('lc-a', T0 + 5000, 250), site('lc-b', T0 + 4000, 190, { final: true, end: { reason: 'preempted', detail: 'alert' } })]);
    expect((await record.get(70_001))!.skew).toEqual({ marks: 4, sites: 2, p50Ms: 3, p99Ms: 9, maxMs: 9 });
  });

  it('writes a province of reports in one batch', async () => {
    await record.insert(stream(70_001));
    const sites = Array.from({ length: 1203 }, (_, i) => ({ streamId: 70_001, site: site(`lc-${String(i).padStart(4, '0')}`, T0 + 1000, i) }));
    await record.write({ sites, streams: [] });
    const stored = await record.sites(70_001);
    expect(stored).toHaveLength(1203);
    expect(stored[1202]).toEqual(sites[1202]!.site);
  });
});

/** A live service as one server builds it, on a shared store. */
function server(store: TestStore, o: { drawId?: () => number; record?: LiveStreamStore; keepEnded?: number; shared?: boolean } = {}) {
  const broker = { publish: async () => {}, status: () => ({ up: true }) } as unknown as BrokerLink;
  const log = { info() {}, warn() {}, error() {} };
  const audit = new AuditLog(store.db, Date.now);
  const live = new LiveService({
    broker,
    audit,
    log,
    now: Date.now,
    config: { announceMs: 0, delayMs: 500, ...(o.keepEnded !== undefined ? { keepEnded: o.keepEnded } : {}) },
    store: o.record ?? new LiveStreamStore(store.db, Date.now),
    ...(o.drawId ? { drawId: o.drawId } : {}),
    // Beside other servers: theirs are in the record only, known by their area ids.
    ...(o.shared ? { soleServer: false, areaPath: (id: number) => PATHS.get(id) ?? [id] } : {}),
  });
  return live;
}

const input = (areas: LiveArea[] = [COMMUNE], priority: LiveStartInput['priority'] = 'normal'): LiveStartInput => ({
  source: { kind: 'browser', format: 'pcm' },
  areas,
  priority,
  actor: { id: 1, username: 'can-bo' },
});
const silentSource = () => ({ pause() {}, resume() {}, close() {} });

function stats(siteId: string, streamId: number, at: number, received: number): StreamStatsEvent {
  return {
    v: PROTOCOL_VERSION,
    siteId,
    at,
    type: 'stream_stats',
    streamId,
    received,
    late: 0,
    lost: 0,
    concealed: 0,
    fecRecovered: 0,
    played: received,
    bufferLevelMs: 400,
    marks: [],
    clockUncertaintyMs: 1,
    final: false,
  };
}

describe.each(storeDialects())('live streams racing on one %s store', (dialect) => {
  let store: TestStore;
  const services: LiveService[] = [];
  beforeEach(async () => {
    store = await openTestStore(dialect);
    // The operator the streams are recorded under (live_streams.created_by refers to users).
    await store.db.insertInto('users').values({ username: 'can-bo', password_hash: 'x', role: 'operator', area_id: null, created_at: T0 }).execute();
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.close();
    await store.close();
  });

  it('two servers drawing the same ids at the same moment both go on air, each under an id of its own', async () => {
    // Both draw 4242 first: the record's INSERT gives it to one, the other draws again.
    const draws = () => {
      const seq = [4242, 5151, 6262];
      return () => seq.shift() ?? 7373;
    };
    const a = server(store, { drawId: draws() });
    const b = server(store, { drawId: draws() });
    services.push(a, b);
    const [sa, sb] = await Promise.all([a.start(input([COMMUNE]), silentSource), b.start(input([OTHER]), silentSource)]);
    expect(new Set([sa.id, sb.id])).toEqual(new Set([4242, 5151]));
    const stored = new LiveStreamStore(store.db, Date.now);
    expect((await stored.get(sa.id))!.areas).toEqual(sa.areas);
    expect((await stored.get(sb.id))!.areas).toEqual(sb.areas);
  });

  it('two starts at once on the same area and priority: one goes on air, the other is told who is', async () => {
    const a = server(store);
    services.push(a);
    const results = await Promise.allSettled([a.start(input(), silentSource), a.start(input(), silentSource)]);
    const on = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(on).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(LoanetError);
    expect((refused[0]!.reason as LoanetError).code).toBe('LOANET_LIVE_BUSY');
    expect((await a.list({ state: 'live' })).streams).toHaveLength(1);
  });

  it('two servers starting at once over one area at one priority: one goes on air, the other is told who is; another priority or area still starts', async () => {
    const owned = (owner: string) => new LiveStreamStore(store.db, Date.now, { dialect, owner, ttlMs: 60_000 });
    const a = server(store, { shared: true, record: owned('server-a') });
    const b = server(store, { shared: true, record: owned('server-b') });
    services.push(a, b);
    // The commune through one server, one of its villages through the other: the village's sites would get both.
    const results = await Promise.allSettled([a.start(input([COMMUNE]), silentSource), b.start(input([VILLAGE]), silentSource)]);
    const on = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(on).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect((refused[0]!.reason as LoanetError).code).toBe('LOANET_LIVE_BUSY');
    const onAir = (on[0] as PromiseFulfilledResult<{ id: number }>).value;
    expect((refused[0]!.reason as LoanetError).params).toMatchObject({ id: String(onAir.id), priority: 'normal' });
    // Started again through the server that was refused, the same answer: the record is asked, not memory.
    const loser = results[0]!.status === 'rejected' ? a : b;
    await expect(loser.start(input([results[0]!.status === 'rejected' ? COMMUNE : VILLAGE]), silentSource)).rejects.toMatchObject({ code: 'LOANET_LIVE_BUSY' });
    // An emergency pre-empts rather than fights, and another commune is free.
    await expect(loser.start(input([VILLAGE], 'emergency'), silentSource)).resolves.toMatchObject({ priority: 'emergency' });
    await expect(loser.start(input([OTHER]), silentSource)).resolves.toMatchObject({ priority: 'normal' });
    expect(await new LiveStreamStore(store.db, Date.now).open()).toHaveLength(3);
  });

  it("a stream's end not yet in the record does not refuse its own server's next start: an operator stops and goes live again at once", async () => {
    // The record's end is held back until the new start is answered: the write behind a stop, late.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    class SlowEnd extends LiveStreamStore {
      override async end(...args: Parameters<LiveStreamStore['end']>) {
        await held;
        return super.end(...args);
      }
    }
    const a = server(store, { shared: true, record: new SlowEnd(store.db, Date.now, { dialect, owner: 'server-a', ttlMs: 60_000 }) });
    services.push(a);
    let endFirst!: (reason: 'source_lost') => void;
    const first = await a.start(input([COMMUNE]), (_stream, end) => {
      endFirst = end;
      return silentSource();
    });
    endFirst('source_lost');
    expect(await new LiveStreamStore(store.db, Date.now).isOpen(first.id)).toBe(true);
    const second = await a.start(input([VILLAGE]), silentSource);
    expect(second.id).not.toBe(first.id);
    release();
    await waitFor('the first stream ended in the record', async () => !(await new LiveStreamStore(store.db, Date.now).isOpen(first.id)));
  });

  it('a stream whose server stopped vouching for it holds nothing: another server starts over its area', async () => {
    const dead = new LiveStreamStore(store.db, Date.now, { dialect, owner: 'server-dead', ttlMs: -60_000 });
    const gone = server(store, { shared: true, record: dead });
    const b = server(store, { shared: true, record: new LiveStreamStore(store.db, Date.now, { dialect, owner: 'server-b', ttlMs: 60_000 }) });
    services.push(gone, b);
    await gone.start(input([COMMUNE]), silentSource);
    await expect(b.start(input([VILLAGE]), silentSource)).resolves.toMatchObject({ priority: 'normal' });
  });

  it("a stop that comes after another server's recover() closed the stream: the record keeps the first end, audited once", async () => {
    const a = server(store);
    const b = server(store);
    services.push(a, b);
    const s = await a.start(input(), silentSource);
    // B takes over as if A had died, and closes what the record has on air; then A's operator presses stop.
    expect(await b.recover({ retries: 0 })).toEqual([s.id]);
    expect((await a.stop(s.id, { id: 1, username: 'can-bo' })).state).toBe('ended');
    const row = await new LiveStreamStore(store.db, Date.now).get(s.id);
    expect(row).toMatchObject({ endReason: 'server_restart' });
    const audited = await store.db.selectFrom('audit_log').select(['detail']).where('target', '=', String(s.id)).where('action', '=', 'live.stop').execute();
    expect(audited).toHaveLength(1);
    expect(audited[0]!.detail).toContain('server_restart');
  });

  it("a stop racing another server's recover() ends the stream once: one end in the record, one live.stop audited", async () => {
    const a = server(store);
    const b = server(store);
    services.push(a, b);
    const s = await a.start(input(), silentSource);
    const [stopped] = await Promise.all([a.stop(s.id, { id: 1, username: 'can-bo' }), b.recover({ retries: 0 })]);
    expect(stopped.state).toBe('ended');
    await a.close();
    const row = await new LiveStreamStore(store.db, Date.now).get(s.id);
    expect(['operator', 'server_restart']).toContain(row!.endReason);
    const audited = await store.db.selectFrom('audit_log').select(['detail']).where('target', '=', String(s.id)).where('action', '=', 'live.stop').execute();
    expect(audited).toHaveLength(1);
    expect(audited[0]!.detail).toContain(row!.endReason!);
  });

  it('an operator stop and the source ending at the same moment end the stream once: the first end kept and audited once', async () => {
    const a = server(store);
    services.push(a);
    let sourceEnded: ((reason: 'source_lost', detail?: string) => void) | undefined;
    const s = await a.start(input(), (_stream, end) => {
      sourceEnded = end;
      return silentSource();
    });
    const stop = a.stop(s.id, { id: 1, username: 'can-bo' });
    sourceEnded!('source_lost', 'the browser disconnected');
    expect((await stop).endReason).toBe('operator');
    await expect(a.stop(s.id, { id: 1, username: 'can-bo' })).rejects.toMatchObject({ code: 'LOANET_STREAM_ENDED' });
    await a.close();
    expect(await new LiveStreamStore(store.db, Date.now).get(s.id)).toMatchObject({ endReason: 'operator', endedByName: 'can-bo' });
    const audited = await store.db.selectFrom('audit_log').select('detail').where('target', '=', String(s.id)).where('action', '=', 'live.stop').execute();
    expect(audited).toHaveLength(1);
  });

  it('a batch of site reports that fails to be written is counted, and written with the next', async () => {
    const real = new LiveStreamStore(store.db, Date.now);
    let failNext = true;
    const flaky = Object.create(real) as LiveStreamStore;
    flaky.write = async (batch) => {
      if (failNext) {
        failNext = false;
        throw new Error('connection reset');
      }
      return real.write(batch);
    };
    const a = server(store, { record: flaky });
    services.push(a);
    const s = await a.start(input(), silentSource);
    const now = Date.now();
    a.onStats('lc-a', stats('lc-a', s.id, now, 100));
    expect(await a.flush()).toBe(false);
    expect(a.recordStats()).toMatchObject({ failures: 1, writes: 0 });
    // Reported meanwhile: the next batch holds both the failed report's site and this one.
    a.onStats('lc-b', stats('lc-b', s.id, now, 80));
    expect(await a.flush()).toBe(true);
    expect(a.recordStats()).toMatchObject({ failures: 1, writes: 1, siteRows: 2, waiting: 0, queued: 0 });
    // An operator sees it in /metrics.
    expect(liveRecordFamilies(a.recordStats())[0]!.samples).toEqual([
      { labels: { result: 'written' }, value: 1 },
      { labels: { result: 'failed' }, value: 1 },
    ]);
    expect((await real.sites(s.id)).map((r) => [r.siteId, r.received])).toEqual([
      ['lc-a', 100],
      ['lc-b', 80],
    ]);
  });

  it('a late report on an ended stream that then leaves memory is written all the same', async () => {
    const a = server(store, { keepEnded: 1 });
    services.push(a);
    const actor = { id: 1, username: 'can-bo' };
    const first = await a.start(input(), silentSource);
    await a.stop(first.id, actor);
    // The site's final report arrives after the end; before any flush, a second stream ends and pushes the first out of memory.
    a.onStats('lc-a', stats('lc-a', first.id, Date.now(), 42));
    expect(a.recordStats().waiting).toBe(0);
    const second = await a.start(input(), silentSource);
    await a.stop(second.id, actor);
    expect(a.recordStats()).toMatchObject({ waiting: 0, failures: 0 });
    expect((await new LiveStreamStore(store.db, Date.now).sites(first.id)).map((r) => [r.siteId, r.received])).toEqual([['lc-a', 42]]);
  });
});
