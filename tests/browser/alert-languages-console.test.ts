/**
 * An emergency alert in the villages' own languages (Decree 49/2024/NĐ-CP)
 * from the console, on a phone, in a real Chromium against a real server
 * whose agents really play it: the official writes the alert, opens the
 * optional language versions, picks the H'Mông item from the library for
 * the commune's H'Mông village, confirms and sends; the tracker then says,
 * village by village, which heard it in its own language, in Vietnamese and
 * in English, nothing wider than the screen; a Dao version is added while
 * the alert runs (same revision). Then an alert to two communes: the form
 * offers the languages of both, and the tracker names the village whose
 * Dao file a middlebox refused (it heard the message, and its H'Mông).
 *
 * Xã Bát Xát: the station and Thôn 02 speak Vietnamese alone, Thôn 01
 * [hmn, vi]. Phường Cam Đường: the station Vietnamese alone, Thôn 01
 * [ium, hmn, vi], fetching its media through the middlebox.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const COMMUNE_KEY = `2025.${COMMUNE}`;
const PREFIX = 'alc';
const PHONE = { width: 390, height: 844 };
const site = (n: number) => `${PREFIX}-${COMMUNE}-v0${n}`;
const STATION = `${PREFIX}-${COMMUNE}-st`;
const SITES = [STATION, site(1), site(2)];
const OTHER = '02671'; // Phường Cam Đường
const OTHER_KEY = `2025.${OTHER}`;
const OTHER_STATION = `${PREFIX}-${OTHER}-st`;
const OTHER_VILLAGE = `${PREFIX}-${OTHER}-v01`;

// The alert's message is the official's text, spoken by the server's voice.
const run = haveTools('chromium', 'ffmpeg', 'espeak-ng');

let c: ConsoleSetup | undefined;
let t: TestServer;
let page: Page;
let alertId = '';
const media: Record<string, string> = {};
/** Cam Đường's sites, their media fetched through `refuser`. */
let other: FleetRunner | undefined;
/** Between Cam Đường's sites and the server: refuses the Dao file (403), passes everything else. */
let refuser: http.Server | undefined;
const refused: string[] = [];

async function fitsTheScreen(): Promise<void> {
  const w = await page.evaluate<{ doc: number; body: number; view: number }>(
    '({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth })',
  );
  expect(Math.max(w.doc, w.body), JSON.stringify(w)).toBeLessThanOrEqual(w.view);
}

async function useLang(l: 'vi' | 'en'): Promise<void> {
  if ((await page.evaluate<string>('document.documentElement.lang')) !== l) await page.click(`button[data-lang=${l}]`);
  await waitFor(`the console in ${l}`, async () => (await page.evaluate<string>('document.documentElement.lang')) === l, 10_000, 50);
}

interface Line {
  siteId: string;
  status: string;
  languagesPlayed?: string[] | null;
  languagesMissed?: string[] | null;
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-alert-languages-console-',
    fleets: [{ sites: SITES.length, area: COMMUNE, kind: 'playout', idPrefix: PREFIX }],
    viewport: PHONE,
    prepare: async ({ t: server, dir }) => {
      for (const [lang, hz] of [
        ['hmn', 550],
        ['ium', 660],
      ] as const) {
        // A title as long as officials give them: the selects showing it must not widen the phone's screen.
        const id = await uploadTone(server, dir, { title: `Cảnh báo lũ quét, sạt lở đất cho các thôn ven suối (${lang})`, seconds: 1, hz });
        const r = await server.api('PATCH', `/api/media/${id}`, { lang });
        expect(r.status).toBe(200);
        media[lang] = id;
      }
      const r = await server.api('PUT', `/api/areas/${COMMUNE_KEY}-01/languages`, { languages: ['hmn', 'vi'] });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const proxy = http.createServer((req, res) => {
        if (req.url?.includes(media.ium!)) {
          refused.push(req.url);
          req.resume();
          res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden by the middlebox');
          return;
        }
        const up = http.request(`${server.baseUrl}${req.url}`, { method: req.method, headers: req.headers }, (u) => {
          res.writeHead(u.statusCode ?? 502, u.headers);
          u.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      });
      refuser = proxy;
      await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      other = await startPlayoutFleet(server, { sites: 2, area: OTHER, dir: path.join(dir, 'other'), idPrefix: PREFIX, httpUrlFor: () => proxyUrl });
      const o = await server.api('PUT', `/api/areas/${OTHER_KEY}-01/languages`, { languages: ['ium', 'hmn', 'vi'] });
      expect(o.status, JSON.stringify(o.body)).toBe(200);
    },
  });
  ({ t, page } = c);
}, 300_000);

afterAll(async () => {
  // Before the server it talks to.
  await other?.stop();
  await c?.stop();
  await new Promise<void>((res) => (refuser ? refuser.close(() => res()) : res()));
});

// A browser, a server and a fleet on one machine: on a loaded one a step takes seconds, the whole minutes.
describe.skipIf(!run)('an alert in the villages’ languages, from an official’s phone', { timeout: 600_000 }, () => {
  it("sends an alert with an H'Mông version chosen in the form; the version section is optional and folded", async () => {
    await useLang('vi');
    await page.goto(`${t.baseUrl}/emergency`);
    const form = page.locator('[data-testid=alert-form]');
    await form.waitFor();
    await page.check(`[data-testid=alert-form] input[name=area][value="${COMMUNE_KEY}"]`);
    await page.fill('textarea[name=text]', 'Cảnh báo lũ quét. Người dân ven suối di chuyển đến nơi an toàn.');
    await page.fill('input[name=repeats]', '1');
    await page.check('input[name=test]');

    // Folded until asked for: the alert needs nothing of it.
    const section = page.locator('[data-testid=alert-versions-section]');
    expect(await section.getAttribute('open')).toBeNull();
    expect(await section.locator('summary').innerText()).toBe('Bản tiếng dân tộc (không bắt buộc)');
    await section.locator('summary').click();
    // The commune's H'Mông village is offered, its version still missing.
    const versions = section.locator('[data-testid=language-versions]');
    await versions.locator('.lang-row[data-language=hmn][data-has-version=false]').waitFor();
    expect(await versions.locator('[data-testid=missing-versions]').innerText()).toContain("Tiếng H'Mông");
    await waitFor('the H’Mông item offered', async () => (await versions.locator(`select[name=version-hmn] option[value="${media.hmn}"]`).count()) > 0, 60_000, 100);
    await versions.locator('select[name=version-hmn]').selectOption(media.hmn!);
    await versions.locator('.lang-row[data-language=hmn][data-has-version=true]').waitFor();
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-versions-form-phone'), fullPage: true });

    await page.click('[data-testid=alert-form] button[type=submit]');
    const confirm = page.locator('[data-testid=alert-confirm]', { hasText: 'Xã Bát Xát' });
    await confirm.waitFor();
    const chosen = confirm.locator('[data-testid=alert-versions-chosen]');
    expect(await chosen.getAttribute('data-languages')).toBe('hmn');
    expect(await chosen.innerText()).toBe("Kèm bản: Tiếng H'Mông");
    await fitsTheScreen();
    await page.click('[data-testid=send-alert]');
    await page.waitForURL(/\/emergency\/[^/]+$/);
    alertId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);

    const sent = (await t.api('GET', `/api/alerts/${alertId}`)).body;
    expect(sent.alert.versions.map((v: { language: string; mediaId: string; state: string }) => [v.language, v.mediaId, v.state])).toEqual([['hmn', media.hmn, 'ready']]);
  });

  it("the tracker says village by village who heard it in its own language, in Vietnamese, from the agents' own reports", async () => {
    // Every site played it, and every report reached the server, before the page is read.
    const lines = await waitFor(
      'every site to complete the alert',
      async () => {
        const r = await t.api('GET', `/api/alerts/${alertId}/report?format=json`);
        const m = new Map((r.body.sites as Line[]).map((s) => [s.siteId, s]));
        return SITES.every((id) => m.get(id)?.status === 'completed') ? m : undefined;
      },
      120_000,
      250,
    );
    expect(lines.get(site(1))).toMatchObject({ languagesPlayed: ['hmn'] });

    const view = page.locator('[data-testid=alert-languages]');
    // The village's row follows the report, re-read a few seconds behind the live counts.
    const village = view.locator(`[data-testid=alert-villages] tr[data-site="${site(1)}"][data-played=hmn]`);
    await village.waitFor();
    await page.locator(`[data-testid=alert-languages] li[data-language=hmn][data-played="1"]`).waitFor();
    expect(await village.getAttribute('data-missed')).toBe('');
    expect(await village.innerText()).toContain("Tiếng H'Mông");
    // Vietnamese alone: nothing to say of other languages there.
    for (const id of [STATION, site(2)]) expect(await view.locator(`tr[data-site="${id}"]`).count(), id).toBe(0);
    expect(await view.locator('li[data-language=hmn]').innerText()).toBe("Tiếng H'Mông: đã phát ở 1 trạm, thiếu ở 0 trạm");
    expect(await view.locator('th').allInnerTexts()).toEqual(['Thôn', 'Đã nghe bằng', 'Thiếu bản']);
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-languages-tracker-vi'), fullPage: true });
  });

  it('in English: the same, in English words', async () => {
    await useLang('en');
    const view = page.locator('[data-testid=alert-languages]');
    await view.locator('h2', { hasText: 'Villages hearing it in their own language' }).waitFor();
    expect(await view.locator('li[data-language=hmn]').innerText()).toBe('Hmong: sites that played it: 1; sites missing it: 0');
    expect(await view.locator('th').allInnerTexts()).toEqual(['Village', 'Heard in', 'Missing versions']);
    const text = await view.innerText();
    for (const vi of ['Tiếng ', 'đã phát', 'trạm', 'Thiếu']) expect(text, `"${vi}" in the English view`).not.toContain(vi);
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-languages-tracker-en'), fullPage: true });
    await useLang('vi');
  });

  it('adds a Dao version to the running alert', async () => {
    const add = page.locator('[data-testid=add-version]');
    await add.locator('summary').click();
    expect(await add.locator('[data-testid=versions-held]').getAttribute('data-languages')).toBe('hmn');
    const versions = add.locator('[data-testid=language-versions]');
    await versions.locator('select[name=addLanguage]').selectOption('ium');
    await versions.locator('button:has-text("Thêm")').click();
    await waitFor('the Dao item offered', async () => (await versions.locator(`select[name=version-ium] option[value="${media.ium}"]`).count()) > 0, 60_000, 100);
    await versions.locator('select[name=version-ium]').selectOption(media.ium!);
    await add.locator('[data-testid=add-version-send]').click();
    await add.locator('[data-testid=versions-added][data-languages=ium]').waitFor();
    await page.locator('[data-testid=alert-languages] li[data-language=ium]').waitFor();
    expect(await add.locator('[data-testid=versions-held]').getAttribute('data-languages')).toBe('hmn,ium');
    const after = (await t.api('GET', `/api/alerts/${alertId}`)).body;
    expect(after.alert.versions.map((v: { language: string; mediaId: string }) => [v.language, v.mediaId])).toEqual([
      ['hmn', media.hmn],
      ['ium', media.ium],
    ]);
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-add-version-phone'), fullPage: true });
    expect((await t.api('POST', `/api/alerts/${alertId}/cancel`)).status).toBe(200);
  });

  it('for two communes the form offers every language spoken in either, those of both first; Vietnamese is the message', async () => {
    await page.goto(`${t.baseUrl}/emergency`);
    await page.locator('[data-testid=alert-form]').waitFor();
    // Cam Đường first: its Dao is met first, yet H'Mông, spoken in both communes, comes before it.
    await page.check(`[data-testid=alert-form] input[name=area][value="${OTHER_KEY}"]`);
    await page.check(`[data-testid=alert-form] input[name=area][value="${COMMUNE_KEY}"]`);
    await page.locator('[data-testid=chosen-communes][data-n="2"]').waitFor();
    await page.fill('textarea[name=text]', 'Cảnh báo lũ quét. Người dân ven suối di chuyển đến nơi an toàn.');
    await page.fill('input[name=repeats]', '1');
    await page.check('input[name=test]');
    const section = page.locator('[data-testid=alert-versions-section]');
    await section.locator('summary').click();
    const versions = section.locator('[data-testid=language-versions]');
    await versions.locator('.lang-row[data-language=ium][data-has-version=false]').waitFor();
    const rows = versions.locator('.lang-row');
    expect(await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-language')))).toEqual(['hmn', 'ium']);
    // H'Mông: Thôn 01 of each commune.
    expect(await versions.locator('.lang-row[data-language=hmn]').innerText()).toContain('· 2 thôn');
    expect(await versions.locator('.lang-row[data-language=ium]').innerText()).toContain('· 1 thôn');
    expect(await versions.locator('[data-testid=spoken-languages]').innerText()).toBe("Các thôn nơi phát nghe bằng: Tiếng Việt, Tiếng H'Mông, Tiếng Dao (Iu Mien).");
    for (const [lang, id] of [
      ['hmn', media.hmn!],
      ['ium', media.ium!],
    ] as const) {
      await waitFor(`the ${lang} item offered`, async () => (await versions.locator(`select[name=version-${lang}] option[value="${id}"]`).count()) > 0, 60_000, 100);
      await versions.locator(`select[name=version-${lang}]`).selectOption(id);
    }
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-versions-two-communes-phone'), fullPage: true });

    await page.click('[data-testid=alert-form] button[type=submit]');
    const confirm = page.locator('[data-testid=alert-confirm]');
    await confirm.waitFor();
    expect(await confirm.locator('[data-testid=alert-versions-chosen]').getAttribute('data-languages')).toBe('hmn,ium');
    await page.click('[data-testid=send-alert]');
    await page.waitForURL((u) => /\/emergency\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith(encodeURIComponent(alertId)));
    alertId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const sent = (await t.api('GET', `/api/alerts/${alertId}`)).body;
    expect([...sent.alert.targetAreas].sort()).toEqual([COMMUNE_KEY, OTHER_KEY].sort());
  });

  it('the tracker names the village that missed its Dao version, and what it heard instead', async () => {
    const all = [...SITES, OTHER_STATION, OTHER_VILLAGE];
    const lines = await waitFor(
      'every site of both communes to complete the alert',
      async () => {
        const r = await t.api('GET', `/api/alerts/${alertId}/report?format=json`);
        const m = new Map((r.body.sites as Line[]).map((s) => [s.siteId, s]));
        return all.every((id) => m.get(id)?.status === 'completed') ? m : undefined;
      },
      120_000,
      250,
    );
    expect(refused.length).toBeGreaterThan(0);
    expect(lines.get(OTHER_VILLAGE)).toMatchObject({ languagesPlayed: ['hmn'], languagesMissed: ['ium'] });
    expect(lines.get(site(1))).toMatchObject({ languagesPlayed: ['hmn'] });

    const view = page.locator('[data-testid=alert-languages]');
    const missed = view.locator(`[data-testid=alert-villages] tr[data-site="${OTHER_VILLAGE}"][data-missed=ium]`);
    await missed.waitFor();
    expect(await missed.getAttribute('data-played')).toBe('hmn');
    expect(await missed.getAttribute('class')).toBe('warn');
    expect(await missed.locator('td').allInnerTexts()).toEqual([expect.any(String), "Tiếng H'Mông", 'Tiếng Dao (Iu Mien)']);
    await view.locator('li[data-language=ium][data-missed="1"]').waitFor();
    expect(await view.locator('li[data-language=ium]').innerText()).toBe('Tiếng Dao (Iu Mien): đã phát ở 0 trạm, thiếu ở 1 trạm');
    await view.locator('li[data-language=hmn][data-played="2"]').waitFor();
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('alert-languages-missed-phone'), fullPage: true });
    expect((await t.api('POST', `/api/alerts/${alertId}/cancel`)).status).toBe(200);
  });
});
