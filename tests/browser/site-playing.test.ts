/**
 * The site page says what the site plays now and since when, in the user's
 * language: a real server, a real agent that plays (media cache, playout
 * engine, simulated amplifier) and a real Chromium at 390x844. Silent first
 * ("Không phát gì"), then a live stream from the library on air, named by its
 * label with the time it started in Asia/Ho_Chi_Minh, then the same in English;
 * then an emergency alert the agent plays (its attention signal and message),
 * named by its title, until it is cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { uploadTone } from '../helpers/media.ts';

const run = haveTools('chromium', 'ffmpeg');
const BAT_XAT = '02683';
const LABEL = 'Trực tiếp hội nghị xã';
const ALERT_TITLE = 'Cảnh báo lũ quét thôn Pa Cheo';
let t: TestServer;
let siteId: string;
let mediaId: string;
let c: ConsoleSetup | undefined;

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-site-playing-',
    fleets: [{ sites: 1, area: BAT_XAT, idPrefix: 'play' }],
    async prepare(s) {
      t = s.t;
      siteId = s.fleets[0]!.ids()[0]!;
      mediaId = await uploadTone(t, s.dir, { title: 'Nguồn trực tiếp', seconds: 120 });
    },
    login: null,
    pageTimeoutMs: 60_000,
  });
}, 180_000);

afterAll(() => c?.stop());

describe.skipIf(!run)('the site page says what plays now', { timeout: 240_000 }, () => {
  it('silent, then a live stream by its label and since when, in Vietnamese then English', async () => {
    const page = await c!.openPageAs('admin', ADMIN_PASSWORD, { width: 390, height: 844 });
    if ((await page.evaluate<string>('document.documentElement.lang')) !== 'vi') await page.click('button[data-lang=vi]');
    await page.goto(`${t.baseUrl}/sites/${siteId}`);
    await page.locator('[data-testid=playing-now]', { hasText: 'Không phát gì' }).waitFor();

    const r = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId }, areas: [BAT_XAT], label: LABEL });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const since = await waitFor(
      'the site API to say the stream plays',
      async () => {
        const p = (await t.api('GET', `/api/sites/${siteId}`)).body.playing;
        return p?.kind === 'live' ? (p.since as number) : undefined;
      },
      60_000,
      100,
    );
    const clock = new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(since);
    const vi = await page.locator('[data-testid=playing-now]', { hasText: LABEL }).innerText();
    // Asia/Ho_Chi_Minh whatever the machine's zone, as vi-VN writes it (time, then day/month/year).
    const day = new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric' }).format(since);
    expect(vi).toBe(`Phát trực tiếp “${LABEL}” · từ ${clock} ${day}`);
    await page.screenshot({ path: screenshotPath('site-playing-vi-390x844'), fullPage: true });

    await page.click('button[data-lang=en]');
    const en = await page.locator('[data-testid=playing-now]', { hasText: LABEL }).innerText();
    expect(en).toMatch(new RegExp(`^Live “${LABEL}” · since .*${clock}`));

    const stopped = await t.api('POST', `/api/live/streams/${r.body.id}/stop`);
    expect(stopped.status, JSON.stringify(stopped.body)).toBe(200);
    await page.locator('[data-testid=playing-now]', { hasText: 'Nothing' }).waitFor();
  });

  it('an emergency alert the agent plays, by its title and since when, until it is cancelled', async () => {
    const page = await c!.openPageAs('admin', ADMIN_PASSWORD, { width: 390, height: 844 });
    if ((await page.evaluate<string>('document.documentElement.lang')) !== 'vi') await page.click('button[data-lang=vi]');
    await page.goto(`${t.baseUrl}/sites/${siteId}`);
    await page.locator('[data-testid=playing-now]', { hasText: 'Không phát gì' }).waitFor();

    // A real alert to the commune: the agent fetches its message audio and plays the attention signal, then the message.
    const r = await t.api('POST', '/api/alerts', { title: ALERT_TITLE, areas: [BAT_XAT], message: { mediaId }, test: true, validForMinutes: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const alertId = r.body.id as string;
    const since = await waitFor(
      'the site API to say the alert plays',
      async () => {
        const p = (await t.api('GET', `/api/sites/${siteId}`)).body.playing;
        return p?.kind === 'alert' && p.id === alertId ? (p.since as number) : undefined;
      },
      60_000,
      100,
    );
    const clock = new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(since);
    const day = new Intl.DateTimeFormat('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric' }).format(since);
    const vi = await page.locator('[data-testid=playing-now]', { hasText: ALERT_TITLE }).innerText();
    expect(vi).toBe(`Cảnh báo khẩn cấp “${ALERT_TITLE}” · từ ${clock} ${day}`);
    // The delivery says so too: the attention signal first, then the message itself, while the page still names the alert.
    expect((await t.api('GET', `/api/alerts/${alertId}`)).body.delivery.counts.started).toBe(1);
    await waitFor('the site to confirm playing the message', async () => (await t.api('GET', `/api/alerts/${alertId}`)).body.delivery.counts.confirmedPlaying === 1, 60_000, 100);
    expect(await page.locator('[data-testid=playing-now]').innerText()).toBe(vi);
    await page.screenshot({ path: screenshotPath('site-playing-alert-vi-390x844'), fullPage: true });

    await page.click('button[data-lang=en]');
    const en = await page.locator('[data-testid=playing-now]', { hasText: ALERT_TITLE }).innerText();
    expect(en).toMatch(new RegExp(`^Emergency alert “${ALERT_TITLE}” · since .*${clock}`));

    const cancelled = await t.api('POST', `/api/alerts/${alertId}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    await page.locator('[data-testid=playing-now]', { hasText: 'Nothing' }).waitFor();
  });
});
