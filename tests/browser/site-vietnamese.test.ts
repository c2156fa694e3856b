/**
 * The site page and the audit page speak Vietnamese completely: a real server
 * and a simulated site (heartbeats and commands, no playout: it says it cannot
 * play) with an overheating amplifier and an open speaker line, a history
 * (connected, disconnected, condition changes), a command that succeeds and one
 * that expires while the site is away, and the audit entries they leave. In
 * Vietnamese no code or English word of the server shows and no raw JSON; in
 * English the same page reads in English. At 390x844 and 1366x768.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';

const HEARTBEAT_S = 1;
const BAT_XAT = '02683';
const SITE = `v${BAT_XAT}-${BAT_XAT}-st`;
const ENGLISH = [
  'overheat',
  'fault',
  'condition',
  'connected',
  'disconnected',
  'sound_check',
  'controller',
  'expired',
  'never verified',
  'offline since',
  'speaker line',
  'cannot play',
];

const run = haveTools('chromium');
let t: TestServer;
let fleet: FleetRunner;
let c: ConsoleSetup | undefined;

const status = async (id: string) => (await t.api('GET', `/api/commands/${id}`)).body.status as string;
const condition = async () => (await t.api('GET', `/api/sites/${SITE}`)).body.status?.condition as string | undefined;

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    env: { LOANET_HEARTBEAT_S: String(HEARTBEAT_S), LOANET_SWEEP_MS: '200' },
    fleets: [{ sites: 1, area: BAT_XAT, kind: 'heartbeat-only', heartbeatS: HEARTBEAT_S, idPrefix: `v${BAT_XAT}` }],
    async prepare(s) {
      t = s.t;
      fleet = s.fleets[0]!;
      await waitFor('the site heard', async () => (await condition()) === 'faulty', 30_000, 100);

      const ok = await t.api('POST', `/api/sites/${SITE}/commands`, { type: 'set_volume', params: { level: 55 }, waitMs: 20_000 });
      expect(ok.body.status, JSON.stringify(ok.body)).toBe('succeeded');

      // Away long enough to be offline, a command meanwhile expires unanswered.
      await fleet.kill(SITE);
      await waitFor('the site offline', async () => (await condition()) === 'offline', 30_000, 100);
      const lost = await t.api('POST', `/api/sites/${SITE}/commands`, { type: 'set_volume', params: { level: 40 }, ttlS: 1, waitMs: 0 });
      expect(lost.status, JSON.stringify(lost.body)).toBe(202);
      await waitFor('the command expired', async () => (await status(lost.body.id)) === 'expired', 30_000, 100);
      await fleet.restore(SITE);

      fleet.injectFault(SITE, { kind: 'amp_overheat' });
      fleet.injectFault(SITE, { kind: 'line_open', line: 1 });
      await waitFor(
        'the amplifier fault reported',
        async () => {
          const reasons = ((await t.api('GET', `/api/sites/${SITE}`)).body.status?.reasons ?? []) as Array<{ code: string }>;
          return reasons.some((r) => r.code === 'amplifier_fault') && reasons.some((r) => r.code === 'line_open');
        },
        30_000,
        100,
      );
    },
    // Each test opens its own page at its size.
    login: null,
    pageTimeoutMs: 30_000,
  });
}, 120_000);

afterAll(() => c?.stop());

async function visibleText(page: Page): Promise<string> {
  return page.locator('main, body').first().innerText();
}

function offending(text: string): string[] {
  const lower = text.toLowerCase();
  const found = ENGLISH.filter((w) => new RegExp(`(^|[^a-z_])${w.replace(' ', '\\s+')}($|[^a-z_])`, 'i').test(lower));
  if (text.includes('{"')) found.push('raw JSON');
  // A code on the wire (line_open, amp_overheat, last-will) is never shown as such.
  for (const code of text
    .split(SITE)
    .join(' ')
    .match(/\b[a-z0-9]+[_-](?:[a-z]+[_-]?)*[a-z]+\b/g) ?? [])
    if (!/^(loanet-fw|v\d)/.test(code)) found.push(code);
  return found;
}

describe.skipIf(!run)('site and audit pages in Vietnamese', () => {
  for (const [w, h] of [
    [390, 844],
    [1366, 768],
  ] as const) {
    it(`at ${w}x${h}: no English word or raw JSON in Vietnamese; English in English`, async () => {
      const page = await c!.openPageAs('admin', ADMIN_PASSWORD, { width: w, height: h });
      if ((await page.evaluate<string>('document.documentElement.lang')) !== 'vi') await page.click('button[data-lang=vi]');

      await page.goto(`${t.baseUrl}/sites/${SITE}`);
      await page.locator('[data-testid=amplifier]', { hasText: 'quá nhiệt' }).waitFor();
      await page.locator('[data-testid=events] [data-event-type=disconnected]').first().waitFor();
      await page.locator('[data-testid=commands] [data-status=expired]').waitFor();
      await page.locator('[data-testid=commands] [data-status=succeeded]').waitFor();
      const vi = await visibleText(page);
      expect(offending(vi), vi).toEqual([]);
      expect(await page.locator('[data-testid=site-reasons]').innerText()).toMatch(/bộ khuếch đại bị lỗi: quá nhiệt/);
      expect(await page.locator('[data-testid=site-reasons]').innerText()).toMatch(/không phát được/);
      expect(vi).toContain('trạm không trả lời trước khi lệnh hết hạn');
      expect(vi).toContain('Mất kết nối');
      expect(vi).toContain('hở mạch');
      const history = await page.locator('[data-testid=events]').innerText();
      expect(history).toContain('đường loa 1: hở mạch');
      expect(history).toContain('bộ khuếch đại: quá nhiệt');
      expect(history).toContain('mất kết nối đột ngột');
      expect(vi).toMatch(/\d+,\d\sΩ/);
      expect(vi).not.toMatch(/\d+\.\d+\sΩ/);
      await page.screenshot({ path: screenshotPath(`site-vi-${w}x${h}`), fullPage: true });

      await page.goto(`${t.baseUrl}/audit`);
      await page.locator('[data-testid=audit] td[title="site.command.set_volume"]').first().waitFor();
      const auditVi = await visibleText(page);
      expect(offending(auditVi), auditVi).toEqual([]);
      expect(auditVi).toContain('Đăng nhập');
      if (w > 600) expect(await page.locator('[data-testid=audit-detail]', { hasText: 'tham số' }).first().innerText()).toMatch(/mức: 55|mức: 40/);
      await page.screenshot({ path: screenshotPath(`audit-vi-${w}x${h}`), fullPage: true });

      await page.click('button[data-lang=en]');
      await page.goto(`${t.baseUrl}/sites/${SITE}`);
      await page.locator('[data-testid=amplifier]', { hasText: 'overheat' }).waitFor();
      await page.locator('[data-testid=commands] [data-status=expired]').waitFor();
      const en = await visibleText(page);
      expect(en).toContain('amplifier fault: overheat');
      expect(en).toContain('the site did not answer before the command expired');
      expect(en).toContain('Disconnected');
      expect(en).toMatch(/\d+\.\d\sΩ/);
      expect(en).not.toContain('{"');
      await page.screenshot({ path: screenshotPath(`site-en-${w}x${h}`), fullPage: true });
      await page.click('button[data-lang=vi]');
      await page.close();
    });
  }
});
