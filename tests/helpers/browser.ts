/**
 * A real Chromium for the console tests: Debian's /usr/bin/chromium driven by
 * playwright-core, headless, with a fresh profile per run. Whether it is there
 * is asked with haveTools('chromium') (tests/helpers/require-tool.ts): without
 * it the browser tests skip loudly, except under CI, where they fail.
 * startConsole builds the whole scene most console tests need: server,
 * simulated sites, the test's data, Chromium and a logged-in page.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { startPlayoutFleet } from './playout-fleet.ts';
import { CHROMIUM } from './require-tool.ts';
import { ADMIN_PASSWORD, importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from './server.ts';

export { CHROMIUM };
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-output/screenshots');

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { timezoneId?: string; extraArgs?: string[] } = {}): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.extraArgs ?? []),
    ],
    viewport: { width: 1280, height: 900 },
    // The tests' browser sits in another zone on purpose: the console must still show Asia/Ho_Chi_Minh times.
    timezoneId: opts.timezoneId ?? 'Europe/Paris',
    locale: 'en-GB',
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return path.join(SCREENSHOTS, `${name}.png`);
}

/** Log in through the console's own form and wait for the overview. */
export async function loginThroughForm(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(baseUrl + '/');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.locator('[data-testid=overview-title]').waitFor();
}

/** A simulated commune of sites beside the console's server. */
export interface ConsoleFleet {
  sites: number;
  /** Area code the sites are registered in. */
  area: string;
  /**
   * 'playout' (default): agents that play, with media caches downloading from the server and state under
   * the setup's folder (startPlayoutFleet), for tests that follow audio to the speakers; 'whole': the
   * runner's default whole sites; 'heartbeat-only': sites that cannot play (counted faulty, cannot_play).
   */
  kind?: 'playout' | 'whole' | 'heartbeat-only';
  /** Default 2 s, what the setup's server expects unless the test's env says otherwise. */
  heartbeatS?: number;
  idPrefix?: string;
}

export interface ConsoleSetupOptions {
  /** The server's environment beyond startTestServer's (LOANET_HEARTBEAT_S defaults to '2'). */
  env?: Record<string, string>;
  /** Prefix of the setup's temp folder (the fleets' state, and files the test makes there). */
  dirPrefix?: string;
  fleets?: ConsoleFleet[];
  /**
   * What the server must hold before the browser opens (users, sites, media, schedule), run once every
   * fleet is connected. Lào Cai 2025 is imported before it.
   */
  prepare?: (s: { t: TestServer; dir: string; fleets: FleetRunner[] }) => Promise<void>;
  browser?: { extraArgs?: string[]; timezoneId?: string };
  /** Who logs in on the first page (default admin); null: `page` is open but logged out. */
  login?: { username: string; password: string } | null;
  viewport?: { width: number; height: number };
  /** A bound on a hang, per step (default 90 s: a loaded machine takes seconds per step). */
  pageTimeoutMs?: number;
}

export interface ConsoleSetup {
  t: TestServer;
  /** The setup's temp folder, removed by stop(). */
  dir: string;
  fleets: FleetRunner[];
  browser: Browser;
  /** The first page, logged in as `login` unless that was null. */
  page: Page;
  /**
   * A new page logged in as this user, alone in the browser: the cookies of the earlier sessions are
   * cleared first, so the console sees only this user's session (earlier pages lose theirs).
   */
  openPageAs(username: string, password: string, viewport?: { width: number; height: number }): Promise<Page>;
  stop(): Promise<void>;
}

/**
 * A console under test: a real server (Lào Cai 2025 imported), simulated sites connected to it, the
 * test's data, and a real Chromium logged in through the form. If any step fails, what was already
 * started is stopped before the error is thrown (a beforeAll that throws leaves nothing to afterAll).
 */
export async function startConsole(o: ConsoleSetupOptions = {}): Promise<ConsoleSetup> {
  const dir = tempDir(o.dirPrefix ?? 'loanet-console-');
  const fleets: FleetRunner[] = [];
  let t: TestServer | undefined;
  let browser: Browser | undefined;
  const timeout = o.pageTimeoutMs ?? 90_000;
  const stop = async () => {
    await browser?.close();
    for (const f of fleets) await f.stop();
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    t = await startTestServer({ LOANET_HEARTBEAT_S: '2', ...o.env });
    await importLaoCai2025(t);
    for (const f of o.fleets ?? []) fleets.push(await startFleet(t, dir, f));
    await o.prepare?.({ t, dir, fleets });
    browser = await launchBrowser(o.browser);
    const server = t;
    const b = browser;
    const openPage = async (viewport?: { width: number; height: number }) => {
      const page = await b.context.newPage();
      page.setDefaultTimeout(timeout);
      if (viewport) await page.setViewportSize(viewport);
      return page;
    };
    const page = await openPage(o.viewport);
    const login = o.login === undefined ? { username: 'admin', password: ADMIN_PASSWORD } : o.login;
    if (login) await loginThroughForm(page, server.baseUrl, login.username, login.password);
    return {
      t: server,
      dir,
      fleets,
      browser: b,
      page,
      async openPageAs(username, password, viewport) {
        await b.context.clearCookies();
        const p = await openPage(viewport);
        await loginThroughForm(p, server.baseUrl, username, password);
        return p;
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function startFleet(t: TestServer, dir: string, f: ConsoleFleet): Promise<FleetRunner> {
  const kind = f.kind ?? 'playout';
  if (kind === 'playout') {
    return startPlayoutFleet(t, {
      sites: f.sites,
      area: f.area,
      dir: path.join(dir, f.idPrefix ?? `fleet-${f.area}`),
      ...(f.idPrefix ? { idPrefix: f.idPrefix } : {}),
      ...(f.heartbeatS ? { heartbeatS: f.heartbeatS } : {}),
    });
  }
  const heartbeatS = f.heartbeatS ?? 2;
  const fleet = new FleetRunner({
    api: new LoanetClient(t.baseUrl, t.token),
    mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
    sites: f.sites,
    heartbeatS,
    credentialsFile: null,
    area: f.area,
    ...(f.idPrefix ? { idPrefix: f.idPrefix } : {}),
    ...(kind === 'heartbeat-only' ? { heartbeatOnly: true } : {}),
  });
  try {
    await fleet.start();
    await waitFor(`${f.sites} sites of ${f.area} connected`, () => fleet.stats().connected === f.sites, 60_000, 100);
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}
