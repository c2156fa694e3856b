/**
 * A real Chromium for the console tests: Debian's /usr/bin/chromium driven by
 * playwright-core, headless, with a fresh profile per run. Whether it is there
 * is asked with haveTools('chromium') (tests/helpers/require-tool.ts): without
 * it the browser tests skip loudly, except under CI, where they fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

import { CHROMIUM } from './require-tool.ts';

export { CHROMIUM };
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-output/screenshots');

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { timezoneId?: string; extraArgs?: string[] } = {}): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...(opts.extraArgs ?? [])],
    viewport: { width: 1280, height: 900 },
    // The tests' browser sits in another zone on purpose: the console must still show Asia/Ho_Chi_Minh times.
    timezoneId: opts.timezoneId ?? 'Europe/Paris',
    locale: 'en-GB',
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}

/** Log in through the console's own form and wait for the overview. */
export async function loginThroughForm(page: import('playwright-core').Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(baseUrl + '/');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.locator('[data-testid=overview-title]').waitFor();
}
