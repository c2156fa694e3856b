/**
 * The console's top navigation on a 390 × 844 phone and a 1366 × 768 laptop,
 * in a real Chromium against a real server: every page an admin may open is
 * a link on screen (none cut at the edge or hidden in a strip that must be
 * swiped sideways), it is the element under its own centre, and tapping
 * "Phát trực tiếp" and "Tài khoản" opens them. In Vietnamese, the console's
 * first language, whose words are the longest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';

const SIZES = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
] as const;
/** Every page of an admin's navigation. */
const PAGES = ['/', '/sites', '/alarms', '/work-orders', '/schedule', '/emergency', '/live', '/reports', '/updates', '/account', '/users', '/notification-rules', '/audit'];

const run = haveTools('chromium');

let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;

describe.skipIf(!run)('the top navigation', () => {
  beforeAll(async () => {
    // Lào Cai 2025 imported: the overview needs an area tree to show.
    c = await startConsole();
    ({ t, page } = c);
    // Vietnamese, as a commune office uses it (the switch is remembered).
    await page.click('[data-lang=vi]');
    await page.locator('header.top nav a[href="/live"]', { hasText: 'Phát trực tiếp' }).waitFor();
  }, 120_000);

  afterAll(() => c?.stop());

  for (const size of SIZES) {
    it(`${size.name} ${size.width}x${size.height}: every page is a link on screen, under its own centre, and opens`, async () => {
      await page.setViewportSize({ width: size.width, height: size.height });
      await page.goto(`${t.baseUrl}/`);
      await page.locator('[data-testid=overview-title]').waitFor();
      const links = await page.evaluate<Array<{ href: string; text: string; left: number; right: number; top: number; bottom: number; hit: boolean }>>(`(() => {
        const view = window.innerWidth;
        return [...document.querySelectorAll('header.top nav a')].map((a) => {
          const b = a.getBoundingClientRect();
          const under = document.elementFromPoint(Math.min(view - 1, b.left + b.width / 2), b.top + b.height / 2);
          return { href: a.getAttribute('href'), text: a.textContent, left: b.left, right: b.right, top: b.top, bottom: b.bottom, hit: under === a || a.contains(under) };
        });
      })()`);
      expect(links.map((l) => l.href)).toEqual(PAGES);
      for (const l of links) {
        expect(l.left, `${l.text} starts on screen`).toBeGreaterThanOrEqual(0);
        expect(l.right, `${l.text} ends on screen`).toBeLessThanOrEqual(size.width);
        expect(l.bottom, `${l.text} is in the first screen`).toBeLessThanOrEqual(size.height);
        expect(l.hit, `${l.text} is the element under its centre`).toBe(true);
      }
      // Nothing of the header is past the screen's edge.
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(size.width);
      await page.screenshot({ path: screenshotPath(`nav-${size.name}-vi`) });

      await page.click('header.top nav a[href="/live"]');
      await page.waitForURL(`${t.baseUrl}/live`);
      expect(await page.locator('header.top nav a.active').textContent()).toBe('Phát trực tiếp');
      await page.click('header.top nav a[href="/account"]');
      await page.waitForURL(`${t.baseUrl}/account`);
      expect(await page.locator('header.top nav a.active').textContent()).toBe('Tài khoản');
    }, 60_000);
  }
});
