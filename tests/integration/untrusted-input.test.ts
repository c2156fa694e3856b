/**
 * Untrusted files and documents through the real HTTP API while real sites
 * are connected: a .docx zip bomb is refused for what it inflates (not what
 * it declares) while the event loop keeps serving /api/health and MQTT; the
 * text of a .docx has the 50,000-character limit of text to speech; a CAP
 * message with 6 MB of embedded audio and polygons of 200,000 points are
 * handled with refusals or warnings that name their limits.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoanetClient } from '../../tools/api-client.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { siteTopic } from '../../protocol/topics.ts';
import { offThreadTasks } from '../../server/offthread.ts';
import { capNowFor } from '../helpers/cap.ts';
import { postMultipart } from '../helpers/media.ts';
import { importLaoCai2025, startTestServer, waitFor, type TestServer } from '../helpers/server.ts';
import { docxBomb } from '../helpers/zip-bomb.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng');
let t: TestServer;
let fleet: FleetRunner;
let probe: MqttClient;
let probeId: string;
const answers = new Map<number, () => void>();

beforeAll(async () => {
  t = await startTestServer({ LOANET_HEARTBEAT_S: '1' });
  await importLaoCai2025(t);
  fleet = new FleetRunner({ api: new LoanetClient(t.baseUrl, t.token), mqtt: { host: '127.0.0.1', port: t.server.mqttPort }, sites: 2, heartbeatS: 1, credentialsFile: null });
  await fleet.start();
  // A site of Xã Bát Xát (02683) that asks the server for the time: an MQTT request answered by the server's event loop.
  const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thử', kind: 'cluster', area: '02683', lat: 22.5195, lon: 103.8526 });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  probeId = r.body.credential.siteId;
  probe = await mqtt.connectAsync(t.mqttUrl, { clientId: probeId, username: probeId, password: r.body.credential.secret, protocolVersion: 4, reconnectPeriod: 0 });
  probe.on('message', (_topic, payload) => answers.get((JSON.parse(payload.toString('utf8')) as { id: number }).id)?.());
  await probe.subscribeAsync(siteTopic(probeId, 'time'));
  await waitFor('both simulated sites connected', async () => ((await connected()) ? true : undefined), 30_000, 100);
}, 90_000);

afterAll(async () => {
  await probe?.endAsync();
  await fleet?.stop();
  await t?.stop();
});

/** Whether every simulated site is connected, as the server sees it. */
async function connected(): Promise<boolean> {
  const views = await Promise.all(fleet.ids().map(async (id) => (await t.api('GET', `/api/sites/${id}`)).body));
  return views.every((v) => v.status?.connected === true);
}

let clockId = 0;
/** One clock exchange over MQTT: resolves when the server's answer arrives. */
function clockExchange(): Promise<void> {
  const id = ++clockId;
  return new Promise<void>((resolve) => {
    answers.set(id, resolve);
    probe.publish(siteTopic(probeId, 'clock'), JSON.stringify({ v: 1, siteId: probeId, id, t0: Date.now() }));
  });
}

describe.skipIf(!canRun)('untrusted input never holds the event loop, and what it produces is capped', () => {
  it('a .docx zip bomb (2 GiB of XML declared as 10 kB) is refused naming the limit, while /api/health and MQTT are served during its processing and sites stay online', async () => {
    const bomb = docxBomb(2048);
    const seenBefore = (await t.api('GET', `/api/sites/${fleet.ids()[0]}`)).body.status.lastSeenAt as number;
    let answered = false;
    const upload = postMultipart(t, '/api/media/tts/docx', { lang: 'vi' }, { data: bomb, name: 'bom.docx' }).finally(() => (answered = true));
    // Ordering, not timing: a probe counts when the bomb was being processed both when it was sent and when it was answered.
    let servedDuring = 0;
    let probes = 0;
    while (!answered) {
      if (offThreadTasks().running === 0) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const [health] = await Promise.all([fetch(`${t.baseUrl}/api/health`), clockExchange()]);
      expect(health.status).toBe(200);
      probes++;
      if (offThreadTasks().running > 0) servedDuring++;
    }
    const r = await upload;
    expect(r.status, JSON.stringify(r.body)).toBe(413);
    expect(r.body).toMatchObject({ error: 'LOANET_DOCX_TOO_LARGE', message: 'word/document.xml inflates to more than 32 MB (the limit for the text of a document)' });
    expect(servedDuring, `${probes} probes`).toBeGreaterThan(0);
    // Nothing was queued for speech, and the sites' heartbeats kept arriving.
    expect((await t.api('GET', '/api/media')).body.processing).toEqual([]);
    await waitFor('a heartbeat after the bomb', async () => ((await t.api('GET', `/api/sites/${fleet.ids()[0]}`)).body.status.lastSeenAt > seenBefore ? true : undefined));
    expect(await connected()).toBe(true);
    expect((await t.api('GET', '/api/coverage?area=15')).body).toMatchObject({ offline: 0 });
  });

  it('a .docx whose text passes 50,000 characters is refused naming the limit, as the same text typed would be', async () => {
    const paragraphs = Array.from({ length: 700 }, (_, i) => `Đoạn ${i}: mưa lớn kéo dài, nguy cơ lũ quét và sạt lở đất ở các thôn vùng cao.`);
    expect(paragraphs.join('\n\n').length).toBeGreaterThan(50_000);
    const long = `<w:document><w:body>${paragraphs.map((p) => `<w:p><w:r><w:t>${p}</w:t></w:r></w:p>`).join('')}</w:body></w:document>`;
    const r = await postMultipart(t, '/api/media/tts/docx', { lang: 'vi' }, { data: zipSync({ 'word/document.xml': strToU8(long) }), name: 'dai.docx' });
    expect(r.status, JSON.stringify(r.body)).toBe(413);
    expect(r.body).toMatchObject({
      error: 'LOANET_TTS_TEXT_TOO_LONG',
      field: 'file',
      limit: 50_000,
      message: 'file: the text has more than 50,000 characters; at most 50,000 characters can be spoken as one item (split it)',
    });
    const typed = await t.api('POST', '/api/media/tts', { text: 'a'.repeat(50_001), title: 'Dài', lang: 'vi' });
    expect(typed.status, JSON.stringify(typed.body)).toBe(413);
    expect(typed.body).toMatchObject({ error: 'LOANET_TTS_TEXT_TOO_LONG', field: 'text', limit: 50_000, length: 50_001 });
    expect((await t.api('GET', '/api/media')).body.processing).toEqual([]);
  });

  it('a CAP alert carrying 6 MB of embedded audio is accepted, its audio not used, with a warning naming the 5 MiB limit (no stack overflow)', async () => {
    const audio = Buffer.alloc(6 * 1024 * 1024, 0x55)
      .toString('base64')
      .replace(/.{76}/g, '$&\n');
    const xml = capNowFor('vn-lu-quet-bat-xat-alert.xml', '02683').replace(
      '</info>',
      `<resource><resourceDesc>Bản tin âm thanh</resourceDesc><mimeType>audio/mpeg</mimeType><derefUri>${audio}</derefUri></resource></info>`,
    );
    const r = await t.api('POST', '/api/alerts/cap', xml, { contentType: 'application/cap+xml' });
    expect(JSON.stringify(r.body)).not.toMatch(/call stack/);
    expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBe(201);
    expect(r.body.warnings).toContain(
      `info[0]/resource[0]/derefUri: derefUri holds ${6 * 1024 * 1024} bytes; embedded resources of at most ${5 * 1024 * 1024} bytes are used; the embedded resource will not be used`.replace(
        /^/,
        'alert/',
      ),
    );
  });

  it('a polygon of 200,000 points is refused naming the limit, in a CAP message and in POST /api/alerts', async () => {
    const pts: string[] = [];
    for (let i = 0; i < 199_999; i++) {
      const a = (2 * Math.PI * i) / 199_999;
      pts.push(`${(22.52 + 0.05 * Math.sin(a)).toFixed(5)},${(103.85 + 0.05 * Math.cos(a)).toFixed(5)}`);
    }
    pts.push(pts[0]!);
    const xml = capNowFor('vn-lu-quet-bat-xat-alert.xml', '02683')
      .replace('LC-PCTT-2025-0917-LQ-T001', 'LC-PCTT-POLYGON-200K')
      .replace(/<geocode>[\s\S]*?<\/geocode>/, `<polygon>${pts.join(' ')}</polygon>`);
    const cap = await t.api('POST', '/api/alerts/cap', xml, { contentType: 'application/cap+xml' });
    expect(cap.status, JSON.stringify(cap.body).slice(0, 500)).toBe(400);
    expect(cap.body).toMatchObject({ error: 'LOANET_CAP_INVALID', field: 'alert/info[0]/area[0]/polygon[0]' });
    expect(cap.body.message).toContain('has 200000 points; a polygon may have at most 4000');

    const polygon = pts.map((p) => p.split(',').map(Number));
    const drawn = await t.api('POST', '/api/alerts', { polygon, message: { text: 'Sơ tán ngay' }, test: true });
    expect(drawn.status).toBe(413);
    expect(drawn.body).toMatchObject({ error: 'LOANET_BODY_TOO_LARGE', field: 'body', limit: 1024 * 1024 });
    const fits = await t.api('POST', '/api/alerts', { polygon: polygon.slice(0, 1001), message: { text: 'Sơ tán ngay' }, test: true });
    expect(fits.status).toBe(400);
    expect(fits.body).toMatchObject({ error: 'LOANET_BAD_REQUEST', field: 'polygon', message: 'body.polygon: must NOT have more than 1000 items' });
    expect((await t.api('GET', '/api/alerts')).body.alerts.filter((a: { title: string }) => a.title.includes('Sơ tán'))).toEqual([]);
  });
});
