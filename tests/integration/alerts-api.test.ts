/**
 * Emergency alerts over the real server: HTTP API, the embedded broker over
 * TCP, SQLite in a temp folder, real ffmpeg and espeak-ng for the audio.
 * Sites here are plain MQTT clients with site credentials, so what is
 * checked is exactly the wire contract: what a site receives on its area
 * control channels and what the server makes of the site's alert_status.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlertControl, eventAckKey, siteTopic, type AlertStart, type AlertStatusEvent, type EventAck } from '../../protocol/index.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { makeInputs, postMultipart, probe, tools, uploadFile } from '../helpers/media.ts';
import { execFileSync } from 'node:child_process';
import { bindCapSender, capFixtureSenders, capNowFor, shiftDates } from '../helpers/cap.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { wordReason } from '../../api/words/reasons.ts';

const run = haveTools('ffmpeg', 'espeak-ng');

let t: TestServer;
const tokens: Record<string, string> = {};
const sites: Record<string, { siteId: string; secret: string }> = {};
const clients: MqttClient[] = [];
let sineMediaId: string;

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const r = await t.api('POST', '/api/users', { username, password: `password-of-${username}`, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password: `password-of-${username}` }, { token: null })).body.token;
}

async function site(name: string, area: string, lat: number, lon: number): Promise<{ siteId: string; secret: string }> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, lat, lon });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.credential;
}

interface Listener {
  client: MqttClient;
  /** What arrived on its area control channels. */
  got: Array<{ topic: string; retain: boolean; text: string }>;
  /** The server's acks of its events. */
  acks: EventAck[];
}

/**
 * A site as an MQTT client that records what arrives on its area control
 * channels. Returns once every message retained on them has arrived: the
 * broker streams a SUBSCRIBE's retained messages in the order of its filters,
 * so a retained fence on the site's own time topic, subscribed last, comes
 * after them all. What it has not got then was not retained.
 */
async function listen(s: { siteId: string; secret: string }, channels: string[]): Promise<Listener> {
  const client = await mqtt.connectAsync(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(client);
  const fence = siteTopic(s.siteId, 'time');
  const got: Listener['got'] = [];
  const acks: EventAck[] = [];
  let fenced = false;
  client.on('message', (topic, payload, packet) => {
    if (topic === fence) fenced ||= payload.length > 0;
    else if (topic === siteTopic(s.siteId, 'ack')) acks.push(JSON.parse(payload.toString('utf8')) as EventAck);
    else got.push({ topic, retain: packet.retain, text: payload.toString('utf8') });
  });
  await t.server.ctx.broker.publish(fence, Buffer.from('fence'), { qos: 1, retain: true });
  await client.subscribeAsync([...channels.map((k) => `loanet/v1/areas/${k}/control`), siteTopic(s.siteId, 'ack'), fence], { qos: 1 });
  await waitFor('the retained fence after the retained messages', () => fenced, 30_000);
  await t.server.ctx.broker.publish(fence, Buffer.alloc(0), { qos: 1, retain: true });
  return { client, got, acks };
}

/** Until the server has acknowledged (stored or refused) the event with this key from this site. */
const acknowledged = (l: Listener, key: string) =>
  waitFor(`the server's ack of ${key}`, () => l.acks.some((a) => a.stored.includes(key) || (a.refused ?? []).some((r) => r.key === key)));

const starts = (got: Array<{ text: string }>): AlertStart[] =>
  got.flatMap((m) => {
    if (m.text === '') return [];
    const d = decodeAlertControl.decode(m.text);
    return d.ok && d.value.type === 'alert_start' ? [d.value] : [];
  });

/** Publishes a status report as the site; answers its ack key. */
async function report(client: MqttClient, siteId: string, e: Omit<AlertStatusEvent, 'v' | 'siteId' | 'type'>): Promise<string> {
  const ev: AlertStatusEvent = { v: 1, siteId, type: 'alert_status', ...e };
  await client.publishAsync(siteTopic(siteId, 'event'), JSON.stringify(ev), { qos: 1 });
  return eventAckKey(ev)!;
}

beforeAll(async () => {
  if (!run) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  sites.batXat1 = await site('Cụm loa thôn Bản Vược', '02683', 22.52, 103.85);
  sites.batXat2 = await site('Cụm loa thôn Cốc Mỳ', '02683', 22.53, 103.86);
  sites.batXatOff = await site('Cụm loa thôn Trung Lèng Hồ', '02683', 22.55, 103.84);
  sites.camDuong = await site('Cụm loa tổ 5 Cam Đường', '02671', 22.43, 104.0);
  sites.muongHum = await site('Cụm loa thôn Mường Hum', '02728', 22.467, 103.658);
  tokens.batXat = await userToken('khan-cap-bat-xat', 'emergency', '02683');
  tokens.camDuong = await userToken('khan-cap-cam-duong', 'emergency', '02671');
  tokens.province = await userToken('khan-cap-tinh', 'emergency');
  tokens.operator = await userToken('op-bat-xat', 'operator', '02683');
  const f = makeInputs(tempDir('loanet-alert-inputs-'));
  const up = await uploadFile(t, f('sine.wav'), { title: 'Còi thử' });
  expect(up.status, JSON.stringify(up.body)).toBe(201);
  sineMediaId = up.body.id;
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync().catch(() => undefined);
  await t?.stop();
});

describe.skipIf(!run)('starting an alert', () => {
  it('an official of Bát Xát starts one by text: sites there get alert_start retained, time to first sound is measured from their reports', async () => {
    const s1 = await listen(sites.batXat1!, ['2025.02683', '2025.15']);
    const r = await t.api(
      'POST',
      '/api/alerts',
      { areas: ['02683'], message: { text: 'Cảnh báo lũ quét. Người dân ven suối sơ tán ngay.' }, attention: 'siren', volume: 90, validForMinutes: 30 },
      { token: tokens.batXat },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.id;
    expect(id).toMatch(/^alr-[0-9a-f]{16}$/);
    // Dispatched before the speech exists: the answer and the first alert_start say the message is being prepared;
    // the same revision follows with the audio once it is made.
    expect(r.body.alert).toMatchObject({ messageState: 'preparing', media: null, message: { kind: 'tts' } });
    const got = await waitFor('alert_start with its message at the Bát Xát site', () => starts(s1.got).find((m) => m.alertId === id && m.media));
    expect(starts(s1.got).filter((m) => m.alertId === id)[0]).toMatchObject({ revision: 1, messageState: 'preparing' });
    expect(got).toMatchObject({ revision: 1, test: false, areas: ['2025.02683'], attention: 'siren', repeats: 3, volume: 90 });
    expect(got.media!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(got.messageState).toBeUndefined();
    expect((await t.api('GET', `/api/alerts/${id}`)).body.alert).toMatchObject({ messageState: 'ready', messageReason: null, media: got.media });
    expect(got.sites).toBeUndefined();
    // A site that connects later still gets it: it is retained.
    const s2 = await listen(sites.batXat2!, ['2025.02683']);
    await waitFor('the retained alert_start at a late site', () => s2.got.find((m) => m.retain && starts([m])[0]?.alertId === id));
    // A site of another commune gets nothing (listen() returns once everything retained for it has arrived).
    const other = await listen(sites.camDuong!, ['2025.02671']);
    expect(starts(other.got).filter((m) => m.alertId === id)).toEqual([]);

    const issued = got.at;
    await report(s1.client, sites.batXat1!.siteId, { alertId: id, revision: 1, status: 'received', at: issued + 40 });
    await report(s1.client, sites.batXat1!.siteId, { alertId: id, revision: 1, status: 'playing', repeat: 0, at: issued + 120, firstSoundAt: issued + 120, messageRepeats: 0 });
    await report(s1.client, sites.batXat1!.siteId, {
      alertId: id,
      revision: 1,
      status: 'playing',
      repeat: 1,
      at: issued + 200,
      firstSoundAt: issued + 120,
      messageAt: issued + 200,
      messageRepeats: 0,
      levelDb: -18.5,
    });
    await report(s2.client, sites.batXat2!.siteId, { alertId: id, revision: 1, status: 'received', at: issued + 300 });
    await report(s1.client, sites.batXat1!.siteId, {
      alertId: id,
      revision: 1,
      status: 'completed',
      repeat: 3,
      at: issued + 20_000,
      firstSoundAt: issued + 120,
      messageAt: issued + 200,
      messageRepeats: 3,
    });
    const state = await waitFor('delivery counted', async () => {
      const g = await t.api('GET', `/api/alerts/${id}`);
      return g.body.delivery.counts.completed === 1 && g.body.delivery.counts.received === 2 ? g.body.delivery : undefined;
    });
    expect(state.counts).toEqual({
      targeted: 3,
      received: 2,
      playing: 0,
      started: 1,
      confirmedPlaying: 1,
      attentionOnly: 0,
      completed: 1,
      failed: 0,
      stopped: 0,
      unreached: 2,
      heard: 1,
      notHeard: 0,
    });
    // A level sent without the site's threshold is judged by the agents' default one.
    expect(state.levels).toEqual([{ siteId: sites.batXat1!.siteId, levelDb: -18.5, thresholdDb: -40, played: 'message', heard: true }]);
    expect(state.timeToFirstSound).toEqual({ firstMs: 120, p50Ms: 120, p99Ms: 120, lastMs: 120 });
    expect(state.timeToMessage).toEqual({ firstMs: 200, p50Ms: 200, p99Ms: 200, lastMs: 200 });
    expect(state.confirmedPlayingOverTime[0]).toEqual({ afterMs: 250, sites: 1, share: 0.3333 });
    const unreached = Object.fromEntries(state.unreached.map((u: any) => [u.siteId, u]));
    expect(unreached[sites.batXatOff!.siteId].reasons.map((x: any) => x.code)).toEqual(['never_connected']);
    expect(unreached[sites.batXatOff!.siteId].reasons[0]).toEqual({ code: 'never_connected', params: {}, message: 'never connected to the server' });
    expect(unreached[sites.batXat2!.siteId].reasons[0]).toMatchObject({ code: 'received_no_sound', params: { at: expect.any(Number) } });
    expect(wordReason('vi', unreached[sites.batXat2!.siteId].reasons[0], Date.now())).toMatch(/^đã nhận lúc \d\d:\d\d, chưa xác nhận phát$/);

    // A report that arrives late never takes a site back.
    const lateReport = await report(s1.client, sites.batXat1!.siteId, { alertId: id, revision: 1, status: 'received', at: issued + 50 });
    await acknowledged(s1, lateReport);
    expect((await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.completed).toBe(1);

    // The report: CSV with a BOM and Vietnamese headers, and JSON.
    const csv = await fetch(`${t.baseUrl}/api/alerts/${id}/report`, { headers: { authorization: `Bearer ${t.token}` } });
    const bytes = Buffer.from(await csv.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = bytes.toString('utf8').slice(1).trim().split('\r\n');
    expect(lines[0]).toBe(
      'Mã điểm,Tên điểm,Mã khu vực,Khu vực,Trạng thái,Nhận lúc,Phát lúc (âm thanh đầu tiên),Sau khi phát lệnh (giây),Lần phát,Đã phát,Bản tin phát trọn (lần),Hoàn tất lúc,Lỗi/dừng lúc,Mức âm micro (dBFS),Lý do,Ngôn ngữ khác đã phát,Ngôn ngữ chưa kịp phát',
    );
    const row1 = lines.find((l) => l.startsWith(sites.batXat1!.siteId))!;
    expect(row1).toContain('đã phát xong');
    expect(row1).toContain(',3,bản tin cảnh báo,3,');
    expect(row1).toContain(',0.12,');
    expect(row1).toContain(',-18.5,');
    expect(row1).toMatch(/\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d/);
    expect(lines.find((l) => l.startsWith(sites.batXatOff!.siteId))).toContain('chưa từng kết nối với máy chủ');
    const json = await t.api('GET', `/api/alerts/${id}/report?format=json`);
    expect(json.body.sites).toHaveLength(3);

    // The CAP Ack references the alert and is itself valid CAP 1.2.
    const ack = await fetch(`${t.baseUrl}/api/alerts/${id}/cap-ack`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(ack.headers.get('content-type')).toContain('application/cap+xml');
    const parsed = parseCap(await ack.text());
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.alert.msgType).toBe('Ack');
      expect(parsed.alert.status).toBe('Actual');
      expect(parsed.alert.references[0]).toMatchObject({ sender: 'loanet', identifier: id });
      expect(parsed.alert.note).toContain('confirmed playing 1');
    }

    // Cancel: every listening site gets alert_cancel, and the retained slot is cleared.
    const c = await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: tokens.batXat });
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body.alert.state).toBe('cancelled');
    await waitFor('alert_cancel at the site', () => s2.got.find((m) => m.text.includes('"alert_cancel"') && m.text.includes(id)));
    const late = await listen(sites.batXatOff!, ['2025.02683']);
    expect(starts(late.got).filter((m) => m.alertId === id)).toEqual([]);
    const audit = await t.api('GET', '/api/audit?action=alert');
    expect(audit.status).toBe(200);
    const actions = (audit.body.entries ?? audit.body).filter((e: any) => e.target === id).map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['alert.start', 'alert.cancel']));
    for (const cl of [s1, s2, other, late]) await cl.client.endAsync();
  }, 60_000);

  it('a drawn polygon targets only the sites inside it, named in the message', async () => {
    const s = await listen(sites.batXat1!, ['2025.02683']);
    const polygon = [
      [22.515, 103.845],
      [22.515, 103.855],
      [22.525, 103.855],
      [22.525, 103.845],
    ];
    const r = await t.api(
      'POST',
      '/api/alerts',
      { polygon, message: { mediaId: sineMediaId }, title: 'Sạt lở đồi Bản Vược', attention: 'chime', repeats: 2 },
      { token: tokens.batXat },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const got = await waitFor('alert_start', () => starts(s.got).find((m) => m.alertId === r.body.id));
    expect(got.sites).toEqual([sites.batXat1!.siteId]);
    expect(got.repeats).toBe(2);
    expect((await t.api('GET', `/api/alerts/${r.body.id}`)).body.delivery.counts.targeted).toBe(1);
    await t.api('POST', `/api/alerts/${r.body.id}/cancel`, undefined, { token: tokens.batXat });
    await s.client.endAsync();
  });

  it('an advisory is started at priority: the sites are told so, and an emergency alert says nothing of it', async () => {
    const s = await listen(sites.batXat1!, ['2025.02683']);
    const advisory = await t.api(
      'POST',
      '/api/alerts',
      { areas: ['02683'], message: { mediaId: sineMediaId }, title: 'Mưa lớn kéo dài', attention: 'chime', priority: 'priority' },
      { token: tokens.batXat },
    );
    expect(advisory.status, JSON.stringify(advisory.body)).toBe(201);
    expect(advisory.body.alert.priority).toBe('priority');
    const flood = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { mediaId: sineMediaId }, title: 'Lũ quét' }, { token: tokens.batXat });
    expect(flood.body.alert.priority).toBe('emergency');
    const gotAdvisory = await waitFor('the advisory', () => starts(s.got).find((m) => m.alertId === advisory.body.id));
    const gotFlood = await waitFor('the emergency', () => starts(s.got).find((m) => m.alertId === flood.body.id));
    expect(gotAdvisory.priority).toBe('priority');
    expect(gotFlood).not.toHaveProperty('priority');
    expect((await t.api('GET', `/api/alerts/${advisory.body.id}`)).body.alert.priority).toBe('priority');
    const wrong = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { mediaId: sineMediaId }, priority: 'normal' }, { token: tokens.batXat });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toContain('priority');
    for (const id of [advisory.body.id, flood.body.id]) await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: tokens.batXat });
    await s.client.endAsync();
  });

  it('starts one from an uploaded file', async () => {
    const f = makeInputs(tempDir('loanet-alert-upload-'));
    const up = await postMultipart(
      t,
      '/api/alerts/upload',
      { alert: JSON.stringify({ areas: ['02683'], title: 'Ghi âm cảnh báo', attention: null }) },
      { data: fs.readFileSync(f('sine.mp3')), name: 'canh-bao.mp3' },
      tokens.batXat,
    );
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body.alert.message).toMatchObject({ kind: 'upload', originalName: 'canh-bao.mp3' });
    expect(up.body.alert.attention).toBeNull();
    await t.api('POST', `/api/alerts/${up.body.id}/cancel`, undefined, { token: tokens.batXat });
    const bad = await postMultipart(
      t,
      '/api/alerts/upload',
      { alert: JSON.stringify({ areas: ['02683'], repeats: 50 }) },
      { data: fs.readFileSync(f('sine.mp3')), name: 'x.mp3' },
      tokens.batXat,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('alert.repeats');
    const silent = await postMultipart(
      t,
      '/api/alerts/upload',
      { alert: JSON.stringify({ areas: ['02683'] }) },
      { data: fs.readFileSync(f('silent.wav')), name: 'im-lang.wav' },
      tokens.batXat,
    );
    expect(silent.status).toBe(422);
  }, 60_000);

  it('starts one from a browser recording: WebM/Opus as MediaRecorder streams it (no duration, no cues), and Ogg/Opus as Firefox records', async () => {
    const dir = tempDir('loanet-alert-recording-');
    // Piped out, the WebM muxer cannot seek back to write the duration or the cues: what a browser's MediaRecorder gives.
    const voice = ['-f', 'lavfi', '-i', 'sine=frequency=520:duration=4', '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k'];
    const webm = execFileSync(tools!.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', ...voice, '-f', 'webm', 'pipe:1'], { maxBuffer: 10 * 1024 * 1024 });
    fs.writeFileSync(path.join(dir, 'ghi-am.webm'), webm);
    expect(probe(path.join(dir, 'ghi-am.webm')).format.duration).toBeUndefined();
    const ogg = execFileSync(tools!.ffmpeg.path, ['-hide_banner', '-nostdin', '-v', 'error', ...voice, '-f', 'ogg', 'pipe:1'], { maxBuffer: 10 * 1024 * 1024 });
    for (const [data, name, type] of [
      [webm, 'ghi-am.webm', 'audio/webm;codecs=opus'],
      [ogg, 'ghi-am.ogg', 'audio/ogg;codecs=opus'],
    ] as const) {
      const up = await postMultipart(
        t,
        '/api/alerts/upload',
        { alert: JSON.stringify({ areas: ['02683'], title: 'Ghi âm: sơ tán khỏi bờ suối', attention: 'siren', repeats: 2 }) },
        { data, name, type },
        tokens.batXat,
      );
      expect(up.status, `${name}: ${JSON.stringify(up.body)}`).toBe(201);
      expect(up.body.alert.message, name).toMatchObject({ kind: 'upload', originalName: name });
      // The recording became the library's Ogg Opus, whole: 4 s, the duration read from the audio itself.
      expect(Math.abs(up.body.alert.media.durationMs - 4000), name).toBeLessThan(150);
      const lib = await t.api('GET', `/api/media/${up.body.alert.media.mediaId}`);
      expect(lib.status, name).toBe(200);
      expect(lib.body.sha256, name).toBe(up.body.alert.media.sha256);
      await t.api('POST', `/api/alerts/${up.body.id}/cancel`, undefined, { token: tokens.batXat });
    }
  }, 60_000);

  it('an update in flight raises the revision and every site is pending again', async () => {
    const s = await listen(sites.batXat1!, ['2025.02683']);
    const r = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { mediaId: sineMediaId } }, { token: tokens.batXat });
    const id = r.body.id;
    await waitFor('rev 1', () => starts(s.got).find((m) => m.alertId === id && m.revision === 1));
    await report(s.client, sites.batXat1!.siteId, { alertId: id, revision: 1, status: 'playing', repeat: 1, at: Date.now() });
    const u = await t.api('POST', `/api/alerts/${id}/update`, { title: 'Cập nhật: mở rộng vùng sơ tán', repeats: 5 }, { token: tokens.batXat });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    expect(u.body.revision).toBe(2);
    const rev2 = await waitFor('rev 2', () => starts(s.got).find((m) => m.alertId === id && m.revision === 2));
    expect(rev2).toMatchObject({ repeats: 5, title: 'Cập nhật: mở rộng vùng sơ tán', areas: ['2025.02683'] });
    const st = (await t.api('GET', `/api/alerts/${id}`)).body.delivery;
    expect(st.counts.confirmedPlaying).toBe(0);
    // A report for the old revision no longer counts.
    await report(s.client, sites.batXat1!.siteId, { alertId: id, revision: 1, status: 'completed', at: Date.now() });
    await report(s.client, sites.batXat1!.siteId, { alertId: id, revision: 2, status: 'playing', repeat: 0, at: Date.now() });
    await waitFor('rev 2 playing', async () => (await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.playing === 1);
    expect((await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.completed).toBe(0);
    await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: tokens.batXat });
    await s.client.endAsync();
  });
});

describe.skipIf(!run)('what a site needs to hear alerts', () => {
  it('GET /api/sites/{id} names the area control channels its agent must subscribe to', async () => {
    const r = await t.api('GET', `/api/sites/${sites.batXat1!.siteId}`);
    expect(r.body.areaChannels).toEqual(['2025.02683', '2025.15']);
  });
});

describe.skipIf(!run)('who may start an alert, where', () => {
  it('an operator, a viewer-level role or an official of another area is refused, naming why; the refusal is audited', async () => {
    const body = { areas: ['02683'], message: { mediaId: sineMediaId } };
    const op = await t.api('POST', '/api/alerts', body, { token: tokens.operator });
    expect(op.status).toBe(403);
    expect(op.body.message).toContain('role operator may not start, update or cancel emergency alerts');
    const other = await t.api('POST', '/api/alerts', body, { token: tokens.camDuong });
    expect(other.status).toBe(403);
    expect(other.body.message).toContain('2025.02683');
    // Nor can an official of another area cancel or update Bát Xát's alert: to them it does not exist (404, audited).
    const mine = await t.api('POST', '/api/alerts', body, { token: tokens.batXat });
    expect(mine.status).toBe(201);
    expect((await t.api('POST', `/api/alerts/${mine.body.id}/cancel`, undefined, { token: tokens.camDuong })).status).toBe(404);
    expect((await t.api('POST', `/api/alerts/${mine.body.id}/update`, { repeats: 1 }, { token: tokens.camDuong })).status).toBe(404);
    expect((await t.api('POST', `/api/alerts/${mine.body.id}/cancel`, undefined, { token: tokens.operator })).status).toBe(403);
    // A province official may.
    expect((await t.api('POST', `/api/alerts/${mine.body.id}/cancel`, undefined, { token: tokens.province })).status).toBe(200);
    const audit = (await t.api('GET', '/api/audit?action=alert.denied')).body;
    expect((audit.entries ?? audit).length).toBeGreaterThanOrEqual(2);
  });

  it('bad input gets a 400 naming the field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ areas: ['99999'], message: { mediaId: sineMediaId } }, 'areas[0]'],
      [{ message: { mediaId: sineMediaId } }, 'areas'],
      [{ areas: ['02683'], message: { mediaId: 'med-nope' } }, 'message.mediaId'],
      [{ areas: ['02683'], message: { mediaId: sineMediaId }, repeats: 0 }, 'repeats'],
      [{ areas: ['02683'], message: { mediaId: sineMediaId }, validUntil: 1000 }, 'validUntil'],
      [
        {
          polygon: [
            [1, 1],
            [1, 1],
            [1, 1],
          ],
          message: { mediaId: sineMediaId },
        },
        'polygon',
      ],
    ];
    for (const [body, field] of cases) {
      const r = await t.api('POST', '/api/alerts', body, { token: tokens.province });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.field ?? r.body.message, JSON.stringify(r.body)).toContain(field);
    }
  });
});

// ------------------------------------------------------------------- CAP ----

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cap');
const postCap = (xml: string, token = tokens.province) => t.api('POST', '/api/alerts/cap', xml, { token, contentType: 'application/cap+xml' });

/** Over HTTP, as they are (their dates long past, their areas American): what each deserves. */
const AS_IS: Record<string, { status: number; error?: string; field?: RegExp }> = {
  'google-PAAQ-4-mg5a94.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED', field: /expires/ },
  'ipaws-5e6dd964023f1930ef638846.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'ipaws-5e6dd9de023f1930ef6548d9.xml': { status: 200 }, // a Cancel of an alert never received: stored, nothing to stop
  'ipaws-5e6ddbad023f1930ef6c1a5a.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'ipaws-5e7e0fc5023f1930efcf3deb.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'ipaws-5ea321f39fc226a7b44b6874.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'nws-5c2cf27b1f56885d61654dc47fa411d5.xml': { status: 400, error: 'LOANET_CAP_INVALID', field: /^alert$/ }, // CAP 1.1
  'v1dot2_appendix_adot1.xml': { status: 422, error: 'LOANET_CAP_NO_AREA', field: /area/ },
  'v1dot2_appendix_adot2.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'v1dot2_appendix_adot3.xml': { status: 422, error: 'LOANET_CAP_NO_AREA', field: /circle/ },
  'v1dot2_appendix_adot4.xml': { status: 422, error: 'LOANET_CAP_NO_AREA', field: /area/ },
  'vn-dien-tap-test.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'vn-lu-quet-bat-xat-alert.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'vn-lu-quet-bat-xat-cancel.xml': { status: 200 },
  'vn-lu-quet-bat-xat-ngon-ngu.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'vn-lu-quet-bat-xat-update.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
  'vn-sat-lo-muong-hum-circle.xml': { status: 422, error: 'LOANET_ALERT_EXPIRED' },
};

describe.skipIf(!run)('CAP 1.2 over HTTP', () => {
  beforeAll(async () => {
    // Posting CAP needs an account bound to the message's sender: the province official speaks for every fixture's
    // sender; the Bát Xát official for the province's too, so its refusal below is its area's, not its sender's.
    for (const sender of capFixtureSenders()) await bindCapSender(t, sender, ['khan-cap-tinh']);
    await bindCapSender(t, 'pctt@laocai.gov.vn', ['khan-cap-tinh', 'khan-cap-bat-xat'], '15');
  });

  it('every file of the shared CAP set, as it is, is accepted or refused as it deserves, naming what is wrong', async () => {
    const files = fs
      .readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.xml'))
      .sort();
    expect(files).toEqual(Object.keys(AS_IS).sort());
    for (const f of files) {
      const r = await postCap(fs.readFileSync(path.join(FIXTURES, f), 'utf8'));
      const want = AS_IS[f]!;
      expect(r.status, `${f}: ${JSON.stringify(r.body).slice(0, 300)}`).toBe(want.status);
      if (want.error) expect(r.body.error, f).toBe(want.error);
      if (want.field) expect(r.body.field, f).toMatch(want.field);
    }
  });

  it('refuses a wrong namespace, a missing element and a bad enumeration naming them', async () => {
    const base = fs.readFileSync(path.join(FIXTURES, 'vn-lu-quet-bat-xat-alert.xml'), 'utf8');
    const wrongNs = await postCap(base.replace('urn:oasis:names:tc:emergency:cap:1.2', 'urn:example:cap'));
    expect(wrongNs.status).toBe(400);
    expect(wrongNs.body.message).toContain('urn:example:cap');
    const noSender = await postCap(base.replace(/<sender>.*<\/sender>/, ''));
    expect(noSender.status).toBe(400);
    expect(noSender.body.errors[0].path).toBe('alert/sender');
    const badUrgency = await postCap(base.replace('<urgency>Immediate</urgency>', '<urgency>Soon</urgency>'));
    expect(badUrgency.body.errors[0]).toEqual({ path: 'alert/info[0]/urgency', message: '"Soon" is not one of Immediate, Expected, Future, Past, Unknown' });
    const draft = await postCap(shiftDates(base.replace('<status>Actual</status>', '<status>Draft</status>'), '2025-09-17T04:10:00+07:00', Date.now()));
    expect(draft.status).toBe(422);
    expect(draft.body.field).toBe('alert/status');
    const xml = await t.api('POST', '/api/alerts/cap', base, { token: tokens.province, contentType: 'text/plain' });
    expect(xml.status).toBe(415);
  });

  it('the Bát Xát flash flood: Alert starts, a re-send is a duplicate, Update revises it in flight, Cancel stops it', async () => {
    const now = Date.now();
    // Identifiers of their own: the as-is test above already sent these files once.
    const read = (f: string) =>
      shiftDates(fs.readFileSync(path.join(FIXTURES, f), 'utf8'), '2025-09-17T04:10:00+07:00', now).replaceAll('LC-PCTT-2025-0917-LQ-', 'LC-PCTT-2025-0917-LQ-T');
    const s = await listen(sites.batXat1!, ['2025.02683']);
    const a = await postCap(read('vn-lu-quet-bat-xat-alert.xml'));
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    const id = a.body.id;
    expect(a.body.alert).toMatchObject({
      origin: 'cap',
      test: false,
      attention: 'siren',
      title: 'Cảnh báo khẩn cấp: nguy cơ lũ quét rất cao tại xã Bát Xát',
      cap: { sender: 'pctt@laocai.gov.vn', identifier: 'LC-PCTT-2025-0917-LQ-T001' },
    });
    expect(a.body.alert.message.kind).toBe('tts');
    expect(a.body.alert.message.text).toContain('Người dân ở ven suối và vùng trũng khẩn trương sơ tán');
    await waitFor('alert_start', () => starts(s.got).find((m) => m.alertId === id));
    const dup = await postCap(read('vn-lu-quet-bat-xat-alert.xml'));
    expect(dup.status).toBe(200);
    expect(dup.body).toMatchObject({ outcome: 'duplicate', id });
    // Not by the Bát Xát official: the Update reaches Y Tý too.
    const upDenied = await postCap(read('vn-lu-quet-bat-xat-update.xml'), tokens.batXat);
    expect(upDenied.status).toBe(403);
    const up = await postCap(read('vn-lu-quet-bat-xat-update.xml'));
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({ outcome: 'updated', id, revision: 2 });
    expect(up.body.alert.areas).toEqual(['2025.02683', '2025.02701']);
    await waitFor('revision 2 at the site', () => starts(s.got).find((m) => m.alertId === id && m.revision === 2));
    const c = await postCap(read('vn-lu-quet-bat-xat-cancel.xml'));
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    expect(c.body).toMatchObject({ outcome: 'cancelled', cancelled: [id] });
    expect((await t.api('GET', `/api/alerts/${id}`)).body.alert.state).toBe('cancelled');
    await waitFor('alert_cancel at the site', () => s.got.find((m) => m.text.includes('alert_cancel') && m.text.includes(id)));
    await s.client.endAsync();
  }, 60_000);

  it('a Test message becomes a test alert; a circle finds the sites within it', async () => {
    const test = await postCap(shiftDates(fs.readFileSync(path.join(FIXTURES, 'vn-dien-tap-test.xml'), 'utf8'), '2025-10-05T08:00:00+07:00', Date.now()));
    expect(test.status, JSON.stringify(test.body)).toBe(201);
    expect(test.body.alert.test).toBe(true);
    expect(test.body.alert.attention).toBe('chime');
    const ack = parseCap(await (await fetch(`${t.baseUrl}/api/alerts/${test.body.id}/cap-ack`, { headers: { authorization: `Bearer ${t.token}` } })).text());
    expect(ack.ok && ack.alert.status).toBe('Test');
    await t.api('POST', `/api/alerts/${test.body.id}/cancel`, undefined, { token: tokens.province });
    const xml = fs.readFileSync(path.join(FIXTURES, 'vn-sat-lo-muong-hum-circle.xml'), 'utf8');
    const sent = /<sent>([^<]+)<\/sent>/.exec(xml)![1]!;
    const circle = await postCap(shiftDates(xml, sent, Date.now()));
    expect(circle.status, JSON.stringify(circle.body)).toBe(201);
    expect(circle.body.alert.sites).toEqual([sites.muongHum!.siteId]);
    expect(circle.body.alert.areas).toEqual(['2025.02728']);
    await t.api('POST', `/api/alerts/${circle.body.id}/cancel`, undefined, { token: tokens.province });
  }, 60_000);

  it('an IPAWS message with embedded MP3 plays that audio; one whose digest does not match is spoken instead', async () => {
    const retarget = (f: string) => capNowFor(f, '02683');
    const mp3 = await postCap(retarget('ipaws-5e6dd964023f1930ef638846.xml'));
    expect(mp3.status, JSON.stringify(mp3.body)).toBe(201);
    expect(mp3.body.alert.message).toMatchObject({ kind: 'cap_audio', mimeType: 'audio/x-ipaws-audio-mp3' });
    // The embedded audio is made into the library after the alert is dispatched.
    const ready = await waitFor(
      'the CAP audio ready',
      async () => {
        const g = (await t.api('GET', `/api/alerts/${mp3.body.id}`)).body.alert;
        return g.messageState === 'ready' ? g : undefined;
      },
      90_000,
      100,
    );
    const media = (await t.api('GET', `/api/media/${ready.media.mediaId}`)).body;
    expect(media.status).toBe('ready');
    expect(ready.media.mediaId).toBe(mp3.body.alert.message.mediaId);
    expect(media.source.codec ?? media.source.format).toMatch(/mp3/);
    expect(media.durationMs).toBeGreaterThan(5_000);
    await t.api('POST', `/api/alerts/${mp3.body.id}/cancel`, undefined, { token: tokens.province });
    const mismatch = await postCap(retarget('ipaws-5e6ddbad023f1930ef6c1a5a.xml'));
    expect(mismatch.status, JSON.stringify(mismatch.body)).toBe(201);
    expect(mismatch.body.alert.message.kind).toBe('tts');
    expect(mismatch.body.warnings.join(' ')).toContain('does not match the SHA-1');
    await t.api('POST', `/api/alerts/${mismatch.body.id}/cancel`, undefined, { token: tokens.province });
  }, 120_000);
});

describe.skipIf(!run)('two alerts on one channel, and the end of validity', () => {
  it('the newest holds the retained slot; a site that comes online gets the older one re-announced; an expired alert leaves the slot', async () => {
    const older = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { mediaId: sineMediaId }, title: 'Cũ', validForMinutes: 10 }, { token: tokens.batXat });
    const newer = await t.api(
      'POST',
      '/api/alerts',
      { areas: ['02683'], message: { mediaId: sineMediaId }, title: 'Mới', validUntil: Date.now() + 2500 },
      { token: tokens.batXat },
    );
    expect(older.status).toBe(201);
    expect(newer.status).toBe(201);
    const s = await listen(sites.batXatOff!, ['2025.02683']);
    await waitFor('the newer alert retained', () => s.got.find((m) => m.retain && starts([m])[0]?.alertId === newer.body.id));
    expect(s.got.filter((m) => m.retain && starts([m])[0]?.alertId === older.body.id)).toEqual([]);
    // The site says it is online: the older alert, which holds no slot, is announced to its channel again.
    await s.client.publishAsync(siteTopic(sites.batXatOff!.siteId, 'state'), JSON.stringify({ v: 1, siteId: sites.batXatOff!.siteId, state: 'online', at: Date.now() }), {
      qos: 1,
      retain: true,
    });
    await waitFor('the older alert re-announced', () => starts(s.got).find((m) => m.alertId === older.body.id));
    // The newer one expires: its slot goes back to the older one.
    await waitFor('the newer alert expired', async () => (await t.api('GET', `/api/alerts/${newer.body.id}`)).body.alert.state === 'expired', 10_000, 200);
    const late = await listen(sites.batXat2!, ['2025.02683']);
    await waitFor('a late site gets the older alert retained', () => late.got.find((m) => m.retain && starts([m])[0]?.alertId === older.body.id));
    expect(late.got.filter((m) => starts([m])[0]?.alertId === newer.body.id)).toEqual([]);
    await t.api('POST', `/api/alerts/${older.body.id}/cancel`, undefined, { token: tokens.batXat });
    await s.client.endAsync();
    await late.client.endAsync();
  }, 30_000);
});

describe.skipIf(!run)('restart', () => {
  it('a valid alert survives a restart: its retained alert_start is published again and its deliveries are kept', async () => {
    const r = await t.api('POST', '/api/alerts', { areas: ['02683'], message: { mediaId: sineMediaId }, validForMinutes: 10 }, { token: tokens.batXat });
    const id = r.body.id;
    const s = await listen(sites.batXat1!, ['2025.02683']);
    await waitFor('alert_start', () => starts(s.got).find((m) => m.alertId === id));
    await report(s.client, sites.batXat1!.siteId, {
      alertId: id,
      revision: 1,
      status: 'completed',
      at: Date.now(),
      firstSoundAt: Date.now() - 1000,
      repeat: 3,
      messageAt: Date.now() - 800,
      messageRepeats: 3,
    });
    await waitFor('completed', async () => (await t.api('GET', `/api/alerts/${id}`)).body.delivery.counts.completed === 1);
    await s.client.endAsync();
    await t.restart();
    const after = await listen(sites.batXat2!, ['2025.02683']);
    const again = await waitFor('the retained alert_start after the restart', () => after.got.find((m) => m.retain && starts([m])[0]?.alertId === id));
    expect(starts([again])[0]!.revision).toBe(1);
    const st = (await t.api('GET', `/api/alerts/${id}`)).body.delivery;
    expect(st.counts).toMatchObject({ targeted: 3, completed: 1 });
    await t.api('POST', `/api/alerts/${id}/cancel`, undefined, { token: t.token });
    await after.client.endAsync();
  }, 60_000);
});
