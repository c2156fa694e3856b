/**
 * Relaying another station from the console, on a phone (390 × 844), in
 * Vietnamese, as a commune operator, in a real Chromium against a real server
 * relaying a real local HTTP radio with real ffmpeg: a source that cannot be
 * reached is refused in the operator's words; a relay with a chosen priority
 * goes on air and the page says so (never "Chưa phát" while it is); a lost
 * source shows a notice while it reconnects, gone when it is back; the page
 * never scrolls sideways and the loss and skew columns are reachable; a stop
 * asks first, and a "no" leaves it on air.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { ffmpeg } from '../helpers/media.ts';
import { startKillableRadio } from '../helpers/live.ts';
import { haveTools } from '../helpers/require-tool.ts';
import mqtt from 'mqtt';
import { encodeJson, PROTOCOL_VERSION, siteTopic, type StreamStatsEvent } from '../../protocol/index.ts';

const run = haveTools('chromium', 'ffmpeg');

let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;
let radio: Awaited<ReturnType<typeof startKillableRadio>>;

/** The page is no wider than the phone: nothing to scroll sideways. */
async function noSidewaysScroll(): Promise<void> {
  const widths = await page.evaluate<{ doc: number; body: number; view: number }>(
    '({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth })',
  );
  expect(widths.doc, JSON.stringify(widths)).toBeLessThanOrEqual(widths.view);
  expect(widths.body, JSON.stringify(widths)).toBeLessThanOrEqual(widths.view);
}

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-console-relay-',
    env: { LOANET_RELAY_ALLOW: '127.0.0.1' },
    async prepare(s) {
      t = s.t;
      ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(s.dir, 'radio.mp3'));
      radio = await startKillableRadio(fs.readFileSync(path.join(s.dir, 'radio.mp3')), { gapMs: 1500 });
      expect((await t.api('POST', '/api/users', { username: 'op-batxat', password: 'password-of-op-batxat', role: 'operator', area: '02683' })).status).toBe(201);
    },
    login: { username: 'op-batxat', password: 'password-of-op-batxat' },
    viewport: { width: 390, height: 844 },
  });
  ({ page } = c);
}, 240_000);

afterAll(async () => {
  await c?.stop();
  await radio?.close();
});

describe.skipIf(!run)('relaying a station from the console on a phone, in Vietnamese', { timeout: 600_000 }, () => {
  it('refuses an unreachable source in Vietnamese, starts a relay with a priority, shows it on air, notices a lost source, and stops it after a confirmation', async () => {
    expect(await page.evaluate<string>('document.documentElement.lang')).toBe('vi');
    await page.click('header nav a[href="/live"]');
    await page.locator('[data-testid=relay-form]').waitFor();
    await expect(page.locator('[data-testid=on-air]').textContent()).resolves.toBe('Chưa phát');
    // The operator's commune is chosen for them.
    expect(await page.isChecked('[data-testid=relay-areas] input[value="2025.02683"]')).toBe(true);
    await noSidewaysScroll();

    // Nothing listens there: refused before going on air, in the operator's words.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/live.mp3`;
    await new Promise((r) => closed.close(r));
    await page.fill('input[name=relayUrl]', closedUrl);
    await page.click('[data-testid=relay-start]');
    await expect(page.locator('[data-testid=relay-error]').textContent()).resolves.toBe('Không kết nối được tới nguồn (ECONNREFUSED). Kiểm tra lại địa chỉ.');
    expect((await t.api('GET', '/api/live/streams?state=live')).body.streams).toEqual([]);

    // The radio, at "Ưu tiên".
    await page.fill('input[name=relayUrl]', radio.url);
    await page.selectOption('select[name=relayPriority]', 'priority');
    await page.click('[data-testid=relay-start]');
    await page.locator('[data-testid=relay-started]').waitFor();
    const live = (await t.api('GET', '/api/live/streams?state=live')).body.streams as Array<{ id: number; priority: string; areas: string[]; startedBy: string }>;
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ priority: 'priority', areas: ['2025.02683'], startedBy: 'op-batxat' });
    const id = live[0]!.id;
    const row = page.locator(`[data-testid=streams] tr[data-stream="${id}"]`);
    await page.locator(`[data-testid=streams] tr[data-stream="${id}"][data-state=live]`).waitFor();
    await expect(row.locator('td[data-priority]').textContent()).resolves.toBe('Ưu tiên');
    // On air for the commune: the sign says so, not "Chưa phát".
    await page.locator('[data-testid=on-air][data-streams="1"]').waitFor();
    const sign = await page.locator('[data-testid=on-air]').textContent();
    expect(sign).toContain('ĐANG PHÁT');
    expect(sign).toContain('Tiếp sóng');
    await noSidewaysScroll();

    // Every column is reachable: the table scrolls inside its box, the page does not.
    const box = page.locator('[data-testid=streams]').locator('xpath=..');
    await box.evaluate((el) => (el.scrollLeft = el.scrollWidth));
    for (const label of ['Mất gói không bù được', 'Độ lệch giữa các trạm p99']) {
      const th = page.locator('[data-testid=streams] th', { hasText: label });
      const b = await th.boundingBox();
      expect(b, label).not.toBeNull();
      expect(b!.x, label).toBeGreaterThanOrEqual(0);
      expect(b!.x + b!.width, label).toBeLessThanOrEqual(390 + 1);
    }
    await noSidewaysScroll();

    // The station goes off the air: the operator is told, in Vietnamese, that the relay is reconnecting and what the sites hear.
    await radio.down();
    const notice = page.locator(`[data-testid=relay-reconnecting][data-stream="${id}"]`);
    await notice.waitFor();
    const text = await notice.textContent();
    expect(text).toContain('Mất nguồn tiếp sóng');
    expect(text).toContain('đang kết nối lại');
    expect(text).toContain('các trạm đang phát im lặng');
    await page.screenshot({ path: screenshotPath('live-relay-reconnecting-390'), fullPage: true });
    await noSidewaysScroll();
    // It comes back: the notice goes, the stream is still on air.
    await radio.up();
    await notice.waitFor({ state: 'detached' });
    await expect(row.locator('td').nth(2).textContent()).resolves.toContain('đã kết nối lại 1 lần');

    // A stop asks first; "no" leaves it on air.
    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await row.locator('[data-testid=stop-stream]').click();
    await waitFor('the confirmation asked', () => asked.length === 1);
    expect(asked[0]).toMatch(/^Dừng buổi phát #\d+ \(Tiếp sóng · 127\.0\.0\.1:\d+\)\? Các trạm sẽ ngừng phát ngay\.$/);
    expect((await t.api('GET', `/api/live/streams/${id}`)).body.state).toBe('live');
    page.once('dialog', (d) => void d.accept());
    await row.locator('[data-testid=stop-stream]').click();
    await page.locator(`[data-testid=streams] tr[data-stream="${id}"][data-state=ended]`).waitFor();
    expect((await t.api('GET', `/api/live/streams/${id}`)).body).toMatchObject({ state: 'ended', endReason: 'operator', endedBy: 'op-batxat' });
    await expect(row.locator('td').nth(2).textContent()).resolves.toBe('Đã kết thúc (người vận hành dừng)');
    await page.locator('[data-testid=on-air][data-streams="0"]').waitFor();
    await expect(page.locator('[data-testid=on-air]').textContent()).resolves.toBe('Chưa phát');
    await page.screenshot({ path: screenshotPath('live-relay-390'), fullPage: true });
    await noSidewaysScroll();
  });

  it("an ended stream's card still shows each site's end when its last report comes after the end", async () => {
    // A cluster of the commune, as a test that acts as its agent over MQTT.
    const reg = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Tả Phìn', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const { siteId, secret } = reg.body.credential as { siteId: string; secret: string };
    const site = await mqtt.connectAsync(t.mqttUrl, { clientId: siteId, username: siteId, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
    try {
      const started = await t.api('POST', '/api/live/streams', { source: { kind: 'relay', url: radio.url }, areas: ['2025.02683'], priority: 'normal' });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const id = started.body.id as number;
      const report = (over: Partial<StreamStatsEvent>) =>
        site.publishAsync(
          siteTopic(siteId, 'event'),
          encodeJson({
            v: PROTOCOL_VERSION,
            siteId,
            at: Date.now(),
            type: 'stream_stats',
            streamId: id,
            received: 50,
            late: 0,
            lost: 0,
            concealed: 0,
            fecRecovered: 0,
            played: 50,
            bufferLevelMs: 500,
            marks: [],
            clockUncertaintyMs: 2,
            final: false,
            ...over,
          } satisfies StreamStatsEvent),
          { qos: 1 },
        );
      await report({});
      await page.click(`[data-testid=streams] tr[data-stream="${id}"]`);
      const siteRow = page.locator(`[data-testid=stream-sites] tr[data-site="${siteId}"]`);
      await siteRow.waitFor();
      expect(await siteRow.locator('td[data-end]').getAttribute('data-end')).toBe('');
      // Ended by the server; the card shows it ended before the site's last report has come.
      expect((await t.api('POST', `/api/live/streams/${id}/stop`)).status).toBe(200);
      await page.locator('[data-testid=stream-detail][data-state=ended]').waitFor();
      await report({ final: true, end: { reason: 'stopped' }, received: 60, played: 60 });
      // The card keeps reading until the site's last report is in, and says why it ended there.
      await siteRow.locator('td[data-end=stopped]').waitFor();
      await expect(siteRow.locator('td[data-end=stopped]').textContent()).resolves.not.toBe('');
    } finally {
      await site.endAsync();
    }
  });
});
