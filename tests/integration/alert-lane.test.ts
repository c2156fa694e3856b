/**
 * The alert path never waits for bulletin work, and never waits for its own
 * speech: the real server (HTTP, embedded broker over TCP, SQLite, ffmpeg,
 * espeak-ng), an MQTT subscriber with a site's credential on the area control
 * channel, and one real agent (fleet runner: playout engine, media cache over
 * HTTP) whose delivery reports the server records.
 *
 * Ordering is made deterministic with a gate in front of the real espeak-ng
 * (LOANET_ESPEAK points at a shell script): a text containing GATE_BULK or
 * GATE_ALERT is not spoken until the test creates that gate file, so the
 * bulletin jobs are provably still running, and an alert's speech provably
 * not yet made, at the moments the assertions look.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlertControl, type AlertStart } from '../../protocol/index.ts';
import type { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { startPlayoutFleet } from '../helpers/playout-fleet.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

import { capNowFor } from '../helpers/cap.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg', 'espeak-ng');
const COMMUNE = '02683';
const CHANNEL = `loanet/v1/areas/2025.${COMMUNE}/control`;
const QUEUE_MAX = 2;

let t: TestServer;
let fleet: FleetRunner;
let dir: string;
let gates: string;
let sub: MqttClient;
const got: Array<{ retain: boolean; start: AlertStart }> = [];
let siteId: string;
/** Sites of the commune whose MQTT sessions are plain subscribers (the agent's own session is its own). */
let listener: { siteId: string; secret: string };
let lateListener: { siteId: string; secret: string };

async function registerSite(name: string): Promise<{ siteId: string; secret: string }> {
  const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area: COMMUNE, lat: 22.52, lon: 103.85 });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.credential;
}

const connectAs = (s: { siteId: string; secret: string }) =>
  mqtt.connectAsync(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0 });

const open = (gate: 'GATE_BULK' | 'GATE_ALERT' | 'GATE_HELD') => fs.writeFileSync(path.join(gates, gate), '');
const startsOf = (id: string) => got.filter((m) => m.start.alertId === id).map((m) => m.start);
const alertOf = async (id: string) => (await t.api('GET', `/api/alerts/${id}`)).body;
const mediaJob = async (id: string) => (await t.api('GET', `/api/media/${id}`)).body;

/** ~50,000 characters of Vietnamese, the longest text the TTS route takes. */
const longText = (marker: string) => {
  const s = `${marker}. Thông báo lịch tiêm chủng mở rộng tại trạm y tế xã, đề nghị các hộ gia đình đưa trẻ đến đúng giờ. `;
  return s.repeat(Math.floor(50_000 / s.length));
};

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-alert-lane-');
  gates = path.join(dir, 'gates');
  fs.mkdirSync(gates);
  const espeak = execFileSync('sh', ['-c', 'command -v espeak-ng'], { encoding: 'utf8' }).trim();
  const script = path.join(dir, 'espeak-gated');
  fs.writeFileSync(
    script,
    `#!/bin/sh
# The real espeak-ng, held back while the text names a gate that is not open yet.
prev=""; txt=""
for a in "$@"; do [ "$prev" = "-f" ] && txt="$a"; prev="$a"; done
if [ -n "$txt" ]; then
  for g in GATE_BULK GATE_ALERT GATE_HELD; do
    if grep -q "$g" "$txt"; then while [ ! -e "${gates}/$g" ]; do sleep 0.05; done; fi
  done
fi
exec ${espeak} "$@"
`,
    { mode: 0o755 },
  );
  t = await startTestServer({ LOANET_ESPEAK: script, LOANET_MEDIA_QUEUE_MAX: String(QUEUE_MAX) });
  await importLaoCai2025(t);
  fleet = await startPlayoutFleet(t, { sites: 1, area: COMMUNE, dir });
  siteId = fleet.ids()[0]!;
  listener = await registerSite('Điểm nghe thử');
  lateListener = await registerSite('Điểm nghe thử (đến muộn)');
  sub = await connectAs(listener);
  sub.on('message', (_topic, payload, packet) => {
    if (payload.length === 0) return;
    const d = decodeAlertControl.decode(payload);
    if (d.ok && d.value.type === 'alert_start') got.push({ retain: packet.retain, start: d.value });
  });
  await sub.subscribeAsync(CHANNEL, { qos: 1 });
}, 180_000);

afterAll(async () => {
  if (gates) for (const g of ['GATE_BULK', 'GATE_ALERT', 'GATE_HELD'] as const) open(g);
  await sub?.endAsync().catch(() => undefined);
  await fleet?.stop();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)('the alert lane, with the bulletin lane full', () => {
  const bulk: string[] = [];

  it('bulletin work is bounded: two long jobs run, QUEUE_MAX wait, one more is refused naming the depth', async () => {
    for (let i = 0; i < 2 + QUEUE_MAX; i++) {
      const r = await t.api('POST', '/api/media/tts?waitMs=0', { text: longText('GATE_BULK'), title: `Bản tin dài ${i}` });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      bulk.push(r.body.id);
    }
    await waitFor('two bulletin jobs synthesising, the rest queued', async () => {
      const stages = await Promise.all(bulk.map(async (id) => (await mediaJob(id)).stage));
      return stages.filter((s) => s === 'synthesizing').length === 2 && stages.filter((s) => s === 'queued').length === QUEUE_MAX;
    });
    const refused = await t.api('POST', '/api/media/tts?waitMs=0', { text: 'Một bản tin nữa', title: 'Thêm một bản tin' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body).toMatchObject({ error: 'LOANET_MEDIA_QUEUE_FULL', running: 2, waiting: QUEUE_MAX, limit: QUEUE_MAX });
    expect(refused.body.message).toContain('LOANET_MEDIA_QUEUE_MAX');
  }, 60_000);

  it('an emergency alert by text is dispatched at once, before its speech exists; the message follows while the bulletins still run, and the agent plays signal then message', async () => {
    const r = await t.api('POST', '/api/alerts', {
      areas: [COMMUNE],
      message: { text: 'GATE_ALERT. Cảnh báo lũ quét. Người dân ven suối sơ tán ngay lên vùng cao.' },
      attention: 'chime',
      repeats: 1,
      validForMinutes: 30,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.id;
    expect(r.body.alert).toMatchObject({ messageState: 'preparing', media: null, message: { kind: 'tts' } });
    const jobId: string = r.body.alert.message.mediaId;
    // Published to the area while the speech is held at the gate: the sites sound their chime now.
    const first = await waitFor('alert_start (preparing) on the area channel', () => startsOf(id)[0]);
    expect(first).toMatchObject({ revision: 1, messageState: 'preparing', attention: 'chime' });
    expect(first.media).toBeUndefined();
    // Its speech job is running in the alerts' own lane, not queued behind the bulletins.
    expect(await mediaJob(jobId)).toMatchObject({ status: 'processing', stage: 'synthesizing' });
    // The real agent sounds the attention signal without the message.
    await waitFor('the agent playing the signal', async () => (await alertOf(id)).delivery.counts.playing === 1, 20_000, 100);
    const report = async () => (await t.api('GET', `/api/alerts/${id}/report?format=json`)).body.sites.find((l: any) => l.siteId === siteId);
    expect((await report()).repeat).toBe(0);

    open('GATE_ALERT');
    const complete = await waitFor('alert_start with its message', () => startsOf(id).find((m) => m.media), 60_000, 50);
    // The signal: the message arrived while every bulletin job is still held (running or queued).
    for (const b of bulk) expect((await mediaJob(b)).status, b).toBe('processing');
    expect(complete).toMatchObject({ revision: 1, repeats: 1 });
    expect(complete.messageState).toBeUndefined();
    expect((await alertOf(id)).alert).toMatchObject({ messageState: 'ready', messageReason: null, media: complete.media });
    // The same revision, retained in place: a late subscriber gets the complete start.
    const late = await connectAs(lateListener);
    const lateGot: AlertStart[] = [];
    late.on('message', (_t, p, pk) => {
      const d = p.length ? decodeAlertControl.decode(p) : undefined;
      if (pk.retain && d?.ok && d.value.type === 'alert_start') lateGot.push(d.value);
    });
    await late.subscribeAsync(CHANNEL, { qos: 1 });
    const retained = await waitFor('the retained alert_start', () => lateGot.find((m) => m.alertId === id));
    expect(retained.media).toEqual(complete.media);
    await late.endAsync();

    // The agent plays the message after its signal and completes the one repeat.
    const done = await waitFor(
      'the agent completed the message',
      async () => {
        const l = await report();
        return l.status === 'completed' ? l : undefined;
      },
      60_000,
      100,
    );
    expect(done.repeat).toBe(1);
    for (const b of bulk) expect((await mediaJob(b)).status, b).toBe('processing');
    expect((await t.api('POST', `/api/alerts/${id}/cancel`)).status).toBe(200);
  }, 120_000);

  it('a CAP alert that must be spoken is dispatched and its message made while the bulletins still run', async () => {
    const r = await t.api('POST', '/api/alerts/cap', capNowFor('vn-lu-quet-bat-xat-alert.xml', COMMUNE), { contentType: 'application/cap+xml' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.id;
    expect(r.body.alert).toMatchObject({ messageState: 'preparing', message: { kind: 'tts' } });
    await waitFor('alert_start of the CAP alert', () => startsOf(id)[0]);
    await waitFor('the CAP alert message published', () => startsOf(id).find((m) => m.media), 60_000, 50);
    for (const b of bulk) expect((await mediaJob(b)).status, b).toBe('processing');
    expect((await t.api('POST', `/api/alerts/${id}/cancel`)).status).toBe(200);
  }, 90_000);

  it('an alert cancelled while its speech is being made stops that job: the lane is not spent on audio no one will hear', async () => {
    const r = await t.api('POST', '/api/alerts', { areas: [COMMUNE], message: { text: 'GATE_HELD. Cảnh báo thử, sẽ huỷ.' }, attention: 'chime' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const jobId: string = r.body.alert.message.mediaId;
    await waitFor('its speech job synthesising', async () => (await mediaJob(jobId)).stage === 'synthesizing');
    expect((await t.api('POST', `/api/alerts/${r.body.id}/cancel`)).status).toBe(200);
    const job = await waitFor('the job stopped', async () => {
      const j = await mediaJob(jobId);
      return j.status === 'failed' ? j : undefined;
    });
    expect(job.code).toBe('LOANET_MEDIA_ABORTED');
    expect((await alertOf(r.body.id)).alert).toMatchObject({ state: 'cancelled', messageState: 'preparing' });
  }, 30_000);

  it('speech that fails leaves the alert standing with its signal and the reason; the agent plays the signal alone', async () => {
    const r = await t.api('POST', '/api/alerts', { areas: [COMMUNE], message: { text: 'Cảnh báo sạt lở đất.', voice: 'khong-co-giong-nay' }, attention: 'chime', repeats: 2 });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const id: string = r.body.id;
    const failed = await waitFor(
      'messageState failed',
      async () => {
        const a = (await alertOf(id)).alert;
        return a.messageState === 'failed' ? a : undefined;
      },
      30_000,
      50,
    );
    expect(failed.state).toBe('active');
    expect(failed.media).toBeNull();
    expect(failed.messageReason).toContain('khong-co-giong-nay');
    const last = await waitFor('alert_start saying the message failed', () => startsOf(id).find((m) => m.messageState === 'failed'));
    expect(last.media).toBeUndefined();
    const line = await waitFor(
      'the agent completed the signal alone',
      async () => {
        const l = (await t.api('GET', `/api/alerts/${id}/report?format=json`)).body.sites.find((x: any) => x.siteId === siteId);
        return l.status === 'completed' ? l : undefined;
      },
      30_000,
      100,
    );
    expect(line.repeat).toBe(0);
    expect((await t.api('POST', `/api/alerts/${id}/cancel`)).status).toBe(200);
  }, 60_000);
});
