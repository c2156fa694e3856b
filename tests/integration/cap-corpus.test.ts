/**
 * CAP documents as real authorities publish them, through the API over real
 * HTTP and SQLite: their encodings, the envelopes they travel in, their
 * languages and their urgency. Only the area of each is moved to a Lào Cai
 * commune (Xã Bát Xát, 02683) and its dates to now, as the other CAP tests do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { shiftDates } from '../helpers/cap.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { waitFor } from '../helpers/wait.ts';

const run = haveTools('ffmpeg', 'espeak-ng');
const CORPUS = path.resolve(import.meta.dirname, '../fixtures/cap/corpus');
const BAT_XAT = `<area><areaDesc>Xã Bát Xát</areaDesc><geocode><valueName>VN-ADMIN</valueName><value>02683</value></geocode></area>`;

let t: TestServer;

/** A corpus document made current and aimed at Xã Bát Xát, every <area> of every alert in it (any prefix kept). */
export function adapt(text: string, tag: string): string {
  const sent = /<(?:\w+:)?sent>([^<]+)<\/(?:\w+:)?sent>/.exec(text)?.[1];
  const shifted = sent ? shiftDates(text, sent, Date.now()) : text;
  return shifted
    .replace(/<((?:\w+:)?)area>[\s\S]*?<\/\1area>/g, (_m, p: string) => BAT_XAT.replaceAll('<', `<${p}`).replaceAll(`<${p}/`, `</${p}`))
    .replace(/<((?:\w+:)?)identifier>([^<]+)<\/\1identifier>/g, (_m, p: string, id: string) => `<${p}identifier>${id}-${tag}</${p}identifier>`);
}

async function post(body: Uint8Array | string, contentType = 'application/cap+xml'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${t.baseUrl}/api/alerts/cap`, { method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': contentType }, body });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

beforeAll(async () => {
  if (!run) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  const r = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn Bản Vược', kind: 'cluster', area: '02683', lat: 22.52, lon: 103.85 });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}, 60_000);
afterAll(async () => t?.stop());

describe.skipIf(!run)('CAP encodings (RFC 7303)', () => {
  const latin1 = fs.readFileSync(path.join(CORPUS, 'sv-inundacion-usulutan-latin1.xml')).toString('latin1');

  it('a document declared ISO-8859-1 keeps "Usulután" in its title and in the text spoken', async () => {
    const r = await post(Buffer.from(adapt(latin1, 'decl'), 'latin1'));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.alert.title).toBe('Alerta por inundación en Usulután');
    const stored = await t.api('GET', `/api/alerts/${r.body.id}`);
    expect(stored.body.alert.title).toBe('Alerta por inundación en Usulután');
    expect(stored.body.alert.message.text).toContain('Evacúe las zonas bajas del río Lempa');
  });

  it('the charset parameter is honoured, and wins over a declaration that disagrees', async () => {
    const noDecl = adapt(latin1, 'charset').replace(/^<\?xml[^>]*\?>/, '<?xml version="1.0" encoding="UTF-8"?>');
    const r = await post(Buffer.from(noDecl, 'latin1'), 'application/cap+xml; charset=ISO-8859-1');
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.alert.title).toBe('Alerta por inundación en Usulután');
  });

  it('an unknown encoding is refused naming it; Latin-1 bytes sent as UTF-8 are refused, not garbled', async () => {
    const unknown = await post(Buffer.from(adapt(latin1, 'x'), 'latin1'), 'application/cap+xml; charset=x-klingon');
    expect(unknown.status).toBe(415);
    expect(unknown.body).toMatchObject({ error: 'LOANET_CAP_ENCODING' });
    expect(unknown.body.message).toContain('x-klingon');
    const lying = adapt(latin1, 'utf8').replace(/^<\?xml[^>]*\?>/, '');
    const garbled = await post(Buffer.from(lying, 'latin1'));
    expect(garbled.status).toBe(400);
    expect(garbled.body.message).toContain('not valid utf-8');
    expect(JSON.stringify((await t.api('GET', '/api/alerts')).body)).not.toContain('\ufffd');
  });
});


/** A minimal CAP 1.2 alert for Xã Bát Xát, sent now, in the given language and urgency. */
function capIn(o: { id: string; language: string; headline: string; severity?: string; urgency?: string; certainty?: string; extra?: string }): string {
  const now = Date.now();
  const t = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '-00:00');
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>${o.id}</identifier><sender>corpus@loanet.test</sender><sent>${t(now)}</sent>
<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>${o.language}</language><category>Met</category><event>${o.headline}</event><urgency>${o.urgency ?? 'Immediate'}</urgency>
<severity>${o.severity ?? 'Severe'}</severity><certainty>${o.certainty ?? 'Likely'}</certainty><expires>${t(now + 3600_000)}</expires>
<headline>${o.headline}</headline>${o.extra ?? ''}${BAT_XAT}</info></alert>`;
}

describe.skipIf(!run)('CAP languages → voices', () => {
  it('a zh-TW alert is spoken by the Mandarin voice, not refused', async () => {
    const r = await post(capIn({ id: 'tw-1', language: 'zh-TW', headline: '豪雨特報：山區請嚴防坍方及落石' }));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const ready = await waitFor('the zh-TW message made', async () => {
      const a = (await t.api('GET', `/api/alerts/${r.body.id}`)).body.alert;
      return a.messageState !== 'preparing' ? a : undefined;
    }, 60_000);
    expect(ready.messageState, ready.messageReason).toBe('ready');
    expect(ready.message.lang).toBe('zh-TW');
  }, 90_000);

  it('a Filipino alert, for which espeak-ng has no voice, still sounds and is spoken in English, saying so', async () => {
    const r = await post(capIn({ id: 'ph-1', language: 'fil-PH', headline: 'Babala sa malakas na ulan sa Luzon' }));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.warnings.join(' ')).toContain('no text-to-speech voice for fil-PH: the text is spoken with the en voice');
    expect(r.body.alert.attention).not.toBeNull();
    const stored = (await t.api('GET', `/api/alerts/${r.body.id}`)).body.alert;
    expect(stored.message.lang).toBe('en');
  });
});
