/**
 * The world of the tests that follow a bulletin or an alert into the
 * languages Xã Bát Xát's villages speak (Decree 49/2024/NĐ-CP): a real server
 * with the Lào Cai 2025 areas, library items tagged with their language, the
 * commune's station and one village cluster per village as real playing
 * agents (playout-fleet.ts), each village's languages set through the API as
 * the commune's official sets them; and what those tests then ask: a
 * bulletin with versions scheduled and approved, the receipts it leaves, an
 * alert's delivery report, the site configuration an agent kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { SITE_CONFIG_FILE } from '../../edge-agent/site-config.ts';
import { readStateFile } from '../../edge-agent/state-file.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { uploadTone } from './media.ts';
import { startPlayoutFleet, type PlayoutFleetOptions } from './playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from './server.ts';

export const BAT_XAT = '02683';

/** Village n → its languages, in order, for villages 1 … N of Xã Bát Xát. */
export type VillageLanguages = Readonly<Record<number, readonly string[]>>;

/** The ids the fleet runner gives Xã Bát Xát's sites (firmware-sim/fleet-plan.ts) and its villages' area keys. */
export interface CommuneSites {
  /** The cluster of village n. */
  site(n: number): string;
  /** Village n's area key. */
  village(n: number): string;
  /** The commune's station. */
  station: string;
}

const nn = (n: number) => String(n).padStart(2, '0');

/** Village n's area key in the 2025 list. */
export const villageKey = (n: number) => `2025.${BAT_XAT}-${nn(n)}`;

export function communeSites(idPrefix: string): CommuneSites {
  return { site: (n) => `${idPrefix}-${BAT_XAT}-v${nn(n)}`, village: villageKey, station: `${idPrefix}-${BAT_XAT}-st` };
}

/** A sine tone uploaded to the library and tagged with its language: its id and the duration the library measured (the encoder pads a little). */
export async function uploadLanguageTone(t: TestServer, dir: string, o: { lang: string; title: string; seconds: number; hz: number }): Promise<{ id: string; durationMs: number }> {
  const id = await uploadTone(t, dir, { title: o.title, seconds: o.seconds, hz: o.hz });
  const r = await t.inject('PATCH', `/api/media/${id}`, { lang: o.lang });
  expect(r.status, r.text).toBe(200);
  return { id, durationMs: r.body.durationMs as number };
}

/** Each village's languages, in order, set as the commune's official sets them. */
export async function setVillageLanguages(t: TestServer, villages: VillageLanguages): Promise<void> {
  for (const [n, languages] of Object.entries(villages)) {
    const r = await t.inject('PUT', `/api/areas/${villageKey(Number(n))}/languages`, { languages });
    expect(r.status, r.text).toBe(200);
  }
}

export interface VillagesOptions extends Pick<PlayoutFleetOptions, 'httpUrlFor' | 'withoutFeatures' | 'log'> {
  idPrefix: string;
  /** The fleet is the commune's station and one cluster in each of these villages; their languages are set once every agent is connected. */
  villages: VillageLanguages;
}

export interface LanguageWorld {
  readonly t: TestServer;
  /** The sites' state and caches (under sites/), the tones' files. */
  readonly dir: string;
  /** Starts the agents of Xã Bát Xát's station and villages, then sets the villages' languages. */
  startVillages(o: VillagesOptions): Promise<FleetRunner>;
  /** The site configuration the site's agent kept on its disk, or undefined before it has one. */
  siteConfigKept(siteId: string): Promise<{ languages?: string[] } | undefined>;
  /**
   * Stops the agents, then the server, and removes the folder. `beforeServer`: what the test put between
   * the agents and the server (a middlebox), closed once the agents are stopped.
   */
  stop(beforeServer?: () => Promise<void>): Promise<void>;
}

/** A server in a new folder named `tempPrefix…` with the Lào Cai 2025 areas; its agents come with startVillages, once the test has its library items. */
export async function startLanguageWorld(o: { tempPrefix: string; env?: Record<string, string> }): Promise<LanguageWorld> {
  const dir = tempDir(o.tempPrefix);
  let t: TestServer | undefined;
  let fleet: FleetRunner | undefined;
  try {
    t = await startTestServer(o.env);
    await importLaoCai2025(t);
  } catch (err) {
    // The caller never receives a world that failed to start, so it could not stop it.
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const server = t;
  return {
    t: server,
    dir,
    async startVillages(v) {
      const count = Object.keys(v.villages).length;
      for (let n = 1; n <= count; n++) if (!v.villages[n]) throw new Error(`villages must be numbered 1 … ${count}: village ${n} has no languages`);
      fleet = await startPlayoutFleet(server, {
        sites: 1 + count,
        area: BAT_XAT,
        dir,
        idPrefix: v.idPrefix,
        cacheLimitBytes: 50 * 1024 * 1024,
        connectTimeoutMs: 30_000,
        ...(v.httpUrlFor ? { httpUrlFor: v.httpUrlFor } : {}),
        ...(v.withoutFeatures ? { withoutFeatures: v.withoutFeatures } : {}),
        ...(v.log ? { log: v.log } : {}),
      });
      await setVillageLanguages(server, v.villages);
      return fleet;
    },
    async siteConfigKept(siteId) {
      const kept = await readStateFile(path.join(dir, 'sites', siteId, SITE_CONFIG_FILE), 'site configuration', () => {});
      return kept.value as { languages?: string[] } | undefined;
    },
    async stop(beforeServer) {
      await fleet?.stop();
      await beforeServer?.();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The vaccination notice for the whole commune at `at`, created and approved as an operator does:
 * `mediaId` its own recording (Vietnamese), `versions` its other languages' recordings (language →
 * media id, in this order). Its item id and the id of its entry at `at`.
 */
export async function scheduleBulletin(
  t: TestServer,
  o: { mediaId: string; versions: Readonly<Record<string, string>>; at: number },
): Promise<{ itemId: string; entryId: string }> {
  const created = await t.inject('POST', '/api/schedule/items', {
    title: 'Thông báo tiêm chủng',
    mediaId: o.mediaId,
    versions: Object.entries(o.versions).map(([language, mediaId]) => ({ language, mediaId })),
    targets: { areas: [BAT_XAT] },
    start: { at: o.at },
  });
  expect(created.status, created.text).toBe(201);
  const itemId: string = created.body.id;
  const approved = await t.inject('POST', `/api/schedule/items/${itemId}/approve`);
  expect(approved.status, approved.text).toBe(200);
  return { itemId, entryId: `${itemId}@${o.at}` };
}

/** Waits until every one of `siteIds` has written its receipt of `entryId` in its agent's journal. */
export async function receiptsWritten(fleet: FleetRunner, siteIds: readonly string[], entryId: string, timeoutMs: number): Promise<void> {
  await waitFor('every site to write its receipt', () => siteIds.every((id) => fleet.site(id).agent.playout?.journal.has(entryId)), timeoutMs, 100);
}

/** A site's row in an alert's delivery report. */
export interface AlertReportRow {
  siteId: string;
  status: string;
  receivedAt: number | null;
  messageAt: number | null;
  messageRepeats: number | null;
  languagesPlayed?: string[] | null;
  languagesMissed?: string[] | null;
}

/** The alert's delivery report, site by site. */
export async function alertReport(t: TestServer, alertId: string): Promise<Map<string, AlertReportRow>> {
  const r = await t.inject('GET', `/api/alerts/${alertId}/report?format=json`);
  expect(r.status, r.text).toBe(200);
  return new Map((r.body.sites as AlertReportRow[]).map((s) => [s.siteId, s]));
}
