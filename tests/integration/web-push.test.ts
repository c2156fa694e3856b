/**
 * Web Push end to end against a local push service: the notification service
 * tells a technician, the sender posts to the endpoint of the technician's
 * subscription, and the receiver does what a real push service and browser
 * do between them: checks the VAPID authorization (RFC 8292: the ES256 JWT
 * verified with the `k=` key, the audience its own origin, not expired) and
 * decrypts the body with the browser's private key (RFC 8291, written here
 * apart from the server's code). Real crypto and HTTP, no mocks. A push
 * service that is unavailable then answers is retried; a subscription it
 * says is gone is dropped. On SQLite (the store's dialect is not what this
 * tests; notification-service.test.ts runs both).
 */
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, verify } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Recipient } from '../../server/notifications/model.ts';
import { PushSender } from '../../server/notifications/push-sender.ts';
import { NotificationService } from '../../server/notifications/service.ts';
import { NotificationStore } from '../../server/notifications/store.ts';
import { loadVapidKeys } from '../../server/notifications/web-push.ts';
import { openStore, type Store } from '../../server/store/database.ts';
import { waitFor } from '../helpers/wait.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const DAY = Date.UTC(2026, 11, 5, 3, 0, 0);
const USERS: Recipient[] = [{ id: 10, role: 'technician', areaId: 3 }];
const tree = { path: (a: number) => (a === 5 ? [5, 3, 1] : [a]) };

/** The browser's side of RFC 8291 §3.4 / RFC 8188: the plaintext, or an exception. */
function decrypt(body: Buffer, uaPrivate: Buffer, uaPublic: Buffer, auth: Buffer): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const keyid = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  expect(record.length).toBeLessThanOrEqual(rs);
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(uaPrivate);
  const shared = ecdh.computeSecret(keyid);
  const prkKey = Buffer.from(hkdfSync('sha256', shared, auth, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, keyid]), 32));
  const cek = Buffer.from(hkdfSync('sha256', prkKey, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', prkKey, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([d.update(record.subarray(0, record.length - 16)), d.final()]);
  // The last record ends with 0x02 then zero padding (RFC 8188 §2).
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  expect(padded[end]).toBe(2);
  return padded.subarray(0, end).toString('utf8');
}

/** A push service that answers as `answer` says, after checking VAPID and decrypting what it was given. */
class PushService {
  readonly received: Array<{ payload: unknown; urgency: string | undefined; ttl: string | undefined }> = [];
  readonly problems: string[] = [];
  answer: (n: number) => number = () => 201;
  private server!: http.Server;
  port = 0;
  readonly ua = createECDH('prime256v1');
  readonly auth = Buffer.from('0123456789abcdef');
  constructor(
    private readonly vapidPublic: string,
    private readonly clock: () => number,
  ) {
    this.ua.generateKeys();
  }
  async up(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.check(req, Buffer.concat(chunks));
        } catch (e) {
          this.problems.push((e as Error).message);
          res.writeHead(400).end();
          return;
        }
        res.writeHead(this.answer(this.received.length)).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  async down(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
  get subscription() {
    return { endpoint: `http://127.0.0.1:${this.port}/push/abc`, p256dh: this.ua.getPublicKey().toString('base64url'), auth: this.auth.toString('base64url') };
  }
  private check(req: http.IncomingMessage, body: Buffer): void {
    if (req.headers['content-encoding'] !== 'aes128gcm') throw new Error(`content-encoding ${req.headers['content-encoding']}`);
    const m = /^vapid t=([\w-]+\.[\w-]+\.[\w-]+), k=([\w-]+)$/.exec(req.headers.authorization ?? '');
    if (!m) throw new Error(`authorization ${req.headers.authorization}`);
    const [, jwt, k] = m as unknown as [string, string, string];
    if (k !== this.vapidPublic) throw new Error('k is not the server key');
    const raw = Buffer.from(k, 'base64url');
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
    const [h, c, s] = jwt.split('.') as [string, string, string];
    if (!verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) throw new Error('JWT signature');
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as { aud: string; exp: number; sub: string };
    if (claims.aud !== `http://127.0.0.1:${this.port}`) throw new Error(`aud ${claims.aud}`);
    const now = Math.floor(this.clock() / 1000);
    if (claims.exp <= now || claims.exp > now + 24 * 3600) throw new Error(`exp ${claims.exp}`);
    if (!claims.sub.startsWith('mailto:')) throw new Error(`sub ${claims.sub}`);
    const text = decrypt(body, this.ua.getPrivateKey(), this.ua.getPublicKey(), this.auth);
    this.received.push({ payload: JSON.parse(text), urgency: req.headers.urgency as string | undefined, ttl: req.headers.ttl as string | undefined });
  }
}

describe('Web Push to a local push service', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(clock: { now: number }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-push-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const keys = loadVapidKeys(dir);
    const pushService = new PushService(keys.publicKey, () => clock.now);
    await pushService.up();
    cleanup.push(() => pushService.down());
    const store: Store = await openStore({ dataDir: dir, databaseUrl: null });
    const notifications = new NotificationStore(store.db);
    const push = new PushSender({ store: notifications, keys, subject: 'mailto:ops@example.vn', log: quiet, clock: () => clock.now });
    const service = new NotificationService({
      store: notifications,
      tree,
      recipients: async () => USERS,
      push,
      log: quiet,
      clock: () => clock.now,
      pushPollMs: 3_600_000,
    });
    await service.start();
    cleanup.push(async () => {
      await service.stop();
      await store.close();
    });
    await service.createRule({
      areaId: null,
      minSeverity: 'warning',
      kinds: null,
      delayMs: 0,
      escalateAfterMs: null,
      steps: [{ roles: ['technician'], userIds: [] }],
      enabled: true,
    });
    await notifications.subscribe(10, pushService.subscription, clock.now);
    return { notifications, service, pushService };
  }

  const tell = async (service: NotificationService, clock: { now: number }, alarmId: string) => {
    await service.handle({
      type: 'alarm_due',
      at: clock.now,
      alarm: { alarmId, siteId: 'village-a', areaId: 5, kind: 'site_offline', severity: 'major', incidentId: null },
      cause: 'raised',
    });
    await service.runDue();
  };

  it('delivers a notification the browser can decrypt, signed with the server VAPID key; an unavailable push service is retried', async () => {
    const clock = { now: DAY };
    const { notifications, service, pushService } = await setup(clock);
    pushService.answer = (n) => (n === 1 ? 503 : 201);
    await tell(service, clock, 'alm_7');
    const [n] = await waitFor('the first attempt settled', async () => {
      const [x] = await notifications.ofUser(10, { limit: 1 });
      return x && x.push.attempts === 1 ? [x] : undefined;
    });
    expect(n!.push.state).toBe('pending');
    clock.now += 60_000;
    await service.deliverPushes();
    const [after] = await notifications.ofUser(10, { limit: 1 });
    expect(after!.push).toMatchObject({ state: 'delivered', attempts: 2, error: null });
    expect(pushService.problems).toEqual([]);
    expect(pushService.received).toHaveLength(2);
    expect(pushService.received[1]).toEqual({
      payload: { v: 1, type: 'notification', id: n!.id, alarmId: 'alm_7', siteId: 'village-a', kind: 'site_offline', severity: 'major', cause: 'raised', at: DAY },
      urgency: 'high',
      ttl: String(86_400 - 60),
    });
  });

  it('a subscription the push service says is gone (410) is dropped, and the notification stays in the bell', async () => {
    const clock = { now: DAY };
    const { notifications, service, pushService } = await setup(clock);
    pushService.answer = () => 410;
    await tell(service, clock, 'alm_8');
    await waitFor('the subscription dropped', async () => ((await notifications.subscriptionsOf(10)).length === 0 ? true : undefined));
    const [n] = await waitFor('the push settled', async () => {
      const [x] = await notifications.ofUser(10, { limit: 1 });
      return x && x.push.state !== 'pending' ? [x] : undefined;
    });
    expect(n!.push.state).toBe('failed');
    expect(await notifications.unreadCount(10)).toBe(1);
    expect(pushService.problems).toEqual([]);
  });
});
