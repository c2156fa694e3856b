/**
 * The notification rules page, in a real Chromium against a real server:
 * an admin bound to commune A creates a rule for the commune (technicians
 * first, then a named colleague 30 minutes later if nobody acknowledged),
 * edits it, deletes it; a rule for the whole network is refused by the
 * server and the refusal is shown in Vietnamese. What the page shows is what
 * the server stored (GET /api/notification-rules as the same admin).
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleSetup, loginThroughForm, screenshotPath, startConsole } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';
import type { TestServer } from '../helpers/server.ts';

const COMMUNE_A = '02683'; // Xã Bát Xát
const PASSWORD = 'mat-khau-du-dai-123';
const run = haveTools('chromium');

interface Rule {
  id: number;
  area: string | null;
  minSeverity: string;
  kinds: string[] | null;
  delayS: number;
  escalateAfterS: number | null;
  steps: Array<{ roles: string[]; userIds: number[] }>;
  enabled: boolean;
  quietHours: { startMinute: number; endMinute: number } | null;
}

describe.skipIf(!run)('notification rules in the console', () => {
  let c: ConsoleSetup | undefined;
  let t: TestServer;
  let page: Page;
  let token = '';
  let colleague = 0;

  beforeAll(async () => {
    c = await startConsole({
      login: null,
      async prepare({ t }) {
        const admin = await t.api('POST', '/api/users', { username: 'quan-tri-bat-xat', password: PASSWORD, role: 'admin', area: COMMUNE_A });
        expect(admin.status, JSON.stringify(admin.body)).toBe(201);
        const tech = await t.api('POST', '/api/users', { username: 'ky-thuat-lan', password: PASSWORD, role: 'technician', area: COMMUNE_A });
        expect(tech.status, JSON.stringify(tech.body)).toBe(201);
        colleague = (await t.server.ctx.users.byUsername('ky-thuat-lan'))!.id;
        const login = await t.api('POST', '/api/auth/login', { username: 'quan-tri-bat-xat', password: PASSWORD }, { token: null });
        token = login.body.token as string;
      },
    });
    t = c.t;
    page = c.page;
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await loginThroughForm(page, t.baseUrl, 'quan-tri-bat-xat', PASSWORD);
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
  });

  const stored = async (): Promise<Rule[]> => {
    const r = await t.api('GET', '/api/notification-rules', undefined, { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body as Rule[];
  };

  it('creates a rule for the commune: technicians first, a named colleague next', async () => {
    await page.click('header.top nav a[href="/notification-rules"]');
    await page.locator('[data-testid=rules-title]', { hasText: 'Quy tắc thông báo cảnh báo kỹ thuật' }).waitFor();
    expect(await page.locator('[data-testid=rules-quiet-hours]').innerText()).toContain('22:00–06:00');
    await page.click('[data-testid=rule-new]');
    const form = page.locator('[data-testid=rule-form]');
    await form.locator('select[name=area] option', { hasText: 'Xã Bát Xát' }).first().waitFor({ state: 'attached' });
    await form.locator('select[name=area]').selectOption({ label: 'Xã Bát Xát' });
    await form.locator('select[name=minSeverity]').selectOption('minor');
    await form.locator('input[name=delay]').fill('2');
    await form.locator('[data-testid=rule-add-step]').click();
    const second = form.locator('[data-testid=rule-step]').nth(1);
    await second.locator('input[value=admin]').uncheck();
    await second.locator(`input[name=step1-user][value="${colleague}"]`).check();
    await form.locator('input[name=escalate]').fill('30');
    await form.locator('button[type=submit]').click();
    await page.locator('[data-testid=rules-notice]', { hasText: 'Đã lưu quy tắc.' }).waitFor();
    const item = page.locator('[data-testid=rules] [data-rule]');
    await item.first().waitFor();
    expect(await item.locator('[data-testid=rule-summary]').innerText()).toContain('Xã Bát Xát · từ mức');
    expect(await item.locator('ol').innerText()).toContain('ky-thuat-lan');
    expect(await stored()).toEqual([
      expect.objectContaining({
        area: expect.stringMatching(/02683$/),
        minSeverity: 'minor',
        kinds: null,
        delayS: 120,
        escalateAfterS: 1800,
        steps: [
          { roles: ['technician'], userIds: [] },
          { roles: [], userIds: [colleague] },
        ],
        enabled: true,
        quietHours: null,
      }),
    ]);
  }, 120_000);

  it('edits it: a longer delay, only offline sites, quiet hours of its own, then disabled', async () => {
    await page.click('[data-testid=rule-edit]');
    const form = page.locator('[data-testid=rule-form]');
    await form.locator('input[name=delay]').fill('10');
    await form.locator('input[name=kind][value=site_offline]').check();
    await form.locator('input[name=quietOwn]').check();
    await form.locator('input[name=quietFrom]').fill('20:00');
    await form.locator('input[name=quietTo]').fill('07:30');
    await form.locator('input[name=enabled]').uncheck();
    await form.locator('button[type=submit]').click();
    await page.locator('[data-testid=rules] [data-rule][data-enabled=no]').waitFor();
    expect(await page.locator('[data-testid=rule-summary]').innerText()).toContain('Tạm tắt');
    expect(await page.locator('[data-testid=rule-summary]').innerText()).toContain('giờ yên lặng 20:00–07:30');
    const [r] = await stored();
    expect(r).toMatchObject({ delayS: 600, kinds: ['site_offline'], enabled: false, escalateAfterS: 1800, quietHours: { startMinute: 1200, endMinute: 450 } });
    await page.screenshot({ path: screenshotPath('notification-rules'), fullPage: true });
  }, 120_000);

  it('a rule for the whole network is refused, in Vietnamese, and nothing is stored', async () => {
    await page.click('[data-testid=rule-new]');
    const form = page.locator('[data-testid=rule-form]');
    await form.locator('select[name=area]').selectOption('');
    await form.locator('button[type=submit]').click();
    const refusal = form.locator('[role=alert]');
    await refusal.waitFor();
    expect(await refusal.innerText()).toBe('Bạn chỉ được thao tác trong khu vực của mình; việc này chạm tới nơi ngoài khu vực đó.');
    expect(await stored()).toHaveLength(1);
    await form.locator('button', { hasText: 'Thôi' }).click();
  }, 120_000);

  it('deletes it after a confirmation', async () => {
    await page.click('[data-testid=rule-delete]');
    await page.click('[data-testid=rule-delete-confirm]');
    await page.locator('[data-testid=rules-notice]', { hasText: 'Đã xóa quy tắc.' }).waitFor();
    expect(await page.locator('[data-testid=rules] [data-rule]').count()).toBe(0);
    expect(await stored()).toEqual([]);
  }, 120_000);
});
