/**
 * Alerts are read like they are written, over real HTTP and SQLite: a user
 * scoped to a commune sees the alerts whose targets intersect it and, of
 * each, only its own sites' delivery (counts, report lines, CAP Ack figures);
 * another commune's alert is not found (404) by every read; a refused drawn
 * alert says how many sites lie outside, never which.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteTopic, type AlertStatusEvent } from '../../protocol/index.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { openEventStream } from '../helpers/event-stream.ts';
import { makeInputs, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const run = haveTools('ffmpeg');
const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường

let t: TestServer;
const tokens = {} as { viewerA: string; viewerB: string; emergencyA: string; emergencyB: string };
const sites: Record<string, { siteId: string; secret: string; name: string }> = {};
let mediaId = '';

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const password = `long-passphrase-${username.length}-kx7`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

async function site(name: string, area: string, lat: number, lon: number) {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, lat, lon });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { ...(r.body.credential as { siteId: string; secret: string }), name };
}

const get = (url: string, token: string) => t.api('GET', url, undefined, { token });
const raw = async (url: string, token: string) => {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text() };
};

beforeAll(async () => {
  if (!run) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  sites.a1 = await site('Cụm loa thôn Bản Vược', COMMUNE_A, 22.52, 103.85);
  sites.a2 = await site('Cụm loa thôn Cốc Mỳ', COMMUNE_A, 22.53, 103.86);
  sites.b1 = await site('Cụm loa tổ 5 Cam Đường', COMMUNE_B, 22.43, 104.0);
  tokens.viewerA = await userToken('viewer-bat-xat', 'viewer', COMMUNE_A);
  tokens.viewerB = await userToken('viewer-cam-duong', 'viewer', COMMUNE_B);
  tokens.emergencyA = await userToken('khan-cap-bat-xat', 'emergency', COMMUNE_A);
  tokens.emergencyB = await userToken('khan-cap-cam-duong', 'emergency', COMMUNE_B);
  const up = await uploadFile(t, makeInputs(tempDir('loanet-alert-scope-'))('sine.wav'), { title: 'Còi thử' });
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  mediaId = up.body.id;
}, 120_000);
afterAll(async () => t?.stop());

describe.skipIf(!run)('reading alerts across communes', () => {
  it("commune A's alert is not found by every read of a commune-B user, and absent from its list", async () => {
    const a = await t.api('POST', '/api/alerts', { areas: [COMMUNE_A], message: { mediaId }, title: 'Lũ quét Bát Xát', test: true }, { token: tokens.emergencyA });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    const id = a.body.id as string;
    for (const url of [`/api/alerts/${id}`, `/api/alerts/${id}/report`, `/api/alerts/${id}/report?format=json`, `/api/alerts/${id}/cap-ack`]) {
      const r = await raw(url, tokens.viewerB);
      expect(r.status, url).toBe(404);
      expect(r.text, url).not.toContain('Bát Xát');
      expect((await raw(url, tokens.viewerA)).status, url).toBe(200);
    }
    expect(JSON.stringify((await get('/api/alerts', tokens.viewerB)).body)).not.toContain(id);
    expect(JSON.stringify((await get('/api/alerts', tokens.viewerA)).body)).toContain(id);
    // Nor can commune B's official act on it: to them it does not exist.
    expect((await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: tokens.emergencyB })).status).toBe(404);
    expect((await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: tokens.emergencyA })).status).toBe(200);
  });

  it("a province alert is visible in each commune, with only that commune's sites in its delivery, report and CAP Ack", async () => {
    const liveB = await openEventStream(t, tokens.viewerB);
    const liveAll = await openEventStream(t, t.token);
    const p = await t.api('POST', '/api/alerts', { areas: [COMMUNE_A, COMMUNE_B], message: { mediaId }, title: 'Bão số 3', test: true });
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    const id = p.body.id as string;
    // The live event tells commune B it started, without the network-wide counts; a network-wide user gets them.
    const startedB = await liveB.next('alert', (e) => e.alertId === id);
    expect(startedB).toMatchObject({ kind: 'started', alertId: id });
    expect(startedB.counts).toBeUndefined();
    expect((await liveAll.next('alert', (e) => e.alertId === id)).counts).toMatchObject({ targeted: 3 });
    liveB.close();
    liveAll.close();
    // Commune B's site confirms it played: the counts of commune B say so; commune A's do not count it.
    const client = await mqtt.connectAsync(t.mqttUrl, {
      clientId: sites.b1!.siteId,
      username: sites.b1!.siteId,
      password: sites.b1!.secret,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const ev: AlertStatusEvent = { v: 1, siteId: sites.b1!.siteId, type: 'alert_status', alertId: id, revision: 1, status: 'received', at: Date.now() };
    await client.publishAsync(siteTopic(sites.b1!.siteId, 'event'), JSON.stringify(ev), { qos: 1 });
    await waitFor('the report of commune B counted', async () => (await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.received === 1);
    await client.endAsync();

    const all = (await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts;
    expect(all).toMatchObject({ targeted: 3, received: 1 });
    const b = (await get(`/api/alerts/${id}`, tokens.viewerB)).body.delivery;
    expect(b.counts).toMatchObject({ targeted: 1, received: 1 });
    const a = (await get(`/api/alerts/${id}`, tokens.viewerA)).body.delivery;
    expect(a.counts).toMatchObject({ targeted: 2, received: 0 });
    expect(JSON.stringify(a)).not.toContain(sites.b1!.siteId);
    const listed = ((await get('/api/alerts', tokens.viewerB)).body.alerts as Array<{ id: string; delivery: { targeted: number } }>).find((x) => x.id === id);
    expect(listed?.delivery.targeted).toBe(1);

    const json = (await get(`/api/alerts/${id}/report?format=json`, tokens.viewerA)).body;
    expect(json.sites.map((s: { siteId: string }) => s.siteId).sort()).toEqual([sites.a1!.siteId, sites.a2!.siteId].sort());
    const csv = await raw(`/api/alerts/${id}/report`, tokens.viewerA);
    expect(csv.status).toBe(200);
    expect(csv.text).toContain(sites.a1!.name);
    expect(csv.text).not.toContain(sites.b1!.name);
    const csvB = await raw(`/api/alerts/${id}/report`, tokens.viewerB);
    expect(csvB.text).toContain(sites.b1!.name);
    expect(csvB.text).not.toContain(sites.a1!.name);
    const ackB = await raw(`/api/alerts/${id}/cap-ack`, tokens.viewerB);
    const ackAll = await raw(`/api/alerts/${id}/cap-ack`, t.token);
    expect(ackB.status).toBe(200);
    expect(ackB.text).toContain('targeted 1, received 1');
    expect(ackAll.text).toContain('targeted 3, received 1');
    await t.api('POST', `/api/alerts/${id}/cancel`);
  });

  it.skipIf(!haveTools('espeak-ng'))(
    "the audio made for commune A's alert, and so its words, are not in commune B's media library",
    async () => {
      const a = await t.api(
        'POST',
        '/api/alerts',
        { areas: [COMMUNE_A], message: { text: 'Cảnh báo sạt lở đất ở thôn Bản Vược, người dân sơ tán ngay.' }, title: 'Sạt lở Bản Vược', test: true },
        { token: tokens.emergencyA },
      );
      expect(a.status, JSON.stringify(a.body)).toBe(201);
      const item = await waitFor(
        "the alert's audio in commune A's library",
        async () => {
          // Alert audio is listed apart from the bulletins (purpose=alert).
          const l = (await get('/api/media?purpose=alert&limit=1000', tokens.viewerA)).body as { items: Array<{ id: string; title: string }> };
          return l.items.find((i) => i.title === 'Sạt lở Bản Vược');
        },
        60_000,
        250,
      );
      const listB = await get('/api/media?purpose=alert&limit=1000', tokens.viewerB);
      expect(listB.status).toBe(200);
      expect(JSON.stringify(listB.body)).not.toContain('Bản Vược');
      expect(JSON.stringify((await get('/api/media?purpose=alert&q=B%E1%BA%A3n', tokens.viewerB)).body)).not.toContain('Bản Vược');
      expect((await get(`/api/media/${item.id}`, tokens.viewerB)).status).toBe(404);
      expect((await raw(`/api/media/${item.id}/audio`, tokens.viewerB)).status).toBe(404);
      expect((await get(`/api/media/${item.id}`, tokens.viewerA)).status).toBe(200);
      await t.api('POST', `/api/alerts/${a.body.id}/cancel`);
    },
    90_000,
  );

  it('a drawn alert reaching into another commune is refused by counting the sites outside, never naming them', async () => {
    const polygon = [
      [22.4, 103.8],
      [22.6, 103.8],
      [22.6, 104.1],
      [22.4, 104.1],
    ];
    const r = await t.api('POST', '/api/alerts', { polygon, message: { mediaId }, test: true }, { token: tokens.emergencyA });
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('1 site of the target lies outside your area');
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(sites.b1!.siteId);
    expect(text).not.toContain('Cam Đường');
    // Inside its own commune the same official may draw.
    const inside = await t.api(
      'POST',
      '/api/alerts',
      {
        polygon: [
          [22.5, 103.8],
          [22.6, 103.8],
          [22.6, 103.9],
          [22.5, 103.9],
        ],
        message: { mediaId },
        test: true,
      },
      { token: tokens.emergencyA },
    );
    expect(inside.status, JSON.stringify(inside.body)).toBe(201);
    // A drawn alert is visible only where its sites are.
    expect((await get(`/api/alerts/${inside.body.id}`, tokens.viewerB)).status).toBe(404);
    expect((await get(`/api/alerts/${inside.body.id}`, tokens.viewerA)).status).toBe(200);
    await t.api('POST', `/api/alerts/${inside.body.id}/cancel`);
    // A province official draws across both communes: each commune's viewer sees the alert with its own sites only.
    const both = await t.api('POST', '/api/alerts', { polygon, message: { mediaId }, test: true });
    expect(both.status, JSON.stringify(both.body)).toBe(201);
    const seenB = (await get(`/api/alerts/${both.body.id}`, tokens.viewerB)).body;
    expect(seenB.alert.sites).toEqual([sites.b1!.siteId]);
    expect(JSON.stringify(seenB)).not.toContain(sites.a1!.siteId);
    expect(JSON.stringify((await get(`/api/alerts/${both.body.id}/report?format=json`, tokens.viewerB)).body)).not.toContain(sites.a1!.siteId);
    expect(JSON.stringify((await get('/api/alerts', tokens.viewerB)).body)).not.toContain(sites.a1!.siteId);
    expect((await t.api('GET', `/api/alerts/${both.body.id}`)).body.alert.sites).toHaveLength(3);
    await t.api('POST', `/api/alerts/${both.body.id}/cancel`);
  });
});
