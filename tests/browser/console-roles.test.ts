/**
 * The whole console in Vietnamese, as every role sees it, at a phone's 390x844
 * and a laptop's 1366x768: a real server, real agents that play (one with an
 * overheating amplifier and an open speaker line), a commune site that never
 * connected, a bulletin scheduled and approved, an alert in force, a relay on
 * air and one that ended, commands, and the audit entries all of it left.
 * Every page the role's navigation offers (and a site, an alert's tracker, the
 * login form) is read: its visible words, placeholders and labels must be
 * Vietnamese by a dictionary check (a word with Vietnamese letters, or a
 * plain syllable Vietnamese spells without marks; data such as names, ids and
 * the URL excluded), with no wire code (LOANET_*, snake_case), no raw JSON, no
 * number with a decimal point, and nothing wider than the screen. English mode
 * stays English. A screenshot of every page is kept in test-output/screenshots/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { launchBrowser, loginThroughForm, screenshotPath, type Browser } from '../helpers/browser.ts';
import { ffmpeg } from '../helpers/media.ts';
import { startKillableRadio } from '../helpers/live.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { haveTools } from '../helpers/require-tool.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { vi as auditWords } from '../../web/src/strings/audit.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { KNOWN_LANGUAGES } from '../../server/media/languages.ts';

const COMMUNE = '02683'; // Xã Bát Xát
const AREA = `2025.${COMMUNE}`;
const OTHER = '2025.02671'; // Phường Cam Đường
const SIZES = [
  [390, 844],
  [1366, 768],
] as const;

/** Each role the server has (api/auth.ts ROLE_VALUES), the admin twice: network-wide and a commune's. */
const PEOPLE = [
  { username: 'admin', password: ADMIN_PASSWORD, role: 'admin', area: null },
  { username: 'qtv-batxat', password: 'password-of-qtv-batxat', role: 'admin', area: AREA },
  { username: 'vh-batxat', password: 'password-of-vh-batxat', role: 'operator', area: AREA },
  { username: 'kt-tinh', password: 'password-of-kt-tinh', role: 'technician', area: null },
  { username: 'pctt-tinh', password: 'password-of-pctt-tinh', role: 'emergency', area: null },
  { username: 'xem-batxat', password: 'password-of-xem-batxat', role: 'viewer', area: AREA },
] as const;

/**
 * What a page shows once loaded (its data in, not a "Đang tải…"): the page's
 * own mark. The walk waits for it, then reads.
 */
const READY: Record<string, string> = {
  '/': '[data-testid=share-sites]',
  '/sites': '[data-testid=sites] tbody tr',
  '/schedule': '[data-testid=items]',
  '/schedule/languages': '[data-testid=village-languages] tbody tr',
  '/emergency': '[data-testid=alerts] tbody tr',
  '/live': '[data-testid=streams] tbody tr',
  '/account': '[data-testid=tokens]',
  '/users': '[data-testid=users] tbody tr',
  '/audit': '[data-testid=audit] tbody tr',
  '/updates': '[data-testid=fleet-versions]',
};

const ALERT_TEXT = 'Cảnh báo lũ quét. Người dân di chuyển đến nơi an toàn.';
const releaseKey = makeSigningKey();
const release = makeRelease({ id: 'agent-99-1-0', version: '99.1.0', key: releaseKey, files: { 'main.mjs': 'export {};\n' } });

const run = haveTools('chromium', 'ffmpeg', 'espeak-ng');

let t: TestServer;
let fleet: FleetRunner;
let browser: Browser;
let dir: string;
let radio: Awaited<ReturnType<typeof startKillableRadio>>;
let faultySite: string;
let alertId: string;
let rolloutId: string;
/** Names, ids, titles, versions and addresses: data, whatever language it is in. */
const data = new Set<string>();

// --- the dictionary check -------------------------------------------------------------

const VI_LETTERS = 'a-zàáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ';
const VI_WORD = new RegExp(`^[${VI_LETTERS}]+$`);
/**
 * A Vietnamese syllable spelled without any mark: an onset, a vowel nucleus
 * with no diacritic, and a final nasal where that nucleus takes one. Without a
 * tone mark a syllable cannot end in p, t, c or ch (those carry sắc or nặng),
 * which is what rules out most English words ("not", "at", "set", "ok").
 */
const PLAIN_SYLLABLE = /^(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?((a|e|i|o|u|y|oa|oe|uy)(ng|nh|m|n)?|ai|ao|au|ay|eo|ia|iu|oai|oay|oao|oi|ua|uai|uay|ui|uya|uyu)$/;
/** English words that happen to be spelled like a plain Vietnamese syllable, and are not words of the console's Vietnamese. */
const ENGLISH_LOOKALIKES = new Set([
  'the',
  'them',
  'then',
  'than',
  'thin',
  'thing',
  'in',
  'on',
  'no',
  'can',
  'man',
  'men',
  'ten',
  'he',
  'me',
  'him',
  'king',
  'sing',
  'ring',
  'may',
  'say',
  'day',
  'go',
  'by',
  'my',
  'cannot',
  'none',
  'sound',
  'line',
  'time',
  'name',
]);
/** Units, acronyms, formats' and protocols' names, notation and the brand, as Vietnamese writes them too. */
const ALLOWED = new Set([
  'loanet',
  'ms',
  'dB',
  'dBm',
  'Hz',
  'kHz',
  'Ω',
  'V',
  'W',
  'C',
  'km',
  'm',
  's',
  'kbps',
  'MB',
  'KB',
  'GB',
  'MiB',
  'KiB',
  'GiB',
  'CAP',
  'URL',
  'API',
  'MQTT',
  'QR',
  'ID',
  'TTS',
  'SIM',
  'IP',
  'GPS',
  'CSV',
  'PDF',
  'MP3',
  'AAC',
  'Ogg',
  'Opus',
  'Icecast',
  'Mosquitto',
  '4G',
  '3G',
  'LTE',
  'GMT',
  'UTC',
  'http',
  'https',
  'kbit',
  'FEC',
  'p50',
  'p95',
  'p99',
  // A decree's number as Vietnamese law writes it (Nghị định … /NĐ-CP: nghị định của Chính phủ).
  'NĐ-CP',
]);

/** Every problem with one page's text in Vietnamese: words that are not Vietnamese, codes, JSON, decimal points. */
function notVietnamese(text: string): string[] {
  const found: string[] = [];
  if (/\{\s*"|"\s*:/.test(text)) found.push(`raw JSON: ${/.{0,30}(\{\s*"|"\s*:).{0,30}/.exec(text)?.[0]}`);
  let rest = text;
  // The longest data first, so a name that contains another is taken whole.
  for (const d of [...data].sort((a, b) => b.length - a.length)) rest = rest.split(d).join(' ');
  // A version (0.1.0) is data; a number with a decimal point is not how Vietnamese writes it.
  rest = rest.replace(/\b\d+\.\d+\.\d+\b/g, ' ');
  for (const m of rest.match(/\d+\.\d{1,2}(?!\d)/g) ?? []) found.push(`decimal point: ${m}`);
  for (const raw of rest.split(/[\s,;:()[\]{}"'“”‘’«»/|·•—–…!?<>=+*#@&^~`\\]+|\.(?=\s|$)/u)) {
    const token = raw.replace(/^[.-]+|[.-]+$/g, '');
    if (!token || /^[\d.,%°%+\-−]+$/.test(token)) continue;
    const word = token.replace(/^\d+(?=[^\d.,])/, '').replace(/^[°%]+/, '');
    if (!word || ALLOWED.has(word) || /^\d+[.,]?\d*(%|°C|Ω|dB|dBm|ms|s|m|h|Hz)?$/.test(token)) continue;
    // Arrows, bullets and pictograms are not words.
    if (!/\p{L}/u.test(word)) continue;
    // An id (letters and digits mixed, long): data the server made.
    if (word.length >= 8 && (word.match(/\d/g) ?? []).length >= 2 && /^[\p{L}\d._-]+$/u.test(word)) continue;
    if (/^LOANET_|\p{L}_\p{L}/u.test(word)) {
      found.push(`code: ${word}`);
      continue;
    }
    if (/^[a-z]+(-[a-z0-9]+)+$/.test(word)) {
      found.push(`code: ${word}`);
      continue;
    }
    const lower = word.toLocaleLowerCase('vi');
    if (/^[a-z]$/.test(lower)) continue; // a letter named (a–z in the username rule)
    if (!VI_WORD.test(lower)) {
      found.push(`not a Vietnamese word: ${word}`);
      continue;
    }
    if (/^[a-z]+$/.test(lower) && (!PLAIN_SYLLABLE.test(lower) || ENGLISH_LOOKALIKES.has(lower))) found.push(`English word: ${word}`);
  }
  return [...new Set(found)];
}

/** Words of the console's Vietnamese that an English page must not show (data removed). */
function notEnglish(text: string): string[] {
  let rest = text;
  for (const d of [...data].sort((a, b) => b.length - a.length)) rest = rest.split(d).join(' ');
  rest = rest.split('Tiếng Việt').join(' ');
  return [...new Set(rest.match(new RegExp(`[${VI_LETTERS.replace('a-z', '')}]`, 'g')) ?? [])].map(
    (c) => `Vietnamese letter ${c} in: ${new RegExp(`\\S*${c}\\S*`).exec(rest)?.[0]}`,
  );
}

/**
 * What the user reads on the page: every rendered text (closed <details> opened
 * first, so a folded form is read too), placeholders and accessible labels;
 * not the language switch (each language by its own name) nor <code> (a
 * command to copy as it is).
 */
function readPage(page: Page): Promise<string> {
  return page.evaluate<string>(`(() => {
    for (const d of document.querySelectorAll('details')) d.open = true;
    const skip = (el) => el.closest('[data-lang], .lang, code, kbd, samp, script, style, textarea');
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || skip(el) || !n.textContent.trim()) continue;
      if (el.tagName === 'OPTION' || el.checkVisibility({ visibilityProperty: true, opacityProperty: false })) out.push(n.textContent.trim());
    }
    for (const el of document.querySelectorAll('[placeholder], [aria-label]')) {
      if (skip(el)) continue;
      for (const a of ['placeholder', 'aria-label']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
    return out.join('\\n');
  })()`);
}

async function widths(page: Page): Promise<{ doc: number; body: number; view: number }> {
  return page.evaluate('({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth })');
}

/** Open a page and wait until its data is in: its mark, and no "loading" left anywhere. */
async function open(page: Page, url: string): Promise<void> {
  await page.goto(t.baseUrl + url);
  const ready = url.startsWith('/sites/')
    ? '[data-testid=events] tr'
    : url.startsWith('/emergency/')
      ? '[data-testid=alert-progress]'
      : url.startsWith('/updates/rollouts/')
        ? '[data-testid=rollout-sites] tbody tr'
        : READY[url];
  if (ready) await page.locator(ready).first().waitFor();
  // A stream's detail (its delay, skew, loss and every site's report) opens under the list.
  if (url === '/live') {
    await page.locator('[data-testid=streams] tbody tr td:first-child').first().click();
    await page.locator('[data-testid=stream-detail] [data-testid=skew]').waitFor();
  }
  await waitFor(`${url} loaded`, async () => !(await page.evaluate<boolean>(`/Đang tải|Loading…/.test(document.body.innerText)`)), 60_000, 100);
}

/**
 * Log in as one user on a page of its own and walk with it: the pages its
 * navigation offers, a site and the alert's tracker. The page is closed
 * whatever happens: an open page holds its live-update stream, and Chromium
 * gives one host six connections.
 */
async function signedIn(username: string, password: string, walk: (page: Page, urls: string[]) => Promise<void>): Promise<void> {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  try {
    page.setDefaultTimeout(60_000); // a bound on a hang: a loaded machine takes seconds per step
    await loginThroughForm(page, t.baseUrl, username, password);
    await useLang(page, 'vi');
    const nav = await page.locator('header nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    // A rollout's own page, for those whose navigation offers software updates and whose area it reaches (it updates a site of
    // Cam Đường: a person of Bát Xát is answered "not found or outside your area", as for any id of another commune).
    const networkWide = PEOPLE.find((p) => p.username === username)?.area === null;
    const rollout = nav.includes('/updates') && networkWide ? [`/updates/rollouts/${encodeURIComponent(rolloutId)}`] : [];
    // The villages' languages: reached from the schedule page, not the navigation.
    await walk(page, [...nav, '/schedule/languages', `/sites/${encodeURIComponent(faultySite)}`, `/emergency/${encodeURIComponent(alertId)}`, ...rollout]);
  } finally {
    await page.close();
  }
}

async function useLang(page: Page, l: 'vi' | 'en'): Promise<void> {
  if ((await page.evaluate<string>('document.documentElement.lang')) !== l) await page.click(`button[data-lang=${l}]`);
  await waitFor(`the console in ${l}`, async () => (await page.evaluate<string>('document.documentElement.lang')) === l, 10_000, 50);
}

beforeAll(async () => {
  if (!run) return;
  dir = tempDir('loanet-console-roles-');
  t = await startTestServer({ LOANET_HEARTBEAT_S: '2', LOANET_RELAY_ALLOW: '127.0.0.1' });
  await importLaoCai2025(t);
  fleet = await startPlayoutFleet(t, { sites: 2, area: COMMUNE, dir });
  faultySite = fleet.ids()[0]!;

  // The commune speaks H'Mông first: the languages page names it in the console's language.
  const spoken = await t.api('PUT', `/api/areas/${COMMUNE}/languages`, { languages: ['hmn', 'vi'] });
  expect(spoken.status, JSON.stringify(spoken.body)).toBe(200);
  // English names of peoples keep their own letters (Tày, Nùng): data there, while "Tiếng" is still caught.
  for (const l of KNOWN_LANGUAGES) {
    data.add(l.nameEn);
    // A Vietnamese name may add the international name, "Tiếng Hà Nhì (Hani)": that bracket is data, the rest is not.
    const own = /\([^)]+\)$/.exec(l.name)?.[0];
    if (own) data.add(own);
  }

  // A site of another commune that never connected, placed on the map.
  const never = await t.api('POST', '/api/sites', { name: 'Đài Cam Đường', kind: 'station', area: OTHER, lat: 22.42, lon: 103.97 });
  expect(never.status, JSON.stringify(never.body)).toBe(201);

  // A signed release, uploaded whole, rolled out to the site that never connected (it waits, held offline).
  fs.mkdirSync(path.join(t.dataDir, 'release-keys'), { recursive: true });
  fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'roles-key.pem'), releaseKey.publicPem);
  const stored = await t.api('POST', '/api/releases', { manifest: release.manifestBytes.toString('base64'), signatures: release.signatures });
  expect(stored.status, JSON.stringify(stored.body)).toBe(201);
  for (const [file, body] of release.files) {
    const res = await fetch(`${t.baseUrl}/api/releases/${stored.body.id}/files/${file}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status, await res.text()).toBeLessThan(300);
  }
  const rollout = await t.api('POST', '/api/rollouts', {
    releaseId: stored.body.id,
    targets: { sites: [never.body.site.id] },
    waves: [{ name: 'Đài chưa kết nối', percent: 100 }],
  });
  expect(rollout.status, JSON.stringify(rollout.body)).toBe(201);
  rolloutId = rollout.body.id;
  // Its id, key, file and wave name are data the pages show as they are.
  data.add(stored.body.id).add(rolloutId).add(releaseKey.keyId).add('main.mjs').add('Đài chưa kết nối');

  for (const p of PEOPLE.filter((x) => x.username !== 'admin')) {
    const r = await t.api('POST', '/api/users', { username: p.username, password: p.password, role: p.role, ...(p.area ? { area: p.area } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  expect((await t.api('POST', '/api/auth/tokens', { name: 'Phần mềm báo cáo' })).status).toBe(201);

  // A bulletin from text, scheduled tomorrow morning and approved.
  const media = await t.api('POST', '/api/media/tts', { title: 'Thông báo tiêm phòng', text: 'Sáng mai, trạm y tế xã tiêm phòng cho trẻ em.' });
  expect(media.status, JSON.stringify(media.body)).toBe(201);
  const tomorrow = new Date(Date.now() + 7 * 3_600_000 + 86_400_000).toISOString().slice(0, 10);
  const item = await t.api('POST', '/api/schedule/items', {
    title: 'Bản tin sáng',
    mediaId: media.body.id,
    targets: { areas: [COMMUNE] },
    start: { dtstart: `${tomorrow}T06:30`, rrule: 'FREQ=DAILY;BYHOUR=6;BYMINUTE=30' },
  });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  expect((await t.api('POST', `/api/schedule/items/${item.body.id}/approve`)).status).toBe(200);
  const draft = await t.api('POST', '/api/schedule/items', {
    title: 'Bản tin chiều',
    mediaId: media.body.id,
    targets: { areas: [COMMUNE] },
    start: { at: `${tomorrow}T17:00` },
    priority: 'priority',
  });
  expect(draft.status, JSON.stringify(draft.body)).toBe(201);

  // Commands: one that succeeds, one that the site refuses or answers, in the history.
  const ok = await t.api('POST', `/api/sites/${faultySite}/commands`, { type: 'set_volume', params: { level: 55 }, waitMs: 20_000 });
  expect(ok.body.status, JSON.stringify(ok.body)).toBe('succeeded');
  await t.api('POST', `/api/sites/${faultySite}/commands`, { type: 'test_tone', params: {}, waitMs: 20_000 });

  // A relay of the commune that played and ended (every commune user sees it), then one of another on air during the walk.
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, 'radio.mp3'));
  radio = await startKillableRadio(fs.readFileSync(path.join(dir, 'radio.mp3')), { gapMs: 1500 });
  for (const [area, stop] of [
    [AREA, true],
    [OTHER, false],
  ] as const) {
    const r = await t.api('POST', '/api/live/streams', { source: { kind: 'relay', url: radio.url }, areas: [area] });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    if (stop) expect((await t.api('POST', `/api/live/streams/${r.body.id}/stop`)).status).toBeLessThan(300);
  }

  // An alert in force for the commune (a test alert: it plays, and every page's banner carries it).
  const alert = await t.api('POST', '/api/alerts', { title: 'Cảnh báo lũ quét', areas: [AREA], message: { text: ALERT_TEXT }, test: true, validForMinutes: 120 });
  expect(alert.status, JSON.stringify(alert.body)).toBe(201);
  alertId = alert.body.id;

  fleet.injectFault(faultySite, { kind: 'amp_overheat' });
  fleet.injectFault(faultySite, { kind: 'line_open', line: 1 });
  await waitFor(
    'the faults reported',
    async () => {
      const reasons = ((await t.api('GET', `/api/sites/${faultySite}`)).body.status?.reasons ?? []) as Array<{ code: string }>;
      return reasons.some((r) => r.code === 'amplifier_fault');
    },
    60_000,
    200,
  );

  // Data the pages show as it is: names, ids, titles, versions, the radio's address.
  for (const s of (await t.api('GET', '/api/sites?limit=100')).body.sites as Array<{
    id: string;
    name: string;
    status: { telemetry: { agentVersion?: string; devices?: Array<{ id: string; firmware?: string }> } | null } | null;
  }>) {
    data.add(s.id).add(s.name);
    const tel = s.status?.telemetry;
    if (tel?.agentVersion) data.add(tel.agentVersion);
    for (const d of tel?.devices ?? []) {
      data.add(d.id);
      if (d.firmware) data.add(d.firmware);
    }
  }
  for (const level of ['province', 'district', 'commune', 'village'])
    for (const a of (await t.api('GET', `/api/areas?level=${level}`)).body.areas as Array<{ key: string; name: string }>) data.add(a.name);
  for (const p of PEOPLE) data.add(p.username);
  for (const x of ['Thông báo tiêm phòng', 'Bản tin sáng', 'Bản tin chiều', 'Cảnh báo lũ quét', 'Phần mềm báo cáo', ALERT_TEXT, radio.url, new URL(radio.url).host]) data.add(x);
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stop();
  await t?.stop();
  await radio?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!run)('the console in Vietnamese as every role, at 390x844 and 1366x768', { timeout: 900_000 }, () => {
  it('the login page', async () => {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(60_000);
    await browser.context.clearCookies();
    try {
      for (const [w, h] of SIZES) {
        await page.setViewportSize({ width: w, height: h });
        await page.goto(`${t.baseUrl}/`);
        await page.locator('input[name=username]').waitFor();
        await useLang(page, 'vi');
        const text = await readPage(page);
        expect(notVietnamese(text), text).toEqual([]);
        const wd = await widths(page);
        expect(wd.doc, JSON.stringify(wd)).toBeLessThanOrEqual(wd.view);
        await page.screenshot({ path: screenshotPath(`roles-login-${w}x${h}`), fullPage: true });
      }
    } finally {
      await page.close();
    }
  });

  for (const person of PEOPLE) {
    const who = `${person.role}${person.area ? '-commune' : ''}`;
    it(`as ${who} (${person.username}): every page in Vietnamese, nothing wider than the screen`, () =>
      signedIn(person.username, person.password, async (page, urls) => {
        const problems: string[] = [];
        for (const [w, h] of SIZES) {
          await page.setViewportSize({ width: w, height: h });
          for (const url of urls) {
            await open(page, url);
            const text = await readPage(page);
            for (const p of notVietnamese(text)) problems.push(`${w}x${h} ${url}: ${p}`);
            const wd = await widths(page);
            if (wd.doc > wd.view || wd.body > wd.view) problems.push(`${w}x${h} ${url}: ${wd.doc} px wide on a ${wd.view} px screen`);
            await page.screenshot({
              path: screenshotPath(`roles-${who}-${url === '/' ? 'overview' : url.slice(1).split('/')[0]}${url.split('/').length > 2 ? '-one' : ''}-${w}x${h}`),
              fullPage: true,
            });
          }
        }
        expect(problems).toEqual([]);
      }));
  }

  it('in English every page stays English (a network-wide admin at 1366x768)', () =>
    signedIn('admin', ADMIN_PASSWORD, async (page, urls) => {
      await page.setViewportSize({ width: 1366, height: 768 });
      await useLang(page, 'en');
      const problems: string[] = [];
      try {
        for (const url of urls) {
          await open(page, url);
          for (const p of notEnglish(await readPage(page))) problems.push(`${url}: ${p}`);
        }
      } finally {
        await useLang(page, 'vi');
      }
      expect(problems).toEqual([]);
    }));
});

describe.skipIf(!run)('times in Asia/Ho_Chi_Minh', { timeout: 300_000 }, () => {
  it("a commune operator's phone in another zone reads the alert's time as the province's clock", () =>
    signedIn('vh-batxat', 'password-of-vh-batxat', async (page) => {
      await page.setViewportSize({ width: 390, height: 844 });
      await open(page, `/emergency/${encodeURIComponent(alertId)}`);
      const issuedAt = (await t.api('GET', `/api/alerts/${alertId}`)).body.delivery.issuedAt as number;
      const at = (timeZone: string) =>
        new Intl.DateTimeFormat('vi-VN', {
          timeZone,
          day: '2-digit',
          month: '2-digit',
          year: 'numeric',
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
          hourCycle: 'h23',
        }).format(issuedAt);
      const text = await page.locator('main').innerText();
      expect(text).toContain(at('Asia/Ho_Chi_Minh'));
      // The browser runs in Europe/Paris (tests/helpers/browser.ts): its own clock must not show.
      expect(text).not.toContain(at('Europe/Paris'));
    }));
});

describe.skipIf(!run)('the alert area without a pointer', { timeout: 300_000 }, () => {
  it('an official on a phone types the corners: the drawn area and the sites inside follow, and a line that is not a corner is named', () =>
    signedIn('pctt-tinh', 'password-of-pctt-tinh', async (page) => {
      await page.setViewportSize({ width: 390, height: 844 });
      await open(page, '/emergency');
      await page.focus('input[name=where][value=polygon]');
      await page.keyboard.press('Space');
      const field = page.locator('textarea[name=corners]');
      await field.waitFor();
      // A box around Đài Cam Đường (22.42, 103.97), in the Vietnamese way (decimal comma, a space between).
      await field.focus();
      await page.keyboard.type('22,40 103,95\n22,44 103,95\n22,44 103,99\n22,40 103,99');
      await page.focus('[data-testid=corners-apply]');
      await page.keyboard.press('Enter');
      const drawn = page.locator('[data-testid=polygon-draw][data-corners="4"]');
      await drawn.waitFor();
      const sites = (await t.api('GET', '/api/sites?brief=true&limit=1000')).body.sites as Array<{ lat: number | null; lon: number | null }>;
      const inBox = sites.filter((x) => x.lat !== null && x.lon !== null && x.lat > 22.4 && x.lat < 22.44 && x.lon > 103.95 && x.lon < 103.99).length;
      expect(inBox).toBeGreaterThanOrEqual(1);
      expect(await drawn.getAttribute('data-inside')).toBe(String(inBox));
      expect(await page.locator('[data-testid=polygon-draw]').innerText()).toContain(`${inBox} trạm trong vùng`);
      // The send step is open to the keyboard as well.
      expect(await page.isEnabled('[data-testid=alert-form] button[type=submit]')).toBe(false); // no text yet
      await page.fill('textarea[name=text]', 'Cảnh báo sạt lở đất.');
      expect(await page.isEnabled('[data-testid=alert-form] button[type=submit]')).toBe(true);

      await field.fill('22,40 103,95\nbản đồ');
      await page.click('[data-testid=corners-apply]');
      expect(await page.locator('[data-testid=corners-error]').innerText()).toBe('Dòng 2 không phải tọa độ: bản đồ');
      expect(await page.getAttribute('[data-testid=polygon-draw]', 'data-corners')).toBe('4');
      const wd = await widths(page);
      expect(wd.doc, JSON.stringify(wd)).toBeLessThanOrEqual(wd.view);
      await page.screenshot({ path: screenshotPath('roles-emergency-corners-390x844'), fullPage: true });
    }));
});

describe('the dictionary check itself', () => {
  it('passes Vietnamese, units and symbols, and names each English word, code, JSON and decimal point', () => {
    expect(notVietnamese('Bộ khuếch đại: quá nhiệt · Pin 100 % · 219,9 Ω · Độ lệch p99 · ⚠ → tải lên… 42 %')).toEqual([]);
    expect(notVietnamese('an toàn, con, sang, hay, to, tin, ban, văn bản (a–z)')).toEqual([]);
    expect(notVietnamese('bộ khuếch đại: overheat')).toEqual(['English word: overheat']);
    expect(notVietnamese('Trạng thái: ok, open')).toEqual(['English word: ok', 'English word: open']);
    expect(notVietnamese('the site did not answer')).toEqual(['English word: the', 'English word: site', 'English word: did', 'English word: not', 'English word: answer']);
    expect(notVietnamese('line_open · LOANET_CONFLICT · last-will')).toEqual(['code: line_open', 'code: LOANET_CONFLICT', 'code: last-will']);
    expect(notVietnamese('{"volume":55}')[0]).toMatch(/^raw JSON/);
    expect(notVietnamese('0.00 % · 219.9 Ω')).toEqual(['decimal point: 0.00', 'decimal point: 219.9']);
  });
});

/** Every file under a folder, recursively. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('the audit log words every action', () => {
  it('has words for each action the server records (audit.record in server/), a command to a site included', () => {
    const actions = new Set<string>();
    for (const f of filesUnder(path.resolve(import.meta.dirname, '../../server'))) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/audit\.record\(\s*[^,]+,\s*(['`])([a-z.]+?)(\$\{|\1)/g)) actions.add(m[3] === '${' ? `${m[2]}*` : m[2]!);
    }
    // The walk must find the records (about forty), or it proves nothing.
    expect(actions.size).toBeGreaterThan(30);
    expect(actions).toContain('site.command.*');
    const key = (action: string) => `act_${action.replace(/\.\*$/, '').replace(/\./g, '_')}`;
    expect([...actions].filter((a) => !(key(a) in auditWords))).toEqual([]);
  });
});
