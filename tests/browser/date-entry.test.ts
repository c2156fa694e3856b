/**
 * Days are typed and shown as dd/mm/yyyy in Vietnamese (a browser's own date
 * field shows mm/dd/yyyy on most phones), times as a 24-hour HH:mm, in
 * Asia/Ho_Chi_Minh whatever the browser's zone: the schedule's start and the
 * audit log's period, at 390x844 in a real Chromium set to New York time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';

const run = haveTools('chromium');
let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;

/** dd/mm/yyyy and HH:mm of an instant in Asia/Ho_Chi_Minh. */
function local(ms: number): { day: string; time: string } {
  const iso = new Date(ms + 7 * 3_600_000).toISOString();
  return { day: `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)}`, time: iso.slice(11, 16) };
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-date-entry-',
    prepare: async (s) => {
      t = s.t;
    },
    browser: { timezoneId: 'America/New_York' },
    viewport: { width: 390, height: 844 },
    pageTimeoutMs: 60_000,
  });
  page = c.page;
  if ((await page.evaluate<string>('document.documentElement.lang')) !== 'vi') await page.click('header [data-lang=vi]');
}, 180_000);

afterAll(() => c?.stop());

/** The field's own validity, as the form's submit would see it (a string: the test's tsconfig has no DOM types). */
const validity = (selector: string) =>
  page.evaluate<{ valid: boolean; message: string }>(
    `(() => { const el = document.querySelector(${JSON.stringify(selector)}); return { valid: el.checkValidity(), message: el.validationMessage }; })()`,
  );

describe.skipIf(!run)('dates as the province writes them', { timeout: 180_000 }, () => {
  it("the schedule's start reads and shows day/month/year and a 24-hour time", async () => {
    const opened = Date.now();
    await page.goto(`${t.baseUrl}/schedule`);
    const day = page.locator('[data-testid=broadcast-form] input[name=startDate]');
    const time = page.locator('[data-testid=broadcast-form] input[name=startTime]');
    await day.waitFor();
    // Ten minutes from now, in Hà Nội's day and clock (the browser is in New York).
    const shown = await day.inputValue();
    expect([local(opened + 10 * 60_000).day, local(Date.now() + 10 * 60_000).day]).toContain(shown);
    expect(await time.inputValue()).toMatch(/^\d{2}:\d{2}$/);
    expect(await day.getAttribute('placeholder')).toBe('ngày/tháng/năm');

    // A phone's number pad has no slash: the digits alone are read, and shown back as dd/mm/yyyy.
    await day.fill('05122027');
    await time.fill('730');
    await page.locator('[data-testid=broadcast-form] input[name=title]').click();
    expect(await day.inputValue()).toBe('05/12/2027');
    expect(await time.inputValue()).toBe('07:30');
    expect((await validity('input[name=startDate]')).valid).toBe(true);

    // A day that does not exist blocks the form, saying in Vietnamese what to type.
    await day.fill('31/02/2027');
    const bad = await validity('input[name=startDate]');
    expect(bad.valid).toBe(false);
    expect(bad.message).toContain('ngày/tháng/năm');
    expect(await day.getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: screenshotPath('date-entry-schedule-vi-390x844'), fullPage: true });
  });

  it('the audit period is typed as days in Hà Nội time', async () => {
    await page.goto(`${t.baseUrl}/audit`);
    await page.locator('[data-testid=audit] tbody tr').first().waitFor();
    const today = local(Date.now()).day;
    await page.fill('input[name=from]', today);
    await page.fill('input[name=to]', today);
    await page.click('form.row button[type=submit]');
    await page.locator('[data-testid=audit] tbody tr', { hasText: 'Đăng nhập' }).first().waitFor();
    // Tomorrow in Hà Nội holds nothing yet.
    const tomorrow = local(Date.now() + 86_400_000).day;
    await page.fill('input[name=from]', tomorrow);
    await page.fill('input[name=to]', tomorrow);
    await page.click('form.row button[type=submit]');
    await waitFor('the audit log to be empty for tomorrow', async () => ((await page.locator('[data-testid=audit] tbody tr').count()) === 0 ? true : undefined), 30_000, 100);
    expect(await page.locator('input[name=from]').inputValue()).toBe(tomorrow);
    await page.screenshot({ path: screenshotPath('date-entry-audit-vi-390x844'), fullPage: true });
  });
});
