/**
 * The console tells admins when the data folder's disk fills (GET /api/health,
 * `disk`): a banner on every page, Vietnamese first, saying what is paused and
 * what to free. The server here measures its real disk with a low level set
 * above what any disk has (LOANET_DISK_LOW_MB), so it is "low" without filling
 * anything; tests/integration/disk-full.test.ts fills a real one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, waitFor, type TestServer } from '../helpers/server.ts';
import { loginThroughForm, screenshotPath, startConsole, type Browser, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';

const run = haveTools('chromium');
let t: TestServer;
let browser: Browser;
let c: ConsoleSetup | undefined;

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    env: { LOANET_DISK_LOW_MB: '10000000', LOANET_DISK_CRITICAL_MB: '0', LOANET_DISK_RESERVE_MB: '0' },
    async prepare(s) {
      t = s.t;
      const r = await t.api('POST', '/api/users', { username: 'van-hanh', password: 'password-of-van-hanh', role: 'operator' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    },
    // Each test signs in on a page that records what it asks the server.
    login: null,
  });
  ({ browser } = c);
}, 120_000);

afterAll(() => c?.stop());

async function signIn(user: string, password: string): Promise<{ page: Page; asked: string[] }> {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(30_000);
  const asked: string[] = [];
  page.on('request', (r) => asked.push(new URL(r.url()).pathname));
  await browser.context.clearCookies();
  await loginThroughForm(page, t.baseUrl, user, password);
  return { page, asked };
}

describe.skipIf(!run)('disk banner', () => {
  it('an admin sees, on every page, that the disk is low, what is paused and what to free; in Vietnamese, then in English', async () => {
    const { page } = await signIn('admin', ADMIN_PASSWORD);
    const banner = page.locator('[data-testid=disk-banner]');
    await banner.waitFor();
    expect(await banner.getAttribute('data-state')).toBe('low');
    const vi = await banner.innerText();
    expect(vi).toContain('Ổ đĩa dữ liệu sắp đầy');
    expect(vi).toContain('tải lên âm thanh và chuyển văn bản thành giọng nói');
    expect(vi).toContain('LOANET_DATA_DIR');
    await page.screenshot({ path: screenshotPath('disk-banner-vi') });
    await page.click('a[href="/schedule"]');
    await banner.waitFor();
    await page.click('button[data-lang=en]');
    await page.locator('[data-testid=disk-banner]', { hasText: 'The data disk is nearly full' }).waitFor();
    expect(await banner.innerText()).toMatch(/Paused: audio uploads and text to speech, coverage history\..*retire old media/s);
    await page.close();
  });

  it('an operator does not get the banner (only an admin can free space)', async () => {
    const { page, asked } = await signIn('van-hanh', 'password-of-van-hanh');
    // The banner asks for health as soon as it is mounted, before the overview's own data arrives: once that has, it would have asked.
    await waitFor("the overview's coverage loaded", () => asked.includes('/api/coverage'));
    await page.locator('[data-testid=overview-title]').waitFor();
    expect(asked).not.toContain('/api/health');
    expect(await page.locator('[data-testid=disk-banner]').count()).toBe(0);
    await page.close();
  });
});
