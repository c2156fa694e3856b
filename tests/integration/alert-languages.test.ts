/**
 * An emergency alert in the languages villages speak (Decree 49/2024/NĐ-CP),
 * end to end with real components: a real server (HTTP, embedded broker over
 * TCP, SQLite, ffmpeg for the media), the fleet runner's real agents (each
 * declaring alert_versions, its media cache over HTTP with its own
 * credential) and simulated amplifiers.
 *
 * Xã Bát Xát's villages speak [hmn, vi], [ium, hmn, vi] and [hmn, vi]; the
 * commune's station speaks Vietnamese alone. The alert has a Vietnamese
 * message and H'Mông and Dao (ium) versions. The area languages reach each
 * board in its site configuration; each village plays the message and then
 * its own languages' versions in its order, and says so (alert_status
 * languagesPlayed, kept in its delivery row); the third village fetches
 * through a middlebox that refuses the H'Mông file: it still plays the
 * Vietnamese message, on time and every repeat, and says the H'Mông version
 * was missed. A version added while the alert plays (same revision) joins
 * the repeats still to come. Ordering and outcomes are checked, not timing
 * windows.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertReport, BAT_XAT, communeSites, startLanguageWorld, uploadLanguageTone, type LanguageWorld } from '../helpers/language-villages.ts';
import { waitFor, type TestServer } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const COMMUNE = BAT_XAT; // Xã Bát Xát
const PREFIX = 'altl';
const { site, village, station: STATION } = communeSites(PREFIX);
/** Village → its languages, in order. */
const VILLAGES: Record<number, string[]> = { 1: ['hmn', 'vi'], 2: ['ium', 'hmn', 'vi'], 3: ['hmn', 'vi'] };

let w: LanguageWorld;
let t: TestServer;
let dir: string;
const media: Record<string, string> = {};
/** Between village 3 and the server: refuses the H'Mông file (403), passes everything else. */
let refuser: http.Server;
let refuserUrl: string;
const refusedPaths: string[] = [];

const tone = async (lang: string, hz: number, seconds = 1) => (await uploadLanguageTone(t, dir, { lang, title: `Cảnh báo (${lang})`, seconds, hz })).id;
const report = (alertId: string) => alertReport(t, alertId);

beforeAll(async () => {
  if (!canRun) return;
  w = await startLanguageWorld({ tempPrefix: 'loanet-alert-languages-' });
  ({ t, dir } = w);
  media.vi = await tone('vi', 440);
  media.hmn = await tone('hmn', 550);
  media.ium = await tone('ium', 660);
  media.mji = await tone('mji', 770);
  refuser = http.createServer((req, res) => {
    if (req.url?.includes(media.hmn!)) {
      refusedPaths.push(req.url);
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden by the middlebox');
      return;
    }
    const up = http.request(`${t.baseUrl}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((res) => refuser.listen(0, '127.0.0.1', res));
  refuserUrl = `http://127.0.0.1:${(refuser.address() as AddressInfo).port}`;
  // The commune's station and three village clusters (villages 02683-01 … 03).
  await w.startVillages({ idPrefix: PREFIX, villages: VILLAGES, httpUrlFor: (id) => (id === site(3) ? refuserUrl : t.baseUrl) });
  // Four uploads through ffmpeg at the bulk lane's nice 10, which a loaded machine starves first: 180 s was passed under test:stress.
}, 300_000);

afterAll(async () => {
  await w?.stop(() => new Promise<void>((res) => (refuser ? refuser.close(() => res()) : res())));
});

describe.skipIf(!canRun)('an alert in each village’s own languages', () => {
  it("the area's languages reach each board in its site configuration, in order", async () => {
    const kept = (id: string) => w.siteConfigKept(id);
    for (const [n, languages] of Object.entries(VILLAGES)) {
      const id = site(Number(n));
      await waitFor(`${id} to hold languages ${languages.join(',')}`, async () => JSON.stringify((await kept(id))?.languages) === JSON.stringify(languages), 20_000, 100);
    }
    // The station speaks Vietnamese alone: its configuration says nothing of languages (as before they existed).
    expect((await kept(STATION))?.languages).toBeUndefined();
  });

  it('versions must be ready library items, one per language, never Vietnamese', async () => {
    const base = { areas: [COMMUNE], message: { mediaId: media.vi }, test: true, validForMinutes: 5 };
    const twice = await t.inject('POST', '/api/alerts', {
      ...base,
      versions: [
        { language: 'hmn', mediaId: media.hmn },
        { language: 'HMN', mediaId: media.hmn },
      ],
    });
    expect(twice.status, twice.text).toBe(400);
    expect(twice.body).toMatchObject({ error: 'LOANET_BAD_REQUEST', params: { field: 'versions[1].language', problem: 'version_duplicate', value: 'hmn' } });
    const vi = await t.inject('POST', '/api/alerts', { ...base, versions: [{ language: 'vie', mediaId: media.vi }] });
    expect(vi.body).toMatchObject({ params: { field: 'versions[0].language', problem: 'version_duplicate' } });
    const badTag = await t.inject('POST', '/api/alerts', { ...base, versions: [{ language: 'tiếng Mông', mediaId: media.hmn }] });
    expect(badTag.body).toMatchObject({ error: 'LOANET_NOT_A_LANGUAGE_TAG', params: { field: 'versions[0].language' } });
    const unknown = await t.inject('POST', '/api/alerts', { ...base, versions: [{ language: 'hmn', mediaId: 'm-nothing' }] });
    expect(unknown.body).toMatchObject({ error: 'LOANET_REFERENCE_NOT_FOUND', params: { field: 'versions[0].mediaId' } });
    const many = await t.inject('POST', '/api/alerts', {
      ...base,
      versions: ['hmn', 'ium', 'mji', 'tyz', 'nut', 'pcc', 'hni', 'lbt'].map((language) => ({ language, mediaId: media.hmn })),
    });
    expect(many.status, many.text).toBe(400);
    // Nothing was started by any of them.
    expect((await t.inject('GET', '/api/alerts')).body.alerts).toEqual([]);
  });

  it('each village plays the Vietnamese message then its own versions in its order; a refused version never delays the message', async () => {
    const repeats = 2;
    const r = await t.inject('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { mediaId: media.vi },
      versions: [
        { language: 'hmn', mediaId: media.hmn },
        { language: 'ium', mediaId: media.ium },
      ],
      attention: 'chime',
      repeats,
      validForMinutes: 10,
      title: 'Lũ quét: sơ tán ngay',
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    expect(r.body.alert.versions.map((v: { language: string; state: string }) => [v.language, v.state])).toEqual([
      ['hmn', 'ready'],
      ['ium', 'ready'],
    ]);
    const ids = [STATION, site(1), site(2), site(3)];
    const rows = await waitFor(
      'every site to complete the alert',
      async () => {
        const m = await report(alertId);
        return ids.every((id) => m.get(id)?.status === 'completed') ? m : undefined;
      },
      90_000,
      250,
    );
    // Every site played the Vietnamese message every repeat.
    for (const id of ids) expect(rows.get(id), id).toMatchObject({ status: 'completed', messageRepeats: repeats });
    // Each village its own languages' versions, in its order; the station (Vietnamese alone) none.
    expect(rows.get(site(1))).toMatchObject({ languagesPlayed: ['hmn'], languagesMissed: null });
    expect(rows.get(site(2))).toMatchObject({ languagesPlayed: ['ium', 'hmn'], languagesMissed: null });
    expect(rows.get(STATION)!.languagesPlayed ?? null).toBeNull();
    // Village 3's H'Mông file was refused: it played the message, and says the version was missed.
    expect(refusedPaths.length).toBeGreaterThan(0);
    expect(rows.get(site(3))).toMatchObject({ languagesPlayed: [], languagesMissed: ['hmn'] });
    // Its message came out no later than the slowest of the villages whose every file came: nothing waited for the version.
    const messageAt = (id: string) => rows.get(id)!.messageAt!;
    expect(messageAt(site(3))).toBeLessThanOrEqual(Math.max(messageAt(site(1)), messageAt(site(2)), messageAt(STATION)) + 2000);

    // The official's view: per language, which villages heard it.
    const view = await t.inject('GET', `/api/alerts/${alertId}`);
    const byLang = new Map(
      (view.body.delivery.languages as Array<{ language: string; played: number; missed: number; playedSites: string[]; missedSites: string[] }>).map((l) => [l.language, l]),
    );
    expect(byLang.get('hmn')).toMatchObject({ played: 2, missed: 1, missedSites: [site(3)] });
    expect(byLang.get('hmn')!.playedSites.sort()).toEqual([site(1), site(2)]);
    expect(byLang.get('ium')).toMatchObject({ played: 1, missed: 0, playedSites: [site(2)] });
    const csv = await t.inject('GET', `/api/alerts/${alertId}/report`);
    expect(csv.text.split('\r\n').find((row) => row.startsWith(site(2)))).toContain("Tiếng Dao (Iu Mien), Tiếng H'Mông");
  }, 120_000);

  it('a version added while the alert plays joins the repeats still to come, without restarting it', async () => {
    // A recording no board has in its cache yet: it is fetched once added.
    const iumLate = await tone('ium', 880);
    const r = await t.inject('POST', '/api/alerts', {
      areas: [village(2)],
      message: { mediaId: media.vi },
      versions: [{ language: 'hmn', mediaId: media.hmn }],
      attention: 'chime',
      repeats: 4,
      validForMinutes: 10,
    });
    expect(r.status, r.text).toBe(201);
    const alertId: string = r.body.id;
    await waitFor('village 2 to play the message', async () => (await report(alertId)).get(site(2))?.messageAt ?? undefined, 60_000, 100);
    const added = await t.inject('POST', `/api/alerts/${alertId}/versions`, { versions: [{ language: 'ium', mediaId: iumLate }] });
    expect(added.status, added.text).toBe(200);
    expect(added.body.alert.revision).toBe(1);
    // A language it has is refused.
    const again = await t.inject('POST', `/api/alerts/${alertId}/versions`, { versions: [{ language: 'hmn', mediaId: media.mji }] });
    expect(again.body).toMatchObject({ error: 'LOANET_BAD_REQUEST', params: { problem: 'version_duplicate', value: 'hmn' } });
    const row = await waitFor(
      'village 2 to complete the alert',
      async () => {
        const x = (await report(alertId)).get(site(2));
        return x?.status === 'completed' ? x : undefined;
      },
      90_000,
      250,
    );
    // The same revision played on: every repeat of the message, and Dao too once it was added (in the site's order from then on).
    expect(row).toMatchObject({ status: 'completed', messageRepeats: 4 });
    expect([...(row.languagesPlayed ?? [])].sort()).toEqual(['hmn', 'ium']);
    expect((await t.inject('GET', `/api/alerts/${alertId}`)).body.alert).toMatchObject({
      revision: 1,
      versions: [{ language: 'hmn' }, { language: 'ium', mediaId: iumLate, state: 'ready' }],
    });
  }, 120_000);
});
