/**
 * A technician updates six real (simulated) sites from the console: a real
 * server trusting a key made in the test, a FleetRunner fleet whose agents
 * take update orders, fetch the release from the server with their own
 * credentials, switch A/B and run their health check, one of them injected to
 * fail its sound check on the new version. Through the console only, in
 * Vietnamese: the signed release is uploaded (manifest, .sig, files; shown as
 * verified by the test's key), a dry run lists the sites by wave, the rollout
 * is created, the page shows each site updating, the failed one with its
 * reason in words, and the rollout paused at its error threshold; resumed
 * from the page, it completes. A second rollout held by its excluded hours is
 * paused, resumed and aborted from the page, and its release retired. At
 * 1366x768 and 390x844 nothing is wider than the screen; screenshots go to
 * test-output/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { launchBrowser, loginThroughForm, screenshotPath, type Browser } from '../helpers/browser.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const run = haveTools('chromium');
const COMMUNE = '02683'; // Xã Bát Xát
const AREA = `2025.${COMMUNE}`;
const FACTORY = readAgentVersion();
const NEW = '99.1.0';
const NEXT = '99.2.0';
const TECH = { username: 'kt-capnhat', password: 'password-of-kt-capnhat' };
const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };
/** Bounds a hang only: the rollout ticks every 5 s, an agent switches and checks itself, and a busy machine is slow. */
const LONG = 180_000;

const key = makeSigningKey();
const release = makeRelease({ id: 'agent-99-1-0', version: NEW, key, files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(40_000, 7) } });
const next = makeRelease({ id: 'agent-99-2-0', version: NEXT, key, files: { 'main.mjs': 'export {};\n', 'loanet_opus.node': Buffer.alloc(30_000, 5) } });

let t: TestServer;
let fleet: FleetRunner;
let browser: Browser;
let page: Page;
let dir: string;
let canary = '';
let failing = '';

beforeAll(async () => {
  if (!run) return;
  dir = tempDir('loanet-updates-browser-');
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  // The server's trust list is its release-keys folder, read at each use.
  fs.mkdirSync(path.join(t.dataDir, 'release-keys'), { recursive: true });
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'test-key.pem'), key.publicPem);
  await importLaoCai2025(t);
  fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: 6,
    heartbeatS: 2,
    credentialsFile: null,
    area: COMMUNE,
    update: { trustedKeys: [key.trusted], httpUrl: t.baseUrl, pollMs: 200, failHealthCheck: (id) => id === failing },
  });
  const prepared = await fleet.prepare();
  const ids = prepared.map((p) => p.plan.id).sort();
  canary = ids[0]!;
  failing = ids[1]!;
  await fleet.start(prepared);
  await waitFor('every site online on the factory version', () => fleet.ids().every((id) => t.server.ctx.fleet.observation(id)?.telemetry?.versions.agent === FACTORY), LONG, 250);
  const made = await t.api('POST', '/api/users', { username: TECH.username, password: TECH.password, role: 'technician' });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  // The files a technician has from the release tool: the manifest, its .sig, the bundle's files.
  fs.writeFileSync(path.join(dir, 'manifest.json'), release.manifestBytes);
  fs.writeFileSync(path.join(dir, 'manifest.json.sig'), JSON.stringify(release.signatures, null, 2));
  for (const [name, body] of release.files) fs.writeFileSync(path.join(dir, name), body);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(60_000);
  await page.setViewportSize(LAPTOP);
  await loginThroughForm(page, t.baseUrl, TECH.username, TECH.password);
  if ((await page.evaluate<string>('document.documentElement.lang')) !== 'vi') await page.click('button[data-lang=vi]');
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Nothing wider than the screen, and a screenshot, at each size; back at the laptop's size after. */
async function atBothSizes(name: string): Promise<void> {
  for (const size of [PHONE, LAPTOP]) {
    await page.setViewportSize(size);
    const w = await page.evaluate<{ doc: number; body: number; view: number }>(
      '({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth })',
    );
    expect(Math.max(w.doc, w.body), `${name} at ${size.width}x${size.height}: ${JSON.stringify(w)}`).toBeLessThanOrEqual(w.view);
    await page.screenshot({ path: screenshotPath(`updates-${name}-${size.width}x${size.height}`), fullPage: true });
  }
}

const siteRow = (id: string, state = '') => page.locator(`[data-testid=rollout-sites] tr[data-site="${id}"]${state ? `[data-state=${state}]` : ''}`);

/** Confirm one of pause, resume, abort on a rollout's page and wait for a status it leads to. */
async function act(action: 'pause' | 'resume' | 'abort', ...statuses: string[]): Promise<void> {
  await page.click(`[data-testid=rollout-actions] button[data-action=${action}]`);
  await page.locator(`[data-testid=action-confirm][data-action=${action}]`).waitFor();
  await page.click('[data-testid=confirm-yes]');
  await page.locator(statuses.map((s) => `[data-testid=rollout][data-status=${s}]`).join(', ')).waitFor();
}

describe.skipIf(!run)('software updates from the console', { timeout: 900_000 }, () => {
  it('uploads the signed release through the form: its files arrive and it shows verified by the test key', async () => {
    await page.goto(`${t.baseUrl}/updates`);
    await page.locator('[data-testid=fleet-versions]').waitFor();
    expect(await page.locator('header nav a[href="/updates"]').innerText()).toBe('Cập nhật phần mềm');
    // Signed by a key the server does not trust: refused, in Vietnamese, and nothing stored.
    const stranger = makeRelease({ id: 'agent-99-1-0', version: NEW, key: makeSigningKey(), files: Object.fromEntries(release.files) });
    fs.writeFileSync(path.join(dir, 'stranger.json.sig'), JSON.stringify(stranger.signatures));
    await page.setInputFiles('input[name=manifest]', path.join(dir, 'manifest.json'));
    await page.setInputFiles('input[name=signatures]', path.join(dir, 'stranger.json.sig'));
    await page.setInputFiles(
      'input[name=files]',
      [...release.files.keys()].map((f) => path.join(dir, f)),
    );
    await page.click('[data-testid=release-upload] button[type=submit]');
    expect(await page.locator('[data-testid=upload-log] li.error').innerText()).toMatch(/^Bản phát hành được ký bằng khóa mà máy chủ không tin cậy/);
    expect((await t.api('GET', '/api/releases')).body.releases).toEqual([]);

    await page.setInputFiles('input[name=manifest]', path.join(dir, 'manifest.json'));
    await page.setInputFiles('input[name=signatures]', path.join(dir, 'manifest.json.sig'));
    await page.setInputFiles(
      'input[name=files]',
      [...release.files.keys()].map((f) => path.join(dir, f)),
    );
    await page.click('[data-testid=release-upload] button[type=submit]');
    await page.locator('[data-testid=upload-log] li.ok', { hasText: 'Đã tải lên đủ bản phát hành agent-99-1-0' }).waitFor();
    const row = page.locator('[data-testid=releases] tr[data-release="agent-99-1-0"]');
    // The list reloads once the upload ends: until its answer comes the row may still be the one read mid-upload.
    await row.locator('[data-testid=release-state]', { hasText: 'đủ tệp' }).waitFor();
    expect(await row.locator('[data-testid=release-signature]').innerText()).toBe(`đã xác minh bằng khoá ${key.keyId}`);
    expect(await row.locator('[data-testid=release-files]').innerText()).toMatch(/^2\/2 tệp/);
    const stored = (await t.api('GET', '/api/releases/agent-99-1-0')).body;
    expect(stored).toMatchObject({ complete: true, verifiedKeyId: key.keyId, manifestSha256: release.manifestSha256 });
    await atBothSizes('releases');
  });

  it('a dry run lists every site by wave, then the rollout is created; the failed site says why and the rollout pauses at its threshold', async () => {
    const form = page.locator('[data-testid=rollout-form]');
    await form.locator('select[name=releaseId]').selectOption('agent-99-1-0');
    await form.locator('input[name=areaFilter]').fill('Bát Xát');
    await form.locator(`input[name=area][value="${AREA}"]`).check();
    await form.locator('input[name=canary]').fill(canary);
    await form.locator('input[name=percents]').fill('100');
    await form.locator('input[name=successThreshold]').fill('80');
    await form.locator('input[name=errorThreshold]').fill('10');
    await form.locator('input[name=minFinished]').fill('1');
    await form.locator('input[name=broadcastMargin]').fill('0');
    await page.click('[data-testid=dry-run]');
    await page.locator('[data-testid=dry-run-result]').waitFor();
    expect(await page.locator('[data-testid=dry-run-summary]').innerText()).toBe('6 trạm sẽ được cập nhật, 0 trạm bị loại, 0 trạm đang mất kết nối (sẽ cập nhật khi kết nối lại).');
    expect(await page.locator(`[data-testid=dry-included] tr[data-site="${canary}"] td:nth-child(3)`).innerText()).toBe('Thử trước');
    expect(await page.locator(`[data-testid=dry-included] tr[data-site="${failing}"] td:nth-child(3)`).innerText()).toBe('Đợt 1: 100 %');
    expect(await page.locator(`[data-testid=dry-included] tr[data-site="${failing}"] td:nth-child(5)`).innerText()).toBe(FACTORY);
    expect((await t.api('GET', '/api/rollouts')).body.rollouts).toEqual([]); // a dry run stores nothing
    await atBothSizes('dry-run');

    await page.click('[data-testid=create-rollout]');
    await page.locator('[data-testid=rollout]').waitFor();
    expect(page.url()).toMatch(/\/updates\/rollouts\/[a-z0-9-]+$/);
    // The page follows the rollout by itself: the canary updates, then the wave; the failing site rolls back and says why.
    await siteRow(canary, 'updated').waitFor({ timeout: LONG });
    await siteRow(failing, 'failed').waitFor({ timeout: LONG });
    expect(await siteRow(failing).locator('[data-testid=site-reason]').innerText()).toBe('kiểm tra âm thanh không đạt: không nghe thấy loa');
    expect(await siteRow(failing).locator('td:nth-child(4)').innerText()).toBe('đã quay lại phiên bản cũ');
    await page.locator('[data-testid=rollout][data-status=paused]').waitFor({ timeout: LONG });
    expect(await page.locator('[data-testid=rollout-status]').innerText()).toBe('tạm dừng');
    // Worded from the reason's code and numbers the server sent, the Vietnamese way ("10 %").
    expect(await page.locator('[data-testid=rollout-threshold]').innerText()).toMatch(/^Đợt 1: 100 %: 1\/\d trạm đã xong bị lỗi, vượt ngưỡng lỗi 10\s%\.$/);
    await atBothSizes('rollout-paused');

    // Resumed from the page, the failure is accepted and the others finish: the rollout completes.
    await act('resume', 'running', 'completed');
    await page.locator('[data-testid=rollout][data-status=completed]').waitFor({ timeout: LONG });
    for (const id of fleet.ids().filter((x) => x !== failing)) expect(await siteRow(id).getAttribute('data-state'), id).toBe('updated');
    expect(await page.locator('[data-testid=rollout-status]').innerText()).toBe('đã xong');
    expect(await page.locator('[data-testid=rollout-reason][data-code=completed]').innerText()).toBe('Mọi đợt con đã đạt ngưỡng thành công.');
    await atBothSizes('rollout-completed');

    // The fleet's versions: five on the new version, one still on the factory's.
    await page.goto(`${t.baseUrl}/updates`);
    await waitFor(
      'the versions from the heartbeats',
      async () => /99\.1\.0: 5 trạm/.test(await page.locator('[data-testid=fleet-versions] [data-testid=agent-versions]').first().innerText()),
      LONG,
      500,
    );
    expect(await page.locator('[data-testid=fleet-versions] [data-testid=agent-versions]').first().innerText()).toContain(`${FACTORY}: 1 trạm`);
    await atBothSizes('versions');
  });

  it('pause, resume and abort a rollout from its page, each confirmed; then retire its release', async () => {
    const created = await t.api('POST', '/api/releases', { manifest: next.manifestBytes.toString('base64'), signatures: next.signatures });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    for (const [file, body] of next.files) {
      const res = await fetch(`${t.baseUrl}/api/releases/${next.id}/files/${file}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
        body,
      });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    // Held all day by its excluded hours: it runs, and no site starts.
    const r = await t.api('POST', '/api/rollouts', {
      releaseId: next.id,
      targets: { areas: [COMMUNE] },
      waves: [{ name: 'Cả xã', percent: 100 }],
      excludedHours: [{ from: '00:00', to: '23:59' }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await page.goto(`${t.baseUrl}/updates/rollouts/${r.body.id}`);
    await page.locator('[data-testid=rollout][data-status=running]').waitFor();
    await page.locator('[data-testid=rollout-held] li[data-why=excluded_hours]').first().waitFor({ timeout: LONG });
    expect(await page.locator('[data-testid=rollout-held] li').first().innerText()).toMatch(/: đang trong khung giờ không cập nhật$/);

    await act('pause', 'paused');
    expect(await page.locator('[data-testid=action-result]').innerText()).toBe('Đã tạm dừng.');
    // A person's pause says who, in words around their name.
    expect(await page.locator('[data-testid=rollout-reason][data-code=paused_by]').innerText()).toBe(`${TECH.username} đã tạm dừng.`);
    await act('resume', 'running');
    await act('abort', 'aborted');
    expect(await page.locator('[data-testid=rollout-status]').innerText()).toBe('đã hủy');
    expect(await page.locator('[data-testid=rollout-reason][data-code=aborted_by]').innerText()).toBe(`${TECH.username} đã hủy đợt cập nhật.`);
    expect((await t.api('GET', `/api/rollouts/${r.body.id}`)).body.status).toBe('aborted');
    await atBothSizes('rollout-aborted');

    // A rollout to a commune with no site is refused in words, naming what to do.
    await page.goto(`${t.baseUrl}/updates`);
    const form = page.locator('[data-testid=rollout-form]');
    await form.locator('input[name=areaFilter]').fill('Cam Đường');
    await form.locator('input[name=area][value="2025.02671"]').check();
    await page.click('[data-testid=create-rollout]');
    expect(await page.locator('[data-testid=rollout-problem]').innerText()).toMatch(/^Không có cụm loa nào để cập nhật: đã chọn 0 cụm loa/);

    await page.goto(`${t.baseUrl}/updates`);
    const row = page.locator(`[data-testid=releases] tr[data-release="${next.id}"]`);
    await row.locator('[data-testid=retire]').click();
    await row.locator('[data-testid=retire-confirm] button.danger').click();
    await waitFor('the release retired', async () => (await t.api('GET', `/api/releases/${next.id}`)).body.retired === true, 30_000);
    await page.locator(`[data-testid=releases] tr[data-release="${next.id}"]`).waitFor({ state: 'detached' });
  });

  it("the audit log words the rollout's own stop from its code, and a person's pause around their name (as the admin)", async () => {
    const admin = await launchBrowser();
    try {
      const p = await admin.context.newPage();
      await p.setViewportSize(LAPTOP); // the detail column is hidden on a phone
      await loginThroughForm(p, t.baseUrl, 'admin', ADMIN_PASSWORD);
      await p.goto(`${t.baseUrl}/audit`);
      await p.fill('input[name=action]', 'rollout.pause');
      await p.press('input[name=action]', 'Enter');
      const details = async () => (await p.locator('[data-testid=audit] tbody tr [data-testid=audit-detail]').allInnerTexts()).map((d) => d.replace(/\s+/g, ' '));
      await waitFor('the pauses listed', async () => (await details()).length === 2, 30_000, 200);
      const all = await details();
      // The rollout's own stop (no person): the threshold's code in words, as on the rollout page.
      const stop = /^từ: đang chạy thành: tạm dừng đợt con: Đợt 1: 100 % lý do: Đợt 1: 100 %: 1\/\d trạm đã xong bị lỗi, vượt ngưỡng lỗi 10 %\.$/;
      expect(
        all.filter((d) => stop.test(d)),
        all.join('\n'),
      ).toHaveLength(1);
      // The technician's pause, with no reason typed: the words around it still Vietnamese.
      expect(all).toContain('từ: đang chạy thành: tạm dừng đợt con: Cả xã lý do: không có');
    } finally {
      await admin.close();
    }
  });
});
