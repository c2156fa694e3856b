/**
 * Bulletins and emergency alerts in the console, in a real Chromium, against a
 * real server and a commune of real agents that play (playout engine on the
 * simulated amplifiers, media cache over HTTP): upload a bulletin with
 * progress, schedule it with the dry-run answer shown before saving, approve
 * it and see it in the week calendar, be warned of a conflict before saving;
 * then send an alert from a template, confirm, and watch the tracker reach
 * every online site; go live from the (fake) microphone and see the level
 * meter move and the on-air sign.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { ffmpeg } from '../helpers/media.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { fillMoment } from './date-fields.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const SITES = 4;

const run = haveTools('chromium', 'ffmpeg', 'espeak-ng');

let t: TestServer;
let fleet: FleetRunner;
let page: Page;
let dir: string;

/** Local Asia/Ho_Chi_Minh "YYYY-MM-DDTHH:mm" (what fillMoment types into the day and time fields). */
function localInput(ms: number): string {
  return new Date(ms + 7 * 3_600_000).toISOString().slice(0, 16);
}

let c: ConsoleSetup | undefined;

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-console-bulletins-',
    env: { LOANET_SOUND_CHECK_INTERVAL_H: '24', LOANET_SOUND_CHECK_PERIOD_S: '1', LOANET_SOUND_CHECK_BATCH: '200' },
    fleets: [{ sites: SITES, area: COMMUNE }],
    // A fake microphone (a beep) and no permission prompt, for going live.
    browser: { extraArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] },
  });
  ({ t, page, dir } = c);
  fleet = c.fleets[0]!;
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-ac', '1', path.join(dir, 'ban-tin-sang.wav'));
}, 240_000);

afterAll(() => c?.stop());

// A browser, a server and a fleet on one machine: on a loaded one a test's steps take minutes, not seconds.
describe.skipIf(!run)('bulletins and alerts in the console', { timeout: 600_000 }, () => {
  it('uploads a bulletin with progress, checks it for conflicts before saving, saves, approves and shows it in the week', async () => {
    await page.click('header nav a[href="/schedule"]');
    await page.locator('[data-testid=broadcast-form]').waitFor();
    await page.click('[data-testid=broadcast-form] summary');
    await page.setInputFiles('input[name=file]', path.join(dir, 'ban-tin-sang.wav'));
    await page.locator('[data-testid=upload-progress]').waitFor();
    await page.locator('[data-testid=media-player]').waitFor();
    // The select is filled when the media list has reloaded, which may be after the player shows.
    const mediaId = await waitFor('the uploaded bulletin chosen in the select', () => page.inputValue('select[name=mediaId]'), 90_000, 100);
    expect((await t.api('GET', `/api/media/${mediaId}`)).body).toMatchObject({ status: 'ready', title: 'ban-tin-sang' });
    // The browser can play it: the player's Ogg Opus (fetched with the session cookie) decodes to the 3 s uploaded.
    const seconds = await page.evaluate<number>(`new Promise((resolve, reject) => {
      const a = document.querySelector('[data-testid=media-player]');
      a.preload = 'metadata';
      a.addEventListener('loadedmetadata', () => resolve(a.duration));
      a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))));
      a.load();
    })`);
    expect(seconds).toBeGreaterThan(2.5);
    expect(seconds).toBeLessThan(3.5);

    // A second bulletin from text, by the server's text to speech: it becomes the chosen one.
    await page.fill('input[name=ttsTitle]', 'Thông báo tiêm phòng');
    await page.fill('textarea[name=ttsText]', 'Sáng mai, trạm y tế xã tiêm phòng cho trẻ em dưới năm tuổi.');
    await page.click('button:has-text("Tạo bản tin")');
    // While the server makes it, the page says which stage it is at and how far, in Vietnamese (the server answers 202 at once).
    const making = page.locator('[data-testid=media-job]');
    await making.waitFor();
    expect((await making.innerText()).trim()).toMatch(/^Đang [^…]+… \d{1,3}\s%$/);
    // The select re-renders while the list reloads (its value is briefly empty): wait for the new item's id.
    await expect.poll(async () => page.inputValue('select[name=mediaId]'), { timeout: 90_000 }).toMatch(new RegExp(`^(?!${mediaId}$).+`));
    const spoken = (await t.api('GET', `/api/media/${await page.inputValue('select[name=mediaId]')}`)).body;
    expect(spoken).toMatchObject({ status: 'ready', origin: 'tts', title: 'Thông báo tiêm phòng' });
    await page.selectOption('select[name=mediaId]', mediaId);

    await page.fill('input[name=title]', 'Bản tin sáng');
    await page.selectOption('[data-testid=broadcast-form] select[name=area]', `2025.${COMMUNE}`);
    const start = localInput(Date.now() + 3 * 3_600_000);
    await fillMoment(page, 'start', start);
    const ok = page.locator('[data-testid=check-result][data-ok=true]');
    await ok.waitFor();
    expect(await ok.innerText()).toContain(`${SITES} trạm`);
    await page.click('[data-testid=broadcast-form] button[type=submit]');
    await page.locator('[data-testid=saved-item]').waitFor();

    const row = page.locator('[data-testid=items] tr', { hasText: 'Bản tin sáng' });
    await row.locator('[data-action=approve]').click();
    await page.locator('[data-testid=items] tr[data-status=approved]', { hasText: 'Bản tin sáng' }).waitFor();
    const itemId = await page.locator('[data-testid=items] tr[data-status=approved]').first().getAttribute('data-item');
    expect((await t.api('GET', `/api/schedule/items/${itemId}`)).body.status).toBe('approved');
    await page.locator(`[data-testid=week] [data-item="${itemId}"]`, { hasText: 'Bản tin sáng' }).waitFor();

    // The same slot again at the same priority: the conflict shows before anything is saved.
    await page.fill('input[name=title]', 'Bản tin trùng giờ');
    await fillMoment(page, 'start', start);
    const clash = page.locator('[data-testid=check-result][data-ok=false]');
    await clash.waitFor();
    expect(await clash.innerText()).toContain('Bản tin sáng');
    expect(await page.isDisabled('[data-testid=broadcast-form] button[type=submit]')).toBe(true);
    await page.screenshot({ path: screenshotPath('schedule'), fullPage: true });
    // Every site of the commune reports holding the new playlist (asked again on a reload of the page).
    await expect
      .poll(
        async () => {
          await page.reload();
          return page
            .locator('[data-testid=distribution]')
            .innerText({ timeout: 5_000 })
            .catch(() => '');
        },
        { timeout: 90_000, interval: 1000 },
      )
      .toContain(`${SITES}/${SITES} trạm đã nhận lịch phát mới nhất`);
  });

  it('sends an alert from a template after a confirmation; the tracker reaches every online site and names the one that is down', async () => {
    const down = fleet.ids()[SITES - 1]!;
    await fleet.kill(down);
    await waitFor('the killed site offline', async () => (await t.api('GET', `/api/sites/${down}`)).body.status.condition === 'offline', 90_000, 200);
    await page.click('header nav a[href="/emergency"]');
    await page.check(`[data-testid=alert-form] input[name=area][value="2025.${COMMUNE}"]`);
    await page.selectOption('select[name=template]', 'flood');
    expect(await page.inputValue('textarea[name=text]')).toContain('lũ quét');
    await page.check('input[name=test]');
    await page.click('[data-testid=alert-form] button[type=submit]');
    await page.locator('[data-testid=alert-confirm]', { hasText: 'Xã Bát Xát' }).waitFor();
    expect(await page.locator('[data-testid=alert-confirm]').innerText()).toContain(`${SITES} trạm — 1 trạm đang mất kết nối`);
    await page.screenshot({ path: screenshotPath('emergency-confirm'), fullPage: true });
    await page.click('[data-testid=send-alert]');
    const progress = page.locator('[data-testid=alert-progress]');
    await progress.waitFor();
    expect(await progress.getAttribute('data-targeted')).toBe(String(SITES));
    await page.locator(`[data-testid=alert-progress][data-reached="${SITES - 1}"]`).waitFor({ timeout: 90_000 });
    expect(await progress.innerText()).toContain(`${SITES - 1} / ${SITES} trạm`);
    const unreached = await page.locator('[data-testid=unreached]').innerText();
    expect(unreached).toContain(fleet.site(down).plan.name);
    expect(unreached).toMatch(/mất kết nối|ngoại tuyến|offline/i);
    await page.screenshot({ path: screenshotPath('emergency-tracker'), fullPage: true });
    // Back within the alert's validity, the site plays it too (the alert is retained on its area's channel): 100%.
    await fleet.restore(down);
    await page.locator('[data-testid=all-reached]').waitFor({ timeout: 90_000 });
    expect(await progress.getAttribute('data-reached')).toBe(String(SITES));
    expect(await progress.innerText()).toMatch(/100\s%/);
    await page.screenshot({ path: screenshotPath('emergency-tracker-100'), fullPage: true });
    // Every page now carries the alert in force (an exercise here), linking to its tracker.
    await page.click('header nav a[href="/"]');
    await page.locator('[data-testid=alert-banner]', { hasText: 'Diễn tập (không phải cảnh báo thật): Lũ quét, sạt lở đất' }).waitFor();
  });

  it('goes live from the microphone: on-air sign, level meter, the stream on the server, then stops', async () => {
    // The exercise alert above is still playing at the sites and would pre-empt (end) a normal-priority stream
    // there, as it should: the official ends it first, as one would before going live.
    const alerts = (await t.api('GET', '/api/alerts')).body.alerts as Array<{ id: string; state: string }>;
    for (const a of alerts.filter((x) => x.state === 'active')) expect((await t.api('POST', `/api/alerts/${a.id}/cancel`)).status).toBe(200);
    await page.click('header nav a[href="/live"]');
    await page.selectOption('select[name=area]', `2025.${COMMUNE}`);
    // Before going live: the delay the commune's sites' links need (none measured yet: the default) and the ceiling.
    await page.locator('[data-testid=delay-preview][data-delay="500"][data-ceiling="3000"]').waitFor();
    await expect(page.locator('[data-testid=delay-preview]').textContent()).resolves.toContain('Độ trễ khi bắt đầu');
    await page.click('[data-testid=go-live]');
    await page.locator('[data-testid=on-air][data-state=on-air]').waitFor();
    await expect.poll(async () => Number(await page.getAttribute('[data-testid=level]', 'data-level')), { timeout: 90_000 }).toBeGreaterThan(0);
    const live = (await t.api('GET', '/api/live/streams')).body.streams as Array<{ id: number; state: string }>;
    const onAir = live.filter((s) => s.state === 'live');
    expect(onAir).toHaveLength(1);
    // The stream's delivery: the commune's playing sites report every 5 s; the skew between them is measured.
    await page.click(`[data-testid=streams] tr[data-stream="${onAir[0]!.id}"]`);
    await page.locator('[data-testid=stream-detail][data-state=live]').waitFor();
    await expect.poll(async () => page.locator('[data-testid=stream-sites] tbody tr').count(), { timeout: 90_000 }).toBe(SITES);
    await expect.poll(async () => Number(await page.getAttribute('[data-testid=skew]', 'data-sites')), { timeout: 90_000 }).toBeGreaterThanOrEqual(2);
    const p99 = Number(await page.getAttribute('[data-testid=skew]', 'data-p99'));
    // A number is shown; how small it is depends on the machine's load (the live-broadcast bench measures it).
    expect(p99).toBeGreaterThanOrEqual(0);
    await expect(page.locator('[data-testid=stream-detail]').textContent()).resolves.toContain('Độ lệch giữa các trạm');
    // The stream's delay, where it started and its ceiling.
    await expect(page.locator('[data-testid=delay]').textContent()).resolves.toMatch(/tối đa 3000\sms/);
    // Every site of the commune reported; any that had not would be listed with why.
    expect(await page.getAttribute('[data-testid=silent-total]', 'data-total')).toBe('0');
    await page.screenshot({ path: screenshotPath('live'), fullPage: true });
    await page.click('[data-testid=stop-live]');
    await page.locator('[data-testid=on-air][data-state=idle]').waitFor();
    await waitFor('the stream ended on the server', async () =>
      ((await t.api('GET', '/api/live/streams')).body.streams as Array<{ state: string }>).every((s) => s.state !== 'live'),
    );
    // The record stays: the detail turns to ended, with who stopped it.
    await page.locator('[data-testid=stream-detail][data-state=ended]').waitFor({ timeout: 90_000 });
    await page.locator(`[data-testid=streams] tr[data-stream="${onAir[0]!.id}"][data-state=ended]`).waitFor({ timeout: 90_000 });
    // Every site says why it ended there: its stop arrived, or the end-of-stream message played.
    await expect
      .poll(async () => page.locator('[data-testid=stream-sites] td[data-end=stopped], [data-testid=stream-sites] td[data-end=ended]').count(), { timeout: 90_000 })
      .toBe(SITES);
  });
});
