/**
 * The console's service worker in a real Chromium: registered from the
 * server (/api/notifications/sw.js, for the whole origin), it receives a Web
 * Push delivered through the DevTools protocol (ServiceWorker.deliverPushMessage:
 * what the browser does once its push service hands it a message; no push
 * service is reachable here) carrying exactly what the server sends
 * (push-sender.ts pushPayload), and shows it as a notification worded in
 * Vietnamese first, one per alarm. The encryption and VAPID of the way there
 * are tested against a local push service in tests/integration/web-push.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushPayload } from '../../server/notifications/push-sender.ts';
import type { Notification } from '../../server/notifications/store.ts';
import { type Browser, launchBrowser } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { startTestServer, type TestServer, waitFor } from '../helpers/server.ts';

const run = haveTools('chromium');

const notification = (over: Partial<Notification> = {}): Notification => ({
  id: 7,
  userId: 10,
  alarmId: 'al-12',
  siteId: 'LC-0101',
  areaId: 5,
  kind: 'site_offline',
  severity: 'major',
  cause: 'raised',
  ruleId: 1,
  step: 0,
  createdAt: Date.UTC(2026, 11, 5, 16),
  readAt: null,
  push: { state: 'pending', attempts: 0, error: null, at: null },
  ...over,
});

describe.runIf(run)("the console's service worker shows a Web Push", () => {
  let t: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    t = await startTestServer();
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('as a system notification worded in Vietnamese first, one per alarm', async () => {
    const origin = new URL(t.baseUrl).origin;
    await browser.context.grantPermissions(['notifications'], { origin });
    const page = await browser.context.newPage();
    await page.goto(`${t.baseUrl}/api/health`);
    const cdp = await browser.context.newCDPSession(page);
    const registrations: Array<{ registrationId: string; scopeURL: string }> = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> }) => {
      for (const r of e.registrations) if (!r.isDeleted) registrations.push(r);
    });
    const versions: Array<{ registrationId: string; status: string }> = [];
    cdp.on('ServiceWorker.workerVersionUpdated', (e: { versions: Array<{ registrationId: string; status: string }> }) => versions.push(...e.versions));
    await cdp.send('ServiceWorker.enable');
    // A string, run in the page: the tests are compiled without the DOM's types.
    const scope = (await page.evaluate(
      `navigator.serviceWorker.register('/api/notifications/sw.js', { scope: '/' }).then((reg) => navigator.serviceWorker.ready.then(() => reg.scope))`,
    )) as string;
    expect(scope).toBe(`${origin}/`);
    const reg = await waitFor('the registration is known to DevTools', () => registrations.find((r) => r.scopeURL === `${origin}/`));
    // A push delivered before the worker is activated is dropped, as a browser would.
    await waitFor('the worker is activated', () => versions.some((v) => v.registrationId === reg.registrationId && v.status === 'activated') || undefined);

    const deliver = (n: Notification) =>
      cdp.send('ServiceWorker.deliverPushMessage', { origin: `${origin}/`, registrationId: reg.registrationId, data: pushPayload(n).toString('utf8') });
    // Read inside the worker: the page's own view of the registration's notifications is empty in headless Chromium.
    const worker = await waitFor('the worker runs', () => browser.context.serviceWorkers()[0]);
    interface Shown {
      title: string;
      body: string;
      tag: string;
      data: unknown;
    }
    const shown = async () =>
      (await worker.evaluate('self.registration.getNotifications().then((l) => l.map((x) => ({ title: x.title, body: x.body, tag: x.tag, data: x.data })))')) as Shown[];

    /**
     * Delivers `n` until what is shown satisfies `seen`: a push that reaches a worker that has just
     * activated is at times not dispatched in headless Chromium. Delivering again is harmless:
     * one notification per alarm (the tag), the newer replacing the older.
     */
    const deliverUntil = async <T>(what: string, ns: Notification[], seen: (list: Awaited<ReturnType<typeof shown>>) => T | undefined): Promise<T> => {
      let last = 0;
      return waitFor(
        what,
        async () => {
          if (Date.now() - last > 1000) {
            last = Date.now();
            for (const n of ns) await deliver(n);
          }
          return seen(await shown());
        },
        20_000,
      );
    };

    const first = await deliverUntil('the notification is shown', [notification()], (list) => (list.length === 1 ? list[0] : undefined));
    expect(first).toEqual({
      title: 'Cảnh báo kỹ thuật — Nặng: Mất kết nối',
      body: 'LC-0101\nTechnical alarm — Major: Offline',
      tag: 'alarm-al-12',
      data: { url: '/alarms/al-12', notificationId: 7 },
    });

    // The same alarm escalated, worse: replaces it (one per alarm); another alarm is a second one.
    const after = await deliverUntil(
      'two notifications, the first replaced',
      [notification({ id: 8, severity: 'critical', cause: 'escalated' }), notification({ id: 9, alarmId: 'al-13', kind: 'power', severity: 'major' })],
      (list) => (list.length === 2 && list.some((x) => x.tag === 'alarm-al-13') && list.some((x) => x.title.startsWith('Cảnh báo kỹ thuật — Nghiêm trọng')) ? list : undefined),
    );
    expect(after.map((x) => x.tag).sort()).toEqual(['alarm-al-12', 'alarm-al-13']);
    expect(after.find((x) => x.tag === 'alarm-al-13')!.title).toBe('Cảnh báo kỹ thuật — Nặng: Sự cố nguồn điện');
  });
});
