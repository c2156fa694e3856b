/**
 * The as-run in the villages' languages (Decree 49/2024/NĐ-CP), as a commune
 * operator reads it on a phone, in a real Chromium against a real server
 * whose agents really played the bulletin: from the schedule page's as-run
 * log, the view of one occurrence says village by village which heard it in
 * its own language and which fell back, to which version and why, in
 * Vietnamese and in English, at the time it played (Asia/Ho_Chi_Minh), and
 * nothing wider than the screen.
 *
 * Xã Bát Xát: Thôn 01 speaks [hmn, vi], Thôn 02 [ium, vi], Thôn 03 the
 * default [vi], Thôn 04 [tyz]; the bulletin has Vietnamese and H'Mông
 * versions. Thôn 01, Thôn 03 and the station hear their own language; Thôn 02
 * (no Dao version) and Thôn 04 (no Tày version) fall back to Vietnamese.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { uploadTone } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { wallTimeAt } from '../../server/time/zone.ts';
import type { AsRunLanguagesSite, AsRunVersionOutcome } from '../../api/index.ts';
import * as siteWords from '../../api/words/site-words.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const COMMUNE_KEY = `2025.${COMMUNE}`;
const PREFIX = 'arl';
const PHONE = { width: 390, height: 844 };
const OPERATOR = { username: 'vh-bat-xat', password: 'password-of-vh-bat-xat' };
const VERSION_S = 2;
/** Village → its languages; village 03 keeps the default (Vietnamese). */
const VILLAGES: Record<number, string[]> = { 1: ['hmn', 'vi'], 2: ['ium', 'vi'], 4: ['tyz'] };

const site = (n: number) => `${PREFIX}-${COMMUNE}-v0${n}`;
const STATION = `${PREFIX}-${COMMUNE}-st`;
const SITES = [STATION, site(1), site(2), site(3), site(4)];

const run = haveTools('chromium', 'ffmpeg');

let c: ConsoleSetup | undefined;
let t: TestServer;
let page: Page;
let itemId: string;
let at: number;
/** What Thôn 01's receipt says of each version: played, or late when a loaded machine started it late. */
let village1: AsRunVersionOutcome[];

/** Thôn 01's versions as the page words them, in `words`' language (Hmong first, then Vietnamese). */
const village1Words = (words: typeof siteWords.vi, names: Record<string, string>) =>
  village1
    .map((v) => `${names[v.language]}: ${words[`asRun_${v.outcome}` as keyof typeof words]}${v.reason ? ` (${words[`why_${v.reason}` as keyof typeof words]})` : ''}`)
    .join('; ');

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

/** Opens the view of the bulletin's occurrence from the as-run log, and returns it once every village's row is there. */
async function openView() {
  await page.goto(`${t.baseUrl}/schedule`);
  const button = page.locator(`[data-testid=as-run] tr[data-item="${itemId}"][data-site="${site(4)}"] [data-action=as-run-languages]`);
  await button.click();
  const view = page.locator(`[data-testid=as-run-languages][data-item="${itemId}"]`);
  await view.locator(`tr[data-site="${site(4)}"]`).waitFor();
  return view;
}

/** Whether the element's top is within the viewport (the reader sees it without scrolling). */
const inView = (p: Page, selector: string) =>
  p.evaluate<boolean>(`(() => {
    const r = document.querySelector(${JSON.stringify(selector)})?.getBoundingClientRect();
    return !!r && r.top >= 0 && r.top < window.innerHeight;
  })()`);

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-as-run-languages-',
    fleets: [{ sites: 5, area: COMMUNE, kind: 'playout', idPrefix: PREFIX }],
    login: null,
    prepare: async ({ t: server, dir, fleets }) => {
      const media: Record<string, string> = {};
      for (const [lang, hz] of [
        ['vi', 440],
        ['hmn', 550],
      ] as const) {
        const id = await uploadTone(server, dir, { title: `Bản tin (${lang})`, seconds: VERSION_S, hz });
        const r = await server.api('PATCH', `/api/media/${id}`, { lang });
        expect(r.status).toBe(200);
        media[lang] = id;
      }
      for (const [n, languages] of Object.entries(VILLAGES)) {
        const r = await server.api('PUT', `/api/areas/${COMMUNE_KEY}-0${n}/languages`, { languages });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
      const u = await server.api('POST', '/api/users', { ...OPERATOR, role: 'operator', area: COMMUNE });
      expect(u.status, JSON.stringify(u.body)).toBe(201);

      at = Date.now() + 20_000;
      const created = await server.api('POST', '/api/schedule/items', {
        title: 'Thông báo tiêm chủng',
        mediaId: media.vi,
        versions: [{ language: 'hmn', mediaId: media.hmn }],
        targets: { areas: [COMMUNE] },
        start: { at },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      itemId = created.body.id;
      expect((await server.api('POST', `/api/schedule/items/${itemId}/approve`)).status).toBe(200);
      const entryId = `${itemId}@${at}`;
      // Played by the agents, and every receipt at the server, before anyone looks.
      await waitFor('every site to play it', () => SITES.every((id) => fleets[0]!.site(id).agent.playout?.journal.has(entryId)), at - Date.now() + 60_000, 100);
      await waitFor(
        'every receipt at the server',
        async () => {
          const r = await server.api('GET', `/api/as-run/languages?item=${itemId}&entry=${encodeURIComponent(entryId)}&area=${COMMUNE}`);
          return r.body.summary?.sites === SITES.length && r.body.summary.unknown === 0;
        },
        60_000,
        200,
      );
      const r = await server.api('GET', `/api/as-run/languages?item=${itemId}&entry=${encodeURIComponent(entryId)}&area=${COMMUNE}`);
      village1 = (r.body.sites as AsRunLanguagesSite[]).find((x) => x.siteId === site(1))!.versions;
    },
  });
  t = c.t;
  page = await c.openPageAs(OPERATOR.username, OPERATOR.password, PHONE);
}, 300_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('which villages heard the bulletin in their own language, on a commune operator’s phone', { timeout: 300_000 }, () => {
  it('in Vietnamese: own language or fallback, village by village, to which version and why', async () => {
    await useLang('vi');
    const view = await openView();
    // Opened from a row far down the log, the view is where the operator looks.
    expect(await inView(page, '[data-testid=as-run-languages]'), 'the view is on screen once opened').toBe(true);
    const row = (id: string) => view.locator(`tr[data-site="${id}"]`);
    for (const id of [STATION, site(1), site(3)]) expect(await row(id).getAttribute('data-heard'), id).toBe('true');
    for (const id of [site(2), site(4)]) {
      expect(await row(id).getAttribute('data-heard'), id).toBe('false');
      expect(await row(id).getAttribute('data-reason'), id).toBe('no_version');
    }
    expect(await view.locator('[data-testid=as-run-languages-summary]').innerText()).toBe('3/5 trạm nghe bằng tiếng của mình, 2 trạm nghe bản tiếng khác thay.');
    // The title names the bulletin and when it played, in Vietnam's time.
    const w = wallTimeAt(at, 'Asia/Ho_Chi_Minh');
    const hhmm = `${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
    expect(await view.locator('strong').first().innerText()).toMatch(new RegExp(`Thông báo tiêm chủng.*${hhmm}`));

    const h1 = await row(site(1)).innerText();
    expect(h1).toContain("Tiếng H'Mông, Tiếng Việt");
    expect(village1.map((v) => v.language)).toEqual(['hmn', 'vi']);
    expect(h1).toContain(village1Words(siteWords.vi, { hmn: "Tiếng H'Mông", vi: 'Tiếng Việt' }));
    // Thôn 04 speaks Tày only: it heard the Vietnamese version, and the page says so in plain Vietnamese.
    const h4 = await row(site(4)).innerText();
    expect(h4).toContain('Không: chưa có bản tiếng Tày, đã phát bản tiếng Việt');
    expect(h4, 'a language is named in lower case mid-sentence').not.toMatch(/bản Tiếng/);
    // Thôn 02 speaks Dao first: Vietnamese was its second language, still not its own.
    expect(await row(site(2)).innerText()).toContain('Không: chưa có bản tiếng Dao');
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('as-run-languages-phone-vi'), fullPage: true });
  });

  it('in English: the same, in English words', async () => {
    await useLang('en');
    const view = await openView();
    expect(await view.locator('[data-testid=as-run-languages-summary]').innerText()).toBe('3/5 sites heard it in their own language, 2 fell back to another version.');
    const h4 = await view.locator(`tr[data-site="${site(4)}"]`).innerText();
    expect(h4).toContain('No: no Tày version, the Vietnamese version played');
    const h1 = await view.locator(`tr[data-site="${site(1)}"]`).innerText();
    expect(h1).toContain(village1Words(siteWords.en, { hmn: 'Hmong', vi: 'Vietnamese' }));
    const text = await view.innerText();
    for (const vi of ['Đã phát', 'Không:', 'chưa có', 'Tiếng ', 'trạm']) expect(text, `"${vi}" in the English view`).not.toContain(vi);
    await fitsTheScreen();
    await page.screenshot({ path: screenshotPath('as-run-languages-phone-en'), fullPage: true });
  });
});
