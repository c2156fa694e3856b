/**
 * Alerts as each person must see them, in a real Chromium at a phone's
 * 390×844 and a laptop's 1366×768, against a real server and real agents
 * that play: a commune operator's bar shows only the alerts that cover its
 * commune (its own, the province's), several in one line with a count that
 * opens to the list, and nothing on the page moves when one arrives; an
 * official sends an alert to several communes with a chime, repeats, a
 * volume and a validity (checked on the created alert through the API), or
 * to an area drawn on the map; "Dừng cảnh báo" asks first; after the
 * cancel the tracker says what played before it, never "100 %".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';

const BAT_XAT = '2025.02683'; // the operator's commune; the agents that play are here
const CAM_DUONG = '2025.02671';
const HOP_THANH = '2025.02680';
const PROVINCE = '2025.15';
const SIZES = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
] as const;

const run = haveTools('chromium', 'ffmpeg', 'espeak-ng');

let t: TestServer;
let c: ConsoleSetup | undefined;
let mediaId: string;
const drawnSites: string[] = [];

interface AlertBody {
  id: string;
  state: string;
  title: string;
  targetAreas: string[];
  attention: string | null;
  repeats: number;
  volume: number | null;
  validUntil: number;
  createdAt: number;
  polygon: Array<[number, number]> | null;
  sites: string[] | null;
  delivery: { confirmedPlaying: number; targeted: number; completed: number; stopped: number };
}

async function startAlert(title: string, areas: string[]): Promise<string> {
  const r = await t.api('POST', '/api/alerts', { title, areas, message: { mediaId }, test: true, validForMinutes: 120 });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id;
}

async function cancelAll(): Promise<void> {
  const active = (await t.api('GET', '/api/alerts?state=active')).body.alerts as AlertBody[];
  for (const a of active) expect((await t.api('POST', `/api/alerts/${a.id}/cancel`)).status).toBe(200);
}

function openAs(size: (typeof SIZES)[number], user: string, password: string): Promise<Page> {
  return c!.openPageAs(user, password, { width: size.width, height: size.height });
}

/** Where every visible control and heading of the page is on the screen (what a finger would hit). */
function positions(page: Page): Promise<string[]> {
  return readPositions(page);
}

/** The positions once the page has settled: the same on three reads in a row (its data loaded, its fonts laid out). */
async function settled(page: Page): Promise<string[]> {
  const seen: string[] = [];
  return waitFor(
    'the page laid out and still',
    async () => {
      seen.push(JSON.stringify(await readPositions(page)));
      const last = seen.slice(-3);
      return last.length === 3 && last.every((x) => x === last[0]) ? (JSON.parse(last[0]!) as string[]) : undefined;
    },
    60_000,
    200,
  );
}

function readPositions(page: Page): Promise<string[]> {
  // A string: the tests are typed without the DOM's names.
  return page.evaluate<string[]>(`[...document.querySelectorAll('header a, header button, main h1, main h2, main a, main button, main input, main select, main textarea')]
    .map((e) => e.getBoundingClientRect())
    .filter((r) => r.width > 0 && r.height > 0)
    .map((r) => Math.round(r.left) + ',' + Math.round(r.top) + ',' + Math.round(r.width) + 'x' + Math.round(r.height))`);
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-alerts-per-user-',
    fleets: [{ sites: 2, area: BAT_XAT.split('.')[1]! }],
    async prepare(s) {
      t = s.t;
      // Sites of other communes (registered, never connected) and three placed ones to draw around.
      for (const [name, area] of [
        ['Đài Cam Đường', CAM_DUONG],
        ['Đài Hợp Thành', HOP_THANH],
      ] as const) {
        expect((await t.api('POST', '/api/sites', { name, kind: 'station', area })).status).toBe(201);
      }
      for (const [i, lat, lon] of [
        [1, 22.36, 103.95],
        [2, 22.38, 103.98],
        [3, 22.35, 103.99],
      ] as const) {
        const r = await t.api('POST', '/api/sites', { name: `Cụm loa Hợp Thành ${i}`, kind: 'cluster', area: HOP_THANH, lat, lon });
        expect(r.status).toBe(201);
        drawnSites.push(r.body.site.id);
      }
      for (const [username, role, area] of [
        ['op-batxat', 'operator', BAT_XAT],
        ['pctt-tinh', 'emergency', undefined],
      ] as const) {
        const r = await t.api('POST', '/api/users', { username, password: `password-of-${username}`, role, ...(area ? { area } : {}) });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
      }
      const m = await t.api('POST', '/api/media/tts', { title: 'Thông báo thử', text: 'Đây là thông báo thử của hệ thống truyền thanh.' });
      expect(m.status, JSON.stringify(m.body)).toBe(201);
      mediaId = m.body.id;
    },
    // Each test opens its pages as the person it is about.
    login: null,
  });
}, 240_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('alerts as each person sees them', { timeout: 600_000 }, () => {
  it.each(SIZES)('a commune operator ($name) sees only the alerts covering its commune, in one line with a count, and nothing moves when one arrives', async (size) => {
    await cancelAll();
    // Two alerts of other communes, in force before the operator opens the console.
    await startAlert(`Cháy rừng Cam Đường (${size.name})`, [CAM_DUONG]);
    await startAlert(`Sạt lở Hợp Thành (${size.name})`, [HOP_THANH]);
    const page = await openAs(size, 'op-batxat', 'password-of-op-batxat');
    await page.click('header nav a[href="/schedule"]');
    await page.locator('[data-testid=broadcast-form]').waitFor();
    // Other communes' alerts never show: the bar is absent while only they are in force.
    expect(await page.locator('[data-testid=alert-banner]').count()).toBe(0);
    await page.evaluate('window.scrollTo(0, 120)');
    const before = await settled(page);
    const scrollBefore = await page.evaluate<number>('window.scrollY');

    await startAlert(`Lũ quét Bát Xát (${size.name})`, [BAT_XAT]);
    const bar = page.locator('[data-testid=alert-banner]');
    await page.locator('[data-testid=alert-banner][data-count="1"]').waitFor();
    expect(await bar.innerText()).toContain(`Diễn tập (không phải cảnh báo thật): Lũ quét Bát Xát (${size.name})`);
    expect(await positions(page)).toEqual(before);
    expect(await page.evaluate<number>('window.scrollY')).toBe(scrollBefore);

    // The province's alert covers the commune too: one line, with the count.
    await startAlert(`Bão toàn tỉnh (${size.name})`, [PROVINCE]);
    await page.locator('[data-testid=alert-banner][data-count="2"]').waitFor();
    expect(await positions(page)).toEqual(before);
    const line = page.locator('[data-testid=alert-banner-line]');
    expect(await line.innerText()).toMatch(/^⚠ 2 CẢNH BÁO ĐANG HIỆU LỰC: /);
    // One line at the bottom of the screen, over the page.
    const box = (await bar.boundingBox())!;
    expect(box.height).toBeLessThanOrEqual(48);
    expect(Math.round(box.y + box.height)).toBe(size.height);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(size.width);
    await page.screenshot({ path: screenshotPath(`alert-bar-operator-${size.name}`) });

    // Opened, it lists exactly the two alerts of its commune; closed again, nothing of the page moved.
    await page.click('[data-testid=alert-banner-toggle]');
    const list = await page.locator('[data-testid=alert-banner-list]').innerText();
    expect(list).toContain(`Lũ quét Bát Xát (${size.name})`);
    expect(list).toContain(`Bão toàn tỉnh (${size.name})`);
    expect(list).not.toContain('Cam Đường');
    expect(list).not.toContain('Hợp Thành');
    await page.screenshot({ path: screenshotPath(`alert-bar-operator-open-${size.name}`) });
    expect(await positions(page)).toEqual(before);
    await page.click('[data-testid=alert-banner-toggle]');
    await page.locator('[data-testid=alert-banner-list]').waitFor({ state: 'detached' });
    await page.close();

    // The provincial official (no area) sees all four.
    const official = await openAs(size, 'pctt-tinh', 'password-of-pctt-tinh');
    await official.locator('[data-testid=alert-banner][data-count="4"]').waitFor();
    await official.close();
  });

  it('the official sends to several communes with a chime, repeats, volume and validity (phone); stopping asks first; the tracker then says what played before the cancel', async () => {
    await cancelAll();
    const page = await openAs(SIZES[0], 'pctt-tinh', 'password-of-pctt-tinh');
    await page.click('header nav a[href="/emergency"]');
    const form = page.locator('[data-testid=alert-form]');
    await form.waitFor();
    await page.check('input[name=where][value=communes]');
    await page.fill('input[name=communeFilter]', 'Bát');
    await page.check(`input[name=area][value="${BAT_XAT}"]`);
    await page.fill('input[name=communeFilter]', 'Cam');
    await page.check(`input[name=area][value="${CAM_DUONG}"]`);
    await page.locator('[data-testid=chosen-communes][data-n="2"]').waitFor();
    await page.selectOption('select[name=template]', 'flood');
    await page.selectOption('select[name=attention]', 'chime');
    await page.fill('input[name=repeats]', '2');
    await page.check('input[name=ownVolume]');
    await page.locator('input[name=volume]').fill('70');
    await page.selectOption('select[name=validFor]', '30');
    await page.check('input[name=test]');
    const next = form.locator('button[type=submit]');
    // The first button says what it does.
    expect((await next.innerText()).trim()).toBe('Tiếp tục: xem lại trước khi phát');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: screenshotPath('emergency-compose-phone'), fullPage: true });
    await next.click();
    const confirm = page.locator('[data-testid=alert-confirm]');
    await confirm.waitFor();
    const said = await confirm.innerText();
    expect(said).toContain('2 xã: Xã Bát Xát, Phường Cam Đường');
    expect(said).toContain('3 trạm');
    expect(await page.locator('[data-testid=alert-settings]').innerText()).toMatch(/Chuông · phát 2 lần · âm lượng 70\s% · hiệu lực đến \d\d:\d\d/);
    const sentAt = Date.now();
    await page.click('[data-testid=send-alert]');
    await page.waitForURL(/\/emergency\/alr-/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const created = (await t.api('GET', `/api/alerts/${id}`)).body.alert as AlertBody;
    expect(created).toMatchObject({ state: 'active', title: 'Lũ quét, sạt lở đất', attention: 'chime', repeats: 2, volume: 70 });
    expect([...created.targetAreas].sort()).toEqual([CAM_DUONG, BAT_XAT].sort());
    expect(created.validUntil).toBeGreaterThanOrEqual(sentAt + 30 * 60_000 - 5_000);
    expect(created.validUntil).toBeLessThanOrEqual(Date.now() + 30 * 60_000);

    // The commune's agents play the message before it is stopped.
    await waitFor('a site playing the message', async () => ((await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.confirmedPlaying as number) >= 1, 120_000, 250);
    await page.locator('[data-testid=alert-progress][data-state=active]').waitFor();
    // The tracker reaches the alert's audio, which the bulletin library does not list.
    const audio = page.locator('[data-testid=alert-audio]');
    await audio.waitFor();
    const audioId = await audio.getAttribute('data-media');
    expect(audioId).toBe((await t.api('GET', `/api/alerts/${id}`)).body.alert.media.mediaId);
    const played = await page.evaluate<number>(`fetch(document.querySelector('[data-testid=alert-audio]').src).then((r) => r.status)`);
    expect(played).toBe(200);
    expect(((await t.api('GET', '/api/media?limit=1000')).body.items as Array<{ id: string }>).map((m) => m.id)).not.toContain(audioId);

    // "Dừng cảnh báo" asks; said no, the alert goes on.
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await page.click('button:has-text("Dừng cảnh báo")');
    await waitFor('the question asked', () => asked.length === 1);
    expect(asked[0]).toContain('Dừng cảnh báo "Lũ quét, sạt lở đất"?');
    expect((await t.api('GET', `/api/alerts/${id}`)).body.alert.state).toBe('active');
    page.once('dialog', (d) => void d.accept());
    await page.click('button:has-text("Dừng cảnh báo")');
    await page.locator('[data-testid=alert-ended][data-state=cancelled]').waitFor();
    const after = (await t.api('GET', `/api/alerts/${id}`)).body as { alert: AlertBody; delivery: { counts: AlertBody['delivery'] } };
    expect(after.alert.state).toBe('cancelled');
    // The tracker's words match what the server counted, and never read as a finished 100 %.
    const c = after.delivery.counts;
    const progress = page.locator('[data-testid=alert-progress]');
    await page.locator(`[data-testid=alert-progress][data-state=cancelled][data-reached="${c.confirmedPlaying}"]`).waitFor();
    const text = await progress.innerText();
    expect(text).toBe(`Trước khi hủy, đã phát bản tin ở ${c.confirmedPlaying} / ${c.targeted} trạm`);
    const tracker = await page.locator('section.tracker').innerText();
    expect(tracker).not.toContain('%');
    expect(tracker).toContain('Đã hủy lúc');
    expect(tracker).toContain('pctt-tinh');
    const detail = page.locator('[data-testid=alert-ended-detail]');
    expect(Number(await detail.getAttribute('data-completed')) + Number(await detail.getAttribute('data-stopped'))).toBeLessThanOrEqual(c.targeted);
    expect(await detail.innerText()).toContain('trạm không phát');
    expect(await page.locator('button:has-text("Dừng cảnh báo")').count()).toBe(0);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: screenshotPath('emergency-tracker-cancelled-phone'), fullPage: true });
    await page.close();
  });

  it('the official draws an area on the map (laptop): the alert goes to the sites inside it', async () => {
    await cancelAll();
    const page = await openAs(SIZES[1], 'pctt-tinh', 'password-of-pctt-tinh');
    await page.click('header nav a[href="/emergency"]');
    await page.check('input[name=where][value=polygon]');
    const draw = page.locator('[data-testid=polygon-draw]');
    await draw.waitFor();
    // Around the sites of Hợp Thành as they are drawn (a commune's station is placed at its centre when it has no
    // coordinates of its own), and no other: the corners of their box, a little outside it.
    const hopThanh = ((await t.api('GET', `/api/sites?area=${HOP_THANH}&brief=true`)).body.sites as Array<{ id: string }>).map((x) => x.id).sort();
    expect(hopThanh).toEqual(expect.arrayContaining(drawnSites));
    await draw.locator('svg').scrollIntoViewIfNeeded();
    const boxes = await Promise.all(hopThanh.map(async (id) => (await draw.locator(`circle[data-site="${id}"]`).boundingBox())!));
    const [x0, y0] = [Math.min(...boxes.map((b) => b.x)) - 8, Math.min(...boxes.map((b) => b.y)) - 8];
    const [x1, y1] = [Math.max(...boxes.map((b) => b.x + b.width)) + 8, Math.max(...boxes.map((b) => b.y + b.height)) + 8];
    for (const [x, y] of [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
    ])
      await page.mouse.click(x!, y!);
    await page.locator(`[data-testid=polygon-draw][data-corners="4"][data-inside="${hopThanh.length}"]`).waitFor();
    const marked = await draw.locator('circle[data-inside=true]').evaluateAll((cs) => cs.map((c) => c.getAttribute('data-site')));
    expect(marked.sort()).toEqual(hopThanh);
    await page.fill('textarea[name=text]', 'Cảnh báo sạt lở đất khu vực đồi Hợp Thành, người dân rời khỏi chân đồi.');
    await page.screenshot({ path: screenshotPath('emergency-draw-laptop') });
    await page.click('[data-testid=alert-form] button[type=submit]');
    await page.locator('[data-testid=alert-confirm]', { hasText: 'vùng đã vẽ (4 điểm)' }).waitFor();
    expect(await page.locator('[data-testid=alert-confirm]').innerText()).toContain(`${hopThanh.length} trạm`);
    await page.click('[data-testid=send-alert]');
    await page.waitForURL(/\/emergency\/alr-/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const a = (await t.api('GET', `/api/alerts/${id}`)).body.alert as AlertBody;
    expect(a.polygon).toHaveLength(4);
    expect([...(a.sites ?? [])].sort()).toEqual(hopThanh);
    expect(a).toMatchObject({ attention: 'siren', repeats: 3, volume: null });
    await t.api('POST', `/api/alerts/${id}/cancel`);
    await page.close();
  });
});
