/**
 * Bulletins in the villages' own languages (Decree 49/2024/NĐ-CP) in the
 * console, on a phone, in a real Chromium against a real server: set a
 * village's languages on the commune's languages page (a bad code refused in
 * Vietnamese), schedule a bulletin with its Vietnamese default and an H'Mông
 * version from the library, record a Tày version from the (fake) microphone,
 * and see the Dao version still to record listed for the Dao village.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { fillMoment } from './date-fields.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const COMMUNE_KEY = `2025.${COMMUNE}`;
/** The fleet's station and two village clusters: Thôn 01 and Thôn 02. */
const VILLAGE_1 = `${COMMUNE_KEY}-01`;
const VILLAGE_2 = `${COMMUNE_KEY}-02`;
const PHONE = { width: 390, height: 844 };

const run = haveTools('chromium', 'ffmpeg');

let c: ConsoleSetup | undefined;
let t: TestServer;
let page: Page;
const media: Record<string, string> = {};

/** Local Asia/Ho_Chi_Minh "YYYY-MM-DDTHH:mm". */
const localInput = (ms: number) => new Date(ms + 7 * 3_600_000).toISOString().slice(0, 16);

async function fitsTheScreen(): Promise<void> {
  const w = await page.evaluate<{ doc: number; body: number; view: number }>(
    '({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth })',
  );
  expect(Math.max(w.doc, w.body), JSON.stringify(w)).toBeLessThanOrEqual(w.view);
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-console-languages-',
    // Sites that only report: nothing here needs them to play, only to be where the bulletin goes.
    fleets: [{ sites: 3, area: COMMUNE, kind: 'heartbeat-only' }],
    viewport: PHONE,
    // A fake microphone (a beep) and no permission prompt, for recording a version.
    browser: { extraArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] },
    prepare: async ({ t: server, dir }) => {
      for (const [lang, hz] of [
        ['vi', 440],
        ['hmn', 550],
      ] as const) {
        const id = await uploadTone(server, dir, { title: `Bản tin (${lang})`, seconds: 2, hz });
        const r = await server.api('PATCH', `/api/media/${id}`, { lang });
        expect(r.status).toBe(200);
        media[lang] = id;
      }
      // Thôn 02 is a Dao village.
      const r = await server.api('PUT', `/api/areas/${VILLAGE_2}/languages`, { languages: ['ium', 'vi'] });
      expect(r.status).toBe(200);
    },
  });
  ({ t, page } = c);
}, 240_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('bulletins in the villages’ languages, on a phone', { timeout: 600_000 }, () => {
  it("sets a village's languages, refusing a bad code in Vietnamese", async () => {
    await page.goto(`${t.baseUrl}/schedule?area=${COMMUNE_KEY}`);
    await page.click('[data-testid=languages-link]');
    const row = page.locator(`[data-testid=village-languages] tr[data-area="${VILLAGE_1}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-source')).not.toBe('own');
    expect(await page.locator(`tr[data-area="${VILLAGE_2}"]`).innerText()).toContain('Tiếng Dao');

    await row.locator('[data-action=edit-languages]').click();
    await row.locator('input[name=languages]').fill('hmông');
    await row.locator('[data-action=save-languages]').click();
    const refusal = row.locator('[data-testid=languages-error]');
    await refusal.waitFor();
    expect(await refusal.innerText()).toContain('“hmông” không phải mã ngôn ngữ hợp lệ');

    await row.locator('input[name=languages]').fill('hmn, vi');
    await row.locator('[data-action=save-languages]').click();
    await page.locator(`tr[data-area="${VILLAGE_1}"][data-source=own][data-languages="hmn,vi"]`).waitFor();
    expect((await t.api('GET', `/api/areas/${VILLAGE_1}/languages`)).body).toMatchObject({ own: ['hmn', 'vi'], source: 'own' });
    expect(await row.innerText()).toContain("Tiếng H'Mông");
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('languages-phone'), fullPage: true });
  });

  it("schedules a bulletin with an H'Mông version from the library and a Tày one recorded from the microphone; the Dao one is still to record", async () => {
    await page.goto(`${t.baseUrl}/schedule`);
    const form = page.locator('[data-testid=broadcast-form]');
    await form.waitFor();
    await page.fill('input[name=title]', 'Bản tin nhiều tiếng');
    await waitFor('the Vietnamese bulletin offered', async () => (await page.locator(`select[name=mediaId] option[value="${media.vi}"]`).count()) > 0, 60_000, 100);
    await page.selectOption('select[name=mediaId]', media.vi!);
    await page.selectOption('[data-testid=broadcast-form] select[name=area]', COMMUNE_KEY);
    await fillMoment(page, 'start', localInput(Date.now() + 3 * 3_600_000));

    // The villages there speak H'Mông and Dao besides Vietnamese: neither has a version yet.
    const versions = page.locator('[data-testid=language-versions]');
    await versions.locator('.lang-row[data-language=hmn]').waitFor();
    await versions.locator('.lang-row[data-language=ium]').waitFor();
    expect(await versions.locator('[data-testid=missing-versions]').innerText()).toMatch(/Tiếng H'Mông.*Tiếng Dao|Tiếng Dao.*Tiếng H'Mông/);
    await versions.locator('select[name=version-hmn]').selectOption(media.hmn!);
    await versions.locator('.lang-row[data-language=hmn][data-has-version=true]').waitFor();

    // A Tày version, recorded from the microphone and uploaded in Tày.
    await versions.locator('select[name=addLanguage]').selectOption('tyz');
    await versions.locator('button:has-text("Thêm")').click();
    await versions.locator('[data-testid=record-start][data-language=tyz]').click();
    const stop = versions.locator('[data-testid=record-stop][data-language=tyz]');
    await stop.waitFor();
    // Two seconds of the fake microphone, counted by the page's own clock.
    await waitFor('two seconds recorded', async () => /\((?:[2-9]|\d\d+) giây\)/.test(await stop.innerText()), 60_000, 100);
    await stop.click();
    const recorded = await waitFor('the recording ready and chosen', async () => (await versions.locator('select[name=version-tyz]').inputValue()) || undefined, 120_000, 200);
    expect((await t.api('GET', `/api/media/${recorded}`)).body).toMatchObject({ status: 'ready', lang: 'tyz' });

    const ok = page.locator('[data-testid=check-result][data-ok=true]');
    await ok.waitFor();
    await page.click('[data-testid=broadcast-form] button[type=submit]');
    await page.locator('[data-testid=saved-item]').waitFor();
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('schedule-versions-phone'), fullPage: true });

    const row = page.locator('[data-testid=items] tr', { hasText: 'Bản tin nhiều tiếng' });
    const itemId = (await row.getAttribute('data-item'))!;
    const item = (await t.api('GET', `/api/schedule/items/${itemId}`)).body;
    expect(item.language).toBe('vi');
    expect(item.versions.map((v: { language: string; mediaId: string }) => [v.language, v.mediaId])).toEqual(
      expect.arrayContaining([
        ['hmn', media.hmn],
        ['tyz', recorded],
      ]),
    );
    await row.locator('[data-action=approve]').click();
    await page.locator('[data-testid=items] tr[data-status=approved]', { hasText: 'Bản tin nhiều tiếng' }).waitFor();

    // What the station must still record: the Dao version, for Thôn 02.
    await page.click('[data-testid=languages-link]');
    const missing = page.locator(`[data-testid=to-record] li[data-item="${itemId}"] li[data-missing=ium]`);
    await missing.waitFor();
    expect(await missing.innerText()).toContain('Thôn 02');
    expect(await page.locator(`[data-testid=to-record] li[data-item="${itemId}"] li[data-missing=hmn]`).count()).toBe(0);
    await fitsTheScreen();
  });
});
