/**
 * The schedule page, the 30-day chart and the users form as a commune office
 * meets them: on a 390 × 844 phone and a 1366 × 768 laptop, in a real
 * Chromium, against a real server with a small commune of real simulated
 * sites. Nothing is wider than the screen; approve and cancel are visible and
 * work; the week calendar names its days (Vietnamese, then English) and a
 * daily item says how it repeats; a save the server refuses says why; the
 * chart draws the network's first snapshot and keeps its labels inside; the
 * username rule is written beside the field. A screenshot per page and size
 * goes to test-output/screenshots/.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { fillMoment } from './date-fields.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 3;
const HEARTBEAT_S = 2;
const SIZES = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
] as const;
const WEEKDAYS = {
  vi: ['Chủ nhật', 'Thứ Hai', 'Thứ Ba', 'Thứ Tư', 'Thứ Năm', 'Thứ Sáu', 'Thứ Bảy'],
  en: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
};
const LONG_TITLE = 'Bản tin phòng chống thiên tai và tìm kiếm cứu nạn của Ủy ban nhân dân xã Bát Xát phát trên hệ thống truyền thanh cơ sở tháng mười hai';

const run = haveTools('chromium', 'ffmpeg');

let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;
let dir: string;
let mediaId: string;
let dailyId: string;

/** "YYYY-MM-DDTHH:mm" in Asia/Ho_Chi_Minh (UTC+7, no daylight saving). */
const localInput = (ms: number) => new Date(ms + 7 * 3_600_000).toISOString().slice(0, 16);
/** The weekday (0 = Sunday) of an instant in Asia/Ho_Chi_Minh. */
const hcmWeekday = (ms: number) => new Date(ms + 7 * 3_600_000).getUTCDay();

/** Nothing scrolls sideways and no element reaches past the right edge of the screen. */
async function nothingWiderThanTheScreen(where: string): Promise<void> {
  const r = await page.evaluate<{ doc: number; body: number; view: number; over: string[] }>(`(() => {
    const view = window.innerWidth;
    const over = [];
    for (const el of document.querySelectorAll('body *')) {
      const b = el.getBoundingClientRect();
      if (b.width === 0 || b.height === 0) continue;
      // Inside a box that scrolls or clips sideways, an element may lie past the edge: it is reached by scrolling that box.
      let clipped = false;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') { const pb = p.getBoundingClientRect(); if (pb.right <= view + 0.5) { clipped = true; break; } }
      }
      if (!clipped && (b.right > view + 0.5 || b.left < -0.5)) over.push(el.tagName.toLowerCase() + (el.getAttribute('data-testid') ? '[' + el.getAttribute('data-testid') + ']' : '') + (el.getAttribute('name') ? '[name=' + el.getAttribute('name') + ']' : '') + ' ' + Math.round(b.left) + '..' + Math.round(b.right));
    }
    return { doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view, over: over.slice(0, 10) };
  })()`);
  expect(r.over, `${where}: elements past the screen's edge`).toEqual([]);
  expect(r.doc, `${where}: page scroll width`).toBeLessThanOrEqual(r.view);
  expect(r.body, `${where}: body scroll width`).toBeLessThanOrEqual(r.view);
}

/** A button is on screen (not clipped at either side), has a size one can press, and is the element under its centre. */
async function reachable(selector: string, width: number): Promise<void> {
  const el = page.locator(selector);
  await el.scrollIntoViewIfNeeded();
  const b = await el.boundingBox();
  expect(b, selector).not.toBeNull();
  expect(b!.x, selector).toBeGreaterThanOrEqual(0);
  expect(b!.x + b!.width, selector).toBeLessThanOrEqual(width);
  expect(b!.height, selector).toBeGreaterThanOrEqual(24);
  const onTop = await page.evaluate<boolean>(`(() => {
    const node = document.querySelector(${JSON.stringify(selector)});
    const r = node.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit === node || node.contains(hit);
  })()`);
  expect(onTop, `${selector} is under its own centre`).toBe(true);
}

async function setLang(l: 'vi' | 'en'): Promise<void> {
  await page.click(`header [data-lang=${l}]`);
  await waitFor(`the console in ${l}`, async () => (await page.evaluate<string>('document.documentElement.lang')) === l);
}

async function createItem(body: Record<string, unknown>): Promise<string> {
  const r = await t.api('POST', '/api/schedule/items', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-schedule-phone-',
    // History snapshots hourly: the test takes the ones it wants, as a network in its first minutes has them.
    env: { LOANET_HEARTBEAT_S: String(HEARTBEAT_S), LOANET_HISTORY_S: '3600' },
    fleets: [{ sites: SITES, area: COMMUNE, kind: 'whole', heartbeatS: HEARTBEAT_S, idPrefix: 'sp' }],
    async prepare(s) {
      ({ t, dir } = s);
      await waitFor(
        `${SITES} sites online`,
        async () => (await t.api('GET', `/api/coverage?area=${COMMUNE}`)).body.sites === SITES && (await t.api('GET', `/api/coverage?area=${COMMUNE}`)).body.offline === 0,
        60_000,
        250,
      );

      const wav = path.join(dir, 'ban-tin.wav');
      ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', wav);
      const up = await uploadFile(t, wav, { title: LONG_TITLE });
      expect(up.status, JSON.stringify(up.body)).toBe(201);
      mediaId = up.body.id;
      await waitFor('the bulletin ready', async () => (await t.api('GET', `/api/media/${mediaId}`)).body.status === 'ready', 60_000, 200);

      // A daily bulletin at 06:30, approved; a one-off draft tomorrow.
      const today = localInput(Date.now()).slice(0, 10);
      dailyId = await createItem({ title: 'Bản tin sáng', mediaId, targets: { areas: [COMMUNE] }, start: { dtstart: `${today}T06:30`, rrule: 'FREQ=DAILY;BYHOUR=6;BYMINUTE=30' } });
      expect((await t.api('POST', `/api/schedule/items/${dailyId}/approve`)).status).toBe(200);
    },
    viewport: { width: 390, height: 844 },
    pageTimeoutMs: 60_000,
  });
  page = c.page;
}, 240_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('the schedule page, the chart and the users form on a phone and a laptop', { timeout: 300_000 }, () => {
  for (const size of SIZES) {
    it(`schedule at ${size.width}x${size.height}: nothing wider than the screen, approve and cancel reachable and working, weekdays and recurrence in Vietnamese then English`, async () => {
      await page.setViewportSize({ width: size.width, height: size.height });
      await setLang('vi');
      // A draft for this size, in the evening (the daily item is in the morning): it is approved, then cancelled.
      const title = `Thông báo họp thôn ${size.name}`;
      const draft = await createItem({
        title,
        mediaId,
        targets: { areas: [COMMUNE] },
        start: { at: `${localInput(Date.now() + 86_400_000).slice(0, 10)}T${size.name === 'phone' ? '19:00' : '20:00'}` },
      });
      await page.goto(`${t.baseUrl}/schedule`);
      const row = page.locator(`[data-testid=items] tr[data-item="${draft}"]`);
      await row.waitFor();
      await page.locator(`[data-testid=week] [data-item="${dailyId}"]`).first().waitFor();
      // The long media title chosen in the form's select: the select stays inside the screen.
      await page.selectOption('select[name=mediaId]', mediaId);
      await nothingWiderThanTheScreen(`schedule ${size.name}`);
      // The items fit their own box too: no column (nor its buttons) hidden to the right of a sideways scroll.
      for (const table of ['items', 'as-run', 'library']) {
        const box = await page.locator(`[data-testid=${table}]`).evaluate((el) => ({ scroll: el.parentElement!.scrollWidth, client: el.parentElement!.clientWidth }));
        expect(box.scroll, `${table} at ${size.width} px`).toBeLessThanOrEqual(box.client);
      }
      const select = await page.locator('select[name=mediaId]').boundingBox();
      expect(select!.x + select!.width).toBeLessThanOrEqual(size.width);

      // The week names its days, from today, in Asia/Ho_Chi_Minh (the browser sits in Paris).
      const first = hcmWeekday(Date.now());
      const expected = (l: 'vi' | 'en') => Array.from({ length: 7 }, (_, i) => WEEKDAYS[l][(first + i) % 7]);
      expect(await page.locator('[data-testid=week] [data-testid=weekday]').allInnerTexts()).toEqual(expected('vi'));
      // The daily item says how it repeats, in the calendar and in the list.
      const daily = page.locator(`[data-testid=week] [data-item="${dailyId}"]`);
      expect(await daily.count()).toBeGreaterThanOrEqual(6); // every day of the week but maybe today's, already past
      expect(await daily.first().locator('[data-testid=recurrence]').innerText()).toContain('Hằng ngày 06:30');
      expect(await page.locator(`[data-testid=items] tr[data-item="${dailyId}"] [data-testid=recurrence]`).innerText()).toContain('Hằng ngày 06:30');
      await page.screenshot({ path: screenshotPath(`schedule-${size.name}-vi`), fullPage: true });

      // Approve, then cancel: both buttons on screen, pressable, and they do what they say.
      await reachable(`[data-testid=items] tr[data-item="${draft}"] [data-action=approve]`, size.width);
      await reachable(`[data-testid=items] tr[data-item="${draft}"] [data-action=cancel]`, size.width);
      expect(await row.locator('[data-action=approve]').innerText()).toBe('Duyệt');
      expect(await row.locator('[data-action=cancel]').innerText()).toBe('Hủy');
      await row.locator('[data-action=approve]').click();
      await page.locator(`[data-testid=items] tr[data-item="${draft}"][data-status=approved]`).waitFor();
      expect((await t.api('GET', `/api/schedule/items/${draft}`)).body.status).toBe('approved');
      await reachable(`[data-testid=items] tr[data-item="${draft}"] [data-action=cancel]`, size.width);
      await row.locator('[data-action=cancel]').click();
      await page.locator(`[data-testid=items] tr[data-item="${draft}"][data-status=cancelled]`).waitFor();
      expect((await t.api('GET', `/api/schedule/items/${draft}`)).body.status).toBe('cancelled');
      await nothingWiderThanTheScreen(`schedule ${size.name} after approve and cancel`);

      // English: the same days and the recurrence in English words.
      await setLang('en');
      expect(await page.locator('[data-testid=week] [data-testid=weekday]').allInnerTexts()).toEqual(expected('en'));
      expect(await daily.first().locator('[data-testid=recurrence]').innerText()).toContain('Daily 06:30');
      await nothingWiderThanTheScreen(`schedule ${size.name} in English`);
      await page.screenshot({ path: screenshotPath(`schedule-${size.name}-en`), fullPage: true });
      await setLang('vi');
    });
  }

  it('a save the server refuses says why, in Vietnamese, then in English', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await setLang('vi');
    await page.goto(`${t.baseUrl}/schedule`);
    await page.locator('[data-testid=broadcast-form]').waitFor();
    const slot = `${localInput(Date.now() + 2 * 86_400_000).slice(0, 10)}T15:00`;
    const fill = async (title: string) => {
      await page.fill('input[name=title]', title);
      await page.selectOption('select[name=mediaId]', mediaId);
      await page.selectOption('[data-testid=broadcast-form] select[name=area]', `2025.${COMMUNE}`);
      await fillMoment(page, 'start', slot);
      await page.locator('[data-testid=check-result][data-ok=true]').waitFor();
    };
    await fill('Bản tin chiều');
    // Meanwhile, someone else approves another bulletin at the same time for the same commune.
    const other = await createItem({ title: 'Thông báo của xã', mediaId, targets: { areas: [COMMUNE] }, start: { at: slot } });
    expect((await t.api('POST', `/api/schedule/items/${other}/approve`)).status).toBe(200);
    await page.click('[data-testid=broadcast-form] button[type=submit]');
    const error = page.locator('[data-testid=form-error]');
    await error.waitFor();
    const vi = await error.innerText();
    expect(vi).toMatch(/^Chưa lưu được: /);
    expect(vi).toContain('Thông báo của xã');
    expect(vi).toContain('hãy đổi giờ');
    expect(await page.locator('[data-testid=saved-item]').count()).toBe(0);
    // The form is checked again: it now shows the conflict, not a stale "no conflict", and saving stays off until the time changes.
    await page.locator('[data-testid=check-result][data-ok=false]', { hasText: 'Thông báo của xã' }).waitFor();
    expect(await page.isDisabled('[data-testid=broadcast-form] button[type=submit]')).toBe(true);
    await nothingWiderThanTheScreen('schedule with a refused save');
    await page.screenshot({ path: screenshotPath('schedule-phone-save-refused'), fullPage: true });
    // Nothing was saved.
    const titles = ((await t.api('GET', `/api/schedule/items?area=${COMMUNE}`)).body.items as Array<{ title: string }>).map((i) => i.title);
    expect(titles).not.toContain('Bản tin chiều');

    // The same in English (the check passes once more against a moment another item now takes: the form is asked again).
    await setLang('en');
    await page.goto(`${t.baseUrl}/schedule`);
    await page.locator('[data-testid=broadcast-form]').waitFor();
    const slot2 = `${localInput(Date.now() + 3 * 86_400_000).slice(0, 10)}T15:00`;
    await page.fill('input[name=title]', 'Afternoon bulletin');
    await page.selectOption('select[name=mediaId]', mediaId);
    await page.selectOption('[data-testid=broadcast-form] select[name=area]', `2025.${COMMUNE}`);
    await fillMoment(page, 'start', slot2);
    await page.locator('[data-testid=check-result][data-ok=true]').waitFor();
    const other2 = await createItem({ title: 'Commune notice', mediaId, targets: { areas: [COMMUNE] }, start: { at: slot2 } });
    expect((await t.api('POST', `/api/schedule/items/${other2}/approve`)).status).toBe(200);
    await page.click('[data-testid=broadcast-form] button[type=submit]');
    await error.waitFor();
    const en = await error.innerText();
    expect(en).toMatch(/^Not saved: /);
    expect(en).toContain('Commune notice');
    await setLang('vi');
  });

  it('a bulletin uploaded from the phone is counted and listed in the library at once, without a reload', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${t.baseUrl}/schedule`);
    const total = page.locator('[data-testid=library-total]');
    await page.locator('[data-testid=library-total][data-total]').waitFor();
    const before = Number(await total.getAttribute('data-total'));
    const wav = path.join(dir, 'thong-bao-moi.wav');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=660:duration=1', '-ac', '1', wav);
    await page.click('[data-testid=broadcast-form] summary');
    await page.setInputFiles('input[name=file]', wav);
    await page.locator(`[data-testid=library-total][data-total="${before + 1}"]`).waitFor();
    expect(await page.locator('[data-testid=library] tr', { hasText: 'thong-bao-moi' }).count()).toBe(1);
    await nothingWiderThanTheScreen('schedule after an upload');
  });

  it("the 30-day chart draws the network's first snapshot, then a few, with every label inside its box", async () => {
    // The network's first minutes: one snapshot with sites in it.
    expect(await t.server.ctx.coverage.snapshot()).toBeGreaterThan(0);
    for (const [n, size] of [1, 3].flatMap((k) => SIZES.map((s) => [k, s] as const))) {
      while ((await t.api('GET', `/api/coverage/history?area=${COMMUNE}`)).body.points.length < n) {
        const before = Date.now();
        await waitFor('the clock to move on', () => Date.now() > before);
        await t.server.ctx.coverage.snapshot();
      }
      await page.setViewportSize({ width: size.width, height: size.height });
      await page.goto(`${t.baseUrl}/?area=2025.${COMMUNE}`);
      const chart = page.locator('[data-testid=history-chart]');
      await chart.waitFor();
      const drawn = await page.evaluate<{
        length: number;
        width: number;
        box: { width: number; height: number };
        labels: Array<{ text: string; left: number; right: number; top: number; bottom: number }>;
        fontPx: number;
      }>(`(() => {
        const svg = document.querySelector('[data-testid=history-chart]');
        const path = svg.querySelector('path[data-series=uptime]');
        const box = svg.getBoundingClientRect();
        const labels = [...svg.querySelectorAll('text')].map((el) => {
          const b = el.getBoundingClientRect();
          return { text: el.textContent, left: b.left - box.left, right: b.right - box.left, top: b.top - box.top, bottom: b.bottom - box.top };
        });
        return { length: path.getTotalLength(), width: path.getBoundingClientRect().width, box: { width: box.width, height: box.height }, labels, fontPx: labels.length ? svg.querySelector('text').getBoundingClientRect().height : 0 };
      })()`);
      const where = `${n} snapshot(s) at ${size.width} px`;
      expect(drawn.length, where).toBeGreaterThan(drawn.box.width / 2);
      expect(drawn.width, where).toBeGreaterThan(drawn.box.width / 2);
      expect(drawn.labels.length, where).toBeGreaterThanOrEqual(6);
      for (const l of drawn.labels) {
        expect(l.left, `${where}: "${l.text}"`).toBeGreaterThanOrEqual(0);
        expect(l.right, `${where}: "${l.text}"`).toBeLessThanOrEqual(drawn.box.width);
        expect(l.top, `${where}: "${l.text}"`).toBeGreaterThanOrEqual(0);
        expect(l.bottom, `${where}: "${l.text}"`).toBeLessThanOrEqual(drawn.box.height);
      }
      // Readable on the phone: the labels are not shrunk with the drawing.
      expect(drawn.fontPx, where).toBeGreaterThanOrEqual(10);
      await nothingWiderThanTheScreen(`overview ${where}`);
      await page.screenshot({ path: screenshotPath(`overview-chart-${n}-${size.name}`), fullPage: true });
    }
  });

  it('the users form writes the username rule beside the field, from the server schema, at both sizes', async () => {
    for (const size of SIZES) {
      await page.setViewportSize({ width: size.width, height: size.height });
      await setLang('vi');
      await page.goto(`${t.baseUrl}/users`);
      const rule = page.locator('[data-testid=username-rule]');
      await rule.waitFor();
      expect(await rule.innerText()).toBe('Từ 3 đến 40 ký tự: chữ thường a–z (không dấu), chữ số 0–9, dấu chấm (.), gạch dưới (_) hoặc gạch ngang (-).');
      expect(await page.getAttribute('input[name=newUsername]', 'aria-describedby')).toBe('username-rule');
      // A name the server would refuse: the field says it is invalid and the rule turns red, before anything is sent.
      await page.fill('input[name=newUsername]', 'Nguyễn Văn A');
      expect(await page.evaluate<boolean>("document.querySelector('input[name=newUsername]').validity.patternMismatch")).toBe(true);
      expect(await rule.getAttribute('class')).toBe('error');
      // And the server, asked directly, refuses it too (the same pattern).
      expect((await t.api('POST', '/api/users', { username: 'Nguyễn Văn A', password: 'a-long-enough-password-1', role: 'viewer' })).status).toBe(400);
      await page.fill('input[name=newUsername]', 'op.bat-xat_2');
      expect(await page.evaluate<boolean>("document.querySelector('input[name=newUsername]').validity.valid")).toBe(true);
      expect(await rule.getAttribute('class')).toBe('muted');
      await nothingWiderThanTheScreen(`users ${size.name}`);
      await page.screenshot({ path: screenshotPath(`users-${size.name}-vi`), fullPage: true });
      await setLang('en');
      expect(await rule.innerText()).toBe('3 to 40 characters: lower-case letters a–z (no accents), digits 0–9, dot (.), underscore (_) or hyphen (-).');
      await setLang('vi');
    }
  });
});
