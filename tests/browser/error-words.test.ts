/**
 * A refusal reads in the user's language: the server answers a code with its
 * parameters (api/error-catalogue.ts) and the console words it
 * (web/src/strings/errors.ts). On the users page, a name already taken, an
 * admin disabling their own account and demoting the last network-wide admin
 * are refused in Vietnamese with no English of the server, then in English;
 * a site that does not exist reads in one sentence (not one wrapped in
 * another), and a refused schedule input carries its problem code and values.
 * A real server and a real Chromium at 390x844.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { screenshotPath, startConsole, type ConsoleSetup } from '../helpers/browser.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { wordError } from '../../web/src/strings/errors.ts';

const run = haveTools('chromium');
const TAKEN = 'op-batxat';
let t: TestServer;
let c: ConsoleSetup | undefined;
let page: Page;

beforeAll(async () => {
  if (!run) return;
  c = await startConsole({
    dirPrefix: 'loanet-error-words-',
    async prepare(s) {
      t = s.t;
      const made = await t.api('POST', '/api/users', { username: TAKEN, password: 'long-enough-password-1', role: 'operator', area: '02683' });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
    },
    viewport: { width: 390, height: 844 },
    pageTimeoutMs: 60_000,
  });
  page = c.page;
}, 180_000);

afterAll(() => c?.stop());

async function setLang(l: 'vi' | 'en'): Promise<void> {
  await page.click(`header [data-lang=${l}]`);
  await waitFor(`the console in ${l}`, async () => (await page.evaluate<string>('document.documentElement.lang')) === l);
}

/** The refusal shown on the users form: the page's error line once it has this text. */
async function refusal(expected: string): Promise<string> {
  const line = page.locator('[data-testid=user-form] .error', { hasText: expected });
  await line.waitFor();
  return line.innerText();
}

async function createTaken(): Promise<void> {
  await page.goto(`${t.baseUrl}/users`);
  await page.locator(`[data-testid=users] tr[data-user="${TAKEN}"]`).waitFor();
  await page.fill('input[name=newUsername]', TAKEN);
  await page.fill('input[name=newUserPassword]', 'another-long-password-2');
  await page.click('[data-testid=user-form] button[type=submit]');
}

async function disableSelf(): Promise<void> {
  page.once('dialog', (d) => void d.accept());
  await page.locator('[data-testid=users] tr[data-user=admin] button[name=toggleDisabled]').click();
}

async function demoteSelf(): Promise<void> {
  await page.locator('[data-testid=users] tr[data-user=admin] select[name=userRole]').selectOption('operator');
}

/** What the server's English would have put on the page, in any of these refusals. */
const SERVER_ENGLISH = [/already exists/i, /cannot disable/i, /last enabled admin/i, /\buser\b/i, / \/ /];

describe.skipIf(!run)('refusals in the user language', { timeout: 240_000 }, () => {
  it('the server answers codes with parameters, not prose to show', async () => {
    const taken = await t.api('POST', '/api/users', { username: TAKEN, password: 'another-long-password-2', role: 'operator' });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: 'LOANET_NAME_TAKEN', params: { thing: 'user', name: TAKEN } });
    const me = (await t.api('GET', '/api/users')).body.users.find((u: { username: string }) => u.username === 'admin');
    const self = await t.api('PATCH', `/api/users/${me.id}`, { disabled: true });
    expect(self.status).toBe(400);
    expect(self.body).toMatchObject({ error: 'LOANET_SELF_DISABLE', field: 'disabled', params: { field: 'disabled' } });
    // No Vietnamese glued to the English any more: the console words it.
    expect(self.body.message).not.toMatch(/không/);
    const last = await t.api('PATCH', `/api/users/${me.id}`, { role: 'operator' });
    expect(last.status).toBe(409);
    expect(last.body).toMatchObject({ error: 'LOANET_LAST_ADMIN', params: { username: 'admin' } });
    expect(last.body.message).not.toMatch(/quản trị/);
  });

  it('in Vietnamese: a name taken, disabling oneself and demoting the last admin', async () => {
    await setLang('vi');
    await createTaken();
    const taken = await refusal(TAKEN);
    expect(taken).toBe(`Người dùng “${TAKEN}” đã có.`);

    await disableSelf();
    expect(await refusal('tự khóa')).toBe('Không thể tự khóa tài khoản của chính mình.');

    await demoteSelf();
    expect(await refusal('cuối cùng')).toBe('admin là quản trị viên toàn mạng cuối cùng: hãy tạo quản trị viên khác trước.');
    await page.screenshot({ path: screenshotPath('error-words-vi-390'), fullPage: true });
    const text = await page.locator('[data-testid=user-form]').innerText();
    for (const english of SERVER_ENGLISH) expect(text, String(english)).not.toMatch(english);
    // Still an admin: the refusal changed nothing.
    expect((await t.api('GET', '/api/users')).body.users.find((u: { username: string }) => u.username === 'admin')).toMatchObject({ role: 'admin', disabledAt: null });
  });

  it('a page that cannot load says why in one Vietnamese sentence, never one wrapped around another', async () => {
    await setLang('vi');
    await page.goto(`${t.baseUrl}/sites/khong-co-tram-nay`);
    const line = page.locator('main p.error');
    await line.waitFor();
    expect(await line.innerText()).toBe('Không tìm thấy cụm loa khong-co-tram-nay.');
  });

  it('a schedule input is refused with a problem code and its values, worded by the console; the English only as technical detail', async () => {
    const r = await t.api('POST', '/api/schedule/items', {
      title: 'Bản tin thử',
      mediaId: 'khong-co-tep-nay',
      targets: { areas: ['02683'] },
      start: { at: Date.now() + 3_600_000 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body).toMatchObject({ error: 'LOANET_BAD_REQUEST', params: { field: 'mediaId', problem: 'media_unknown', id: 'khong-co-tep-nay' } });
    // What the console shows for this answer (the same words module the page bundles).
    expect(wordError(r.body.error, r.body, r.body.message, 'vi')).toBe('Không có tệp âm thanh khong-co-tep-nay trong thư viện.');
    expect(wordError(r.body.error, r.body, r.body.message, 'en')).toBe('There is no audio file khong-co-tep-nay in the library.');
  });

  it('in English: the same refusals in English words', async () => {
    await setLang('en');
    await createTaken();
    expect(await refusal(TAKEN)).toBe(`User “${TAKEN}” already exists.`);
    await disableSelf();
    expect(await refusal('disable')).toBe('You cannot disable your own account.');
    await demoteSelf();
    expect(await refusal('last admin')).toBe('admin is the last admin of the whole network: make another admin first.');
    await setLang('vi');
  });
});
