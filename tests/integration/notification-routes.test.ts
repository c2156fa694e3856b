/**
 * Who is told, over HTTP on a running server: rules managed by admins inside
 * their scope, the bell (a technician's own notifications, unread count,
 * marked read, pushed on the console's event stream to that technician only),
 * and a browser's Web Push subscription stored with the server's VAPID key.
 * The alarm signal is fed to the server's own notification service through
 * its port (the alarms feed it the same way; notification-service.test.ts
 * covers delays, escalation and quiet hours).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { openEventStream } from '../helpers/event-stream.ts';

const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường
const PASSWORD = 'mat-khau-du-dai-123';

async function userToken(t: TestServer, username: string, role: string, area?: string): Promise<{ token: string; id: number }> {
  const r = await t.api('POST', '/api/users', { username, password: PASSWORD, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const token = (await t.api('POST', '/api/auth/login', { username, password: PASSWORD }, { token: null })).body.token as string;
  const user = await t.server.ctx.users.byUsername(username);
  return { token, id: user!.id };
}

describe('notification routes', () => {
  let t: TestServer;
  let techA: { token: string; id: number };
  let techB: { token: string; id: number };
  let adminB: { token: string; id: number };

  beforeAll(async () => {
    t = await startTestServer();
    await importLaoCai2025(t);
    techA = await userToken(t, 'ky-thuat-a', 'technician', COMMUNE_A);
    techB = await userToken(t, 'ky-thuat-b', 'technician', COMMUNE_B);
    adminB = await userToken(t, 'quan-tri-b', 'admin', COMMUNE_B);
    await t.server.ctx.notifications.service.refreshRecipients();
  }, 60_000);
  afterAll(() => t?.stop());

  const rule = (area: string | null) => ({
    area,
    minSeverity: 'minor',
    kinds: null,
    delayS: 0,
    escalateAfterS: 1800,
    steps: [{ roles: ['technician'], userIds: [] }],
    enabled: true,
  });

  it('admins manage rules inside their scope; others may not', async () => {
    const made = await t.inject('POST', '/api/notification-rules', rule(COMMUNE_A));
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({ area: expect.stringContaining(COMMUNE_A), delayS: 0, escalateAfterS: 1800, enabled: true });
    // A commune B admin: not its area, not network-wide, and commune A's rule is not found for it.
    expect((await t.inject('POST', '/api/notification-rules', rule(COMMUNE_A), { token: adminB.token })).status).toBe(403);
    expect((await t.inject('POST', '/api/notification-rules', rule(null), { token: adminB.token })).status).toBe(403);
    expect((await t.inject('DELETE', `/api/notification-rules/${made.body.id}`, undefined, { token: adminB.token })).status).toBe(404);
    expect((await t.inject('GET', '/api/notification-rules', undefined, { token: adminB.token })).body).toEqual([]);
    expect((await t.inject('GET', '/api/notification-rules', undefined, { token: techA.token })).status).toBe(403);
    const named = await t.inject('POST', '/api/notification-rules', { ...rule(COMMUNE_B), steps: [{ roles: [], userIds: [999_999] }] }, { token: adminB.token });
    expect(named.status).toBe(400);
    expect(named.body.error).toBe('LOANET_REFERENCE_NOT_FOUND');
    const all = await t.inject('GET', '/api/notification-rules');
    expect(all.body.map((r: { id: number }) => r.id)).toEqual([made.body.id]);
    const put = await t.inject('PUT', `/api/notification-rules/${made.body.id}`, { ...rule(COMMUNE_A), delayS: 5 });
    expect(put.status, put.text).toBe(200);
    expect(put.body.delayS).toBe(5);
    await t.inject('PUT', `/api/notification-rules/${made.body.id}`, rule(COMMUNE_A));
  });

  it("a technician's bell: pushed on their event stream only, counted unread, marked read", async () => {
    const ctx = t.server.ctx;
    const streamA = await openEventStream(t, techA.token);
    const streamB = await openEventStream(t, techB.token);
    try {
      expect((await t.inject('POST', '/api/notification-rules', rule(COMMUNE_B), { token: adminB.token })).status).toBe(201);
      const areaId = ctx.coverage.resolveArea(COMMUNE_A).id;
      await ctx.notifications.service.handle({
        type: 'alarm_due',
        at: ctx.now(),
        alarm: { alarmId: 'alm_test_1', siteId: 'no-such-site', areaId, kind: 'site_offline', severity: 'major', incidentId: null },
        cause: 'raised',
      });
      await ctx.notifications.service.runDue();
      const pushed = await streamA.next('notification', (n) => n.alarmId === 'alm_test_1');
      expect(pushed).toMatchObject({ alarmId: 'alm_test_1', kind: 'site_offline', severity: 'major', cause: 'raised', readAt: null, push: 'none' });
      // Commune B's technician: a later event on their stream, and no notification before it.
      await ctx.notifications.service.handle({
        type: 'alarm_due',
        at: ctx.now(),
        alarm: { alarmId: 'alm_test_b', siteId: 'no-such-site-b', areaId: ctx.coverage.resolveArea(COMMUNE_B).id, kind: 'site_offline', severity: 'major', incidentId: null },
        cause: 'raised',
      });
      await ctx.notifications.service.runDue();
      const theirs = (await t.inject('GET', '/api/notifications', undefined, { token: techB.token })).body;
      expect(theirs.notifications.map((n: { alarmId: string }) => n.alarmId)).toEqual(['alm_test_b']);
      await streamB.next('notification', (n) => n.alarmId === 'alm_test_b');
      expect(streamB.events.filter((e) => e.event === 'notification').map((e) => (e.data as { alarmId: string }).alarmId)).toEqual(['alm_test_b']);

      const mine = await t.inject('GET', '/api/notifications', undefined, { token: techA.token });
      expect(mine.status, mine.text).toBe(200);
      expect(mine.body.unread).toBe(1);
      expect(mine.body.notifications).toHaveLength(1);
      // Another's id changes nothing of theirs.
      const wrong = await t.inject('POST', '/api/notifications/read', { ids: [pushed.id] }, { token: techB.token });
      expect(wrong.body).toEqual({ marked: 0, unread: 1 });
      const read = await t.inject('POST', '/api/notifications/read', {}, { token: techA.token });
      expect(read.body).toEqual({ marked: 1, unread: 0 });
    } finally {
      streamA.close();
      streamB.close();
    }
  });

  it("a browser subscribes with the server's VAPID key, kept owner-only in the data folder", async () => {
    const key = await t.inject('GET', '/api/notifications/push/key', undefined, { token: techA.token });
    expect(key.status).toBe(200);
    expect(Buffer.from(key.body.publicKey, 'base64url')).toHaveLength(65);
    expect(fs.statSync(path.join(t.dataDir, 'vapid.json')).mode & 0o777).toBe(0o600);
    const sub = { endpoint: 'https://push.example.net/wpush/v2/abc', expirationTime: null, keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) } };
    expect((await t.inject('POST', '/api/notifications/push/subscriptions', sub, { token: techA.token })).status).toBe(204);
    expect(await t.server.ctx.notifications.store.subscriptionsOf(techA.id)).toHaveLength(1);
    expect((await t.inject('POST', '/api/notifications/push/subscriptions', { ...sub, keys: { p256dh: 'short', auth: 'x' } }, { token: techA.token })).status).toBe(400);
    expect((await t.inject('DELETE', '/api/notifications/push/subscriptions', { endpoint: sub.endpoint }, { token: techA.token })).status).toBe(204);
    expect(await t.server.ctx.notifications.store.subscriptionsOf(techA.id)).toHaveLength(0);
  });
});
