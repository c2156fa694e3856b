/**
 * A bulletin in each village's own languages (Decree 49/2024/NĐ-CP), end to
 * end with real components: a real server (HTTP, embedded broker over TCP,
 * SQLite), real ffmpeg for the media, the fleet runner's real agents
 * (declaring playlist_parts, fetching every version into their cache,
 * playing them back to back) and simulated amplifiers.
 *
 * Xã Bát Xát's villages speak [hmn, vi], [ium, hmn, vi], [vi] and [tyz]; the
 * bulletin has vi (default), hmn and ium versions. Each village plays its
 * versions in its order as one programme, the Tày village the Vietnamese
 * version (no Tày one was recorded), and the as-run says, village by village,
 * what played and whether it was heard in its own language. An older agent
 * (a plain MQTT client declaring nothing) gets the Vietnamese version alone.
 * Ordering and receipt outcomes are checked, not timing windows.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { siteTopic, type PlaylistMessage } from '../../protocol/index.ts';
import { BAT_XAT, communeSites, receiptsWritten, scheduleBulletin, startLanguageWorld, uploadLanguageTone, type LanguageWorld } from '../helpers/language-villages.ts';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = BAT_XAT; // Xã Bát Xát
const PREFIX = 'lang';
const VERSION_S = 2;
const FRAMES = (VERSION_S * 1000) / 20;

let w: LanguageWorld;
let t: TestServer;
let fleet: FleetRunner;
let dir: string;
const media: Record<string, string> = {};
/** Each media item's duration as the library measured it (the encoder pads a little). */
const durationOf: Record<string, number> = {};
let oldAgent: MqttClient | undefined;
const oldPlaylists: PlaylistMessage[] = [];
const OLD_SITE = 'lang-old-agent';

const { site, village, station: STATION } = communeSites(PREFIX);
/** Village → its languages, in order. */
const VILLAGES: Record<number, string[]> = { 1: ['hmn', 'vi'], 2: ['ium', 'hmn', 'vi'], 3: ['vi'], 4: ['tyz'] };

async function tone(lang: string, hz: number): Promise<string> {
  const { id, durationMs } = await uploadLanguageTone(t, dir, { lang, title: `Bản tin (${lang})`, seconds: VERSION_S, hz });
  durationOf[id] = durationMs;
  return id;
}

beforeAll(async () => {
  if (!canRun) return;
  w = await startLanguageWorld({ tempPrefix: 'loanet-languages-', env: { LOANET_SCHEDULE_RECOMPUTE_S: '5' } });
  ({ t, dir } = w);
  media.vi = await tone('vi', 440);
  media.hmn = await tone('hmn', 550);
  media.ium = await tone('ium', 660);
  media.hmnToo = await tone('hmn', 770);
  // A station in the commune and four village clusters (villages 02683-01 … 04), each agent playing for real.
  fleet = await w.startVillages({ idPrefix: PREFIX, villages: VILLAGES });
  // An agent from before language versions: it declares no features.
  const reg = await t.inject('POST', '/api/sites', { id: OLD_SITE, name: 'Cụm loa cũ thôn 01', kind: 'cluster', area: village(1) });
  expect(reg.status, reg.text).toBe(201);
  const { secret } = reg.body.credential as { secret: string };
  oldAgent = mqtt.connect(t.mqttUrl, { clientId: OLD_SITE, username: OLD_SITE, password: secret, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  oldAgent.on('message', (topic, payload) => {
    if (topic === siteTopic(OLD_SITE, 'playlist') && payload.length > 0) oldPlaylists.push(JSON.parse(payload.toString('utf8')) as PlaylistMessage);
  });
  await new Promise<void>((resolve, reject) => {
    oldAgent!.once('connect', () => resolve());
    oldAgent!.once('error', reject);
  });
  await oldAgent.subscribeAsync(siteTopic(OLD_SITE, 'playlist'), { qos: 1 });
}, 180_000);

afterAll(async () => {
  oldAgent?.end(true);
  await w?.stop();
});

describe.skipIf(!canRun)('a bulletin in each village’s own languages', () => {
  it('a version must be a ready media item in its language, one per language', async () => {
    const base = { title: 'Bản tin thử', mediaId: media.vi, targets: { areas: [COMMUNE] }, start: { at: Date.now() + 3_600_000 } };
    const wrong = await t.inject('POST', '/api/schedule/items', { ...base, versions: [{ language: 'ium', mediaId: media.hmn }] });
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body).toMatchObject({ error: 'LOANET_BAD_REQUEST', params: { field: 'versions[0].mediaId', problem: 'version_language', id: media.hmn, value: 'hmn' } });
    const twice = await t.inject('POST', '/api/schedule/items', {
      ...base,
      versions: [
        { language: 'hmn', mediaId: media.hmn },
        { language: 'HMN', mediaId: media.hmnToo },
      ],
    });
    expect(twice.body).toMatchObject({ params: { field: 'versions[1].language', problem: 'version_duplicate', value: 'hmn' } });
    const asDefault = await t.inject('POST', '/api/schedule/items', { ...base, versions: [{ language: 'vi', mediaId: media.vi }] });
    expect(asDefault.body).toMatchObject({ params: { field: 'versions[0].language', problem: 'version_duplicate' } });
    const unknown = await t.inject('POST', '/api/schedule/items', { ...base, versions: [{ language: 'hmn', mediaId: 'm-nothing' }] });
    expect(unknown.body).toMatchObject({ params: { field: 'versions[0].mediaId', problem: 'media_unknown', id: 'm-nothing' } });
    const badTag = await t.inject('POST', '/api/schedule/items', { ...base, versions: [{ language: 'tiếng Mông', mediaId: media.hmn }] });
    expect(badTag.body).toMatchObject({ error: 'LOANET_NOT_A_LANGUAGE_TAG', params: { field: 'versions[0].language' } });
    // Its media are in use: the library refuses to retire them while the draft stands.
    const draft = await t.inject('POST', '/api/schedule/items', { ...base, versions: [{ language: 'hmn', mediaId: media.hmnToo }] });
    expect(draft.status, draft.text).toBe(201);
    expect(draft.body).toMatchObject({ language: 'vi', versions: [{ language: 'hmn', mediaId: media.hmnToo, durationMs: durationOf[media.hmnToo!] }] });
    expect((await t.inject('DELETE', `/api/media/${media.hmnToo}`)).status).toBe(409);
    const cleared = await t.inject('PATCH', `/api/schedule/items/${draft.body.id}`, { versions: [] });
    expect(cleared.body).toMatchObject({ language: null, versions: [] });
    await t.inject('POST', `/api/schedule/items/${draft.body.id}/cancel`, {});
  });

  it('each village plays its versions in its order as one programme, and the as-run says whether it heard its own language', async () => {
    const at = Date.now() + 20_000;
    const { itemId, entryId } = await scheduleBulletin(t, { mediaId: media.vi!, versions: { hmn: media.hmn!, ium: media.ium! }, at });

    // What an operator must still record: a Tày version, for village 04.
    const missing = await t.inject('GET', `/api/schedule/languages?area=${COMMUNE}`);
    expect(missing.status, missing.text).toBe(200);
    expect(missing.body.villages).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: village(2), languages: ['ium', 'hmn', 'vi'], source: 'own', sites: 1 }),
        expect.objectContaining({ key: `2025.${COMMUNE}`, languages: ['vi'], source: 'default' }),
      ]),
    );
    const planned = missing.body.items.find((i: { id: string }) => i.id === itemId);
    expect(planned).toMatchObject({ language: 'vi', versions: ['vi', 'hmn', 'ium'], missing: [{ language: 'tyz', sites: 1, villages: [{ key: village(4) }] }] });

    // The older agent is sent the Vietnamese version alone, as a plain entry.
    const old = await waitFor('the older agent’s playlist with the bulletin', () => oldPlaylists.at(-1)?.entries.find((e) => e.itemId === itemId), 20_000, 100);
    expect(old).toMatchObject({ mediaId: media.vi, durationMs: durationOf[media.vi!] });
    expect(old.parts).toBeUndefined();

    const ids = [STATION, site(1), site(2), site(3), site(4)];
    await receiptsWritten(fleet, ids, entryId, at - Date.now() + 4 * VERSION_S * 1000 + 30_000);
    // On the agents: the versions in each village's order, each played whole.
    const partsAt = (id: string) => fleet.site(id).agent.playout!.journal.get(entryId)!;
    const expectParts = (id: string, langs: string[]) => {
      const r = partsAt(id);
      expect(r.outcome, id).toBe('played');
      expect(
        r.parts?.map((p) => [p.language, p.outcome, p.frames]),
        id,
      ).toEqual(langs.map((l) => [l, 'played', FRAMES]));
      // Back to back: each part starts where the one before ended.
      for (let i = 1; i < r.parts!.length; i++) expect(r.parts![i]!.startedAt, id).toBeGreaterThanOrEqual(r.parts![i - 1]!.endedAt!);
    };
    expectParts(site(1), ['hmn', 'vi']);
    expectParts(site(2), ['ium', 'hmn', 'vi']);
    for (const id of [site(3), site(4), STATION]) {
      expect(partsAt(id), id).toMatchObject({ outcome: 'played', mediaId: media.vi, frames: FRAMES });
      expect(partsAt(id).parts, id).toBeUndefined();
    }

    // At the server, village by village.
    const view = await waitFor(
      'every receipt at the server',
      async () => {
        const r = await t.inject('GET', `/api/as-run/languages?item=${itemId}&entry=${encodeURIComponent(entryId)}&area=${COMMUNE}`);
        expect(r.status, r.text).toBe(200);
        const received = r.body.sites.filter((s: { siteId: string; status: string }) => ids.includes(s.siteId) && s.status === 'played');
        return received.length === ids.length ? r.body : undefined;
      },
      30_000,
      200,
    );
    const by = new Map<string, Record<string, unknown>>(view.sites.map((s: { siteId: string }) => [s.siteId, s]));
    const versions = (langs: string[]) => langs.map((language) => expect.objectContaining({ language, mediaId: media[language], outcome: 'played' }));
    expect(by.get(site(1))).toMatchObject({ languages: ['hmn', 'vi'], played: ['hmn', 'vi'], missing: [], heardOwnLanguage: true, notHeard: null });
    expect(by.get(site(1))!.versions).toEqual(versions(['hmn', 'vi']));
    expect(by.get(site(2))).toMatchObject({ languages: ['ium', 'hmn', 'vi'], played: ['ium', 'hmn', 'vi'], heardOwnLanguage: true });
    expect(by.get(site(2))!.versions).toEqual(versions(['ium', 'hmn', 'vi']));
    expect(by.get(site(3))).toMatchObject({ languages: ['vi'], played: ['vi'], heardOwnLanguage: true });
    expect(by.get(STATION)).toMatchObject({ languages: ['vi'], played: ['vi'], heardOwnLanguage: true });
    // No Tày version: the village heard the Vietnamese one, and the as-run says so.
    expect(by.get(site(4))).toMatchObject({
      languages: ['tyz'],
      played: ['vi'],
      missing: ['tyz'],
      fallback: 'no_version',
      heardOwnLanguage: false,
      notHeard: { reason: 'no_version', language: 'tyz' },
      explanation: { vi: 'Chưa có bản tiếng Tày; đã phát bằng tiếng Việt', en: 'No Tày version; played in Vietnamese instead' },
    });
    expect(by.get(site(4))!.versions).toEqual(versions(['vi']));
    // The older agent's H'Mông village was planned the Vietnamese version: not its own language, and why.
    expect(by.get(OLD_SITE)).toMatchObject({ fallback: 'agent_without_parts', heardOwnLanguage: false, notHeard: { reason: 'agent_without_parts', language: 'hmn' } });
    expect(view.summary).toMatchObject({ heardOwnLanguage: 4 });

    // The as-run log and its CSV carry the same.
    const log = await t.inject('GET', `/api/as-run?area=${COMMUNE}&item=${itemId}&from=${at - 60_000}&to=${at + 60_000}`);
    const tay = log.body.lines.find((l: { siteId: string }) => l.siteId === site(4));
    expect(tay).toMatchObject({ status: 'played', languages: { missing: ['tyz'], heardOwnLanguage: false } });
    const csv = await t.inject('GET', `/api/as-run?area=${COMMUNE}&item=${itemId}&from=${at - 60_000}&to=${at + 60_000}&format=csv`);
    expect(csv.text.split('\r\n').find((row) => row.includes(site(2)))).toContain('ium;hmn;vi');
  }, 120_000);
});
