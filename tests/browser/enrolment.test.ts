/**
 * Board enrolment on a site's page, in a real Chromium at a phone's 390×844,
 * against a real server and a real (simulated) board: a technician makes a
 * code for a new site and sees it large, with its expiry in Vietnam's time
 * and as a QR code; the code shown is the one the server takes. For a site
 * whose board has connected, the button re-enrols and asks first, saying
 * the old board will be disconnected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';

const COMMUNE = '02683';
const NEW_SITE = 'lc-enrol-ui-01';
const TECHNICIAN = { username: 'kythuat.batxat', password: 'kỹ thuật Bát Xát 2026' };
const CODE = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

const run = haveTools('chromium');
let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;
let boardSite = '';
/** Every dialog the page opened, and how the next ones are answered. */
const dialogs: string[] = [];
let answer: 'accept' | 'dismiss' = 'dismiss';

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    fleets: [{ sites: 1, area: COMMUNE, kind: 'whole', idPrefix: 'ui' }],
    async prepare(s) {
      t = s.t;
      expect((await t.api('POST', '/api/sites', { id: NEW_SITE, name: 'Cụm loa thôn Nậm Chạc', kind: 'cluster', area: COMMUNE })).status).toBe(201);
      expect((await t.api('POST', '/api/users', { ...TECHNICIAN, role: 'technician', area: COMMUNE })).status).toBe(201);
      boardSite = await waitFor(
        'the simulated board to connect',
        async () => {
          const list = (await t.api<{ sites: Array<{ id: string; status: { connected: boolean } | null }> }>('GET', `/api/sites?area=${COMMUNE}`)).body.sites;
          return list.find((x) => x.id !== NEW_SITE && x.status?.connected)?.id;
        },
        30_000,
      );
    },
    login: TECHNICIAN,
    viewport: { width: 390, height: 844 },
    pageTimeoutMs: 30_000,
  });
  ({ page } = c);
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void (answer === 'accept' ? d.accept() : d.dismiss());
  });
}, 120_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('board enrolment on the site page', () => {
  it('a technician makes a code for a new site: large, with its expiry and a QR code, fitting a phone; the board can use it', async () => {
    await page.goto(`${t.baseUrl}/sites/${NEW_SITE}`);
    const button = page.locator('[data-testid=enrolment-make]');
    expect(await button.innerText()).toBe('Tạo mã đăng ký');
    await button.click();
    const code = (await page.locator('[data-testid=enrolment-code]').innerText()).trim();
    expect(code).toMatch(CODE);
    // A site never heard from: nothing to confirm.
    expect(dialogs).toEqual([]);
    // 24 h from now, in Vietnam's time (UTC+7) though the browser sits in Paris.
    const expires = await page.locator('[data-testid=enrolment-expires]').innerText();
    const m = /^Hết hạn lúc (\d{2}):(\d{2}):(\d{2}) (\d{2})\/(\d{2})\/(\d{4}) \(giờ Việt Nam\)/.exec(expires);
    expect(m, expires).not.toBeNull();
    const [hh, mi, ss, dd, mo, yyyy] = m!.slice(1).map(Number) as [number, number, number, number, number, number];
    const shownAt = Date.UTC(yyyy, mo - 1, dd, hh - 7, mi, ss);
    expect(Math.abs(shownAt - (Date.now() + 86_400_000))).toBeLessThan(120_000);
    const qr = page.locator('[data-testid=enrolment-qr]');
    expect(await qr.getAttribute('data-text')).toBe(`server=${t.baseUrl}\ncode=${code}\n`);
    expect((await qr.locator('path').getAttribute('d'))!.length).toBeGreaterThan(1000);
    expect(await page.locator('[data-testid=enrolment] code').innerText()).toBe(`sudo loanet-agent enrol --server ${t.baseUrl} --code ${code}`);

    // Large, and nothing wider than the phone.
    const box = (await page.locator('[data-testid=enrolment-code]').boundingBox())!;
    expect(box.height).toBeGreaterThanOrEqual(30);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    const qrBox = (await qr.boundingBox())!;
    expect(qrBox.width).toBeGreaterThanOrEqual(150);
    expect(qrBox.x + qrBox.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.locator('[data-testid=enrolment]').screenshot({ path: screenshotPath('enrolment-code-390') });

    // Back on the page later: the code is not shown again, only that one waits and until when.
    await page.reload();
    expect(await page.locator('[data-testid=enrolment-pending]').innerText()).toMatch(/^Có một mã chưa dùng: tạo lúc .* bởi kythuat\.batxat, hết hạn lúc /);
    expect(await page.locator('[data-testid=enrolment-code]').count()).toBe(0);

    // What the page showed is what the server takes.
    const r = await t.api('POST', '/api/enrol', { code }, { token: null });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ siteId: NEW_SITE });
    await page.reload();
    expect(await page.locator('[data-testid=enrolment-last]').innerText()).toMatch(/^Lần đăng ký gần nhất: .*, từ địa chỉ 127\.0\.0\.1\.$/);
    expect(await page.locator('[data-testid=enrolment-pending]').count()).toBe(0);
  });

  it('for a site whose board has connected, re-enrolment asks first and says the old board will be disconnected', async () => {
    await page.goto(`${t.baseUrl}/sites/${boardSite}`);
    const button = page.locator('[data-testid=enrolment-make]');
    expect(await button.innerText()).toBe('Đăng ký lại thiết bị');
    expect(await page.locator('[data-testid=enrolment]').innerText()).toContain('bo mạch cũ sẽ bị ngắt kết nối');

    answer = 'dismiss';
    await button.click();
    await waitFor('the confirmation', () => dialogs.length === 1);
    expect(dialogs[0]).toContain('bo mạch đang chạy tại trạm sẽ bị ngắt kết nối');
    expect(await page.locator('[data-testid=enrolment-code]').count()).toBe(0);

    answer = 'accept';
    await button.click();
    const code = (await page.locator('[data-testid=enrolment-code]').innerText()).trim();
    expect(code).toMatch(CODE);
    const r = await t.api('POST', '/api/enrol', { code }, { token: null });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor(
      'the old board to be cut off',
      async () => {
        const st = (await t.api<{ status: { connected: boolean; condition: string } | null }>('GET', `/api/sites/${boardSite}`)).body.status;
        return st?.connected === false || st?.condition === 'offline';
      },
      30_000,
    );
  });
});
