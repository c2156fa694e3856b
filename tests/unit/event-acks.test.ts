/**
 * The server's acknowledgement of stored events (server/fleet/event-acks.ts,
 * server/fleet/ingest.ts): a receipt, alert status or command result is
 * acknowledged to its site only after the sink applied (committed) it, in one
 * message per site per turn of the event loop; a store failure (SQLITE_FULL)
 * is not acknowledged, so the site sends it again; a refusal for good is
 * acknowledged as refused; events that are not journaled are not acknowledged.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventAcker } from '../../server/fleet/event-acks.ts';
import { openDatabase, walSync } from '../../server/store/db.ts';
import { SiteMessageIngest, type IngestSink } from '../../server/fleet/ingest.ts';
import { decodeEventAck, encodeJson, eventAckKey, MAX_ACK_KEYS, PROTOCOL_VERSION, siteTopic, type AsRunEvent, type EventAck, type SiteEventMessage } from '../../protocol/index.ts';

const SITE = 'sim-02683-v01';
const T0 = 1_800_000_000_000;
const quiet = { info() {}, warn() {}, error() {} };
const turn = () => new Promise((r) => setImmediate(r));

function receipt(entryId: string, siteId = SITE): AsRunEvent {
  return { v: PROTOCOL_VERSION, siteId, at: T0, type: 'as_run', entryId, kind: 'bulletin', itemId: 'i', mediaId: 'm', scheduledAt: T0, outcome: 'played', frames: 10 };
}

function stubBroker() {
  const published: Array<{ topic: string; ack: EventAck }> = [];
  return {
    published,
    publish: async (topic: string, payload: Buffer) => {
      const d = decodeEventAck.decode(payload);
      if (!d.ok) throw new Error(d.error.reason);
      published.push({ topic, ack: d.value });
    },
  };
}

function sinkThat(apply: (e: SiteEventMessage) => void): IngestSink {
  return { isKnownSite: () => true, applyState() {}, applyTelemetry() {}, applyEvent: (_id, e) => apply(e) };
}

const opened = (a: EventAcker): EventAcker => (a.open(), a);
const event = (e: SiteEventMessage) => ({ siteId: e.siteId, channel: 'event' as const, payload: encodeJson(e), retain: false });

describe('EventAcker', () => {
  it('sends one ack per site per turn, each under the message limit', async () => {
    const broker = stubBroker();
    const acker = opened(new EventAcker(broker, quiet, () => T0));
    for (let i = 0; i < MAX_ACK_KEYS + 5; i++) acker.stored(SITE, `r/e${i}@1`);
    acker.stored('sim-02683-v02', 'c/cmd-00000001');
    await turn();
    await turn();
    expect(broker.published.map((p) => [p.topic, p.ack.stored.length])).toEqual([
      [siteTopic(SITE, 'ack'), MAX_ACK_KEYS],
      [siteTopic(SITE, 'ack'), 5],
      [siteTopic('sim-02683-v02', 'ack'), 1],
    ]);
    expect(acker.stats()).toMatchObject({ stored: MAX_ACK_KEYS + 6, messages: 3, publishFailures: 0 });
  });

  it('a publish the broker does not take is counted, and nothing else happens (the site sends again)', async () => {
    const acker = opened(new EventAcker({ publish: () => Promise.reject(new Error('broker is not running')) }, quiet));
    acker.stored(SITE, 'r/a@1');
    await turn();
    await turn();
    expect(acker.stats()).toMatchObject({ messages: 1, publishFailures: 1 });
  });

  it('acknowledges nothing before open(): the server is not yet listening with every store', async () => {
    const broker = stubBroker();
    const acker = new EventAcker(broker, quiet);
    acker.stored(SITE, 'a/alr-0123456789abcdef/1/received/-/1');
    acker.open();
    acker.stored(SITE, 'r/a@1');
    await turn();
    expect(broker.published.map((p) => p.ack.stored)).toEqual([['r/a@1']]);
    expect(acker.stats()).toMatchObject({ beforeOpen: 1, stored: 1 });
  });
});

describe('EventAcker waits for the store to be durable before acknowledging', () => {
  /** A sync the test releases by hand: what is stored meanwhile is not acknowledged. */
  function gatedSync() {
    const waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
    return {
      waiting,
      sync: () => new Promise<void>((resolve, reject) => waiting.push({ resolve, reject })),
    };
  }

  it('acks a batch only once its sync is done; batches stored meanwhile share the next sync (one at a time)', async () => {
    const broker = stubBroker();
    const gate = gatedSync();
    const acker = opened(new EventAcker(broker, quiet, () => T0, gate.sync));
    acker.stored(SITE, 'r/a@1');
    await turn();
    expect(gate.waiting).toHaveLength(1);
    acker.stored(SITE, 'r/b@1');
    acker.stored('sim-02683-v02', 'r/c@1');
    await turn();
    await turn();
    // Nothing left before its sync, and no second sync while the first runs.
    expect(broker.published).toEqual([]);
    expect(gate.waiting).toHaveLength(1);
    gate.waiting[0]!.resolve();
    await turn();
    await turn();
    expect(broker.published.map((p) => p.ack.stored)).toEqual([['r/a@1']]);
    expect(gate.waiting).toHaveLength(2);
    gate.waiting[1]!.resolve();
    await turn();
    await turn();
    expect(broker.published.map((p) => [p.topic, p.ack.stored])).toEqual([
      [siteTopic(SITE, 'ack'), ['r/a@1']],
      [siteTopic(SITE, 'ack'), ['r/b@1']],
      [siteTopic('sim-02683-v02', 'ack'), ['r/c@1']],
    ]);
    expect(acker.stats()).toMatchObject({ syncs: 2, syncFailures: 0, messages: 3 });
  });

  it('a sync that fails acknowledges nothing stored in its batch (the site sends again), but its refusals still go', async () => {
    const broker = stubBroker();
    const gate = gatedSync();
    const acker = opened(new EventAcker(broker, quiet, () => T0, gate.sync));
    acker.stored(SITE, 'r/a@1');
    acker.refused(SITE, { key: 'a/alr-0123456789abcdef/1/received/-/1', code: 'not_accepted', reason: 'alert not known' });
    await turn();
    gate.waiting[0]!.reject(Object.assign(new Error('I/O error'), { code: 'EIO' }));
    await turn();
    await turn();
    expect(broker.published.map((p) => p.ack)).toEqual([
      { v: 1, siteId: SITE, at: T0, stored: [], refused: [{ key: 'a/alr-0123456789abcdef/1/received/-/1', code: 'not_accepted', reason: 'alert not known' }] },
    ]);
    expect(acker.stats()).toMatchObject({ syncs: 0, syncFailures: 1 });
  });

  it('refusals alone need no sync', async () => {
    const broker = stubBroker();
    const gate = gatedSync();
    const acker = opened(new EventAcker(broker, quiet, () => T0, gate.sync));
    acker.refused(SITE, { key: 'c/cmd-00000001', code: 'not_accepted', reason: 'unknown command' });
    await turn();
    expect(gate.waiting).toHaveLength(0);
    expect(broker.published).toHaveLength(1);
  });

  it('walSync syncs a real SQLite WAL that holds the commits (and is a no-op with no WAL file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loanet-walsync-'));
    try {
      await walSync(dir)(); // no database yet: nothing to sync, no error
      const db = openDatabase(dir);
      db.exec('CREATE TABLE t (x INTEGER)');
      db.prepare('INSERT INTO t VALUES (1)').run();
      expect(statSync(join(dir, 'loanet.db-wal')).size).toBeGreaterThan(0);
      await walSync(dir)();
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SiteMessageIngest acknowledges what the store committed', () => {
  it('acks a receipt after it is applied, again when it comes twice; never one that failed to store', async () => {
    const broker = stubBroker();
    const stored = new Map<string, AsRunEvent>();
    let full = false;
    const ingest = new SiteMessageIngest(
      sinkThat((e) => {
        if (e.type !== 'as_run') return;
        if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        if (!stored.has(e.entryId)) stored.set(e.entryId, e);
      }),
      quiet,
      () => T0,
      { acks: opened(new EventAcker(broker, quiet, () => T0)) },
    );
    ingest.handle(event(receipt('a@1')));
    ingest.handle(event(receipt('a@1')));
    full = true;
    ingest.handle(event(receipt('b@1')));
    await turn();
    expect(broker.published.map((p) => p.ack)).toEqual([{ v: 1, siteId: SITE, at: T0, stored: ['r/a@1', 'r/a@1'] }]);
    expect(ingest.stats().rejectedByCode).toEqual({ store_failed: 1 });
    full = false; // space is back: the site's next try is stored and acknowledged
    ingest.handle(event(receipt('b@1')));
    await turn();
    expect(broker.published.at(-1)!.ack.stored).toEqual(['r/b@1']);
    expect([...stored.keys()]).toEqual(['a@1', 'b@1']);
  });

  it('acks a refusal for good as refused; does not ack what it cannot decode, nor events that are not journaled', async () => {
    const broker = stubBroker();
    const ingest = new SiteMessageIngest(
      sinkThat((e) => {
        if (e.type === 'alert_status') throw new Error(`alert ${e.alertId} is not known`);
      }),
      quiet,
      () => T0,
      { acks: opened(new EventAcker(broker, quiet, () => T0)) },
    );
    const status = { v: PROTOCOL_VERSION, siteId: SITE, at: T0, type: 'alert_status', alertId: 'alr-0123456789abcdef', revision: 1, status: 'received' } as const;
    ingest.handle(event(status));
    ingest.handle(event({ v: PROTOCOL_VERSION, siteId: SITE, at: T0, type: 'fault', device: 'amp', fault: 'overheat' }));
    ingest.handle({ siteId: SITE, channel: 'event', payload: Buffer.from(JSON.stringify({ ...receipt('c@1'), future: true })), retain: false });
    await turn();
    expect(broker.published.map((p) => p.ack)).toEqual([
      { v: 1, siteId: SITE, at: T0, stored: [], refused: [{ key: eventAckKey(status), code: 'not_accepted', reason: 'alert alr-0123456789abcdef is not known' }] },
    ]);
  });
});

describe('SiteMessageIngest waits for an asynchronous store before acknowledging', () => {
  /** A sink whose stores the test commits or fails by hand, as a store on a database does. */
  function asyncSink() {
    const commits: Array<{ event: SiteEventMessage; commit: () => void; fail: (e: Error) => void }> = [];
    const sink: IngestSink = {
      isKnownSite: () => true,
      applyState() {},
      applyTelemetry() {},
      applyEvent: (_id, event) => new Promise<void>((commit, fail) => commits.push({ event, commit, fail })),
    };
    return { sink, commits };
  }

  it('acks each event once its commit resolves, in the order they commit; none before', async () => {
    const broker = stubBroker();
    const { sink, commits } = asyncSink();
    const ingest = new SiteMessageIngest(sink, quiet, () => T0, { acks: opened(new EventAcker(broker, quiet, () => T0)) });
    ingest.handle(event(receipt('a@1')));
    ingest.handle(event(receipt('b@1')));
    await turn();
    await turn();
    expect(commits).toHaveLength(2);
    expect(broker.published).toEqual([]);
    expect(ingest.stats().accepted).toBe(0);
    commits[1]!.commit();
    await turn();
    await turn();
    expect(broker.published.map((p) => p.ack.stored)).toEqual([['r/b@1']]);
    commits[0]!.commit();
    await turn();
    await turn();
    expect(broker.published.map((p) => p.ack.stored)).toEqual([['r/b@1'], ['r/a@1']]);
    expect(ingest.stats()).toMatchObject({ accepted: 2, rejected: 0 });
  });

  it('a commit that fails in the store is not acknowledged; one refused for good is acknowledged as refused', async () => {
    const broker = stubBroker();
    const { sink, commits } = asyncSink();
    const storeFailures: unknown[] = [];
    const ingest = new SiteMessageIngest(sink, quiet, () => T0, {
      acks: opened(new EventAcker(broker, quiet, () => T0)),
      onStoreFailure: (err) => storeFailures.push(err),
    });
    ingest.handle(event(receipt('a@1')));
    ingest.handle(event(receipt('b@1')));
    commits[0]!.fail(Object.assign(new Error('could not extend file: No space left on device'), { code: '53100' }));
    commits[1]!.fail(new Error('the entry b@1 was never sent to this site'));
    await turn();
    await turn();
    expect(broker.published.map((p) => p.ack)).toEqual([
      { v: 1, siteId: SITE, at: T0, stored: [], refused: [{ key: 'r/b@1', code: 'not_accepted', reason: 'the entry b@1 was never sent to this site' }] },
    ]);
    expect(ingest.stats()).toMatchObject({ accepted: 0, rejectedByCode: { store_failed: 1, not_accepted: 1 } });
    // The store's failure is told on (health, the disk), the refusal is not: it is the event's, not the store's.
    expect(storeFailures.map((e) => (e as { code?: string }).code)).toEqual(['53100']);
  });
});
