/**
 * The webhook outbox against real receivers on ephemeral ports, on SQLite and
 * PostgreSQL: nothing is lost while a receiver is down or the server
 * restarts, each destination's messages arrive in seq order and once per
 * idempotency key, a refused message does not hold the queue, Retry-After
 * and Telegram's retry_after are honoured, and a receiver checking the
 * signature refuses a tampered body. The policy's waits are driven through
 * an injected clock; the tests wait for conditions, never for a time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Destination } from '../../server/outbox/destination.ts';
import { httpTransport } from '../../server/outbox/http-send.ts';
import type { OutboxEnvelope } from '../../server/outbox/model.ts';
import { Outbox, type OutboxOptions } from '../../server/outbox/outbox.ts';
import { verify } from '../../server/outbox/signature.ts';
import { OutboxStore } from '../../server/outbox/store.ts';
import { openPostgresStore, openStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { admin, storeDialects, testDatabaseUrl } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const T0 = Date.UTC(2026, 11, 5, 7, 0, 0);
const POLICY = { baseMs: 1_000, capMs: 5_000, maxAgeMs: 72 * 3_600_000, retryAfterCapMs: 600_000 };
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A store that can be closed and opened again on the same data, as a restarted server does. */
interface Place {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

async function placeFor(dialect: StoreDialect): Promise<Place> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-outbox-'));
    return { open: () => openStore({ dataDir: dir, databaseUrl: null }), dispose: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const url = testDatabaseUrl();
  if (!url) throw new Error('no PostgreSQL for the store tests');
  const schema = `loanet_t_${randomBytes(6).toString('hex')}`;
  await admin(url, `CREATE SCHEMA ${schema}`);
  return { open: () => openPostgresStore(url, { max: 4, searchPath: schema }), dispose: () => admin(url, `DROP SCHEMA ${schema} CASCADE`) };
}

interface Seen {
  id: string;
  seq: number;
  status: number;
}

/** A webhook receiver that checks the signature (on the outbox's clock), de-duplicates by webhook-id, and answers as `answer` says. */
class Receiver {
  readonly requests: Seen[] = [];
  /** Envelopes taken, in arrival order, once per id. */
  readonly taken: OutboxEnvelope[] = [];
  duplicates = 0;
  answer: (e: OutboxEnvelope, n: number) => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 204 });
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly clock: () => number) {}

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const h = (n: string) => req.headers[n] as string | undefined;
        const check = verify(SECRET, { id: h('webhook-id'), timestamp: h('webhook-timestamp'), signature: h('webhook-signature') }, body, Math.floor(this.clock() / 1000));
        let status: number;
        let headers: Record<string, string> = {};
        let text = '';
        const e = check.ok ? (JSON.parse(body) as OutboxEnvelope) : undefined;
        if (!e || e.id !== h('webhook-id') || req.headers['content-type'] !== 'application/json') {
          status = 401;
          text = check.ok ? 'id mismatch' : `signature: ${check.reason}`;
        } else if (this.taken.some((t) => t.id === e.id)) {
          this.duplicates++;
          status = 200;
        } else {
          ({ status, headers = {}, body: text = '' } = this.answer(e, this.requests.filter((r) => r.id === e.id).length));
          if (status >= 200 && status < 300) this.taken.push(e);
        }
        this.requests.push({ id: e?.id ?? '?', seq: e?.seq ?? -1, status });
        res.writeHead(status, headers).end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** The port closed: connections are refused, as when the receiver is down. */
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  seqs(destination?: string): number[] {
    return this.taken.filter((e) => destination === undefined || (e.data as { to?: string }).to === destination).map((e) => e.seq);
  }
}

const webhook = (name: string, url: string): Destination => ({ name, adapter: 'webhook', url, secret: SECRET });

describe.each(storeDialects())('the webhook outbox on %s', (dialect) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  let now = T0;
  const clock = () => now;

  async function setUp(destinations: (r: Receiver) => Destination[], opts: Partial<OutboxOptions> = {}) {
    now = T0;
    const receiver = new Receiver(clock);
    await receiver.up();
    cleanup.push(() => receiver.down());
    const place = await placeFor(dialect);
    cleanup.push(() => place.dispose());
    const store = await place.open();
    const handle = { store, outbox: undefined as unknown as Outbox, outboxStore: new OutboxStore(store.db, store.dialect) };
    const make = (s: Store) =>
      new Outbox({ store: new OutboxStore(s.db, s.dialect), destinations: destinations(receiver), log: quiet, clock, policy: POLICY, pollMs: 20, ...opts });
    handle.outbox = make(store);
    cleanup.push(async () => {
      await handle.outbox.stop();
      await handle.store.close();
    });
    /** Stop the outbox, close the store, open both again: a server restart. */
    const restart = async () => {
      await handle.outbox.stop();
      await handle.store.close();
      handle.store = await place.open();
      handle.outboxStore = new OutboxStore(handle.store.db, handle.store.dialect);
      handle.outbox = make(handle.store);
    };
    return { receiver, handle, restart, place, make };
  }

  it('a receiver down for a while loses nothing: one attempt at a time, then every message once, in seq order', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    await receiver.down();
    for (let i = 1; i <= 6; i++) await handle.outbox.enqueue('alarm.raised', { n: i });
    handle.outbox.start();
    // Several back-off steps pass with the receiver down.
    await waitFor('the head message retried while the receiver is down', async () => {
      now += POLICY.capMs;
      handle.outbox.notify();
      const [head] = await handle.outboxStore.list('ioc');
      return head && head.attempts >= 3;
    });
    const waiting = await handle.outboxStore.list('ioc');
    // One in flight per destination: the messages behind the head were never tried, so a down receiver is not hammered.
    expect(waiting.slice(1).map((m) => m.attempts)).toEqual([0, 0, 0, 0, 0]);
    expect(waiting[0]?.lastError).toMatch(/ECONNREFUSED/);
    await receiver.up();
    await waitFor('all six taken', () => {
      now += POLICY.capMs;
      handle.outbox.notify();
      return receiver.taken.length === 6;
    });
    await waitFor('all six marked delivered', async () => (await handle.outboxStore.counts()).byState.delivered === 6);
    expect(receiver.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(receiver.taken.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(receiver.duplicates).toBe(0);
    expect(receiver.requests).toHaveLength(6);
    const m = await handle.outbox.metrics();
    expect(m.byState).toEqual({ pending: 0, delivered: 6, failed: 0 });
    expect(m.attempts.unavailable).toBeGreaterThanOrEqual(3);
  });

  it('a receiver answering 500 then 200 gets the same idempotency key each time, and the message is delivered once', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    receiver.answer = (_e, n) => (n < 2 ? { status: 500, body: 'database is locked' } : { status: 200 });
    const [msg] = await handle.outbox.enqueue('alarm.cleared', { alarmId: 'al-1' });
    expect(await handle.outbox.drain()).toBe(1);
    const after500 = await handle.outboxStore.message(msg!.id);
    expect(after500).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 500, lastError: 'HTTP 500: database is locked' });
    // Not yet due: nothing is sent before the back-off passes.
    expect(await handle.outbox.drain()).toBe(0);
    now = after500!.nextAttemptAt;
    expect(await handle.outbox.drain()).toBe(1);
    now = (await handle.outboxStore.message(msg!.id))!.nextAttemptAt;
    expect(await handle.outbox.drain()).toBe(1);
    expect(await handle.outboxStore.message(msg!.id)).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 200, lastError: null });
    expect(receiver.requests.map((r) => [r.id, r.status])).toEqual([
      [msg!.id, 500],
      [msg!.id, 500],
      [msg!.id, 200],
    ]);
  });

  it('429 with Retry-After waits exactly that long on the outbox clock', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    receiver.answer = (_e, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '120' } } : { status: 202 });
    const [msg] = await handle.outbox.enqueue('report.ready', { title: 'Tháng 11' });
    await handle.outbox.drain();
    expect((await handle.outboxStore.message(msg!.id))?.nextAttemptAt).toBe(T0 + 120_000);
    now = T0 + 119_999;
    expect(await handle.outbox.drain()).toBe(0);
    now = T0 + 120_000;
    expect(await handle.outbox.drain()).toBe(1);
    expect(await handle.outboxStore.message(msg!.id)).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 202 });
  });

  it('a 400 fails that message with the receiver’s words, and the ones behind it go on', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    receiver.answer = (e) => ((e.data as { bad?: boolean }).bad ? { status: 400, body: 'unknown site LC-9999' } : { status: 200 });
    const [bad] = await handle.outbox.enqueue('source_system.record', { bad: true });
    await handle.outbox.enqueue('source_system.record', { bad: false });
    await handle.outbox.drain();
    await handle.outbox.drain();
    expect(await handle.outboxStore.message(bad!.id)).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 400, lastError: 'HTTP 400: unknown site LC-9999' });
    expect(receiver.seqs()).toEqual([2]);
    expect((await handle.outbox.metrics()).byState).toEqual({ pending: 0, delivered: 1, failed: 1 });
  });

  it('a restart in the middle of a backlog loses nothing and repeats nothing, for each destination in order', async () => {
    const { receiver, handle, restart } = await setUp((r) => [webhook('a', `${r.url}/a`), webhook('b', `${r.url}/b`)]);
    for (let i = 0; i < 15; i++) {
      await handle.outboxStore.enqueue({ destination: 'a', type: 'alarm.raised', payload: { to: 'a', i } }, now);
      await handle.outboxStore.enqueue({ destination: 'b', type: 'alarm.raised', payload: { to: 'b', i } }, now);
    }
    handle.outbox.start();
    await waitFor('some of the backlog taken', () => receiver.taken.length >= 6, 20_000, 5);
    await restart();
    const before = receiver.taken.length;
    expect(before).toBeLessThan(30);
    handle.outbox.start();
    await waitFor('the whole backlog taken after the restart', () => receiver.taken.length === 30, 30_000);
    expect(receiver.seqs('a')).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(receiver.seqs('b')).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(receiver.duplicates).toBe(0);
    await waitFor('all marked delivered', async () => (await handle.outboxStore.counts()).byState.delivered === 30);
  });

  it('two servers on one store deliver every message once, each destination in order', async () => {
    const { receiver, handle, place, make } = await setUp((r) => ['a', 'b', 'c'].map((n) => webhook(n, `${r.url}/${n}`)));
    for (let i = 0; i < 10; i++) {
      for (const d of ['a', 'b', 'c']) await handle.outboxStore.enqueue({ destination: d, type: 'alarm.raised', payload: { to: d, i } }, now);
    }
    const second = await place.open();
    const other = make(second);
    cleanup.push(async () => {
      await other.stop();
      await second.close();
    });
    handle.outbox.start();
    other.start();
    await waitFor('all thirty taken', () => receiver.taken.length === 30, 30_000);
    for (const d of ['a', 'b', 'c']) expect(receiver.seqs(d)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(receiver.duplicates).toBe(0);
    expect(receiver.requests).toHaveLength(30);
  });

  it('two claims at the same moment never take the same message, nor two of one destination', async () => {
    const { handle, place } = await setUp((r) => ['a', 'b', 'c', 'd'].map((n) => webhook(n, `${r.url}/${n}`)));
    for (let i = 0; i < 3; i++) {
      for (const d of ['a', 'b', 'c', 'd']) await handle.outboxStore.enqueue({ destination: d, type: 'alarm.raised', payload: { to: d, i } }, now);
    }
    // PostgreSQL: a second pool, as another server has; SQLite is one process, so the same store.
    const second = dialect === 'postgres' ? await place.open() : undefined;
    if (second) cleanup.push(() => second.close());
    const otherStore = second ? new OutboxStore(second.db, second.dialect) : handle.outboxStore;
    const claim = (s: OutboxStore, claimer: string) => s.claim({ now, limit: 10, leaseMs: 60_000, claimer, only: ['a', 'b', 'c', 'd'], busy: new Set() });
    const [x, y] = await Promise.all([claim(handle.outboxStore, 'x'), claim(otherStore, 'y')]);
    const all = [...x, ...y];
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length);
    expect(all.map((m) => m.destination).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(all.every((m) => m.seq === 1)).toBe(true);
  });

  it('a receiver checking the signature refuses a body changed on the way, and takes the untouched one', async () => {
    const tamper: OutboxOptions['transport'] = (req, o) => httpTransport(req.body.includes('"amount"') ? { ...req, body: req.body.replace('"amount":1', '"amount":9') } : req, o);
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)], { transport: tamper });
    const [changed] = await handle.outbox.enqueue('source_system.record', { amount: 1 });
    const [kept] = await handle.outbox.enqueue('source_system.record', { note: 'untouched' });
    await handle.outbox.drain();
    await handle.outbox.drain();
    expect(await handle.outboxStore.message(changed!.id)).toMatchObject({ state: 'failed', lastStatus: 401, lastError: 'HTTP 401: signature: no_valid_signature' });
    expect(await handle.outboxStore.message(kept!.id)).toMatchObject({ state: 'delivered' });
    expect(receiver.taken.map((e) => e.id)).toEqual([kept!.id]);
  });

  it('a message enqueued in a transaction that rolls back is not stored; one that commits is', async () => {
    const { handle } = await setUp((r) => [webhook('ioc', r.url)]);
    await expect(
      handle.store.db.transaction().execute(async (trx) => {
        await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-1' }, trx);
        throw new Error('the alarm write failed');
      }),
    ).rejects.toThrow('the alarm write failed');
    expect((await handle.outboxStore.counts()).byState.pending).toBe(0);
    await handle.store.db.transaction().execute(async (trx) => {
      await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-2' }, trx);
    });
    const [m] = await handle.outboxStore.list('ioc');
    // The rolled-back enqueue's seq went with it.
    expect(m).toMatchObject({ seq: 1, state: 'pending', payload: { alarmId: 'al-2' } });
  });

  it('a message still undelivered at the maximum age fails with its last error; finished ones are purged after retention', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    await receiver.down();
    const [old] = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-4' });
    await handle.outbox.drain();
    expect(await handle.outboxStore.message(old!.id)).toMatchObject({ state: 'pending', attempts: 1 });
    now = T0 + POLICY.maxAgeMs;
    await handle.outbox.drain();
    const failed = await handle.outboxStore.message(old!.id);
    expect(failed).toMatchObject({ state: 'failed', attempts: 2, finishedAt: now });
    expect(failed!.lastError).toMatch(/^undelivered after 72 h \(2 attempts\): ECONNREFUSED/);
    expect(await handle.outboxStore.purgeFinished(now)).toBe(0);
    expect(await handle.outboxStore.purgeFinished(now + 1)).toBe(1);
    expect(await handle.outboxStore.message(old!.id)).toBeUndefined();
    // The seq counter outlives the purge: the next message is 2, so a receiver never sees a number twice.
    const [next] = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-5' });
    expect(next!.seq).toBe(2);
  });

  it('a claim left by a server that died is taken over once its lease lapses, and the dead one cannot settle it', async () => {
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)]);
    const [m] = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-6' });
    const [dead] = await handle.outboxStore.claim({ now, limit: 1, leaseMs: 70_000, claimer: 'dead-server', only: ['ioc'], busy: new Set() });
    expect(dead?.id).toBe(m!.id);
    expect(await handle.outbox.drain()).toBe(0);
    now = T0 + 70_000;
    expect(await handle.outbox.drain()).toBe(1);
    expect(receiver.taken.map((e) => e.id)).toEqual([m!.id]);
    expect(await handle.outboxStore.settle(dead!, { outcome: 'failed', status: null, error: 'late' }, now)).toBe(false);
    expect(await handle.outboxStore.message(m!.id)).toMatchObject({ state: 'delivered', attempts: 1 });
  });

  it('a receiver that takes the request and never answers costs one request timeout, then a retry', async () => {
    const held: http.ServerResponse[] = [];
    const silent = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hooks`;
    const { handle } = await setUp(() => [webhook('ioc', url)], { requestTimeoutMs: 300 });
    const [m] = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-7' });
    await handle.outbox.drain();
    expect(held).toHaveLength(1);
    const after = await handle.outboxStore.message(m!.id);
    expect(after).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null });
    expect(after!.lastError).toMatch(/^ETIMEDOUT: no complete answer within 300 ms/);
  });

  it('an event goes to every destination that wants it, all stored in one transaction', async () => {
    const { handle } = await setUp((r) => [webhook('all', r.url), { ...webhook('cleared-only', r.url), events: ['alarm.cleared'] }, webhook('also', r.url)]);
    const raised = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-8' });
    expect(raised.map((m) => m.destination).sort()).toEqual(['all', 'also']);
    const cleared = await handle.outbox.enqueue('alarm.cleared', { alarmId: 'al-8' });
    expect(cleared.map((m) => [m.destination, m.seq]).sort()).toEqual([
      ['all', 2],
      ['also', 2],
      ['cleared-only', 1],
    ]);
  });

  it('a redirect is not followed and a huge answer is not read past its bound', async () => {
    const elsewhere = new Receiver(clock);
    await elsewhere.up();
    cleanup.push(() => elsewhere.down());
    const { receiver, handle } = await setUp((r) => [webhook('ioc', r.url)], { maxAnswerBytes: 1024 });
    receiver.answer = (_e, n) => (n === 0 ? { status: 307, headers: { location: elsewhere.url } } : { status: 500, body: 'x'.repeat(4 * 1024 * 1024) });
    const [m] = await handle.outbox.enqueue('alarm.raised', { alarmId: 'al-3' });
    await handle.outbox.drain();
    expect(await handle.outboxStore.message(m!.id)).toMatchObject({ state: 'pending', lastStatus: 307 });
    expect(elsewhere.requests).toHaveLength(0);
    now = (await handle.outboxStore.message(m!.id))!.nextAttemptAt;
    await handle.outbox.drain();
    const after = await handle.outboxStore.message(m!.id);
    expect(after).toMatchObject({ state: 'pending', lastStatus: 500 });
    expect(after!.lastError!.length).toBeLessThan(300);
  });
});

/** A local stand-in for api.telegram.org that enforces sendMessage's request format and answers as Telegram does. */
class TelegramReceiver {
  readonly sent: Array<{ chat_id: number | string; text: string }> = [];
  readonly refusals: string[] = [];
  floodFor = 0;
  private server: http.Server | undefined;
  port = 0;

  constructor(private readonly token: string) {}

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = (status: number, body: object) => {
          if (status !== 200) this.refusals.push(JSON.stringify(body));
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        };
        if (req.url !== `/bot${this.token}/sendMessage`) return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
        if (req.method !== 'POST') return reply(405, { ok: false, error_code: 405, description: 'Method Not Allowed' });
        if (!req.headers['content-type']?.startsWith('application/json')) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return reply(400, { ok: false, error_code: 400, description: "Bad Request: can't parse JSON" });
        }
        const b = body as { chat_id?: unknown; text?: unknown };
        if (typeof b.chat_id !== 'number' && typeof b.chat_id !== 'string') return reply(400, { ok: false, error_code: 400, description: 'Bad Request: chat_id is empty' });
        if (typeof b.text !== 'string' || b.text.trim() === '') return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
        if (b.text.length > 4096) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: message is too long' });
        if (b.chat_id !== -1001234567890) return reply(400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
        if (this.floodFor > 0) {
          this.floodFor--;
          return reply(429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 17', parameters: { retry_after: 17 } });
        }
        this.sent.push({ chat_id: b.chat_id, text: b.text });
        return reply(200, { ok: true, result: { message_id: this.sent.length, chat: { id: b.chat_id, type: 'supergroup' }, date: 0, text: b.text } });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

describe('the Telegram adapter against a receiver enforcing the Bot API’s format', () => {
  const token = '123456:ABCdefGhIJKlmNoPQRsTUVwxyZ0123456789';
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('posts sendMessage, waits out flood control’s retry_after, and fails a chat Telegram does not know', async () => {
    const tg = new TelegramReceiver(token);
    await tg.up();
    cleanup.push(() => tg.down());
    const place = await placeFor('sqlite');
    cleanup.push(() => place.dispose());
    const store = await place.open();
    cleanup.push(() => store.close());
    let now = T0;
    const outboxStore = new OutboxStore(store.db, store.dialect);
    const base = `http://127.0.0.1:${tg.port}`;
    const outbox = new Outbox({
      store: outboxStore,
      destinations: [
        { name: 'tech', adapter: 'telegram', botToken: token, chatId: -1001234567890, baseUrl: base, events: ['alarm.raised'] },
        { name: 'gone', adapter: 'telegram', botToken: token, chatId: -42, baseUrl: base, events: ['alarm.raised'] },
      ],
      log: quiet,
      clock: () => now,
      policy: POLICY,
    });
    tg.floodFor = 1;
    const msgs = await outbox.enqueue('alarm.raised', { alarmId: 'al-9', siteId: 'LC-0101', siteName: 'Cụm loa thôn Nậm Sài', kind: 'speaker_line', severity: 'major' });
    expect(await outbox.enqueue('alarm.cleared', { alarmId: 'al-9' })).toEqual([]);
    const tech = msgs.find((m) => m.destination === 'tech')!;
    const gone = msgs.find((m) => m.destination === 'gone')!;
    await outbox.drain();
    expect(await outboxStore.message(gone.id)).toMatchObject({ state: 'failed', lastStatus: 400, lastError: 'HTTP 400: Bad Request: chat not found' });
    expect(await outboxStore.message(tech.id)).toMatchObject({ state: 'pending', lastStatus: 429, nextAttemptAt: T0 + 17_000 });
    now = T0 + 16_999;
    expect(await outbox.drain()).toBe(0);
    now = T0 + 17_000;
    await outbox.drain();
    expect(await outboxStore.message(tech.id)).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 200 });
    expect(tg.sent).toHaveLength(1);
    expect(tg.sent[0]?.text).toContain('Cảnh báo kỹ thuật phát sinh: Lỗi đường dây loa');
  });
});
