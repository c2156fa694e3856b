/**
 * Live streams on several servers, in the record (both dialects): each stream
 * names the server that runs it and until when that server vouched for it
 * (the database's clock); a stream nobody vouches for any more is an orphan;
 * a stop asked through another server waits on the row for the owner; and at
 * start a server that shares the store closes only orphans, never a stream
 * another server is playing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/audit.ts';
import type { BrokerLink } from '../../server/fleet/broker.ts';
import { LiveService } from '../../server/live/service.ts';
import { LiveStreamStore, type NewLiveStream } from '../../server/live/store.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = 1_764_979_200_000;
const quiet = { info() {}, warn() {}, error() {} };

function stream(id: number): NewLiveStream {
  return {
    id,
    source: { kind: 'media', label: 'Bản tin', ref: 'm1', format: null },
    priority: 'normal',
    whenPreempted: 'resume',
    areas: ['2025.02683'],
    areaIds: [],
    delayMs: 1500,
    codec: { name: 'opus', sampleRate: 48000, channels: 1, frameMs: 20, packetsPerMessage: 5, bitrate: 24000, fec: true },
    startAt: T0 + 1500,
    createdBy: null,
    createdByName: 'can-bo',
    startedAt: T0,
  };
}

/** A broker that takes every publish and remembers it. */
function recordingBroker(): BrokerLink & { published: Array<{ topic: string; payload: string }> } {
  const published: Array<{ topic: string; payload: string }> = [];
  return {
    published,
    start: async () => {},
    stop: async () => {},
    publish: async (topic, payload) => void published.push({ topic, payload: payload.toString('utf8') }),
    onSiteMessage: () => {},
    disconnectSite: () => {},
    status: () => ({ kind: 'embedded', up: true }) as ReturnType<BrokerLink['status']>,
  };
}

describe.each(storeDialects())('live streams owned by servers, on %s', (dialect) => {
  let store: TestStore;
  /** Server A vouches for 60 s; server B's vouching has already lapsed (a server that died long ago). */
  let a: LiveStreamStore;
  let dead: LiveStreamStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    a = new LiveStreamStore(store.db, () => T0, { dialect, owner: 'server-a', ttlMs: 60_000 });
    dead = new LiveStreamStore(store.db, () => T0, { dialect, owner: 'server-dead', ttlMs: -60_000 });
  });
  afterEach(() => store.close());

  it("names each stream's server; a stream whose server stopped vouching, or that names none, is an orphan", async () => {
    expect(await a.insert(stream(1))).toBe(true);
    expect(await dead.insert(stream(2))).toBe(true);
    // Recorded by a server from before several servers were known: nobody vouches for it.
    expect(await new LiveStreamStore(store.db, () => T0).insert(stream(3))).toBe(true);
    expect((await a.orphans()).map((r) => r.id)).toEqual([2, 3]);
    const rows = await store.db.selectFrom('live_streams').select(['id', 'owner']).orderBy('id').execute();
    expect(rows).toEqual([
      { id: 1, owner: 'server-a' },
      { id: 2, owner: 'server-dead' },
      { id: 3, owner: null },
    ]);
    // Renewing vouches again for its own open streams only.
    expect(await a.renew()).toBe(1);
    await a.end(1, { endedAt: T0 + 1, reason: 'ended', detail: null, by: null });
    expect(await a.renew()).toBe(0);
  });

  it('a stop asked through another server waits on the row for the owner; one no longer on air is refused', async () => {
    expect(await a.insert(stream(10))).toBe(true);
    expect(await dead.insert(stream(11))).toBe(true);
    expect(await a.stopRequests()).toEqual([]);
    expect(await dead.requestStop(10, { id: 5, name: 'truc-ban' })).toBe(true);
    expect(await a.stopRequests()).toEqual([{ id: 10, by: { id: 5, name: 'truc-ban' } }]);
    // Only the owner's streams are its to stop.
    expect(await dead.stopRequests()).toEqual([]);
    await a.end(10, { endedAt: T0 + 1, reason: 'operator', detail: null, by: null });
    expect(await a.stopRequests()).toEqual([]);
    expect(await a.requestStop(10, { id: 5, name: 'truc-ban' })).toBe(false);
    expect(await a.isOpen(10)).toBe(false);
    expect(await a.isOpen(11)).toBe(true);
  });

  it('a server starting beside others closes the orphans only, never a stream another server is playing; a lone server closes all its last run left', async () => {
    expect(await a.insert(stream(20))).toBe(true);
    expect(await dead.insert(stream(21))).toBe(true);
    const broker = recordingBroker();
    const b = new LiveService({
      broker,
      audit: new AuditLog(store.db, () => T0, quiet),
      log: quiet,
      now: () => T0 + 5_000,
      store: new LiveStreamStore(store.db, () => T0, { dialect, owner: 'server-b', ttlMs: 60_000 }),
      soleServer: false,
    });
    expect(await b.recover({ retries: 0 })).toEqual([21]);
    expect(await a.isOpen(20)).toBe(true);
    expect(await a.get(21)).toMatchObject({ endReason: 'server_lost' });
    // Its sites are told to stop it.
    expect(broker.published.some((p) => p.payload.includes('"stream_stop"') && p.payload.includes('"streamId":21'))).toBe(true);
    // Asked again (the live lease's sweep): nothing more to close.
    expect(await b.closeOrphans({ retries: 0 })).toEqual([]);

    const lone = new LiveService({
      broker: recordingBroker(),
      audit: new AuditLog(store.db, () => T0, quiet),
      log: quiet,
      now: () => T0 + 6_000,
      store: new LiveStreamStore(store.db, () => T0),
      soleServer: true,
    });
    expect(await lone.recover({ retries: 0 })).toEqual([20]);
    expect(await a.get(20)).toMatchObject({ endReason: 'server_restart' });
  });
});
