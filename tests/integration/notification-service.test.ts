/**
 * The notification service on a real store (SQLite and PostgreSQL), fed alarm
 * signals through its port, with the real outbox delivering to a real
 * webhook receiver on an ephemeral port: the delay (a drop cleared before it
 * tells nobody), escalation after no acknowledgement, quiet hours, scope, a
 * restart that keeps pending delays and tells nobody twice, and a receiver
 * down for a while then up that loses nothing. Time is an injected clock the
 * tests move; they wait for conditions, never for a time.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlarmRef, NotificationRule, Recipient } from '../../server/notifications/model.ts';
import { NotificationService } from '../../server/notifications/service.ts';
import { NotificationStore, type RuleInput } from '../../server/notifications/store.ts';
import type { OutboxEnvelope } from '../../server/outbox/model.ts';
import { Outbox } from '../../server/outbox/outbox.ts';
import { verify } from '../../server/outbox/signature.ts';
import { OutboxStore } from '../../server/outbox/store.ts';
import { openPostgresStore, openStore, type Store, type StoreDialect } from '../../server/store/database.ts';
import { admin, storeDialects, testDatabaseUrl } from '../helpers/store.ts';
import { waitFor } from '../helpers/wait.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MIN = 60_000;
/** 10:00 and 23:00 in Hà Nội (UTC+7); quiet hours end at 06:00 local = 23:00 UTC. */
const DAY = Date.UTC(2026, 11, 5, 3, 0, 0);
const NIGHT = Date.UTC(2026, 11, 5, 16, 0, 0);
const MORNING = Date.UTC(2026, 11, 5, 23, 0, 0);

// Province 1 → district 2 → communes 3 (A) and 4 (B) → villages 5 (in A) and 6 (in B).
const PARENT: Record<number, number | null> = { 1: null, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4 };
const tree = {
  path(areaId: number): number[] {
    const out: number[] = [];
    for (let a: number | null = areaId; a !== null && a !== undefined; a = PARENT[a] ?? null) out.push(a);
    return out;
  },
};
const USERS: Recipient[] = [
  { id: 1, role: 'admin', areaId: 1 },
  { id: 10, role: 'technician', areaId: 3 },
  { id: 20, role: 'technician', areaId: 4 },
];
const RULE: RuleInput = {
  areaId: 1,
  minSeverity: 'minor',
  kinds: null,
  delayMs: 2 * MIN,
  escalateAfterMs: 30 * MIN,
  steps: [
    { roles: ['technician'], userIds: [] },
    { roles: ['admin'], userIds: [] },
  ],
  enabled: true,
};

const alarm = (over: Partial<AlarmRef> = {}): AlarmRef => ({
  alarmId: 'alm_1',
  siteId: 'village-a',
  areaId: 5,
  kind: 'site_offline',
  severity: 'major',
  incidentId: null,
  ...over,
});

/** A store that can be closed and opened again on the same data, as a restarted server does. */
async function placeFor(dialect: StoreDialect): Promise<{ open(): Promise<Store>; dispose(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-notify-'));
    return { open: () => openStore({ dataDir: dir, databaseUrl: null }), dispose: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const url = testDatabaseUrl();
  if (!url) throw new Error('no PostgreSQL for the store tests');
  const schema = `loanet_t_${randomBytes(6).toString('hex')}`;
  await admin(url, `CREATE SCHEMA ${schema}`);
  return { open: () => openPostgresStore(url, { max: 4, searchPath: schema }), dispose: () => admin(url, `DROP SCHEMA ${schema} CASCADE`) };
}

/** A webhook receiver that checks the Standard Webhooks signature and answers 204, or is down (its port closed). */
class Receiver {
  readonly taken: OutboxEnvelope[] = [];
  refused = 0;
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
        if (!check.ok) {
          this.refused++;
          res.writeHead(401).end();
          return;
        }
        const e = JSON.parse(body) as OutboxEnvelope;
        if (!this.taken.some((t) => t.id === e.id)) this.taken.push(e);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

describe.each(storeDialects())('notifications on %s', (dialect) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(opts: { rules?: RuleInput[]; receiver?: Receiver; clock: { now: number } }) {
    const place = await placeFor(dialect);
    cleanup.push(() => place.dispose());
    const clock = () => opts.clock.now;
    const build = async () => {
      const store = await place.open();
      const notifications = new NotificationStore(store.db);
      const outbox = opts.receiver
        ? new Outbox({
            store: new OutboxStore(store.db, store.dialect),
            destinations: [{ name: 'ioc', adapter: 'webhook', url: `http://127.0.0.1:${opts.receiver.port}/hooks`, secret: SECRET }],
            log: quiet,
            clock,
            random: () => 0.5,
            policy: { baseMs: 1_000, capMs: 5_000 },
            pollMs: 60_000,
          })
        : undefined;
      const service = new NotificationService({ store: notifications, tree, recipients: async () => USERS, outbox, log: quiet, clock, siteName: (id) => `Thôn ${id}` });
      await service.start();
      const stop = async () => {
        await service.stop();
        await outbox?.stop();
        await store.close();
      };
      return { store, notifications, service, outbox, stop };
    };
    const first = await build();
    for (const r of opts.rules ?? [RULE]) await first.service.createRule(r);
    return { ...first, build };
  }

  async function toldOf(n: NotificationStore, alarmId: string): Promise<Array<[number, string, number]>> {
    const out: Array<[number, string, number]> = [];
    for (const u of USERS) for (const x of await n.ofUser(u.id, { limit: 100 })) if (x.alarmId === alarmId) out.push([x.userId, x.cause, x.step]);
    return out.sort((a, b) => a[0] - b[0]);
  }

  it('a cluster that drops for 30 s tells nobody; one still down after the delay tells its commune technician only', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'flap' }), cause: 'raised' });
    clock.now += 30_000;
    await s.service.handle({ type: 'alarm_closed', at: clock.now, alarmId: 'flap', by: null, note: null });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'down' }), cause: 'raised' });
    clock.now += 2 * MIN;
    await s.service.runDue();
    // The positive signal: the alarm raised after the flap was told; the flap, due at the same moment, was not.
    expect(await toldOf(s.notifications, 'down')).toEqual([[10, 'raised', 0]]);
    expect(await toldOf(s.notifications, 'flap')).toEqual([]);
    expect(await s.notifications.unreadCount(20)).toBe(0);
  });

  it('a new holder follows a shown alarm the dead one stored without its track, from when it was shown; one followed is left as it is', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'kept' }), cause: 'raised' });
    clock.now += MIN;
    // 'lost' was shown a minute ago: its delay runs out a minute from now, as if it had been followed all along.
    expect(
      await s.service.adopt([
        { at: DAY, alarm: alarm({ alarmId: 'lost' }) },
        { at: clock.now, alarm: alarm({ alarmId: 'kept' }) },
      ]),
    ).toBe(1);
    clock.now += MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'lost')).toEqual([[10, 'raised', 0]]);
    expect(await toldOf(s.notifications, 'kept')).toEqual([[10, 'raised', 0]]);
    expect(await s.service.adopt([{ at: DAY, alarm: alarm({ alarmId: 'lost' }) }])).toBe(0);
  });

  it('not acknowledged within 30 minutes: the province admin is told; acknowledged: nobody more', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'esc' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'acked' }), cause: 'raised' });
    clock.now += 2 * MIN;
    await s.service.runDue();
    await s.service.handle({ type: 'alarm_acknowledged', at: clock.now, alarmId: 'acked', by: 'tech-a', note: null });
    clock.now += 30 * MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'esc')).toEqual([
      [1, 'escalated', 1],
      [10, 'raised', 0],
    ]);
    expect(await toldOf(s.notifications, 'acked')).toEqual([[10, 'raised', 0]]);
  });

  it('quiet hours: a hot amplifier waits for 06:00, a site offline wakes the technician at 23:00', async () => {
    const clock = { now: NIGHT };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'hot', kind: 'amplifier_hot', severity: 'minor' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'off' }), cause: 'raised' });
    clock.now += 2 * MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'off')).toEqual([[10, 'raised', 0]]);
    expect(await toldOf(s.notifications, 'hot')).toEqual([]);
    clock.now = MORNING;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'hot')).toEqual([[10, 'raised', 0]]);
  });

  it("scope: commune B's technician is never told of commune A, even named by id in a rule", async () => {
    const clock = { now: DAY };
    const s = await setup({ clock, rules: [{ ...RULE, steps: [{ roles: [], userIds: [20, 10] }], escalateAfterMs: null }] });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'in-a' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'in-b', areaId: 6, siteId: 'village-b' }), cause: 'raised' });
    clock.now += 2 * MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'in-a')).toEqual([[10, 'raised', 0]]);
    expect(await toldOf(s.notifications, 'in-b')).toEqual([[20, 'raised', 0]]);
  });

  it('a restart keeps the pending delay and the escalation, and tells nobody twice', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'r1' }), cause: 'raised' });
    clock.now += MIN;
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'r2' }), cause: 'raised' });
    clock.now += MIN;
    await s.service.runDue();
    await s.stop();
    // Down for 40 minutes: r1's escalation and r2's delay passed meanwhile; both run at the start.
    clock.now += 40 * MIN;
    const again = await s.build();
    cleanup.push(again.stop);
    await again.service.runDue();
    expect(await toldOf(again.notifications, 'r1')).toEqual([
      [1, 'escalated', 1],
      [10, 'raised', 0],
    ]);
    expect(await toldOf(again.notifications, 'r2')).toEqual([[10, 'raised', 0]]);
    clock.now += 60 * MIN;
    await again.service.runDue();
    expect((await toldOf(again.notifications, 'r2')).length).toBe(2);
  });

  it('the bell: unread count, marked read by its owner only; listeners hear each notification once stored', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    const heard: number[] = [];
    const unlisten = s.service.listen((n) => heard.push(n.userId));
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'b1' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'b2' }), cause: 'raised' });
    clock.now += 2 * MIN;
    await s.service.runDue();
    unlisten();
    expect(heard).toEqual([10, 10]);
    expect(await s.notifications.unreadCount(10)).toBe(2);
    const [newest] = await s.notifications.ofUser(10, { limit: 1 });
    expect(await s.notifications.markRead(20, [newest!.id], clock.now)).toBe(0);
    expect(await s.notifications.markRead(10, [newest!.id], clock.now)).toBe(1);
    expect(await s.notifications.unreadCount(10)).toBe(1);
    expect(await s.notifications.markRead(10, null, clock.now)).toBe(1);
    expect(await s.notifications.unreadCount(10)).toBe(0);
    expect(await s.notifications.purge(clock.now - 1)).toBe(0);
    expect(await s.notifications.purge(clock.now + 1)).toBe(2);
    expect(await s.notifications.ofUser(10, { limit: 10 })).toEqual([]);
  });

  it('the webhook outbox: a receiver down for a while then up gets raised, acknowledged and cleared, in order, signed, none lost', async () => {
    const clock = { now: DAY };
    const receiver = new Receiver(() => clock.now);
    await receiver.up();
    cleanup.push(() => receiver.down());
    const s = await setup({ clock, receiver });
    cleanup.push(s.stop);
    s.outbox!.start();
    await receiver.down();
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'w1' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'w2' }), cause: 'raised' });
    await s.service.handle({ type: 'alarm_closed', at: clock.now + 10_000, alarmId: 'w2', by: null, note: null });
    clock.now += MIN;
    await s.service.runDue();
    await s.service.handle({ type: 'alarm_acknowledged', at: clock.now, alarmId: 'w1', by: 'tech-a', note: 'đang đến' });
    await s.service.handle({ type: 'alarm_closed', at: clock.now, alarmId: 'w1', by: null, note: null });
    // Down: every attempt is refused a connection, and retried on the (moved) clock.
    for (let i = 0; i < 3; i++) {
      await s.outbox!.drain();
      clock.now += 10_000;
    }
    expect(receiver.taken).toEqual([]);
    const pending = await s.outbox!.metrics();
    expect(pending.byState.pending).toBe(3);
    await receiver.up();
    await waitFor('the receiver has all three', async () => {
      clock.now += 10_000;
      await s.outbox!.drain();
      return receiver.taken.length === 3 || undefined;
    });
    expect(receiver.refused).toBe(0);
    expect(receiver.taken.map((e) => [e.seq, e.type, (e.data as { alarmId: string }).alarmId])).toEqual([
      [1, 'alarm.raised', 'w1'],
      [2, 'alarm.acknowledged', 'w1'],
      [3, 'alarm.cleared', 'w1'],
    ]);
    expect(receiver.taken[1]!.data).toMatchObject({ siteId: 'village-a', siteName: 'Thôn village-a', kind: 'site_offline', severity: 'major', by: 'tech-a', note: 'đang đến' });
  });

  it('a batch the store refused is kept and written with the next: the person is told once, nothing lost', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'k1' }), cause: 'raised' });
    // The store refuses one write (a full disk, a lost connection), then answers again.
    const apply = s.notifications.apply.bind(s.notifications);
    let refuse = 1;
    s.notifications.apply = (...args) => (refuse-- > 0 ? Promise.reject(new Error('disk full')) : apply(...args));
    clock.now += 2 * MIN;
    await expect(s.service.runDue()).rejects.toThrow('disk full');
    expect(await toldOf(s.notifications, 'k1')).toEqual([]);
    await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: 'k2' }), cause: 'raised' });
    expect(await toldOf(s.notifications, 'k1')).toEqual([[10, 'raised', 0]]);
    clock.now += 2 * MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'k1')).toEqual([[10, 'raised', 0]]);
    expect(await toldOf(s.notifications, 'k2')).toEqual([[10, 'raised', 0]]);
  });

  it('reconcile: an alarm cleared or acknowledged while its event was lost stops being followed', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock });
    cleanup.push(s.stop);
    for (const id of ['gone', 'owned', 'open']) await s.service.handle({ type: 'alarm_due', at: clock.now, alarm: alarm({ alarmId: id }), cause: 'raised' });
    const now = {
      gone: { state: 'cleared', acknowledgedBy: null },
      owned: { state: 'acknowledged', acknowledgedBy: 'tech-a' },
      open: { state: 'raised', acknowledgedBy: null },
    } as const;
    expect(await s.service.reconcile(async (id) => now[id as keyof typeof now])).toBe(2);
    clock.now += 2 * MIN;
    await s.service.runDue();
    expect(await toldOf(s.notifications, 'gone')).toEqual([]);
    expect(await toldOf(s.notifications, 'owned')).toEqual([]);
    expect(await toldOf(s.notifications, 'open')).toEqual([[10, 'raised', 0]]);
    expect((await s.notifications.tracks()).map((t) => t.alarm.alarmId).sort()).toEqual(['open', 'owned']);
  });

  it('rules are stored and read back', async () => {
    const clock = { now: DAY };
    const s = await setup({ clock, rules: [] });
    cleanup.push(s.stop);
    const r: NotificationRule = await s.service.createRule({ ...RULE, kinds: ['power', 'site_offline'] });
    expect(await s.service.rules()).toEqual([r]);
    const changed = await s.service.updateRule(r.id, { ...RULE, enabled: false });
    expect(changed).toEqual({ ...RULE, id: r.id, enabled: false });
    expect(await s.service.updateRule(r.id + 100, RULE)).toBeUndefined();
    expect(await s.service.deleteRule(r.id)).toBe(true);
    expect(await s.service.rules()).toEqual([]);
  });
});
