/**
 * The alert store's contract, the same on SQLite and on PostgreSQL: an alert
 * and its pending rows are stored together; the writes two requests (or two
 * servers) could race are conditional, so one wins and the other is told it
 * did not: an end (cancel or expiry) only while active, a revision only over
 * the one it was made from, a message only on its revision; and a delivery's
 * status only moves forward in the store itself, whatever order the writes
 * arrive in. CAP senders: one registration per sender name however many
 * requests race to make it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapSenderStore } from '../../server/alerts/cap-senders.ts';
import type { Alert, Delivery } from '../../server/alerts/model.ts';
import { AlertStore, deliveryMayBecome } from '../../server/alerts/store.ts';
import { LoanetError } from '../../server/errors.ts';
import { openTestStore, storeDialects, type TestStore } from '../helpers/store.ts';

const T0 = 1_764_979_200_000;

function alert(id: string, over: Partial<Alert> = {}): Alert {
  return {
    id,
    revision: 1,
    state: 'active',
    test: false,
    priority: 'emergency',
    origin: 'api',
    title: 'Lũ quét ở Bát Xát',
    targetAreas: ['2025.08'],
    areas: ['2025.08'],
    sites: null,
    polygon: null,
    media: null,
    message: { kind: 'tts', mediaId: 'med-1', text: 'Sơ tán ngay', lang: 'vi' },
    messageState: 'preparing',
    messageReason: null,
    attention: 'siren',
    repeats: 3,
    volume: null,
    validUntil: T0 + 3600_000,
    createdBy: null,
    createdByName: 'can-bo',
    createdAt: T0,
    revisedAt: T0,
    endedAt: null,
    endedByName: null,
    cap: null,
    ...over,
  };
}

describe('which stored statuses a delivery may move from', () => {
  it('forward only, and an ended one never changes', () => {
    expect(deliveryMayBecome('pending')).toEqual(['pending']);
    expect(deliveryMayBecome('playing')).toEqual(['pending', 'received', 'playing']);
    expect(deliveryMayBecome('completed')).toEqual(['pending', 'received', 'playing', 'completed']);
    expect(deliveryMayBecome('failed')).toEqual(['pending', 'received', 'playing', 'failed']);
  });
});

describe.each(storeDialects())('the alert store on %s', (dialect) => {
  let store: TestStore;
  let alerts: AlertStore;
  beforeEach(async () => {
    store = await openTestStore(dialect);
    alerts = new AlertStore(store.db);
  });
  afterEach(() => store.close());

  const sites = Array.from({ length: 1203 }, (_, i) => `lc-${String(i).padStart(4, '0')}`);

  it('stores an alert with every targeted site pending, and reads it back as stored', async () => {
    const a = alert('alr-1', { sites: ['lc-0001'], polygon: [[22.5, 103.9]], cap: { sender: 'kttv', identifier: 'x-1', sent: '2026-12-05T07:00:00+07:00' } });
    const rows = await alerts.insertAlertWithTargets(a, sites);
    expect(rows).toHaveLength(sites.length);
    expect(await alerts.get('alr-1')).toEqual(a);
    const stored = await alerts.deliveries('alr-1');
    expect(stored.map((d) => d.siteId)).toEqual(sites);
    expect(stored.every((d) => d.status === 'pending' && d.revision === 1)).toBe(true);
    expect((await alerts.active()).map((x) => x.id)).toEqual(['alr-1']);
    await alerts.insertAlertWithTargets(alert('alr-2', { createdAt: T0 + 1, test: true }), []);
    expect((await alerts.list()).map((x) => x.id)).toEqual(['alr-2', 'alr-1']);
    expect((await alerts.get('alr-2'))?.test).toBe(true);
  });

  it('moves a delivery forward only: a late report written after the end of the row is refused by the store', async () => {
    await alerts.insertAlertWithTargets(alert('alr-1'), ['lc-0001']);
    const row = (await alerts.delivery('alr-1', 'lc-0001'))!;
    const playing: Delivery = { ...row, status: 'playing', receivedAt: T0 + 1, firstSoundAt: T0 + 2, reportedAt: T0 + 2 };
    const completed: Delivery = { ...playing, status: 'completed', completedAt: T0 + 9, repeat: 3, reportedAt: T0 + 9 };
    const received: Delivery = { ...row, status: 'received', receivedAt: T0 + 1, reportedAt: T0 + 10 };
    expect(await alerts.saveDelivery(playing)).toBe(true);
    expect(await alerts.saveDelivery(completed)).toBe(true);
    // Both computed from older rows and written late: the stored row stands.
    expect(await alerts.saveDelivery(received)).toBe(false);
    expect(await alerts.saveDelivery(playing)).toBe(false);
    expect(await alerts.delivery('alr-1', 'lc-0001')).toEqual(completed);
    // The facts of an ended row still land (the same status).
    expect(await alerts.saveDelivery({ ...completed, levelDb: -20 })).toBe(true);
    expect((await alerts.delivery('alr-1', 'lc-0001'))?.levelDb).toBe(-20);
    // A report for the revision an Update replaced is refused.
    expect(await alerts.saveDelivery({ ...completed, revision: 2 })).toBe(false);
  });

  it('revises only over the revision it was made from, resetting every site to pending', async () => {
    const a = alert('alr-1');
    await alerts.insertAlertWithTargets(a, ['lc-0001', 'lc-0002']);
    await alerts.saveDelivery({ ...(await alerts.delivery('alr-1', 'lc-0001'))!, status: 'received', receivedAt: T0 + 1 });
    const next = { ...a, revision: 2, title: 'Lũ quét: cập nhật', revisedAt: T0 + 60_000 };
    const [one, two] = await Promise.all([alerts.reviseAlertWithTargets(next, 1, ['lc-0002', 'lc-0003']), alerts.reviseAlertWithTargets(next, 1, ['lc-0002'])]);
    expect([one, two].filter((x) => x !== undefined)).toHaveLength(1);
    expect(await alerts.get('alr-1')).toMatchObject({ revision: 2, title: 'Lũ quét: cập nhật', createdAt: T0 });
    const rows = await alerts.deliveries('alr-1');
    expect(rows.every((d) => d.status === 'pending' && d.revision === 2)).toBe(true);
    expect(rows.map((d) => d.siteId)).toEqual((one ?? two)!.map((d) => d.siteId));
  });

  it('ends an alert once, with its CAP messages, whoever races to end it', async () => {
    const a = alert('alr-1', { origin: 'cap' });
    await alerts.insertAlertWithTargets(a, ['lc-0001']);
    const key = { sender: 'kttv@nchmf.gov.vn', identifier: 'LC-2026-001' };
    await alerts.saveCap(
      { key, sent: '2026-12-05T07:00:00+07:00', status: 'Actual', msgType: 'Alert', contentHash: 'h1', state: 'active', alertId: 'alr-1', xml: '<alert/>', receivedBy: 'kttv' },
      T0,
    );
    expect(await alerts.knownCap(key)).toEqual({ key, sent: '2026-12-05T07:00:00+07:00', contentHash: 'h1', state: 'active', isActual: true });
    expect(await alerts.capOfAlert('alr-1')).toEqual([key]);
    const wins = await Promise.all([alerts.end('alr-1', 'cancelled', T0 + 5, 'can-bo'), alerts.end('alr-1', 'expired', T0 + 6, null)]);
    expect(wins.filter(Boolean)).toHaveLength(1);
    const ended = (await alerts.get('alr-1'))!;
    expect(ended.state).toBe(wins[0] ? 'cancelled' : 'expired');
    expect((await alerts.capMessage(key))?.state).toBe(ended.state);
    expect(await alerts.end('alr-1', 'cancelled', T0 + 7, 'other')).toBe(false);
    expect(await alerts.active()).toEqual([]);
    await alerts.setCapState(key, 'superseded');
    expect((await alerts.capMessage(key))?.state).toBe('superseded');
  });

  it('settles the message only on its revision of an active alert', async () => {
    const a = alert('alr-1');
    await alerts.insertAlertWithTargets(a, []);
    const ready: Alert = { ...a, media: { mediaId: 'med-1', sha256: 'a'.repeat(64), bytes: 10, durationMs: 1000 }, messageState: 'ready' };
    expect(await alerts.setMessage({ ...ready, revision: 2 })).toBe(false);
    expect(await alerts.setMessage(ready)).toBe(true);
    expect(await alerts.get('alr-1')).toMatchObject({ messageState: 'ready', media: ready.media, state: 'active' });
    await alerts.end('alr-1', 'cancelled', T0 + 1, 'x');
    expect(await alerts.setMessage({ ...ready, messageState: 'failed', messageReason: 'late' })).toBe(false);
    expect(await alerts.get('alr-1')).toMatchObject({ messageState: 'ready', state: 'cancelled', endedByName: 'x' });
  });

  it('registers a CAP sender once, with its accounts, and lists the senders seen but not registered', async () => {
    const users = await store.db
      .insertInto('users')
      .values([
        { username: 'b-user', password_hash: 'x', role: 'emergency', area_id: null, created_at: T0, disabled_at: null },
        { username: 'a-user', password_hash: 'x', role: 'emergency', area_id: null, created_at: T0, disabled_at: null },
      ])
      .returning('id')
      .execute();
    const [b, a] = users.map((u) => u.id) as [number, number];
    const token = await store.db
      .insertInto('api_tokens')
      .values({ user_id: a, token_hash: 'h', kind: 'api', name: 'script', created_at: T0, expires_at: null, last_used_at: null, revoked_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    const senders = new CapSenderStore(store.db, () => T0);
    const input = {
      sender: 'kttv@nchmf.gov.vn',
      areaId: null,
      note: 'Đài KTTV',
      accounts: [
        { userId: a, tokenId: token.id },
        { userId: b, tokenId: null },
        { userId: a, tokenId: null },
        { userId: b, tokenId: null },
      ],
      createdBy: a,
    };
    const made = await Promise.allSettled([senders.create(input), senders.create(input)]);
    expect(made.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    const lost = made.find((x): x is PromiseRejectedResult => x.status === 'rejected')!;
    expect(lost.reason).toBeInstanceOf(LoanetError);
    expect((lost.reason as LoanetError).code).toBe('LOANET_NAME_TAKEN');
    const s = (await senders.bySender('kttv@nchmf.gov.vn'))!;
    expect(s.accounts.map((x) => [x.username, x.tokenId])).toEqual([
      ['a-user', null],
      ['a-user', token.id],
      ['b-user', null],
    ]);
    const changed = await senders.update(s.id, { note: null, accounts: [{ userId: b, tokenId: null }] });
    expect(changed).toMatchObject({ note: null, areaId: null, accounts: [{ username: 'b-user', tokenId: null }] });
    expect((await senders.list()).map((x) => x.sender)).toEqual(['kttv@nchmf.gov.vn']);
    const alertStore = new AlertStore(store.db);
    const cap = (sender: string, identifier: string, by: string | null) =>
      alertStore.saveCap(
        { key: { sender, identifier }, sent: 's', status: 'Actual', msgType: 'Alert', contentHash: 'h', state: 'active', alertId: null, xml: '<alert/>', receivedBy: by },
        T0,
      );
    await cap('kttv@nchmf.gov.vn', '1', 'a-user');
    await cap('old@sender', '1', 'b-user');
    await cap('old@sender', '2', 'a-user');
    await cap('old@sender', '3', 'a-user');
    await cap('anon@sender', '1', null);
    expect(await senders.unregistered()).toEqual([
      { sender: 'anon@sender', messages: 1, postedBy: [] },
      { sender: 'old@sender', messages: 3, postedBy: ['a-user', 'b-user'] },
    ]);
    await senders.remove(s.id);
    expect(await senders.byId(s.id)).toBeUndefined();
  });
});
